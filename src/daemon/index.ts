// Wires the daemon together (behavior.md A3 start-up order). The parts:
//   runtime.ts      the running parts and their mutable state (config, output, hooks)
//   cleanup.ts      the start-up cleanup stack (a failed start undoes what it made, newest first)
//   reload-plan.ts  pure: running config + new config → what a reload changes
//   reload.ts       applies a plan all-or-nothing (SIGHUP)
//   stats.ts        the stats record;  signals.ts  the handlers;  shutdown.ts  the bounded stop
import { dirname } from "node:path";
import pkg from "../../package.json" with { type: "json" };
import { detailsOn, type Config } from "../config/types.ts";
import { errText } from "../errors.ts";
import { notifyParent } from "../lifecycle/daemonize.ts";
import { acquirePidFile, type PidFile } from "../lifecycle/pidfile.ts";
import { ReloadGate } from "../lifecycle/reload-gate.ts";
import { sdNotify } from "../lifecycle/sd-notify.ts";
import { installTestHooks } from "../lifecycle/test-hooks.ts";
import { keepThreadSlices } from "../lifecycle/thread-slices.ts";
import { MAX_SUBSCRIBERS, OUTPUT_HOLD_BYTES } from "../limits.ts";
import { logger, setVerbosity } from "../log.ts";
import { MetricsEndpoint } from "../metrics/endpoint.ts";
import { PolicyEngine } from "../policy/engine.ts";
import { compileExcludes } from "../policy/exclude.ts";
import { raiseFdLimit } from "../reader/fd-budget.ts";
import { ReaderHandle, ReaderStartError } from "../reader/handle.ts";
import { sharedMonoNow } from "../reader/protocol.ts";
import { SocketHub } from "../sinks/socket-hub.ts";
import { CleanupStack, StartFailure } from "./cleanup.ts";
import { applyReload } from "./reload.ts";
import { readerMarks } from "./reload-plan.ts";
import { DaemonRuntime, openOutput } from "./runtime.ts";
import { installSignals, replayEarlySignals, stopAndExit } from "./signals.ts";

const SWEEP_INTERVAL_MS = 1000;

export interface DaemonContext {
  /** The command line (without the program), re-parsed on SIGHUP. */
  readonly argv: readonly string[];
  /** The start directory, against which relative paths were resolved. */
  readonly cwd: string;
  /** This process is the detached child of a daemonizing start (src/lifecycle/daemonize.ts). */
  readonly daemonChild: boolean;
  /** The runtime settings this program put into its own environment (src/lifecycle/runtime-env.ts). */
  readonly runtimeEnv?: readonly string[];
}

/** Runs one start-up step; its failure becomes a StartFailure with `code` (and `prefix`). */
async function step<T>(code: number, prefix: string, fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new StartFailure(`${prefix}${errText(err)}`, code);
  }
}

export async function runDaemon(initial: Config, ctx: DaemonContext): Promise<number> {
  setVerbosity(initial.verbose);
  const fdNote = raiseFdLimit();
  if (fdNote !== null) logger.info(fdNote);
  if (ctx.runtimeEnv !== undefined && ctx.runtimeEnv.length > 0) {
    logger.debug(`permission mode runtime settings: ${ctx.runtimeEnv.join(" ")}`);
  }
  const cleanups = new CleanupStack();
  let rt: DaemonRuntime;
  try {
    rt = await startUp(initial, cleanups);
  } catch (err) {
    const failure = err instanceof StartFailure ? err : new StartFailure(errText(err), 1);
    logger.error(failure.message);
    if (ctx.daemonChild) notifyParent({ exitCode: failure.exitCode, message: failure.message });
    await cleanups.unwind();
    return failure.exitCode;
  }
  // A SIGHUP during a reload runs the reload once more after it (issue 14 item 6).
  const gate = new ReloadGate(async () => {
    sdNotify("RELOADING=1");
    try {
      await applyReload(rt, ctx);
    } finally {
      sdNotify("READY=1");
    }
  }, () => rt.shuttingDown === null);
  const reload = (): Promise<void> => gate.request();
  installSignals(rt, reload);
  const config = rt.config;
  const burst = `${config.burstThreshold}/${config.burstWindowMs}ms`;
  logger.info(`fanotifyd started (pid=${process.pid}) -- ${config.marks.length} mark(s), canaries=${config.canaries.length}, burst=${burst}`);
  sdNotify(`READY=1\nMAINPID=${process.pid}`);
  if (ctx.daemonChild) {
    notifyParent("ready");
    process.chdir("/");
  }
  replayEarlySignals(rt, reload);
  // Keep running until a signal or a fatal reader error ends us.
  return new Promise<number>(() => {});
}

/** Start-up in the documented order; each step that makes something pushes its undo. */
async function startUp(config: Config, cleanups: CleanupStack): Promise<DaemonRuntime> {
  const output = await step(1, "", () => openOutput(config));
  cleanups.push(() => output.close(200));
  let hub: SocketHub | null = null;
  if (config.socket !== null) {
    const path = config.socket;
    const h = await step(1, "", () =>
      SocketHub.listen(path, { queueBytes: config.socketQueueBytes, maxSubscribers: MAX_SUBSCRIBERS, log: (level, msg) => logger[level](msg) }),
    );
    cleanups.push(() => h.close());
    hub = h;
  }
  // e.g. a canary pattern too large to compile
  const policy = await step(2, "invalid policy: ", () => new PolicyEngine(config));
  logModes(config);
  const pidFile = await takePidFile(config, cleanups);
  const rt = new DaemonRuntime(config, output, hub, policy, pidFile);
  const excluder = await step(2, "invalid policy: ", () => compileExcludes(config.exclude));
  rt.pipeline.setExcluder(excluder);
  if (config.metrics !== null) rt.metrics = makeMetrics(rt, config.metrics, cleanups);
  await startReader(rt, cleanups);
  const sweep = setInterval(() => policy.sweep(sharedMonoNow()), SWEEP_INTERVAL_MS);
  rt.sweep = sweep;
  cleanups.push(() => clearInterval(sweep));
  if (rt.metrics !== null) {
    const m = rt.metrics;
    await step(1, "", () => m.listen());
    logger.info(`serving /metrics and /healthz on ${config.metrics}`);
  }
  return rt;
}

function logModes(config: Config): void {
  const mode = config.fid ? "FID" : "FD";
  if (config.perm) {
    logger.info(`permission mode: FD-mode content groups (one per mark, up to 8) answer OPEN_PERM/ACCESS_PERM; a ${mode}-mode notification group reports the other events`);
  }
  if (!config.fid) logger.info("FD mode: create, delete, move and attrib events are unavailable without file handle reporting");
}

/** B11: refuse to start beside a live instance before placing any mark. */
async function takePidFile(config: Config, cleanups: CleanupStack): Promise<PidFile | null> {
  const path = config.pidFile;
  if (path === null) return null;
  const pf = await step(1, "", () => acquirePidFile(path));
  if (pf.replacedStale) logger.info(`replaced stale pid file ${path}`);
  cleanups.push(() => void pf.remove());
  return pf;
}

function makeMetrics(rt: DaemonRuntime, address: string, cleanups: CleanupStack): MetricsEndpoint {
  const m = new MetricsEndpoint(address, {
    stats: () => rt.stats(),
    queues: () => ({ outputBytes: rt.output.queuedBytes, socketBytes: rt.hub?.queuedBytes ?? 0, readerBatches: rt.reader?.inflight() ?? 0 }),
    plans: () => rt.plans,
    readerBeats: () => rt.reader?.beats() ?? 0,
    readerRunning: () => rt.fatal === null && rt.shuttingDown === null,
    wakeReader: () => rt.reader?.wake(),
    version: pkg.version,
  });
  rt.pipeline.setTally(m.tally);
  cleanups.push(() => m.close());
  return m;
}

async function startReader(rt: DaemonRuntime, cleanups: CleanupStack): Promise<void> {
  const { config, pipeline, policy } = rt;
  const reader = new ReaderHandle({
    onBatch: (count, ints, bytes, readAt) => pipeline.processBatch(count, ints, bytes, readAt),
    holdBack: () => rt.output.queuedBytes > OUTPUT_HOLD_BYTES,
    onLog: (level, message) => logger[level](message),
    onFatal: (message) => {
      rt.fatal = message;
      logger.error(message);
      stopAndExit(rt, null);
    },
  });
  rt.reader = reader;
  cleanups.push(() => reader.terminate());
  let notes: readonly string[];
  try {
    notes = await reader.start({
      mode: config.fid ? "fid" : "fd",
      perm: config.perm,
      marks: readerMarks(config.marks),
      extraDirs: config.canaries.map((c) => dirname(c)),
      permission: policy.permissionRules(),
      permHistogram: rt.metrics?.permHistogram.buffer ?? null,
      details: detailsOn(config),
      detailsPidfd: config.detailsCheck === "pidfd",
    });
  } catch (err) {
    if (err instanceof ReaderStartError) throw new StartFailure(err.message, err.exitCode);
    throw new StartFailure(`the reader worker could not start: ${errText(err)}`, 1);
  }
  for (const note of notes) logger.info(note);
  if (config.perm && config.permLongSlice) cleanups.push(keepThreadSlices());
  installTestHooks(reader, (msg) => logger.warn(msg));
}
