// The main thread's hot path: one Worker batch → JSONL lines (+ alerts) → sinks.
// Per batch: one timestamp, one buffer of lines (event heads written here in front of the tails the
// Worker encoded), one write per sink. Text fields become strings only when the policy reads them.
import type { PolicyEngine } from "./policy/engine.ts";
import type { ExcludeMatcher } from "./policy/exclude.ts";
import type { Decision, AlertRecord, FsEvent, ProcessDetailsRecord } from "./output-records.ts";
import { processKey } from "./policy/process-key.ts";
import {
  F_DENIED,
  F_IS_DIR,
  F_OVERFLOW,
  F_PERM,
  I_COMM,
  I_CONTAINER,
  I_DETAILS,
  I_EXE,
  I_FLAGS,
  I_MASK_HI,
  I_MASK_LO,
  I_NAME,
  I_PATH,
  I_PID,
  I_START_HI,
  I_START_LO,
  I_TAIL_END,
  I_TAIL_START,
  INTS_PER_EVENT,
  sharedMonoNow,
} from "./reader/protocol.ts";
import { EventLineWriter } from "./sinks/event-lines.ts";
import { encodeAlert } from "./output-encode.ts";
import type { LineSink } from "./sinks/line-sink.ts";

/** A14: the record written for a kernel queue overflow. */
export const OVERFLOW_ALERT: Readonly<AlertRecord> = {
  kind: "overflow",
  pid: 0,
  comm: "",
  exe: "",
  path: "<overflow>",
  reason: "fanotify queue overflowed",
};

const EMPTY_INTS = new Int32Array(0);
const EMPTY_BYTES = Buffer.alloc(0);

/**
 * The event being evaluated: numbers are set per event, text fields are decoded from the batch's
 * bytes on first read (most events are never looked at by a policy).
 */
class BatchEvent implements FsEvent {
  maskLo = 0;
  maskHi = 0;
  pid = 0;
  isDir = false;
  decision: Decision = "observe";
  processKey = 0;
  private ints: Int32Array = EMPTY_INTS;
  private bytes: Buffer = EMPTY_BYTES;
  private row = 0;
  private pathText: string | null = null;
  private nameText: string | null = null;
  private commText: string | null = null;
  private exeText: string | null = null;
  private containerText: string | null = null;
  private detailsValue: ProcessDetailsRecord | null | undefined = undefined;

  at(ints: Int32Array, bytes: Buffer, row: number): void {
    this.ints = ints;
    this.bytes = bytes;
    this.row = row;
    this.pathText = null;
    this.nameText = null;
    this.commText = null;
    this.exeText = null;
    this.containerText = null;
    this.detailsValue = undefined;
    const start = (ints[row + I_START_LO] >>> 0) + (ints[row + I_START_HI] >>> 0) * 4294967296;
    this.processKey = processKey(ints[row + I_PID], start);
  }

  get containerId(): string {
    return (this.containerText ??= this.text(I_CONTAINER));
  }

  /** --process-details: parsed from the tail's fragment on first read (alerts only); null when none. */
  get details(): ProcessDetailsRecord | null {
    if (this.detailsValue !== undefined) return this.detailsValue;
    const len = this.ints[this.row + I_DETAILS + 1];
    if (len === 0) return (this.detailsValue = null);
    const off = this.ints[this.row + I_DETAILS];
    // The fragment is `,"ppid":…,"pod_uid":…` (JSON written by the Worker); strings stay byte strings.
    const parsed = JSON.parse(`{${this.bytes.toString("latin1", off + 1, off + len)}}`) as ProcessDetailsRecord;
    return (this.detailsValue = parsed);
  }

  get path(): string {
    return (this.pathText ??= this.text(I_PATH));
  }
  get name(): string {
    return (this.nameText ??= this.text(I_NAME));
  }
  get comm(): string {
    return (this.commText ??= this.text(I_COMM));
  }
  get exe(): string {
    return (this.exeText ??= this.text(I_EXE));
  }

  private text(slot: number): string {
    const len = this.ints[this.row + slot + 1];
    if (len === 0) return "";
    const off = this.ints[this.row + slot];
    return this.bytes.toString("latin1", off, off + len);
  }
}

export interface PipelineCounters {
  eventsWritten: number;
  /** Events that matched an exclusion: no record, but the policy saw them. */
  eventsExcluded: number;
  alertsWritten: number;
  overflows: number;
}

/** Counts what the pipeline writes, by kind (the metrics endpoint's tallies; src/metrics/tally.ts). */
export interface RecordTally {
  event(maskLo: number, maskHi: number): void;
  alert(kind: AlertRecord["kind"]): void;
  /** A batch's records were handed to the sinks, `lagMs` after its first event was read. */
  batch(records: number, lagMs: number): void;
}

export class Pipeline {
  readonly counters: PipelineCounters = { eventsWritten: 0, eventsExcluded: 0, alertsWritten: 0, overflows: 0 };
  private excluder: ExcludeMatcher | null = null;
  /** Optional per-record tallies for the metrics endpoint (null: nothing counted). */
  private tally: RecordTally | null = null;
  private readonly ev = new BatchEvent();
  private readonly lines = new EventLineWriter();

  constructor(
    private policy: PolicyEngine,
    private readonly sinks: LineSink[],
    private readonly hooks: {
      /** Every alert written (hooks filter by kind). */
      onAlert(alert: AlertRecord, line: string): void;
      /** A batch put a pid under a burst deny: hand the reader the new burst denies. */
      onBurstDenyChanged(): void;
    },
  ) {}

  setPolicy(policy: PolicyEngine): void {
    this.policy = policy;
  }

  setExcluder(excluder: ExcludeMatcher | null): void {
    this.excluder = excluder;
  }

  setTally(tally: RecordTally | null): void {
    this.tally = tally;
  }

  setSinks(sinks: readonly LineSink[]): void {
    this.sinks.length = 0;
    this.sinks.push(...sinks);
  }

  /** Writes one already-encoded line (stats) to every sink. */
  writeLine(line: string): void {
    const chunk = Buffer.from(line + "\n", "latin1");
    for (const sink of this.sinks) sink.write(chunk, 1);
  }

  processBatch(count: number, ints: Int32Array, batchBytes: Uint8Array, readAt = 0): void {
    const bytes = Buffer.from(batchBytes.buffer, batchBytes.byteOffset, batchBytes.byteLength);
    const ts = Date.now();
    const mono = sharedMonoNow();
    const policy = this.policy;
    const lines = this.lines;
    let denyChanged = false;
    const ev = this.ev;
    let records = 0;
    const excluder = this.excluder;
    const tally = this.tally;
    // Heads add ~150 bytes to each tail.
    lines.begin(ts, bytes.length + count * 160);
    for (let i = 0; i < count; i++) {
      const row = i * INTS_PER_EVENT;
      const flags = ints[row + I_FLAGS];
      if (flags & F_OVERFLOW) {
        const line = encodeAlert(OVERFLOW_ALERT, ts);
        lines.line(line);
        records++;
        this.counters.overflows++;
        this.counters.alertsWritten++;
        tally?.alert("overflow");
        this.hooks.onAlert(OVERFLOW_ALERT, line);
        continue;
      }
      ev.at(ints, bytes, row);
      ev.maskLo = ints[row + I_MASK_LO] >>> 0;
      ev.maskHi = ints[row + I_MASK_HI] >>> 0;
      ev.pid = ints[row + I_PID];
      ev.isDir = (flags & F_IS_DIR) !== 0;
      ev.decision = decisionOf(flags);
      const verdict = policy.evaluate(ev, mono);
      // Exclusions drop the record only: the policy above has seen the event (canaries, bursts).
      if (excluder !== null && excluder.test(ev.path)) {
        this.counters.eventsExcluded++;
      } else {
        lines.event(ev.maskLo, ev.maskHi, ev.decision, verdict.jobId, verdict.role, bytes, ints[row + I_TAIL_START], ints[row + I_TAIL_END]);
        records++;
        this.counters.eventsWritten++;
        tally?.event(ev.maskLo, ev.maskHi);
      }
      if (verdict.burstDenyChanged) denyChanged = true;
      // B1: alerts follow the event record that caused them, with the same ts_ms.
      for (let a = 0; a < verdict.alerts.length; a++) {
        const alert = verdict.alerts[a];
        const line = encodeAlert(alert, ts);
        lines.line(line);
        records++;
        this.counters.alertsWritten++;
        tally?.alert(alert.kind);
        this.hooks.onAlert(alert, line);
      }
    }
    const out = lines.take();
    if (records > 0 && this.sinks.length > 0) {
      // The lines' buffer serves a later batch once every sink is done with it (LineSink.write).
      let holders = this.sinks.length;
      const done = (): void => {
        if (--holders === 0) lines.recycle(out);
      };
      for (const sink of this.sinks) sink.write(out, records, done);
    } else {
      lines.recycle(out);
    }
    if (tally !== null && readAt > 0) tally.batch(count, sharedMonoNow() - readAt);
    if (denyChanged) this.hooks.onBurstDenyChanged();
  }
}

function decisionOf(flags: number): Decision {
  if ((flags & F_PERM) === 0) return "observe";
  return flags & F_DENIED ? "deny" : "allow";
}
