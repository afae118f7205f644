// The reader Worker (design.md): owns the fanotify fds and every event fd, waits in poll() on the
// groups and a wake eventfd, reads batches, resolves paths and process names, answers permission
// events itself from its PermissionPolicy, and posts ONE message per batch to the main thread.
import * as K from "../../ffi/constants.ts";
import { errno, strerror, sysClose, sysCloseRange, sysGetpid, sysPoll, sysRead, sysWrite } from "../../ffi/libc.ts";
import { NO_PIDFD_INFO, RecordCursor, RecordKind, eventPidfd, isNameInfoType, pathInfoIndex, type ParsedEvent } from "../../ffi/records.ts";
import { PermissionPolicy, type PermissionRules } from "../policy/permission.ts";
import { processKey } from "../policy/process-key.ts";
import { BatchTimer } from "./batch-timer.ts";
import { contentMark, flushMarks, initGroup, markFailure, type GroupKind } from "./groups.ts";
import { NotifyMarks } from "./notify-marks.ts";
import { io } from "./off-thread.ts";
import { getNofileLimit } from "../../ffi/process.ts";
import { FdBudget } from "./fd-budget.ts";
import { drainFor } from "./stop-drain.ts";
import { ProcInfoCache } from "./proc-info.ts";
import { ProcessDetails } from "./process-details.ts";
import {
  COUNTER_NAMES,
  CTRL_BEAT,
  CTRL_INFLIGHT,
  CTRL_MESSAGES,
  CTRL_STALL,
  CTRL_STOP,
  F_DENIED,
  F_IS_DIR,
  F_PERM,
  MAX_INFLIGHT,
  sharedMonoNow,
  type ControlMessage,
  type MarksMessage,
  type ReaderCounters,
  type ReaderMark,
  type ReaderMode,
  type StartMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { BatchBuilder } from "./batch-builder.ts";
import { toByteString } from "../bytes.ts";
import { PERM_ANSWER_BOUNDS_S, SharedHistogram } from "../metrics/histogram.ts";
import { PathResolver, UNKNOWN_PATH, UNRESOLVED } from "./resolve.ts";
import { statSync } from "node:fs";
import { fsidKey } from "../../ffi/records.ts";

const UNRESOLVED_BYTES = Buffer.from(UNRESOLVED, "latin1");
const UNKNOWN_PATH_BYTES = Buffer.from(UNKNOWN_PATH, "latin1");

declare const self: Worker;

/** Post a batch once it holds this many events, or once its first event is MAX_BATCH_AGE_MS old. */
const BATCH_EVENTS = 4096;
const MAX_BATCH_AGE_MS = 2;
/**
 * Coalesce notification reads only when the previous batch held at least this many events: under
 * load that saves a wake-up per event; at a trickle, events are read at once, so comm/exe are read
 * while short-lived processes still exist (B14).
 */
const COALESCE_MIN_EVENTS = 32;
/** Room kept for permission events while the main thread is behind (they are answered regardless). */
const BACKLOG_EVENTS = 65536;
const DIR_CACHE_MAX_AGE_MS = 1000;
// A directory that moved or vanished makes cached directory paths stale (A5: paths reflect the
// state when the record is processed).
const DIR_CHANGE = K.FAN_MOVED_FROM | K.FAN_MOVED_TO | K.FAN_RENAME | K.FAN_MOVE_SELF | K.FAN_DELETE | K.FAN_DELETE_SELF;
/** Directory-entry events that add or take away a directory of an inode-marked tree (tree-marks.ts). */
const DIR_APPEARS = K.FAN_CREATE | K.FAN_MOVED_TO;
const DIR_GOES = K.FAN_DELETE | K.FAN_MOVED_FROM;

function post(msg: WorkerMessage, transfer?: ArrayBuffer[]): void {
  if (transfer) self.postMessage(msg, transfer);
  else self.postMessage(msg);
}

interface Group {
  readonly kind: GroupKind;
  readonly mode: ReaderMode;
  readonly fd: number;
  readonly buf: Buffer;
  /** Each group walks its own buffer, so the content group can be served in the middle of another's. */
  readonly cursor: RecordCursor;
}

/** fds waiting to be closed after the current read (see Reader.fdsToClose). */
const CLOSE_LATER_MAX = 16384;

/** While a notification batch is processed, look for permission events every this many records. */
const CONTENT_CHECK_EVERY = 16;

class Reader {
  private readonly ownPid = sysGetpid();
  private readonly control: Int32Array;
  private readonly resolver = new PathResolver();
  private readonly procs = new ProcInfoCache();
  /** --process-details: ppid, uid, cgroup, container (null when off). */
  private readonly details: ProcessDetails | null;
  /**
   * The pidfds and notification event fds of the records handled since the last read, closed together
   * after it: the kernel hands them out as consecutive numbers, so a few close_range() calls replace
   * one close() per fd. (Permission event fds are closed right after their answer, never here.)
   */
  private readonly fdsToClose = new Int32Array(CLOSE_LATER_MAX);
  private closeCount = 0;
  private content: Group | null = null;
  private readonly contentPoll = new Uint8Array(8);
  private readonly contentPollView = new DataView(this.contentPoll.buffer);
  // Up to four struct pollfd: content group, notification group, wake eventfd, batch timer.
  private readonly pollFds = new Uint8Array(32);
  private readonly pollView = new DataView(this.pollFds.buffer);
  private readonly wakeBuf = new Uint8Array(8);
  private readonly response = new Uint8Array(8);
  private readonly responseView = new DataView(this.response.buffer);
  private readonly groups: Group[] = [];
  private notify: NotifyMarks | null = null;
  /** The permission verdict (B3): compiled here only at start and on reload. */
  readonly policy: PermissionPolicy;
  // Room for the backlog plus one more full read (64 KiB of 24-byte records at most).
  private readonly batch = new BatchBuilder(BACKLOG_EVENTS + (64 * 1024) / K.FAN_EVENT_METADATA_LEN);
  /** FID paths are assembled here (directory path + "/" + name). */
  private readonly pathScratch = new Uint8Array(8192);
  private readonly timer = new BatchTimer(MAX_BATCH_AGE_MS);
  /** True while a due batch is topped up just before it is posted. */
  private collectingDue = false;
  private coalesce = false;
  private lastCacheClear = 0;
  readonly counters: ReaderCounters = {
    eventsRead: 0,
    ownEvents: 0,
    overflows: 0,
    unknownRecords: 0,
    readErrors: 0,
    permAllowed: 0,
    permDenied: 0,
    permUnreported: 0,
    responseErrors: 0,
    pathsUnresolved: 0,
    outOfScope: 0,
    treeMarkFailures: 0,
    fdLost: 0,
    permKernelDenied: 0,
    unreadAtExit: 0,
    attributionMissed: 0,
  };
  /** Sizes FD-mode reads by the fds left (issue 14 item 5). */
  private readonly fdBudget = new FdBudget(getNofileLimit()?.soft ?? Number.POSITIVE_INFINITY);

  private readonly sharedCounters: Float64Array;
  /** Permission answer time (metrics), or null; `readAt` is taken before each read(). */
  private readonly permHist: SharedHistogram | null;
  private readAt = 0;
  private batchReadAt = 0;

  constructor(private readonly start: StartMessage) {
    this.control = new Int32Array(start.control);
    this.sharedCounters = new Float64Array(start.counters);
    this.permHist = start.permHistogram === null ? null : new SharedHistogram(PERM_ANSWER_BOUNDS_S, start.permHistogram);
    this.policy = new PermissionPolicy(start.permission);
    this.details = start.details ? new ProcessDetails() : null;
    this.details?.nextBatch(performance.now());
  }

  async setUp(): Promise<string[]> {
    // Canary directories' filesystems resolve handles too; opened before any mark, so not an event.
    if (this.start.mode === "fid") for (const d of this.start.extraDirs) await this.resolver.registerDir(toByteString(d));
    const notes: string[] = [];
    try {
      // The notification group first: placing it may list directories (inode-marked trees), and
      // once the content group is marked every open there waits for this thread.
      const notify = this.addGroup("notify", this.start.mode, notes);
      this.notify = new NotifyMarks(notify.fd, this.start.mode, this.resolver, this.emitCreate, (level, message) =>
        post({ type: "log", level, message }),
      );
      for (const m of this.start.marks) notes.push(...(await this.notify.add(m)));
      if (this.start.perm) {
        const content = this.addGroup("content", "fd", notes);
        for (const m of this.start.marks) {
          const code = contentMark(content.fd, m, isDirectory(m.path));
          if (code !== 0) throw markFailure(m, code, "fd");
        }
      }
    } catch (err) {
      for (const g of this.groups) sysClose(g.fd);
      this.resolver.close();
      this.timer.close();
      throw err;
    }
    return notes;
  }

  private addGroup(kind: GroupKind, mode: ReaderMode, notes: string[]): Group {
    const fd = initGroup(kind, mode, this.start.details, notes);
    // FD-mode reads create one fd per record, so keep them modest (~2.7k fds per read).
    const group: Group = {
      kind,
      mode,
      fd,
      buf: Buffer.alloc(mode === "fd" ? 64 * 1024 : 256 * 1024),
      // Names are copied as bytes (nameOffset/nameLen), never decoded to strings.
      cursor: new RecordCursor(false),
    };
    this.groups.push(group);
    if (kind === "content") {
      this.content = group;
      this.contentPollView.setInt32(0, group.fd, true);
      this.contentPollView.setInt16(4, K.POLLIN, true);
    }
    return group;
  }

  /** A rescan of a new directory found an entry: reported as a CREATE of the directory's creator. */
  private readonly emitCreate = (path: string, name: string, isDir: boolean, pid: number): void => {
    if (!this.beginEvent(K.FAN_CREATE | (isDir ? K.FAN_ONDIR : 0), 0, pid, isDir ? F_IS_DIR : 0, NO_PIDFD_INFO)) return;
    const p = Buffer.from(path, "latin1");
    const n = Buffer.from(name, "latin1");
    this.batch.path(p, 0, p.length);
    this.batch.name(n, 0, n.length);
    this.batch.end(isDir);
  };

  messageHandled(): void {
    Atomics.sub(this.control, CTRL_MESSAGES, 1);
  }

  /** SIGHUP reload: add the new marks on every group (all or nothing), then drop the old ones. */
  async changeMarks(msg: MarksMessage): Promise<void> {
    const notify = this.notify as NotifyMarks;
    const content = this.content;
    const notes: string[] = [];
    const placed: ReaderMark[] = [];
    const contentPlaced: ReaderMark[] = [];
    try {
      for (const mark of msg.add) {
        notes.push(...(await notify.add(mark)));
        placed.push(mark);
        if (content !== null) {
          const code = contentMark(content.fd, mark, isDirectory(mark.path));
          if (code !== 0) throw markFailure(mark, code, "fd");
          contentPlaced.push(mark);
        }
      }
    } catch (err) {
      for (const mark of placed) notify.remove(mark);
      if (content !== null) for (const mark of contentPlaced) contentMark(content.fd, mark, isDirectory(mark.path), true);
      post({ type: "marks-done", id: msg.id, error: err instanceof Error ? err.message : String(err), notes: [] });
      return;
    }
    for (const mark of msg.remove) {
      const problem = notify.remove(mark);
      if (problem !== null) notes.push(problem);
      if (content !== null) {
        const code = contentMark(content.fd, mark, isDirectory(mark.path), true);
        if (code !== 0 && code !== K.ENOENT) notes.push(`cannot remove ${mark.type} permission mark on '${mark.path}': ${strerror(code)}`);
      }
      notes.push(`stopped watching ${mark.path}`);
    }
    post({ type: "marks-done", id: msg.id, error: null, notes });
  }

  private stopRequested(): boolean {
    return Atomics.load(this.control, CTRL_STOP) !== 0;
  }

  private behind(): boolean {
    return Atomics.load(this.control, CTRL_INFLIGHT) >= MAX_INFLIGHT;
  }

  async run(): Promise<void> {
    const pv = this.pollView;
    while (!this.stopRequested()) {
      this.control[CTRL_BEAT]++;
      // Test hook (health checks): block like a stuck thread until released or stopped.
      while (this.control[CTRL_STALL] !== 0 && !this.stopRequested()) Atomics.wait(this.control, CTRL_STALL, 1, 1000);
      // Flow control: while the main thread has MAX_INFLIGHT batches unprocessed, the notification
      // group is not read, so a backlog becomes a counted kernel overflow instead of unbounded
      // memory. The content group is always read: permission events are answered whatever happens.
      const behind = this.behind();
      // Coalescing under load: the notification group is read only when the batch timer fires
      // (armed by a batch's first event, or right after a post while the stream goes on), so a
      // stream of events costs one wake-up per batch, not one per event (the kernel keeps them
      // meanwhile). Permission events are never held back.
      const skipNotify = behind || (this.coalesce && this.timer.pending);
      let n = 0;
      for (const g of this.groups) {
        if (skipNotify && g.kind === "notify") continue;
        setPollFd(pv, n++, g.fd);
      }
      const wakeSlot = n;
      setPollFd(pv, wakeSlot, this.start.wakeFd);
      setPollFd(pv, wakeSlot + 1, this.timer.fd);
      // While behind, nothing can be posted: the acknowledgement that ends it wakes us; 50 ms is a fallback.
      // While opens and directory listings run on I/O threads (off-thread.ts), wake every
      // millisecond so their results are taken in.
      const scanning = io.pending > 0;
      const r = sysPoll(this.pollFds, n + 2, scanning ? 1 : behind ? 50 : -1);
      if (r < 0) {
        const e = errno();
        if (e === K.EINTR) continue;
        post({ type: "fatal", message: `poll failed: ${strerror(e)}`, exitCode: 1 });
        break;
      }
      if (pv.getInt16(wakeSlot * 8 + 6, true) !== 0) {
        sysRead(this.start.wakeFd, this.wakeBuf, 8);
        // Yield to the event loop only when a control message is waiting: the yield is a
        // macrotask turn during which nothing is answered.
        for (let turns = 0; turns < 8 && Atomics.load(this.control, CTRL_MESSAGES) > 0; turns++) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
      const timerFired = pv.getInt16((wakeSlot + 1) * 8 + 6, true) !== 0;
      if (timerFired) this.timer.fired();
      if (this.batch.count === 0) this.beginBatch();
      for (let i = 0, gi = 0; i < n; gi++) {
        const g = this.groups[gi];
        if (skipNotify && g.kind === "notify") continue;
        const revents = pv.getInt16(i * 8 + 6, true);
        i++;
        if (revents & (K.POLLERR | K.POLLNVAL)) {
          post({ type: "fatal", message: `fanotify ${g.kind} group reported an error`, exitCode: 1 });
          return this.finish();
        }
        if (revents & K.POLLIN) this.drain(g);
      }
      // A batch is due once the timer has fired (a batch's first event arms it if nothing else
      // did). It stays due while the main thread is behind; an acknowledgement wakes us then.
      if ((timerFired || this.batch.count > 0) && !this.timer.pending && !this.behind()) {
        // Collect what the notification group gathered meanwhile, then post (no timer for this
        // batch: it goes out now).
        this.collectingDue = true;
        for (const g of this.groups) if (g.kind === "notify") this.drain(g);
        this.collectingDue = false;
        if (this.batch.count > 0) this.flush();
      } else if (this.batch.count >= BATCH_EVENTS) {
        this.flush();
      }
      if (scanning) await new Promise((resolve) => setImmediate(resolve));
    }
    this.finish();
  }

  private finish(): void {
    // Permission events first: no new ones (the marks go), the queued ones answered as usual.
    const c = this.content;
    if (c !== null) {
      flushMarks(c.fd);
      this.drainAtStop(c);
    }
    this.closeQueued();
    this.flush(true);
    // What the kernel still holds would vanish with the group: read it to count it (B12). With no
    // mark left on the filesystem, opens there no longer enter fsnotify at all, and closing the
    // groups does not wait behind them (a close under a flood took ~1 s otherwise).
    for (const g of this.groups) {
      if (g.kind !== "notify") continue;
      flushMarks(g.fd);
      this.discardRest(g);
    }
    this.publishCounters();
    // Closing the groups releases any pending permission events (fanotify(7)).
    for (const g of this.groups) sysClose(g.fd);
    this.resolver.close();
    this.timer.close();
    post({ type: "stopped", counters: this.counters });
  }

  private beginBatch(): void {
    const now = performance.now();
    if (now - this.lastCacheClear > DIR_CACHE_MAX_AGE_MS) {
      this.resolver.invalidateDirs();
      this.lastCacheClear = now;
    }
  }

  /** Reads one group until EAGAIN, a full batch, or a stop request. */
  private drain(g: Group): void {
    const isContent = g.kind === "content";
    while (!this.stopRequested()) {
      if (!isContent && this.batch.count >= BATCH_EVENTS) break;
      // A content group is drained even past the batch size: its records are answered first.
      this.readAt = sharedMonoNow();
      const n = sysRead(g.fd, g.buf, this.readBytes(g));
      if (n <= 0) {
        if (n < 0) {
          const e = errno();
          if (e === K.EAGAIN) break;
          if (e === K.EINTR) continue;
          if (e === K.EMFILE || e === K.ENFILE) {
            this.noFd(g, e);
            break;
          }
          this.counters.readErrors++;
          post({ type: "log", level: "warn", message: `read from fanotify ${g.kind} group failed: ${strerror(e)}` });
        }
        break;
      }
      const cursor = g.cursor;
      cursor.reset(g.buf, n);
      if (isContent || this.content === null) {
        while (cursor.next()) this.handle(g, cursor.event);
      } else {
        // A notification read can hold thousands of records: answer permission events that
        // arrive meanwhile every few records instead of after the whole read (B5).
        for (let k = 1; cursor.next(); k++) {
          this.handle(g, cursor.event);
          if (k % CONTENT_CHECK_EVERY === 0) this.serviceContent();
        }
      }
      if (this.closeCount > 0) this.closeQueued();
      if (cursor.stats.truncated) this.counters.unknownRecords++;
      if (isContent && this.batch.count >= BATCH_EVENTS && !this.behind()) this.flush();
    }
  }

  /** The kernel could not create the event's fd: it dropped the event (denied it, for a permission event). */
  private noFd(g: Group, e: number): void {
    this.counters.fdLost++;
    if (g.kind === "content") this.counters.permKernelDenied++;
    this.publishCounters();
    const what = g.kind === "content" ? "a permission event, which the kernel denied" : "an event, which the kernel dropped";
    post({
      type: "log",
      level: "warn",
      message: `out of file descriptors (${strerror(e)}): the kernel could not hand over ${what} (${this.counters.fdLost} so far; raise the fd limit)`,
    });
  }

  /** Bytes to read from `g` now: FD-mode reads are sized by the fds left (fd-budget.ts). */
  private readBytes(g: Group): number {
    return g.mode === "fd" ? this.fdBudget.readBytes(g.buf.length) : g.buf.length;
  }

  /** At stop, after its marks are gone: answers what is left in the content group. */
  private drainAtStop(g: Group): void {
    drainFor(g, 100, () => this.readBytes(g), (ev) => this.handle(g, ev), (e) => this.noFd(g, e));
  }

  /** At stop: reads what is left in a notification group, counting it (overflows included). */
  private discardRest(g: Group): void {
    const onEvent = (ev: ParsedEvent): void => {
      if (ev.fd >= 0) sysClose(ev.fd);
      const pidfd = this.details === null ? NO_PIDFD_INFO : eventPidfd(ev);
      if (pidfd >= 0) sysClose(pidfd);
      if (ev.kind === RecordKind.Event && ev.maskLo & K.FAN_Q_OVERFLOW) this.counters.overflows++;
      else if (ev.pid !== this.ownPid) this.counters.unreadAtExit++;
    };
    drainFor(g, 100, () => this.readBytes(g), onEvent, (e) => this.noFd(g, e));
  }

  /** Drains the content group if a permission event is waiting (non-blocking check). */
  private serviceContent(): void {
    const c = this.content;
    if (c === null) return;
    this.contentPollView.setInt16(6, 0, true);
    if (sysPoll(this.contentPoll, 1, 0) > 0 && this.contentPollView.getInt16(6, true) & K.POLLIN) this.drain(c);
  }

  private handle(g: Group, ev: ParsedEvent): void {
    this.counters.eventsRead++;
    if (ev.kind !== RecordKind.Event) {
      // Unknown layout: skipped by its length, but its fd is still answered and closed.
      this.counters.unknownRecords++;
      if (ev.fd >= 0) this.release(g, ev.fd, g.kind === "content" ? K.FAN_ALLOW : 0);
      return;
    }
    const lo = ev.maskLo;
    // FAN_REPORT_PIDFD (details only): every pidfd is closed exactly once, below.
    const pidfd = this.details === null ? NO_PIDFD_INFO : eventPidfd(ev);
    if (lo & K.FAN_Q_OVERFLOW) {
      if (pidfd >= 0) this.closeLater(pidfd);
      this.counters.overflows++;
      if (this.batch.full) return;
      if (this.batch.count === 0) {
        this.batchReadAt = this.readAt;
        if (!this.collectingDue) this.timer.arm();
      }
      this.batch.overflow(lo, ev.maskHi);
      return;
    }
    const perm = (lo & K.FAN_PERM_EVENTS) !== 0;
    if (ev.pid === this.ownPid) {
      // B4: the daemon never sees itself; its own permission events are allowed at once.
      this.counters.ownEvents++;
      if (ev.fd >= 0) this.release(g, ev.fd, perm ? K.FAN_ALLOW : 0);
      if (pidfd >= 0) this.closeLater(pidfd);
      return;
    }
    const flags = lo & K.FAN_ONDIR ? F_IS_DIR : 0;
    if (ev.fd >= 0) this.handleFdEvent(g, ev, flags, perm, pidfd);
    else this.handleFidEvent(g, ev, flags, pidfd);
    if (pidfd >= 0) this.closeLater(pidfd);
  }

  /** Queues an fd that is ours and done with for closing (exactly once) after the current read. */
  private closeLater(fd: number): void {
    if (this.closeCount === CLOSE_LATER_MAX) this.closeQueued();
    this.fdsToClose[this.closeCount++] = fd;
  }

  /** Closes the queued fds, each run of consecutive numbers with one close_range(). */
  private closeQueued(): void {
    const a = this.fdsToClose;
    const n = this.closeCount;
    this.closeCount = 0;
    for (let i = 0; i < n; ) {
      const first = a[i++];
      let last = first;
      while (i < n && a[i] === last + 1) {
        last++;
        i++;
      }
      // Every number in the run is one of our open fds, so the range closes nothing else.
      if (last === first || sysCloseRange(first, last) !== 0) for (let fd = first; fd <= last; fd++) sysClose(fd);
    }
  }

  /** Policy state key of a pid's current process (pid and start time), for burst denies. */
  private readonly keyOf = (pid: number): number => {
    this.procs.lookup(pid);
    return processKey(pid, this.procs.startTime);
  };

  /** FD mode and permission events: the path is the event fd's. */
  private handleFdEvent(g: Group, ev: ParsedEvent, flags: number, perm: boolean, pidfd: number): void {
    const fd = ev.fd;
    const lo = ev.maskLo;
    let pathLen: number;
    if (perm) {
      // B5: the kernel's answer comes first, before anything else is done with the event. Only
      // with deny-on-alert does the verdict need the path (canaries); otherwise answer at once.
      let deny = false;
      if (this.policy.denyOnAlert) {
        pathLen = this.resolver.fdPathLength(fd);
        const path = pathLen > 0 ? this.resolver.linkBuf.toString("latin1", 0, pathLen) : `<fd:${fd}>`;
        deny = this.policy.decide(lo, ev.pid, stripDeleted(path), sharedMonoNow(), this.keyOf) === "deny";
        this.respond(g, fd, deny ? K.FAN_DENY : K.FAN_ALLOW);
      } else {
        this.respond(g, fd, K.FAN_ALLOW);
        pathLen = this.resolver.fdPathLength(fd);
      }
      flags |= F_PERM | (deny ? F_DENIED : 0);
      if (deny) this.counters.permDenied++;
      else this.counters.permAllowed++;
    } else {
      pathLen = this.resolver.fdPathLength(fd);
    }
    // Closed exactly once, after the answer that names it (fanotify(7): a closed fd number is
    // reused by the next open, and an answer naming the wrong fd leaves the opener hanging);
    // notification fds with the read's other fds.
    if (perm) sysClose(fd);
    else this.closeLater(fd);
    if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
    if (pathLen > 0) {
      this.batch.path(this.resolver.linkBuf, 0, pathLen);
    } else {
      const placeholder = Buffer.from(`<fd:${fd}>`, "latin1");
      this.batch.path(placeholder, 0, placeholder.length);
    }
    this.batch.end((flags & F_IS_DIR) !== 0);
  }

  /** FID mode: the directory handle's cached path plus the reported name (A5). */
  private handleFidEvent(g: Group, ev: ParsedEvent, flags: number, pidfd: number): void {
    const lo = ev.maskLo;
    if (lo & K.FAN_ONDIR && lo & DIR_CHANGE) this.resolver.invalidateDirs();
    const isDir = (flags & F_IS_DIR) !== 0;
    const idx = pathInfoIndex(ev);
    if (idx < 0) {
      if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
      this.batch.path(UNKNOWN_PATH_BYTES, 0, UNKNOWN_PATH_BYTES.length);
      this.batch.end(isDir);
      return;
    }
    const info = ev.infos[idx];
    const dirHandle = info.type !== K.FAN_EVENT_INFO_TYPE_FID || (lo & K.FAN_ONDIR) !== 0;
    const base = this.resolver.handlePath(info.fsid0, info.fsid1, g.buf, info.handleOffset, info.handleLen, dirHandle);
    const hasName = isNameInfoType(info.type) && info.nameLen > 0;
    let src: Uint8Array;
    let len: number;
    if (base === null) {
      this.counters.pathsUnresolved++;
      src = UNRESOLVED_BYTES;
      len = src.length;
    } else if (!hasName) {
      src = base;
      len = base.length;
    } else {
      // base + "/" + name, in one piece for the raw-bytes bookkeeping.
      src = this.pathScratch;
      len = base.length;
      src.set(base, 0);
      if (len === 0 || base[len - 1] !== 0x2f) src[len++] = 0x2f;
      g.buf.copy(src, len, info.nameOffset, info.nameOffset + info.nameLen);
      len += info.nameLen;
    }
    const notify = this.notify as NotifyMarks;
    if (base !== null && notify.scope.active && !notify.scope.allows(fsidKey(info.fsid0, info.fsid1), src, len)) {
      this.counters.outOfScope++;
      return;
    }
    if (isDir && hasName && base !== null && lo & (DIR_APPEARS | DIR_GOES) && notify.trees.trees.length > 0) {
      this.treeChanged(lo, ev.pid, fsidKey(info.fsid0, info.fsid1), base, Buffer.from(src.subarray(0, len)).toString("latin1"));
    }
    if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
    this.batch.path(src, 0, len);
    if (hasName) this.batch.name(g.buf, info.nameOffset, info.nameOffset + info.nameLen);
    this.batch.end(isDir);
  }

  /** A directory appeared in or left an inode-marked tree: mark it (and rescan it) or forget it. */
  private treeChanged(lo: number, pid: number, fsid: string, parent: Uint8Array, path: string): void {
    const trees = (this.notify as NotifyMarks).trees;
    const tree = trees.treeOf(fsid, Buffer.from(parent).toString("latin1"));
    if (tree === null) return;
    if (lo & K.FAN_MOVED_FROM) trees.dirMovedFrom(tree, path);
    else if (lo & K.FAN_DELETE) trees.dirGone(tree, path);
    if (lo & K.FAN_MOVED_TO) trees.dirMovedTo(tree, path, pid);
    else if (lo & K.FAN_CREATE) trees.dirAppeared(tree, path, true, pid);
  }

  /** Opens the event's row with pid, comm and exe (and details); false when there is no room (counted). */
  private beginEvent(lo: number, hi: number, pid: number, flags: number, pidfd: number): boolean {
    const b = this.batch;
    if (b.full) {
      // Only reachable for permission events while the main thread is far behind.
      this.counters.permUnreported++;
      return false;
    }
    if (b.count === 0) {
      this.batchReadAt = this.readAt;
      if (!this.collectingDue) this.timer.arm();
    }
    this.procs.lookup(pid);
    b.begin(lo, hi, pid, flags);
    const comm = this.procs.comm;
    const exe = this.procs.exe;
    b.comm(comm, 0, comm.length);
    b.exe(exe, 0, exe.length);
    b.startTime(this.procs.startTime);
    const d = this.details;
    if (d !== null) {
      d.lookup(pid, this.procs, pidfd);
      b.details(d.fragment, d.containerOff, d.containerLen);
    }
    return true;
  }

  /** Writes the answer (FAN_ALLOW/FAN_DENY) for a permission event's fd. */
  private respond(g: Group, fd: number, response: number): void {
    // Pass the typed array itself on every call (design.md: never cache ptr()).
    this.responseView.setInt32(0, fd, true);
    this.responseView.setUint32(4, response, true);
    if (sysWrite(g.fd, this.response, 8) !== 8) {
      this.counters.responseErrors++;
      post({ type: "log", level: "warn", message: `fanotify response failed for fd ${fd}: ${strerror(errno())}` });
    }
    this.permHist?.observe((sharedMonoNow() - this.readAt) / 1000);
  }

  /** Answers (when `response` is not 0) and closes an event fd that is not reported. */
  private release(g: Group, fd: number, response: number): void {
    if (response !== 0) this.respond(g, fd, response);
    sysClose(fd);
  }

  private publishCounters(): void {
    if (this.notify !== null) this.counters.treeMarkFailures = this.notify.trees.failures;
    if (this.details !== null) this.counters.attributionMissed = this.details.missed;
    for (let i = 0; i < COUNTER_NAMES.length; i++) this.sharedCounters[i] = this.counters[COUNTER_NAMES[i]];
  }

  private flush(final = false): void {
    this.notify?.trees.settle();
    this.publishCounters();
    if (this.batch.count === 0) return;
    if (!final && this.behind()) return;
    const { count, ints, bytes } = this.batch.take();
    const msg: WorkerMessage = { type: "batch", count, ints, bytes, readAt: this.batchReadAt };
    Atomics.add(this.control, CTRL_INFLIGHT, 1);
    post(msg, [ints.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer]);
    this.coalesce = count >= COALESCE_MIN_EVENTS;
    // A stream: the next batch is collected when the timer fires, without a wake-up for its first
    // event. Otherwise the next batch's first event arms a fresh timer.
    this.timer.disarm();
    if (this.coalesce) this.timer.arm();
    // comm/exe are re-validated once per posted batch (B14; a pid cannot be reused within ~2 ms).
    this.procs.nextBatch();
    this.details?.nextBatch(performance.now());
  }
}

function setPollFd(pv: DataView, slot: number, fd: number): void {
  pv.setInt32(slot * 8, fd, true);
  pv.setInt16(slot * 8 + 4, K.POLLIN, true);
  pv.setInt16(slot * 8 + 6, 0, true);
}

/** readlink shows unlinked files as "<path> (deleted)"; policy matches the path itself. */
function stripDeleted(path: string): string {
  return path.endsWith(" (deleted)") ? path.slice(0, -10) : path;
}

let reader: Reader | null = null;

/** Reload: the main thread has compiled the same patterns already, so this only fails on a bug. */
function setPermissionRules(rules: PermissionRules): void {
  try {
    reader?.policy.setRules(rules);
  } catch (err) {
    post({ type: "log", level: "error", message: `keeping the previous permission rules: ${err instanceof Error ? err.message : String(err)}` });
  }
}

self.onmessage = (e: MessageEvent<ControlMessage>) => {
  const msg = e.data;
  if (msg.type !== "start") {
    if (msg.type === "permission-rules") setPermissionRules(msg.rules);
    else if (msg.type === "burst-deny") reader?.policy.addBurstDenies(msg.add, sharedMonoNow());
    else void reader?.changeMarks(msg);
    reader?.messageHandled();
    return;
  }
  if (reader !== null) return;
  let r: Reader;
  try {
    r = new Reader(msg);
  } catch (err) {
    post({ type: "fatal", message: err instanceof Error ? err.message : String(err), exitCode: 1 });
    return;
  }
  r.setUp().then(
    (notes) => {
      reader = r;
      post({ type: "ready", notes });
      r.run().catch((err: unknown) => {
        post({ type: "fatal", message: `reader failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, exitCode: 1 });
      });
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      post({ type: "fatal", message, exitCode: 1 });
    },
  );
};

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return true; // fanotify_mark reports the real reason
  }
}
