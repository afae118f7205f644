// What tests and benches read about a process from /proc: CPU time, open fds, fanotify marks.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** Clock ticks per second (getconf CLK_TCK on Linux x86-64/arm64). */
export const CLK_TCK = 100;

/** utime + stime of `pid` in seconds (fields 14 and 15 of /proc/PID/stat); NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "latin1");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}

/** Number of open file descriptors of `pid` (entries of /proc/PID/fd); NaN once it is gone. */
export function countFds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return NaN;
  }
}

/**
 * The marks of every fanotify fd of `pid`, from /proc/PID/fdinfo, without the "fanotify " prefix:
 * "sdev:…" for filesystem marks, "mnt_id:…" for mount marks, "ino:…" for inode marks.
 */
export function fanotifyMarks(pid: number): string[] {
  const marks: string[] = [];
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return marks;
  }
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:[fanotify]") continue;
      for (const line of readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").split("\n")) {
        if (line.startsWith("fanotify ") && !line.startsWith("fanotify flags:")) marks.push(line.slice("fanotify ".length));
      }
    } catch {
      // closed meanwhile
    }
  }
  return marks;
}

/** Median of the finite values (NaN when there are none). */
export function median(xs: readonly number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
}
