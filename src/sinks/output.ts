// The JSONL output: a file (append mode, created 0640, reopened on SIGHUP/SIGUSR1) or stdout
// (behavior.md A12 file part, B10).
//
// The caller hands over already-encoded lines (bytes, or a byte string: one JS char per byte) and is
// never blocked:
// lines go to an in-memory queue, bounded by `maxQueueBytes`, that is flushed with as few write()
// calls as possible — everything queued goes out in one write. Records that do not fit are dropped
// whole and counted. Lines are never split or duplicated: a partial write keeps its remainder at the
// head of the queue and the next write continues exactly there.
//
// How the fd is written depends on what it is:
//  - "nonblock": pipes, FIFOs, ttys, character devices. The fd is a private O_NONBLOCK file
//    description (a path is opened with O_NONBLOCK; for stdout, /proc/self/fd/1 is opened afresh so
//    the O_NONBLOCK flag does not leak to the shared fd 1). Writes are synchronous and return at
//    once; when the pipe is full, the rest of the current buffer is written through a blocking
//    description of the same pipe on Bun's I/O pool, which returns as soon as the reader has made
//    room (no retry timer: a consumer that keeps up is fed at its own pace).
//  - "async": regular files (O_NONBLOCK means nothing to them and a slow disk would stall the
//    caller), and a stdout that cannot get a private non-blocking description (a socket, e.g.
//    journald). One fs.write at a time runs on Bun's I/O thread pool; whatever is queued meanwhile
//    goes out in the next single write.

import fs from "node:fs";
import { O_CLOEXEC } from "../../ffi/constants.ts"; // Linux; Bun also adds it by itself
import { errCode, errReason } from "../errors.ts";
import { DEFAULT_OUTPUT_QUEUE_BYTES } from "../limits.ts";
import { UnsafePathError } from "../lifecycle/safe-path.ts";
import { countNewlines, openPath, openStdout, settleEnd, writeNewline, type Target, type WriteMode } from "./output-target.ts";

type Release = () => void;

export type OutputLogFn = (level: "warn" | "error", msg: string) => void;

export interface OutputWriterOptions {
  /** Bound on queued bytes; records beyond it are dropped and counted. Default 16 MiB (B10). */
  maxQueueBytes?: number;
  /** Log sink for write errors (once per error kind) and queue-full episodes. */
  log?: OutputLogFn;
  /** Retry delay after EAGAIN or a write error, in ms. Default 10. */
  retryMs?: number;
}

/** Errors after which the rest of a half-written line may still get through later. */
const TRANSIENT = new Set(["ENOSPC", "EDQUOT", "EIO", "EINTR", "EAGAIN", "EWOULDBLOCK"]);

function noop(): void {}

export class OutputWriter {
  /** The output path, or null for stdout. */
  readonly path: string | null;
  readonly maxQueueBytes: number;

  /** Records completely written. */
  writtenRecords = 0;
  /** Records dropped: queue full, write error, or still queued at close. */
  droppedRecords = 0;
  /** Failed write() calls (EAGAIN not counted). */
  writeErrors = 0;
  /** write() system calls issued (for tests and stats). */
  writeCalls = 0;

  private readonly log: OutputLogFn;
  private readonly retryMs: number;
  private target: Target;
  /** Set by reopen(); takes over at the next line boundary. */
  private nextTarget: Target | null = null;

  // Queue: chunks not yet joined into one buffer…
  private pending: Buffer[] = [];
  private pendingRecords: number[] = [];
  private pendingBytes = 0;
  /** Per pending chunk: its owner's release (LineSink.write's `done`), or null. */
  private pendingDone: (Release | null)[] = [];
  // …and the buffer being written: chunk end offsets and record counts, curIdx = first unfinished.
  private cur: Buffer | null = null;
  private curOff = 0;
  private curEnds: number[] = [];
  private curRecords: number[] = [];
  private curIdx = 0;
  /** Release of the chunk that is `cur` itself (not a copy), called when it is written or dropped. */
  private curDone: Release | null = null;

  private inFlight = false;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private closing = false;
  private closed = false;
  private droppingEpisode = 0;
  private readonly loggedErrors = new Set<string>();

  private constructor(path: string | null, target: Target, opts: OutputWriterOptions) {
    this.path = path;
    this.target = target;
    settleEnd(target);
    this.maxQueueBytes = Math.max(0, opts.maxQueueBytes ?? DEFAULT_OUTPUT_QUEUE_BYTES);
    this.log = opts.log ?? noop;
    this.retryMs = Math.max(1, opts.retryMs ?? 10);
  }

  /**
   * Opens the output: null, "" or "-" → stdout; otherwise the file at `path` (text, as in Config),
   * write-only, append, create 0640, close-on-exec, non-blocking. Throws
   * `failed to open output '<path>': <reason>`.
   */
  static open(path: string | null, opts: OutputWriterOptions = {}): OutputWriter {
    const p = path === null || path === "" || path === "-" ? null : path;
    let target: Target;
    try {
      target = p === null ? openStdout() : openPath(p);
    } catch (e) {
      if (e instanceof UnsafePathError) throw new Error(e.message.startsWith("refusing") ? e.message : `refusing output '${p}': ${e.message}`);
      throw new Error(`failed to open output '${p ?? "stdout"}': ${errReason(e)}`);
    }
    return new OutputWriter(p, target, opts);
  }

  /** Bytes waiting to be written. */
  get queuedBytes(): number {
    return this.pendingBytes + (this.cur === null ? 0 : this.cur.length - this.curOff);
  }

  /** How the current fd is written ("nonblock" or "async"); for tests and logs. */
  get mode(): WriteMode {
    return this.target.mode;
  }

  /**
   * Queues `chunk` — `records` whole lines, each ending "\n", as bytes (kept, not copied: the caller
   * must not modify them) or as a byte string — and starts a write if none is under way. Never blocks
   * and never throws. What does not fit in the queue is dropped at line boundaries and counted.
   * `done` (LineSink) is called once the bytes are no longer needed: written, copied or dropped.
   */
  write(text: string | Buffer, records: number, done?: () => void): void {
    if (text.length === 0) {
      done?.();
      return;
    }
    let chunk = typeof text === "string" ? Buffer.from(text, "latin1") : text;
    if (this.closing) {
      this.droppedRecords += records;
      done?.();
      return;
    }
    const room = this.maxQueueBytes - this.queuedBytes;
    if (chunk.length > room) {
      const cut = room > 0 ? chunk.lastIndexOf(0x0a, room - 1) + 1 : 0;
      const kept = cut > 0 ? Math.min(records, countNewlines(chunk, cut)) : 0;
      this.noteDropped(records - kept);
      if (cut === 0) {
        done?.();
        return;
      }
      chunk = chunk.subarray(0, cut);
      records = kept;
    }
    this.pending.push(chunk);
    this.pendingRecords.push(records);
    this.pendingDone.push(done ?? null);
    this.pendingBytes += chunk.length;
    if (this.timer === null && !this.inFlight) this.pump();
  }

  /**
   * Reopens the same path (logrotate: SIGHUP/SIGUSR1), keeping the queue. The new file takes over at
   * the next line boundary. On failure logs an error, keeps the old file and returns false.
   * A no-op for stdout.
   */
  reopen(): boolean {
    if (this.path === null || this.closing) return true;
    let t: Target;
    try {
      t = openPath(this.path);
    } catch (e) {
      this.log("error", `failed to reopen output '${this.path}': ${errReason(e)}; still writing to the old file`);
      return false;
    }
    if (this.nextTarget !== null) this.closeTarget(this.nextTarget);
    this.nextTarget = t;
    if (!this.inFlight) this.switchAtBoundary();
    return true;
  }

  /**
   * Stops accepting records, flushes what it can within `timeoutMs`, then closes. Records still
   * queued are counted as dropped.
   */
  async close(timeoutMs: number): Promise<void> {
    if (this.closing) {
      while (!this.closed) await Bun.sleep(this.retryMs);
      return;
    }
    this.closing = true;
    await this.flush(timeoutMs);
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const left = this.queuedRecords();
    if (left > 0) {
      this.droppedRecords += left;
      this.log("warn", `output closed with ${left} records unwritten`);
    }
    this.pending = [];
    this.pendingRecords = [];
    this.pendingDone = [];
    this.pendingBytes = 0;
    // Not released: a write still in flight may be reading it.
    this.cur = null;
    this.curDone = null;
    this.closed = true;
    if (this.nextTarget !== null) this.closeTarget(this.nextTarget);
    this.nextTarget = null;
    // An fs.write still running owns the fd number until it returns: close it from the callback.
    if (!this.inFlight) this.closeTarget(this.target);
  }

  /** Records queued and not yet completely written (what a close now would give up). */
  get unwrittenRecords(): number {
    return this.queuedRecords();
  }

  /** Writes what it can within `timeoutMs` (keeps accepting records; does not close). */
  async flush(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + Math.max(0, timeoutMs);
    for (;;) {
      if (!this.inFlight) {
        if (this.timer !== null) {
          clearTimeout(this.timer);
          this.timer = null;
        }
        this.pump();
      }
      if (!this.inFlight && this.cur === null && this.pending.length === 0) break;
      const left = deadline - performance.now();
      if (left <= 0) break;
      await Bun.sleep(Math.min(this.retryMs, left));
    }
  }

  // ---- internals ----

  private queuedRecords(): number {
    let n = 0;
    for (const r of this.pendingRecords) n += r;
    if (this.cur !== null) {
      for (let i = this.curIdx; i < this.curRecords.length; i++) n += this.curRecords[i];
    }
    return n;
  }

  private noteDropped(n: number): void {
    if (n <= 0) return;
    this.droppedRecords += n;
    if (this.droppingEpisode === 0) {
      this.log(
        "warn",
        `output ${this.describe()} is not keeping up: queue full (${this.maxQueueBytes} bytes), dropping records`,
      );
    }
    this.droppingEpisode += n;
  }

  private describe(): string {
    return this.path === null ? "stdout" : `'${this.path}'`;
  }

  private closeTarget(t: Target): void {
    if (t.blockFd !== undefined && t.blockFd >= 0) {
      try {
        fs.closeSync(t.blockFd);
      } catch {
        // nothing useful to do
      }
      t.blockFd = -1;
    }
    if (!t.owned) return;
    try {
      fs.closeSync(t.fd);
    } catch {
      // nothing useful to do
    }
  }

  private atBoundary(): boolean {
    if (this.cur === null) return true;
    return this.curOff === (this.curIdx === 0 ? 0 : this.curEnds[this.curIdx - 1]);
  }

  private switchAtBoundary(): void {
    if (this.nextTarget === null || !this.atBoundary()) return;
    this.closeTarget(this.target);
    this.target = this.nextTarget;
    this.nextTarget = null;
    settleEnd(this.target);
  }

  /** Turns every pending chunk into one buffer. */
  private materialize(): void {
    const n = this.pending.length;
    const joined = n === 1 ? this.pending[0] : Buffer.concat(this.pending);
    // A single chunk is written in place and released when done; joined chunks are copies already.
    this.curDone = n === 1 ? this.pendingDone[0] : null;
    if (n > 1) for (const d of this.pendingDone) d?.();
    this.pendingDone = [];
    const ends = new Array<number>(n);
    let end = 0;
    for (let i = 0; i < n; i++) {
      end += this.pending[i].length;
      ends[i] = end;
    }
    this.cur = joined;
    this.curOff = 0;
    this.curEnds = ends;
    this.curRecords = this.pendingRecords;
    this.curIdx = 0;
    this.pending = [];
    this.pendingRecords = [];
    this.pendingBytes = 0;
  }

  private advance(n: number): void {
    const cur = this.cur;
    if (cur === null) return;
    this.curOff += n;
    while (this.curIdx < this.curEnds.length && this.curEnds[this.curIdx] <= this.curOff) {
      this.writtenRecords += this.curRecords[this.curIdx];
      this.curIdx++;
    }
    if (this.curOff >= cur.length) this.releaseCurrent();
  }

  /** The current buffer is done with (written, or dropped when no write is in flight). */
  private releaseCurrent(): void {
    this.cur = null;
    const done = this.curDone;
    this.curDone = null;
    done?.();
  }

  /** Drops the unwritten rest of the current buffer (after a write error). */
  private dropCurrent(): void {
    let n = 0;
    for (let i = this.curIdx; i < this.curRecords.length; i++) n += this.curRecords[i];
    this.droppedRecords += n;
    this.releaseCurrent();
  }

  private scheduleRetry(): void {
    if (this.timer !== null || this.closed) return;
    const t = setTimeout(() => {
      this.timer = null;
      if (!this.inFlight) this.pump();
    }, this.retryMs);
    t.unref();
    this.timer = t;
  }

  private queueEmpty(): void {
    if (this.droppingEpisode > 0) {
      this.log("warn", `output ${this.describe()} caught up; ${this.droppingEpisode} records were dropped`);
      this.droppingEpisode = 0;
    }
  }

  /**
   * The pipe is full: write the rest of the current buffer through the blocking description on
   * Bun's I/O pool. It returns as soon as the reader has drained the pipe far enough — no polling
   * timer between a reader's read and our next write.
   */
  private waitWritable(): void {
    const t = this.target;
    const cur = this.cur;
    if (cur === null) return;
    if (t.blockFd === undefined) {
      try {
        t.blockFd = fs.openSync(`/proc/self/fd/${t.fd}`, fs.constants.O_WRONLY | O_CLOEXEC);
      } catch {
        t.blockFd = -1; // cannot: fall back to the retry timer
      }
    }
    if (t.blockFd < 0) {
      this.scheduleRetry();
      return;
    }
    this.inFlight = true;
    this.writeCalls++;
    fs.write(t.blockFd, cur, this.curOff, cur.length - this.curOff, null, (err, n) => this.onAsyncDone(t, err, n));
  }

  /** Handles a failed write. Returns true if writing may go on at once. */
  private onWriteError(e: unknown): boolean {
    const code = errCode(e) ?? "EUNKNOWN";
    if (code === "EAGAIN" || code === "EWOULDBLOCK") {
      this.waitWritable();
      return false;
    }
    if (code === "EINTR") return true;
    this.writeErrors++;
    if (!this.loggedErrors.has(code)) {
      this.loggedErrors.add(code);
      this.log("error", `write to output ${this.describe()} failed: ${errReason(e)}; records are dropped`);
    }
    // A half-written line is finished later if the error may pass; otherwise the rest is lost. With
    // a reopen pending (logrotate moved the full file away) the old file may never get room again:
    // its cut line is given up so the new file takes over (it stays the old file's last line).
    if (this.atBoundary() || !TRANSIENT.has(code) || this.nextTarget !== null) this.dropCurrent();
    this.scheduleRetry();
    return false;
  }

  /** Writes as much as possible now (nonblock) or starts the next write (async). */
  private pump(): void {
    if (this.closed) return;
    for (;;) {
      this.switchAtBoundary();
      if (this.cur === null) {
        if (this.pending.length === 0) {
          this.queueEmpty();
          return;
        }
        this.materialize();
        this.switchAtBoundary();
      }
      const cur = this.cur;
      if (cur === null) return;
      const len = cur.length - this.curOff;
      const t = this.target;
      if (t.lead === true) {
        if (!writeNewline(t.fd)) {
          this.scheduleRetry();
          return;
        }
        t.lead = false;
      }
      if (t.mode === "async") {
        this.inFlight = true;
        this.writeCalls++;
        fs.write(t.fd, cur, this.curOff, len, null, (err, n) => this.onAsyncDone(t, err, n));
        return;
      }
      let n: number;
      try {
        this.writeCalls++;
        n = fs.writeSync(t.fd, cur, this.curOff, len);
      } catch (e) {
        if (this.onWriteError(e)) continue;
        return;
      }
      this.advance(n);
      if (n < len) {
        // The pipe is full: the next write would only say EAGAIN.
        this.waitWritable();
        return;
      }
    }
  }

  private onAsyncDone(t: Target, err: NodeJS.ErrnoException | null, n: number): void {
    this.inFlight = false;
    if (this.closed) {
      // close() ran while this write was in flight: the fd is ours to close now.
      if (t === this.target) this.closeTarget(t);
      return;
    }
    if (err !== null) {
      if (!this.onWriteError(err)) return;
    } else {
      this.advance(n);
    }
    if (this.timer === null) this.pump();
  }
}
