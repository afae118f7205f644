// How a batch gets from the Worker to the main thread without fresh memory (issue 11). Normally it is
// built in a shared slot and only the slot's number is posted (BatchSlots, below). A batch that
// outgrew its slot (a backlog while the main thread is behind) is handed over in place and its buffers
// go round (BatchBuffers): fresh memory is mapped page by page as it is first written, and a
// 4096-event batch in fresh buffers took ~180 page faults in the Worker (~0.7 ms in one piece on this
// VM, while openers waited). The main thread hands such a batch's buffers back over a MessageChannel,
// and the Worker takes them up synchronously (receiveMessageOnPort) when it posts the next one.

import { INTS_PER_EVENT } from "./protocol.ts";

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
/** A batch that outgrew its slot goes over in place from this size (ints or bytes): ~1,600 events and more. */
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

/**
 * Batches reach the main thread through a few slots of one SharedArrayBuffer made at start (issue 11):
 * only the slot's number is posted, the main thread reads the batch there and frees the slot with an
 * atomic store — no message back, and no ArrayBuffer changes hands. Every ArrayBuffer a thread
 * receives counts as fresh memory against its heap's eden budget: handing 4096-event batches over
 * in place (~1 MB each way) started a garbage collection in both heaps every ~8 batches (0.4–1.2 ms
 * each, while openers waited; `BUN_JSC_logGC=1`: "oversized bytes"), and copying a batch out into
 * fresh buffers cost the Worker ~50 µs per post (seventh pass). A batch is either built in a slot
 * (BatchBuilder.enterSlot: the reader's choice after a full batch — a stream, such as the permission
 * drain, where a 1 MB copy would land on an open) or built in the builder's own arrays and copied
 * into a slot as it is posted (put: a trickle's small batches). A batch too large for a slot (a
 * backlog while the main thread is behind, or very long paths) is handed over in place as before
 * (BatchBuffers). At most MAX_INFLIGHT batches are posted, so a slot is normally free.
 */
export const SLOT_COUNT = 5;
/** Rows a slot holds: a full batch (4096 events) and what one more content read adds. */
export const SLOT_EVENTS = 5120;
const SLOT_INTS_BYTES = SLOT_EVENTS * INTS_PER_EVENT * 4;
/** Bytes a slot holds: ~500 bytes per event of a full batch (the pages are mapped only as they are written). */
export const SLOT_BYTES = 2 * 1024 * 1024;
/** The slots' states fill the first page; then per slot its ints and its bytes (page multiples). */
const SLOTS_AT = 4096;
const SLOT_STRIDE = SLOT_INTS_BYTES + SLOT_BYTES;
const FREE = 0;
const POSTED = 1;
const BUILDING = 2;

/** Made by the main thread and handed to the Worker in the start message. */
export function createBatchSlots(): SharedArrayBuffer {
  return new SharedArrayBuffer(SLOTS_AT + SLOT_COUNT * SLOT_STRIDE);
}

/** A batch in a slot: what the Worker posts instead of the arrays. */
export interface SlotBatch {
  readonly count: number;
  readonly slot: number;
  /** Int32 elements of the slot's ints in use. */
  readonly intsLen: number;
  /** Bytes of the slot's bytes in use. */
  readonly bytesLen: number;
}

/** Both sides' view of the slots. Only the Worker claims (free → building) and posts (building → posted). */
export class BatchSlots {
  private readonly state: Int32Array;
  private readonly intsOf: Int32Array[] = [];
  private readonly bytesOf: Uint8Array[] = [];

  constructor(sab: SharedArrayBuffer) {
    this.state = new Int32Array(sab, 0, SLOT_COUNT);
    for (let i = 0; i < SLOT_COUNT; i++) {
      const at = SLOTS_AT + i * SLOT_STRIDE;
      this.intsOf.push(new Int32Array(sab, at, SLOT_INTS_BYTES / 4));
      this.bytesOf.push(new Uint8Array(sab, at + SLOT_INTS_BYTES, SLOT_BYTES));
    }
  }

  /** Worker: a free slot to build the next batch in (lowest first: its pages are mapped already), or -1. */
  claim(): number {
    for (let i = 0; i < SLOT_COUNT; i++) {
      if (Atomics.load(this.state, i) !== FREE) continue;
      Atomics.store(this.state, i, BUILDING);
      return i;
    }
    return -1;
  }

  /** Worker: copies a batch built elsewhere into a free slot and posts it; -1 when it does not fit or none is free. */
  put(ints: Int32Array, intsLen: number, bytes: Uint8Array, bytesLen: number): number {
    if (intsLen * 4 > SLOT_INTS_BYTES || bytesLen > SLOT_BYTES) return -1;
    const slot = this.claim();
    if (slot < 0) return -1;
    this.intsOf[slot].set(ints.subarray(0, intsLen));
    this.bytesOf[slot].set(bytes.subarray(0, bytesLen));
    this.post(slot);
    return slot;
  }

  /** Worker: the batch in `slot` goes to the main thread. */
  post(slot: number): void {
    Atomics.store(this.state, slot, POSTED);
  }

  /** Worker: a claimed slot given up (its batch moved out). */
  abandon(slot: number): void {
    Atomics.store(this.state, slot, FREE);
  }

  /** The slot's whole ints (the Worker builds in them). */
  allInts(slot: number): Int32Array {
    return this.intsOf[slot];
  }

  /** The slot's whole bytes (the Worker builds in them). */
  allBytes(slot: number): Uint8Array {
    return this.bytesOf[slot];
  }

  /** Main thread: the slot's ints in use (valid until release()). */
  ints(slot: number, len: number): Int32Array {
    return this.intsOf[slot].subarray(0, len);
  }

  /** Main thread: the slot's bytes in use (valid until release()). */
  bytes(slot: number, len: number): Uint8Array {
    return this.bytesOf[slot].subarray(0, len);
  }

  /** Main thread: done with the slot's batch; the Worker may build in it again. */
  release(slot: number): void {
    Atomics.store(this.state, slot, FREE);
  }

  /** Slots posted and not yet released. */
  inUse(): number {
    let n = 0;
    for (let i = 0; i < SLOT_COUNT; i++) if (Atomics.load(this.state, i) === POSTED) n++;
    return n;
  }
}
