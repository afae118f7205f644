// comm and exe of the process that caused an event, read by the Worker at read time (B14).
// One read of /proc/PID/stat per pid per batch gives comm and the start time; exe is read only
// when (pid, start time) is new, so a reused pid never inherits another process's names.
import * as K from "../../ffi/constants.ts";
import { cpath, sysClose, sysOpen, sysRead, sysReadlink } from "../../ffi/libc.ts";
import { bytesEqualAt } from "../bytes.ts";

interface ProcEntry {
  startTime: string;
  comm: Uint8Array;
  exe: Uint8Array;
  batch: number;
}

const EMPTY = new Uint8Array(0);

const MAX_ENTRIES = 4096;

export class ProcInfoCache {
  private readonly entries = new Map<number, ProcEntry>();
  private readonly statBuf = Buffer.alloc(1024);
  private readonly linkBuf = Buffer.alloc(4096);
  private batch = 0;
  /** Raw bytes of comm and exe (empty when unknown); not to be modified. */
  comm: Uint8Array = EMPTY;
  exe: Uint8Array = EMPTY;

  /** Call once per read batch: entries are re-validated once per batch. */
  nextBatch(): void {
    this.batch++;
  }

  /** Sets `comm` and `exe` (empty when unknown) for pid. */
  lookup(pid: number): void {
    const cached = this.entries.get(pid);
    if (cached !== undefined && cached.batch === this.batch) {
      this.comm = cached.comm;
      this.exe = cached.exe;
      return;
    }
    this.comm = EMPTY;
    this.exe = EMPTY;
    if (pid <= 0) return;
    const stat = this.readStat(pid);
    if (stat === null) {
      if (cached !== undefined) this.entries.delete(pid);
      return;
    }
    // /proc/PID/stat: "pid (comm) state ppid ... starttime(22nd field) ..."; comm may hold ')' and
    // spaces, so split after the last ')'.
    const close = stat.lastIndexOf(")");
    const open = stat.indexOf("(");
    const comm = open >= 0 && close > open ? Buffer.from(stat.slice(open + 1, close), "latin1") : EMPTY;
    const rest = stat.slice(close + 2).split(" ");
    const startTime = rest[19] ?? "";
    if (cached !== undefined && cached.startTime === startTime) {
      // Same process. An execve() keeps pid and start time but changes exe, and comm with it
      // (to the new program's name), so exe is read again when comm changed.
      if (!bytesEqualAt(cached.comm, comm, 0, comm.length)) {
        cached.comm = comm;
        cached.exe = this.readLink(`/proc/${pid}/exe`);
      }
      cached.batch = this.batch;
      this.comm = cached.comm;
      this.exe = cached.exe;
      return;
    }
    const exe = this.readLink(`/proc/${pid}/exe`);
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(pid, { startTime, comm, exe, batch: this.batch });
    this.comm = comm;
    this.exe = exe;
  }

  private readStat(pid: number): string | null {
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
