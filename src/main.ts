// Entry point: parse the command line, then run the daemon (in the foreground, or as a detached
// child after re-executing ourselves: Bun has no fork()).
// First: signals that arrive while the daemon starts must not kill it by their default action.
import { releaseEarlySignals } from "./lifecycle/early-signals.ts";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./config/cli.ts";
import { UsageError } from "./config/types.ts";
import { USAGE_HINT } from "./config/help.ts";
import { DAEMON_ARGV_ENV, encodeArgsForChild, programArgs } from "./config/argv.ts";
import { checkCombination } from "./config/combination.ts";
import { isDaemonChild, startDetached } from "./lifecycle/daemonize.ts";
import { logger, plainError } from "./log.ts";
import { runDaemon } from "./daemon/index.ts";
import { hardExit } from "../ffi/process.ts";
import { forgetRuntimeEnv, reexecWithRuntimeEnv, restoreProgramName, runtimeEnvEntries, runtimeEnvToAdd } from "./lifecycle/runtime-env.ts";


function usageError(message: string): number {
  plainError(`fanotifyd: ${message}`);
  plainError(USAGE_HINT);
  return 2;
}

async function main(): Promise<number> {
  const daemonChild = isDaemonChild();
  // Lossless: arguments may hold bytes that are not UTF-8 (canary patterns, paths).
  const argv = programArgs(daemonChild);
  // Never passed on to hooks (runtime-env.ts); the daemon logs them.
  const runtimeEnv = forgetRuntimeEnv(process.env);
  if (runtimeEnv !== null) restoreProgramName();
  if (argv[0] === "check") {
    releaseEarlySignals();
    const { runCheckCommand } = await import("./check/command.ts");
    return runCheckCommand(argv.slice(1), pkg.version);
  }
  if (argv[0] === "tail") {
    releaseEarlySignals();
    const { runTailCommand } = await import("./tail/client.ts");
    return runTailCommand(argv.slice(1));
  }
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
      const addRuntimeEnv = request.config.perm && runtimeEnv === null ? runtimeEnvToAdd(process.env) : [];
      if (!request.config.foreground && !daemonChild) {
        releaseEarlySignals();
        // The parent returns only once the daemon has placed its marks (or failed: the child has
        // already logged why on the shared stderr).
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
        env[DAEMON_ARGV_ENV] = encodeArgsForChild(argv);
        for (const [k, v] of runtimeEnvEntries(addRuntimeEnv)) env[k] = v;
        const started = await startDetached({ argv, env, readyTimeoutMs: 30000 });
        if (started.ok) return 0;
        if (started.reported !== true) plainError(`fanotifyd: ${started.message}`);
        return started.exitCode;
      }
      if (addRuntimeEnv.length > 0 && !daemonChild) {
        const why = await reexecWithRuntimeEnv(addRuntimeEnv);
        logger.warn(`permission mode runs without its runtime settings (${why})`);
      }
      // A daemon ends by _exit: exit() would run the runtime's exit handlers and static destructors
      // while the reader Worker's thread may still run (issue 14 item 12).
      hardExit(await runDaemon(request.config, { argv, cwd, daemonChild, runtimeEnv: runtimeEnv ?? [] }));
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
