// Permission mode on a shared CPU (issue 11): every thread of the daemon asks the scheduler for a long
// time slice (SLICE_NS; sched_setattr(2) sched_runtime, the EEVDF custom slice of Linux 6.12+). The
// daemon's work between answers — reading notifications, processing and writing batches, JIT
// compilation — is throughput work: with a slice longer than an opener's, an opener that wakes
// (answered) preempts it at once instead of waiting for the slice to end ("PREEMPT_SHORT" in
// kernel/sched/fair.c). CPU shares do not change (weights stay; nice is kept), so nothing is
// starved, and no privilege is needed. Measured on the pinned permission bench: +p99 and +p99.9 at or
// near the C responder's; a short slice for the reader only, real-time waits for the reader and
// SCHED_IDLE for the other threads were all worse or starved the main thread (README "Performance").
// Threads start lazily (Bun's I/O pool, JSC's JIT workers) and a new thread starts with the default
// slice, so they are looked for again at most every RESCAN_MS.
import { readdirSync } from "node:fs";
import { setThreadSlice } from "../../ffi/process.ts";

/** The kernel's upper bound for a custom slice. */
export const SLICE_NS = 100_000_000;
const RESCAN_MS = 1000;

export class ThreadSlices {
  private readonly done = new Set<number>();
  private lastScan = -Infinity;

  /** `threads` lists this process's thread ids; `setSlice` sets one's slice (both replaceable in tests). */
  constructor(
    private readonly threads: () => number[] = listThreads,
    private readonly setSlice: (tid: number, ns: number) => boolean = setThreadSlice,
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
    const live = new Set(this.threads());
    for (const tid of live) if (!this.done.has(tid) && this.setSlice(tid, SLICE_NS)) this.done.add(tid);
    // Threads that ended: their ids may be reused by new threads, which the next scan treats afresh.
    for (const tid of this.done) if (!live.has(tid)) this.done.delete(tid);
  }
}

function listThreads(): number[] {
  try {
    return readdirSync("/proc/self/task").map(Number);
  } catch {
    return [];
  }
}
