// The main thread's half of an event record (behavior.md A7): the Worker sends each event's tail
// (`"pid":…,"is_dir":…}\n`, src/reader/batch-builder.ts) as bytes; this writes the head in front of it
//
//   {"schema_version":1,"type":"event","ts_ms":T,"mask":M,"events":"E","decision":"D","job_id":J,"path_role":R,
//
// into one buffer per batch. The mask/decision part and the job part are cached as bytes, and the whole
// head (with the batch's ts) once per batch, so an event costs two copies: the head's and the tail's; alert
// lines (strings from encodeAlert) go in between.
import type { Decision } from "../output-records.ts";
import { jsonString } from "../output-encode.ts";
import { EXACT_HI_LIMIT, maskDecimal, maskNames } from "./mask-names.ts";

const enc = (s: string): Buffer => Buffer.from(s, "latin1");
const HEAD_START = enc('{"schema_version":1,"type":"event","ts_ms":');
const NO_JOB = enc('null,"path_role":null,');
const MAX_CACHED = 4096;
/**
 * Every batch's buffer goes round (issue 11): a fresh buffer is mapped page by page as the lines
 * are written, ~250 page faults for a 4096-event batch, ~1 ms on the CPU the openers wait for. The
 * small batches of a trickle (one every 2 ms) went to the allocator instead, and what they free
 * comes back to the allocator only at a garbage collection, in bulk, which hands it to the kernel
 * 100 ms later (mimalloc's purge): ~3,000 page faults per 30,000 permission events in free
 * scheduling (README "Performance"). A buffer is at least this large, so a few of them serve
 * every batch of a stream.
 */
const REUSE_MIN_BYTES = 256 * 1024;
const POOL_MAX = 4;
/** Larger ones (a backlog's batches) are left to the garbage collector. */
const KEEP_MAX_BYTES = 4 * 1024 * 1024;

export class EventLineWriter {
  private buf: Buffer = Buffer.alloc(0);
  /** Buffers given back by recycle(), ready for the next batch. */
  private readonly pool: Buffer[] = [];
  /**
   * Buffers of at least REUSE_MIN_BYTES made here and not let go: in the pool or lent to the sinks.
   * A small batch gets a new one only while there are fewer than POOL_MAX: a sink that keeps chunks
   * (an output stalled on a full disk) must not pin 256 KiB per few-KiB batch, since its queue is
   * bounded by the bytes of the chunks, not of the buffers under them.
   */
  private owned = 0;
  private len = 0;
  private ts: Buffer = enc("0");
  private readonly maskParts: Record<Decision, Map<number, Buffer>> = {
    observe: new Map(),
    allow: new Map(),
    deny: new Map(),
  };
  /** role (null: none) → job id → part; the tagger hands out the same strings every time. */
  private readonly jobParts = new Map<string | null, Map<string, Buffer>>();
  private jobPartCount = 0;
  /** This batch's whole heads (HEAD_START, ts, mask part, job part), by mask part and job part. */
  private readonly heads = new Map<Buffer, Map<Buffer, Buffer>>();

  /** Starts a batch's buffer: `bytes` is a size hint. */
  begin(tsMs: number, bytes: number): void {
    this.buf = this.allocate(Math.max(1024, bytes));
    this.len = 0;
    this.ts = enc(String(tsMs));
    this.heads.clear();
  }

  /** Writes one event line: the head, then tail[start, end). */
  event(lo: number, hi: number, decision: Decision, jobId: string | null, role: string | null, tail: Buffer, start: number, end: number): void {
    const head = this.head(this.maskPart(lo, hi, decision), jobId === null ? NO_JOB : this.jobPart(jobId, role));
    this.reserve(head.length + (end - start));
    const p = this.len + head.copy(this.buf, this.len);
    this.len = p + tail.copy(this.buf, p, start, end);
  }

  /** The whole head for this batch's ts: built once per mask part and job part, then one copy per line. */
  private head(mask: Buffer, job: Buffer): Buffer {
    let byJob = this.heads.get(mask);
    if (byJob === undefined) {
      byJob = new Map();
      this.heads.set(mask, byJob);
    }
    let head = byJob.get(job);
    if (head === undefined) {
      head = Buffer.concat([HEAD_START, this.ts, mask, job]);
      byJob.set(job, head);
    }
    return head;
  }

  /** Writes a line given as a byte string (no newline). */
  line(text: string): void {
    this.reserve(text.length + 1);
    this.len += this.buf.write(text, this.len, "latin1");
    this.buf[this.len++] = 0x0a;
  }

  /**
   * The batch's lines (handed to the sinks, which keep them); empty when nothing was written. Give
   * it to recycle() once no sink holds it any more.
   */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.alloc(0);
    this.len = 0;
    return out;
  }

  /** `,"mask":M,"events":"E","decision":"D","job_id":` */
  private maskPart(lo: number, hi: number, decision: Decision): Buffer {
    const exact = hi < EXACT_HI_LIMIT;
    const key = hi * 4294967296 + lo;
    const cache = this.maskParts[decision];
    if (exact) {
      const hit = cache.get(key);
      if (hit !== undefined) return hit;
    }
    const part = enc(`,"mask":${maskDecimal(lo, hi)},"events":"${maskNames(lo, hi)}","decision":"${decision}","job_id":`);
    if (exact) {
      if (cache.size >= MAX_CACHED) cache.clear();
      cache.set(key, part);
    }
    return part;
  }

  /** `"<job>","path_role":"<role>",` */
  private jobPart(jobId: string, role: string | null): Buffer {
    let byJob = this.jobParts.get(role);
    let part = byJob?.get(jobId);
    if (part !== undefined) return part;
    if (this.jobPartCount >= MAX_CACHED) {
      this.jobParts.clear();
      this.jobPartCount = 0;
      byJob = undefined;
    }
    if (byJob === undefined) {
      byJob = new Map();
      this.jobParts.set(role, byJob);
    }
    part = enc(`${jsonString(jobId)},"path_role":${role === null ? "null" : jsonString(role)},`);
    byJob.set(jobId, part);
    this.jobPartCount++;
    return part;
  }

  /** A buffer `take()` returned, no longer used by anyone: its memory serves a later batch. */
  recycle(out: Buffer): void {
    // Smaller ones are not ours (the empty buffer; a slice of a buffer Buffer.allocUnsafe shares).
    const whole = out.buffer as ArrayBuffer;
    if (whole.byteLength < REUSE_MIN_BYTES) return;
    if (whole.byteLength > KEEP_MAX_BYTES) {
      this.owned--;
      return;
    }
    if (this.pool.length >= POOL_MAX) {
      this.pool.shift();
      this.owned--;
    }
    this.pool.push(Buffer.from(whole));
  }

  /**
   * A buffer of at least `n` bytes: from the pool when one fits, else a new one of at least
   * REUSE_MIN_BYTES with an ArrayBuffer of its own (so that it can go round), uninitialised (a
   * zeroed one would touch every page at once) and a quarter larger than asked, so that later
   * batches of about the same size fit; for a small batch while POOL_MAX of those are out, one of
   * just `n` bytes (not kept).
   */
  private allocate(n: number): Buffer {
    for (let i = 0; i < this.pool.length; i++) {
      if (this.pool[i].length >= n) return this.pool.splice(i, 1)[0];
    }
    if (n < REUSE_MIN_BYTES && this.owned >= POOL_MAX) return Buffer.allocUnsafe(n);
    this.owned++;
    return Buffer.allocUnsafeSlow(Math.max(REUSE_MIN_BYTES, n + (n >> 2)));
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = Math.max(1024, this.buf.length * 2);
    while (size < this.len + n) size *= 2;
    const next = this.allocate(size);
    this.buf.copy(next, 0, 0, this.len);
    this.recycle(this.buf);
    this.buf = next;
  }
}
