// The one way tests and benches run a child process: spawn it, collect stdout/stderr as they arrive
// (and await a line or pattern in them), track it so cleanup and the exit hook kill it, and await its
// exit with a deadline after which it is SIGKILLed. Every spawn helper of the integration harness and
// the bench is a thin wrapper over spawnChild() / runToExit().

import type { Subprocess } from "bun";
import { atExit } from "./exit.ts";

/** Where a child's stdout or stderr goes: collected ("pipe"), discarded, a pipe nobody reads, a file, or an open fd. */
export type Sink = "pipe" | "ignore" | "unread" | { file: string } | { fd: number };

export interface SpawnOptions {
  cwd?: string;
  /** Merged over process.env (or over nothing, with cleanEnv). */
  env?: Record<string, string>;
  /** Start from an empty environment plus `env` (the bench gives its subjects only PATH). */
  cleanEnv?: boolean;
  /** Default "pipe" for both. */
  stdout?: Sink;
  stderr?: Sink;
  /** Collected characters kept per stream (default 8 MiB); the rest is dropped with a marker line. */
  cap?: number;
}

export interface ExitResult {
  code: number | null;
  signal: string | number | null;
  /** ms from the start of the wait (stop: from the signal) to the exit, or to the kill when timed out. */
  elapsedMs: number;
  /** It did not exit within the deadline and was SIGKILLed. */
  timedOut: boolean;
}

/** What to wait for in a stream: a substring, a pattern, or a predicate over the whole text so far. */
export type Match = string | RegExp | ((text: string) => boolean);

export interface Child {
  readonly pid: number;
  readonly cmd: readonly string[];
  readonly cwd: string | undefined;
  /** The process itself (its stdio fields are what SpawnOptions chose; use stdout()/stderr() for text). */
  readonly proc: Subprocess;
  stdout(): string;
  stderr(): string;
  exited(): boolean;
  /** Sends a signal unless it has exited already. */
  signal(sig: NodeJS.Signals | number): void;
  /** Resolves once the stream's text matches; throws (with both streams) on exit first or after timeoutMs. */
  waitFor(stream: "stdout" | "stderr", m: Match, timeoutMs: number, what?: string): Promise<void>;
  /** Waits for exit (SIGKILL after timeoutMs), then for the collected streams to end. */
  wait(timeoutMs: number): Promise<ExitResult>;
  /** Sends `sig` (default SIGTERM), then wait(timeoutMs). */
  stop(sig?: NodeJS.Signals | number, timeoutMs?: number): Promise<ExitResult>;
}

const DEFAULT_CAP = 8 * 1024 * 1024;

/** Accumulates a stream as text and wakes waiters on every chunk. */
class Collector {
  text = "";
  private dropped = false;
  private waiters: Array<() => void> = [];
  readonly done: Promise<void>;
  constructor(stream: ReadableStream<Uint8Array> | null, private readonly cap: number) {
    this.done = stream === null ? Promise.resolve() : this.pump(stream);
  }
  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const dec = new TextDecoder();
    try {
      for await (const chunk of stream) {
        const s = dec.decode(chunk, { stream: true });
        if (this.text.length < this.cap) this.text += s;
        else if (!this.dropped) {
          this.dropped = true;
          this.text += "\n[... output capped by the test harness ...]\n";
        }
        this.notify();
      }
    } catch {
      // stream torn down with the process
    }
    this.text += dec.decode();
    this.notify();
  }
  private notify(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  changed(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }
}

const live = new Set<Subprocess>();
let hookInstalled = false;

/** Registers a process spawned elsewhere so killAll() and the exit hook kill it too. */
export function track<T extends Subprocess>(p: T): T {
  if (!hookInstalled) {
    hookInstalled = true;
    atExit(0, killAllNow);
  }
  live.add(p);
  void p.exited.then(() => live.delete(p));
  return p;
}

/** SIGKILLs every tracked process without waiting (exit and signal handlers). */
export function killAllNow(): void {
  for (const p of live) {
    try {
      p.kill("SIGKILL");
    } catch {
      // gone
    }
  }
}

/** SIGKILLs every tracked process and waits until all have exited (afterEach). */
export async function killAll(): Promise<void> {
  const procs = [...live];
  killAllNow();
  await Promise.all(procs.map((p) => p.exited));
}

function stdio(s: Sink | undefined): "pipe" | "ignore" | number | ReturnType<typeof Bun.file> {
  if (s === undefined || s === "pipe" || s === "unread") return "pipe";
  if (s === "ignore") return "ignore";
  return "fd" in s ? s.fd : Bun.file(s.file);
}

function matches(text: string, m: Match): boolean {
  if (typeof m === "string") return text.includes(m);
  if (m instanceof RegExp) {
    m.lastIndex = 0; // a /g or /y pattern would otherwise resume where the last test stopped
    return m.test(text);
  }
  return m(text);
}

/** Waits up to timeoutMs for `p` to exit; SIGKILLs it (and waits) otherwise. True if it exited in time. */
async function exitWithin(p: Subprocess, timeoutMs: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const inTime = await Promise.race([
    p.exited.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), timeoutMs);
    }),
  ]);
  clearTimeout(timer);
  if (!inTime) {
    try {
      p.kill("SIGKILL");
    } catch {
      // gone
    }
    await p.exited;
  }
  return inTime;
}

/** Spawns `cmd` (stdin ignored), tracked for cleanup, its piped streams collected as they arrive. */
export function spawnChild(cmd: readonly string[], opts: SpawnOptions = {}): Child {
  const cap = opts.cap ?? DEFAULT_CAP;
  const p = track(
    Bun.spawn([...cmd], {
      stdin: "ignore",
      stdout: stdio(opts.stdout),
      stderr: stdio(opts.stderr),
      cwd: opts.cwd,
      env: { ...(opts.cleanEnv === true ? {} : process.env), ...(opts.env ?? {}) },
    }),
  );
  // "unread" is a pipe too, but nobody reads it; "ignore", files and fds give no stream.
  const collect = (s: Sink | undefined, stream: unknown): Collector =>
    new Collector((s === undefined || s === "pipe") && stream instanceof ReadableStream ? (stream as ReadableStream<Uint8Array>) : null, cap);
  const out = collect(opts.stdout, p.stdout);
  const err = collect(opts.stderr, p.stderr);
  let exited = false;
  void p.exited.then(() => {
    exited = true;
  });
  const both = (): string => `stdout:\n${out.text}\nstderr:\n${err.text}`;
  const wait = async (timeoutMs: number, t0 = performance.now()): Promise<ExitResult> => {
    const inTime = await exitWithin(p, timeoutMs);
    const elapsedMs = performance.now() - t0;
    await Promise.all([out.done, err.done]);
    return { code: p.exitCode, signal: p.signalCode, elapsedMs, timedOut: !inTime };
  };
  const signal = (sig: NodeJS.Signals | number): void => {
    if (!exited) p.kill(sig);
  };
  return {
    pid: p.pid,
    cmd,
    cwd: opts.cwd,
    proc: p,
    stdout: () => out.text,
    stderr: () => err.text,
    exited: () => exited,
    signal,
    waitFor: async (stream, m, timeoutMs, what = JSON.stringify(String(m))) => {
      const c = stream === "stdout" ? out : err;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        if (matches(c.text, m)) return;
        if (exited) {
          await c.done;
          if (matches(c.text, m)) return;
          throw new Error(`${cmd.join(" ")} exited (code=${p.exitCode}, signal=${p.signalCode}) before ${what}; ${both()}`);
        }
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`${cmd.join(" ")}: timed out after ${timeoutMs} ms waiting for ${what}; ${both()}`);
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          c.changed(),
          p.exited,
          new Promise<void>((r) => {
            timer = setTimeout(r, left);
          }),
        ]);
        clearTimeout(timer);
      }
    },
    wait: (timeoutMs) => wait(timeoutMs),
    stop: (sig = "SIGTERM", timeoutMs = 5000) => {
      const t0 = performance.now();
      signal(sig);
      return wait(timeoutMs, t0);
    },
  };
}

export interface RunResult extends ExitResult {
  pid: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `cmd` to completion with a hard deadline (SIGKILL after timeoutMs; a process blocked on a
 * permission event is killable). Never throws on a non-zero exit.
 */
export async function runToExit(cmd: readonly string[], timeoutMs: number, opts: SpawnOptions = {}): Promise<RunResult> {
  const t0 = performance.now();
  const c = spawnChild(cmd, opts);
  const r = await c.wait(timeoutMs);
  return { ...r, elapsedMs: performance.now() - t0, pid: c.pid, stdout: c.stdout(), stderr: c.stderr() };
}
