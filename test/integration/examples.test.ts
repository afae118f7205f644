// The shipped examples, run for real: examples/cgroupd-landlockd.conf with its paths moved onto a private
// tmpfs, examples/fanotifyd.service's ExecStart under a NOTIFY_SOCKET, examples/logrotate.conf's
// postrotate, and the layout and `tail` commands of examples/sidecar.md.

import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, renameSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  BIN,
  REPO,
  cleanupAll,
  closeNotifyListeners,
  hasEvent,
  makeNotifyListener,
  makeTmpDir,
  makeTmpfs,
  parseJsonl,
  readJsonl,
  readLines,
  requireIntegration,
  run,
  runTimed,
  spawnProcess,
  startDaemon,
  track,
  waitFor,
  waitForRecord,
  waitSubscribers,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();
const EXAMPLES = join(REPO, "examples");

async function cleanup(): Promise<void> {
  closeNotifyListeners();
  await cleanupAll();
}

/** Config lines as [key, value] (comments and blank lines skipped). */
function configEntries(text: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const m = /^(\S+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`not a key value line: ${line}`);
    out.push([m[1]!, m[2]!.trim()]);
  }
  return out;
}

/** Minimal shell-like word splitting: whitespace, single and double quotes (enough for the examples). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'" || c === '"') {
      const end = line.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced quote in ${line}`);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/** The fenced code blocks of a markdown file. */
function codeBlocks(md: string): string[] {
  const blocks: string[] = [];
  const re = /```[a-z]*\n([\s\S]*?)```/g;
  for (let m = re.exec(md); m !== null; m = re.exec(md)) blocks.push(m[1]!);
  return blocks;
}

/** Shell lines of a code block, backslash continuations joined. */
function shellLines(block: string): string[] {
  return block
    .replace(/\\\n\s*/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
}

describe.skipIf(!RUN)("examples/cgroupd-landlockd.conf", () => {
  afterEach(cleanup);

  // The job's four mounts as the platform makes them (cgroupd-landlockd.md: "a bind mount or its own
  // tmpfs"): directories of one tmpfs each bind-mounted onto itself, or a tmpfs each.
  test.each(["bind", "tmpfs"] as const)("moved onto a tmpfs (%s mounts): workspace writes tagged J/workspace, the canary denied with an alert, tail receives", async (layout) => {
    const original = readFileSync(join(EXAMPLES, "cgroupd-landlockd.conf"), "utf8");
    const entries = configEntries(original);
    const PREFIXES = ["/run/jobs/J", "/var/cache/job-platform", "/var/log/fanotifyd", "/run/fanotifyd"];
    // every absolute path in the example is under one of the four prefixes
    for (const [k, v] of entries) {
      if (v.startsWith("/")) expect([k, PREFIXES.some((p) => v === p || v.startsWith(p + "/"))]).toEqual([k, true]);
    }
    const t = makeTmpfs(64);
    const T = t.dir;
    const rewritten = original
      .split("\n")
      .map((line) => {
        const m = /^(\s*[^#\s]\S*\s+)(\/.*)$/.exec(line);
        return m ? `${m[1]}${T}${m[2]}` : line;
      })
      .join("\n");
    const newEntries = configEntries(rewritten);
    expect(newEntries.map(([k]) => k)).toEqual(entries.map(([k]) => k)); // every key kept, in order
    for (const [, v] of newEntries) if (v.startsWith("/")) expect(v.startsWith(T + "/")).toBe(true);
    const value = (key: string) => newEntries.find(([k]) => k === key)![1];
    expect(value("foreground")).toBe("1");
    expect(value("perm")).toBe("1");
    expect(value("deny_on_alert")).toBe("1");

    // the job's four mounts: directories of the tmpfs, each bind-mounted onto itself
    const root = join(T, "run/jobs/J/root");
    const workspace = join(T, "run/jobs/J/workspace");
    const exportDir = join(T, "run/jobs/J/export");
    const cache = join(T, "var/cache/job-platform");
    for (const dir of [root, workspace, exportDir, cache, join(T, "var/log/fanotifyd"), join(T, "run/fanotifyd")]) {
      mkdirSync(dir, { recursive: true });
    }
    for (const dir of [root, workspace, exportDir, cache]) {
      if (layout === "bind") await run(["mount", "--bind", dir, dir]);
      else await run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", dir]);
    }
    mkdirSync(join(root, "etc"));
    const shadow = join(root, "etc/shadow");
    writeFileSync(shadow, "root:*:1::::::\n");
    expect(entries.filter(([k]) => k === "mount").map(([, v]) => T + v)).toEqual([root, workspace, exportDir, cache]);

    const conf = join(makeTmpDir(), "cgroupd-landlockd.conf");
    writeFileSync(conf, rewritten);
    const out = value("output");
    const sock = value("socket");
    expect(value("canary")).toBe(shadow);
    const d = await startDaemon(["--config", conf]);
    const w = { daemon: d };
    const tail = spawnProcess([BIN, "tail", "--socket", sock]);
    await waitSubscribers(d, out, 1);

    const W = join(workspace, "w.txt");
    await run(["sh", "-c", 'echo work > "$1"', "sh", W]);
    // (matched by name too, so that a wrong path shows up in the assertion below rather than as a timeout)
    const wrec = await waitForRecord(out, (r) => (r.path === W || r.name === "w.txt") && hasEvent(r, "CLOSE_WRITE"), 5000, w);

    const cat = await runTimed(["cat", shadow], 5000);
    expect({ code: cat.code, timedOut: cat.timedOut }).toEqual({ code: 1, timedOut: false });
    expect(cat.stderr).toContain("Operation not permitted");
    expect(cat.stdout).toBe("");
    const alert = await waitForRecord(out, (r) => r.type === "alert" && r.kind === "canary" && r.pid === cat.pid, 5000, w);
    expect(alert.record.path).toBe(shadow);
    expect(alert.record.reason).toBe("canary opened");
    const denied = await waitForRecord(out, (r) => r.path === shadow && r.decision === "deny" && r.pid === cat.pid, 5000, w);
    expect([denied.record.job_id, denied.record.path_role]).toEqual(["J", "rootfs"]);

    // checked after the canary so that both are reported
    expect({ path: wrec.record.path, job_id: wrec.record.job_id, path_role: wrec.record.path_role }).toEqual({
      path: W,
      job_id: "J",
      path_role: "workspace",
    });

    // the socket stream carries the same lines
    const lines = readLines(out);
    const wanted = [lines[wrec.index]!, lines[alert.index]!, lines[denied.index]!];
    await tail.waitFor("stdout", (s) => wanted.every((l) => s.includes(l + "\n")), 5000, "the records on tail's stdout");
    await stopClean(d);
    const tr = await tail.wait(5000);
    expect({ code: tr.code, timedOut: tr.timedOut }).toEqual({ code: 0, timedOut: false });
    const tailText = tail.stdout();
    const fileText = readFileSync(out, "utf8");
    expect(fileText.endsWith(tailText)).toBe(true);
  }, 30_000);
});

/** systemd unit as sections of key → values (a key may repeat). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let cur: Map<string, string[]> | null = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      cur = new Map();
      sections.set(sec[1]!, cur);
      continue;
    }
    const eq = line.indexOf("=");
    if (cur === null || eq < 0) throw new Error(`unexpected unit line: ${line}`);
    const k = line.slice(0, eq).trim();
    const v = line.slice(eq + 1).trim();
    cur.set(k, [...(cur.get(k) ?? []), v]);
  }
  return sections;
}

describe.skipIf(!RUN)("examples/fanotifyd.service", () => {
  afterEach(cleanup);

  test("Type=notify, reload by HUP, capabilities; ExecStart run under a NOTIFY_SOCKET sends READY=1", async () => {
    const unit = parseUnit(readFileSync(join(EXAMPLES, "fanotifyd.service"), "utf8"));
    const svc = unit.get("Service")!;
    expect(svc).toBeDefined();
    const one = (k: string) => {
      const v = svc.get(k);
      expect([k, v?.length]).toEqual([k, 1]);
      return v![0]!;
    };
    expect(one("Type")).toBe("notify");
    const reload = one("ExecReload");
    expect(reload).toContain("kill -HUP");
    const execStart = shellWords(one("ExecStart"));
    expect(execStart[0]!.endsWith("/fanotifyd")).toBe(true);
    expect(execStart).toContain("--foreground");
    const caps = one("CapabilityBoundingSet").split(/\s+/);
    expect(caps).toContain("CAP_SYS_ADMIN");
    expect(caps).toContain("CAP_DAC_READ_SEARCH");
    expect(unit.get("Install")?.get("WantedBy")).toEqual(["multi-user.target"]);

    // what systemd would do: ExecStart with our binary and a config on a tmpfs ("output" set, no "foreground")
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "fanotifyd.jsonl");
    const conf = join(makeTmpDir(), "fanotifyd.conf");
    writeFileSync(conf, `watch ${fs.dir}\noutput ${out}\n`);
    const ci = execStart.indexOf("--config");
    expect(ci).toBeGreaterThan(0);
    const argv = execStart.map((a, i) => (i === 0 ? BIN : i === ci + 1 ? conf : a));
    const notify = makeNotifyListener();
    const proc = spawnProcess(argv, { env: { NOTIFY_SOCKET: notify.path } });
    const ready = await notify.waitFor("READY=1", 10_000);
    expect(ready.split("\n")).toContain(`MAINPID=${proc.pid}`);
    writeFileSync(join(fs.dir, "after-ready"), "x\n");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after-ready") && hasEvent(r, "CLOSE_WRITE"), 5000);

    // ExecReload, with $MAINPID substituted as systemd does
    const reloadArgv = shellWords(reload).map((a) => a.replace("$MAINPID", String(proc.pid)));
    await run(reloadArgv);
    await notify.waitFor("RELOADING=1", 5000);
    await notify.waitFor("READY=1", 5000);
    await waitFor(() => proc.stderr().includes("configuration reloaded"), 5000, "the reload log line");

    // systemctl stop: SIGTERM, and exit within TimeoutStopSec
    const stopSec = Number(/^(\d+)s$/.exec(one("TimeoutStopSec"))![1]);
    proc.proc.kill("SIGTERM");
    await notify.waitFor("STOPPING=1", 5000);
    const res = await proc.wait(stopSec * 1000);
    expect({ code: res.code, timedOut: res.timedOut }).toEqual({ code: 0, timedOut: false });
  }, 30_000);
});

describe.skipIf(!RUN)("examples/logrotate.conf", () => {
  afterEach(cleanup);

  test("rotation with the postrotate's USR1: new records land in the new file", async () => {
    const text = readFileSync(join(EXAMPLES, "logrotate.conf"), "utf8");
    const m = /\n\s*postrotate\n([\s\S]*?)\n\s*endscript/.exec(text);
    expect(m).not.toBeNull();
    const postrotate = m![1]!.trim();
    expect(postrotate).toContain("pkill -USR1 -x fanotifyd");
    const create = /\n\s*create (\d+) /.exec(text);
    // the rotated files are the example job config's output
    const glob = /^(\/\S+)\/\*\.jsonl \{/m.exec(text);
    expect(glob).not.toBeNull();
    const jobOutput = configEntries(readFileSync(join(EXAMPLES, "cgroupd-landlockd.conf"), "utf8")).find(([k]) => k === "output")![1];
    expect(jobOutput).toStartWith(glob![1]! + "/");
    expect(jobOutput.endsWith(".jsonl")).toBe(true);

    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "J.jsonl");
    const d = await startDaemon(["-w", fs.dir, "-o", out]);
    const w = { daemon: d };
    await run(["sh", "-c", 'echo a > "$1"', "sh", join(fs.dir, "before")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "before") && hasEvent(r, "CLOSE_WRITE"), 5000, w);

    // logrotate: rename, create the fresh file (create 0640 root root), then the postrotate script
    renameSync(out, out + ".1");
    if (create) {
      writeFileSync(out, "", { mode: parseInt(create[1]!, 8) });
    }
    const script = postrotate.replace("pkill -USR1 -x fanotifyd", `kill -USR1 ${d.pid}`);
    expect(script).not.toContain("pkill");
    const pr = await runTimed(["sh", "-c", script], 5000);
    expect({ code: pr.code, timedOut: pr.timedOut }).toEqual({ code: 0, timedOut: false });
    await waitFor(() => d.stderr().includes("SIGUSR1 received"), 5000, "the daemon to take the USR1", d);

    await run(["sh", "-c", 'echo b > "$1"', "sh", join(fs.dir, "after")]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(readJsonl(out + ".1").some((r) => r.path === join(fs.dir, "after"))).toBe(false);
    if (create) expect(statSync(out).mode & 0o777).toBe(parseInt(create[1]!, 8));
    await stopClean(d);
    expect(readJsonl(out).some((r) => r.type === "stats")).toBe(true);
  }, 20_000);
});

describe.skipIf(!RUN)("examples/sidecar.md", () => {
  afterEach(cleanup);

  test("the sidecar layout: --filesystem on the shared volume sees a write from another mount namespace; the tail commands work", async () => {
    const md = readFileSync(join(EXAMPLES, "sidecar.md"), "utf8");
    const blocks = codeBlocks(md);
    const allLines = blocks.flatMap(shellLines);
    const daemonLine = allLines.find((l) => l.includes("fanotifyd --foreground"));
    expect(daemonLine).toBeDefined();
    const daemonWords = shellWords(daemonLine!.slice(daemonLine!.indexOf("fanotifyd --foreground")));
    const tailLines = allLines.filter((l) => l.startsWith("fanotifyd tail "));
    expect(tailLines.length).toBe(2);
    const jobBlock = blocks.find((b) => /^job /m.test(b));
    expect(jobBlock).toBeDefined();

    const help = await runTimed([BIN, "tail", "--help"], 5000);
    expect({ code: help.code, timedOut: help.timedOut }).toEqual({ code: 0, timedOut: false });
    expect(help.stdout).toContain("--socket");

    // the shared volume (/job) is a tmpfs; /run/fanotifyd is another
    const vol = makeTmpfs();
    const runFs = makeTmpfs();
    const rewrite = (s: string) =>
      s.replace(/(\/run\/fanotifyd|\/job)(?=[/\s'"]|$)/gm, (p) => (p === "/job" ? vol.dir : runFs.dir));
    // A fresh tmpfs root is mode 1777; /run/fanotifyd is not world-writable (config files in a
    // directory others can write are refused).
    chmodSync(runFs.dir, 0o755);
    writeFileSync(join(runFs.dir, "job.conf"), rewrite(jobBlock!));
    for (const sub of ["workspace", "export", "secrets"]) mkdirSync(join(vol.dir, sub));
    const secret = join(vol.dir, "secrets", "key");
    writeFileSync(secret, "k\n");
    const args = daemonWords.slice(1).map(rewrite);
    expect(args).toContain("--filesystem");
    const out = args[args.indexOf("--output") + 1]!;
    const sock = args[args.indexOf("--socket") + 1]!;
    expect(out.startsWith(runFs.dir + "/")).toBe(true);
    const d = await startDaemon(args);
    const w = { daemon: d };

    const tails = tailLines.map((l) => spawnProcess([BIN, ...shellWords(rewrite(l)).slice(1)]));
    await waitSubscribers(d, out, tails.length);

    // "another container": a write from a new mount namespace
    const F = join(vol.dir, "workspace", "from-other-ns");
    const ns = await run(["unshare", "-m", "sh", "-c", 'readlink /proc/self/ns/mnt; echo x > "$1"; rm "$1"', "sh", F]);
    expect(ns.stdout.trim()).not.toBe(readlinkSync("/proc/self/ns/mnt"));
    const created = await waitForRecord(out, (r) => r.path === F && hasEvent(r, "CREATE"), 5000, w);
    expect([created.record.job_id, created.record.path_role]).toEqual(["job1", "workspace"]);
    const deleted = await waitForRecord(out, (r) => r.path === F && hasEvent(r, "DELETE"), 5000, w);
    expect([deleted.record.job_id, deleted.record.path_role]).toEqual(["job1", "workspace"]);
    const cw = await waitForRecord(out, (r) => r.path === F && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(cw.record.job_id).toBe("job1");

    // `cat secret -` stays alive until released, so the daemon can read its comm for the pretty line
    const catProc = track(Bun.spawn(["cat", secret, "-"], { stdin: "pipe", stdout: "ignore", stderr: "ignore" }));
    const cat = { pid: catProc.pid };
    await waitForRecord(out, (r) => r.type === "alert" && r.kind === "canary" && r.pid === cat.pid, 5000, w);
    catProc.stdin.end();
    await catProc.exited;

    const lines = readLines(out);
    const [alertTail, jobTail] = tailLines[0]!.includes("--type alert") ? [tails[0]!, tails[1]!] : [tails[1]!, tails[0]!];
    await alertTail.waitFor("stdout", (s) => s.includes(`ALERT canary cat[${cat.pid}] ${secret}: canary opened`), 5000, "the pretty alert line");
    await jobTail.waitFor("stdout", 
      (s) => s.includes(lines[created.index]! + "\n") && s.includes(lines[deleted.index]! + "\n"),
      5000,
      "the CREATE and DELETE records of job1",
    );
    await stopClean(d);
    for (const t of tails) {
      const r = await t.wait(5000);
      expect({ code: r.code, timedOut: r.timedOut, stderr: t.stderr() }).toEqual({ code: 0, timedOut: false, stderr: "" });
    }
    // --pretty lines are not JSON; the job tail printed only job1 CREATE/DELETE records, verbatim
    expect(alertTail.stdout().split("\n").filter((l) => l !== "").every((l) => / ALERT /.test(l))).toBe(true);
    const jobRecs = parseJsonl(jobTail.stdout());
    expect(jobRecs.length).toBeGreaterThanOrEqual(2);
    for (const r of jobRecs) {
      expect(r.job_id).toBe("job1");
      expect(hasEvent(r, "CREATE", "DELETE")).toBe(true);
    }
    const fileText = readFileSync(out, "utf8");
    for (const l of jobTail.stdout().split("\n").filter((x) => x !== "")) expect(fileText.includes(l + "\n")).toBe(true);
    expect(existsSync(sock)).toBe(false); // removed at exit
  }, 30_000);
});
