// Batch buffers go round instead of being allocated per batch (issue 11). A posted batch's ints and
// bytes were fresh allocations, and fresh memory is mapped page by page as it is first written: a
// 4096-event batch took ~180 page faults in the Worker (~0.7 ms in one piece on this VM, while
// openers waited). The main thread now hands each processed batch's buffers back over a
// MessageChannel, the Worker takes them up synchronously (receiveMessageOnPort) when it posts the
// next batch, and a large batch goes over in place while the builder goes on in those (their pages
// are mapped already).

/**
 * node:worker_threads' receiveMessageOnPort, loaded by the Worker at its first large batch: the
 * module costs ~2.7 MB of RSS, and nothing comes back before a large batch went out.
 */
type Receive = (port: MessagePort) => { message: unknown } | undefined;

/** main → Worker: a processed batch's buffers, transferred back. */
interface Returned {
  readonly ints: ArrayBuffer;
  readonly bytes: ArrayBuffer;
}

/** Buffers kept per kind: enough for the batches in flight (MAX_INFLIGHT)… */
const POOL_MAX = 4;
/** …at most this much memory per kind… */
const POOL_MAX_BYTES = 8 * 1024 * 1024;
/** …and none larger than this (batches of a long backlog, up to 65536 events, are rare). */
const KEEP_MAX_BYTES = 4 * 1024 * 1024;
/**
 * Only buffers of at least this size go round: smaller ones come from the allocator's pages already
 * in use, and a trickle of small batches (2 ms apart) would pay a message per batch for nothing.
 */
export const RECYCLE_MIN_BYTES = 64 * 1024;
/** A batch goes over in place from this size (ints or bytes): ~1,600 events and more (the permission drain's batches). */
export const SWAP_MIN_BYTES = 128 * 1024;

/** The index of the smallest buffer of `pool` that holds `n` bytes, or -1. */
function fitting(pool: ArrayBuffer[], n: number): number {
  let best = -1;
  for (let i = 0; i < pool.length; i++) {
    if (pool[i].byteLength >= n && (best < 0 || pool[i].byteLength < pool[best].byteLength)) best = i;
  }
  return best;
}

function takeAt(pool: ArrayBuffer[], i: number): ArrayBuffer {
  const ab = pool[i];
  pool[i] = pool[pool.length - 1];
  pool.pop();
  return ab;
}

/** Keeps `ab`; over the pool's bounds the smallest buffers go (the large ones are the costly kind). */
function keep(pool: ArrayBuffer[], ab: ArrayBuffer): void {
  if (ab.byteLength < RECYCLE_MIN_BYTES || ab.byteLength > KEEP_MAX_BYTES) return;
  pool.push(ab);
  let total = 0;
  for (const b of pool) total += b.byteLength;
  while (pool.length > POOL_MAX || total > POOL_MAX_BYTES) {
    let smallest = 0;
    for (let i = 1; i < pool.length; i++) if (pool[i].byteLength < pool[smallest].byteLength) smallest = i;
    total -= takeAt(pool, smallest).byteLength;
  }
}

/** The Worker's side: where the batch builder's next arrays come from. */
export class BatchBuffers {
  private readonly intsPool: ArrayBuffer[] = [];
  private readonly bytesPool: ArrayBuffer[] = [];

  private receive: Receive | null = null;

  /** `port`: where the main thread returns buffers; null (tests): every batch is copied out. */
  constructor(private readonly port: MessagePort | null) {}

  /** Takes in what the main thread has returned so far (no event-loop turn needed). */
  collect(): void {
    if (this.port === null || this.receive === null) return;
    for (;;) {
      const r = this.receive(this.port) as { message: Returned } | undefined;
      if (r === undefined) return;
      keep(this.intsPool, r.message.ints);
      keep(this.bytesPool, r.message.bytes);
    }
  }

  /**
   * For a batch of this size, recycled arrays (whole buffers holding at least as much) for the
   * builder to go on in, so that the batch itself can be handed over in place; null when the pool
   * has none that fit, and always below SWAP_MIN_BYTES (the 2 ms batches of a notification stream
   * measured more CPU per record when each moved the builder's whole arrays to and fro). Never
   * allocates: a new zeroed buffer would cost more page faults than the copy it saves, and it is
   * when the main thread is behind (on the openers' CPU) that the pool is empty.
   */
  swapFor(intsBytes: number, bytes: number): { ints: Int32Array; bytes: Uint8Array } | null {
    if (this.port === null || (intsBytes < SWAP_MIN_BYTES && bytes < SWAP_MIN_BYTES)) return null;
    // Nothing comes back before a large batch went out.
    this.receive ??= (require("node:worker_threads") as { receiveMessageOnPort: Receive }).receiveMessageOnPort;
    const i = fitting(this.intsPool, intsBytes);
    const b = fitting(this.bytesPool, bytes);
    if (i < 0 || b < 0) return null;
    return { ints: new Int32Array(takeAt(this.intsPool, i)), bytes: new Uint8Array(takeAt(this.bytesPool, b)) };
  }

  /** At stop. */
  close(): void {
    this.port?.close();
  }
}

/** The main thread's side: gives a processed batch's buffers back (they must no longer be used here). */
export function returnBatch(port: MessagePort, ints: Int32Array, bytes: Uint8Array): void {
  if (ints.buffer.byteLength < RECYCLE_MIN_BYTES && bytes.buffer.byteLength < RECYCLE_MIN_BYTES) return;
  // Both are transferred (a small one is dropped there): they are the Worker's to reuse.
  const msg: Returned = { ints: ints.buffer as ArrayBuffer, bytes: bytes.buffer as ArrayBuffer };
  port.postMessage(msg, [msg.ints, msg.bytes]);
}
