// Permission mode on a shared CPU (issue 11): every thread of the daemon asks the scheduler for a long
// time slice (SLICE_NS; sched_setattr(2) sched_runtime, the EEVDF custom slice of Linux 6.12+). The
// daemon's work between answers — reading notifications, processing and writing batches — is
// throughput work: with a slice longer than an opener's, an opener that wakes (answered) may preempt
// it at once instead of waiting for the slice to end ("PREEMPT_SHORT" in kernel/sched/fair.c). CPU
// shares do not change (weights stay; nice is kept), so nothing is starved, and no privilege is
// needed. Measured on the pinned permission bench (5 rounds): +p99 2.00× → 1.32× the C responder's; a
// short slice for the reader (always, or while it waits), real-time waits for the reader, SCHED_IDLE
// or nice 10 for the main thread were worse or starved the main thread (README "Performance").
// JSC's background compiler threads, its block warm-up thread and the allocator's scavenger go the
// other way, to nice 19 with the default slice: their work mostly makes later code faster or returns
// memory, and a compilation held the openers' CPU for up to 5 ms at a time with the long slice. They
// were at SCHED_IDLE until the ninth pass, which found that a JavaScript thread does wait for them now
// and then (a stall caught by a /proc sampler began with the reader blocked on a futex while a
// compiler thread had been runnable and unrun for the whole run): on a CPU the openers kept
// saturated, 7 of 20 pinned runs of 30,000 opens had one open stalled 8–80 ms, none of 20 at nice 19
// (worst 5.6 ms; +p99.9 141 against 125 µs, p50 and p99 the same; README "Performance", ninth
// pass). Nice 19 with the 0.1 ms slice was measured in the second pass: +p99.9 with the notification
// flood 2.6–3.6× the C responder's.
// (The I/O pool and the GC helpers keep the long slice: the main thread and the reader wait for them.)
// Threads start lazily (Bun's I/O pool, JSC's JIT workers) and a new thread starts with the default
// slice, so the main thread looks again once a second: a look reads /proc/self/stat and lists the
// threads only when their number changed; every FULL_SCAN_MS every thread is treated again (a thread
// id can end and come back between two looks).
import { readdirSync, readFileSync } from "node:fs";
import { setThreadBackground, setThreadSlice } from "../../ffi/process.ts";

/** The kernel's upper bound for a custom slice. */
export const SLICE_NS = 100_000_000;
export const RESCAN_MS = 1000;
const FULL_SCAN_MS = 10_000;
/** Background threads (by comm): JSC's compilers and heap warm-up, the allocator's scavenger. */
const BACKGROUND = /^(JITWorker|JSCWarmUp|mi-scavenger)/;

/** What a thread gets: the long slice, or nice 19 for background work. */
export type ThreadTreatment = "slice" | "background";

/** Where ThreadSlices looks: this process's thread count and threads (replaceable in tests). */
export interface ThreadSource {
  count(): number;
  list(): Array<[number, string]>;
}

export class ThreadSlices {
  private readonly done = new Set<number>();
  private lastCount = -1;
  private lastFullScan = -Infinity;

  /** `apply` treats one thread (replaceable in tests). */
  constructor(
    private readonly source: ThreadSource = procSelf,
    private readonly apply: (tid: number, how: ThreadTreatment) => boolean = applyTreatment,
  ) {}

  /** Treats every thread there is now; false when the kernel took none. */
  start(nowMs: number): boolean {
    this.fullScan(nowMs);
    return this.done.size > 0;
  }

  /** Once a second (RESCAN_MS): threads started since the last look get their treatment too. */
  rescan(nowMs: number): void {
    if (nowMs - this.lastFullScan >= FULL_SCAN_MS) this.fullScan(nowMs);
    else if (this.source.count() !== this.lastCount) this.scan();
  }

  /** Every thread again: a thread that ended and whose id came back between two looks is new. */
  private fullScan(nowMs: number): void {
    this.lastFullScan = nowMs;
    this.done.clear();
    this.scan();
  }

  private scan(): void {
    const live = new Set<number>();
    const threads = this.source.list();
    let missed = false;
    for (const [tid, comm] of threads) {
      live.add(tid);
      if (this.done.has(tid)) continue;
      if (this.apply(tid, BACKGROUND.test(comm) ? "background" : "slice")) this.done.add(tid);
      else missed = true;
    }
    // Threads that ended: their ids may be reused by new threads, which the next scan treats afresh.
    for (const tid of this.done) if (!live.has(tid)) this.done.delete(tid);
    // A refused thread is tried again at the next look.
    this.lastCount = missed ? -1 : threads.length;
  }
}

function applyTreatment(tid: number, how: ThreadTreatment): boolean {
  return how === "background" ? setThreadBackground(tid) : setThreadSlice(tid, SLICE_NS);
}

const procSelf: ThreadSource = {
  count(): number {
    // /proc/self/stat field 20 (num_threads), counted after the ")" that ends comm.
    try {
      const stat = readFileSync("/proc/self/stat", "latin1");
      return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ", 18)[17]);
    } catch {
      return -1;
    }
  },
  list(): Array<[number, string]> {
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
  },
};

/** Treats every thread now and once a second from the main thread's timer; returns the stop function. */
export function keepThreadSlices(slices = new ThreadSlices()): () => void {
  slices.start(performance.now());
  const timer = setInterval(() => slices.rescan(performance.now()), RESCAN_MS);
  timer.unref();
  return () => clearInterval(timer);
}
