// The reader Worker (design.md): owns the fanotify fd and every event fd, waits in poll() on the
// group and a wake eventfd, reads batches, resolves paths and process names, and posts ONE message
// per batch to the main thread, with flow control.
import * as K from "../../ffi/constants.ts";
import { errno, strerror, sysClose, sysGetpid, sysPoll, sysRead, sysWrite } from "../../ffi/libc.ts";
import { RecordCursor, RecordKind, isNameInfoType, pathInfoIndex, type ParsedEvent } from "../../ffi/records.ts";
import { openGroup, SetupError } from "./groups.ts";
import { ProcInfoCache } from "./proc-info.ts";
import {
  CTRL_INFLIGHT,
  CTRL_STOP,
  F_IS_DIR,
  F_OVERFLOW,
  F_PERM,
  I_FLAGS,
  I_MASK_HI,
  I_MASK_LO,
  I_PID,
  INTS_PER_EVENT,
  MAX_INFLIGHT,
  type ReaderCounters,
  type StartMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { PathResolver, UNKNOWN_PATH, UNRESOLVED } from "./resolve.ts";

declare const self: Worker;

const BATCH_EVENTS = 8192;
const DIR_CACHE_MAX_AGE_MS = 1000;
// A directory that moved or vanished makes cached directory paths stale (A5: paths reflect the
// state when the record is processed).
const DIR_CHANGE = K.FAN_MOVED_FROM | K.FAN_MOVED_TO | K.FAN_RENAME | K.FAN_MOVE_SELF | K.FAN_DELETE | K.FAN_DELETE_SELF;

function post(msg: WorkerMessage, transfer?: ArrayBuffer[]): void {
  if (transfer) self.postMessage(msg, transfer);
  else self.postMessage(msg);
}

class Reader {
  private readonly ownPid = sysGetpid();
  private readonly control: Int32Array;
  private readonly resolver = new PathResolver();
  private readonly procs = new ProcInfoCache();
  private readonly cursor = new RecordCursor();
  private readonly readBuf: Uint8Array;
  private readonly pollFds = new Uint8Array(16);
  private readonly wakeBuf = new Uint8Array(8);
  private readonly response = new Uint8Array(8);
  private readonly responseView = new DataView(this.response.buffer);
  private groupFd = -1;
  private readonly ints: Int32Array;
  private strs: string[] = [];
  private count = 0;
  private lastCacheClear = 0;
  readonly counters: ReaderCounters = { eventsRead: 0, ownEvents: 0, overflows: 0, unknownRecords: 0, readErrors: 0 };

  constructor(private readonly start: StartMessage) {
    this.control = new Int32Array(start.control);
    // FD mode: every record read carries an open fd, so keep reads modest (~2.7k fds per read).
    this.readBuf = new Uint8Array(start.mode === "fd" ? 64 * 1024 : 256 * 1024);
    // Room for one more full read after the batch threshold.
    this.ints = new Int32Array((BATCH_EVENTS + this.readBuf.length / K.FAN_EVENT_METADATA_LEN) * INTS_PER_EVENT);
  }

  setUp(): string[] {
    // Open the handle-resolution directories before marking, so opening them is not an event.
    if (this.start.mode === "fid") {
      for (const m of this.start.marks) this.resolver.registerDir(m.path);
      for (const d of this.start.extraDirs) this.resolver.registerDir(d);
    }
    const group = openGroup(this.start.mode, this.start.marks);
    this.groupFd = group.fd;
    const dv = new DataView(this.pollFds.buffer);
    dv.setInt32(0, this.groupFd, true);
    dv.setInt16(4, K.POLLIN, true);
    dv.setInt32(8, this.start.wakeFd, true);
    dv.setInt16(12, K.POLLIN, true);
    return group.notes;
  }

  private stopRequested(): boolean {
    return Atomics.load(this.control, CTRL_STOP) !== 0;
  }

  async run(): Promise<void> {
    const pfd = new DataView(this.pollFds.buffer);
    while (!this.stopRequested()) {
      // Flow control: while the main thread has MAX_INFLIGHT batches unprocessed, stop reading so
      // a backlog becomes a counted kernel overflow instead of unbounded memory.
      const inflight = Atomics.load(this.control, CTRL_INFLIGHT);
      if (inflight >= MAX_INFLIGHT) {
        Atomics.wait(this.control, CTRL_INFLIGHT, inflight, 100);
        continue;
      }
      const n = sysPoll(this.pollFds, 2, -1);
      if (n < 0) {
        const e = errno();
        if (e === K.EINTR) continue;
        post({ type: "fatal", message: `poll failed: ${strerror(e)}`, exitCode: 1 });
        break;
      }
      if (pfd.getInt16(14, true) !== 0) {
        sysRead(this.start.wakeFd, this.wakeBuf, 8);
        // Let queued messages from the main thread be delivered.
        await new Promise((r) => setTimeout(r, 0));
        continue;
      }
      const revents = pfd.getInt16(6, true);
      if (revents & (K.POLLERR | K.POLLNVAL)) {
        post({ type: "fatal", message: "fanotify fd reported an error", exitCode: 1 });
        break;
      }
      if (revents & K.POLLIN) this.drain();
    }
    this.flush();
    sysClose(this.groupFd); // releases any pending permission events (fanotify(7))
    this.resolver.close();
    post({ type: "stopped", counters: this.counters });
  }

  /** Reads until EAGAIN, a full batch, or a stop request; posts what it read. */
  private drain(): void {
    this.procs.nextBatch();
    const now = performance.now();
    if (now - this.lastCacheClear > DIR_CACHE_MAX_AGE_MS) {
      this.resolver.invalidateDirs();
      this.lastCacheClear = now;
    }
    while (this.count < BATCH_EVENTS && !this.stopRequested()) {
      const n = sysRead(this.groupFd, this.readBuf, this.readBuf.length);
      if (n <= 0) {
        if (n < 0) {
          const e = errno();
          if (e === K.EAGAIN) break;
          if (e === K.EINTR) continue;
          this.counters.readErrors++;
          post({ type: "log", level: "warn", message: `read from fanotify failed: ${strerror(e)}` });
        }
        break;
      }
      this.cursor.reset(this.readBuf, n);
      while (this.cursor.next()) this.handle(this.cursor.event);
      if (this.cursor.stats.truncated) this.counters.unknownRecords++;
    }
    this.flush();
  }

  private handle(ev: ParsedEvent): void {
    this.counters.eventsRead++;
    if (ev.kind !== RecordKind.Event) {
      this.counters.unknownRecords++;
      if (ev.fd >= 0) this.release(ev.fd, true);
      return;
    }
    const lo = ev.maskLo;
    if (lo & K.FAN_Q_OVERFLOW) {
      this.counters.overflows++;
      this.push(lo, ev.maskHi, 0, F_OVERFLOW, "<overflow>", "", "", "");
      return;
    }
    const perm = (lo & K.FAN_PERM_EVENTS) !== 0;
    if (ev.pid === this.ownPid) {
      // B4: the daemon never sees itself; its own permission events are allowed at once.
      this.counters.ownEvents++;
      if (ev.fd >= 0) this.release(ev.fd, perm);
      return;
    }
    let path: string;
    let name = "";
    if (ev.fd >= 0) {
      path = this.resolver.fdPath(ev.fd);
      this.release(ev.fd, perm);
    } else {
      if (lo & K.FAN_ONDIR && lo & DIR_CHANGE) this.resolver.invalidateDirs();
      const idx = pathInfoIndex(ev);
      if (idx < 0) {
        path = UNKNOWN_PATH;
      } else {
        const info = ev.infos[idx];
        const dirHandle = info.type !== K.FAN_EVENT_INFO_TYPE_FID || (lo & K.FAN_ONDIR) !== 0;
        const fsid = `${info.fsid0 | 0}:${info.fsid1 | 0}`;
        const base = this.resolver.handlePath(fsid, this.readBuf, info.handleOffset, info.handleLen, dirHandle);
        if (isNameInfoType(info.type) && info.name !== "") {
          name = info.name;
          path = base === UNRESOLVED ? base : base.endsWith("/") ? base + name : `${base}/${name}`;
        } else {
          path = base;
        }
      }
    }
    this.procs.lookup(ev.pid);
    this.push(lo, ev.maskHi, ev.pid, (lo & K.FAN_ONDIR ? F_IS_DIR : 0) | (perm ? F_PERM : 0), path, name, this.procs.comm, this.procs.exe);
  }

  /**
   * Closes an event fd exactly once; a permission event is answered first (fanotify(7): the
   * response names the fd, so it must be written before the fd number can be reused).
   */
  private release(fd: number, answer: boolean): void {
    if (answer) {
      this.responseView.setInt32(0, fd, true);
      this.responseView.setUint32(4, K.FAN_ALLOW, true);
      sysWrite(this.groupFd, this.response, 8);
    }
    sysClose(fd);
  }

  private push(lo: number, hi: number, pid: number, flags: number, path: string, name: string, comm: string, exe: string): void {
    const i = this.count * INTS_PER_EVENT;
    const ints = this.ints;
    ints[i + I_MASK_LO] = lo;
    ints[i + I_MASK_HI] = hi;
    ints[i + I_PID] = pid;
    ints[i + I_FLAGS] = flags;
    this.strs.push(path, name, comm, exe);
    this.count++;
  }

  private flush(): void {
    if (this.count === 0) return;
    const ints = this.ints.subarray(0, this.count * INTS_PER_EVENT).slice();
    const msg: WorkerMessage = { type: "batch", count: this.count, ints, strs: this.strs.join("\0") };
    Atomics.add(this.control, CTRL_INFLIGHT, 1);
    post(msg, [ints.buffer]);
    this.count = 0;
    this.strs = [];
  }
}

self.onmessage = (e: MessageEvent<StartMessage>) => {
  if (e.data.type !== "start") return;
  const reader = new Reader(e.data);
  let notes: string[];
  try {
    notes = reader.setUp();
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    post({ type: "fatal", message, exitCode: err instanceof SetupError ? 1 : 1 });
    return;
  }
  post({ type: "ready", notes });
  reader.run().catch((err: unknown) => {
    post({ type: "fatal", message: `reader failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`, exitCode: 1 });
  });
};
