// The subscriber socket's file (B9): the path made free (a stale socket removed, a live one, a
// symlink or another user's file refused), the socket bound under a temporary name and hard-linked
// into place so nothing is ever replaced. SocketHub (socket-hub.ts) does the fan-out.
import fs from "node:fs";
import path from "node:path";
import { SUN_PATH_MAX } from "../../ffi/socket.ts";
import { errCode, errReason } from "../errors.ts";
import { fileProblem } from "../lifecycle/safe-path.ts";

const PROBE_TIMEOUT_MS = 1000;

function noop(): void {}

export function bindError(p: string, reason: string): Error {
  return new Error(`failed to bind socket '${p}': ${reason}`);
}

type ProbeResult = "live" | "refused" | "gone";

/** Does a process accept connections on the socket at `p`? */
async function probe(p: string): Promise<ProbeResult> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<ProbeResult>((resolve) => {
    // A listener too busy to accept within a second is still a live one.
    timer = setTimeout(() => resolve("live"), PROBE_TIMEOUT_MS);
  });
  const attempt = Bun.connect({ unix: p, socket: { data: noop } }).then(
    (sock): ProbeResult => {
      sock.end();
      return "live";
    },
    (e: unknown): ProbeResult => {
      const code = errCode(e);
      if (code === "ECONNREFUSED") return "refused";
      if (code === "ENOENT") return "gone";
      if (code === "EAGAIN" || code === "EWOULDBLOCK") return "live"; // backlog full: somebody is there
      throw e;
    },
  );
  try {
    return await Promise.race([attempt, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Make `p` free for our socket: nothing there, or a stale socket (removed). Throws for a live socket
 * and for anything that is not a socket (which is left alone).
 */
export async function clearPath(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (e) {
    if (errCode(e) === "ENOENT") return;
    throw bindError(p, errReason(e));
  }
  if (st.isSymbolicLink()) throw new Error(`refusing socket path '${p}': it is a symbolic link (not followed)`);
  if (!st.isSocket()) throw new Error(`refusing to replace '${p}': not a socket`);
  // Issue 14 item 2: another user's socket is not ours to replace (nor to trust as stale).
  const problem = fileProblem(st);
  if (problem !== null) throw new Error(`refusing socket path '${p}': ${problem}`);
  let state: ProbeResult;
  try {
    state = await probe(p);
  } catch (e) {
    throw bindError(p, errReason(e));
  }
  if (state === "live") throw new Error(`socket path '${p}' is in use by a running process`);
  if (state === "gone") return;
  try {
    // Only the socket we probed: if someone swapped the file meanwhile, leave theirs alone.
    const again = fs.lstatSync(p);
    if (again.ino !== st.ino || again.dev !== st.dev) throw new Error(`socket path '${p}' changed while starting`);
    fs.unlinkSync(p);
  } catch (e) {
    if (errCode(e) === "ENOENT") return;
    if (e instanceof Error && errCode(e) === undefined) throw e;
    throw bindError(p, errReason(e));
  }
}

/** A short, unlikely-to-collide name next to `p`, or null when it would not fit in sun_path. */
export function tempNameFor(p: string): string | null {
  const rand = Math.floor(Math.random() * 36 ** 4)
    .toString(36)
    .padStart(4, "0");
  const tmp = path.join(path.dirname(p), `.fanotifyd-${process.pid.toString(36)}-${rand}`);
  return Buffer.byteLength(tmp) <= SUN_PATH_MAX ? tmp : null;
}

/**
 * After binding at `bindPath` (`tmp`, or `p` itself when no temporary name fits): mode 0660, linked to
 * `p` when bound under `tmp`; the identity of the file at `p`. Errors name `p`.
 */
export async function publishSocket(bindPath: string, tmp: string | null, p: string): Promise<fs.Stats> {
  try {
    fs.chmodSync(bindPath, 0o660);
    if (tmp !== null) {
      try {
        await linkInto(tmp, p);
      } finally {
        try {
          fs.unlinkSync(tmp);
        } catch {
          // already gone
        }
      }
    }
    return fs.lstatSync(p);
  } catch (e) {
    if (e instanceof Error && errCode(e) === undefined) throw e;
    throw bindError(p, errReason(e));
  }
}

/** Hard-link our freshly bound socket `tmp` to `p` without ever replacing what is there. */
async function linkInto(tmp: string, p: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.linkSync(tmp, p);
      return;
    } catch (e) {
      const code = errCode(e);
      if (code === "EEXIST" && attempt < 3) {
        await clearPath(p); // something appeared meanwhile: same rules as at the start
        continue;
      }
      if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "EXDEV") {
        // A filesystem without hard links: rename (which would replace) after one more check.
        await clearPath(p);
        fs.renameSync(tmp, p);
        return;
      }
      throw e;
    }
  }
}
