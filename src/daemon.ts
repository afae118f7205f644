// Wires the daemon together: start-up order (behavior.md A3), signals, shutdown.
import { dirname } from "node:path";
import type { Config } from "./config/types.ts";
import { logger, setVerbosity } from "./log.ts";
import { Pipeline } from "./pipeline.ts";
import { PolicyEngine } from "./policy/engine.ts";
import { ReaderHandle, ReaderStartError } from "./reader/handle.ts";
import { sharedMonoNow, type ReaderCounters } from "./reader/protocol.ts";
import { OutputWriter } from "./sinks/output.ts";
import type { AlertRecord } from "./records.ts";

/** How long shutdown may take before the process exits regardless (B6: within one second). */
const STOP_DEADLINE_MS = 800;
const SWEEP_INTERVAL_MS = 1000;

function notYetActive(config: Config): string[] {
  const notes: string[] = [];
  if (config.socket !== null) notes.push(`--socket ${config.socket} is not active yet in this build: no socket is created`);
  if (config.pidFile !== null) notes.push(`--pid-file ${config.pidFile} is not active yet in this build: no pid file is written`);
  if (config.hook !== null) notes.push("--hook is not active yet in this build: no hooks run");
  return notes;
}

export async function runDaemon(config: Config): Promise<number> {
  setVerbosity(config.verbose);

  let output: OutputWriter;
  try {
    output = OutputWriter.open(config.output, {
      maxQueueBytes: config.outputQueueBytes,
      log: (level, msg) => (level === "error" ? logger.error(msg) : logger.warn(msg)),
    });
  } catch (err) {
    logger.error(err instanceof Error ? err.message : String(err));
    return 1;
  }

  for (const note of notYetActive(config)) logger.warn(note);
  if (!config.foreground) {
    logger.warn("daemon mode is not active yet in this build: staying in the foreground");
  }

  let policy: PolicyEngine;
  try {
    policy = new PolicyEngine(config);
  } catch (err) {
    // e.g. a canary pattern too large to compile
    logger.error(`invalid policy: ${err instanceof Error ? err.message : String(err)}`);
    await output.close(100);
    return 2;
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

  let reader: ReaderHandle | null = null;
  const onAlert = (_alert: AlertRecord, _line: string): void => {};
  const pipeline = new Pipeline(policy, [output], {
    onAlert,
    onBurstDenyChanged: () => reader?.sendSnapshot(policy.snapshot(sharedMonoNow())),
  });
  let fatal: string | null = null;
  let shuttingDown: Promise<number> | null = null;
  reader = new ReaderHandle({
    onBatch: (count, ints, strs) => pipeline.processBatch(count, ints, strs),
    onLog: (level, message) => logger[level](message),
    onFatal: (message) => {
      fatal = message;
      logger.error(message);
      void shutdown(null).then((code) => process.exit(code));
    },
  });

  let notes: readonly string[];
  try {
    notes = await reader.start({
      mode,
      perm: config.perm,
      marks: config.marks.map((m) => ({ type: m.type, path: m.path })),
      extraDirs: config.canaries.map((c) => dirname(c)),
      snapshot: policy.snapshot(sharedMonoNow()),
    });
  } catch (err) {
    logger.error(err instanceof Error ? err.message : String(err));
    if (!(err instanceof ReaderStartError)) logger.error("the reader worker could not start");
    reader.terminate();
    await output.close(200);
    return err instanceof ReaderStartError ? err.exitCode : 1;
  }
  for (const note of notes) logger.info(note);

  const sweep = setInterval(() => policy.sweep(sharedMonoNow()), SWEEP_INTERVAL_MS);

  const shutdown = (signal: number | null): Promise<number> => {
    if (shuttingDown) return shuttingDown;
    const r = reader;
    shuttingDown = (async () => {
      if (signal !== null) logger.info(`received signal ${signal}, shutting down`);
      clearInterval(sweep);
      const deadline = new Promise<null>((res) => setTimeout(() => res(null), STOP_DEADLINE_MS));
      const counters: ReaderCounters | null = r ? await Promise.race([r.stop(), deadline]) : null;
      if (counters === null) logger.warn("reader did not stop in time; exiting without its final counts");
      const read = counters?.eventsRead ?? 0;
      const overflows = counters?.overflows ?? pipeline.counters.overflows;
      logger.info(`processed ${read} events (overflow=${overflows})`);
      await output.close(150);
      r?.terminate();
      return fatal === null ? 0 : 1;
    })();
    return shuttingDown;
  };

  const exitWith = (code: number) => process.exit(code);
  process.on("SIGINT", () => void shutdown(2).then(exitWith));
  process.on("SIGTERM", () => void shutdown(15).then(exitWith));
  process.on("SIGHUP", () => {
    logger.info("SIGHUP received: reopening the output (config reload is not active yet in this build)");
    output.reopen();
  });
  process.on("SIGUSR1", () => {
    logger.info("SIGUSR1 received: reopening the output");
    output.reopen();
  });

  const burst = `${config.burstThreshold}/${config.burstWindowMs}ms`;
  logger.info(
    `fanotifyd started (pid=${process.pid}) -- ${config.marks.length} mark(s), canaries=${config.canaries.length}, burst=${burst}`,
  );
  // Keep running until a signal or a fatal reader error ends us.
  return new Promise<number>(() => {});
}
