// The pid file (behavior.md B11, A13): created atomically, refused when it names a running fanotifyd,
// replaced when stale, removed at exit only while it is still ours.
//
// Atomic: "<pid>\n" is written to a temporary file in the same directory, then link()ed to the final name
// (fails with EEXIST when a file is already there, so two starters cannot both "create" it) or, when the
// existing file is stale, rename()d over it. Readers never see a partial file.
import { closeSync, linkSync, openSync, readFileSync, readlinkSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname } from "node:path";
import { errCode, errText } from "../errors.ts";
import { checkExisting } from "./safe-path.ts";

export interface PidFile {
  readonly path: string;
  /** The pid written to the file (ours). */
  readonly pid: number;
  /** True when an existing file (stale pid, dead or foreign process, garbage) was replaced. */
  readonly replacedStale: boolean;
  /** What the replaced file said: a pid, or null when it held no valid pid (or nothing was replaced). */
  readonly previousPid: number | null;
  /** Unlinks the file if it still contains our pid. Never throws; true when it was removed. */
  remove(): boolean;
}

/** How many times to retry when the file appears/disappears under us (another starter racing). */
const MAX_ATTEMPTS = 5;

/** The pid in a pid file's text, or null if it is not exactly one positive decimal number. */
export function parsePid(text: string): number | null {
  const m = /^\s*(\d{1,10})\s*$/.exec(text);
  if (!m) return null;
  const pid = Number(m[1]);
  return pid > 0 && pid <= 0x3fffffff ? pid : null;
}

type Existing = { kind: "missing" } | { kind: "pid"; pid: number } | { kind: "garbage" };

function readExisting(path: string): Existing {
  let text: string;
  try {
    text = readFileSync(path, "latin1");
  } catch (err) {
    if (errCode(err) === "ENOENT") return { kind: "missing" };
    throw new Error(`cannot read pid file '${path}': ${errText(err)}`);
  }
  const pid = parsePid(text);
  return pid === null ? { kind: "garbage" } : { kind: "pid", pid };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (errCode(err) !== "EPERM") return false; // ESRCH: no such process
  }
  // A zombie is dead for our purpose (its cmdline is gone anyway).
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return true; // kill() said it exists; /proc hidden (hidepid): assume alive
  }
}

function looksLikeFanotifyd(pid: number): boolean {
  const names: string[] = [];
  try {
    names.push(readFileSync(`/proc/${pid}/comm`, "latin1").trim());
  } catch {
    // gone or hidden
  }
  try {
    names.push(basename(readlinkSync(`/proc/${pid}/exe`)).replace(/ \(deleted\)$/, ""));
  } catch {
    // EACCES for another user's process without privileges: cmdline still tells
  }
  let args: string[] = [];
  try {
    args = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0").filter((a) => a !== "");
  } catch {
    // gone
  }
  if (names.some((n) => n.includes("fanotifyd"))) return true;
  if (args.some((a) => basename(a).includes("fanotifyd"))) return true;
  // Run from source (`bun src/main.ts`): the same entry script as ours is the same program.
  const main = Bun.main;
  if (!main.startsWith("/$bunfs/") && args.includes(main)) return true;
  return false;
}

/** True when `pid` is a live fanotifyd other than this process. */
export function isRunningFanotifyd(pid: number): boolean {
  if (pid === process.pid) return false;
  return isAlive(pid) && looksLikeFanotifyd(pid);
}

function runningError(path: string, pid: number): Error {
  return new Error(`pid file '${path}' names a running fanotifyd (pid ${pid})`);
}

function writeTemp(path: string, pid: number): string {
  const tmp = `${dirname(path)}/.${basename(path)}.${pid}.${Math.random().toString(36).slice(2, 10)}.tmp`;
  let fd: number;
  try {
    fd = openSync(tmp, "wx", 0o644);
  } catch (err) {
    throw new Error(`cannot create pid file '${path}': ${errText(err)}`);
  }
  try {
    const body = Buffer.from(`${pid}\n`, "latin1");
    let off = 0;
    while (off < body.length) off += writeSync(fd, body, off, body.length - off);
  } catch (err) {
    closeSync(fd);
    tryUnlink(tmp);
    throw new Error(`cannot write pid file '${path}': ${errText(err)}`);
  }
  closeSync(fd);
  return tmp;
}

function tryUnlink(p: string): void {
  try {
    unlinkSync(p);
  } catch {
    // already gone
  }
}

/**
 * Creates the pid file at `path` (absolute) with this process's pid. Throws an Error with a message ready
 * to log when a running fanotifyd owns the file, or when the file cannot be written.
 */
export function acquirePidFile(path: string): PidFile {
  const pid = process.pid;
  // Issue 14 item 2: a symlink or another user's file at the path is refused, never read or replaced.
  checkExisting(path, "pid file");
  const tmp = writeTemp(path, pid);
  let replacedStale = false;
  let previousPid: number | null = null;
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        linkSync(tmp, path);
      } catch (err) {
        if (errCode(err) !== "EEXIST") throw new Error(`cannot create pid file '${path}': ${errText(err)}`);
        const existing = readExisting(path);
        if (existing.kind === "missing") continue; // removed meanwhile: try link() again
        if (existing.kind === "pid" && isRunningFanotifyd(existing.pid)) throw runningError(path, existing.pid);
        try {
          renameSync(tmp, path);
        } catch (err2) {
          throw new Error(`cannot replace pid file '${path}': ${errText(err2)}`);
        }
        if (existing.kind === "pid" && existing.pid !== pid) {
          replacedStale = true;
          previousPid = existing.pid;
        } else if (existing.kind === "garbage") {
          replacedStale = true;
        }
      }
      // Verify: a starter racing us through the stale path may have renamed over our file.
      const now = readExisting(path);
      if (now.kind === "pid" && now.pid === pid) return makePidFile(path, pid, replacedStale, previousPid);
      if (now.kind === "pid" && isRunningFanotifyd(now.pid)) throw runningError(path, now.pid);
      // Lost the file to something that is not a live fanotifyd: go round again with a fresh temp file.
      const again = writeTemp(path, pid);
      renameSync(again, tmp);
    }
    throw new Error(`cannot create pid file '${path}': it keeps changing under us`);
  } finally {
    tryUnlink(tmp);
  }
}

function makePidFile(path: string, pid: number, replacedStale: boolean, previousPid: number | null): PidFile {
  let removed = false;
  return {
    path,
    pid,
    replacedStale,
    previousPid,
    remove(): boolean {
      if (removed) return false;
      try {
        const now = readExisting(path);
        if (now.kind !== "pid" || now.pid !== pid) return false;
        unlinkSync(path);
        removed = true;
        return true;
      } catch {
        return false;
      }
    },
  };
}
