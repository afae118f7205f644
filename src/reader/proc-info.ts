// comm and exe of the process that caused an event, read by the Worker at read time (B14).
// One read of /proc/PID/stat per pid per batch gives comm and the start time; exe is read only
// when (pid, start time) is new, so a reused pid never inherits another process's names.
import * as K from "../../ffi/constants.ts";
import { sysClose, sysOpen, sysRead, sysReadlink } from "../../ffi/libc.ts";
import { bytesEqualAt } from "../bytes.ts";
import { procHead, type ProcHead } from "./batch-builder.ts";

interface ProcEntry {
  pid: number;
  comm: Uint8Array;
  exe: Uint8Array;
  batch: number;
  /** Start time in clock ticks since boot (stat field 22); 0 when unknown. */
  start: number;
  /** stat field 4 (re-read every batch: a process is re-parented when its parent exits). */
  ppid: number;
  /** Changes when the entry is (re)read for a new process or after an execve (see `version`). */
  version: number;
  /** Its rows' `"pid","comm","exe"` (batch-builder.ts procHead), encoded at first use; undefined until then. */
  head: ProcHead | null | undefined;
}

const EMPTY = new Uint8Array(0);

const MAX_ENTRIES = 4096;
/** Pids re-read as a batch is posted (nextBatch): the last few distinct ones looked up. */
const RECENT_PIDS = 4;
const PROC = Buffer.from("/proc/", "latin1");
const STAT = Buffer.from("/stat\0", "latin1");
const EXE = Buffer.from("/exe\0", "latin1");

export class ProcInfoCache {
  private readonly entries = new Map<number, ProcEntry>();
  /**
   * Pids whose /proc/PID/stat could not be read, with the batch in which that was found: the rest
   * of the batch skips the read (a process that exited with events still queued would otherwise
   * cost a failed open per event; a pid is not reused within a batch).
   */
  private readonly gonePids = new Map<number, number>();
  private readonly statBuf = Buffer.alloc(1024);
  private readonly linkBuf = Buffer.alloc(4096);
  /** `/proc/PID/stat` or `/proc/PID/exe`, NUL-terminated, written in place (procPath). */
  private readonly pathBuf = new Uint8Array(32);
  /** The last few distinct pids looked up, most recent first, and a copy nextBatch() walks. */
  private readonly recent: number[] = [];
  private readonly refreshing: number[] = [];
  private batch = 0;
  /** Raw bytes of comm and exe (empty when unknown); not to be modified. */
  comm: Uint8Array = EMPTY;
  exe: Uint8Array = EMPTY;
  /**
   * The looked-up process's start time (clock ticks since boot); when /proc/PID/stat is unreadable
   * (the process is gone), the last one seen for the pid, or 0.
   */
  startTime = 0;
  /** Its parent pid, -1 when unknown. */
  ppid = -1;
  /** A number that changes whenever the pid names a new process or the process exec'd (for caches built on this one). */
  version = 0;
  /** True when the last lookup read /proc/PID/stat (the first lookup of the pid in this batch). */
  fresh = false;
  /** True when /proc/PID/stat could not be read: the process is gone (names empty). */
  gone = false;
  private versions = 0;
  /** The entry of the last lookup; null when the process is gone. */
  private current: ProcEntry | null = null;
  /** /proc/PID/stat reads attempted (tests and benchmarks). */
  statReads = 0;

  /**
   * Call once per posted batch: entries are re-validated once per batch. With `rereadRecent` the
   * pids the batch ended with are re-read now rather than at their next event: for a full batch
   * posted from inside the permission drain, that read (a path taken once per batch, so cold: ~75 µs
   * on the test VM) held the answer after the next one — a second slow open per batch besides the
   * one the post itself delays (issue 11, tenth pass). A batch posted at its age (2 ms) keeps the
   * lazy read: that post is on no open's path, the re-read would be.
   */
  nextBatch(rereadRecent = false): void {
    this.batch++;
    if (!rereadRecent) return;
    const pids = this.refreshing;
    pids.length = 0;
    for (const pid of this.recent) pids.push(pid);
    for (const pid of pids) this.lookup(pid);
  }

  /** Sets `comm` and `exe` (empty when unknown) for pid. */
  lookup(pid: number): void {
    if (this.recent[0] !== pid) this.noteRecent(pid);
    const cached = this.entries.get(pid);
    if (cached !== undefined && cached.batch === this.batch) {
      this.current = cached;
      this.comm = cached.comm;
      this.exe = cached.exe;
      this.startTime = cached.start;
      this.ppid = cached.ppid;
      this.version = cached.version;
      this.fresh = false;
      this.gone = false;
      return;
    }
    this.comm = EMPTY;
    this.exe = EMPTY;
    this.startTime = 0;
    this.ppid = -1;
    this.version = 0;
    this.gone = true;
    this.current = null;
    const knownGone = this.gonePids.get(pid) === this.batch;
    this.fresh = !knownGone;
    if (pid <= 0) return;
    const n = knownGone ? -1 : this.readStat(pid);
    if (n <= 0) {
      if (!knownGone) {
        if (this.gonePids.size >= MAX_ENTRIES) this.gonePids.clear();
        this.gonePids.set(pid, this.batch);
      }
      // Gone: no names (B14), but policy state stays keyed by the start time last seen for the pid,
      // so the late events of a process that has just exited share its burst window and cooldown.
      // The entry stays (names are not reused from it: each batch reads /proc again until the pid
      // names a live process, whose start time then replaces it).
      if (cached !== undefined) this.startTime = cached.start;
      return;
    }
    this.gone = false;
    // /proc/PID/stat: "pid (comm) state ppid ... starttime(22nd field) ..."; comm may hold ')' and
    // spaces, so the fields start after the last ')'. Parsed in place: no string per read.
    const buf = this.statBuf;
    const open = buf.indexOf(0x28);
    const close = buf.lastIndexOf(0x29, n - 1);
    const commOk = open >= 0 && close > open;
    const commStart = commOk ? open + 1 : 0;
    const commLen = commOk ? close - commStart : 0;
    const ppid = commOk ? statField(buf, close + 2, n, 1) : -1;
    const start = commOk ? statField(buf, close + 2, n, 19) : -1;
    this.ppid = ppid;
    if (cached !== undefined && cached.start === start && start > 0) {
      // Same process. An execve() keeps pid and start time but changes exe, and comm with it
      // (to the new program's name), so exe is read again when comm changed.
      if (!bytesEqualAt(cached.comm, buf, commStart, commLen)) {
        cached.comm = buf.slice(commStart, commStart + commLen);
        cached.exe = this.readLink(pid);
        cached.version = ++this.versions;
        cached.head = undefined;
      }
      this.current = cached;
      cached.batch = this.batch;
      cached.ppid = this.ppid;
      this.comm = cached.comm;
      this.exe = cached.exe;
      this.startTime = cached.start;
      this.version = cached.version;
      return;
    }
    const comm = commLen > 0 ? buf.slice(commStart, commStart + commLen) : EMPTY;
    const exe = this.readLink(pid);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const entry: ProcEntry = {
      pid,
      comm,
      exe,
      batch: this.batch,
      start: start > 0 ? start : 0,
      ppid: this.ppid,
      version: ++this.versions,
      head: undefined,
    };
    this.entries.set(pid, entry);
    this.current = entry;
    this.comm = comm;
    this.exe = exe;
    this.startTime = entry.start;
    this.version = entry.version;
  }

  /**
   * The looked-up process's row head (procHead), encoded once per process and exec; null when it is
   * gone (no names) or a name needs escaping (its rows are written field by field).
   */
  rowHead(): ProcHead | null {
    const e = this.current;
    if (e === null) return null;
    if (e.head === undefined) e.head = procHead(e.pid, e.comm, e.exe);
    return e.head;
  }

  /** Moves pid to the front of `recent` (in place: this runs whenever the pid changes from event to event). */
  private noteRecent(pid: number): void {
    const r = this.recent;
    let at = r.indexOf(pid);
    if (at < 0) {
      if (r.length < RECENT_PIDS) r.push(pid);
      at = r.length - 1;
    }
    for (let i = at; i > 0; i--) r[i] = r[i - 1];
    r[0] = pid;
  }

  /** Bytes of /proc/PID/stat read into statBuf; -1 when it cannot be read (the process is gone). */
  private readStat(pid: number): number {
    this.statReads++;
    const fd = sysOpen(this.procPath(pid, STAT), K.O_RDONLY | K.O_CLOEXEC);
    if (fd < 0) return -1;
    const n = sysRead(fd, this.statBuf, this.statBuf.length);
    sysClose(fd);
    return n > 0 ? n : -1;
  }

  private readLink(pid: number): Uint8Array {
    const n = sysReadlink(this.procPath(pid, EXE), this.linkBuf, this.linkBuf.length);
    if (n <= 0) return EMPTY;
    return this.linkBuf.slice(0, n);
  }

  /** `/proc/<pid><leaf>` in pathBuf (leaf ends with NUL). */
  private procPath(pid: number, leaf: Uint8Array): Uint8Array {
    const out = this.pathBuf;
    out.set(PROC, 0);
    let digits = 1;
    for (let t = pid; t >= 10; t = Math.floor(t / 10)) digits++;
    let p = PROC.length + digits;
    const end = p;
    for (let t = pid; p > PROC.length; t = Math.floor(t / 10)) out[--p] = 0x30 + (t % 10);
    out.set(leaf, end);
    return out;
  }
}

/** The decimal value of the index-th space-separated field of buf[from, n); -1 when absent or not a number. */
function statField(buf: Uint8Array, from: number, n: number, index: number): number {
  let p = from;
  for (let f = 0; f < index; f++) {
    while (p < n && buf[p] !== 0x20) p++;
    p++;
  }
  if (p >= n) return -1;
  let v = 0;
  let any = false;
  for (; p < n && buf[p] >= 0x30 && buf[p] <= 0x39; p++) {
    v = v * 10 + (buf[p] - 0x30);
    any = true;
  }
  return any && (p >= n || buf[p] === 0x20 || buf[p] === 0x0a) ? v : -1;
}
