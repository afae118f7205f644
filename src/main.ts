// Entry point: parse the command line, then run the daemon (in the foreground, or as a detached
// child after re-executing ourselves: Bun has no fork()).
// First: signals that arrive while the daemon starts must not kill it by their default action.
import { releaseEarlySignals } from "./lifecycle/early-signals.ts";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./config/cli.ts";
import { UsageError, type Config } from "./config/types.ts";
import { isDaemonChild, startDetached } from "./lifecycle/daemonize.ts";
import { plainError } from "./log.ts";
import { runDaemon } from "./daemon.ts";
import { hardExit } from "../ffi/process.ts";

const HINT = "Try 'fanotifyd --help' for more information.";

function usageError(message: string): number {
  plainError(`fanotifyd: ${message}`);
  plainError(HINT);
  return 2;
}

/** Combinations that parse but cannot work; checked before anything is started. */
function checkCombination(config: Config): string | null {
  if (!config.foreground && config.output === null) {
    // B11: a daemon's stdout is /dev/null; never lose the records silently.
    return "refusing to run as a daemon with stdout as the output: pass --output FILE or --foreground";
  }
  if (config.denyOnAlert && !config.perm) {
    return "--deny-on-alert needs --perm (only permission events can be denied)";
  }
  return null;
}

async function main(): Promise<number> {
  if (process.argv[2] === "tail") {
    releaseEarlySignals();
    const { runTailCommand } = await import("./tail.ts");
    return runTailCommand(process.argv.slice(3));
  }
  const argv = process.argv.slice(2);
  const cwd = process.cwd();
  let request;
  try {
    request = parseCommandLine(argv, { cwd, version: pkg.version });
  } catch (err) {
    releaseEarlySignals();
    if (err instanceof UsageError) return usageError(err.message);
    throw err;
  }
  if (request.kind !== "run") releaseEarlySignals();
  switch (request.kind) {
    case "help":
      process.stdout.write(request.text.endsWith("\n") ? request.text : request.text + "\n");
      return 0;
    case "version":
      process.stdout.write(request.text + "\n");
      return 0;
    case "run": {
      const problem = checkCombination(request.config);
      if (problem !== null) {
        releaseEarlySignals();
        return usageError(problem);
      }
      const daemonChild = isDaemonChild();
      if (!request.config.foreground && !daemonChild) {
        releaseEarlySignals();
        // The parent returns only once the daemon has placed its marks (or failed: the child has
        // already logged why on the shared stderr).
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
        const started = await startDetached({ argv, env, readyTimeoutMs: 30000 });
        if (started.ok) return 0;
        if (started.reported !== true) plainError(`fanotifyd: ${started.message}`);
        return started.exitCode;
      }
      // A daemon ends by _exit: exit() would run the runtime's exit handlers and static destructors
      // while the reader Worker's thread may still run (issue 14 item 12).
      hardExit(await runDaemon(request.config, { argv, cwd, daemonChild }));
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    plainError(`fanotifyd: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    process.exit(1);
  },
);
