// Wires the daemon together: start-up order (behavior.md A3), signals, reload, stats, shutdown.
import { dirname } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { parseCommandLine } from "./config/cli.ts";
import type { Config, MarkSpec } from "./config/types.ts";
import { notifyParent } from "./lifecycle/daemonize.ts";
import { acquirePidFile, type PidFile } from "./lifecycle/pidfile.ts";
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

/** How long shutdown may take before the process exits regardless (B6: within one second). */
const STOP_DEADLINE_MS = 800;
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
  const sinks = (): LineSink[] => (hub === null ? [output] : [output, hub]);
  const pipeline = new Pipeline(policy, sinks(), {
    onAlert: (alert: AlertRecord, line: string) => {
      if (hooks !== null && alert.kind !== "overflow") hooks.run(alert, line);
    },
    onBurstDenyChanged: () => reader?.sendSnapshot(policy.snapshot(sharedMonoNow())),
  });

  let fatal: string | null = null;
  let shuttingDown: Promise<number> | null = null;
  reader = new ReaderHandle({
    onBatch: (count, ints, bytes) => pipeline.processBatch(count, ints, bytes),
    holdBack: () => output.queuedBytes > OUTPUT_HOLD_BYTES,
    onLog: (level, message) => logger[level](message),
    onFatal: (message) => {
      fatal = message;
      logger.error(message);
      void shutdown(null).then((code) => process.exit(code));
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
      snapshot: policy.snapshot(sharedMonoNow()),
      details: detailsOn(config),
    });
  } catch (err) {
    const code = err instanceof ReaderStartError ? err.exitCode : 1;
    return fail(err instanceof ReaderStartError ? err.message : `the reader worker could not start: ${errText(err)}`, code);
  }
  for (const note of notes) logger.info(note);

  const sweep = setInterval(() => policy.sweep(sharedMonoNow()), SWEEP_INTERVAL_MS);

  const stats = (): Record<string, number> => {
    const rc = reader?.liveCounters();
    const pc = policy.counters;
    return {
      events_read: rc?.eventsRead ?? 0,
      events_written: pipeline.counters.eventsWritten,
      own_events_ignored: rc?.ownEvents ?? 0,
      unknown_records_skipped: rc?.unknownRecords ?? 0,
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
      output_records_dropped: output.droppedRecords,
      output_write_errors: output.writeErrors,
      attribution_missed: rc?.attributionMissed ?? 0,
    };
  };
  const writeStats = (): void => {
    const line = encodeStats(stats(), Date.now());
    logger.info(line);
    pipeline.writeLine(line);
  };

  const shutdown = (signal: number | null): Promise<number> => {
    if (shuttingDown) return shuttingDown;
    shuttingDown = (async () => {
      if (signal !== null) logger.info(`received signal ${signal}, shutting down`);
      sdNotify("STOPPING=1");
      clearInterval(sweep);
      const deadline = new Promise<null>((res) => setTimeout(() => res(null), STOP_DEADLINE_MS));
      const counters: ReaderCounters | null = await Promise.race([r.stop(), deadline]);
      if (counters === null) logger.warn("reader did not stop in time; exiting without its final counts");
      logger.info(`processed ${counters?.eventsRead ?? 0} events (overflow=${counters?.overflows ?? 0})`);
      writeStats();
      await Promise.all([output.close(150), hub?.close(), hooks?.close(100)]);
      pidFile?.remove();
      r.terminate();
      return fatal === null ? 0 : 1;
    })();
    return shuttingDown;
  };

  let reloading = false;
  const reload = async (): Promise<void> => {
    if (reloading || shuttingDown) return;
    reloading = true;
    sdNotify("RELOADING=1");
    try {
      await applyReload();
    } finally {
      reloading = false;
      sdNotify("READY=1");
    }
  };
  // B6: re-read the config file(s) and apply marks, canaries, jobs and thresholds atomically; a bad
  // config is logged and the running one kept; the output is reopened (logrotate).
  const applyReload = async (): Promise<void> => {
    let next: Config;
    try {
      const req = parseCommandLine([...ctx.argv], { cwd: ctx.cwd, version: pkg.version });
      if (req.kind !== "run") throw new Error("the command line no longer describes a daemon");
      next = req.config;
      new PolicyEngine(next); // validates the patterns before anything changes
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
    r.sendSnapshot(policy.snapshot(sharedMonoNow()));
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
    config = { ...next, perm: config.perm, fid: config.fid, socket: config.socket, pidFile: config.pidFile };
    logger.info(
      `configuration reloaded -- ${newMarks.size} mark(s), canaries=${config.canaries.length}, jobs=${config.jobs.length}, burst=${config.burstThreshold}/${config.burstWindowMs}ms`,
    );
  };

  const exitWith = (code: number) => process.exit(code);
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
  // Keep running until a signal or a fatal reader error ends us.
  return new Promise<number>(() => {});
}
