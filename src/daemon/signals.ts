// The signal handlers (README "Signals"): INT/TERM stop, HUP reloads, USR1 reopens, USR2 writes stats.
// Signals that arrived during start-up were held by the early handlers and are acted on here.
import { hardExit } from "../../ffi/process.ts";
import { takeEarlySignals } from "../lifecycle/early-signals.ts";
import { logger } from "../log.ts";
import type { DaemonRuntime } from "./runtime.ts";
import { shutdown } from "./shutdown.ts";

// _exit: no exit handlers or static destructors run while the Worker's thread may (item 12).
const exitWith = (code: number): never => hardExit(code);

export function stopAndExit(rt: DaemonRuntime, signal: number | null): void {
  void shutdown(rt, signal).then(exitWith);
}

export function installSignals(rt: DaemonRuntime, reload: () => Promise<void>): void {
  process.on("SIGINT", () => stopAndExit(rt, 2));
  process.on("SIGTERM", () => stopAndExit(rt, 15));
  process.on("SIGHUP", () => {
    logger.info("SIGHUP received: reloading the configuration and reopening the output");
    void reload();
  });
  process.on("SIGUSR1", () => {
    logger.info("SIGUSR1 received: reopening the output");
    rt.output.reopen();
  });
  process.on("SIGUSR2", () => rt.writeStats());
}

/** Acts on the signals that arrived during start-up (issue 14 item 11). */
export function replayEarlySignals(rt: DaemonRuntime, reload: () => Promise<void>): void {
  const early = takeEarlySignals();
  if (early.stop !== null) stopAndExit(rt, early.stop);
  else if (early.reload) void reload();
}
