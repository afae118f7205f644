// The running daemon's parts and the state that changes while it runs (reload swaps the config,
// the output and the hook runner; shutdown sets its promise once). One object instead of closures
// over loose variables: start-up fills it, signals, reload, stats and shutdown read it.
import { describePlans, type PlanLine } from "../check/plan.ts";
import { detailsOn, type Config } from "../config/types.ts";
import type { PidFile } from "../lifecycle/pidfile.ts";
import { logger } from "../log.ts";
import type { MetricsEndpoint } from "../metrics/endpoint.ts";
import { Pipeline } from "../pipeline.ts";
import type { LineSink } from "../sinks/line-sink.ts";
import type { PolicyEngine } from "../policy/engine.ts";
import type { AlertRecord } from "../output-records.ts";
import type { ReaderHandle } from "../reader/handle.ts";
import { HookRunner } from "../hooks/runner.ts";
import { encodeStats } from "../output-encode.ts";
import { OutputWriter } from "../sinks/output.ts";
import type { SocketHub } from "../sinks/socket-hub.ts";
import { TextLineSink } from "../sinks/text-sink.ts";
import { collectStats } from "./stats.ts";

export function makeHooks(config: Config): HookRunner | null {
  if (config.hook === null) return null;
  return new HookRunner({
    command: config.hook,
    maxConcurrent: config.hookMaxConcurrent,
    timeoutMs: config.hookTimeoutMs,
    log: (level, msg) => logger[level](msg),
    processDetails: detailsOn(config),
  });
}

/** Opens the configured output (throws a message naming the path); used at start and on reload. */
export function openOutput(config: Config): OutputWriter {
  return OutputWriter.open(config.output, {
    maxQueueBytes: config.outputQueueBytes,
    log: (level, msg) => (level === "error" ? logger.error(msg) : logger.warn(msg)),
  });
}

export class DaemonRuntime {
  hooks: HookRunner | null;
  readonly pipeline: Pipeline;
  metrics: MetricsEndpoint | null = null;
  reader: ReaderHandle | null = null;
  plans: PlanLine[];
  /** The reader's fatal error, once it had one (the exit code becomes 1). */
  fatal: string | null = null;
  shuttingDown: Promise<number> | null = null;
  /** Set once shutdown has taken the reader's final counts and flushed the output. */
  finalStats = false;
  sweep: ReturnType<typeof setInterval> | null = null;

  constructor(
    public config: Config,
    public output: OutputWriter,
    readonly hub: SocketHub | null,
    readonly policy: PolicyEngine,
    readonly pidFile: PidFile | null,
  ) {
    this.hooks = makeHooks(config);
    this.plans = describePlans(config);
    this.pipeline = new Pipeline(policy, this.sinks(), {
      onAlert: (alert: AlertRecord, line: string) => {
        if (this.hooks !== null && alert.kind !== "overflow") this.hooks.run(alert, line);
      },
      onBurstDenyChanged: () => this.reader?.sendBurstDenies(policy.takeBurstDenies()),
    });
  }

  /** Where lines go: the output (as text with --format text) and the socket's subscribers. */
  sinks(): LineSink[] {
    const out = this.config.format === "text" ? new TextLineSink(this.output) : this.output;
    return this.hub === null ? [out] : [out, this.hub];
  }

  stats(): Record<string, number> {
    return collectStats({
      reader: this.reader?.liveCounters(),
      pipeline: this.pipeline.counters,
      policy: this.policy.counters,
      hooks: this.hooks?.counters,
      hub: this.hub,
      output: this.output,
      final: this.finalStats,
    });
  }

  /** SIGUSR2 and shutdown: one stats record to the log and the output. */
  writeStats(): void {
    const line = encodeStats(this.stats(), Date.now());
    logger.info(line);
    this.pipeline.writeLine(line);
  }
}
