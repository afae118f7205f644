// Wires the daemon together: start-up order (behavior.md A3), signals, reload, stats, shutdown.
import { dirname } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./config/cli.ts";
import type { Config, MarkSpec } from "./config/types.ts";
import { notifyParent } from "./lifecycle/daemonize.ts";
import { acquirePidFile, type PidFile } from "./lifecycle/pidfile.ts";
import { ReloadGate } from "./lifecycle/reload-gate.ts";
import { raiseStopPriority } from "./lifecycle/stop-priority.ts";
import { sdNotify } from "./lifecycle/sd-notify.ts";
import { logger, setVerbosity } from "./log.ts";
import { Pipeline, type LineSink } from "./pipeline.ts";
import { PolicyEngine } from "./policy/engine.ts";
import type { AlertRecord } from "./records.ts";
import { ReaderHandle, ReaderStartError } from "./reader/handle.ts";
import { sharedMonoNow, type ReaderCounters, type ReaderMark } from "./reader/protocol.ts";
import { HookRunner } from "./sinks/hooks.ts";
import { encodeStats } from "./sinks/jsonl.ts";
import { OutputWriter } from "./sinks/output.ts";
import { SocketHub } from "./sinks/socket-hub.ts";
import { errText } from "./errors.ts";
import { describePlans } from "./check/plan.ts";
import { installTestHooks } from "./lifecycle/test-hooks.ts";
import { MetricsEndpoint } from "./metrics/endpoint.ts";
import { compileExcludes } from "./policy/exclude.ts";
import { TextLineSink } from "./sinks/text-sink.ts";
import { hardExit, setAlarm } from "../ffi/process.ts";
import { takeEarlySignals } from "./lifecycle/early-signals.ts";
import { raiseFdLimit } from "./reader/fd-budget.ts";

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
const SWEEP_INTERVAL_MS = 1000;
/** Output backlog beyond which batches stop being acknowledged (the kernel queue takes over). */
const OUTPUT_HOLD_BYTES = 4 * 1024 * 1024;

export interface DaemonContext {
  /** The command line (without the program), re-parsed on SIGHUP. */
  readonly argv: readonly string[];
  /** The start directory, against which relative paths were resolved. */
  readonly cwd: string;
  /** This process is the detached child of a daemonizing start (src/lifecycle/daemonize.ts). */
  readonly daemonChild: boolean;
}

function markKey(m: { type: string; path: string }): string {
  return `${m.type}\0${m.path}`;
}

function readerMarks(marks: readonly MarkSpec[]): ReaderMark[] {
  // The same mark named twice (flag and config) is placed once.
  const seen = new Set<string>();
  const out: ReaderMark[] = [];
  for (const m of marks) {
    if (seen.has(markKey(m))) continue;
    seen.add(markKey(m));
    out.push({ type: m.type, path: m.path });
  }
  return out;
}

/** --process-details, which burst_scope container implies (it needs each process's container). */
function detailsOn(config: Config): boolean {
  return config.processDetails || config.burstScope === "container";
}

function makeHooks(config: Config): HookRunner | null {
  if (config.hook === null) return null;
  return new HookRunner({
    command: config.hook,
    maxConcurrent: config.hookMaxConcurrent,
    timeoutMs: config.hookTimeoutMs,
    log: (level, msg) => logger[level](msg),
    processDetails: detailsOn(config),
  });
}

export async function runDaemon(initial: Config, ctx: DaemonContext): Promise<number> {
  let config = initial;
  setVerbosity(config.verbose);
  const fdNote = raiseFdLimit();
  if (fdNote !== null) logger.info(fdNote);

  // Start-up failures: log, tell a waiting parent (daemon mode), undo what was made.
  const cleanups: Array<() => Promise<void> | void> = [];
  const fail = async (message: string, code: number): Promise<number> => {
    logger.error(message);
    if (ctx.daemonChild) notifyParent({ exitCode: code, message });
    for (const undo of cleanups.reverse()) await undo();
    return code;
  };

  let output: OutputWriter;
  try {
    output = OutputWriter.open(config.output, {
      maxQueueBytes: config.outputQueueBytes,
      log: (level, msg) => (level === "error" ? logger.error(msg) : logger.warn(msg)),
    });
  } catch (err) {
    return fail(errText(err), 1);
  }
  cleanups.push(() => output.close(200));

  let hub: SocketHub | null = null;
  if (config.socket !== null) {
    try {
      hub = await SocketHub.listen(config.socket, {
        queueBytes: config.socketQueueBytes,
        maxSubscribers: 64,
        log: (level, msg) => logger[level](msg),
      });
    } catch (err) {
      return fail(errText(err), 1);
    }
    const h = hub;
    cleanups.push(() => h.close());
  }

  let policy: PolicyEngine;
  try {
    policy = new PolicyEngine(config);
  } catch (err) {
    // e.g. a canary pattern too large to compile
    return fail(`invalid policy: ${errText(err)}`, 2);
  }

  const mode = config.fid ? "fid" : "fd";
  if (config.perm) {
    logger.info(
      `permission mode: an FD-mode content group answers OPEN_PERM/ACCESS_PERM; a ${mode.toUpperCase()}-mode notification group reports the other events`,
    );
  }
  if (mode === "fd") {
    logger.info("FD mode: create, delete, move and attrib events are unavailable without file handle reporting");
  }

  // B11: refuse to start beside a live instance before placing any mark.
  let pidFile: PidFile | null = null;
  if (config.pidFile !== null) {
    try {
      pidFile = acquirePidFile(config.pidFile);
    } catch (err) {
      return fail(errText(err), 1);
    }
    if (pidFile.replacedStale) logger.info(`replaced stale pid file ${config.pidFile}`);
    const pf = pidFile;
    cleanups.push(() => void pf.remove());
  }

  let hooks = makeHooks(config);
  let reader: ReaderHandle | null = null;
  const outSink = (): LineSink => (config.format === "text" ? new TextLineSink(output) : output);
  const sinks = (): LineSink[] => (hub === null ? [outSink()] : [outSink(), hub]);
  const pipeline = new Pipeline(policy, sinks(), {
    onAlert: (alert: AlertRecord, line: string) => {
      if (hooks !== null && alert.kind !== "overflow") hooks.run(alert, line);
    },
    onBurstDenyChanged: () => reader?.sendBurstDenies(policy.takeBurstDenies()),
  });

  try {
    pipeline.setExcluder(compileExcludes(config.exclude));
  } catch (err) {
    return fail(`invalid policy: ${errText(err)}`, 2);
  }
  let metrics: MetricsEndpoint | null = null;
  let plans = describePlans(config);
  if (config.metrics !== null) {
    metrics = new MetricsEndpoint(config.metrics, {
      stats: () => stats(),
      queues: () => ({ outputBytes: output.queuedBytes, socketBytes: hub?.queuedBytes ?? 0, readerBatches: reader?.inflight() ?? 0 }),
      plans: () => plans,
      readerBeats: () => reader?.beats() ?? 0,
      readerRunning: () => fatal === null && shuttingDown === null,
      wakeReader: () => reader?.wake(),
      version: pkg.version,
    });
    const m = metrics;
    pipeline.setTally(m.tally);
    cleanups.push(() => m.close());
  }

  let fatal: string | null = null;
  let shuttingDown: Promise<number> | null = null;
  reader = new ReaderHandle({
    onBatch: (count, ints, bytes, readAt) => pipeline.processBatch(count, ints, bytes, readAt),
    holdBack: () => output.queuedBytes > OUTPUT_HOLD_BYTES,
    onLog: (level, message) => logger[level](message),
    onFatal: (message) => {
      fatal = message;
      logger.error(message);
      void shutdown(null).then((code) => hardExit(code));
    },
  });
  const r = reader;
  cleanups.push(() => r.terminate());

  let notes: readonly string[];
  try {
    notes = await reader.start({
      mode,
      perm: config.perm,
      marks: readerMarks(config.marks),
      extraDirs: config.canaries.map((c) => dirname(c)),
      permission: policy.permissionRules(),
      permHistogram: metrics?.permHistogram.buffer ?? null,
      details: detailsOn(config),
    });
  } catch (err) {
    const code = err instanceof ReaderStartError ? err.exitCode : 1;
    return fail(err instanceof ReaderStartError ? err.message : `the reader worker could not start: ${errText(err)}`, code);
  }
  for (const note of notes) logger.info(note);
  installTestHooks(r, (msg) => logger.warn(msg));

  const sweep = setInterval(() => policy.sweep(sharedMonoNow()), SWEEP_INTERVAL_MS);

  /** Set once shutdown has taken the reader's final counts and flushed the output. */
  let finalStats = false;
  const stats = (): Record<string, number> => {
    const rc = reader?.liveCounters();
    const pc = policy.counters;
    return {
      events_read: rc?.eventsRead ?? 0,
      events_written: pipeline.counters.eventsWritten,
      events_excluded: pipeline.counters.eventsExcluded,
      own_events_ignored: rc?.ownEvents ?? 0,
      unknown_records_skipped: rc?.unknownRecords ?? 0,
      paths_unresolved: rc?.pathsUnresolved ?? 0,
      tree_marks_refused: rc?.treeMarkFailures ?? 0,
      kernel_overflows: rc?.overflows ?? pipeline.counters.overflows,
      perm_allowed: rc?.permAllowed ?? 0,
      perm_denied: rc?.permDenied ?? 0,
      // Answers never wait on anything but the Worker's own verdict, so none can time out.
      perm_timeouts: 0,
      perm_unreported: rc?.permUnreported ?? 0,
      alerts_emitted: pc.alertsEmitted,
      alerts_suppressed: pc.alertsSuppressed,
      hooks_run: hooks?.counters.run ?? 0,
      hooks_skipped: hooks?.counters.skipped ?? 0,
      hooks_killed: hooks?.counters.killed ?? 0,
      hooks_failed: hooks?.counters.failed ?? 0,
      subscribers: hub?.subscriberCount ?? 0,
      subscribers_dropped: hub?.counters.subscribersDropped ?? 0,
      subscribers_refused: hub?.counters.subscribersRefused ?? 0,
      // At exit: what the output's close will give up counts as dropped (issue 14 item 8).
      // (plus this stats record itself, which is queued behind them).
      output_records_dropped: output.droppedRecords + (finalStats && output.unwrittenRecords > 0 ? output.unwrittenRecords + 1 : 0),
      output_write_errors: output.writeErrors,
      // Events the kernel could not hand over for want of an fd (item 5); those that were permission
      // events were denied by the kernel itself.
      events_lost_no_fd: rc?.fdLost ?? 0,
      perm_denied_by_kernel: rc?.permKernelDenied ?? 0,
      // Still in the kernel queue when the reader stopped (read at exit, counted, not reported).
      events_unread_at_exit: rc?.unreadAtExit ?? 0,
      attribution_missed: rc?.attributionMissed ?? 0,
    };
  };
  const writeStats = (): void => {
    const line = encodeStats(stats(), Date.now());
    logger.info(line);
    pipeline.writeLine(line);
  };

  if (metrics !== null) {
    try {
      metrics.listen();
    } catch (err) {
      return fail(errText(err), 1);
    }
    logger.info(`serving /metrics and /healthz on ${config.metrics}`);
  }

  const shutdown = (signal: number | null): Promise<number> => {
    if (shuttingDown) return shuttingDown;
    shuttingDown = (async () => {
      if (signal !== null) logger.info(`received signal ${signal}, shutting down`);
      const code = (): number => (fatal === null ? 0 : 1);
      setTimeout(() => {
        logger.error(`shutdown took over ${HARD_EXIT_MS} ms; exiting now`);
        hardExit(code());
      }, HARD_EXIT_MS);
      setAlarm(ALARM_S);
      raiseStopPriority();
      sdNotify("STOPPING=1");
      clearInterval(sweep);
      const deadline = new Promise<null>((res) => setTimeout(() => res(null), STOP_DEADLINE_MS));
      const counters: ReaderCounters | null = await Promise.race([r.stop(), deadline]);
      if (counters === null) logger.warn("reader did not stop in time; exiting without its final counts");
      logger.info(`processed ${counters?.eventsRead ?? 0} events (overflow=${counters?.overflows ?? 0})`);
      await output.flush(FLUSH_MS);
      finalStats = true;
      writeStats();
      metrics?.close();
      await Promise.all([output.close(100), hub?.close(), hooks?.close(100)]);
      pidFile?.remove();
      r.terminate();
      return code();
    })();
    return shuttingDown;
  };

  // A SIGHUP during a reload runs the reload once more after it (issue 14 item 6).
  const reloads = new ReloadGate(async () => {
    sdNotify("RELOADING=1");
    try {
      await applyReload();
    } finally {
      sdNotify("READY=1");
    }
  }, () => shuttingDown === null);
  const reload = (): Promise<void> => reloads.request();
  // B6: re-read the config file(s) and apply marks, canaries, jobs and thresholds atomically; a bad
  // config is logged and the running one kept; the output is reopened (logrotate).
  const applyReload = async (): Promise<void> => {
    let next: Config;
    try {
      const req = parseCommandLine([...ctx.argv], { cwd: ctx.cwd, version: pkg.version });
      if (req.kind !== "run") throw new Error("the command line no longer describes a daemon");
      next = req.config;
      new PolicyEngine(next); // validates the patterns before anything changes
      compileExcludes(next.exclude);
    } catch (err) {
      logger.error(`reload failed, keeping the running configuration: ${errText(err)}`);
      output.reopen();
      return;
    }
    const fixed: string[] = [];
    if (next.perm !== config.perm) fixed.push("perm");
    if (next.fid !== config.fid) fixed.push("fid");
    if (next.socket !== config.socket) fixed.push("socket");
    if (next.pidFile !== config.pidFile) fixed.push("pid_file");
    if (next.metrics !== config.metrics) fixed.push("metrics");
    if (fixed.length > 0) logger.warn(`reload: ${fixed.join(", ")} cannot change while running; restart to apply`);

    const oldMarks = new Map(readerMarks(config.marks).map((m) => [markKey(m), m]));
    const newMarks = new Map(readerMarks(next.marks).map((m) => [markKey(m), m]));
    const add = [...newMarks.entries()].filter(([k]) => !oldMarks.has(k)).map(([, m]) => m);
    const remove = [...oldMarks.entries()].filter(([k]) => !newMarks.has(k)).map(([, m]) => m);
    if (add.length > 0 || remove.length > 0) {
      const result = await r.changeMarks(add, remove);
      if (result.error !== null) {
        logger.error(`reload failed, keeping the running configuration: ${result.error}`);
        output.reopen();
        return;
      }
      for (const note of result.notes) logger.info(note);
    }

    policy.reconfigure(next);
    pipeline.setExcluder(compileExcludes(next.exclude));
    r.sendPermissionRules(policy.permissionRules());
    if (next.output !== config.output) {
      try {
        const fresh = OutputWriter.open(next.output, {
          maxQueueBytes: next.outputQueueBytes,
          log: (level, msg) => (level === "error" ? logger.error(msg) : logger.warn(msg)),
        });
        const old = output;
        output = fresh;
        pipeline.setSinks(sinks());
        void old.close(1000);
      } catch (err) {
        logger.error(`reload: ${errText(err)}; keeping the current output`);
        output.reopen();
      }
    } else {
      output.reopen();
    }
    if (next.hook !== config.hook || next.hookMaxConcurrent !== config.hookMaxConcurrent || next.hookTimeoutMs !== config.hookTimeoutMs) {
      const old = hooks;
      hooks = makeHooks(next);
      // Hooks already running finish under the old runner's limits.
      void old?.close(next.hookTimeoutMs);
    }
    setVerbosity(next.verbose);
    config = { ...next, perm: config.perm, fid: config.fid, socket: config.socket, pidFile: config.pidFile, metrics: config.metrics };
    plans = describePlans(config);
    pipeline.setSinks(sinks());
    logger.info(
      `configuration reloaded -- ${newMarks.size} mark(s), canaries=${config.canaries.length}, jobs=${config.jobs.length}, burst=${config.burstThreshold}/${config.burstWindowMs}ms`,
    );
  };

  // _exit: no exit handlers or static destructors run while the Worker's thread may (item 12).
  const exitWith = (code: number): never => hardExit(code);
  process.on("SIGINT", () => void shutdown(2).then(exitWith));
  process.on("SIGTERM", () => void shutdown(15).then(exitWith));
  process.on("SIGHUP", () => {
    logger.info("SIGHUP received: reloading the configuration and reopening the output");
    void reload();
  });
  process.on("SIGUSR1", () => {
    logger.info("SIGUSR1 received: reopening the output");
    output.reopen();
  });
  process.on("SIGUSR2", () => writeStats());

  const burst = `${config.burstThreshold}/${config.burstWindowMs}ms`;
  logger.info(
    `fanotifyd started (pid=${process.pid}) -- ${config.marks.length} mark(s), canaries=${config.canaries.length}, burst=${burst}`,
  );
  sdNotify(`READY=1\nMAINPID=${process.pid}`);
  if (ctx.daemonChild) {
    notifyParent("ready");
    process.chdir("/");
  }
  // Signals that arrived during start-up (the early handlers kept them from killing us): act on
  // them now that the real handlers are in place (issue 14 item 11).
  const early = takeEarlySignals();
  if (early.stop !== null) void shutdown(early.stop).then(exitWith);
  else if (early.reload) void reload();
  // Keep running until a signal or a fatal reader error ends us.
  return new Promise<number>(() => {});
}
