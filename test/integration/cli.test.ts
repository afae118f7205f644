// Exit codes and messages of the real binary (behavior.md A1, A2, A3, B13, B15).

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  READY,
  VERSION,
  cleanupAll,
  killAllDaemons,
  makeTmpDir,
  makeTmpfs,
  requireIntegration,
  runDaemon,
  type RunResult,
  type Tmpfs,
} from "./harness.ts";

const RUN = requireIntegration();

function lines(s: string): string[] {
  return s.split("\n").filter((l) => l.trim() !== "");
}

function describeRun(r: RunResult): string {
  return `code=${r.code} signal=${r.signal} timedOut=${r.timedOut}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
}

/** Usage error: exit 2, the message on stderr, a --help hint, nothing else; the daemon never starts. */
function expectUsageError(r: RunResult, message: string): void {
  const ctx = describeRun(r);
  expect({ code: r.code, ctx }).toEqual({ code: 2, ctx });
  expect(r.stderr).toContain(message);
  expect(r.stderr).not.toContain(READY);
  expect(r.stdout).toBe("");
}

describe.skipIf(!RUN)("command line errors and info flags", () => {
  let fs: Tmpfs;
  beforeAll(() => {
    fs = makeTmpfs(); // a safe mark target, so each error below is the only thing wrong
  });
  afterEach(killAllDaemons);
  afterAll(cleanupAll);

  test("unknown option: exit 2, one-line error plus a --help hint", async () => {
    const r = await runDaemon(["-f", "--watch", fs.dir, "--bad-flag"]);
    expectUsageError(r, "unrecognized option '--bad-flag'");
    expect(r.stderr).toContain("--help");
    expect(lines(r.stderr).length).toBeLessThanOrEqual(2);
  });

  test("bad number: exit 2", async () => {
    const r = await runDaemon(["-f", "--watch", fs.dir, "--burst-threshold", "abc"]);
    expectUsageError(r, "invalid --burst-threshold value 'abc'");
    expect(r.stderr).toContain("--help");
  });

  test("no marks: exit 2", async () => {
    const r = await runDaemon(["-f"]);
    expectUsageError(r, "no watch paths configured. Use --watch or a config file.");
  });

  test("config file with an unknown key: exit 2 naming file and line, no stale errno text", async () => {
    const conf = join(makeTmpDir(), "bad.conf");
    writeFileSync(conf, `# test config\nwatch ${fs.dir}\nwtach ${fs.dir}\n`);
    const r = await runDaemon(["-f", "-c", conf]);
    expectUsageError(r, `config:${conf}:3: unknown key 'wtach'`);
    expect(r.stderr).not.toContain("Success");
  });

  test("a canary pattern too complex to compile: exit 2, one line naming it (cut short)", async () => {
    const pattern = join(fs.dir, "[ab]".repeat(20_000));
    const r = await runDaemon(["-f", "--watch", fs.dir, "--canary", pattern, "-o", "/dev/null"]);
    expect(r.code).toBe(2);
    expect(lines(r.stderr).length).toBe(1);
    expect(r.stderr).toContain(`invalid policy: canary pattern too complex: "${pattern.slice(0, 80)}…"`);
    expect(r.stderr.length).toBeLessThan(400);
  });

  test("--version prints the version on stdout, exit 0", async () => {
    const r = await runDaemon(["--version"]);
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: `fanotifyd ${VERSION}\n` });
    expect(VERSION).toBe("0.1.0");
  });

  test("--help prints usage on stdout, exit 0", async () => {
    const r = await runDaemon(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toStartWith("Usage:");
    for (const opt of ["--watch", "--mount", "--filesystem", "--output", "--no-fid", "--version"]) {
      expect(r.stdout).toContain(opt);
    }
  });
});

describe.skipIf(!RUN)("runtime setup failures", () => {
  afterEach(cleanupAll);

  test("--watch on a missing path: exit 1, error names the path", async () => {
    const missing = "/nonexistent/path-xyz";
    expect(existsSync(missing)).toBe(false);
    const r = await runDaemon(["-f", "--watch", missing]);
    const ctx = describeRun(r);
    expect({ code: r.code, ctx }).toEqual({ code: 1, ctx });
    expect(r.stderr).toContain(missing);
    expect(r.stderr).not.toContain(READY);
  });
});
