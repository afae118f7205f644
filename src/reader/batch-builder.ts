// The Worker's side of a batch (design.md "one transferred buffer per batch"): per event a row of
// integers, and the event's JSONL tail already encoded as bytes:
//
//   "pid":N[,"comm":"…"][,"exe":"…"],"path":"…"[,"name":"…"],"is_dir":B[<process details>]}\n
//
// (the process-details fragment, src/reader/process-details.ts, only with --process-details)
//
// The main thread writes the head (`{"schema_version":1,…,"path_role":…,` with ts_ms and the policy's
// job fields) and copies the tail, so no per-event string exists unless the policy asks for one
// (each text field's raw bytes are located by offset/length for that). Escaping is behavior.md A7:
// `"` `\` \b \t \n \f \r, other bytes < 0x20 as \u00xx (lowercase), every other byte raw.
import {
  F_OVERFLOW,
  I_COMM,
  I_CONTAINER,
  I_DETAILS,
  I_START_HI,
  I_START_LO,
  I_EXE,
  I_FLAGS,
  I_MASK_HI,
  I_MASK_LO,
  I_NAME,
  I_PATH,
  I_PID,
  I_TAIL_END,
  I_TAIL_START,
  INTS_PER_EVENT,
} from "./protocol.ts";
import type { BatchBuffers, BatchSlots, SlotBatch } from "./batch-recycle.ts";

const enc = (s: string): Uint8Array => Buffer.from(s, "latin1");
const PID_KEY = enc('"pid":');
const COMM_KEY = enc(',"comm":"');
const EXE_KEY = enc(',"exe":"');
const PATH_KEY = enc(',"path":"');
const NAME_KEY = enc(',"name":"');
const DIR_TRUE = enc('","is_dir":true}\n');
const DIR_FALSE = enc('","is_dir":false}\n');
const DIR_TRUE_OPEN = enc('","is_dir":true');
const DIR_FALSE_OPEN = enc('","is_dir":false');
const CLOSE = enc("}\n");
const HEX = enc("0123456789abcdef");

/** The escape's second byte for \b \t \n \f \r, else 0 (→ \u00xx). */
const SHORT_ESCAPE = new Uint8Array(0x20);
SHORT_ESCAPE[0x08] = 0x62;
SHORT_ESCAPE[0x09] = 0x74;
SHORT_ESCAPE[0x0a] = 0x6e;
SHORT_ESCAPE[0x0c] = 0x66;
SHORT_ESCAPE[0x0d] = 0x72;

/**
 * `"pid":N[,"comm":"…"][,"exe":"…"]` of one process, encoded once and copied into every row of its
 * events (procHead()); where comm and exe lie in it, for the rows' raw-bytes bookkeeping.
 */
export interface ProcHead {
  readonly bytes: Uint8Array;
  readonly commOff: number;
  readonly commLen: number;
  readonly exeOff: number;
  readonly exeLen: number;
}

/** A byte that JSON text carries as it is (A7); every other one is escaped. */
function plainByte(c: number): boolean {
  return c >= 0x20 && c !== 0x22 && c !== 0x5c;
}

function needsEscape(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) if (!plainByte(b[i])) return true;
  return false;
}

/** A process's head, or null when comm or exe needs escaping (those rows are written field by field). */
export function procHead(pid: number, comm: Uint8Array, exe: Uint8Array): ProcHead | null {
  if (needsEscape(comm) || needsEscape(exe)) return null;
  const digits = enc(String(pid));
  const n = PID_KEY.length + digits.length + (comm.length > 0 ? COMM_KEY.length + comm.length + 1 : 0) + (exe.length > 0 ? EXE_KEY.length + exe.length + 1 : 0);
  const bytes = new Uint8Array(n);
  let p = 0;
  const put = (b: Uint8Array): number => {
    bytes.set(b, p);
    const at = p;
    p += b.length;
    return at;
  };
  put(PID_KEY);
  put(digits);
  let commOff = 0;
  let exeOff = 0;
  if (comm.length > 0) {
    put(COMM_KEY);
    commOff = put(comm);
    bytes[p++] = 0x22;
  }
  if (exe.length > 0) {
    put(EXE_KEY);
    exeOff = put(exe);
    bytes[p++] = 0x22;
  }
  return { bytes, commOff, commLen: comm.length, exeOff, exeLen: exe.length };
}

/** A field whose escaped form differs from its bytes: its raw bytes are appended after the tail. */
interface RawCopy {
  src: Uint8Array;
  start: number;
  end: number;
  slot: number;
}

export class BatchBuilder {
  count = 0;
  /** Bytes used in `bytes`. */
  len = 0;
  ints: Int32Array;
  bytes: Uint8Array;
  private readonly rawCopies: RawCopy[] = [];
  private rawCount = 0;
  private row = 0;
  private detailsSrc: Uint8Array | null = null;
  private detailsContainerOff = 0;
  private detailsContainerLen = 0;
  /** Where batches are built (batch-recycle.ts BatchSlots), the slot of this batch (-1: own arrays), and the own arrays meanwhile. */
  private slots: BatchSlots | null = null;
  private slot = -1;
  private ownInts: Int32Array;
  private ownBytes: Uint8Array;

  constructor(
    private readonly maxEvents: number,
    initialBytes = 256 * 1024,
    /** Rows the ints start with (a full batch and one more read); they grow while a backlog builds. */
    initialEvents = 8192,
  ) {
    this.ints = new Int32Array(Math.min(maxEvents, initialEvents) * INTS_PER_EVENT);
    this.bytes = new Uint8Array(initialBytes);
    this.ownInts = this.ints;
    this.ownBytes = this.bytes;
    for (let i = 0; i < 4; i++) this.rawCopies.push({ src: this.bytes, start: 0, end: 0, slot: 0 });
  }

  get full(): boolean {
    return this.count >= this.maxEvents;
  }

  /** A kernel queue overflow: a row with no tail. */
  overflow(lo: number, hi: number): void {
    this.begin(lo, hi, 0, F_OVERFLOW);
    this.ints[this.row + I_TAIL_END] = this.len;
  }

  /**
   * Starts an event's row and its tail: `"pid":N`, or with `head` (procHead() of this pid) also comm
   * and exe, copied in one piece. Text fields follow in record order.
   */
  begin(lo: number, hi: number, pid: number, flags: number, head: ProcHead | null = null): void {
    const r = this.count * INTS_PER_EVENT;
    if (r + INTS_PER_EVENT > this.ints.length) this.growInts();
    const ints = this.ints;
    this.row = r;
    this.count++;
    ints[r + I_MASK_LO] = lo;
    ints[r + I_MASK_HI] = hi;
    ints[r + I_PID] = pid;
    ints[r + I_FLAGS] = flags;
    ints[r + I_TAIL_START] = this.len;
    ints[r + I_COMM] = 0;
    ints[r + I_COMM + 1] = 0;
    ints[r + I_EXE] = 0;
    ints[r + I_EXE + 1] = 0;
    ints[r + I_NAME] = 0;
    ints[r + I_NAME + 1] = 0;
    ints[r + I_START_LO] = 0;
    ints[r + I_START_HI] = 0;
    ints[r + I_DETAILS] = 0;
    ints[r + I_DETAILS + 1] = 0;
    ints[r + I_CONTAINER] = 0;
    ints[r + I_CONTAINER + 1] = 0;
    this.detailsSrc = null;
    this.rawCount = 0;
    if (head === null) {
      this.reserve(PID_KEY.length + 11);
      this.put(PID_KEY);
      this.putInt(pid);
      return;
    }
    const at = this.len;
    this.reserve(head.bytes.length);
    this.bytes.set(head.bytes, at);
    this.len = at + head.bytes.length;
    if (head.commLen > 0) {
      ints[r + I_COMM] = at + head.commOff;
      ints[r + I_COMM + 1] = head.commLen;
    }
    if (head.exeLen > 0) {
      ints[r + I_EXE] = at + head.exeOff;
      ints[r + I_EXE + 1] = head.exeLen;
    }
  }

  /** `,"comm":"…"` (left out when empty). */
  comm(src: Uint8Array, start: number, end: number): void {
    if (end > start) this.field(COMM_KEY, src, start, end, I_COMM, true);
  }

  /** `,"exe":"…"` (left out when empty). */
  exe(src: Uint8Array, start: number, end: number): void {
    if (end > start) this.field(EXE_KEY, src, start, end, I_EXE, true);
  }

  /** `,"path":"…"` from one piece, always present. */
  path(src: Uint8Array, start: number, end: number): void {
    this.field(PATH_KEY, src, start, end, I_PATH, false);
  }

  /** `,"name":"…"` (left out when empty); closes the path's quote first (end() closes the last one). */
  name(src: Uint8Array, start: number, end: number): void {
    if (end <= start) return;
    this.reserve(1);
    this.bytes[this.len++] = 0x22;
    this.field(NAME_KEY, src, start, end, I_NAME, false);
  }

  /** The process's start time (clock ticks since boot; policy state is keyed by pid and start time). */
  startTime(ticks: number): void {
    this.ints[this.row + I_START_LO] = ticks % 4294967296;
    this.ints[this.row + I_START_HI] = Math.floor(ticks / 4294967296);
  }

  /**
   * The process-details fragment (already JSON), written after `"is_dir":B` by end(); the container
   * id is `src[containerOff, containerOff + containerLen)`.
   */
  details(src: Uint8Array, containerOff: number, containerLen: number): void {
    if (src.length === 0) return;
    this.detailsSrc = src;
    this.detailsContainerOff = containerOff;
    this.detailsContainerLen = containerLen;
  }

  /** `"is_dir":B[details]}\n`: ends the tail, then appends raw copies of fields that needed escaping. */
  end(isDir: boolean): void {
    const r = this.row;
    const details = this.detailsSrc;
    if (details === null) {
      this.reserve(DIR_FALSE.length);
      this.put(isDir ? DIR_TRUE : DIR_FALSE);
    } else {
      this.reserve(DIR_FALSE_OPEN.length + details.length + CLOSE.length);
      this.put(isDir ? DIR_TRUE_OPEN : DIR_FALSE_OPEN);
      const at = this.len;
      this.bytes.set(details, at);
      this.len += details.length;
      this.ints[r + I_DETAILS] = at;
      this.ints[r + I_DETAILS + 1] = details.length;
      if (this.detailsContainerLen > 0) {
        this.ints[r + I_CONTAINER] = at + this.detailsContainerOff;
        this.ints[r + I_CONTAINER + 1] = this.detailsContainerLen;
      }
      this.put(CLOSE);
    }
    this.ints[r + I_TAIL_END] = this.len;
    for (let i = 0; i < this.rawCount; i++) {
      const c = this.rawCopies[i];
      const n = c.end - c.start;
      this.reserve(n);
      this.bytes.set(c.src.subarray(c.start, c.end), this.len);
      this.ints[r + c.slot] = this.len;
      this.len += n;
    }
  }

  /** Hands batches over through the shared slots from now on (batch-recycle.ts): built there after enterSlot(), else copied by takeSlot(). */
  useSlots(slots: BatchSlots): void {
    this.slots = slots;
  }

  /**
   * An empty batch moves into a free slot, to be built there, if it is not in one already (a no-op
   * otherwise). Called as a batch gets its first record, not when the last one is posted: by then
   * the main thread has usually released that one, and the same slot's pages serve again.
   */
  enterSlot(): void {
    if (this.slot >= 0 || this.count !== 0 || this.slots === null) return;
    const slot = this.slots.claim();
    if (slot < 0) return;
    this.ownInts = this.ints;
    this.ownBytes = this.bytes;
    this.slot = slot;
    this.ints = this.slots.allInts(slot);
    this.bytes = this.slots.allBytes(slot);
  }

  /**
   * Hands the batch over in a slot (posted: the main thread frees it): in its own slot, or copied
   * into a free one; then starts an empty batch in the builder's own arrays (until enterSlot()).
   * Null (nothing done) when the batch is in no slot and fits none.
   */
  takeSlot(): SlotBatch | null {
    const slots = this.slots;
    if (slots === null) return null;
    const intsLen = this.count * INTS_PER_EVENT;
    let slot = this.slot;
    if (slot >= 0) {
      slots.post(slot);
      this.slot = -1;
      this.ints = this.ownInts;
      this.bytes = this.ownBytes;
    } else {
      slot = slots.put(this.ints, intsLen, this.bytes, this.len);
      if (slot < 0) return null;
    }
    const out = { count: this.count, slot, intsLen, bytesLen: this.len };
    this.count = 0;
    this.len = 0;
    return out;
  }

  /** The batch outgrew its slot: it goes on in the builder's own arrays (grown to the slot's size), and the slot is free again. */
  private leaveSlot(): void {
    const ints = this.ownInts.length >= this.ints.length ? this.ownInts : new Int32Array(this.ints.length);
    ints.set(this.ints.subarray(0, this.count * INTS_PER_EVENT));
    const bytes = this.ownBytes.length >= this.bytes.length ? this.ownBytes : new Uint8Array(this.bytes.length);
    bytes.set(this.bytes.subarray(0, this.len));
    this.slots?.abandon(this.slot);
    this.slot = -1;
    this.ints = ints;
    this.bytes = bytes;
  }

  /**
   * Hands the batch over and starts an empty one. With `buffers`, a large batch is handed over in
   * place (views of the builder's own arrays, to be transferred) when the pool has arrays for the
   * builder to go on in (batch-recycle.ts): no copy, no fresh pages. Otherwise it is copied out.
   */
  take(buffers?: BatchBuffers): { count: number; ints: Int32Array; bytes: Uint8Array } {
    if (this.slot >= 0) this.leaveSlot();
    const n = this.count * INTS_PER_EVENT;
    let ints: Int32Array;
    let bytes: Uint8Array;
    const next = buffers === undefined ? null : buffers.swapFor(n * 4, this.len);
    if (next !== null) {
      ints = this.ints.subarray(0, n);
      bytes = this.bytes.subarray(0, this.len);
      this.ints = next.ints;
      this.bytes = next.bytes;
    } else {
      ints = this.ints.slice(0, n);
      bytes = this.bytes.slice(0, this.len);
    }
    const out = { count: this.count, ints, bytes };
    this.count = 0;
    this.len = 0;
    return out;
  }

  /** The rows outgrew the ints (a backlog while the main thread is behind): double them, up to maxEvents. */
  private growInts(): void {
    if (this.slot >= 0) {
      this.leaveSlot();
      if (this.count * INTS_PER_EVENT + INTS_PER_EVENT <= this.ints.length) return;
    }
    const size = Math.min(this.maxEvents * INTS_PER_EVENT, this.ints.length * 2);
    if (size <= this.ints.length) throw new RangeError("batch builder: more rows than maxEvents");
    const next = new Int32Array(size);
    next.set(this.ints);
    this.ints = next;
  }

  /**
   * Writes key, the escaped bytes and (closed) the quote; records the raw bytes' offset and length
   * in the row at `slot`. The path's closing quote is written by name()/end().
   */
  private field(key: Uint8Array, src: Uint8Array, start: number, end: number, slot: number, close: boolean): void {
    const n = end - start;
    // Worst case 6 output bytes per input byte (\u00xx).
    this.reserve(key.length + n * 6 + 1);
    this.put(key);
    const at = this.len;
    const escaped = this.escape(src, start, end);
    const r = this.row;
    this.ints[r + slot + 1] = n;
    if (escaped) {
      const c = this.rawCopies[this.rawCount++];
      c.src = src;
      c.start = start;
      c.end = end;
      c.slot = slot;
    } else {
      this.ints[r + slot] = at;
    }
    if (close) this.bytes[this.len++] = 0x22;
  }

  /** Copies src[start, end) JSON-escaped; true when anything had to be escaped. */
  private escape(src: Uint8Array, start: number, end: number): boolean {
    const out = this.bytes;
    let p = this.len;
    let escaped = false;
    for (let i = start; i < end; i++) {
      const c = src[i];
      if (plainByte(c)) {
        out[p++] = c;
        continue;
      }
      escaped = true;
      out[p++] = 0x5c;
      if (c === 0x22 || c === 0x5c) {
        out[p++] = c;
      } else if (SHORT_ESCAPE[c] !== 0) {
        out[p++] = SHORT_ESCAPE[c];
      } else {
        out[p++] = 0x75; // u00xx
        out[p++] = 0x30;
        out[p++] = 0x30;
        out[p++] = HEX[c >> 4];
        out[p++] = HEX[c & 15];
      }
    }
    this.len = p;
    return escaped;
  }

  private put(b: Uint8Array): void {
    // The keys are a few bytes: a loop beats the native set() call.
    const out = this.bytes;
    let p = this.len;
    for (let i = 0; i < b.length; i++) out[p++] = b[i];
    this.len = p;
  }

  private putInt(n: number): void {
    const out = this.bytes;
    if (n < 0) {
      out[this.len++] = 0x2d;
      n = -n;
    }
    let digits = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = this.len + digits;
    this.len = p;
    do {
      out[--p] = 0x30 + (n % 10);
      n = Math.floor(n / 10);
    } while (n > 0);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.bytes.length) return;
    if (this.slot >= 0) {
      this.leaveSlot();
      if (this.len + n <= this.bytes.length) return;
    }
    let size = this.bytes.length * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.bytes.subarray(0, this.len));
    this.bytes = next;
  }
}
