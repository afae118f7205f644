// Shared batch buffers (issue 11). A batch used to be copied out of the Worker's working arrays and
// transferred: for a 4096-event batch (~1.3 MB) the copy took ~0.5 ms and postMessage ~2.3 ms, on
// the reader, while permission events waited. Now the BatchBuilder writes each batch straight into a
// slot of SharedArrayBuffer memory; posting it shares the memory (no copy, no allocation), and the
// main thread hands the slot back (busy[k] = 0) once it has processed the batch. A batch never
// outlives its processing on the main thread (pipeline.ts copies what it writes).
// With every slot busy (more than MAX_SLOTS batches in flight; flow control keeps it to ~4) the
// batch is copied out as before.

/** Slots at most; each owns two shared arrays that grow with the largest batch seen. */
export const MAX_SLOTS = 8;

export class BatchSlots {
  private readonly ints: Int32Array[] = [];
  private readonly bytes: Uint8Array[] = [];
  private cur = 0;

  /** `busy`: MAX_SLOTS flags shared with the main thread (1 while it holds the slot). */
  constructor(
    private readonly busy: Int32Array,
    private readonly initialInts: number,
    private readonly initialBytes: number,
  ) {
    this.add();
  }

  /** The arrays of the slot being filled. */
  get currentInts(): Int32Array {
    return this.ints[this.cur];
  }

  get currentBytes(): Uint8Array {
    return this.bytes[this.cur];
  }

  /** The current slot's ints, grown to at least `size` (the first `used` copied). */
  growInts(size: number, used: number): Int32Array {
    const next = new Int32Array(new SharedArrayBuffer(grown(this.ints[this.cur].length, size) * 4));
    next.set(this.ints[this.cur].subarray(0, used));
    this.ints[this.cur] = next;
    return next;
  }

  /** The current slot's bytes, grown to at least `size` (the first `used` copied). */
  growBytes(size: number, used: number): Uint8Array {
    const next = new Uint8Array(new SharedArrayBuffer(grown(this.bytes[this.cur].length, size)));
    next.set(this.bytes[this.cur].subarray(0, used));
    this.bytes[this.cur] = next;
    return next;
  }

  /**
   * The current slot goes to the main thread: marks it busy, moves to a free one (or a new one) and
   * returns the handed-over index; -1 when no slot is free (the caller copies the batch instead).
   */
  handOver(): number {
    const k = this.cur;
    const n = this.ints.length;
    for (let i = 1; i < n; i++) {
      const j = (k + i) % n;
      if (Atomics.load(this.busy, j) === 0) return this.moveTo(k, j);
    }
    if (n < MAX_SLOTS && n < this.busy.length) {
      this.add();
      return this.moveTo(k, n);
    }
    return -1;
  }

  private moveTo(k: number, j: number): number {
    Atomics.store(this.busy, k, 1);
    this.cur = j;
    return k;
  }

  private add(): void {
    this.ints.push(new Int32Array(new SharedArrayBuffer(this.initialInts * 4)));
    this.bytes.push(new Uint8Array(new SharedArrayBuffer(this.initialBytes)));
  }
}

function grown(length: number, size: number): number {
  let n = Math.max(1, length) * 2;
  while (n < size) n *= 2;
  return n;
}
