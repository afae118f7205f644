import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  HookRunner,
  type HookExit,
  type HookLogLevel,
  type HookProcess,
  type Spawner,
} from "../../src/hooks/runner.ts";
import { HOOK_LINE_MAX } from "../../src/limits.ts";
import type { AlertRecord } from "../../src/output-records.ts";
import { fromByteString, toByteString } from "../../src/bytes.ts";
import { encodeAlert } from "../../src/output-encode.ts";
import { runToExit } from "../support/process.ts";

const dir = mkdtempSync(join(tmpdir(), "fanotifyd-hooks-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE_ENV: Record<string, string> = { PATH: "/usr/bin:/bin", HOOK_TEST_MARKER: "kept" };

function alert(p: Partial<AlertRecord> & Pick<AlertRecord, "kind">): AlertRecord {
  return { pid: 0, comm: "", exe: "", path: "", reason: "", ...p };
}

interface LogLine {
  level: HookLogLevel;
  msg: string;
}

function collector(): { lines: LogLine[]; log: (level: HookLogLevel, msg: string) => void } {
  const lines: LogLine[] = [];
  return { lines, log: (level, msg) => lines.push({ level, msg }) };
}

async function waitFor(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error("waitFor: timed out");
    await Bun.sleep(10);
  }
}

/** Parses `env` output (values here never contain newlines). */
function parseEnv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

/** A fake hook: exits when told to, or when killed. */
class FakeProc implements HookProcess {
  readonly stdout = null;
  readonly stderr = null;
  readonly exited: Promise<HookExit>;
  readonly signals: string[] = [];
  private resolve: (e: HookExit) => void = () => {};
  constructor(readonly pid: number, private readonly ignoreTerm = false) {
    this.exited = new Promise<HookExit>((r) => {
      this.resolve = r;
    });
  }
  exit(code: number): void {
    this.resolve({ code, signal: null });
  }
  kill(signal: "SIGTERM" | "SIGKILL"): void {
    this.signals.push(signal);
    if (signal === "SIGTERM" && this.ignoreTerm) return;
    this.resolve({ code: null, signal });
  }
}

function fakeSpawner(opts: { ignoreTerm?: boolean } = {}): {
  spawn: Spawner;
  procs: FakeProc[];
  calls: { argv: readonly string[]; env: Record<string, string> }[];
} {
  const procs: FakeProc[] = [];
  const calls: { argv: readonly string[]; env: Record<string, string> }[] = [];
  let next = 1000;
  const spawn: Spawner = (argv, env) => {
    calls.push({ argv, env });
    const p = new FakeProc(next++, opts.ignoreTerm ?? false);
    procs.push(p);
    return p;
  };
  return { spawn, procs, calls };
}

function statusField(pid: number, field: string): string | null {
  try {
    const st = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s*(\\S+)`, "m").exec(st);
    return m === null ? null : m[1];
  } catch {
    return null;
  }
}

/**
 * Whether any live (non-zombie) process is left in process group `pgid`. Zombies are skipped: a killed
 * grandchild is reparented to PID 1, which in some containers never reaps it.
 */
function groupAlive(pgid: number): boolean {
  for (const ent of readdirSync("/proc")) {
    if (!/^\d+$/.test(ent)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${ent}/stat`, "utf8");
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(rest[2]) === pgid && rest[0] !== "Z" && rest[0] !== "X") return true;
  }
  return false;
}

describe("HookRunner with /bin/sh", () => {
  test("environment: FAN_* variables, decoded UTF-8 path, alert JSON, base env replaces process env", async () => {
    const out = join(dir, "env1.txt");
    const c = collector();
    const r = new HookRunner({ command: `env > '${out}'`, log: c.log, baseEnv: BASE_ENV });
    const pathText = "/tmp/café/ünïcödé ✓.txt";
    const a = alert({
      kind: "canary",
      pid: 4242,
      comm: "cat",
      exe: "/usr/bin/cat",
      path: toByteString(pathText),
      reason: "canary opened",
    });
    const line = encodeAlert(a, 1700000000000);
    r.run(a, line);
    expect(r.counters.run).toBe(1);
    await waitFor(() => r.running === 0);
    const env = parseEnv(readFileSync(out, "utf8"));
    expect(env.get("FAN_KIND")).toBe("canary");
    expect(env.get("FAN_PID")).toBe("4242");
    expect(env.get("FAN_COMM")).toBe("cat");
    expect(env.get("FAN_EXE")).toBe("/usr/bin/cat");
    expect(env.get("FAN_PATH")).toBe(pathText);
    expect(env.get("FAN_REASON")).toBe("canary opened");
    expect(env.get("FAN_ALERT_JSON")).toBe(fromByteString(line));
    const parsed = JSON.parse(env.get("FAN_ALERT_JSON") ?? "null") as { kind: string; path: string; pid: number };
    expect(parsed).toMatchObject({ kind: "canary", pid: 4242, path: pathText });
    expect(env.get("HOOK_TEST_MARKER")).toBe("kept");
    expect(env.has("HOME")).toBe(false);
    expect(r.counters).toEqual({ run: 1, skipped: 0, killed: 0, failed: 0 });
  });

  test("unknown comm/exe/reason are present and empty; burst alerts run too", async () => {
    const out = join(dir, "env2.txt");
    const r = new HookRunner({ command: `env > '${out}'`, log: () => {}, baseEnv: BASE_ENV });
    const a = alert({ kind: "burst", pid: 7, count: 100, windowMs: 1000 });
    r.run(a, encodeAlert(a, 1));
    await waitFor(() => r.running === 0);
    const env = parseEnv(readFileSync(out, "utf8"));
    expect(env.get("FAN_KIND")).toBe("burst");
    expect(env.get("FAN_PID")).toBe("7");
    for (const k of ["FAN_COMM", "FAN_EXE", "FAN_PATH", "FAN_REASON"]) {
      expect(env.has(k)).toBe(true);
      expect(env.get(k)).toBe("");
    }
  });

  test("overflow alerts never run a hook", async () => {
    const out = join(dir, "overflow.txt");
    const r = new HookRunner({ command: `echo "$FAN_KIND" >> '${out}'`, log: () => {}, baseEnv: BASE_ENV });
    r.run(alert({ kind: "overflow" }), "{}");
    expect(r.running).toBe(0);
    expect(r.counters).toEqual({ run: 0, skipped: 0, killed: 0, failed: 0 });
    // A later alert's hook runs and finishes: the overflow's would have written before it.
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => r.running === 0 && existsSync(out));
    expect(readFileSync(out, "utf8")).toBe("canary\n");
    expect(r.counters).toEqual({ run: 1, skipped: 0, killed: 0, failed: 0 });
  });

  test("stdout and stderr lines reach the log prefixed hook[pid]", async () => {
    const c = collector();
    const r = new HookRunner({
      command: "echo pid=$$; echo to-stdout; echo to-stderr >&2; printf 'no newline'",
      log: c.log,
      baseEnv: BASE_ENV,
    });
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => c.lines.filter((l) => l.level === "info").length >= 4);
    const info = c.lines.filter((l) => l.level === "info").map((l) => l.msg);
    const pidLine = info.find((m) => /pid=\d+$/.test(m));
    expect(pidLine).toBeDefined();
    const pid = /pid=(\d+)$/.exec(pidLine ?? "")?.[1];
    const prefix = `hook[${pid}]: `;
    expect(info).toContain(`${prefix}pid=${pid}`);
    expect(info).toContain(`${prefix}to-stdout`);
    expect(info).toContain(`${prefix}to-stderr`);
    expect(info).toContain(`${prefix}no newline`);
    await waitFor(() => r.running === 0);
    expect(c.lines.some((l) => l.level === "debug" && l.msg.startsWith(`hook[${pid}] exited (exit status 0)`))).toBe(
      true,
    );
  });

  test("a chatty hook: lines capped at 4 KiB, output per hook capped at 64 KiB", async () => {
    const c = collector();
    const r = new HookRunner({
      // one 200 000-byte line, then 100 000 short lines
      command: "head -c 200000 /dev/zero | tr '\\0' a; echo; yes hello | head -n 100000",
      log: c.log,
      baseEnv: BASE_ENV,
    });
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => r.running === 0, 5000);
    // The budget warning comes after the last line kept (the rest is discarded).
    await waitFor(() => c.lines.some((l) => l.level === "warn" && l.msg.includes("bytes of output")), 5000);
    const info = c.lines.filter((l) => l.level === "info").map((l) => l.msg);
    expect(info.length).toBe(1); // the long line used up the whole budget
    const body = info[0].slice(info[0].indexOf(": ") + 2);
    expect(body).toBe("a".repeat(HOOK_LINE_MAX) + " [truncated]");
    expect(c.lines.filter((l) => l.level === "warn" && l.msg.includes("bytes of output")).length).toBe(1);

    const c2 = collector();
    const r2 = new HookRunner({ command: "yes hello | head -n 100000", log: c2.log, baseEnv: BASE_ENV });
    r2.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => r2.running === 0, 5000);
    await waitFor(() => c2.lines.some((l) => l.level === "warn" && l.msg.includes("bytes of output")), 5000);
    const lines2 = c2.lines.filter((l) => l.level === "info");
    // 64 KiB / 6 bytes per line ≈ 10922 lines, never the whole 100 000
    expect(lines2.length).toBeGreaterThan(10000);
    expect(lines2.length).toBeLessThan(11000);
  });

  test("timeout: a hook running past timeoutMs is killed with SIGKILL, with its process group", async () => {
    const c = collector();
    const r = new HookRunner({ command: "sleep 5; echo never", timeoutMs: 200, log: c.log, baseEnv: BASE_ENV });
    const t0 = Date.now();
    r.run(alert({ kind: "canary" }), "{}");
    expect(r.running).toBe(1);
    await waitFor(() => r.running === 0, 2000);
    const elapsed = Date.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(1000);
    expect(r.counters.killed).toBe(1);
    const warn = c.lines.find((l) => l.level === "warn" && /^hook\[\d+\] killed after 200 ms$/.test(l.msg));
    expect(warn).toBeDefined();
    const pid = Number(/hook\[(\d+)\]/.exec(warn?.msg ?? "")?.[1]);
    expect(c.lines.some((l) => l.level === "debug" && l.msg.includes("killed by SIGKILL"))).toBe(true);
    // the `sleep 5` child of the shell went with it
    await waitFor(() => !groupAlive(pid), 1000);
  });

  test("background children holding the pipes: reading stops at the hook's deadline", async () => {
    const c = collector();
    const wrote = join(dir, "late-written");
    // canary: a background child writes "late" after the deadline, then the marker (SIGPIPE ignored,
    // so it gets there whether or not the pipe is still read); burst: a later hook, read normally.
    const r = new HookRunner({
      command: `if [ "$FAN_KIND" = burst ]; then echo after; else echo $$; (trap '' PIPE; sleep 0.6; echo late; : > ${wrote}) & echo now; fi`,
      timeoutMs: 300,
      log: c.log,
      baseEnv: BASE_ENV,
    });
    const info = (): string[] => c.lines.filter((l) => l.level === "info").map((l) => l.msg.slice(l.msg.indexOf(": ") + 2));
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => r.running === 0);
    await waitFor(() => existsSync(wrote));
    // "late" is in the pipe (or refused) by now; a later hook's line is read after anything it held.
    r.run(alert({ kind: "burst" }), "{}");
    await waitFor(() => info().includes("after"));
    expect(info()).toContain("now");
    expect(info()).not.toContain("late");
    expect(r.counters.killed).toBe(0); // the shell itself exited in time
  });

  test("cap: maxConcurrent 2, five alerts → 2 run, 3 skipped; a slot frees up after they finish", async () => {
    const c = collector();
    const r = new HookRunner({ command: "sleep 1", maxConcurrent: 2, log: c.log, baseEnv: BASE_ENV });
    for (let i = 0; i < 5; i++) r.run(alert({ kind: "canary", pid: i }), "{}");
    expect(r.counters.run).toBe(2);
    expect(r.counters.skipped).toBe(3);
    expect(r.running).toBe(2);
    // one debug line for the three skips (at most one per second)
    expect(c.lines.filter((l) => l.msg.startsWith("hook skipped: 2 running")).length).toBe(1);
    await waitFor(() => r.running === 0, 3000);
    r.run(alert({ kind: "burst" }), "{}");
    expect(r.counters.run).toBe(3);
    expect(r.running).toBe(1);
    await r.close(100);
  });

  test("a running hook has an empty signal mask and no ignored signals", async () => {
    const c = collector();
    const r2 = new HookRunner({ command: "echo $$; sleep 2; :", log: c.log, baseEnv: BASE_ENV });
    r2.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => c.lines.some((l) => l.level === "info"));
    const pid = Number(/^hook\[(\d+)\]/.exec(c.lines[0].msg)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(statusField(pid, "SigBlk")).toBe("0000000000000000");
    expect(statusField(pid, "SigIgn")).toBe("0000000000000000");
    await r2.close(100);
    expect(r2.running).toBe(0);
  });

  test("hooks get default dispositions even when the daemon ignores signals", async () => {
    const script = join(dir, "ign.ts");
    const hooksPath = join(import.meta.dir, "../../src/hooks/runner.ts");
    writeFileSync(
      script,
      `import { HookRunner } from ${JSON.stringify(hooksPath)};
const lines: string[] = [];
const r = new HookRunner({ command: "echo $$; sleep 2; :", log: (_l, m) => lines.push(m), baseEnv: { PATH: "/usr/bin:/bin" } });
r.run({ kind: "canary", pid: 1, comm: "", exe: "", path: "", reason: "" }, "{}");
while (lines.length === 0) await Bun.sleep(10);
const pid = /^hook\\[(\\d+)\\]/.exec(lines[0])![1];
const st = await Bun.file("/proc/" + pid + "/status").text();
const self = await Bun.file("/proc/self/status").text();
const f = (s: string, k: string) => new RegExp("^" + k + ":\\\\s*(\\\\S+)", "m").exec(s)![1];
console.log(JSON.stringify({ selfIgn: f(self, "SigIgn"), blk: f(st, "SigBlk"), ign: f(st, "SigIgn") }));
await r.close(100);
`,
    );
    const r = await runToExit(["/bin/sh", "-c", `trap '' INT PIPE HUP QUIT; exec "$0" "$1"`, process.execPath, script], 10_000);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.stdout.trim()) as { selfIgn: string; blk: string; ign: string };
    expect(res.selfIgn).not.toBe("0000000000000000"); // the "daemon" does ignore signals
    expect(res.blk).toBe("0000000000000000");
    expect(res.ign).toBe("0000000000000000");
  });

  test("close() kills running hooks: SIGTERM, then SIGKILL after the grace period", async () => {
    const c = collector();
    const r = new HookRunner({ command: "echo $$; sleep 10; :", log: c.log, baseEnv: BASE_ENV });
    r.run(alert({ kind: "canary" }), "{}");
    r.run(alert({ kind: "canary" }), "{}");
    const stubborn = new HookRunner({ command: "trap '' TERM; echo $$; sleep 10; :", log: c.log, baseEnv: BASE_ENV });
    stubborn.run(alert({ kind: "burst" }), "{}");
    expect(r.running).toBe(2);
    await waitFor(() => c.lines.filter((l) => l.level === "info").length >= 3);
    const pids = c.lines.filter((l) => l.level === "info").map((l) => Number(/^hook\[(\d+)\]/.exec(l.msg)?.[1]));

    let t0 = Date.now();
    await r.close(2000);
    expect(Date.now() - t0).toBeLessThan(1000); // SIGTERM was enough
    expect(r.running).toBe(0);

    t0 = Date.now();
    await stubborn.close(300);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    expect(stubborn.running).toBe(0);
    for (const pid of pids) await waitFor(() => !groupAlive(pid), 1000);

    // after close, new alerts are skipped
    r.run(alert({ kind: "canary" }), "{}");
    expect(r.counters.run).toBe(2);
    expect(r.counters.skipped).toBe(1);
  });
});

describe("HookRunner logic (fake spawner)", () => {
  test("argv, env and counters", () => {
    const f = fakeSpawner();
    const r = new HookRunner({ command: "notify 'x'", log: () => {}, spawn: f.spawn, baseEnv: { A: "1" } });
    r.run(alert({ kind: "canary", pid: 5, comm: toByteString("é") }), '{"x":1}\n');
    expect(f.calls[0].argv).toEqual(["/bin/sh", "-c", "notify 'x'"]);
    expect(f.calls[0].env).toEqual({
      A: "1",
      FAN_KIND: "canary",
      FAN_PID: "5",
      FAN_COMM: "é",
      FAN_EXE: "",
      FAN_PATH: "",
      FAN_REASON: "",
      FAN_ALERT_JSON: '{"x":1}',
    });
  });

  test("cap, skip log rate limit, slot reuse", async () => {
    const f = fakeSpawner();
    const c = collector();
    const r = new HookRunner({ command: "x", maxConcurrent: 2, log: c.log, spawn: f.spawn });
    for (let i = 0; i < 50; i++) r.run(alert({ kind: "canary" }), "{}");
    expect(r.counters).toEqual({ run: 2, skipped: 48, killed: 0, failed: 0 });
    expect(c.lines.filter((l) => l.msg.startsWith("hook skipped")).length).toBe(1);
    f.procs[0].exit(0);
    await f.procs[0].exited;
    expect(r.running).toBe(1);
    r.run(alert({ kind: "canary" }), "{}");
    expect(r.counters.run).toBe(3);
    expect(f.procs.length).toBe(3);
    await r.close(10);
  });

  test("default maxConcurrent is 8", async () => {
    const f = fakeSpawner();
    const r = new HookRunner({ command: "x", log: () => {}, spawn: f.spawn });
    for (let i = 0; i < 10; i++) r.run(alert({ kind: "burst" }), "{}");
    expect(r.counters.run).toBe(8);
    expect(r.counters.skipped).toBe(2);
    await r.close(10);
  });

  test("timeout kills with SIGKILL and frees the slot", async () => {
    const f = fakeSpawner({ ignoreTerm: true });
    const c = collector();
    const r = new HookRunner({ command: "x", timeoutMs: 50, log: c.log, spawn: f.spawn });
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => r.running === 0, 1000);
    expect(f.procs[0].signals).toEqual(["SIGKILL"]);
    expect(r.counters.killed).toBe(1);
    expect(c.lines).toContainEqual({ level: "warn", msg: "hook[1000] killed after 50 ms" });
  });

  test("a hook that exits in time is not killed", async () => {
    const f = fakeSpawner();
    const r = new HookRunner({ command: "x", timeoutMs: 50, log: () => {}, spawn: f.spawn });
    r.run(alert({ kind: "canary" }), "{}");
    f.procs[0].exit(3);
    // A second hook that never exits: its timeout fires after the first one's would have.
    r.run(alert({ kind: "canary" }), "{}");
    await waitFor(() => f.procs[1].signals.length > 0, 1000);
    expect(f.procs[1].signals).toEqual(["SIGKILL"]);
    expect(f.procs[0].signals).toEqual([]);
    expect(r.counters.killed).toBe(1);
  });

  test("spawn failure is logged and counted; run() never throws", () => {
    const c = collector();
    const r = new HookRunner({
      command: "x",
      log: c.log,
      spawn: () => {
        throw new Error("EAGAIN");
      },
    });
    expect(() => r.run(alert({ kind: "canary" }), "{}")).not.toThrow();
    expect(r.counters).toEqual({ run: 0, skipped: 0, killed: 0, failed: 1 });
    expect(r.running).toBe(0);
    expect(c.lines).toContainEqual({ level: "warn", msg: "hook spawn failed: EAGAIN" });

    const r2 = new HookRunner({
      command: "x",
      log: () => {
        throw new Error("log broken");
      },
      spawn: () => {
        throw new Error("EAGAIN");
      },
    });
    expect(() => r2.run(alert({ kind: "canary" }), "{}")).not.toThrow();
    expect(r2.counters.failed).toBe(1);
  });

  test("close(): SIGTERM, then SIGKILL for hooks that ignore it", async () => {
    const f = fakeSpawner({ ignoreTerm: true });
    const r = new HookRunner({ command: "x", log: () => {}, spawn: f.spawn });
    r.run(alert({ kind: "canary" }), "{}");
    r.run(alert({ kind: "canary" }), "{}");
    await r.close(30);
    expect(r.running).toBe(0);
    for (const p of f.procs) expect(p.signals).toEqual(["SIGTERM", "SIGKILL"]);
    expect(r.counters.killed).toBe(0); // close() kills are not timeouts
  });
});
