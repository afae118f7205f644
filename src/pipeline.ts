// The main thread's hot path: one Worker batch → JSONL lines (+ alerts) → sinks.
// Per batch: one split of the string block, one timestamp, one concatenated write.
import type { PolicyEngine } from "./policy/engine.ts";
import type { Decision, AlertRecord, FsEvent } from "./records.ts";
import {
  F_DENIED,
  F_IS_DIR,
  F_OVERFLOW,
  F_PERM,
  I_FLAGS,
  I_MASK_HI,
  I_MASK_LO,
  I_PID,
  INTS_PER_EVENT,
  STRS_PER_EVENT,
  sharedMonoNow,
} from "./reader/protocol.ts";
import { encodeAlert, encodeEvent } from "./sinks/jsonl.ts";

/** A14: the record written for a kernel queue overflow. */
export const OVERFLOW_ALERT: Readonly<AlertRecord> = {
  kind: "overflow",
  pid: 0,
  comm: "",
  exe: "",
  path: "<overflow>",
  reason: "fanotify queue overflowed",
};

export interface LineSink {
  /** `text` is whole lines, each ending in "\n", as a byte string. */
  write(text: string, records: number): void;
}

export interface PipelineCounters {
  eventsWritten: number;
  alertsWritten: number;
  overflows: number;
}

export class Pipeline {
  readonly counters: PipelineCounters = { eventsWritten: 0, alertsWritten: 0, overflows: 0 };
  private readonly ev: FsEvent = {
    maskLo: 0,
    maskHi: 0,
    pid: 0,
    comm: "",
    exe: "",
    path: "",
    name: "",
    isDir: false,
    decision: "observe",
  };

  constructor(
    private policy: PolicyEngine,
    private readonly sinks: LineSink[],
    private readonly hooks: {
      /** Every alert written (hooks filter by kind). */
      onAlert(alert: AlertRecord, line: string): void;
      /** A batch put a pid under a burst deny: the reader needs a new snapshot. */
      onBurstDenyChanged(): void;
    },
  ) {}

  setPolicy(policy: PolicyEngine): void {
    this.policy = policy;
  }

  setSinks(sinks: readonly LineSink[]): void {
    this.sinks.length = 0;
    this.sinks.push(...sinks);
  }

  /** Writes one already-encoded line (stats) to every sink. */
  writeLine(line: string): void {
    for (const sink of this.sinks) sink.write(line + "\n", 1);
  }

  processBatch(count: number, ints: Int32Array, strs: string): void {
    const parts = strs.split("\0");
    const ts = Date.now();
    const mono = sharedMonoNow();
    const policy = this.policy;
    let denyChanged = false;
    const ev = this.ev;
    let out = "";
    let records = 0;
    for (let i = 0; i < count; i++) {
      const base = i * INTS_PER_EVENT;
      const flags = ints[base + I_FLAGS];
      if (flags & F_OVERFLOW) {
        const line = encodeAlert(OVERFLOW_ALERT, ts);
        out += line + "\n";
        records++;
        this.counters.overflows++;
        this.counters.alertsWritten++;
        this.hooks.onAlert(OVERFLOW_ALERT, line);
        continue;
      }
      const s = i * STRS_PER_EVENT;
      ev.maskLo = ints[base + I_MASK_LO] >>> 0;
      ev.maskHi = ints[base + I_MASK_HI] >>> 0;
      ev.pid = ints[base + I_PID];
      ev.isDir = (flags & F_IS_DIR) !== 0;
      ev.decision = decisionOf(flags);
      ev.path = parts[s];
      ev.name = parts[s + 1];
      ev.comm = parts[s + 2];
      ev.exe = parts[s + 3];
      const verdict = policy.evaluate(ev, mono);
      out += encodeEvent(ev, ts, verdict.jobId, verdict.role) + "\n";
      records++;
      this.counters.eventsWritten++;
      if (verdict.burstDenyChanged) denyChanged = true;
      // B1: alerts follow the event record that caused them, with the same ts_ms.
      for (let a = 0; a < verdict.alerts.length; a++) {
        const alert = verdict.alerts[a];
        const line = encodeAlert(alert, ts);
        out += line + "\n";
        records++;
        this.counters.alertsWritten++;
        this.hooks.onAlert(alert, line);
      }
    }
    if (records > 0) for (const sink of this.sinks) sink.write(out, records);
    if (denyChanged) this.hooks.onBurstDenyChanged();
  }
}

function decisionOf(flags: number): Decision {
  if ((flags & F_PERM) === 0) return "observe";
  return flags & F_DENIED ? "deny" : "allow";
}
