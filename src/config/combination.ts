// Combinations that parse but cannot work; checked before anything is started (by the daemon and by
// `fanotifyd check`, with the same messages).
import type { Config } from "./types.ts";

export function checkCombination(config: Config): string | null {
  if (!config.foreground && config.output === null) {
    // B11: a daemon's stdout is /dev/null; never lose the records silently.
    return "refusing to run as a daemon with stdout as the output: pass --output FILE or --foreground";
  }
  if (config.denyOnAlert && !config.perm) {
    return "--deny-on-alert needs --perm (only permission events can be denied)";
  }
  return null;
}
