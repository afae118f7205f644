// The reader loop (design.md): waits in poll() on the groups, a wake eventfd and the batch timer, reads
// the groups (the content group first: permission events are answered before anything else), hands
// each record to the EventRecorder (record-events.ts) and posts ONE message per batch to the main thread.
import * as K from "../../ffi/constants.ts";
import { errno, strerror, sysClose, sysGetpid, sysPoll, sysRead } from "../../ffi/libc.ts";
import { NO_PIDFD_INFO, RecordCursor, RecordKind, eventPidfd, type ParsedEvent } from "../../ffi/records.ts";
import { PermissionPolicy } from "../policy/permission.ts";
import { BatchTimer } from "./batch-timer.ts";
import { CloseQueue } from "./close-queue.ts";
import { ContentFirst } from "./content-first.ts";
import { flushMarks, initGroup, markFailure, type Group, type GroupKind } from "./groups.ts";
import { changeMarks } from "./mark-changes.ts";
import { ContentMarks, contentGroupCount } from "./content-groups.ts";
import { NotifyMarks } from "./notify-marks.ts";
import { io } from "./off-thread.ts";
import { getNofileLimit } from "../../ffi/process.ts";
import { FdBudget } from "./fd-budget.ts";
import { drainFor } from "./stop-drain.ts";
import { ProcInfoCache } from "./proc-info.ts";
import { ProcessDetails } from "./process-details.ts";
import { PermAnswerer } from "./perm-answer.ts";
import { EventRecorder } from "./record-events.ts";
import {
  COUNTER_NAMES,
  CTRL_BEAT,
  CTRL_INFLIGHT,
  CTRL_MESSAGES,
  CTRL_STALL,
  CTRL_STOP,
  MAX_INFLIGHT,
  sharedMonoNow,
  type MarksMessage,
  type ReaderCounters,
  type ReaderMode,
  type StartMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { BatchBuilder } from "./batch-builder.ts";
import { BatchBuffers, BatchSlots } from "./batch-recycle.ts";
import { HandleOpener } from "./handle-opener.ts";
import { toByteString } from "../bytes.ts";
import { PathResolver } from "./resolve.ts";


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

function post(msg: WorkerMessage, transfer?: ArrayBuffer[]): void {
  if (transfer) self.postMessage(msg, transfer);
  else self.postMessage(msg);
}

/** While a notification batch is processed, look for permission events every this many records. */
const CONTENT_CHECK_EVERY = 16;
/**
 * Permission mode (issue 11): a notification read is bounded, because an FD-mode read() opens one fd
 * per record inside the kernel (~3 µs each) and cannot be interrupted. Eight FD records or 4 KiB of
 * FID records per read, with ContentFirst.answerFirst() between reads.
 */
const PERM_NOTIFY_READ_FD = 8 * K.FAN_EVENT_METADATA_LEN;
const PERM_NOTIFY_READ_FID = 4096;
/**
 * Permission event fds closed together (issue 11): on a CPU shared with the openers every syscall of
 * the reader lies on some open's path, and one close_range() for 32 fds replaced 31 close() calls —
 * pinned +p50 1.15 → 1.03× the C responder (README "Performance", ninth pass).
 */
const PERM_CLOSE_BATCH = 32;
/** Bytes of the longest record a notification read can hold (FD: metadata and a pidfd; FID: also handle and name). */
const RECORD_MAX_FD = 64;
const RECORD_MAX_FID = 512;

export class Reader {
  private readonly ownPid = sysGetpid();
  private readonly control: Int32Array;
  private readonly resolver = new PathResolver();
  private readonly procs = new ProcInfoCache();
  /** --process-details: ppid, uid, cgroup, container (null when off). */
  private readonly details: ProcessDetails | null;
  private readonly closeQueue = new CloseQueue();
  /** Permission mode: the content groups (content-groups.ts), and which mark each holds. */
  private readonly contents: Group[] = [];
  private contentMarks: ContentMarks | null = null;
  private readonly contentFirst = new ContentFirst((i) => this.drain(this.contents[i]));
  // struct pollfd for the groups, the wake eventfd and the batch timer (sized in setUp).
  private pollFds = new Uint8Array(0);
  private pollView = new DataView(this.pollFds.buffer);
  private readonly wakeBuf = new Uint8Array(8);
  private readonly groups: Group[] = [];
  private notify: NotifyMarks | null = null;
  /** The permission verdict (B3): compiled here only at start and on reload. */
  readonly policy: PermissionPolicy;
  // Room for the backlog plus one more full read (64 KiB of 24-byte records at most).
  private readonly batch = new BatchBuilder(BACKLOG_EVENTS + (64 * 1024) / K.FAN_EVENT_METADATA_LEN);
  /** FID paths are assembled here (directory path + "/" + name). */
  private readonly timer = new BatchTimer(MAX_BATCH_AGE_MS);
  /**
   * Build the next batch in a shared slot (batch-recycle.ts): after a full batch (a stream: the
   * permission drain where the daemon and its openers share a CPU, a notification flood), so that
   * no 1 MB copy lands on the stream. Otherwise (a trickle's 2 ms batches) a batch is built in the
   * builder's own arrays and copied into a slot as it is posted: with the main thread on another
   * CPU, a slot it has just read costs a cache-line transfer per line as each record is written
   * there, and the copy takes them in one burst (free scheduling, every batch built in a slot: the
   * reader's CPU per open 40.0 against 39.4 µs, +p99 a few percent over the copy in five benches).
   */
  private buildInSlot = false;
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
  /**
   * Answered permission event fds, closed PERM_CLOSE_BATCH at a time, and before every poll (so none
   * stays open while the reader waits). Under a tight fd limit each is closed at once: a held fd could
   * be the one the kernel then lacks for the next permission event, which it would deny.
   */
  private readonly permCloses = new CloseQueue(this.fdBudget.isTight ? 1 : PERM_CLOSE_BATCH);

  private readonly sharedCounters: Float64Array;
  private readonly answers: PermAnswerer;
  private readonly recorder: EventRecorder;
  private batchReadAt = 0;
  private opener: HandleOpener | null = null;
  private readonly buffers: BatchBuffers;
  private readonly slots: BatchSlots;

  constructor(private readonly start: StartMessage) {
    this.control = new Int32Array(start.control);
    this.sharedCounters = new Float64Array(start.counters);
    this.buffers = new BatchBuffers(start.recycle);
    this.slots = new BatchSlots(start.slots);
    this.batch.useSlots(this.slots);
    this.policy = new PermissionPolicy(start.permission);
    this.details = start.details ? new ProcessDetails() : null;
    this.details?.nextBatch(performance.now());
    this.answers = new PermAnswerer(start.permHistogram, this.counters, (message) => post({ type: "log", level: "warn", message }));
    this.recorder = new EventRecorder({
      counters: this.counters,
      batch: this.batch,
      resolver: this.resolver,
      procs: this.procs,
      details: this.details,
      policy: this.policy,
      closeQueue: this.closeQueue,
      permCloses: this.permCloses,
      answers: this.answers,
      batchStarting: this.batchStarting,
    });
  }

  /** The batch gets its first record: it dates from this read, and its timer starts (unless it is going out now). */
  private readonly batchStarting = (): void => {
    if (this.buildInSlot) this.batch.enterSlot();
    this.batchReadAt = this.answers.readAt;
    if (!this.collectingDue) this.timer.arm();
  };

  async setUp(): Promise<string[]> {
    // Canary directories' filesystems resolve handles too; opened before any mark, so not an event.
    if (this.start.mode === "fid") for (const d of this.start.extraDirs) await this.resolver.registerDir(toByteString(d));
    const notes: string[] = [];
    try {
      // The notification group first: placing it may list directories (inode-marked trees), and
      // once the content group is marked every open there waits for this thread.
      const notify = this.addGroup("notify", this.start.mode, notes);
      this.notify = new NotifyMarks(notify.fd, this.start.mode, this.resolver, this.recorder.emitCreate, (level, message) =>
        post({ type: "log", level, message }),
      );
      this.recorder.notify = this.notify;
      for (const m of this.start.marks) notes.push(...(await this.notify.add(m)));
      if (this.start.perm) {
        this.addGroup("content", "fd", notes);
        this.contentMarks = new ContentMarks([this.contents[0].fd]);
        this.growContentGroups(this.start.marks.length, notes);
        const fds = this.contents.map((g) => g.fd);
        if (this.start.opener !== null) {
          this.opener = new HandleOpener(this.start.opener, fds, () => this.drainContents(), (message) =>
            post({ type: "log", level: "warn", message }),
          );
          this.resolver.opener = this.opener;
        }
        for (const m of this.start.marks) {
          const code = this.contentMarks.add(m);
          if (code !== 0) throw markFailure(m, code, "fd");
        }
      }
    } catch (err) {
      for (const g of this.groups) sysClose(g.fd);
      this.contents.length = 0;
      this.resolver.close();
      this.timer.close();
      throw err;
    }
    return notes;
  }

  private addGroup(kind: GroupKind, mode: ReaderMode, notes: string[]): Group {
    const fd = initGroup(kind, mode, this.start.details && this.start.detailsPidfd, notes);
    // FD-mode reads create one fd per record, so keep them modest (~2.7k fds per read).
    const group: Group = {
      kind,
      mode,
      fd,
      // The content groups share one read buffer: each read's records are handled before the next
      // read, and a content drain never runs inside another.
      buf: kind === "content" && this.contents.length > 0 ? this.contents[0].buf : Buffer.alloc(mode === "fd" ? 64 * 1024 : 256 * 1024),
      // Names are copied as bytes (nameOffset/nameLen), never decoded to strings.
      cursor: new RecordCursor(false),
    };
    this.groups.push(group);
    if (kind === "content") this.contents.push(group);
    this.pollFds = new Uint8Array(8 * (this.groups.length + 2));
    this.pollView = new DataView(this.pollFds.buffer);
    return group;
  }

  /**
   * Permission mode: a content group per mark, up to MAX_CONTENT_GROUPS (content-groups.ts). More
   * groups only where the kernel gives them (fs.fanotify.max_user_groups is shared with every other
   * fanotify user of this uid): the marks then share the groups there are, and `notes` says so.
   */
  private growContentGroups(marks: number, notes: string[]): void {
    const cm = this.contentMarks;
    if (cm === null) return;
    const want = contentGroupCount(marks);
    while (this.contents.length < want) {
      try {
        cm.addGroup(this.addGroup("content", "fd", notes).fd);
      } catch (err) {
        notes.push(`${this.contents.length} permission groups for ${marks} marks: ${err instanceof Error ? err.message : String(err)}`);
        break;
      }
    }
    const fds = this.contents.map((g) => g.fd);
    this.contentFirst.setGroups(fds);
    this.opener?.setContentFds(fds);
  }

  messageHandled(): void {
    Atomics.sub(this.control, CTRL_MESSAGES, 1);
  }

  /** SIGHUP reload: add the new marks on every group (all or nothing), then drop the old ones. */
  async changeMarks(msg: MarksMessage): Promise<void> {
    // Marks added by a reload get groups of their own too (up to the cap); emptied groups stay.
    const notes: string[] = [];
    if (this.contentMarks !== null) this.growContentGroups(this.contentMarks.marks + msg.add.length - msg.remove.length, notes);
    const done = await changeMarks(this.notify as NotifyMarks, this.contentMarks, msg);
    post(done.type === "marks-done" && done.error === null ? { ...done, notes: [...notes, ...done.notes] } : done);
  }

  private stopRequested(): boolean {
    return Atomics.load(this.control, CTRL_STOP) !== 0;
  }

  private behind(): boolean {
    return Atomics.load(this.control, CTRL_INFLIGHT) >= MAX_INFLIGHT;
  }

  async run(): Promise<void> {
    // Group order as set up (notification group first): draining the content group first measured
    // ~2 µs worse at the pinned p50 and no better in the tail (issue 11).
    const groups = this.groups;
    while (!this.stopRequested()) {
      // Read every turn: a reload can add a content group, which grows the pollfd array.
      const pv = this.pollView;
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
      for (const g of groups) {
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
      // The answered permission fds go before the reader may wait: nothing stays open while idle.
      if (this.permCloses.pending) this.permCloses.closeAll();
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
        const g = groups[gi];
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
        this.contentFirst.answerFirst();
        this.collectingDue = true;
        for (const g of this.groups) if (g.kind === "notify") this.drain(g);
        this.collectingDue = false;
        this.contentFirst.answerFirst();
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
    for (const c of this.contents) flushMarks(c.fd);
    for (const c of this.contents) this.drainAtStop(c);
    this.permCloses.closeAll();
    this.closeQueue.closeAll();
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
    this.opener?.stop();
    this.buffers.close();
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
      this.answers.readAt = sharedMonoNow();
      const want = this.readBytes(g);
      const n = sysRead(g.fd, g.buf, want);
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
      if (isContent || this.contents.length === 0) {
        while (cursor.next()) this.recorder.handle(g, cursor.event);
      } else {
        // A notification read can hold thousands of records: answer permission events that
        // arrive meanwhile every few records instead of after the whole read (B5).
        for (let k = 1; cursor.next(); k++) {
          this.recorder.handle(g, cursor.event);
          if (k % CONTENT_CHECK_EVERY === 0) this.contentFirst.service();
        }
      }
      if (this.closeQueue.pending) this.closeQueue.closeAll();
      if (cursor.stats.truncated) this.counters.unknownRecords++;
      if (!isContent && this.contents.length > 0) {
        // A short bounded read emptied the queue: no yield, no further read (the next poll sees new records).
        if (n + (g.mode === "fd" ? RECORD_MAX_FD : RECORD_MAX_FID) < want) break;
        // The yields let the openers add records as fast as these small reads take them: the batch
        // goes out at its age, not only when full (issue 11). The content drain is not cut so: a
        // steady opener keeps it busy until the batch is full (README "Known limits": cutting it at
        // the age measured a worse permission tail).
        if (sharedMonoNow() - this.batchReadAt >= MAX_BATCH_AGE_MS && this.batch.count > 0) break;
        this.contentFirst.answerFirst();
      }
      // A full batch posted from inside the permission drain: an open is waiting behind this post
      // anyway, so the batch's processes are re-read now too (ProcInfoCache.nextBatch).
      if (isContent && this.batch.count >= BATCH_EVENTS && !this.behind()) this.flush(false, true);
    }
  }

  /** Every content group, each until it is empty (the handle opener's wait). */
  private drainContents(): void {
    for (const c of this.contents) this.drain(c);
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

  /** Bytes to read from `g` now: FD-mode reads are sized by the fds left (fd-budget.ts), bounded in permission mode. */
  private readBytes(g: Group, bounded = true): number {
    if (bounded && g.kind === "notify" && this.contents.length > 0) {
      return g.mode === "fd" ? Math.min(PERM_NOTIFY_READ_FD, this.fdBudget.readBytes(g.buf.length)) : PERM_NOTIFY_READ_FID;
    }
    return g.mode === "fd" ? this.fdBudget.readBytes(g.buf.length) : g.buf.length;
  }

  /** At stop, after its marks are gone: answers what is left in the content group. */
  private drainAtStop(g: Group): void {
    drainFor(g, 100, () => this.readBytes(g), (ev) => this.recorder.handle(g, ev), (e) => this.noFd(g, e));
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
    drainFor(g, 100, () => this.readBytes(g, false), onEvent, (e) => this.noFd(g, e));
  }

  private publishCounters(): void {
    if (this.notify !== null) this.counters.treeMarkFailures = this.notify.trees.failures;
    if (this.details !== null) this.counters.attributionMissed = this.details.missed;
    for (let i = 0; i < COUNTER_NAMES.length; i++) this.sharedCounters[i] = this.counters[COUNTER_NAMES[i]];
  }

  private flush(final = false, drainFull = false): void {
    this.notify?.trees.settle();
    this.publishCounters();
    if (this.batch.count === 0) return;
    if (!final && this.behind()) return;
    const count = this.batch.count;
    Atomics.add(this.control, CTRL_INFLIGHT, 1);
    const inSlot = this.batch.takeSlot();
    this.buildInSlot = count >= BATCH_EVENTS;
    if (inSlot !== null) {
      post({ type: "slot-batch", ...inSlot, readAt: this.batchReadAt });
    } else {
      this.buffers.collect();
      const { ints, bytes } = this.batch.take(this.buffers);
      post({ type: "batch", count, ints, bytes, readAt: this.batchReadAt }, [ints.buffer as ArrayBuffer, bytes.buffer as ArrayBuffer]);
    }
    this.coalesce = count >= COALESCE_MIN_EVENTS;
    // A stream: the next batch is collected when the timer fires, without a wake-up for its first
    // event. Otherwise the next batch's first event arms a fresh timer.
    this.timer.disarm();
    if (this.coalesce) this.timer.arm();
    // comm/exe are re-validated once per posted batch (B14; a pid cannot be reused within ~2 ms).
    this.procs.nextBatch(drainFull);
    this.details?.nextBatch(performance.now());
  }
}

function setPollFd(pv: DataView, slot: number, fd: number): void {
  pv.setInt32(slot * 8, fd, true);
  pv.setInt16(slot * 8 + 4, K.POLLIN, true);
  pv.setInt16(slot * 8 + 6, 0, true);
}
