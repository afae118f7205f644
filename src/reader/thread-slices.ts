// Permission mode on a shared CPU (issue 11): every thread of the daemon asks the scheduler for a long
// time slice (SLICE_NS; sched_setattr(2) sched_runtime, the EEVDF custom slice of Linux 6.12+). The
// daemon's work between answers — reading notifications, processing and writing batches, JIT
// compilation — is throughput work: with a slice longer than an opener's, an opener that wakes
// (answered) preempts it at once instead of waiting for the slice to end ("PREEMPT_SHORT" in
// kernel/sched/fair.c). CPU shares do not change (weights stay; nice is kept), so nothing is
// starved, and no privilege is needed. Measured on the pinned permission bench (5 rounds): +p99
// 2.00× → 1.32× the C responder's; a short slice for the reader (always, or while it waits),
// real-time waits for the reader and SCHED_IDLE for the main thread were worse or starved the main
// thread (README "Performance").
// JSC's background compiler threads and the allocator's scavenger go further, to SCHED_IDLE: their
// work only ever makes later code faster or returns memory, nothing waits for it, and a compilation
// held the openers' CPU for up to 5 ms at a time (pinned +p99.9 400–650 → 160–250 µs). On CPUs
// saturated for long the daemon then keeps running less optimised code. (The I/O pool and the GC
// helpers keep the long slice: the main thread and the reader wait for them.)
// Threads start lazily (Bun's I/O pool, JSC's JIT workers) and a new thread starts with the default
// slice, so they are looked for again at most every RESCAN_MS.
import { readdirSync, readFileSync } from "node:fs";
import { setThreadIdle, setThreadSlice } from "../../ffi/process.ts";

/** The kernel's upper bound for a custom slice. */
export const SLICE_NS = 100_000_000;
const RESCAN_MS = 1000;
/** Background threads (by comm) that nothing waits for: SCHED_IDLE. */
const BACKGROUND = /^(JITWorker|JSCWarmUp|mi-scavenger)/;

/** What a thread gets: the long slice, or SCHED_IDLE for background work. */
export type ThreadTreatment = "slice" | "idle";

export class ThreadSlices {
  private readonly done = new Set<number>();
  private lastScan = -Infinity;

  /** `threads` lists this process's threads as [tid, comm]; `apply` treats one (both replaceable in tests). */
  constructor(
    private readonly threads: () => Array<[number, string]> = listThreads,
    private readonly apply: (tid: number, how: ThreadTreatment) => boolean = applyTreatment,
  ) {}

  /** Sets the slice of every thread there is now; false when the kernel took none. */
  start(nowMs: number): boolean {
    this.scan(nowMs);
    return this.done.size > 0;
  }

  /** Call during batch work (a /proc listing): threads started since the last look get the slice too. */
  rescan(nowMs: number): void {
    if (nowMs - this.lastScan >= RESCAN_MS) this.scan(nowMs);
  }

  private scan(nowMs: number): void {
    this.lastScan = nowMs;
    const live = new Set<number>();
    for (const [tid, comm] of this.threads()) {
      live.add(tid);
      if (!this.done.has(tid) && this.apply(tid, BACKGROUND.test(comm) ? "idle" : "slice")) this.done.add(tid);
    }
    // Threads that ended: their ids may be reused by new threads, which the next scan treats afresh.
    for (const tid of this.done) if (!live.has(tid)) this.done.delete(tid);
  }
}

function applyTreatment(tid: number, how: ThreadTreatment): boolean {
  return how === "idle" ? setThreadIdle(tid) : setThreadSlice(tid, SLICE_NS);
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
