// Builds the policy for a Config. Until src/policy/ is wired, canaries/bursts/hooks are inactive.
import type { Config } from "./config/types.ts";
import type { Policy } from "./pipeline.ts";

export function makePolicy(config: Config): { policy: Policy | null; notes: string[] } {
  const notes: string[] = [];
  if (config.canaries.length > 0) notes.push("--canary is not active yet in this build: no canary alerts");
  if (config.burstThreshold > 0) notes.push("--burst-threshold is not active yet in this build: no burst alerts");
  if (config.hook !== null) notes.push("--hook is not active yet in this build: no hooks run");
  return { policy: null, notes };
}
