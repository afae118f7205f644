// A fixed-bucket histogram over a SharedArrayBuffer: one thread observes (the reader Worker for the
// permission answer time, the main thread for event lag), the main thread reads it at scrape time.
// observe() is a short bucket scan and two additions: no allocation, no lock, no message. Counts are
// Float64 (exact up to 2^53); a scrape that races an observe sees a value at most one event stale.

/** Slots: one per bound (cumulative counts are derived at scrape time), +Inf, sum, count. */
export function histogramBytes(bounds: readonly number[]): number {
  return (bounds.length + 3) * 8;
}

export class SharedHistogram {
  private readonly slots: Float64Array;
  private readonly inf: number;

  constructor(
    readonly bounds: readonly number[],
    buffer: SharedArrayBuffer = new SharedArrayBuffer(histogramBytes(bounds)),
  ) {
    this.slots = new Float64Array(buffer);
    this.inf = bounds.length;
  }

  get buffer(): SharedArrayBuffer {
    return this.slots.buffer as SharedArrayBuffer;
  }

  /** Adds `n` observations of `value` (same unit as the bounds). */
  observe(value: number, n = 1): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]) i++;
    const s = this.slots;
    s[i] += n;
    s[this.inf + 1] += value * n;
    s[this.inf + 2] += n;
  }

  /** Cumulative bucket counts (le = bounds[i], last = +Inf), sum and count, as of now. */
  read(): { readonly cumulative: number[]; readonly sum: number; readonly count: number } {
    const s = this.slots;
    const cumulative: number[] = [];
    let acc = 0;
    for (let i = 0; i <= this.inf; i++) {
      acc += s[i];
      cumulative.push(acc);
    }
    // The +Inf bucket must equal the count in the exposition; take the count from the buckets.
    return { cumulative, sum: s[this.inf + 1], count: acc };
  }
}

/** Permission answer time, read() to response write, in seconds. */
export const PERM_ANSWER_BOUNDS_S: readonly number[] = [
  0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05,
];

/** Event lag, read to line handed to the sinks, in seconds. */
export const EVENT_LAG_BOUNDS_S: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
