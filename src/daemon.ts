// Wires the daemon together: start-up order (behavior.md A3), signals, shutdown.
import { dirname } from "node:path";
import type { Config } from "./config/types.ts";
import { logger, setVerbosity } from "./log.ts";
import { Pipeline, type Policy } from "./pipeline.ts";
import { ReaderHandle, ReaderStartError } from "./reader/handle.ts";
import type { ReaderCounters } from "./reader/protocol.ts";
import { OutputWriter } from "./sinks/output.ts";

/** How long shutdown may take before the process exits regardless (B6: within one second). */
const STOP_DEADLINE_MS = 800;

function notYetActive(config: Config): string[] {
  const notes: string[] = [];
  if (config.perm) notes.push("--perm is not active yet in this build: running in observe mode, no permission events are answered");
  if (config.denyOnAlert) notes.push("--deny-on-alert is not active yet in this build: nothing is denied");
  if (config.socket !== null) notes.push(`--socket ${config.socket} is not active yet in this build: no socket is created`);
  if (config.pidFile !== null) notes.push(`--pid-file ${config.pidFile} is not active yet in this build: no pid file is written`);
  return notes;
}

export interface PolicyFactory {
  (config: Config): { policy: Policy | null; notes: string[] };
}

export async function runDaemon(config: Config, makePolicy: PolicyFactory): Promise<number> {
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

  const { policy, notes: policyNotes } = makePolicy(config);
  for (const note of policyNotes) logger.warn(note);

  const mode = config.fid && !config.perm ? "fid" : "fd";
  if (mode === "fd") {
    logger.info("FD mode: create, delete, move and attrib events are unavailable without file handle reporting");
  }

  const pipeline = new Pipeline(policy, [output]);
  let fatal: string | null = null;
  let shuttingDown: Promise<number> | null = null;
  const reader = new ReaderHandle({
    onBatch: (count, ints, strs) => pipeline.processBatch(count, ints, strs),
    onLog: (level, message) => logger[level](message),
    onFatal: (message) => {
      fatal = message;
      logger.error(message);
      void shutdown(null);
    },
  });

  const canaryDirs = config.canaries.map((c) => dirname(c));
  let notes: readonly string[];
  try {
    notes = await reader.start(
      mode,
      config.marks.map((m) => ({ type: m.type, path: m.path })),
      canaryDirs,
    );
  } catch (err) {
    logger.error(err instanceof Error ? err.message : String(err));
    if (!(err instanceof ReaderStartError)) logger.error("the reader worker could not start");
    reader.terminate();
    await output.close(200);
    return err instanceof ReaderStartError ? err.exitCode : 1;
  }
  for (const note of notes) logger.info(note);

  const shutdown = (signal: number | null): Promise<number> => {
    if (shuttingDown) return shuttingDown;
    shuttingDown = (async () => {
      if (signal !== null) logger.info(`received signal ${signal}, shutting down`);
      const deadline = new Promise<null>((r) => setTimeout(() => r(null), STOP_DEADLINE_MS));
      const counters: ReaderCounters | null = await Promise.race([reader.stop(), deadline]);
      if (counters === null) logger.warn("reader did not stop in time; exiting without its final counts");
      const read = counters?.eventsRead ?? 0;
      const overflows = counters?.overflows ?? pipeline.counters.overflows;
      logger.info(`processed ${read} events (overflow=${overflows})`);
      await output.close(150);
      reader.terminate();
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
