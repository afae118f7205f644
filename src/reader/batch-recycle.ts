// Batch buffers go round instead of being allocated per batch (issue 11). A posted batch's ints and
// bytes were fresh allocations, and fresh memory is mapped page by page as it is first written: a
// 4096-event batch took ~180 page faults in the Worker (~0.7 ms in one piece on this VM, while
// openers waited). The main thread now hands each processed batch's buffers back over a
// MessageChannel, and the Worker takes them up synchronously (receiveMessageOnPort) when it
// posts the next batch: their pages are mapped already.
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";

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
 * Recycled buffers are powers of two, so that they fit later batches too.
 */
export const RECYCLE_MIN_BYTES = 64 * 1024;

function roundUp(n: number): number {
  let size = RECYCLE_MIN_BYTES;
  while (size < n) size *= 2;
  return size;
}

/** Takes the smallest buffer of `pool` that holds `n` bytes, or a new one. */
function fitting(pool: ArrayBuffer[], n: number): ArrayBuffer {
  let best = -1;
  for (let i = 0; i < pool.length; i++) {
    if (pool[i].byteLength >= n && (best < 0 || pool[i].byteLength < pool[best].byteLength)) best = i;
  }
  if (best < 0) return new ArrayBuffer(roundUp(n));
  const ab = pool[best];
  pool[best] = pool[pool.length - 1];
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
    total -= pool[smallest].byteLength;
    pool[smallest] = pool[pool.length - 1];
    pool.pop();
  }
}

/** The Worker's side: where a batch's output arrays come from. */
export class BatchBuffers {
  private readonly ints: ArrayBuffer[] = [];
  private readonly bytes: ArrayBuffer[] = [];

  /** `port`: where the main thread returns buffers; null (tests): every batch gets new ones. */
  constructor(private readonly port: MessagePort | null) {}

  /** Takes in what the main thread has returned so far (no event-loop turn needed). */
  collect(): void {
    if (this.port === null) return;
    for (;;) {
      const r = receiveMessageOnPort(this.port) as { message: Returned } | undefined;
      if (r === undefined) return;
      keep(this.ints, r.message.ints);
      keep(this.bytes, r.message.bytes);
    }
  }

  /** At stop. */
  close(): void {
    this.port?.close();
  }

  /** An Int32Array of exactly `n` elements over a recycled buffer when one fits. */
  intsFor(n: number): Int32Array {
    return n * 4 < RECYCLE_MIN_BYTES ? new Int32Array(n) : new Int32Array(fitting(this.ints, n * 4), 0, n);
  }

  /** A Uint8Array of exactly `n` bytes over a recycled buffer when one fits. */
  bytesFor(n: number): Uint8Array {
    return n < RECYCLE_MIN_BYTES ? new Uint8Array(n) : new Uint8Array(fitting(this.bytes, n), 0, n);
  }
}

/** The main thread's side: gives a processed batch's buffers back (they must no longer be used here). */
export function returnBatch(port: MessagePort, ints: Int32Array, bytes: Uint8Array): void {
  if (ints.buffer.byteLength < RECYCLE_MIN_BYTES && bytes.buffer.byteLength < RECYCLE_MIN_BYTES) return;
  const msg: Returned = { ints: ints.buffer as ArrayBuffer, bytes: bytes.buffer as ArrayBuffer };
  port.postMessage(msg, [msg.ints, msg.bytes]);
}
