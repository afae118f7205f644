// Issue 14 (hardening) against the real kernel: the compiled daemon on private tmpfs mounts.
// Items 2, 3, 5, 8, 11 and the 100-opener shutdown; items 4, 6, 7 have unit tests, item 12 and the
// rest run in the chaos suite (test/chaos, short form in chaos-short.test.ts).
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { field, helper, runHelper, start, stop } from "../chaos/chaos.ts";
import { cleanupAll, hasEvent, makeTmpDir, makeTmpfs, READY, requireIntegration, runDaemon, spawnDaemon, statsFromLog, waitForRecord } from "./harness.ts";

const RUN = requireIntegration();

function seed(dir: string): void {
  for (let i = 0; i < 16; i++) writeFileSync(join(dir, `f${i}`), "data\n");
}

/** True once `pid` catches SIGTERM (bit 15 of SigCgt in /proc/PID/status). */
function catchesSigterm(pid: number): boolean {
  try {
    const m = /SigCgt:\s*([0-9a-f]+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m !== null && (BigInt(`0x${m[1]}`) & (1n << 14n)) !== 0n;
  } catch {
    return false;
  }
}

describe.skipIf(!RUN)("hardening (issue 14)", () => {
  afterEach(cleanupAll);

  test("item 11: SIGTERM during start-up stops cleanly (exit 0, stats, socket and pid file removed)", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    let early = 0;
    for (let trial = 0; trial < 8; trial++) {
      const sock = join(aux, `s${trial}.sock`);
      const pid = join(aux, `p${trial}.pid`);
      const p = spawnDaemon(["-f", "--perm", "--filesystem", fs.dir, "-o", join(aux, "out.jsonl"), "--socket", sock, "--pid-file", pid], {
        stdout: "ignore",
      });
      // The earliest moment a handler exists (before that, no JavaScript runs at all).
      const until = performance.now() + 5000;
      while (!catchesSigterm(p.pid) && performance.now() < until) await Bun.sleep(0);
      // early: the signal comes before the daemon has said it is ready
      if (!p.stderr().includes(READY)) early++;
      const st = await p.stop("SIGTERM", 5000);
      expect({ trial, code: st.code, signal: st.signal }).toEqual({ trial, code: 0, signal: null });
      expect(statsFromLog(p.stderr()).length).toBe(1);
      expect(existsSync(sock)).toBe(false);
      expect(existsSync(pid)).toBe(false);
    }
    // On the old code SIGTERM was caught only once start-up was over: no trial could be early.
    expect(early).toBeGreaterThanOrEqual(6);
  }, 60_000);

  test("item 11: shutdown with 100 concurrent permission openers", async () => {
    const fs = makeTmpfs();
    const out = makeTmpfs();
    seed(fs.dir);
    const o = join(out.dir, "o.jsonl");
    const d = await start(["--perm", "--filesystem", fs.dir, "-o", o]);
    const openers = runHelper(["open", fs.dir, "100", "3000"], 30_000);
    // the openers are under way: their permission events reach the output
    let seen = 0;
    await waitForRecord(o, (r) => hasEvent(r, "OPEN_PERM") && ++seen >= 200, 10_000, { daemon: d });
    const ms = await stop(d);
    console.log(`stop with 100 permission openers: ${ms?.toFixed(0)} ms`);
    expect(ms).not.toBeNull();
    expect(d.proc.exitCode).toBe(0);
    // B6 says 1 s; on a loaded 2-vCPU CI host the kernel's release of the groups alone can take
    // ~0.4 s (see README), so the bound here leaves room for the machine, not for a hang.
    expect(ms as number).toBeLessThan(2000);
    const res = await openers;
    expect(res).not.toBeNull();
    expect(field(res ?? "", "eperm")).toBe(0);
  }, 60_000);

  /** --perm under `prlimit --nofile=N` with 100 parallel openers (50 open+read each): the helper's result and the final stats. */
  async function permUnderFdLimit(nofile: number): Promise<{ res: string; st: Record<string, unknown> }> {
    const fs = makeTmpfs();
    const out = makeTmpfs();
    seed(fs.dir);
    const d = await start(["--perm", "--filesystem", fs.dir, "-o", join(out.dir, "o.jsonl")], { prefix: ["prlimit", `--nofile=${nofile}`] });
    const res = await runHelper(["open", fs.dir, "100", "50"], 30_000);
    expect(await stop(d)).not.toBeNull();
    expect(res).not.toBeNull();
    return { res: res ?? "", st: statsFromLog(d.stderr()).at(-1) ?? {} };
  }

  test("item 5: prlimit --nofile=64, --perm, 100 parallel openers: no EPERM, every answer counted", async () => {
    const { res, st } = await permUnderFdLimit(64);
    expect(field(res, "eperm")).toBe(0);
    expect(field(res, "other")).toBe(0);
    expect(field(res, "ok")).toBe(5000);
    // one OPEN_PERM per open and one ACCESS_PERM per read
    expect(st.perm_allowed).toBe(10000);
    expect(st.perm_denied).toBe(0);
    expect(st.perm_denied_by_kernel).toBe(0);
    expect(st.events_lost_no_fd).toBe(0);
  }, 60_000);

  test("item 5, tighter: prlimit --nofile=48, --perm: answered fds are not held back for a batched close", async () => {
    // A few dozen fds above the daemon's own: holding answered permission fds for a batched close
    // (reader-loop.ts PERM_CLOSE_BATCH) would leave none for the next event, which the kernel would deny.
    const { res, st } = await permUnderFdLimit(48);
    expect(field(res, "eperm")).toBe(0);
    expect(field(res, "ok")).toBe(5000);
    expect(st.perm_allowed).toBe(10000);
    expect(st.perm_denied_by_kernel).toBe(0);
    expect(st.events_lost_no_fd).toBe(0);
  }, 60_000);

  test("item 8: with the output disk full at exit, the final stats count what the close gave up", async () => {
    const fs = makeTmpfs();
    const small = makeTmpfs(1);
    const d = await start(["--filesystem", fs.dir, "-o", join(small.dir, "o.jsonl")]);
    const load = runHelper(["load", fs.dir, "2500"], 10_000);
    await d.waitFor("stderr", "(ENOSPC)", 10_000);
    // The load runs to its end against the stuck output: the queue passes the hold mark and the
    // reader leaves the rest of the load to the kernel, which the stop then counts.
    await load;
    expect(await stop(d)).not.toBeNull();
    const log = d.stderr();
    const m = /output closed with (\d+) records unwritten/.exec(log);
    expect(m).not.toBeNull();
    const st = statsFromLog(log).at(-1) ?? {};
    expect(st.output_records_dropped as number).toBeGreaterThanOrEqual(Number(m?.[1]));
    // the reader was held back by the stuck output: what the kernel still held is counted
    expect((st.kernel_overflows as number) + (st.events_unread_at_exit as number)).toBeGreaterThan(0);
  }, 30_000);

  test("item 3: a config made group-writable is refused at SIGHUP; the running one stays", async () => {
    const fs = makeTmpfs();
    const out = makeTmpfs();
    const conf = join(makeTmpDir(), "f.conf");
    writeFileSync(conf, `canary ${fs.dir}/c1\n`);
    const d = await start(["-c", conf, "--filesystem", fs.dir, "-o", join(out.dir, "o.jsonl")]);
    writeFileSync(conf, `canary ${fs.dir}/c1\ncanary ${fs.dir}/c2\n`);
    chmodSync(conf, 0o666);
    d.proc.kill("SIGHUP");
    await d.waitFor("stderr", "reload failed", 5000);
    expect(d.stderr()).toContain(`reload failed, keeping the running configuration: config:${conf}: refusing '${conf}': file mode 0666 lets group or others write it`);
    expect(d.stderr()).not.toContain("configuration reloaded");
    expect(await stop(d)).not.toBeNull();
    // and at start
    const r = await runDaemon(["-f", "-c", conf, "--filesystem", fs.dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("mode 0666 lets group or others write it");
  }, 30_000);

  test("item 2: an output path that is a planted symlink is refused at start", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const victim = join(aux, "victim");
    writeFileSync(victim, "root's\n");
    const link = join(aux, "out.jsonl");
    symlinkSync(victim, link);
    const r = await runDaemon(["-f", "--filesystem", fs.dir, "-o", link]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`refusing output '${link}': it is a symbolic link (not followed; use '-' for stdout)`);
    expect(readFileSync(victim, "utf8")).toBe("root's\n");
  });
});

void helper;
