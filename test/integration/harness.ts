// Integration test helpers: run the compiled fanotifyd binary against private tmpfs mounts.
//
// SAFETY: every mark a test asks for must lie on a tmpfs mount created by makeTmpfs() (or name a path
// that does not exist, for the failure tests). startDaemon()/runDaemon() check the mark arguments and
// refuse anything else, so a typo can never mark `/`, /tmp or a filesystem the machine runs from.
// Every tmpfs is unmounted (umount -l) and every daemon killed in afterEach, and again at process exit.

import { test } from "bun:test";
import {
  accessSync,
  constants as fsConstants,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  rmdirSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { atExit } from "../support/exit.ts";
import { assertSafeMarks, makeTmpDir, releaseMounts } from "../support/mounts.ts";
import { readJsonl, waitFor, waitForRecord, type JsonRecord } from "../support/jsonl.ts";
import { countFds } from "../support/procfs.ts";
import { killAll, runToExit, spawnChild, track, type Child, type ExitResult, type RunResult, type Sink } from "../support/process.ts";

export const REPO = resolve(import.meta.dir, "../..");
export const BIN = process.env.FANOTIFYD_BIN ?? join(REPO, "fanotifyd");
export const READY = "INFO  fanotifyd started (pid=";
export const VERSION: string = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string })
  .version;

// ---------------------------------------------------------------------------------------------------
// requireIntegration

let statusCache: { ok: true } | { ok: false; reason: string } | undefined;
let reasonPrinted = false;

function probeTmpfsMount(): string | null {
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(tmpdir(), "fanotifyd-probe-"));
    const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir], { stderr: "pipe" });
    if (r.exitCode !== 0) return `cannot mount a private tmpfs: ${r.stderr.toString().trim()}`;
    Bun.spawnSync(["umount", "-l", dir]);
    return null;
  } catch (e) {
    return `cannot mount a private tmpfs: ${String(e)}`;
  } finally {
    if (dir !== undefined) {
      try {
        rmdirSync(dir);
      } catch {
        // left for the OS tmp cleaner; it is an empty directory
      }
    }
  }
}

export function integrationStatus(): { ok: true } | { ok: false; reason: string } {
  if (statusCache) return statusCache;
  let reason: string | null = null;
  if (process.platform !== "linux") reason = "not Linux";
  else if (typeof process.getuid !== "function" || process.getuid() !== 0) reason = "not running as root";
  else if (!existsSync("/proc/sys/fs/fanotify/max_queued_events")) reason = "kernel has no fanotify";
  else if (!existsSync(BIN)) reason = `daemon binary ${BIN} not built (run: bun build.ts)`;
  else {
    try {
      accessSync(BIN, fsConstants.X_OK);
    } catch {
      reason = `daemon binary ${BIN} is not executable`;
    }
  }
  if (reason === null) reason = probeTmpfsMount();
  statusCache = reason === null ? { ok: true } : { ok: false, reason };
  return statusCache;
}

/**
 * Whether the integration tests of the calling file can run. Call at the top level of a test file and
 * wrap its tests in `describe.skipIf(!RUN)`. When they cannot run, prints the reason once; with
 * FANOTIFYD_REQUIRE_INTEGRATION=1 it also registers a failing test, so a skip becomes a failure.
 */
export function requireIntegration(): boolean {
  const st = integrationStatus();
  if (st.ok) return true;
  const required = process.env.FANOTIFYD_REQUIRE_INTEGRATION === "1";
  if (!reasonPrinted) {
    reasonPrinted = true;
    console.warn(`fanotifyd integration tests ${required ? "CANNOT RUN" : "skipped"}: ${st.reason}`);
  }
  if (required) {
    test("integration prerequisites (FANOTIFYD_REQUIRE_INTEGRATION=1)", () => {
      throw new Error(`integration tests required but cannot run: ${st.reason}`);
    });
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// private tmpfs mounts and the mark safety check: test/support/mounts.ts

export { assertSafeMarks, makeTmpDir, makeTmpfs, trackInnerMount, type Tmpfs } from "../support/mounts.ts";

// ---------------------------------------------------------------------------------------------------
// running the daemon and other processes: thin wrappers over test/support/process.ts

export { killAll as killAllDaemons, runToExit as runTimed, spawnChild, track, type Child as Proc, type RunResult, type RunResult as TimedRunResult } from "../support/process.ts";
export type StopResult = ExitResult;

export interface Daemon extends Child {
  /** The daemon's arguments (with the -f startDaemon adds). */
  readonly args: readonly string[];
  /** The directory it runs in: relative mark paths resolve against it (REPO unless StartOptions.cwd). */
  readonly cwd: string;
}

export interface StartOptions {
  /** Readiness timeout (default 10 s). */
  readyTimeoutMs?: number;
  /** Extra environment (merged over process.env). */
  env?: Record<string, string>;
  /** Default REPO. */
  cwd?: string;
  /** Default "pipe" (collected); "unread" keeps a pipe nobody reads (a stalled output). */
  stdout?: Sink;
  stderr?: Sink;
  /** Commands run before the binary (e.g. ["taskset", "-c", "0"]). */
  prefix?: readonly string[];
}

/**
 * Spawns BIN ARGS in opts.cwd (default REPO) after checking its marks against that same directory;
 * does not wait for readiness (startDaemon does).
 */
export function spawnDaemon(args: readonly string[], opts: StartOptions): Daemon {
  const cwd = opts.cwd ?? REPO;
  assertSafeMarks(args, cwd);
  const c = spawnChild([...(opts.prefix ?? []), BIN, ...args], { cwd, env: opts.env, stdout: opts.stdout, stderr: opts.stderr });
  return { ...c, args, cwd };
}

/** Starts `fanotifyd -f ARGS` and resolves once it has logged the readiness line (READY). */
export async function startDaemon(args: readonly string[], opts: StartOptions = {}): Promise<Daemon> {
  const d = spawnDaemon(["-f", ...args], opts);
  try {
    await d.waitFor("stderr", READY, opts.readyTimeoutMs ?? 10_000, "becoming ready");
  } catch (e) {
    await d.stop("SIGKILL");
    throw e;
  }
  return d;
}

/** SIGTERM; throws (with its stderr) unless the daemon exits 0, and within `withinMs` when given. */
export async function stopClean(d: Child, withinMs?: number): Promise<ExitResult> {
  const st = await d.stop("SIGTERM", 5000);
  if (st.code !== 0 || (withinMs !== undefined && st.elapsedMs > withinMs)) {
    throw new Error(`SIGTERM: exit ${st.code}/${st.signal} after ${Math.round(st.elapsedMs)} ms (timedOut=${st.timedOut}); stderr:\n${d.stderr()}`);
  }
  return st;
}

/** Runs `fanotifyd ARGS` (no -f added) to completion; SIGKILL after timeoutMs. */
export async function runDaemon(args: readonly string[], timeoutMs = 5000, opts: StartOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  const d = spawnDaemon(args, opts);
  const r = await d.wait(timeoutMs);
  return { ...r, elapsedMs: performance.now() - t0, pid: d.pid, stdout: d.stdout(), stderr: d.stderr() };
}

/**
 * Spawns any command (a `fanotifyd tail`, a foreground daemon started exactly as written) in opts.cwd
 * (default REPO), its stdout/stderr collected; killed by cleanupAll(). When cmd[0] is BIN its marks
 * are checked against that directory first.
 */
export function spawnProcess(cmd: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Child {
  const cwd = opts.cwd ?? REPO;
  if (cmd[0] === BIN) assertSafeMarks(cmd.slice(1), cwd);
  return spawnChild(cmd, { cwd, env: opts.env });
}

/** A command that stays alive (attributable: comm/exe readable) until released (its stdin closed). */
export function held(cmd: string[]): { pid: number; release(): Promise<void> } {
  const p = track(Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe" }));
  return {
    pid: p.pid,
    release: async () => {
      p.stdin.end();
      await p.exited;
    },
  };
}

/** Runs a command to completion (60 s at most); throws with its stderr on a non-zero exit. */
export async function run(cmd: string[], opts: { cwd?: string } = {}): Promise<{ pid: number; stdout: string }> {
  const r = await runToExit(cmd, 60_000, opts);
  if (r.code !== 0) throw new Error(`${cmd.join(" ")} exited ${r.code ?? r.signal}: ${r.stderr}`);
  return { pid: r.pid, stdout: r.stdout };
}

/** afterEach: kill daemons and helpers, unmount every tmpfs, remove scratch dirs. */
export async function cleanupAll(): Promise<void> {
  await killAll();
  releaseMounts();
  if (helperDir !== undefined) {
    rmSync(helperDir, { recursive: true, force: true });
    helperDir = undefined;
    helperPath = undefined;
  }
}
// ---------------------------------------------------------------------------------------------------
// reading the output: test/support/jsonl.ts

export {
  eventsOf,
  hasEvent,
  parseJsonl,
  readJsonl,
  readLines,
  waitFor,
  waitForRecord,
  type JsonRecord,
  type ReadOptions,
  type WaitOptions,
  type WaitResult,
} from "../support/jsonl.ts";

// ---------------------------------------------------------------------------------------------------
// record shape

/** behavior.md A7: event record key order. comm, exe and name may be omitted. */
export const EVENT_KEYS = [
  "schema_version",
  "type",
  "ts_ms",
  "mask",
  "events",
  "decision",
  "job_id",
  "path_role",
  "pid",
  "comm",
  "exe",
  "path",
  "name",
  "is_dir",
] as const;
export const EVENT_OPTIONAL_KEYS = new Set<string>(["comm", "exe", "name"]);

/** Returns a description of what is wrong with the key order/presence of an event record, or null. */
export function eventKeyProblem(r: JsonRecord): string | null {
  const keys = Object.keys(r);
  const allowed = new Set<string>(EVENT_KEYS);
  const unknown = keys.filter((k) => !allowed.has(k));
  if (unknown.length) return `unknown keys ${unknown.join(",")}`;
  const missing = EVENT_KEYS.filter((k) => !EVENT_OPTIONAL_KEYS.has(k) && !keys.includes(k));
  if (missing.length) return `missing keys ${missing.join(",")}`;
  const expected = EVENT_KEYS.filter((k) => keys.includes(k));
  if (expected.join(",") !== keys.join(",")) return `key order ${keys.join(",")} != ${expected.join(",")}`;
  return null;
}

// ---------------------------------------------------------------------------------------------------
// a fast C file-churn helper (falls back to sh when no compiler)

const HELPER_C = String.raw`
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* churn create DIR N : create N empty files f0..f(N-1)
   churn loop DIR     : forever open/write/close DIR/l(i%64) */
int main(int argc, char **argv) {
  char p[4096];
  if (argc >= 4 && strcmp(argv[1], "create") == 0) {
    long n = atol(argv[3]);
    for (long i = 0; i < n; i++) {
      snprintf(p, sizeof p, "%s/f%ld", argv[2], i);
      int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) { perror(p); return 1; }
      close(fd);
    }
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "loop") == 0) {
    for (unsigned long i = 0;; i++) {
      snprintf(p, sizeof p, "%s/l%lu", argv[2], i % 64);
      int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) { perror(p); return 1; }
      if (write(fd, "0123456789abcdef", 16) < 0) { perror("write"); return 1; }
      close(fd);
    }
  }
  fprintf(stderr, "usage: churn create DIR N | churn loop DIR\n");
  return 2;
}
`;

let helperDir: string | undefined;
let helperPath: string | null | undefined;

function churnBinary(): string | null {
  if (helperPath !== undefined) return helperPath;
  atExit(1, () => {
    if (helperDir !== undefined) rmSync(helperDir, { recursive: true, force: true });
  });
  helperDir = realpathSync(mkdtempSync(join(tmpdir(), "fanotifyd-it-bin-")));
  writeFileSync(join(helperDir, "churn.c"), HELPER_C);
  const out = join(helperDir, "churn");
  const r = Bun.spawnSync(["cc", "-O2", "-o", out, join(helperDir, "churn.c")], { stderr: "pipe", stdout: "pipe" });
  helperPath = r.exitCode === 0 ? out : null;
  return helperPath;
}

/** Command that creates `n` empty files f0..f(n-1) in `dir` as fast as possible. */
export function createFilesCommand(dir: string, n: number): string[] {
  const bin = churnBinary();
  if (bin) return [bin, "create", dir, String(n)];
  return ["sh", "-c", `cd "$1" && i=0; while [ $i -lt ${n} ]; do : > f$i; i=$((i+1)); done`, "sh", dir];
}

/** Command that rewrites files in `dir` flat out until killed. */
export function churnLoopCommand(dir: string): string[] {
  const bin = churnBinary();
  if (bin) return [bin, "loop", dir];
  return ["sh", "-c", `cd "$1" && i=0; while :; do echo x > l$((i%64)); i=$((i+1)); done`, "sh", dir];
}

export function maxQueuedEvents(): number {
  try {
    return Number(readFileSync("/proc/sys/fs/fanotify/max_queued_events", "utf8").trim()) || 16384;
  } catch {
    return 16384;
  }
}

/** /proc/self/comm of the test runner (the writer when tests touch files themselves). */
export const SELF_COMM = readFileSync("/proc/self/comm", "utf8").trim();

// ---------------------------------------------------------------------------------------------------
// behavior.md A8: the `events` string of a mask

const EVENT_BITS: ReadonlyArray<readonly [string, bigint]> = [
  ["ACCESS", 0x1n],
  ["MODIFY", 0x2n],
  ["ATTRIB", 0x4n],
  ["CLOSE_WRITE", 0x8n],
  ["CLOSE_NOWRITE", 0x10n],
  ["OPEN", 0x20n],
  ["MOVED_FROM", 0x40n],
  ["MOVED_TO", 0x80n],
  ["CREATE", 0x100n],
  ["DELETE", 0x200n],
  ["DELETE_SELF", 0x400n],
  ["MOVE_SELF", 0x800n],
  ["OPEN_EXEC", 0x1000n],
  ["Q_OVERFLOW", 0x4000n],
  ["FS_ERROR", 0x8000n],
  ["OPEN_PERM", 0x10000n],
  ["ACCESS_PERM", 0x20000n],
  ["OPEN_EXEC_PERM", 0x40000n],
  ["RENAME", 0x10000000n],
  ["ONDIR", 0x40000000n],
];

export function formatEvents(mask: number | bigint): string {
  let m = BigInt(mask);
  const out: string[] = [];
  for (const [name, bit] of EVENT_BITS) {
    if (m & bit) {
      out.push(name);
      m &= ~bit;
    }
  }
  if (m !== 0n) out.push("0x" + m.toString(16));
  return out.join(",");
}

// ---------------------------------------------------------------------------------------------------
// helpers for the permission-mode tests (policy.test.ts, perm.test.ts)

export { countFds } from "../support/procfs.ts";

/**
 * The daemon's fd count once it is back within `slack` of `before` (fds of the last read may still
 * be open for a moment), or the count after 3 s if it never gets there (the caller asserts on it).
 */
export async function fdCountSettled(d: Daemon, before: number, slack = 5): Promise<number> {
  let after = countFds(d.pid);
  await waitFor(
    () => {
      after = countFds(d.pid);
      return after <= before + slack;
    },
    3000,
    `daemon fd count back near ${before} (now ${after})`,
    d,
  ).catch(() => undefined);
  return after;
}

// ---------------------------------------------------------------------------------------------------
// helpers for the daemon-mode, socket, hook and example tests (lifecycle-daemon, socket, hooks,
// examples)

import { sysClose as ffiClose, sysPoll as ffiPoll, errno as ffiErrno, strerror as ffiStrerror } from "../../ffi/libc.ts";
import {
  AF_UNIX as FFI_AF_UNIX,
  MSG_DONTWAIT as FFI_MSG_DONTWAIT,
  SOCK_CLOEXEC as FFI_SOCK_CLOEXEC,
  SOCK_DGRAM as FFI_SOCK_DGRAM,
  SOCK_NONBLOCK as FFI_SOCK_NONBLOCK,
  sockaddrUn as ffiSockaddrUn,
  sysBind as ffiBind,
  sysRecv as ffiRecv,
  sysSocket as ffiSocket,
} from "../../ffi/socket.ts";

export interface DaemonModeResult {
  /** pid of the invoking (parent) process. */
  parentPid: number;
  code: number | null;
  signal: string | number | null;
  timedOut: boolean;
  /** File that receives the parent's stderr, which the detached daemon inherits (its log). */
  logFile: string;
  /** The log so far. */
  log(): string;
}

/**
 * Runs `fanotifyd ARGS` without -f (daemon mode) until the invoking process exits (SIGKILL after
 * timeoutMs). Its stdout and stderr go to files, not pipes: the detached daemon inherits stderr and
 * would hold a pipe open. The daemon itself keeps running: kill it in afterEach (killPid).
 */
export async function runDaemonMode(args: readonly string[], opts: StartOptions & { cwd: string; timeoutMs?: number }): Promise<DaemonModeResult> {
  const logDir = makeTmpDir("fanotifyd-it-log-");
  const logFile = join(logDir, "stderr.log");
  const d = spawnDaemon(args, { ...opts, stdout: { file: join(logDir, "stdout.log") }, stderr: { file: logFile } });
  const r = await d.wait(opts.timeoutMs ?? 15_000);
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  return { parentPid: d.pid, code: r.code, signal: r.signal, timedOut: r.timedOut, logFile, log };
}

/** Whether `pid` is gone (or a zombie: it has released its files and marks). */
export function pidGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "Z" || state === "X";
  } catch {
    return true;
  }
}

/** Waits until `pid` is gone; false after timeoutMs. */
export async function waitPidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!pidGone(pid)) {
    if (Date.now() >= deadline) return false;
    await Bun.sleep(20);
  }
  return true;
}

/** pids of live fanotifyd processes (our binary) that have `arg` as one of their arguments. */
export function fanotifydPidsWithArg(arg: string): number[] {
  const pids: number[] = [];
  for (const ent of readdirSync("/proc")) {
    if (!/^\d+$/.test(ent)) continue;
    const pid = Number(ent);
    if (pid === process.pid || pidGone(pid)) continue;
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, "latin1").split("\0");
      if (args[0] !== BIN || !args.includes(arg)) continue;
      pids.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** SIGKILLs one process by pid (never by name) and waits (up to 5 s) until it is gone. */
export async function killPid(pid: number): Promise<void> {
  if (pidGone(pid)) return;
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    return;
  }
  await waitPidGone(pid, 5000);
}

/** The stats records a daemon wrote to its log (behavior.md B12), oldest first. */
export function statsFromLog(log: string): JsonRecord[] {
  const out: JsonRecord[] = [];
  for (const line of log.split("\n")) {
    const i = line.indexOf('{"type":"stats"');
    if (i >= 0) out.push(JSON.parse(line.slice(i)) as JsonRecord);
  }
  return out;
}

/**
 * Sends SIGUSR2 to a foreground daemon and resolves with the stats record it then writes to `out`
 * (the first stats record after those already there).
 */
export async function requestStats(d: Daemon, out: string, timeoutMs = 5000): Promise<JsonRecord> {
  const before = readJsonl(out, { strict: false }).filter((r) => r.type === "stats").length;
  d.signal("SIGUSR2");
  let seen = 0;
  const res = await waitForRecord(out, (r) => r.type === "stats" && ++seen > before, timeoutMs, { daemon: d });
  return res.record;
}

/** Polls the daemon's stats (SIGUSR2) until it counts at least `n` subscribers. */
export async function waitSubscribers(d: Daemon, out: string, n: number, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await requestStats(d, out, timeoutMs);
    if (typeof st.subscribers === "number" && st.subscribers >= n) return;
    if (Date.now() >= deadline) throw new Error(`daemon counts ${String(st.subscribers)} subscriber(s), expected ${n}; stderr:\n${d.stderr()}`);
    await Bun.sleep(30);
  }
}

/** The service manager's end of $NOTIFY_SOCKET: a bound AF_UNIX datagram socket (sd_notify(3)). */
export interface NotifyListener {
  readonly path: string;
  /** Every datagram received so far. */
  readonly messages: string[];
  /** Waits (polling, never blocking the event loop) for a datagram containing `needle`. */
  waitFor(needle: string, timeoutMs: number): Promise<string>;
  close(): void;
}

const liveNotify = new Set<NotifyListener>();

export function makeNotifyListener(): NotifyListener {
  const path = join(makeTmpDir("fanotifyd-it-notify-"), "notify.sock");
  const sa = ffiSockaddrUn(path);
  if (sa === null) throw new Error(`notify socket path too long: ${path}`);
  const fd = ffiSocket(FFI_AF_UNIX, FFI_SOCK_DGRAM | FFI_SOCK_NONBLOCK | FFI_SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${ffiStrerror(ffiErrno())}`);
  if (ffiBind(fd, sa.addr, sa.len) !== 0) {
    const e = ffiErrno();
    ffiClose(fd);
    throw new Error(`bind(${path}): ${ffiStrerror(e)}`);
  }
  let closed = false;
  const messages: string[] = [];
  let consumed = 0;
  const drain = (): void => {
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    dv.setInt32(0, fd, true);
    dv.setInt16(4, 1 /* POLLIN */, true);
    while (!closed && ffiPoll(pfd, 1, 0) > 0) {
      const buf = new Uint8Array(4096);
      const n = ffiRecv(fd, buf, buf.length, FFI_MSG_DONTWAIT);
      if (n < 0) break;
      messages.push(Buffer.from(buf.subarray(0, n)).toString("utf8"));
    }
  };
  const l: NotifyListener = {
    path,
    messages,
    waitFor: async (needle, timeoutMs) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        drain();
        for (; consumed < messages.length; consumed++) {
          if (messages[consumed]!.includes(needle)) return messages[consumed++]!;
        }
        if (Date.now() >= deadline) throw new Error(`no ${JSON.stringify(needle)} datagram on ${path} after ${timeoutMs} ms; got ${JSON.stringify(messages)}`);
        await Bun.sleep(10);
      }
    },
    close: () => {
      if (closed) return;
      closed = true;
      liveNotify.delete(l);
      ffiClose(fd);
    },
  };
  liveNotify.add(l);
  return l;
}

/** Closes every notify listener still open (afterEach). */
export function closeNotifyListeners(): void {
  for (const l of [...liveNotify]) l.close();
}

/** Absolute path of an installed command (as `command -v` finds it), or null. */
export function commandPath(cmd: string): string | null {
  const r = Bun.spawnSync(["sh", "-c", `command -v ${cmd}`], { stdout: "pipe" });
  return r.exitCode === 0 ? r.stdout.toString().trim() : null;
}
