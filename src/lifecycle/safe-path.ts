// Paths the daemon (root) writes to — the output, the pid file, the socket — may lie in directories
// other users can write. A planted symlink or a file another user created there must be refused
// (issue 14 item 2): the last component is never followed (O_NOFOLLOW / lstat) and an existing file
// must belong to root or to the daemon's own user and have a single link.
import fs from "node:fs";

/** The daemon's effective uid (root normally). */
export function daemonUid(): number {
  return typeof process.geteuid === "function" ? process.geteuid() : 0;
}

/** Owners whose files the daemon accepts: root and itself. */
export function trustedOwner(uid: number): boolean {
  return uid === 0 || uid === daemonUid();
}

export class UnsafePathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafePathError";
  }
}

/** Why a file with these stat fields must not be written by the daemon; null when it may. */
export function fileProblem(st: fs.Stats): string | null {
  if (st.isSymbolicLink()) return "it is a symbolic link (not followed)";
  if (!trustedOwner(st.uid)) return `it is owned by uid ${st.uid}, not by root or the daemon's user (uid ${daemonUid()})`;
  if (st.isFile() && st.nlink > 1) return `it has ${st.nlink} hard links`;
  return null;
}

/** Throws UnsafePathError for an opened output/pid file that must not be written. */
export function checkOpened(fd: number, what: string, path: string): fs.Stats {
  const st = fs.fstatSync(fd);
  const problem = fileProblem(st);
  if (problem !== null) throw new UnsafePathError(`refusing ${what} '${path}': ${problem}`);
  return st;
}

/**
 * lstat()s `path`; throws UnsafePathError when something unsafe sits there (a symlink, another
 * user's file). Returns the stats, or null when nothing is there.
 */
export function checkExisting(path: string, what: string): fs.Stats | null {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch (e) {
    if ((e as { code?: string }).code === "ENOENT") return null;
    throw e;
  }
  const problem = fileProblem(st);
  if (problem !== null) throw new UnsafePathError(`refusing ${what} '${path}': ${problem}`);
  return st;
}
