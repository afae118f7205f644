// Entry point: parse the command line, then hand over to the daemon.
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./config/cli.ts";
import { UsageError } from "./config/types.ts";
import { plainError } from "./log.ts";
import { runDaemon } from "./daemon.ts";

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  let request;
  try {
    request = parseCommandLine(argv, { cwd: process.cwd(), version: pkg.version });
  } catch (err) {
    if (err instanceof UsageError) {
      plainError(`fanotifyd: ${err.message}`);
      plainError("Try 'fanotifyd --help' for more information.");
      return 2;
    }
    throw err;
  }
  switch (request.kind) {
    case "help":
      process.stdout.write(request.text.endsWith("\n") ? request.text : request.text + "\n");
      return 0;
    case "version":
      process.stdout.write(request.text + "\n");
      return 0;
    case "run":
      if (!request.config.foreground && request.config.output === null) {
        // B11: a daemon's stdout is /dev/null; never lose the records silently.
        plainError("fanotifyd: refusing to run as a daemon with stdout as the output: pass --output FILE or --foreground");
        plainError("Try 'fanotifyd --help' for more information.");
        return 2;
      }
      if (request.config.denyOnAlert && !request.config.perm) {
        plainError("fanotifyd: --deny-on-alert needs --perm (only permission events can be denied)");
        plainError("Try 'fanotifyd --help' for more information.");
        return 2;
      }
      return runDaemon(request.config);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    plainError(`fanotifyd: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    process.exit(1);
  },
);
