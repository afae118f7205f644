// Where the output writes: a file opened safely (O_NOFOLLOW, append, 0640, checked after opening) or
// stdout, and how each is written ("async" for regular files, "nonblock" for pipes and terminals).
import fs from "node:fs";
import { O_CLOEXEC } from "../../ffi/constants.ts"; // Linux; Bun also adds it by itself
import { errCode } from "../errors.ts";
import { checkOpened, UnsafePathError } from "../lifecycle/safe-path.ts";

export type WriteMode = "nonblock" | "async";

export interface Target {
  fd: number;
  mode: WriteMode;
  /** False for the shared fd 1 (never closed by us). */
  owned: boolean;
  /** A regular file whose end is checked when it takes over (see settleEnd). */
  checkEnd?: boolean;
  /** A newline is still owed before the first record (the file ended mid-line). */
  lead?: boolean;
  /**
   * nonblock targets: a blocking description of the same pipe, opened at the first full pipe. The
   * write that waits for the reader to drain the pipe runs on it off-thread (issue 14 item 4).
   */
  blockFd?: number;
}


// O_NOFOLLOW: a symlink planted at the output path is refused (ELOOP), never followed (issue 14 item 2).
const PATH_FLAGS =
  fs.constants.O_WRONLY |
  fs.constants.O_APPEND |
  fs.constants.O_CREAT |
  fs.constants.O_NONBLOCK |
  fs.constants.O_NOFOLLOW |
  O_CLOEXEC;
const FILE_MODE = 0o640;


const NEWLINE = Buffer.from("\n");


function modeOf(fd: number): WriteMode {
  return fs.fstatSync(fd).isFile() ? "async" : "nonblock";
}

export function openPath(path: string): Target {
  let fd: number;
  try {
    fd = fs.openSync(path, PATH_FLAGS, FILE_MODE);
  } catch (e) {
    if (errCode(e) === "ELOOP") throw new UnsafePathError("it is a symbolic link (not followed; use '-' for stdout)");
    throw e;
  }
  try {
    const st = checkOpened(fd, "output", path);
    return { fd, mode: st.isFile() ? "async" : "nonblock", owned: true, checkEnd: st.isFile() };
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/**
 * A file cut mid-record (a full disk, a crash) gets a newline first, so the next record is not glued
 * to the cut one (issue 14 item 7). Checked when the target takes over — at a line boundary of our
 * own writes, so a reopen of the file we are writing never sees our own half-written line.
 */
export function settleEnd(t: Target): void {
  if (t.checkEnd !== true) return;
  t.checkEnd = false;
  let size: number;
  try {
    size = fs.fstatSync(t.fd).size;
  } catch {
    return;
  }
  if (size > 0 && !endsWithNewline(t.fd, size) && !writeNewline(t.fd)) t.lead = true;
}

function endsWithNewline(fd: number, size: number): boolean {
  // The fd is write-only: read the last byte through a read-only description of the same file.
  let rfd: number;
  try {
    rfd = fs.openSync(`/proc/self/fd/${fd}`, fs.constants.O_RDONLY | O_CLOEXEC);
  } catch {
    return true; // cannot tell: leave the file as it is
  }
  try {
    const b = Buffer.alloc(1);
    return fs.readSync(rfd, b, 0, 1, size - 1) !== 1 || b[0] === 0x0a;
  } catch {
    return true;
  } finally {
    fs.closeSync(rfd);
  }
}

/** Appends "\n"; false when it could not be written now (retried before the next record). */
export function writeNewline(fd: number): boolean {
  try {
    return fs.writeSync(fd, NEWLINE) === 1;
  } catch {
    return false;
  }
}

export function openStdout(): Target {
  const st = fs.fstatSync(1); // throws EBADF when fd 1 is closed
  if (st.isFile() || st.isBlockDevice()) return { fd: 1, mode: "async", owned: false };
  try {
    // A fresh open file description of the same pipe/tty: O_NONBLOCK on it leaves fd 1 alone.
    const fd = fs.openSync("/proc/self/fd/1", fs.constants.O_WRONLY | fs.constants.O_NONBLOCK | O_CLOEXEC);
    return { fd, mode: modeOf(fd) === "async" ? "async" : "nonblock", owned: true };
  } catch {
    // Sockets cannot be reopened through /proc (ENXIO): write the shared, blocking fd 1 off-thread.
    return { fd: 1, mode: "async", owned: false };
  }
}

export function countNewlines(b: Buffer, end: number): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i !== -1 && i < end; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}
