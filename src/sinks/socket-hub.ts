// The subscriber socket (behavior.md A12 socket part, as amended by B9; counters for B12).
//
// A Unix stream listener; every connected subscriber receives every record written from the moment it
// connected, byte-identical to the output file. One-way: bytes a client sends are read and discarded.
//
// Bun sockets keep nothing: write() returns a short count (or 0) when the kernel buffer is full, so each
// subscriber owns a bounded queue of what the kernel did not take, flushed on `drain`. A flood arrives in
// reader batches of up to a MiB or two, so one batch can put even a fast reader briefly past the bound:
// a subscriber is dropped when its backlog stays over `queueBytes` for OVER_GRACE_MS, or would pass
// HARD_FACTOR × `queueBytes` at once. Dropping closes it (it reads what the kernel holds, then EOF),
// is logged and counted — it never slows the daemon or the other subscribers. Lines are queued whole; the only
// partial line a client can ever see is the last one before a drop, and even then we first try to
// complete it.
//
// The socket file (B9, Part C): an existing non-socket at the path is an error and is never touched; a
// socket some live process answers on is an error; a stale socket is replaced. Bun's listener.stop()
// unlinks its bound path whatever sits there by then, so we bind at a private temporary name in the same
// directory, chmod it, and hard-link it into place (link() never replaces anything); stop() then unlinks
// only the already-removed temporary name, and close() unlinks the real path only while it is still our
// inode. The socket file survives process.exit(): the daemon must call close().

import fs from "node:fs";
import type { Socket, UnixSocketListener } from "bun";
import type { LineSink } from "./line-sink.ts";
import { setSendBuffer, SUN_PATH_MAX } from "../../ffi/socket.ts";
import { errReason } from "../errors.ts";
import { bindError, clearPath, publishSocket, tempNameFor } from "./socket-file.ts";
import { DEFAULT_SOCKET_QUEUE_BYTES, MAX_SUBSCRIBERS } from "../limits.ts";

export type SocketHubLogFn = (level: "info" | "warn" | "debug", msg: string) => void;

export interface SocketHubOptions {
  /** Per-subscriber queue bound in bytes; default 1 MiB (B9). */
  queueBytes?: number;
  /** Subscriber cap; default 64 (A12). */
  maxSubscribers?: number;
  log?: SocketHubLogFn;
}

export interface SocketHubCounters {
  /** Subscribers accepted (refused ones not included). */
  subscribersConnected: number;
  /** Subscribers dropped for falling behind. */
  subscribersDropped: number;
  /** Connections closed at once because the cap was reached. */
  subscribersRefused: number;
}


/** sun_path holds 108 bytes including the terminating NUL. */
const NL = 0x0a;
/** net.core.wmem_default on a stock kernel. */
const DEFAULT_UNIX_SNDBUF = 212992;
/** How long a subscriber may stay more than queueBytes behind before it is dropped. */
const OVER_GRACE_MS = 1000;
/** A backlog that would pass HARD_FACTOR × queueBytes is dropped at once. */
const HARD_FACTOR = 4;
/** How long a dropped subscriber is given to take the rest of its last line. */
const FINISH_TIMEOUT_MS = 10_000;

function noop(): void {}

/** Bun sockets carry their fd at run time, but the type declarations do not say so. */
function fdOf(sock: Socket<undefined>): number {
  const fd = (sock as unknown as { readonly fd?: unknown }).fd;
  return typeof fd === "number" ? fd : -1;
}

class Subscriber {
  /** Buffers (slices of shared per-write buffers) the kernel has not taken yet, in order. */
  queue: Buffer[] = [];
  queued = 0;
  /** The kernel holds the start of a line whose rest is at the head of the queue. */
  partial = false;
  /** performance.now() when the backlog first went over the bound; 0 while within it. */
  overSince = 0;
  /** While a dropped subscriber's last line is being completed. */
  finishTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  constructor(
    readonly sock: Socket<undefined>,
    readonly fd: number,
  ) {}
}

export class SocketHub implements LineSink {
  readonly counters: SocketHubCounters = { subscribersConnected: 0, subscribersDropped: 0, subscribersRefused: 0 };
  readonly path: string;
  readonly queueBytes: number;
  readonly maxSubscribers: number;

  private readonly subs = new Map<Socket<undefined>, Subscriber>();
  /** Dropped subscribers still being given the rest of their last line. */
  private readonly finishing = new Map<Socket<undefined>, Subscriber>();
  private readonly log: SocketHubLogFn;
  private listener: UnixSocketListener<undefined> | null = null;
  /** Identity of our socket file, to unlink it only while it is still ours. */
  private ino = -1;
  private dev = -1;
  private closed = false;
  /** Drops subscribers that stay behind while no new record arrives to notice it. */
  private readonly watchdog: ReturnType<typeof setInterval>;

  private constructor(p: string, opts: SocketHubOptions) {
    this.path = p;
    this.queueBytes = Math.max(1, opts.queueBytes ?? DEFAULT_SOCKET_QUEUE_BYTES);
    this.maxSubscribers = Math.max(0, opts.maxSubscribers ?? MAX_SUBSCRIBERS);
    this.log = opts.log ?? noop;
    this.watchdog = setInterval(() => this.dropStalled(), OVER_GRACE_MS / 4);
    this.watchdog.unref();
  }

  private dropStalled(): void {
    const now = performance.now();
    for (const sub of [...this.subs.values()]) {
      if (sub.queued > 0) this.flush(sub);
      if (sub.overSince !== 0 && now - sub.overSince > OVER_GRACE_MS) this.drop(sub, sub.queued);
    }
  }

  /** Bind the subscriber socket at `p` (B9). Errors are one-line messages naming the path. */
  static async listen(p: string, opts: SocketHubOptions = {}): Promise<SocketHub> {
    if (p === "") throw bindError(p, "invalid argument (EINVAL)");
    if (Buffer.byteLength(p) > SUN_PATH_MAX) throw bindError(p, "file name too long (ENAMETOOLONG)");
    const hub = new SocketHub(p, opts);
    await clearPath(p);

    const tmp = tempNameFor(p);
    const bindPath = tmp ?? p;
    try {
      hub.listener = Bun.listen({
        unix: bindPath,
        // allowHalfOpen stays false: a client that shuts down its side is gone at once, so dead
        // clients never hold a slot under the cap (the reference only noticed them at the next send).
        socket: {
          open: (sock) => hub.onOpen(sock),
          data: noop, // one-way protocol: read and discard
          drain: (sock) => hub.onDrain(sock),
          close: (sock) => hub.onClose(sock),
          error: (sock) => hub.onClose(sock),
        },
      });
    } catch (e) {
      throw bindError(p, errReason(e));
    }
    try {
      const st = await publishSocket(bindPath, tmp, p);
      hub.ino = st.ino;
      hub.dev = st.dev;
    } catch (e) {
      hub.listener.stop(true);
      hub.listener = null;
      throw e;
    }
    return hub;
  }

  get subscriberCount(): number {
    return this.subs.size;
  }

  /** Bytes queued for all subscribers (metrics). */
  get queuedBytes(): number {
    let n = 0;
    for (const sub of this.subs.values()) n += sub.queued;
    return n;
  }

  /** Fan `chunk` (whole lines: bytes, or a byte string) out to every subscriber. Not modified later. */
  write(chunk: string | Buffer, _records: number, done?: () => void): void {
    if (this.subs.size > 0 && chunk.length > 0) {
      const buf = typeof chunk === "string" ? Buffer.from(chunk, "latin1") : chunk;
      // With `done` the bytes are lent: what a subscriber cannot take now is queued as a copy.
      const lent = done !== undefined;
      for (const sub of this.subs.values()) this.send(sub, buf, lent);
    }
    done?.();
  }

  /** Close every subscriber (they read EOF) and remove the socket file if it is still ours. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.watchdog);
    for (const sub of [...this.subs.values()]) this.end(sub);
    this.subs.clear();
    for (const sub of [...this.finishing.values()]) this.finish(sub);
    this.listener?.stop(true);
    this.listener = null;
    try {
      const st = fs.lstatSync(this.path);
      if (st.ino === this.ino && st.dev === this.dev) fs.unlinkSync(this.path);
    } catch {
      // gone already, or not ours to remove
    }
  }

  private onOpen(sock: Socket<undefined>): void {
    const fd = fdOf(sock);
    if (this.closed || this.subs.size >= this.maxSubscribers) {
      this.counters.subscribersRefused++;
      if (!this.closed) this.log("warn", `refusing subscriber: cap ${this.maxSubscribers} reached`);
      sock.end();
      return;
    }
    // A Unix socket holds ~200 KiB by default, less than one reader batch in a flood: let the kernel
    // hold up to the queue bound too, so that a subscriber that keeps up is fed from the kernel's
    // buffer while our event loop is busy (socket(7) SO_SNDBUFFORCE; root only, SO_SNDBUF's cap
    // otherwise). A subscriber can thus be up to twice the bound behind before it is dropped.
    if (fd >= 0 && this.queueBytes > DEFAULT_UNIX_SNDBUF) setSendBuffer(fd, this.queueBytes);
    this.subs.set(sock, new Subscriber(sock, fd));
    this.counters.subscribersConnected++;
    this.log("debug", `subscriber connected fd=${fd} (${this.subs.size} total)`);
  }

  private onClose(sock: Socket<undefined>): void {
    const dropped = this.finishing.get(sock);
    if (dropped !== undefined) {
      this.finishing.delete(sock);
      clearTimeout(dropped.finishTimer);
    }
    const sub = this.subs.get(sock);
    if (sub === undefined) return;
    this.subs.delete(sock);
    this.log("debug", `subscriber disconnected fd=${sub.fd} (${this.subs.size} total)`);
  }

  private onDrain(sock: Socket<undefined>): void {
    const sub = this.subs.get(sock);
    if (sub !== undefined) {
      this.flush(sub);
      return;
    }
    const done = this.finishing.get(sock);
    if (done !== undefined) {
      this.flush(done);
      if (done.queued === 0) this.finish(done);
    }
  }

  private send(sub: Subscriber, buf: Buffer, lent: boolean): void {
    // The event loop may not have delivered `drain` while batches kept coming: offer the backlog
    // to the kernel first, so a reader that kept up is judged on what it really left unread.
    if (sub.queued > 0) this.flush(sub);
    if (sub.queued > 0) {
      // Still behind: drop before queuing anything partial, or queue the whole buffer.
      const total = sub.queued + buf.length;
      const now = performance.now();
      if (total > HARD_FACTOR * this.queueBytes || (sub.overSince !== 0 && now - sub.overSince > OVER_GRACE_MS)) {
        this.drop(sub, total);
        return;
      }
      sub.queue.push(lent ? Buffer.from(buf) : buf);
      sub.queued = total;
      if (total > this.queueBytes && sub.overSince === 0) sub.overSince = now;
      return;
    }
    const n = sub.sock.write(buf);
    if (n === buf.length) return;
    if (n < 0) {
      this.onClose(sub.sock); // closed under us
      return;
    }
    const rest = buf.length - n;
    if (n > 0) sub.partial = buf[n - 1] !== NL;
    const left = n === 0 ? buf : buf.subarray(n);
    sub.queue.push(lent ? Buffer.from(left) : left);
    sub.queued = rest;
    if (rest > this.queueBytes) sub.overSince = performance.now();
  }

  /** Hand queued buffers to the kernel until it takes less than offered (then wait for `drain`). */
  private flush(sub: Subscriber): void {
    while (sub.queue.length > 0) {
      const buf = sub.queue[0];
      const n = sub.sock.write(buf);
      if (n < 0) {
        this.onClose(sub.sock);
        return;
      }
      if (n === buf.length) {
        sub.queue.shift();
        sub.queued -= n;
        sub.partial = false; // every queued buffer ends with a whole line
        continue;
      }
      if (n > 0) {
        sub.queue[0] = buf.subarray(n);
        sub.queued -= n;
        sub.partial = buf[n - 1] !== NL;
      }
      if (sub.queued <= this.queueBytes) sub.overSince = 0;
      return;
    }
    sub.overSince = 0;
  }

  private drop(sub: Subscriber, bytes: number): void {
    this.counters.subscribersDropped++;
    this.log("warn", `dropping slow subscriber fd=${sub.fd} (queue full: ${bytes} bytes)`);
    this.subs.delete(sub.sock);
    const head = sub.partial ? sub.queue[0] : undefined;
    const nl = head === undefined ? -1 : head.indexOf(NL);
    if (head === undefined || nl < 0) {
      this.end(sub);
      return;
    }
    // The kernel holds the start of a line: keep the socket open until the rest of that line is
    // written (or FINISH_TIMEOUT_MS pass), so that the client's last line is whole (B9).
    sub.queue = [head.subarray(0, nl + 1)];
    sub.queued = nl + 1;
    this.finishing.set(sub.sock, sub);
    sub.finishTimer = setTimeout(() => this.finish(sub), FINISH_TIMEOUT_MS);
    this.flush(sub);
    if (sub.queued === 0) this.finish(sub);
  }

  private finish(sub: Subscriber): void {
    if (!this.finishing.delete(sub.sock)) return;
    clearTimeout(sub.finishTimer);
    this.end(sub);
  }

  private end(sub: Subscriber): void {
    sub.queue = [];
    sub.queued = 0;
    sub.sock.end();
  }
}
