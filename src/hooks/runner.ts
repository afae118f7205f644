// Alert hooks (behavior.md A10 "Hooks", as amended by B8; counters for B12).
//
// One `/bin/sh -c <command>` per canary/burst alert, with the daemon's environment plus FAN_KIND, FAN_PID,
// FAN_COMM, FAN_EXE, FAN_PATH, FAN_REASON ("" when unknown) and FAN_ALERT_JSON (the alert's JSON line);
// with --process-details also FAN_PPID, FAN_UID, FAN_CONTAINER_ID, FAN_POD_UID ("" when unknown / none).
// Containment (B8):
// - at most `maxConcurrent` hooks run at once; an alert that finds no free slot skips its hook and is
//   counted (`skipped`), never queued;
// - a hook running past `timeoutMs` is killed with SIGKILL (`killed`) — its whole process group, since every
//   hook is started in its own session (`detached: true` → setsid()), so `sh -c 'a; b'` children go too;
// - stdin is /dev/null; stdout and stderr are pipes read line by line into the daemon log as
//   `hook[PID]: <line>`, each line capped at 4 KiB and the bytes kept per hook at 64 KiB (the rest is
//   drained and discarded), so a chatty hook cannot grow memory;
// - signal state: Bun.spawn resets every disposition to default and starts the child with an empty signal
//   mask, whatever the daemon ignores or blocks (checked: a daemon started with INT/PIPE/HUP ignored gives
//   a hook SigIgn 0 / SigBlk 0; test/unit/hooks.test.ts asserts SigBlk and SigIgn of a running hook are 0).
//
// run() is called from the main thread's hot loop: it never blocks and never throws. The spawn itself is
// synchronous (Bun.spawn is vfork-based and fast); the concurrency cap bounds how much of it can pile up
// (design.md: 200 spawns at once stall the loop ~250 ms).
//
// A hook that leaves background children holding its stdout/stderr open: reading stops (the pipes are
// cancelled) at the hook's deadline (start + timeoutMs) or at close(); the children themselves are not
// killed once the hook's shell has exited.

import type { AlertRecord } from "../output-records.ts";
import { errText } from "../errors.ts";
import { DEFAULT_HOOK_MAX_CONCURRENT, DEFAULT_HOOK_TIMEOUT_MS } from "../limits.ts";
import { describeExit, hookEnv } from "./env.ts";
import { newOutputBudget, pumpHookOutput, type ByteReader } from "./output.ts";

export type HookLogLevel = "info" | "warn" | "debug";
export type HookLog = (level: HookLogLevel, msg: string) => void;

/** How a hook process ended. `signal` is the name (or number) of the killing signal, else null. */
export interface HookExit {
  code: number | null;
  signal: string | null;
}

/** The view of a spawned hook that HookRunner needs (a Bun.Subprocess, or a fake in tests). */
export interface HookProcess {
  readonly pid: number;
  readonly stdout: ReadableStream<Uint8Array> | null;
  readonly stderr: ReadableStream<Uint8Array> | null;
  /** Resolves once the process has exited and been reaped. Should not reject (rejection = exited). */
  readonly exited: Promise<HookExit>;
  /** Signal the hook (and its process group). Must not throw once the process is gone. */
  kill(signal: "SIGTERM" | "SIGKILL"): void;
}

/**
 * Starts `argv` with exactly `env` as its environment, stdin from /dev/null, stdout and stderr piped.
 * Throws if the process cannot be started.
 */
export type Spawner = (argv: readonly string[], env: Record<string, string>) => HookProcess;

export interface HookRunnerOptions {
  /** Shell command (text), run as `/bin/sh -c <command>`. */
  command: string;
  /** Default 8. */
  maxConcurrent?: number;
  /** Default 30000. */
  timeoutMs?: number;
  log: HookLog;
  /** Default: bunSpawner (Bun.spawn, own session). */
  spawn?: Spawner;
  /** Environment the FAN_* variables are added to. Default: process.env, as it is at construction. */
  baseEnv?: Record<string, string>;
  /** --process-details: also set FAN_PPID, FAN_UID, FAN_CONTAINER_ID, FAN_POD_UID. */
  processDetails?: boolean;
}

export interface HookCounters {
  run: number;
  skipped: number;
  killed: number;
  failed: number;
}

const SKIP_LOG_INTERVAL_MS = 1000;

/** The default spawner: Bun.spawn in a new session, so a kill reaches the hook's whole process group. */
export const bunSpawner: Spawner = (argv, env) => {
  const proc = Bun.spawn([...argv], {
    env,
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    detached: true,
  });
  const exited: Promise<HookExit> = proc.exited.then(
    () => ({ code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) }),
    () => ({ code: proc.exitCode, signal: proc.signalCode === null ? null : String(proc.signalCode) }),
  );
  return {
    pid: proc.pid,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited,
    kill(signal) {
      // Not yet reaped → the pid (= its process group id, after setsid) is still ours.
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try {
        process.kill(-proc.pid, signal);
      } catch {
        try {
          proc.kill(signal);
        } catch {
          // already gone
        }
      }
    },
  };
};

interface Running {
  readonly proc: HookProcess;
  readonly pid: number;
  readonly startedAt: number;
  timer: ReturnType<typeof setTimeout> | null;
  done: boolean;
  readonly readers: Set<ByteReader>;
  readonly finished: Promise<void>;
}

export class HookRunner {
  readonly counters: HookCounters = { run: 0, skipped: 0, killed: 0, failed: 0 };

  private readonly command: string;
  private readonly maxConcurrent: number;
  private readonly timeoutMs: number;
  private readonly log: HookLog;
  private readonly spawn: Spawner;
  private readonly baseEnv: Record<string, string>;
  private readonly live = new Set<Running>();
  /** Readers still open after their hook exited (background children holding the pipe). */
  private readonly orphanReaders = new Set<ByteReader>();
  private lastSkipLog = -Infinity;
  private closed = false;
  private readonly processDetails: boolean;

  constructor(opts: HookRunnerOptions) {
    this.command = opts.command;
    this.maxConcurrent = Math.max(1, Math.floor(opts.maxConcurrent ?? DEFAULT_HOOK_MAX_CONCURRENT));
    this.timeoutMs = Math.max(1, opts.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS);
    this.log = opts.log;
    this.spawn = opts.spawn ?? bunSpawner;
    const base: Record<string, string> = {};
    const src: Record<string, string | undefined> = opts.baseEnv ?? process.env;
    for (const k of Object.keys(src)) {
      const v = src[k];
      if (v !== undefined) base[k] = v;
    }
    this.baseEnv = base;
    this.processDetails = opts.processDetails ?? false;
  }

  /** Hooks started and not yet exited. */
  get running(): number {
    return this.live.size;
  }

  /** Start the hook for one alert, or skip it. Never blocks on the hook, never throws. */
  run(alert: AlertRecord, alertJsonLine: string): void {
    try {
      if (alert.kind !== "canary" && alert.kind !== "burst") return; // overflow alerts never run a hook
      if (this.closed || this.live.size >= this.maxConcurrent) {
        this.counters.skipped++;
        const now = performance.now();
        if (now - this.lastSkipLog >= SKIP_LOG_INTERVAL_MS) {
          this.lastSkipLog = now;
          this.safeLog(
            "debug",
            this.closed
              ? `hook skipped: shutting down (${this.counters.skipped} skipped so far)`
              : `hook skipped: ${this.live.size} running (${this.counters.skipped} skipped so far)`,
          );
        }
        return;
      }
      this.start(alert, alertJsonLine);
    } catch (e) {
      // Only reachable through a misbehaving log callback or spawner; a hook must never take the loop down.
      try {
        this.counters.failed++;
        this.safeLog("warn", `hook failed: ${errText(e)}`);
      } catch {
        // nothing left to do
      }
    }
  }

  /** Stop every running hook: SIGTERM, SIGKILL after graceMs, and wait for them all to exit. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    const hooks = [...this.live];
    for (const h of hooks) this.signal(h, "SIGTERM");
    let graceTimer: ReturnType<typeof setTimeout> | null = null;
    if (hooks.length > 0) {
      graceTimer = setTimeout(
        () => {
          for (const h of hooks) if (!h.done) this.signal(h, "SIGKILL");
        },
        Math.max(0, graceMs),
      );
    }
    try {
      await Promise.all(hooks.map((h) => h.finished));
    } finally {
      if (graceTimer !== null) clearTimeout(graceTimer);
    }
    for (const r of this.orphanReaders) this.cancelReader(r);
    this.orphanReaders.clear();
  }

  private start(alert: AlertRecord, alertJsonLine: string): void {
    const env = hookEnv(this.baseEnv, alert, alertJsonLine, this.processDetails);
    let proc: HookProcess;
    try {
      proc = this.spawn(["/bin/sh", "-c", this.command], env);
    } catch (e) {
      this.counters.failed++;
      this.safeLog("warn", `hook spawn failed: ${errText(e)}`);
      return;
    }
    this.counters.run++;
    const pid = proc.pid;
    const readers = new Set<ByteReader>();
    const budget = newOutputBudget();
    const startedAt = performance.now();
    const { promise: finished, resolve: resolveFinished } = Promise.withResolvers<void>();
    const h: Running = { proc, pid, startedAt, timer: null, done: false, readers, finished };
    this.live.add(h);

    for (const stream of [proc.stdout, proc.stderr]) {
      if (stream === null) continue;
      let reader: ByteReader;
      try {
        reader = stream.getReader();
      } catch {
        continue;
      }
      readers.add(reader);
      void pumpHookOutput(reader, pid, budget, (level, msg) => this.safeLog(level, msg)).finally(() => {
        readers.delete(reader);
        this.orphanReaders.delete(reader);
      });
    }

    h.timer = setTimeout(() => {
      h.timer = null;
      if (h.done) return;
      this.counters.killed++;
      this.safeLog("warn", `hook[${pid}] killed after ${this.timeoutMs} ms`);
      this.signal(h, "SIGKILL");
    }, this.timeoutMs);

    const onExit = (status: HookExit | null): void => {
      h.done = true;
      if (h.timer !== null) {
        clearTimeout(h.timer);
        h.timer = null;
      }
      this.live.delete(h);
      const ms = Math.round(performance.now() - startedAt);
      this.safeLog("debug", `hook[${pid}] exited (${describeExit(status)}) after ${ms} ms`);
      this.reapReaders(h);
      resolveFinished();
    };
    let exited: Promise<HookExit>;
    try {
      exited = proc.exited;
    } catch {
      exited = Promise.resolve({ code: null, signal: null });
    }
    exited.then(onExit, () => onExit(null));
  }

  /** After the hook's shell exited: stop reading at its deadline if background children keep the pipes open. */
  private reapReaders(h: Running): void {
    if (h.readers.size === 0) return;
    for (const r of h.readers) this.orphanReaders.add(r);
    const left = h.startedAt + this.timeoutMs - performance.now();
    const cancelAll = (): void => {
      for (const r of h.readers) {
        this.orphanReaders.delete(r);
        this.cancelReader(r);
      }
    };
    if (left <= 0) {
      cancelAll();
      return;
    }
    const t = setTimeout(cancelAll, left);
    // Do not keep the process alive only to cancel a reader.
    if (typeof t === "object" && t !== null && "unref" in t) t.unref();
  }

  private cancelReader(r: ByteReader): void {
    try {
      r.cancel().catch(() => {});
    } catch {
      // already released
    }
  }

  private signal(h: Running, sig: "SIGTERM" | "SIGKILL"): void {
    if (h.done) return;
    try {
      h.proc.kill(sig);
    } catch {
      // gone already
    }
  }

  private safeLog(level: HookLogLevel, msg: string): void {
    try {
      this.log(level, msg);
    } catch {
      // a failing logger must not break hooks
    }
  }
}
