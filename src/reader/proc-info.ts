// comm and exe of the process that caused an event, read by the Worker at read time (B14).
// One read of /proc/PID/stat per pid per batch gives comm and the start time; exe is read only
// when (pid, start time) is new, so a reused pid never inherits another process's names.
import * as K from "../../ffi/constants.ts";
import { cpath, sysClose, sysOpen, sysRead, sysReadlink } from "../../ffi/libc.ts";
import { bytesEqualAt } from "../bytes.ts";
import { procHead, type ProcHead } from "./batch-builder.ts";

interface ProcEntry {
  pid: number;
  startTime: string;
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

  /** Call once per read batch: entries are re-validated once per batch. */
  nextBatch(): void {
    this.batch++;
  }

  /** Sets `comm` and `exe` (empty when unknown) for pid. */
  lookup(pid: number): void {
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
    const stat = knownGone ? null : this.readStat(pid);
    if (stat === null) {
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
    // spaces, so split after the last ')'.
    const close = stat.lastIndexOf(")");
    const open = stat.indexOf("(");
    const comm = open >= 0 && close > open ? Buffer.from(stat.slice(open + 1, close), "latin1") : EMPTY;
    const rest = stat.slice(close + 2).split(" ");
    const startTime = rest[19] ?? "";
    const ppid = Number(rest[1] ?? "-1");
    this.ppid = Number.isInteger(ppid) ? ppid : -1;
    if (cached !== undefined && cached.startTime === startTime) {
      // Same process. An execve() keeps pid and start time but changes exe, and comm with it
      // (to the new program's name), so exe is read again when comm changed.
      if (!bytesEqualAt(cached.comm, comm, 0, comm.length)) {
        cached.comm = comm;
        cached.exe = this.readLink(`/proc/${pid}/exe`);
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
    const exe = this.readLink(`/proc/${pid}/exe`);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    const start = Number(startTime);
    const entry: ProcEntry = {
      pid,
      startTime,
      comm,
      exe,
      batch: this.batch,
      start: Number.isSafeInteger(start) ? start : 0,
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

  private readStat(pid: number): string | null {
    this.statReads++;
    const fd = sysOpen(cpath(`/proc/${pid}/stat`), K.O_RDONLY | K.O_CLOEXEC);
    if (fd < 0) return null;
    const n = sysRead(fd, this.statBuf, this.statBuf.length);
    sysClose(fd);
    if (n <= 0) return null;
    return this.statBuf.toString("latin1", 0, n);
  }

  private readLink(path: string): Uint8Array {
    const n = sysReadlink(cpath(path), this.linkBuf, this.linkBuf.length);
    if (n <= 0) return EMPTY;
    return this.linkBuf.slice(0, n);
  }
}
