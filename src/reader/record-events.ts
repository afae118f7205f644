// Per record: the permission answer first (B5), then the event's row in the batch — pid, comm, exe
// (and details), the path from the event fd (FD mode) or from the directory handle plus name (FID
// mode, A5), scope filtering and inode-marked trees following directories that come and go.
import * as K from "../../ffi/constants.ts";
import { sysClose, sysGetpid } from "../../ffi/libc.ts";
import { NO_PIDFD_INFO, RecordKind, eventPidfd, fsidKey, isNameInfoType, pathInfoIndex, type ParsedEvent } from "../../ffi/records.ts";
import type { PermissionPolicy } from "../policy/permission.ts";
import { processKey } from "../policy/process-key.ts";
import type { BatchBuilder } from "./batch-builder.ts";
import type { CloseQueue } from "./close-queue.ts";
import type { Group } from "./groups.ts";
import type { NotifyMarks } from "./notify-marks.ts";
import type { PermAnswerer } from "./perm-answer.ts";
import type { ProcInfoCache } from "./proc-info.ts";
import type { ProcessDetails } from "./process-details.ts";
import { F_DENIED, F_IS_DIR, F_PERM, sharedMonoNow, type ReaderCounters } from "./protocol.ts";
import { UNKNOWN_PATH, UNRESOLVED, type PathResolver } from "./resolve.ts";

const UNRESOLVED_BYTES = Buffer.from(UNRESOLVED, "latin1");
const UNKNOWN_PATH_BYTES = Buffer.from(UNKNOWN_PATH, "latin1");

// A directory that moved or vanished makes cached directory paths stale (A5: paths reflect the
// state when the record is processed).
const DIR_CHANGE = K.FAN_MOVED_FROM | K.FAN_MOVED_TO | K.FAN_RENAME | K.FAN_MOVE_SELF | K.FAN_DELETE | K.FAN_DELETE_SELF;
/** Directory-entry events that add or take away a directory of an inode-marked tree (tree-marks.ts). */
const DIR_APPEARS = K.FAN_CREATE | K.FAN_MOVED_TO;
const DIR_GOES = K.FAN_DELETE | K.FAN_MOVED_FROM;

/** What the record handler shares with the reader loop. */
export interface RecorderParts {
  readonly counters: ReaderCounters;
  readonly batch: BatchBuilder;
  readonly resolver: PathResolver;
  readonly procs: ProcInfoCache;
  readonly details: ProcessDetails | null;
  readonly policy: PermissionPolicy;
  readonly closeQueue: CloseQueue;
  readonly permCloses: CloseQueue;
  readonly answers: PermAnswerer;
  /** The batch is empty and gets its first row (or overflow record) now. */
  readonly batchStarting: () => void;
}

export class EventRecorder {
  private readonly ownPid = sysGetpid();
  /** FID paths are assembled here (directory path + "/" + name). */
  private readonly pathScratch = new Uint8Array(8192);
  /** Set once the notification group's marks exist (FID events need its scope and trees). */
  notify: NotifyMarks | null = null;

  constructor(private readonly p: RecorderParts) {}

  handle(g: Group, ev: ParsedEvent): void {
    const counters = this.p.counters;
    counters.eventsRead++;
    if (ev.kind !== RecordKind.Event) {
      // Unknown layout: skipped by its length, but its fd is still answered and closed.
      counters.unknownRecords++;
      if (ev.fd >= 0) this.release(g, ev.fd, g.kind === "content" ? K.FAN_ALLOW : 0);
      return;
    }
    const lo = ev.maskLo;
    // FAN_REPORT_PIDFD (details only): every pidfd is closed exactly once, below.
    const pidfd = this.p.details === null ? NO_PIDFD_INFO : eventPidfd(ev);
    if (lo & K.FAN_Q_OVERFLOW) {
      if (pidfd >= 0) this.p.closeQueue.add(pidfd);
      counters.overflows++;
      const batch = this.p.batch;
      if (batch.full) return;
      if (batch.count === 0) this.p.batchStarting();
      batch.overflow(lo, ev.maskHi);
      return;
    }
    const perm = (lo & K.FAN_PERM_EVENTS) !== 0;
    if (ev.pid === this.ownPid) {
      // B4: the daemon never sees itself; its own permission events are allowed at once.
      counters.ownEvents++;
      if (ev.fd >= 0) this.release(g, ev.fd, perm ? K.FAN_ALLOW : 0);
      if (pidfd >= 0) this.p.closeQueue.add(pidfd);
      return;
    }
    const flags = lo & K.FAN_ONDIR ? F_IS_DIR : 0;
    if (ev.fd >= 0) this.handleFdEvent(g, ev, flags, perm, pidfd);
    else this.handleFidEvent(g, ev, flags, pidfd);
    if (pidfd >= 0) this.p.closeQueue.add(pidfd);
  }

  /** Answers (when `response` is not 0) and closes an event fd that is not reported. */
  release(g: Group, fd: number, response: number): void {
    if (response !== 0) this.p.answers.respond(g.fd, fd, response);
    sysClose(fd);
  }

  /** A rescan of a new directory found an entry: reported as a CREATE of the directory's creator. */
  readonly emitCreate = (path: string, name: string, isDir: boolean, pid: number): void => {
    if (!this.beginEvent(K.FAN_CREATE | (isDir ? K.FAN_ONDIR : 0), 0, pid, isDir ? F_IS_DIR : 0, NO_PIDFD_INFO)) return;
    const p = Buffer.from(path, "latin1");
    const n = Buffer.from(name, "latin1");
    const batch = this.p.batch;
    batch.path(p, 0, p.length);
    batch.name(n, 0, n.length);
    batch.end(isDir);
  };

  /** Policy state key of a pid's current process (pid and start time), for burst denies. */
  private readonly keyOf = (pid: number): number => {
    this.p.procs.lookup(pid);
    return processKey(pid, this.p.procs.startTime);
  };

  /** FD mode and permission events: the path is the event fd's. */
  private handleFdEvent(g: Group, ev: ParsedEvent, flags: number, perm: boolean, pidfd: number): void {
    const { resolver, policy, counters, batch } = this.p;
    const fd = ev.fd;
    const lo = ev.maskLo;
    let pathLen: number;
    if (perm) {
      // B5: the kernel's answer comes first, before anything else is done with the event. Only
      // with deny-on-alert does the verdict need the path (canaries); otherwise answer at once.
      let deny = false;
      if (policy.denyOnAlert) {
        pathLen = resolver.fdPathLength(fd);
        deny = policy.decide(lo, ev.pid, resolver.linkBuf, pathLen, sharedMonoNow(), this.keyOf) === "deny";
        this.p.answers.respond(g.fd, fd, deny ? K.FAN_DENY : K.FAN_ALLOW);
      } else {
        this.p.answers.respond(g.fd, fd, K.FAN_ALLOW);
        pathLen = resolver.fdPathLength(fd);
      }
      flags |= F_PERM | (deny ? F_DENIED : 0);
      if (deny) counters.permDenied++;
      else counters.permAllowed++;
    } else {
      pathLen = resolver.fdPathLength(fd);
    }
    // Closed exactly once, after the answer that names it (fanotify(7): a closed fd number is
    // reused by the next open, and an answer naming the wrong fd leaves the opener hanging);
    // permission fds a few at a time (reader-loop.ts PERM_CLOSE_BATCH), notification fds with the
    // read's other fds.
    if (perm) this.p.permCloses.add(fd);
    else this.p.closeQueue.add(fd);
    if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
    if (pathLen > 0) {
      batch.path(resolver.linkBuf, 0, pathLen);
    } else {
      const placeholder = Buffer.from(`<fd:${fd}>`, "latin1");
      batch.path(placeholder, 0, placeholder.length);
    }
    batch.end((flags & F_IS_DIR) !== 0);
  }

  /** FID mode: the directory handle's cached path plus the reported name (A5). */
  private handleFidEvent(g: Group, ev: ParsedEvent, flags: number, pidfd: number): void {
    const lo = ev.maskLo;
    if (lo & K.FAN_ONDIR && lo & DIR_CHANGE) this.p.resolver.invalidateDirs();
    const isDir = (flags & F_IS_DIR) !== 0;
    const idx = pathInfoIndex(ev);
    const batch = this.p.batch;
    if (idx < 0) {
      if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
      batch.path(UNKNOWN_PATH_BYTES, 0, UNKNOWN_PATH_BYTES.length);
      batch.end(isDir);
      return;
    }
    const info = ev.infos[idx];
    const dirHandle = info.type !== K.FAN_EVENT_INFO_TYPE_FID || (lo & K.FAN_ONDIR) !== 0;
    const base = this.p.resolver.handlePath(info.fsid0, info.fsid1, g.buf, info.handleOffset, info.handleLen, dirHandle);
    const hasName = isNameInfoType(info.type) && info.nameLen > 0;
    let src: Uint8Array;
    let len: number;
    if (base === null) {
      this.p.counters.pathsUnresolved++;
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
      this.p.counters.outOfScope++;
      return;
    }
    if (isDir && hasName && base !== null && lo & (DIR_APPEARS | DIR_GOES) && notify.trees.trees.length > 0) {
      this.treeChanged(lo, ev.pid, fsidKey(info.fsid0, info.fsid1), base, Buffer.from(src.subarray(0, len)).toString("latin1"));
    }
    if (!this.beginEvent(lo, ev.maskHi, ev.pid, flags, pidfd)) return;
    batch.path(src, 0, len);
    if (hasName) batch.name(g.buf, info.nameOffset, info.nameOffset + info.nameLen);
    batch.end(isDir);
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
    const { batch: b, procs } = this.p;
    if (b.full) {
      // Reachable only while the main thread is far behind: for permission events (answered, not
      // reported) and for a tree rescan's CREATE records, which arrive off the read loop (counted here too).
      this.p.counters.permUnreported++;
      return false;
    }
    if (b.count === 0) this.p.batchStarting();
    procs.lookup(pid);
    // pid, comm and exe are the same in every row of the process: copied in one piece (issue 11).
    const head = procs.rowHead();
    b.begin(lo, hi, pid, flags, head);
    if (head === null) {
      const comm = procs.comm;
      const exe = procs.exe;
      b.comm(comm, 0, comm.length);
      b.exe(exe, 0, exe.length);
    }
    b.startTime(procs.startTime);
    const d = this.p.details;
    if (d !== null) {
      d.lookup(pid, procs, pidfd);
      b.details(d.fragment, d.containerOff, d.containerLen);
    }
    return true;
  }
}
