// Daemon mode without fork() (behavior.md A13, B11). Bun cannot fork, so the invoking process re-executes
// this program as a detached child and waits until the child says it is ready:
//
//   parent (invoking process)                         child (the daemon)
//   startDetached({argv, env, readyTimeoutMs}) ──▶   isDaemonChild() === true
//     Bun.spawn({detached: true}) = setsid():          does the whole start-up (output, socket, marks,
//       new session, no controlling terminal;          pid file), then process.chdir("/") and
//       stdin, stdout → /dev/null; stderr inherited    notifyParent("ready") — or, on failure,
//       fd 3 = one end of a socketpair  ◀────────────  notifyParent({exitCode, message}) and exit
//     "READY=1\n" → resolve {ok: true, pid} → exit 0
//     "ERROR=<code> <message>\n", EOF, child exit or timeout → {ok: false, exitCode, message}
//
// The child is a session leader (one setsid, no second fork): it must not open a terminal device without
// O_NOCTTY. umask is unchanged. The caller does `process.chdir("/")` in the child after start-up; every
// path in the config was made absolute before (B11), so nothing depends on the start directory.
import { closeSync, fstatSync, writeSync } from "node:fs";
import { constants as osConstants } from "node:os";

/** Environment marker telling the re-executed program that it is the daemon child; its value is the fd. */
export const DAEMON_CHILD_ENV = "FANOTIFYD_DAEMON_CHILD";
/** The readiness channel's fd number in the child (stdio index 3). */
const CHILD_FD = 3;

export interface StartDetachedOptions {
  /** The program's own arguments, without the executable or script (normally process.argv.slice(2)). */
  argv: string[];
  /** The child's whole environment (Bun.spawn replaces it; keep PATH). The marker is added to it. */
  env: Record<string, string>;
  /** How long the child may take to report; after it the child is killed (SIGTERM, then SIGKILL). */
  readyTimeoutMs: number;
  /** The program and its leading arguments to run instead of this one (tests). Default: selfCommand(). */
  command?: string[];
}

export type StartDetachedResult =
  | { ok: true; pid: number }
  /** `reported`: the child said why itself (and logged it on the shared stderr). */
  | { ok: false; exitCode: number; message: string; reported?: boolean };

/**
 * How to run this program again: the compiled binary is process.execPath alone (its script lives inside it,
 * process.argv[1] is "/$bunfs/..."); from source it is the bun binary, bun's own flags, and the script.
 */
export function selfCommand(): string[] {
  const script = process.argv[1] ?? Bun.main;
  if (script.startsWith("/$bunfs/") || script.startsWith("B:/~BUN/")) return [process.execPath];
  return [process.execPath, ...process.execArgv, script];
}

/** Grace between SIGTERM and SIGKILL when the child has to be stopped. */
const KILL_GRACE_MS = 500;
/** How long to wait for a child that reported an error (or closed the channel) to exit by itself. */
const EXIT_WAIT_MS = 1000;

function escapeMessage(message: string): string {
  return message.replace(/\\/g, "\\\\").replace(/\r/g, "\\r").replace(/\n/g, "\\n");
}

function unescapeMessage(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c));
}

/** The line the child writes for a readiness message (pure; used by notifyParent and tests). */
export function encodeReadiness(message: "ready" | { exitCode: number; message: string }): string {
  if (message === "ready") return "READY=1\n";
  const code = Number.isInteger(message.exitCode) && message.exitCode > 0 && message.exitCode < 256 ? message.exitCode : 1;
  return `ERROR=${code} ${escapeMessage(message.message)}\n`;
}

type Readiness = { kind: "ready" } | { kind: "error"; exitCode: number; message: string };

/** Parses one line (without its newline) from the child; null for a line that is not part of the protocol. */
export function parseReadiness(line: string): Readiness | null {
  if (line === "READY=1") return { kind: "ready" };
  const m = /^ERROR=(\d+) ?(.*)$/s.exec(line);
  if (!m) return null;
  const code = Number(m[1]);
  return { kind: "error", exitCode: code > 0 && code < 256 ? code : 1, message: unescapeMessage(m[2]) };
}

function signalName(code: number | null): string {
  return code === null ? "a signal" : `signal ${code}`;
}

/**
 * Parent side: starts the daemon child and waits for its word. ok only after "READY=1"; otherwise the
 * child's exit code and message, or exit code 1 when the child died or closed the channel without a word,
 * could not be started, or did not report within readyTimeoutMs (then it is killed).
 */
export async function startDetached(opts: StartDetachedOptions): Promise<StartDetachedResult> {
  const cmd = [...(opts.command ?? selfCommand()), ...opts.argv];
  let proc: ReturnType<typeof spawnChild>;
  try {
    proc = spawnChild(cmd, { ...opts.env, [DAEMON_CHILD_ENV]: String(CHILD_FD) });
  } catch (err) {
    return { ok: false, exitCode: 1, message: `cannot start the daemon process: ${err instanceof Error ? err.message : String(err)}` };
  }
  const channel = proc.stdio[CHILD_FD];
  if (typeof channel !== "number") {
    proc.kill("SIGKILL");
    return { ok: false, exitCode: 1, message: "cannot start the daemon process: no readiness channel" };
  }

  const reader = Bun.file(channel).stream().getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<Outcome>((resolve) => {
    timer = setTimeout(() => resolve({ kind: "timeout" }), opts.readyTimeoutMs);
  });
  const word: Promise<Outcome> = readReadiness(reader).then(
    (r) => (r === "eof" ? { kind: "eof" } : r),
    () => ({ kind: "eof" }),
  );
  const exited: Promise<Outcome> = proc.exited.then(() => ({ kind: "exited" }));

  let outcome = await Promise.race([word, exited, timeout]);
  // The child may exit right after writing its word: prefer the word when it is already there.
  if (outcome.kind === "exited") outcome = await Promise.race([word, Bun.sleep(50).then(() => outcome)]);
  clearTimeout(timer);
  await Promise.race([reader.cancel().catch(() => {}), Bun.sleep(50)]);
  try {
    closeSync(channel); // "socket-fd": the parent end is ours to close
  } catch {
    // already closed
  }

  return resultOf(outcome, proc, opts.readyTimeoutMs);
}

type Outcome = Readiness | { kind: "eof" } | { kind: "exited" } | { kind: "timeout" };

/** The first readiness word on the channel, or "eof". */
async function readReadiness(reader: { read(): Promise<{ done: boolean; value?: Uint8Array }> }): Promise<Readiness | "eof"> {
  const decoder = new TextDecoder();
  let buffered = "";
  for (;;) {
    const nl = buffered.indexOf("\n");
    if (nl >= 0) {
      const parsed = parseReadiness(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
      if (parsed !== null) return parsed;
      continue;
    }
    const { done, value } = await reader.read();
    if (done) return "eof";
    buffered += decoder.decode(value, { stream: true });
  }
}

/** What the parent reports for the child's outcome (waiting for or stopping the child as needed). */
async function resultOf(outcome: Outcome, proc: ReturnType<typeof spawnChild>, readyTimeoutMs: number): Promise<StartDetachedResult> {
  switch (outcome.kind) {
    case "ready":
      proc.unref();
      return { ok: true, pid: proc.pid };
    case "error":
      await waitExit(proc, EXIT_WAIT_MS);
      return { ok: false, exitCode: outcome.exitCode, message: outcome.message, reported: true };
    case "timeout":
      await stop(proc);
      return {
        ok: false,
        exitCode: 1,
        message: `the daemon process (pid ${proc.pid}) did not report ready within ${readyTimeoutMs} ms; killed it`,
      };
    case "eof":
    case "exited": {
      const done = await waitExit(proc, EXIT_WAIT_MS);
      if (!done) {
        await stop(proc);
        return { ok: false, exitCode: 1, message: `the daemon process (pid ${proc.pid}) closed its readiness channel without a word; killed it` };
      }
      const code = proc.exitCode;
      if (code !== null && code !== 0) {
        return { ok: false, exitCode: code, message: `the daemon process exited with code ${code} before it was ready` };
      }
      if (code === 0) return { ok: false, exitCode: 1, message: "the daemon process exited before it was ready" };
      return { ok: false, exitCode: 1, message: `the daemon process was killed by ${signalName(signalNumber(proc.signalCode))} before it was ready` };
    }
  }
}

function spawnChild(cmd: string[], env: Record<string, string>) {
  return Bun.spawn({
    cmd,
    env,
    detached: true, // setsid(): new session and process group, no controlling terminal
    // stdin/stdout: /dev/null; stderr: inherited so start-up errors reach the caller's terminal;
    // fd 3: a socketpair end whose parent side we own and close ("pipe" would leak it here).
    stdio: ["ignore", "ignore", "inherit", "socket-fd"],
  });
}

function signalNumber(name: string | number | null): number | null {
  if (name === null || typeof name === "number") return name;
  const n = (osConstants.signals as Record<string, number | undefined>)[name];
  return typeof n === "number" ? n : null;
}

async function waitExit(proc: { exited: Promise<number> }, ms: number): Promise<boolean> {
  return Promise.race([proc.exited.then(() => true), Bun.sleep(ms).then(() => false)]);
}

async function stop(proc: { exited: Promise<number>; kill(signal?: number | NodeJS.Signals): void }): Promise<void> {
  try {
    proc.kill("SIGTERM");
  } catch {
    return;
  }
  if (await waitExit(proc, KILL_GRACE_MS)) return;
  try {
    proc.kill("SIGKILL");
  } catch {
    return;
  }
  await waitExit(proc, KILL_GRACE_MS);
}

// ---- child side ----

let channelUsed = false;

/**
 * True in the re-executed daemon child: the marker is set and fd 3 is a socket (so a marker inherited by
 * accident never makes us write into some unrelated file). False again once notifyParent() has run.
 */
export function isDaemonChild(): boolean {
  if (channelUsed || process.env[DAEMON_CHILD_ENV] !== String(CHILD_FD)) return false;
  try {
    return fstatSync(CHILD_FD).isSocket();
  } catch {
    return false;
  }
}

/**
 * Child side: tells the waiting parent that start-up succeeded ("ready": the parent exits 0) or failed
 * (the parent exits with `exitCode` and the message; the child should then exit with the same code), then
 * closes the channel and removes the marker from process.env. Does nothing outside a daemon child or on a
 * second call; never throws (a parent already gone gives EPIPE, which is ignored).
 */
export function notifyParent(message: "ready" | { exitCode: number; message: string }): void {
  if (!isDaemonChild()) return;
  channelUsed = true;
  delete process.env[DAEMON_CHILD_ENV];
  const line = Buffer.from(encodeReadiness(message), "utf8");
  try {
    let off = 0;
    while (off < line.length) off += writeSync(CHILD_FD, line, off, line.length - off);
  } catch {
    // parent gone (EPIPE) or channel closed: nobody is waiting any more
  }
  try {
    closeSync(CHILD_FD);
  } catch {
    // already closed
  }
}
