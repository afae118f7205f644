// --process-details against the real kernel (issue 12, behavior.md B18): processes moved into cgroups
// named as Docker (cgroupfs and systemd drivers), containerd and CRI-O under kubepods (both drivers) and
// Podman name them, under the host's cgroup v2 hierarchy; a process in its own pid namespace; one
// running as another uid; a process gone before it could be attributed; hooks; container-scoped bursts.
//
// Every cgroup is made under one fresh parent per test and removed afterwards (after its processes exit).

import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { fanotifyGroups } from "../support/procfs.ts";
import {
  cleanupAll,
  countFds,
  fdCountSettled,
  hasEvent,
  makeTmpDir,
  makeTmpfs,
  readJsonl,
  requestStats,
  requireIntegration,
  spawnChild,
  startDaemon,
  statsFromLog,
  track,
  waitFor,
  waitForRecord,
  type Daemon,
  type JsonRecord,
  type Tmpfs,
} from "./harness.ts";

const RUN = requireIntegration();

/** Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts). */
function cgroup2Root(): string | null {
  for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[2] === "cgroup2") return f[1] ?? null;
  }
  return null;
}

/** The v1 name=systemd hierarchy on a hybrid host, if mounted. */
function systemdV1Root(): string | null {
  for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
    const f = line.split(" ");
    if (f[2] === "cgroup" && (f[3] ?? "").split(",").includes("name=systemd")) return f[1] ?? null;
  }
  return null;
}

/** Our own cgroup v2 path: cgroups we create under the mount appear under it in /proc/PID/cgroup. */
function ownV2Path(): string {
  const line = readFileSync("/proc/self/cgroup", "utf8")
    .split("\n")
    .find((l) => l.startsWith("0::"));
  return line === undefined ? "/" : line.slice(3);
}

const CG2 = cgroup2Root();
const V1 = systemdV1Root();

/** Cgroups made by a test, removed deepest first by removeCgroups(). */
const madeCgroups: string[] = [];

function makeCgroup(root: string, rel: string): string {
  const parts = rel.split("/").filter((p) => p !== "");
  let dir = root;
  for (const p of parts) {
    dir = join(dir, p);
    if (!existsSync(dir)) {
      mkdirSync(dir);
      madeCgroups.push(dir);
    }
  }
  return dir;
}

function removeCgroups(): void {
  for (const dir of madeCgroups.splice(0).reverse()) {
    try {
      rmdirSync(dir);
    } catch {
      // still populated (a process that did not exit): reported by the test that made it
    }
  }
}

const held: Subprocess[] = [];

/**
 * A perl process that moves itself into `cgroupDir` (when given), then writes each `write` file and
 * performs each rename, prints "done", and stays alive (so it can be attributed) until killed.
 */
async function actor(opts: {
  cgroupDir?: string;
  writes?: string[];
  renames?: Array<[string, string]>;
  prefix?: string[];
}): Promise<Subprocess<"ignore", "pipe", "pipe">> {
  const script = `
    my $cg = shift @ARGV;
    if ($cg ne "") { open(my $c, ">", "$cg/cgroup.procs") or die "open $cg: $!"; print $c "$$\\n"; close($c) or die "move: $!"; }
    while (@ARGV) {
      my $op = shift @ARGV;
      if ($op eq "w") { my $p = shift @ARGV; open(my $f, ">", $p) or die "$p: $!"; print $f "x"; close($f); }
      elsif ($op eq "r") { my $a = shift @ARGV; my $b = shift @ARGV; rename($a, $b) or die "rename $a: $!"; }
    }
    $| = 1; print "done\\n"; sleep 60;`;
  const args: string[] = [opts.cgroupDir ?? ""];
  for (const w of opts.writes ?? []) args.push("w", w);
  for (const [a, b] of opts.renames ?? []) args.push("r", a, b);
  const c = spawnChild([...(opts.prefix ?? []), "perl", "-e", script, ...args]);
  held.push(c.proc);
  await c.waitFor("stdout", "done\n", 10_000, 'the actor\'s "done"');
  return c.proc;
}

async function releaseAll(): Promise<void> {
  for (const p of held.splice(0)) {
    p.kill("SIGKILL");
    await p.exited;
  }
}

afterEach(async () => {
  await releaseAll();
  removeCgroups();
  await cleanupAll();
});

/** A tmpfs to mark (`fs`) and an output file on another, unmarked tmpfs. */
function mounts(): { fs: Tmpfs; out: string } {
  return { fs: makeTmpfs(), out: join(makeTmpfs().dir, "out.jsonl") };
}

/** The first record of `out` that satisfies `pred` (fails fast if the daemon exits). */
async function recordOf(out: string, d: Daemon, pred: (r: JsonRecord) => boolean, timeoutMs = 5000): Promise<JsonRecord> {
  return (await waitForRecord(out, pred, timeoutMs, { daemon: d })).record;
}

const hex64 = (seed: number): string => {
  let s = "";
  for (let i = 0; s.length < 64; i++) s += ((seed * 2654435761 + i * 40503) >>> 0).toString(16).padStart(8, "0");
  return s.slice(0, 64);
};
const POD = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b";
const POD_SD = POD.replaceAll("-", "_");

interface Layout {
  readonly name: string;
  /** Cgroup path under the test's parent, given the container id. */
  readonly path: (id: string) => string;
  readonly container: boolean;
  readonly pod: string | null;
}

const LAYOUTS: readonly Layout[] = [
  { name: "docker cgroupfs", path: (id) => `docker/${id}`, container: true, pod: null },
  { name: "docker systemd", path: (id) => `system.slice/docker-${id}.scope`, container: true, pod: null },
  { name: "containerd cgroupfs", path: (id) => `kubepods/burstable/pod${POD}/${id}`, container: true, pod: POD },
  {
    name: "containerd systemd",
    path: (id) => `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_SD}.slice/cri-containerd-${id}.scope`,
    container: true,
    pod: POD,
  },
  { name: "CRI-O cgroupfs", path: (id) => `kubepods/besteffort/pod${POD}/crio-${id}`, container: true, pod: POD },
  {
    name: "CRI-O systemd",
    path: (id) => `kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_SD}.slice/crio-${id}.scope`,
    container: true,
    pod: POD,
  },
  { name: "podman", path: (id) => `machine.slice/libpod-${id}.scope`, container: true, pod: null },
  { name: "no container", path: () => "user.slice/user-0.slice/session-1.scope", container: false, pod: null },
];

const DETAIL_KEYS = ["ppid", "uid", "cgroup", "container_id", "pod_uid"];

function expectDetailsLast(r: JsonRecord, seedLast: string): void {
  const keys = Object.keys(r);
  expect(keys.slice(keys.indexOf(seedLast) + 1)).toEqual(DETAIL_KEYS);
}

describe.skipIf(!RUN || CG2 === null)("process details: container runtimes' cgroups (cgroup v2)", () => {
  test("each runtime's layout gives the right container_id, pod_uid and cgroup; ppid and uid; alerts too", async () => {
    const cg2 = CG2!;
    const { fs, out } = mounts();
    const parent = `fanotifyd-it-${process.pid}-${Date.now()}`;
    const d = await startDaemon(["-w", fs.dir, "--process-details", "--canary", join(fs.dir, "canary-*"), "-o", out]);
    const base = ownV2Path() === "/" ? "" : ownV2Path();
    for (const [i, layout] of LAYOUTS.entries()) {
      const id = hex64(i + 1);
      const rel = `${parent}/${layout.path(id)}`;
      const dir = makeCgroup(cg2, rel);
      const file = join(fs.dir, `f${i}`);
      const canary = join(fs.dir, `canary-${i}`);
      const p = await actor({ cgroupDir: dir, writes: [file, canary] });
      const isMine = (r: JsonRecord) => r.pid === p.pid && r.path === file && r.type === "event";
      const ev = await recordOf(out, d, isMine);
      const alert = await recordOf(out, d, (r) => r.type === "alert" && r.kind === "canary" && r.path === canary);
      for (const r of [ev, alert]) {
        expect({ layout: layout.name, ppid: r.ppid, uid: r.uid, cgroup: r.cgroup, container_id: r.container_id, pod_uid: r.pod_uid }).toEqual({
          layout: layout.name,
          ppid: process.pid,
          uid: 0,
          cgroup: `${base}/${rel}`,
          container_id: layout.container ? id : null,
          pod_uid: layout.pod,
        });
      }
      expectDetailsLast(ev, "is_dir");
      expectDetailsLast(alert, "reason");
      expect(ev.comm).toBe("perl");
    }
    await d.stop("SIGTERM");
  }, 60_000);

  test.skipIf(V1 === null)("hybrid host: a process in the v1 name=systemd hierarchy only is attributed from it", async () => {
    const { fs, out } = mounts();
    const id = hex64(99);
    const rel = `fanotifyd-it-${process.pid}-${Date.now()}/system.slice/docker-${id}.scope`;
    const dir = makeCgroup(V1!, rel);
    const d = await startDaemon(["-w", fs.dir, "--process-details", "-o", out]);
    const file = join(fs.dir, "v1");
    const p = await actor({ cgroupDir: dir, writes: [file] });
    const r = await recordOf(out, d, (x) => x.pid === p.pid && x.path === file);
    if (ownV2Path() === "/") {
      expect(r.cgroup).toBe(`/${rel}`);
      expect(r.container_id).toBe(id);
    }
    await d.stop("SIGTERM");
  }, 30_000);
});

describe.skipIf(!RUN)("process details: namespaces, users, misses, hooks, defaults", () => {
  test("a process in its own pid namespace is reported with host pids (unshare --pid --fork)", async () => {
    const { fs, out } = mounts();
    const d = await startDaemon(["-w", fs.dir, "--process-details", "-o", out]);
    const file = join(fs.dir, "ns");
    const p = await actor({ prefix: ["unshare", "--pid", "--fork"], writes: [file] });
    const r = await recordOf(out, d, (x) => x.path === file && x.type === "event");
    // perl is unshare's child: pid 1 in its namespace, a host pid in the record; ppid is unshare (host pid)
    expect(r.ppid).toBe(p.pid);
    expect(r.pid).not.toBe(1);
    const nspid = readFileSync(`/proc/${r.pid as number}/status`, "utf8").match(/^NSpid:\s+(.*)$/m)?.[1]?.split(/\s+/);
    expect(nspid).toEqual([String(r.pid), "1"]);
    expect(r.uid).toBe(0);
    expect(r.comm).toBe("perl");
    expect(r.container_id).toBeNull();
    await d.stop("SIGTERM");
  }, 30_000);

  test("a process running as another uid (setpriv) reports its effective uid", async () => {
    const { fs, out } = mounts();
    chmodSync(fs.dir, 0o777);
    const d = await startDaemon(["-w", fs.dir, "--process-details", "-o", out]);
    const file = join(fs.dir, "u");
    const p = await actor({ prefix: ["setpriv", "--reuid", "12345", "--regid", "12345", "--clear-groups"], writes: [file] });
    const r = await recordOf(out, d, (x) => x.path === file && x.type === "event");
    expect(r.pid).toBe(p.pid); // setpriv execs perl
    expect(r.uid).toBe(12345);
    expect(r.ppid).toBe(process.pid);
    await d.stop("SIGTERM");
  }, 30_000);

  test("a process reaped before its event was read: fields omitted (never another's), attribution_missed counted", async () => {
    const { fs, out } = mounts();
    const d = await startDaemon(["-w", fs.dir, "--process-details", "-o", out]);
    const file = join(fs.dir, "gone");
    // The daemon is stopped while the writer runs and is reaped: its pidfd is FAN_NOPIDFD at read time.
    d.signal("SIGSTOP");
    const w = Bun.spawn(["sh", "-c", `echo x > ${file}`]);
    await w.exited;
    d.signal("SIGCONT");
    const r = await recordOf(out, d, (x) => x.path === file && x.type === "event");
    for (const k of DETAIL_KEYS) expect(r).not.toHaveProperty(k);
    const stats = await requestStats(d, out);
    expect(stats.attribution_missed as number).toBeGreaterThanOrEqual(1);
    await d.stop("SIGTERM");
  }, 30_000);

  test("keying by (pid, start time): a process's late events, read after it was reaped, still share its cooldown", async () => {
    const { fs, out } = mounts();
    const canary = join(fs.dir, "canary");
    writeFileSync(canary, "c");
    const d = await startDaemon(["-w", fs.dir, "--canary", canary, "-o", out]);
    const sh = track(Bun.spawn(["sh", "-c", 'exec 3<"$1"; read x; exec 4<"$1"', "sh", canary], { stdin: "pipe" }));
    await recordOf(out, d, (r) => r.type === "alert" && r.pid === sh.pid);
    // The second open happens, and the shell is reaped, while the daemon is stopped.
    d.signal("SIGSTOP");
    sh.stdin.write("\n");
    sh.stdin.end();
    await sh.exited;
    d.signal("SIGCONT");
    const marker = join(fs.dir, "marker");
    const m = await actor({ writes: [marker] });
    await recordOf(out, d, (r) => r.pid === m.pid && r.path === marker);
    const recs = readJsonl(out);
    expect(recs.filter((r) => r.type === "event" && r.pid === sh.pid && r.path === canary).length).toBe(2);
    expect(recs.filter((r) => r.type === "alert" && r.pid === sh.pid).length).toBe(1); // the cooldown held
    await d.stop("SIGTERM");
  }, 30_000);

  test("hooks get FAN_PPID, FAN_UID, FAN_CONTAINER_ID, FAN_POD_UID", async () => {
    const { fs, out } = mounts();
    const aux = makeTmpDir();
    const envFile = join(aux, "env.txt");
    const id = hex64(7);
    const dir = makeCgroup(CG2 ?? "/nonexistent", `fanotifyd-it-${process.pid}-${Date.now()}/kubepods/burstable/pod${POD}/${id}`);
    const canary = join(fs.dir, "canary");
    const d = await startDaemon([
      "-w",
      fs.dir,
      "--process-details",
      "--canary",
      canary,
      "--hook",
      `env > ${aux}/env.tmp && mv ${aux}/env.tmp ${envFile}`,
      "-o",
      out,
    ]);
    await actor({ cgroupDir: dir, writes: [canary] });
    await waitFor(() => existsSync(envFile), 5000, "the hook's env.txt", d);
    const env = new Map(
      readFileSync(envFile, "utf8")
        .split("\n")
        .filter((l) => l.startsWith("FAN_"))
        .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)] as const),
    );
    expect(env.get("FAN_PPID")).toBe(String(process.pid));
    expect(env.get("FAN_UID")).toBe("0");
    expect(env.get("FAN_CONTAINER_ID")).toBe(id);
    expect(env.get("FAN_POD_UID")).toBe(POD);
    await d.stop("SIGTERM");
  }, 30_000);

  test("permission mode: answered, details on permission and notification records, every pidfd closed", async () => {
    const { fs, out } = mounts();
    const FILE = join(fs.dir, "file");
    writeFileSync(FILE, "x\n");
    const d = await startDaemon(["--perm", "--process-details", "--filesystem", fs.dir, "-o", out]);
    const warm = await actor({ writes: [FILE] });
    await recordOf(out, d, (r) => r.pid === warm.pid && hasEvent(r, "OPEN_PERM"));
    await Bun.sleep(200);
    const before = countFds(d.pid);
    const N = 2000;
    const MARK = join(fs.dir, "mark");
    const sh = Bun.spawn([
      "sh",
      "-c",
      `i=0; while [ $i -lt ${N} ]; do true <"$1" || exit 1; echo y >> "$1"; i=$((i+1)); done; : > "$2"; sleep 5`,
      "sh",
      FILE,
      MARK,
    ]);
    track(sh);
    const last = await waitForRecord(out, (r) => r.pid === sh.pid && r.path === MARK && r.decision === "observe", 20_000, {
      daemon: d,
    });
    expect(last.records.filter((r) => r.pid === sh.pid && hasEvent(r, "OPEN_PERM")).length).toBeGreaterThanOrEqual(2 * N);
    const mine = last.records.filter((r) => r.pid === sh.pid);
    expect(mine.every((r) => r.uid === 0 && r.ppid === process.pid && r.container_id === null)).toBe(true);
    expect(mine.some((r) => r.decision === "allow") && mine.some((r) => r.decision === "observe")).toBe(true);
    expect(await fdCountSettled(d, before)).toBeLessThanOrEqual(before + 5);
    sh.kill("SIGKILL");
    await d.stop("SIGTERM");
  }, 60_000);

  for (const mode of [["--no-fid"], []]) {
    test(`${mode.length > 0 ? "FD" : "FID"} mode: event fds and pidfds of every read are closed (fd count steady after 2,000 writes)`, async () => {
      const { fs, out } = mounts();
      const FILE = join(fs.dir, "file");
      const d = await startDaemon([...mode, "--process-details", "-w", fs.dir, "-o", out]);
      const warm = await actor({ writes: [FILE] });
      await recordOf(out, d, (r) => r.pid === warm.pid);
      await Bun.sleep(200);
      const before = countFds(d.pid);
      const MARK = join(fs.dir, "mark");
      const sh = track(Bun.spawn(["sh", "-c", 'i=0; while [ $i -lt 2000 ]; do echo y >> "$1"; i=$((i+1)); done; : > "$2"; sleep 5', "sh", FILE, MARK]));
      const last = await recordOf(out, d, (r) => r.pid === sh.pid && r.path === MARK, 20_000);
      expect([last.uid, last.ppid]).toEqual([0, process.pid]);
      expect(await fdCountSettled(d, before)).toBeLessThanOrEqual(before + 5);
      sh.kill("SIGKILL");
      await d.stop("SIGTERM");
    }, 60_000);
  }

  test("off by default: the seed's fields only, no pidfds requested", async () => {
    const { fs, out } = mounts();
    const d = await startDaemon(["-w", fs.dir, "-o", out]);
    const file = join(fs.dir, "plain");
    const p = await actor({ writes: [file] });
    const r = await recordOf(out, d, (x) => x.pid === p.pid && x.path === file);
    expect(Object.keys(r).at(-1)).toBe("is_dir");
    await d.stop("SIGTERM");
    const stats = statsFromLog(d.stderr()).at(-1)!;
    expect(stats.attribution_missed).toBe(0);
  }, 30_000);

  test("process_details_check: pidfd asks the kernel for pidfds (FAN_REPORT_PIDFD), start-time does not; both report details", async () => {
    const { fs, out } = mounts();
    const FAN_REPORT_PIDFD = 0x80;
    for (const check of ["pidfd", "start-time"]) {
      const d = await startDaemon(["-w", fs.dir, "--process-details", "--process-details-check", check, "-o", out]);
      const flags = fanotifyGroups(d.pid).map((g) => g.flags);
      expect(flags.length).toBeGreaterThan(0);
      for (const f of flags) expect((f & FAN_REPORT_PIDFD) !== 0).toBe(check === "pidfd");
      const file = join(fs.dir, `check-${check}`);
      const p = await actor({ writes: [file] });
      const r = await recordOf(out, d, (x) => x.pid === p.pid && x.path === file);
      expect({ uid: r.uid, ppid: r.ppid }).toEqual({ uid: 0, ppid: process.pid });
      await d.stop("SIGTERM");
    }
  }, 30_000);

  test("config file: process_details 1 and burst_scope; bad values are errors", async () => {
    const aux = makeTmpDir();
    const { fs, out } = mounts();
    const conf = join(aux, "f.conf");
    writeFileSync(conf, `watch ${fs.dir}\nprocess_details 1\nburst_scope container\noutput ${out}\n`);
    const d = await startDaemon(["-c", conf]);
    const file = join(fs.dir, "c");
    const p = await actor({ writes: [file] });
    const r = await recordOf(out, d, (x) => x.pid === p.pid && x.path === file);
    expect(r.uid).toBe(0);
    await d.stop("SIGTERM");
    writeFileSync(conf, `watch ${fs.dir}\nburst_scope pod\n`);
    const bad = Bun.spawnSync([join(import.meta.dir, "../../fanotifyd"), "-f", "-c", conf], { stderr: "pipe" });
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr.toString()).toContain("invalid burst_scope value 'pod'");
    const badFlag = Bun.spawnSync([join(import.meta.dir, "../../fanotifyd"), "-f", "-w", fs.dir, "--burst-scope", "x"], { stderr: "pipe" });
    expect(badFlag.exitCode).toBe(2);
    expect(badFlag.stderr.toString()).toContain("invalid --burst-scope value 'x'");
  }, 30_000);
});

describe.skipIf(!RUN || CG2 === null)("burst_scope container", () => {
  async function renameBurst(inContainer: boolean): Promise<{ alerts: JsonRecord[]; id: string }> {
    const { fs, out } = mounts();
    const id = hex64(inContainer ? 42 : 43);
    const parent = `fanotifyd-it-${process.pid}-${Date.now()}`;
    const dir = makeCgroup(CG2!, inContainer ? `${parent}/system.slice/docker-${id}.scope` : `${parent}/plain`);
    // The files exist before the daemon starts (their creation would be a burst of the test's own).
    for (let i = 0; i < 20; i++) {
      for (const n of [0, 1]) writeFileSync(join(fs.dir, `a${i}-${n}`), "x");
    }
    // Each process: 2 renames = 4 mutating records (MOVED_FROM, MOVED_TO); 20 processes: 80.
    const d = await startDaemon([
      "-w",
      fs.dir,
      "--burst-scope",
      "container",
      "--burst-threshold",
      "10",
      "--burst-window-ms",
      "60000",
      "--hook-cooldown-ms",
      "60000",
      "-o",
      out,
    ]);
    const actors: number[] = [];
    for (let i = 0; i < 20; i++) {
      const p = await actor({
        cgroupDir: dir,
        renames: [0, 1].map((n): [string, string] => [join(fs.dir, `a${i}-${n}`), join(fs.dir, `b${i}-${n}`)]),
      });
      actors.push(p.pid);
    }
    const last = join(fs.dir, "b19-1");
    await recordOf(out, d, (r) => r.type === "event" && r.path === last && String(r.events).includes("MOVED_TO"), 10_000);
    await d.stop("SIGTERM");
    const records = readJsonl(out);
    const moves = records.filter((r) => r.type === "event" && actors.includes(r.pid as number) && /MOVED_(FROM|TO)/.test(String(r.events)));
    expect(moves.length).toBe(80);
    return { alerts: records.filter((r) => r.type === "alert" && r.kind === "burst"), id };
  }

  test("20 processes of one container, 2 renames each: one burst alert carrying the container id", async () => {
    const { alerts, id } = await renameBurst(true);
    expect(alerts.length).toBe(1);
    expect(alerts[0]!.container_id).toBe(id);
    expect(alerts[0]!.count).toBe(10);
  }, 60_000);

  test("the same across 20 processes in no container: no burst alert", async () => {
    const { alerts } = await renameBurst(false);
    expect(alerts).toEqual([]);
  }, 60_000);
});

