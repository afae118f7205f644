// Permission mode on a busy CPU (issue 11): the daemon's other threads — the main thread's batch
// processing, JSC's JIT compilers, Bun's I/O pool, the allocator's scavenger — run at SCHED_IDLE, so
// an opener the reader has just answered, and the reader itself, never wait behind them (sched(7):
// a waking SCHED_OTHER thread preempts a SCHED_IDLE one at once). They do their work in the gaps
// between opens. So that saturated CPUs cannot starve them for long, they go back to SCHED_OTHER when
// the main thread has had batches waiting without finishing one for LIFT_AFTER_MS (records are that
// late) or, while it is MAX_INFLIGHT batches behind and the reader leaves the notification queue to
// the kernel, when that queue is over LIFT_QUEUE_FILL of its limit (records would be lost next); and
// to SCHED_IDLE again once it has caught up, DEMOTE_AFTER_MS after the lift at the earliest.
// JSC's GC helper threads are left alone: a collection on the reader's thread may wait for them.
import { readdirSync, readFileSync } from "node:fs";
import { setThreadIdle, threadId } from "../../ffi/process.ts";

const LIFT_AFTER_MS = 1000;
const LIFT_QUEUE_FILL = 0.5;
/** The queue depth is a walk of the kernel's list under its lock: looked at no more often than this. */
const QUEUE_CHECK_MS = 10;
const DEMOTE_AFTER_MS = 1000;
/** New threads (Bun starts its I/O pool and JIT threads lazily) are looked for at most this often. */
const RESCAN_MS = 1000;
/** Threads whose work the reader's own thread may wait for. */
const KEEP = /^HeapHelper/;

export class BulkThreads {
  private readonly self = threadId();
  /** Threads this object has made SCHED_IDLE (tids). */
  private readonly idle = new Set<number>();
  private lifted = false;
  private liftedAt = 0;
  private processed = 0;
  private progressAt = 0;
  private lastInflight = 0;
  private lastScan = -Infinity;
  private lastQueueCheck = -Infinity;

  /**
   * `queueFill`: the notification queue's depth as a fraction of its limit. `threads` lists this
   * process's threads as [tid, comm]; `setIdle` changes one's policy (both replaceable in tests).
   */
  constructor(
    private readonly queueFill: () => number,
    private readonly threads: () => Array<[number, string]> = listThreads,
    private readonly setIdle: (tid: number, idle: boolean) => boolean = setThreadIdle,
  ) {}

  /** True while the threads are back at SCHED_OTHER because the main thread fell behind. */
  get isLifted(): boolean {
    return this.lifted;
  }

  /** Demotes the threads there are now; false when the kernel refuses (no CAP_SYS_NICE): nothing changed. */
  start(nowMs: number): boolean {
    this.progressAt = nowMs;
    this.scan(nowMs);
    return this.idle.size > 0;
  }

  /**
   * Call at every reader loop turn (cheap; syscalls only on a change): `inflight` batches posted and
   * not yet processed by the main thread, `processed` the running total it has processed, `behind`
   * whether the reader has stopped reading notifications for it.
   */
  update(nowMs: number, inflight: number, processed: number, behind: boolean): void {
    // Waiting counts from the last batch processed, or from the first look that found work pending.
    if (processed !== this.processed || this.lastInflight === 0) {
      this.processed = processed;
      this.progressAt = nowMs;
    }
    this.lastInflight = inflight;
    if (this.lifted) {
      if (inflight === 0 && nowMs - this.liftedAt >= DEMOTE_AFTER_MS) this.setAll(true);
      return;
    }
    if (nowMs - this.progressAt >= LIFT_AFTER_MS) this.lift(nowMs);
    else if (behind && nowMs - this.lastQueueCheck >= QUEUE_CHECK_MS) {
      this.lastQueueCheck = nowMs;
      if (this.queueFill() >= LIFT_QUEUE_FILL) this.lift(nowMs);
    }
  }

  /** True while the bulk threads are idle and the main thread has work: the reader should wake to look again. */
  watching(inflight: number): boolean {
    return !this.lifted && inflight > 0;
  }

  /** Call during batch work (a /proc listing): threads started since the last look become idle too. */
  rescan(nowMs: number): void {
    if (!this.lifted && nowMs - this.lastScan >= RESCAN_MS) this.scan(nowMs);
  }

  /** Every thread back to SCHED_OTHER (at stop). */
  release(): void {
    this.setAll(false);
    this.idle.clear();
  }

  private lift(nowMs: number): void {
    this.liftedAt = nowMs;
    this.setAll(false);
  }

  private setAll(idle: boolean): void {
    for (const tid of this.idle) this.setIdle(tid, idle);
    this.lifted = !idle;
  }

  private scan(nowMs: number): void {
    this.lastScan = nowMs;
    const live = new Set<number>();
    for (const [tid, comm] of this.threads()) {
      live.add(tid);
      if (tid === this.self || this.idle.has(tid) || KEEP.test(comm)) continue;
      if (this.setIdle(tid, true)) this.idle.add(tid);
    }
    // Threads that ended: their ids may be reused by new threads, which the next scan treats afresh.
    for (const tid of this.idle) if (!live.has(tid)) this.idle.delete(tid);
  }
}

/** This process's threads: [tid, comm]. */
function listThreads(): Array<[number, string]> {
  const out: Array<[number, string]> = [];
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      out.push([Number(t), readFileSync(`/proc/self/task/${t}/comm`, "latin1")]);
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

/** fanotify(7): events a group without FAN_UNLIMITED_QUEUE may queue (/proc/sys/fs/fanotify). */
export function maxQueuedEvents(): number {
  try {
    const n = Number(readFileSync("/proc/sys/fs/fanotify/max_queued_events", "latin1").trim());
    if (Number.isInteger(n) && n > 0) return n;
  } catch {
    // older kernels have no such file: the built-in default
  }
  return 16384;
}
