// The daemon's life cycle (behavior.md A13 as amended by B6, B11, B12): daemon mode with relative paths,
// the pid file, refusals, SIGHUP reload, SIGUSR1 reopen, SIGUSR2 stats, and sd_notify.
//
// Daemons started in daemon mode (no -f) are not our children: afterEach kills them by pid (from their pid
// file, and by their unique mark argument found through /proc) before the tmpfs mounts go away.

import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, lstatSync, readFileSync, readlinkSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  assertSafeMarks,
  cleanupAll,
  closeNotifyListeners,
  fanotifydPidsWithArg,
  hasEvent,
  killPid,
  makeNotifyListener,
  makeTmpDir,
  makeTmpfs,
  readJsonl,
  readLines,
  requestStats,
  requireIntegration,
  run,
  runDaemonMode,
  startDaemon,
  statsFromLog,
  waitFor,
  waitForRecord,
  waitPidGone,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();

/** Unique arguments of the daemon-mode daemons this file started (their tmpfs dirs), and their pids. */
const detachedArgs = new Set<string>();
const detachedPids = new Set<number>();

async function cleanup(): Promise<void> {
  closeNotifyListeners();
  for (const arg of detachedArgs) for (const pid of fanotifydPidsWithArg(arg)) detachedPids.add(pid);
  for (const pid of detachedPids) await killPid(pid);
  detachedArgs.clear();
  detachedPids.clear();
  await cleanupAll();
}

/** The documented stats keys (README "Stats", B12), in order. */
const STATS_KEYS = [
  "type",
  "ts_ms",
  "events_read",
  "events_written",
  "events_excluded",
  "own_events_ignored",
  "unknown_records_skipped",
  "paths_unresolved",
  "tree_marks_refused",
  "kernel_overflows",
  "perm_allowed",
  "perm_denied",
  "perm_timeouts",
  "perm_unreported",
  "alerts_emitted",
  "alerts_suppressed",
  "hooks_run",
  "hooks_skipped",
  "hooks_killed",
  "hooks_failed",
  "subscribers",
  "subscribers_dropped",
  "subscribers_refused",
  "output_records_dropped",
  "output_write_errors",
  "events_lost_no_fd",
  "perm_denied_by_kernel",
  "events_unread_at_exit",
  "attribution_missed",
];

function sessionOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[3]); // state ppid pgrp session
}

function readPid(file: string): number {
  const text = readFileSync(file, "utf8");
  expect(text).toMatch(/^\d+\n$/);
  return Number(text.trim());
}

async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
  await p.exited;
  return p.pid;
}

function count(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}

describe.skipIf(!RUN)("daemon mode", () => {
  afterEach(cleanup);

  test("relative paths, ready only after the marks, pid file in the start dir, own session; SIGTERM cleans up", async () => {
    const fs = makeTmpfs();
    const start = makeTmpDir("fanotifyd-it-start-");
    const tag = `${process.pid}-${Date.now()}`;
    const pidName = `rel-${tag}.pid`;
    const sockName = `rel-${tag}.sock`;
    detachedArgs.add(fs.dir);
    const r = await runDaemonMode(["-w", fs.dir, "-o", "out.jsonl", "--pid-file", pidName, "--socket", sockName], { cwd: start });
    expect({ code: r.code, timedOut: r.timedOut }).toEqual({ code: 0, timedOut: false });
    // the parent returned only once the marks were placed: a write right now is recorded
    writeFileSync(join(fs.dir, "after-parent-exit"), "x\n");
    const out = join(start, "out.jsonl");
    await waitForRecord(out, (rec) => rec.path === join(fs.dir, "after-parent-exit") && hasEvent(rec, "CLOSE_WRITE"), 5000);

    const pidFile = join(start, pidName);
    expect(existsSync(pidFile)).toBe(true);
    expect(existsSync(join("/", pidName))).toBe(false);
    const pid = readPid(pidFile);
    detachedPids.add(pid);
    expect(pid).not.toBe(r.parentPid);
    expect(fanotifydPidsWithArg(fs.dir)).toEqual([pid]);
    expect(sessionOf(pid)).toBe(pid); // a session leader: its own session
    expect(sessionOf(pid)).not.toBe(sessionOf(process.pid));
    expect(readlinkSync(`/proc/${pid}/cwd`)).toBe("/");
    const sock = join(start, sockName);
    expect(lstatSync(sock).isSocket()).toBe(true);
    expect(existsSync(join("/", sockName))).toBe(false);

    process.kill(pid, "SIGTERM");
    expect(await waitPidGone(pid, 5000)).toBe(true);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(sock)).toBe(false);
    expect(r.log()).toContain("received signal 15, shutting down");
    const recs = readJsonl(out);
    expect(recs[recs.length - 1]!.type).toBe("stats");
  }, 20_000);

  test("a second start against a live pid file fails (exit 1, names the file); a stale pid file is replaced", async () => {
    const fs = makeTmpfs();
    const start = makeTmpDir("fanotifyd-it-start-");
    const pidFile = join(start, "d.pid");
    const out = join(start, "out.jsonl");
    detachedArgs.add(fs.dir);
    const args = ["-w", fs.dir, "-o", out, "--pid-file", pidFile];
    const first = await runDaemonMode(args, { cwd: start });
    expect({ code: first.code, timedOut: first.timedOut }).toEqual({ code: 0, timedOut: false });
    const pid1 = readPid(pidFile);
    detachedPids.add(pid1);

    const second = await runDaemonMode(args, { cwd: start });
    expect({ code: second.code, timedOut: second.timedOut }).toEqual({ code: 1, timedOut: false });
    expect(second.log()).toContain(pidFile);
    expect(second.log()).toContain(`pid ${pid1}`);
    await waitFor(() => fanotifydPidsWithArg(fs.dir).length === 1, 3000, "the refused daemon process to be gone");
    expect(fanotifydPidsWithArg(fs.dir)).toEqual([pid1]);
    expect(readPid(pidFile)).toBe(pid1); // untouched

    process.kill(pid1, "SIGTERM");
    expect(await waitPidGone(pid1, 5000)).toBe(true);
    expect(existsSync(pidFile)).toBe(false);

    const dead = await deadPid();
    writeFileSync(pidFile, `${dead}\n`);
    const third = await runDaemonMode(args, { cwd: start });
    expect({ code: third.code, timedOut: third.timedOut }).toEqual({ code: 0, timedOut: false });
    const pid3 = readPid(pidFile);
    detachedPids.add(pid3);
    expect(pid3).not.toBe(dead);
    expect(fanotifydPidsWithArg(fs.dir)).toEqual([pid3]);
    expect(third.log()).toContain(`replaced stale pid file ${pidFile}`);
    process.kill(pid3, "SIGTERM");
    expect(await waitPidGone(pid3, 5000)).toBe(true);
    expect(existsSync(pidFile)).toBe(false);
  }, 30_000);

  test("daemon mode with stdout as the output is refused: exit 2, says to pass --output or --foreground", async () => {
    const fs = makeTmpfs();
    const start = makeTmpDir("fanotifyd-it-start-");
    detachedArgs.add(fs.dir);
    const r = await runDaemonMode(["-w", fs.dir], { cwd: start, timeoutMs: 5000 });
    expect({ code: r.code, timedOut: r.timedOut }).toEqual({ code: 2, timedOut: false });
    expect(r.log()).toContain("refusing to run as a daemon with stdout as the output: pass --output FILE or --foreground");
    expect(fanotifydPidsWithArg(fs.dir)).toEqual([]);
  }, 10_000);

  test("a mark that cannot be placed: the parent exits 1 and names the path; no daemon is left", async () => {
    const fs = makeTmpfs();
    const start = makeTmpDir("fanotifyd-it-start-");
    const missing = join(fs.dir, "does-not-exist");
    detachedArgs.add(missing);
    const r = await runDaemonMode(["-w", missing, "-o", join(start, "out.jsonl")], { cwd: start });
    expect({ code: r.code, timedOut: r.timedOut }).toEqual({ code: 1, timedOut: false });
    expect(r.log()).toContain(missing);
    expect(r.log()).not.toContain("fanotifyd started");
    await waitFor(() => fanotifydPidsWithArg(missing).length === 0, 3000, "the failed daemon process to be gone");
  }, 10_000);
});

describe.skipIf(!RUN)("signals", () => {
  afterEach(cleanup);

  test("SIGHUP reopens a rotated output, adds a canary, keeps the config on a bad one, adds a watch; SIGUSR1 reopens", async () => {
    const fs = makeTmpfs();
    const fs2 = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const C1 = join(fs.dir, "c1");
    const C2 = join(fs.dir, "c2");
    writeFileSync(C1, "1\n");
    writeFileSync(C2, "2\n");
    const conf = join(makeTmpDir(), "reload.conf");
    const base = [`watch ${fs.dir}`, `output ${out}`, `canary ${C1}`, "hook_cooldown_ms 0", ""].join("\n");
    writeFileSync(conf, base);
    const d = await startDaemon(["--config", conf]);
    const w = { daemon: d };
    const reloads = () => count(d.stderr(), "configuration reloaded");
    const hup = async (what: string, done: () => boolean) => {
      assertSafeMarks(["--config", conf], d.cwd);
      d.signal("SIGHUP");
      await waitFor(done, 5000, what, d);
    };
    const alertFor = async (file: string, pid: number) =>
      waitForRecord(file, (r) => r.type === "alert" && r.kind === "canary" && r.pid === pid, 5000, w);

    // 1. logrotate-style: mv, then SIGHUP → a new out.jsonl
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs.dir, "before")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "before") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    renameSync(out, out + ".1");
    await hup("the first reload", () => reloads() === 1);
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs.dir, "after-hup")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after-hup") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(readJsonl(out + ".1", { strict: false }).some((r) => r.path === join(fs.dir, "after-hup"))).toBe(false);

    // 2. a canary added to the config alerts after SIGHUP
    appendFileSync(conf, `canary ${C2}\n`);
    await hup("the second reload", () => reloads() === 2);
    const cat2 = await run(["cat", C2]);
    const a2 = await alertFor(out, cat2.pid);
    expect(a2.record.path).toBe(C2);

    // 3. a broken config is refused; the running configuration (both canaries) stays
    writeFileSync(conf, base + `canary ${C2}\nwtach ${fs2.dir}\n`);
    await hup("the failed reload", () => d.stderr().includes("reload failed, keeping the running configuration"));
    expect(d.stderr()).toMatch(/reload failed, keeping the running configuration: .*unknown key 'wtach'/);
    expect(reloads()).toBe(2);
    const cat1 = await run(["cat", C1]);
    await alertFor(out, cat1.pid);
    const cat2b = await run(["cat", C2]);
    await alertFor(out, cat2b.pid);

    // 3b. a config that parses but whose new mark cannot be placed is refused as a whole: the
    // canary it drops (C2) keeps alerting, nothing half-applied
    const missing = join(fs2.dir, "missing-dir");
    writeFileSync(conf, base + `watch ${missing}\n`);
    const failures = () => count(d.stderr(), "reload failed, keeping the running configuration");
    await hup("the failed mark reload", () => failures() === 2);
    expect(d.stderr()).toContain(`cannot place inode mark on '${missing}'`);
    expect(reloads()).toBe(2);
    const cat2c = await run(["cat", C2]);
    await alertFor(out, cat2c.pid);

    // 4. a watch of a second tmpfs added to the config: its events are recorded
    writeFileSync(conf, base + `canary ${C2}\nwatch ${fs2.dir}\n`);
    await hup("the third reload", () => reloads() === 3);
    await run(["sh", "-c", 'echo b > "$1"', "sh", join(fs2.dir, "second")]);
    const second = await waitForRecord(out, (r) => r.path === join(fs2.dir, "second") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(second.record.type).toBe("event");

    // 5. SIGUSR1 only reopens the output
    renameSync(out, out + ".2");
    d.signal("SIGUSR1");
    await waitFor(() => d.stderr().includes("SIGUSR1 received"), 5000, "the SIGUSR1 log line", d);
    await run(["sh", "-c", 'echo c > "$1"', "sh", join(fs.dir, "after-usr1")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after-usr1") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(readJsonl(out + ".2", { strict: false }).some((r) => r.path === join(fs.dir, "after-usr1"))).toBe(false);
    expect(reloads()).toBe(3);
    await stopClean(d);
  }, 30_000);

  test("a reload whose new output cannot be opened changes nothing: the marks stay as before", async () => {
    const fs = makeTmpfs();
    const fs2 = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const badOut = join(outFs.dir, "no-such-dir", "out.jsonl");
    const conf = join(makeTmpDir(), "reload.conf");
    writeFileSync(conf, [`watch ${fs.dir}`, `output ${out}`, ""].join("\n"));
    const d = await startDaemon(["--config", conf]);
    const w = { daemon: d };
    writeFileSync(conf, [`watch ${fs.dir}`, `watch ${fs2.dir}`, `output ${badOut}`, ""].join("\n"));
    assertSafeMarks(["--config", conf], d.cwd);
    d.signal("SIGHUP");
    await waitFor(() => d.stderr().includes("reload failed, keeping the running configuration"), 5000, "the failed reload", d);
    expect(d.stderr()).toContain(`reload failed, keeping the running configuration: failed to open output '${badOut}'`);
    expect(count(d.stderr(), "configuration reloaded")).toBe(0);
    // The new mark was not placed: an event on fs2 is not recorded, though a later one on fs is.
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs2.dir, "not-watched")]);
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs.dir, "still-watched")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "still-watched") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(readJsonl(out, { strict: false }).filter((r) => String(r.path).startsWith(fs2.dir))).toEqual([]);
    await stopClean(d);
  }, 20_000);

  test("SIGUSR2 writes a stats record with the documented keys to the output and the log", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "x\n");
    const d = await startDaemon(["-w", fs.dir, "--canary", CANARY, "-o", out]);
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs.dir, "f")]);
    const cat = await run(["cat", CANARY]);
    await waitForRecord(out, (r) => r.type === "alert" && r.pid === cat.pid, 5000, { daemon: d });
    const st = await requestStats(d, out);
    expect(Object.keys(st)).toEqual(STATS_KEYS);
    for (const k of STATS_KEYS.slice(1)) expect(typeof st[k]).toBe("number");
    expect(st.events_read as number).toBeGreaterThanOrEqual(3);
    expect(st.events_written as number).toBeGreaterThanOrEqual(3);
    expect(st.alerts_emitted).toBe(1);
    expect(st.perm_timeouts).toBe(0);
    expect(st.kernel_overflows).toBe(0);
    // the same record in the log (stderr is collected asynchronously: wait for the line)
    await waitFor(() => statsFromLog(d.stderr()).length > 0, 5000, "the stats log line", d);
    const logged = statsFromLog(d.stderr());
    expect(logged.length).toBe(1);
    expect(logged[0]).toEqual(st);
    const line = readLines(out).find((l) => l.startsWith('{"type":"stats"'));
    expect(line).toBe(JSON.stringify(st));
    await stopClean(d);
    // and one more at exit
    const stats = readJsonl(out).filter((r: JsonRecord) => r.type === "stats");
    expect(stats.length).toBe(2);
    expect(statsFromLog(d.stderr()).length).toBe(2);
  }, 20_000);
});

describe.skipIf(!RUN)("sd_notify", () => {
  afterEach(cleanup);

  test("READY=1 with MAINPID once the marks are in place, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const notify = makeNotifyListener();
    const d = await startDaemon(["-w", fs.dir, "-o", out], { env: { NOTIFY_SOCKET: notify.path } });
    const ready = await notify.waitFor("READY=1", 5000);
    expect(ready.split("\n")).toContain(`MAINPID=${d.pid}`);
    // the marks were in place when READY=1 was sent
    writeFileSync(join(fs.dir, "after-ready"), "x\n");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after-ready") && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });

    d.signal("SIGHUP");
    await notify.waitFor("RELOADING=1", 5000);
    await notify.waitFor("READY=1", 5000);

    const stop = d.stop("SIGTERM");
    await notify.waitFor("STOPPING=1", 5000);
    const st = await stop;
    expect({ code: st.code, timedOut: st.timedOut }).toEqual({ code: 0, timedOut: false });
  }, 20_000);
});
