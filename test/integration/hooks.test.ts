// Alert hooks against a running daemon (behavior.md A10 "Hooks" as amended by B8; counters for B12): the
// FAN_* environment, burst hooks, hook output in the log, the timeout, the concurrency cap, and a hook
// whose binary lives on a permission-marked mount.

import { afterEach, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanupAll,
  makeTmpDir,
  makeTmpfs,
  readJsonl,
  readLines,
  requireIntegration,
  run,
  runTimed,
  startDaemon,
  statsFromLog,
  held,
  waitFor,
  waitForRecord,
  type Daemon,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();

/** The stats record the daemon logged at exit. */
function exitStats(d: Daemon): JsonRecord {
  const all = statsFromLog(d.stderr());
  if (all.length === 0) throw new Error(`no stats record in the log:\n${d.stderr()}`);
  return all[all.length - 1]!;
}

/** `env` output → map (values are single-line here). */
function parseEnv(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) m.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return m;
}

const isCanaryAlert = (pid: number) => (r: JsonRecord) => r.type === "alert" && r.kind === "canary" && r.pid === pid;

describe.skipIf(!RUN)("hook environment", () => {
  afterEach(cleanupAll);

  test("a canary alert runs the hook with FAN_KIND, FAN_PID, FAN_COMM, FAN_EXE, FAN_PATH, FAN_REASON, FAN_ALERT_JSON", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const aux = makeTmpDir(); // not on the marked tmpfs
    const envFile = join(aux, "env.txt");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "secret\n");
    // write to a temporary name and rename: the file appears complete
    const hook = `env > ${aux}/env.tmp && mv ${aux}/env.tmp ${envFile}`;
    const d = await startDaemon(["-w", fs.dir, "--canary", CANARY, "--hook", hook, "-o", out]);

    const cat = held(["cat", CANARY, "-"]);
    const alert = await waitForRecord(out, isCanaryAlert(cat.pid), 5000, { daemon: d });
    await waitFor(() => existsSync(envFile), 5000, "the hook's env.txt", d);
    await cat.release();
    const env = parseEnv(readFileSync(envFile, "utf8"));
    const line = readLines(out)[alert.index]!;
    expect(env.get("FAN_KIND")).toBe("canary");
    expect(env.get("FAN_PID")).toBe(String(cat.pid));
    expect(env.get("FAN_COMM")).toBe("cat");
    expect(env.get("FAN_EXE")).toBe(alert.record.exe as string);
    expect(env.get("FAN_EXE")).toMatch(/\/cat$/);
    expect(env.get("FAN_PATH")).toBe(CANARY);
    expect(env.get("FAN_REASON")).toBe("canary opened");
    expect(env.get("FAN_ALERT_JSON")).toBe(line);
    expect(env.get("PATH")).toBe(process.env.PATH!); // the daemon's environment is passed on
    await stopClean(d);
    const st = exitStats(d);
    expect(st.hooks_run).toBe(1);
  }, 20_000);

  test("a burst alert runs the hook with FAN_KIND=burst", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const aux = makeTmpDir();
    const kinds = join(aux, "kinds.txt");
    const hook = `echo "$FAN_KIND $FAN_PID $FAN_REASON" >> ${kinds}`;
    const d = await startDaemon(["-w", fs.dir, "--burst-threshold", "5", "--burst-window-ms", "1000", "--hook", hook, "-o", out]);
    const sh = await run(["sh", "-c", 'for i in 1 2 3 4 5 6; do echo $i > "$1/f$i"; done', "sh", fs.dir]);
    await waitForRecord(out, (r) => r.type === "alert" && r.kind === "burst" && r.pid === sh.pid, 5000, { daemon: d });
    await waitFor(() => existsSync(kinds) && readFileSync(kinds, "utf8").endsWith("\n"), 5000, "the burst hook's output file", d);
    expect(readFileSync(kinds, "utf8")).toBe(`burst ${sh.pid} mutating-event burst exceeded threshold\n`);
    await stopClean(d);
  }, 20_000);
});

describe.skipIf(!RUN)("hook output and limits", () => {
  afterEach(cleanupAll);

  test("hook stdout and stderr lines go to the daemon log as hook[PID]: line", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "x\n");
    const d = await startDaemon([
      "-w",
      fs.dir,
      "--canary",
      CANARY,
      "--hook",
      'echo "out-line from $FAN_KIND"; echo "err-line" >&2',
      "-o",
      out,
    ]);
    await run(["cat", CANARY]);
    await waitFor(() => /hook\[\d+\]: err-line/.test(d.stderr()) && /hook\[\d+\]: out-line from canary/.test(d.stderr()), 5000, "the hook's lines in the log", d);
    const m1 = /INFO  hook\[(\d+)\]: out-line from canary\n/.exec(d.stderr());
    const m2 = /INFO  hook\[(\d+)\]: err-line\n/.exec(d.stderr());
    expect(m1).not.toBeNull();
    expect(m2).not.toBeNull();
    expect(m1![1]).toBe(m2![1]); // the same hook's pid
    // hook output is log, never a record
    await stopClean(d);
    expect(readFileSync(out, "utf8")).not.toContain("out-line");
  }, 20_000);

  test("--hook-timeout-ms 300 kills a `sleep 10` hook: logged, hooks_killed counted", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "x\n");
    const d = await startDaemon(["-w", fs.dir, "--canary", CANARY, "--hook", "sleep 10", "--hook-timeout-ms", "300", "-o", out]);
    const t0 = performance.now();
    const cat = await run(["cat", CANARY]);
    await waitForRecord(out, isCanaryAlert(cat.pid), 5000, { daemon: d });
    await waitFor(() => /hook\[\d+\] killed after 300 ms/.test(d.stderr()), 5000, "the hook to be killed", d);
    expect(performance.now() - t0).toBeLessThan(5000); // long before sleep 10 would end
    await stopClean(d);
    const st = exitStats(d);
    expect(st.hooks_run).toBe(1);
    expect(st.hooks_killed as number).toBeGreaterThanOrEqual(1);
    // the output's final stats record says the same
    const recs = readJsonl(out);
    expect(recs[recs.length - 1]!.hooks_killed).toBe(st.hooks_killed as number);
  }, 20_000);

  test("--hook-max-concurrent 1: a second alert while a `sleep 1` hook runs skips its hook", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "x\n");
    const d = await startDaemon(["-w", fs.dir, "--canary", CANARY, "--hook", "sleep 1", "--hook-max-concurrent", "1", "-o", out]);
    const t0 = performance.now();
    const c1 = await run(["cat", CANARY]);
    const c2 = await run(["cat", CANARY]);
    expect(c1.pid).not.toBe(c2.pid);
    await waitForRecord(out, isCanaryAlert(c1.pid), 5000, { daemon: d });
    await waitForRecord(out, isCanaryAlert(c2.pid), 5000, { daemon: d });
    // both alerts were processed well within the first hook's second
    expect(performance.now() - t0).toBeLessThan(900);
    await stopClean(d);
    const st = exitStats(d);
    expect([st.alerts_emitted, st.hooks_run, st.hooks_skipped]).toEqual([2, 1, 1]);
  }, 20_000);
});

describe.skipIf(!RUN)("hooks in permission mode", () => {
  afterEach(cleanupAll);

  test("a hook running a binary from the perm-marked mount completes while 200 cats on the mount keep flowing", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const aux = makeTmpDir();
    const done = join(aux, "done.txt");
    const TRUE = join(fs.dir, "true");
    copyFileSync("/bin/true", TRUE);
    await run(["chmod", "755", TRUE]);
    const CANARY = join(fs.dir, "canary");
    const DATA = join(fs.dir, "data");
    writeFileSync(CANARY, "x\n");
    writeFileSync(DATA, "data\n");
    const d = await startDaemon(["--perm", "-w", fs.dir, "--canary", CANARY, "--hook", `${TRUE}; echo done > ${done}`, "-o", out]);

    const loop = runTimed(["sh", "-c", 'i=0; while [ $i -lt 200 ]; do cat "$1" > /dev/null || exit 1; i=$((i+1)); done', "sh", DATA], 10_000);
    const cat = await runTimed(["cat", CANARY], 5000);
    expect({ code: cat.code, timedOut: cat.timedOut }).toEqual({ code: 0, timedOut: false }); // observe only: allowed
    await waitForRecord(out, isCanaryAlert(cat.pid), 5000, { daemon: d });
    await waitFor(() => existsSync(done) && readFileSync(done, "utf8") === "done\n", 10_000, "the hook to complete", d);
    const l = await loop;
    expect({ code: l.code, timedOut: l.timedOut, stderr: l.stderr }).toEqual({ code: 0, timedOut: false, stderr: "" });
    expect(l.elapsedMs).toBeLessThan(10_000);
    // the hook's exec of DIR/true went through the permission group and was allowed
    await stopClean(d);
    const recs = readJsonl(out);
    expect(recs.some((r) => r.path === TRUE && r.decision === "allow")).toBe(true);
    const st = exitStats(d);
    expect(st.hooks_run).toBe(1);
    expect(st.hooks_failed).toBe(0);
    expect(st.perm_denied).toBe(0);
    expect(st.perm_allowed as number).toBeGreaterThanOrEqual(200);
  }, 30_000);
});
