// Permission mode's runtime settings (issue 11, src/lifecycle/runtime-env.ts): a foreground daemon
// executes itself again, once, with MIMALLOC_PURGE_DELAY=-1 and BUN_JSC_useFTLJIT=0 in its environment
// (same pid, same arguments); a daemonizing parent gives them to its child; a value the user set stays;
// notification mode adds nothing; hooks never inherit what the daemon added. /proc/PID/environ is the
// environment a program was executed with.
//
// SAFETY: marks only on private tmpfs mounts (harness.ts checks); file accesses on the permission-
// marked mount go through children with a deadline (runTimed).
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import {
  assertSafeMarks,
  BIN,
  cleanupAll,
  killPid,
  makeTmpDir,
  makeTmpfs,
  requireIntegration,
  runDaemonMode,
  READY,
  runTimed,
  spawnChild,
  startDaemon,
  stopClean,
  waitFor,
} from "./harness.ts";

const RUN = requireIntegration();
const MARK = "FANOTIFYD_RUNTIME_ENV";
const OURS = ["MIMALLOC_PURGE_DELAY", "BUN_JSC_useFTLJIT", MARK];

function nulList(file: string): string[] {
  return readFileSync(file, "latin1").split("\0").slice(0, -1);
}

/** The environment `pid` was executed with, for our three names. */
function startEnv(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of nulList(`/proc/${pid}/environ`)) {
    const eq = entry.indexOf("=");
    if (OURS.includes(entry.slice(0, eq))) out[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return out;
}

/** The test runner's own environment without our names (a CI machine might set one). */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !OURS.includes(k)) env[k] = v;
  return { ...env, ...extra };
}

describe.skipIf(!RUN)("permission mode runtime settings", () => {
  afterEach(cleanupAll);

  test("-f --perm: the same process runs again with the settings and its arguments' exact bytes; a hook does not inherit them", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const canary = join(fs.dir, "canary");
    writeFileSync(canary, "x\n");
    const envFile = join(aux, "env.txt");
    const hook = `env > ${aux}/env.tmp && mv ${aux}/env.tmp ${envFile}`;
    const args = ["--perm", "--filesystem", fs.dir, "--canary", canary, "--hook", hook, "-o", join(aux, "out.jsonl"), "-v"];
    const d = await startDaemon(args, { env: cleanEnv() });
    expect(startEnv(d.pid)).toEqual({
      MIMALLOC_PURGE_DELAY: "-1",
      BUN_JSC_useFTLJIT: "0",
      [MARK]: "MIMALLOC_PURGE_DELAY,BUN_JSC_useFTLJIT",
    });
    expect(nulList(`/proc/${d.pid}/cmdline`)).toEqual([BIN, "-f", ...args]);
    // Executed by its own path, not /proc/self/exe: ps and pgrep still see its name.
    expect(readFileSync(`/proc/${d.pid}/comm`, "utf8").trim()).toBe(basename(BIN).slice(0, 15));
    expect(d.stderr()).toContain("DEBUG permission mode runtime settings: MIMALLOC_PURGE_DELAY=-1 BUN_JSC_useFTLJIT=0\n");
    expect(d.stderr()).not.toContain("runs without its runtime settings");

    const r = await runTimed(["cat", canary], 5000);
    expect({ timedOut: r.timedOut, code: r.code }).toEqual({ timedOut: false, code: 0 });
    await waitFor(() => existsSync(envFile), 5000, "the hook's env.txt", d);
    const hookEnv = readFileSync(envFile, "utf8");
    expect(hookEnv).toContain("FAN_KIND=canary\n");
    for (const name of OURS) expect(hookEnv).not.toContain(`${name}=`);
    await stopClean(d);
  }, 20_000);

  test("started through a symlink: the re-executed daemon keeps the name it was started by (ps, pidof)", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const link = join(aux, "fan-link");
    symlinkSync(BIN, link);
    const args = ["-f", "--perm", "--filesystem", fs.dir, "-o", join(aux, "out.jsonl")];
    assertSafeMarks(args, aux);
    const d = spawnChild([link, ...args], { cwd: aux, env: cleanEnv() });
    await d.waitFor("stderr", READY, 10_000, "becoming ready");
    expect(startEnv(d.pid)[MARK]).toBe("MIMALLOC_PURGE_DELAY,BUN_JSC_useFTLJIT");
    expect(readFileSync(`/proc/${d.pid}/comm`, "utf8")).toBe("fan-link\n");
    expect(nulList(`/proc/${d.pid}/cmdline`)[0]).toBe(link);
    await stopClean(d);
  }, 20_000);

  test("a SIGHUP already pending at start cancels the re-execution: warned, the daemon runs without the settings and reloads once", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    // perl (perl-base) starts the daemon with SIGHUP blocked and pending; early-signals.ts unblocks it
    // once its handler is in place, before the daemon would execute itself again.
    const pendingHup = ["perl", "-MPOSIX", "-e", 'sigprocmask(SIG_BLOCK, POSIX::SigSet->new(SIGHUP)); kill "HUP", $$; exec { $ARGV[0] } @ARGV or die "exec: $!"'];
    const d = await startDaemon(["--perm", "--filesystem", fs.dir, "-o", join(aux, "out.jsonl")], { env: cleanEnv(), prefix: pendingHup });
    expect(startEnv(d.pid)).toEqual({});
    expect(d.stderr()).toContain("WARN  permission mode runs without its runtime settings (a signal arrived during start-up)\n");
    await waitFor(() => d.stderr().includes("INFO  configuration reloaded"), 5000, "the reload the SIGHUP asked for", d);
    await stopClean(d);
  }, 20_000);

  test("a value the user set stays (both set: no re-execution); notification mode adds nothing", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const base = ["--filesystem", fs.dir, "-o", join(aux, "out.jsonl")];
    const cases: Array<[string[], Record<string, string>, Record<string, string>]> = [
      [["--perm"], { MIMALLOC_PURGE_DELAY: "10" }, { MIMALLOC_PURGE_DELAY: "10", BUN_JSC_useFTLJIT: "0", [MARK]: "BUN_JSC_useFTLJIT" }],
      [["--perm"], { MIMALLOC_PURGE_DELAY: "10", BUN_JSC_useFTLJIT: "1" }, { MIMALLOC_PURGE_DELAY: "10", BUN_JSC_useFTLJIT: "1" }],
      [[], {}, {}],
    ];
    for (const [mode, given, expected] of cases) {
      const d = await startDaemon([...mode, ...base], { env: cleanEnv(given) });
      expect({ mode, given, env: startEnv(d.pid) }).toEqual({ mode, given, env: expected });
      await stopClean(d);
    }
  }, 30_000);

  test("daemon mode: the detached child starts with the settings, executed once", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const pidFile = join(aux, "d.pid");
    const r = await runDaemonMode(["--perm", "--filesystem", fs.dir, "-o", join(aux, "out.jsonl"), "--pid-file", pidFile], {
      cwd: aux,
      env: cleanEnv(),
    });
    expect(r.code).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    try {
      expect(startEnv(pid)).toEqual({
        MIMALLOC_PURGE_DELAY: "-1",
        BUN_JSC_useFTLJIT: "0",
        [MARK]: "MIMALLOC_PURGE_DELAY,BUN_JSC_useFTLJIT",
      });
      expect(r.log()).not.toContain("runs without its runtime settings");
    } finally {
      await killPid(pid);
    }
  }, 30_000);
});
