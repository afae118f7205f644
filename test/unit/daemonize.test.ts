import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  DAEMON_CHILD_ENV,
  encodeReadiness,
  isDaemonChild,
  parseReadiness,
  startDetached,
} from "../../src/lifecycle/daemonize.ts";

let dir = "";
let helper = "";
const started: number[] = [];
const modulePath = path.resolve(import.meta.dir, "../../src/lifecycle/daemonize.ts");

// The daemon child stand-in: reports according to its first argument, then records what it sees.
const HELPER = `
import fs from "node:fs";
import { isDaemonChild, notifyParent } from ${JSON.stringify(modulePath)};
const [mode, report] = process.argv.slice(2);
const wasChild = isDaemonChild();
await Bun.sleep(100);
switch (mode) {
  case "ready":
    notifyParent("ready");
    process.chdir("/");
    fs.writeFileSync(report, JSON.stringify({
      wasChild,
      childAfter: isDaemonChild(),
      marker: process.env.FANOTIFYD_DAEMON_CHILD ?? null,
      stdin: fs.readlinkSync("/proc/self/fd/0"),
      stdout: fs.readlinkSync("/proc/self/fd/1"),
      fd3Open: fs.existsSync("/proc/self/fd/3"),
    }));
    await Bun.sleep(30000);
    break;
  case "error":
    process.stderr.write("helper: failing on purpose\\n");
    notifyParent({ exitCode: 3, message: "fanotify_init failed: Operation not permitted\\nsecond line" });
    process.exit(3);
  case "silent-exit":
    process.exit(5);
  case "close-and-hang":
    fs.closeSync(3);
    await Bun.sleep(30000);
    break;
  case "hang":
    await Bun.sleep(30000);
    break;
}
`;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-daemonize-"));
  helper = path.join(dir, "helper.ts");
  fs.writeFileSync(helper, HELPER);
});
afterEach(() => {
  for (const pid of started.splice(0)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const env = (): Record<string, string> => ({ PATH: process.env.PATH ?? "/usr/bin:/bin" });
const command = () => [process.execPath, helper];

function session(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
  // fields after "(comm)": state ppid pgrp session ...
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "latin1");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

async function waitFor(file: string): Promise<string> {
  for (let i = 0; i < 200; i++) {
    if (fs.existsSync(file) && fs.statSync(file).size > 0) return fs.readFileSync(file, "utf8");
    await Bun.sleep(10);
  }
  throw new Error(`${file} never appeared`);
}

describe("readiness protocol lines", () => {
  test("ready and error round-trip, with newlines in the message", () => {
    expect(encodeReadiness("ready")).toBe("READY=1\n");
    const line = encodeReadiness({ exitCode: 2, message: "a\\b\nc" });
    expect(line).toBe("ERROR=2 a\\\\b\\nc\n");
    expect(parseReadiness(line.slice(0, -1))).toEqual({ kind: "error", exitCode: 2, message: "a\\b\nc" });
    expect(parseReadiness("READY=1")).toEqual({ kind: "ready" });
    expect(parseReadiness("STATUS=whatever")).toBeNull();
    expect(encodeReadiness({ exitCode: 0, message: "x" })).toBe("ERROR=1 x\n"); // never report success as an error code
  });

  test("this test process is not a daemon child", () => {
    expect(process.env[DAEMON_CHILD_ENV]).toBeUndefined();
    expect(isDaemonChild()).toBe(false);
  });
});

describe("startDetached", () => {
  test("ready: ok with the child's pid; the child runs in its own session with /dev/null stdin/stdout", async () => {
    const report = path.join(dir, "ready.json");
    const t0 = performance.now();
    const r = await startDetached({ argv: ["ready", report], env: env(), readyTimeoutMs: 10000, command: command() });
    const elapsed = performance.now() - t0;
    if (!r.ok) throw new Error(`expected ok, got ${r.exitCode} ${r.message}`);
    started.push(r.pid);
    expect(elapsed).toBeGreaterThanOrEqual(100); // waited for the word, not just the spawn
    expect(alive(r.pid)).toBe(true);
    expect(session(r.pid)).toBe(r.pid); // setsid(): session leader of a new session
    expect(session(r.pid)).not.toBe(session(process.pid));
    const seen = JSON.parse(await waitFor(report)) as Record<string, unknown>;
    expect(seen).toEqual({
      wasChild: true,
      childAfter: false,
      marker: null,
      stdin: "/dev/null",
      stdout: "/dev/null",
      fd3Open: false,
    });
    expect(fs.readlinkSync(`/proc/${r.pid}/cwd`)).toBe("/");
  });

  test("error: the child's exit code and message", async () => {
    const r = await startDetached({ argv: ["error"], env: env(), readyTimeoutMs: 10000, command: command() });
    expect(r).toEqual({
      ok: false,
      exitCode: 3,
      message: "fanotify_init failed: Operation not permitted\nsecond line",
      reported: true,
    });
  });

  test("a child that exits without a word: its exit code", async () => {
    const r = await startDetached({ argv: ["silent-exit"], env: env(), readyTimeoutMs: 10000, command: command() });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exitCode).toBe(5);
      expect(r.message).toContain("exited with code 5 before it was ready");
    }
  });

  test("a child that closes the channel and lingers is killed", async () => {
    const r = await startDetached({ argv: ["close-and-hang"], env: env(), readyTimeoutMs: 10000, command: command() });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exitCode).toBe(1);
      expect(r.message).toContain("closed its readiness channel without a word");
      const pid = Number(/pid (\d+)/.exec(r.message)?.[1]);
      expect(alive(pid)).toBe(false);
    }
  });

  test("timeout: exit code 1, and the child is killed", async () => {
    const r = await startDetached({ argv: ["hang"], env: env(), readyTimeoutMs: 400, command: command() });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exitCode).toBe(1);
      expect(r.message).toMatch(/did not report ready within 400 ms; killed it/);
      const pid = Number(/pid (\d+)/.exec(r.message)?.[1]);
      expect(alive(pid)).toBe(false);
    }
  });

  test("a program that cannot be run: exit code 1 with the reason", async () => {
    const r = await startDetached({ argv: [], env: env(), readyTimeoutMs: 1000, command: [path.join(dir, "no-such-program")] });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.exitCode).toBe(1);
      expect(r.message).toMatch(/cannot start the daemon process|before it was ready/);
    }
  });

  test("no file descriptors leak in the parent", async () => {
    const before = fs.readdirSync("/proc/self/fd").length;
    for (const mode of ["error", "silent-exit"]) {
      await startDetached({ argv: [mode], env: env(), readyTimeoutMs: 10000, command: command() });
    }
    await Bun.sleep(50);
    expect(fs.readdirSync("/proc/self/fd").length).toBeLessThanOrEqual(before);
  });
});
