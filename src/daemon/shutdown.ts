// Shutdown (B6: within one second): stop the reader, flush, final stats, close; never hangs.
import { hardExit, setAlarm } from "../../ffi/process.ts";
import { sdNotify } from "../lifecycle/sd-notify.ts";
import { raiseStopPriority } from "../lifecycle/stop-priority.ts";
import { logger } from "../log.ts";
import type { ReaderCounters } from "../reader/protocol.ts";
import type { DaemonRuntime } from "./runtime.ts";

/** How long the reader may take to stop (B6: the whole shutdown within one second). */
const STOP_DEADLINE_MS = 600;
/** Time to write the output's backlog before the final stats are taken. */
const FLUSH_MS = 150;
/**
 * Shutdown ends the process by this time whatever is still pending (a write, a hook, the Worker):
 * exit never depends on a race (issue 14 item 12). SIGALRM (kernel-side) backs it up should the main
 * thread itself be stuck.
 */
const HARD_EXIT_MS = 950;
const ALARM_S = 5;

/** Starts the shutdown once (later calls get the same promise); resolves to the exit code. */
export function shutdown(rt: DaemonRuntime, signal: number | null): Promise<number> {
  if (rt.shuttingDown === null) rt.shuttingDown = runShutdown(rt, signal);
  return rt.shuttingDown;
}

async function runShutdown(rt: DaemonRuntime, signal: number | null): Promise<number> {
  if (signal !== null) logger.info(`received signal ${signal}, shutting down`);
  const code = (): number => (rt.fatal === null ? 0 : 1);
  setTimeout(() => {
    logger.error(`shutdown took over ${HARD_EXIT_MS} ms; exiting now`);
    hardExit(code());
  }, HARD_EXIT_MS);
  setAlarm(ALARM_S);
  raiseStopPriority();
  sdNotify("STOPPING=1");
  if (rt.sweep !== null) clearInterval(rt.sweep);
  const reader = rt.reader!;
  const deadline = new Promise<null>((res) => setTimeout(() => res(null), STOP_DEADLINE_MS));
  const counters: ReaderCounters | null = await Promise.race([reader.stop(), deadline]);
  if (counters === null) logger.warn("reader did not stop in time; exiting without its final counts");
  logger.info(`processed ${counters?.eventsRead ?? 0} events (overflow=${counters?.overflows ?? 0})`);
  await rt.output.flush(FLUSH_MS);
  rt.finalStats = true;
  rt.writeStats();
  rt.metrics?.close();
  await Promise.all([rt.output.close(100), rt.hub?.close(), rt.hooks?.close(100)]);
  rt.pidFile?.remove();
  reader.terminate();
  return code();
}
