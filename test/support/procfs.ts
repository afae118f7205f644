// What tests and benches read about a process from /proc: CPU time (per process and per thread),
// memory, context switches, open fds, fanotify marks. Every reader returns NaN (or nothing) once the
// process or thread is gone instead of throwing.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Clock ticks per second (getconf CLK_TCK on Linux x86-64/arm64). */
export const CLK_TCK = 100;

/** Entries of a /proc directory, or null once it is gone. */
function entries(dir: string): string[] | null {
  try {
    return readdirSync(dir);
  } catch {
    return null;
  }
}

/** utime + stime in seconds from the text of a /proc stat file (fields 14 and 15). */
function statCpu(stat: string): number {
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** utime + stime of `pid` (all threads) in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    return statCpu(readFileSync(`/proc/${pid}/stat`, "latin1"));
  } catch {
    return NaN;
  }
}

/** CPU seconds per thread name (Bun: the process name for the main thread, "Worker", "JITWorker", …). */
export function threadCpuSeconds(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of entries(`/proc/${pid}/task`) ?? []) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "latin1");
      const name = s.slice(s.indexOf("(") + 1, s.lastIndexOf(")"));
      out[name] = (out[name] ?? 0) + statCpu(s);
    } catch {
      // thread gone
    }
  }
  return out;
}

/** Voluntary + involuntary context switches over all threads. */
export function ctxSwitches(pid: number): number {
  const tids = entries(`/proc/${pid}/task`);
  if (tids === null) return NaN;
  let n = 0;
  for (const tid of tids) {
    try {
      for (const m of readFileSync(`/proc/${pid}/task/${tid}/status`, "latin1").matchAll(/ctxt_switches:\s+(\d+)/g)) n += Number(m[1]);
    } catch {
      // thread gone
    }
  }
  return n;
}

/** A "kB" field of /proc/PID/status (VmRSS, VmHWM, …). */
export function statusKiB(pid: number, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "latin1"));
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

/** Number of open file descriptors of `pid` (entries of /proc/PID/fd). */
export function countFds(pid: number): number {
  return entries(`/proc/${pid}/fd`)?.length ?? NaN;
}

/** One fanotify group a process holds: its fanotify_init flags and its marks (from /proc/PID/fdinfo). */
export interface FanotifyGroup {
  readonly fd: number;
  readonly flags: number;
  /** Without the "fanotify " prefix: "sdev:…" (filesystem), "mnt_id:…" (mount), "ino:…" (inode). */
  readonly marks: string[];
}

/** Every fanotify group of `pid`. */
export function fanotifyGroups(pid: number): FanotifyGroup[] {
  const groups: FanotifyGroup[] = [];
  for (const fd of entries(`/proc/${pid}/fd`) ?? []) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:[fanotify]") continue;
      let flags = 0;
      const marks: string[] = [];
      for (const line of readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").split("\n")) {
        if (line.startsWith("fanotify flags:")) flags = Number.parseInt(/^fanotify flags:([0-9a-f]+)/.exec(line)?.[1] ?? "0", 16);
        else if (line.startsWith("fanotify ")) marks.push(line.slice("fanotify ".length));
      }
      groups.push({ fd: Number(fd), flags, marks });
    } catch {
      // closed meanwhile
    }
  }
  return groups;
}

/** The marks of every fanotify group of `pid` (see FanotifyGroup.marks). */
export function fanotifyMarks(pid: number): string[] {
  return fanotifyGroups(pid).flatMap((g) => g.marks);
}

/** Median of the finite values (NaN when there are none). */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
