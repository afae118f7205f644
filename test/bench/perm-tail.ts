// Permission tail latency and the FD-mode open+close flood (issue 11), in one run, against the C
// programs of the same run. Needs root. `sudo bun test/bench/perm-tail.ts [--rounds N] [--opens N] [--warm N]`;
// `npm run bench` runs it after the main report (see README.md in this directory).
//
// Permission tables: pinned (the subject and the opener on one CPU, taskset), free scheduling, and
// pinned while a create+write+close+rename+unlink load runs at 20k ops/s on a second mount that the
// subject also marks (the C responder: a second instance for it), interleaved per round (order rotated): none, the C responder (perm-responder.c), fanotifyd
// `--perm --no-fid --mount`, and the same with `--deny-on-alert` and 100 canary globs (none matches:
// every open is allowed, a denial fails the run). perm-open.c times every open() of 1000 files after
// a warm-up of --warm opens (default WARM_OPENS). The default keeps the figures comparable with every
// earlier pass, but the runtime's one-off JIT compilation is not over by then: ~49 compilations fall
// in the timed window after 20,000 opens, ~1 after 200,000 (`BUN_JSC_reportCompileTimes=1`, pinned;
// README "Performance", twelfth pass) — `--warm 200000` measures the steady state.
// Added latency = subject − none, per percentile; ratios ÷ the C responder's added latency.
// FANOTIFYD_BEFORE=/path/to/binary adds the same two fanotifyd subjects for another build (before/after).
//
// FD flood table: loadgen oc (open+close of 1000 files, as fast as possible) against the C floor
// reader (floor-reader.c fd) and fanotifyd `--no-fid`, both with a filesystem mark: records, kernel
// overflows, CPU per 100k records and its ratio to the floor.
//
// SAFETY: marks only on the private tmpfs this script mounts (checked: it is a mount point of type
// tmpfs that we made); both mounts are lazily unmounted on every exit path; every child is killed at exit.
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join, resolve } from "node:path";
import { waitQuiet } from "../support/jsonl.ts";
import { assertSafeMarkPath, makeTmpDir, makeTmpfs, mountInfoFsType, releaseMounts, type Tmpfs } from "../support/mounts.ts";
import { cpuSeconds as cpuSec, median } from "../support/procfs.ts";
import { killAllNow, spawnChild, type Child } from "../support/process.ts";

const REPO = resolve(import.meta.dir, "../..");
const BENCH = join(REPO, "test/bench");
const PERM_FILES = 1000;
const WARM_OPENS = 20_000;
const CANARIES = 100;

interface Opts {
  rounds: number;
  opens: number;
  warm: number;
  floodOps: number;
  only: "all" | "perm" | "flood";
  json: string;
}

function parseOpts(argv: string[]): Opts {
  const o: Opts = { rounds: 5, opens: 30_000, warm: WARM_OPENS, floodOps: 300_000, only: "all", json: join(BENCH, "results/perm-tail.json") };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a}: needs a positive integer, got '${argv[i]}'`);
      return n;
    };
    if (a === "--rounds") o.rounds = num();
    else if (a === "--opens") o.opens = num();
    else if (a === "--warm") o.warm = num();
    else if (a === "--flood-ops") o.floodOps = num();
    else if (a === "--perm-only") o.only = "perm";
    else if (a === "--flood-only") o.only = "flood";
    else if (a === "--json") o.json = argv[++i] ?? "";
    else throw new Error(`unknown option '${a}' (--rounds N, --opens N, --warm N, --flood-ops N, --perm-only, --flood-only, --json PATH)`);
  }
  return o;
}

const children = new Set<Child>();
let mounts: Tmpfs[] = [];
let tmpRoot = "";

/** Kills this script's children, unmounts its tmpfs mounts, removes its temp dir (not run.ts's). */
function cleanup(): void {
  for (const c of children) c.signal("SIGKILL");
  for (const m of mounts.reverse()) m.cleanup();
  mounts = [];
  if (tmpRoot) rmSync(tmpRoot, { recursive: true, force: true });
  tmpRoot = "";
}

function mountTmpfs(dir: string): void {
  mounts.push(makeTmpfs(512, { at: dir }));
}

/** SAFETY: a mark path must be on a tmpfs that this script mounted. */
function assertOurTmpfs(path: string, mount: string): void {
  if (!mounts.some((m) => m.dir === mount) || mountInfoFsType(mount) !== "tmpfs") throw new Error(`refusing to mark ${path}: ${mount} is not our tmpfs mount`);
  assertSafeMarkPath(path, "perm-tail", mount);
}

const f1 = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : "–");
const f2 = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : "–");
const log = (s: string): void => void process.stderr.write(`${s}\n`);

type Running = Child;

/** Starts a subject and waits until its stderr shows `ready` (a substring); throws after 10 s. */
async function start(cmd: string[], ready: string): Promise<Running> {
  const c = spawnChild(cmd, { stdout: "ignore" });
  children.add(c);
  try {
    await c.waitFor("stderr", ready, 10_000, "ready");
  } catch (e) {
    await stop(c, "SIGKILL");
    throw new Error(`${cmd[0]} did not become ready: ${c.stderr().trim().slice(-400)}`, { cause: e });
  }
  return c;
}

async function stop(r: Running, sig: NodeJS.Signals = "SIGTERM"): Promise<void> {
  await r.stop(sig, 5000);
  children.delete(r);
}

interface OpenStats {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  rate: number;
}

function runPermOpen(bin: string, dir: string, n: number, pin: string[]): OpenStats {
  const r = Bun.spawnSync([...pin, bin, dir, String(n), String(PERM_FILES)], { timeout: 120_000 });
  const out = r.stdout.toString();
  const g = (k: string): number => Number(new RegExp(`${k}=([\\d.]+)`).exec(out)?.[1] ?? NaN);
  if (r.exitCode !== 0) throw new Error(`perm-open failed (${r.exitCode}): ${out}${r.stderr.toString()}`);
  return { p50: g("p50_us"), p90: g("p90_us"), p99: g("p99_us"), p999: g("p999_us"), max: g("max_us"), rate: g("rate") };
}

interface PermSubject {
  id: string;
  label: string;
  /** the processes to start (none: null); `extra`: a second mount to answer for (the flood variant) */
  cmds: ((dir: string, extra: string | null) => string[][]) | null;
  ready: string;
}

function permSubjects(bin: string, out: string): PermSubject[] {
  const canaries = (dir: string): string[] => Array.from({ length: CANARIES }, (_, i) => ["--canary", `${dir}/canary-${i}-*.key`]).flat();
  const mounts = (dir: string, extra: string | null): string[] => ["--mount", dir, ...(extra === null ? [] : ["--mount", extra])];
  const fan = (id: string, exe: string, label: string): PermSubject[] => [
    { id, label, ready: "fanotifyd started (pid=", cmds: (dir, extra) => [[exe, "-f", "--perm", "--no-fid", ...mounts(dir, extra), "-o", join(out, `${id}.jsonl`)]] },
    {
      id: `${id}-deny100`,
      label: `${label} --deny-on-alert, ${CANARIES} canaries`,
      ready: "fanotifyd started (pid=",
      cmds: (dir, extra) => [[exe, "-f", "--perm", "--deny-on-alert", ...canaries(dir), "--no-fid", ...mounts(dir, extra), "-o", join(out, `${id}-deny100.jsonl`)]],
    },
  ];
  const responder = join(bin, "perm-responder");
  const list: PermSubject[] = [
    { id: "none", label: "no responder (baseline)", cmds: null, ready: "" },
    { id: "c-responder", label: "minimal C responder", cmds: (dir, extra) => [[responder, dir], ...(extra === null ? [] : [[responder, extra]])], ready: "ready" },
    ...fan("fanotifyd", join(bin, "fanotifyd"), "fanotifyd --perm --no-fid --mount"),
  ];
  if (existsSync(join(bin, "fanotifyd-before"))) list.push(...fan("before", join(bin, "fanotifyd-before"), "before: fanotifyd --perm --no-fid --mount"));
  return list;
}

/** pinned: subject and opener on the last CPU; flood: cwcru at FLOOD_RATE on another marked mount (loadgen on CPU 0). */
type Variant = "pinned" | "free" | "pinned-flood";
const VARIANTS: Variant[] = ["pinned", "free", "pinned-flood"];
const VARIANT_TITLE: Record<Variant, string> = {
  pinned: "pinned (subject and opener on one CPU)",
  free: "free scheduling (2 CPUs)",
  "pinned-flood": `pinned, while loadgen (on the other CPU) runs create+write+close+rename+unlink at 20k ops/s on a second mount the subject also marks`,
};
const FLOOD_RATE = 20_000;

type PermResult = { variant: Variant; subject: string; round: number } & OpenStats;

async function permRuns(o: Opts, bin: string, mnt: string, floodMnt: string, out: string): Promise<PermResult[]> {
  const dir = mnt; // --mount needs the mount point itself
  assertOurTmpfs(dir, mnt);
  assertOurTmpfs(floodMnt, floodMnt);
  runPermOpen(join(bin, "perm-open"), dir, 1, []); // creates the 1000 files before any subject
  const subjects = permSubjects(bin, out);
  const cpu = String(cpus().length - 1);
  const results: PermResult[] = [];
  for (let round = 0; round < o.rounds; round++) {
    for (const variant of VARIANTS) {
      const pin = variant === "free" ? [] : ["taskset", "-c", cpu];
      const flood = variant === "pinned-flood";
      const order = subjects.map((_, i) => subjects[(i + round) % subjects.length]);
      for (const s of order) {
        const running: Running[] = [];
        let load: Child | null = null;
        try {
          for (const cmd of s.cmds?.(dir, flood ? floodMnt : null) ?? []) running.push(await start([...pin, ...cmd], s.ready));
          if (flood) {
            load = spawnChild(["taskset", "-c", "0", join(bin, "loadgen"), floodMnt, "cwcru", String(FLOOD_RATE * 120), String(FLOOD_RATE)], { stdout: "ignore", stderr: "ignore" });
            children.add(load);
          }
          runPermOpen(join(bin, "perm-open"), dir, o.warm, pin);
          const st = runPermOpen(join(bin, "perm-open"), dir, o.opens, pin);
          results.push({ variant, subject: s.id, round, ...st });
          log(`perm ${variant} round ${round + 1} ${s.id}: p50 ${st.p50} p99 ${st.p99} p99.9 ${st.p999} µs`);
        } finally {
          if (load !== null) await stop(load, "SIGKILL");
          for (const r of running) await stop(r);
          rmSync(join(out, `${s.id}.jsonl`), { force: true });
        }
      }
    }
  }
  return results;
}

function permTable(results: PermResult[], subjects: PermSubject[], o: Opts): string {
  const lines: string[] = [];
  const keys = ["p50", "p90", "p99", "p999"] as const;
  for (const variant of VARIANTS) {
    const med = (id: string, k: (typeof keys)[number] | "max"): number => median(results.filter((r) => r.variant === variant && r.subject === id).map((r) => r[k]));
    const added = (id: string, k: (typeof keys)[number]): number => med(id, k) - med("none", k);
    lines.push(`\n### Permission latency, ${VARIANT_TITLE[variant]} — medians of ${o.rounds}, ${o.opens} opens of ${PERM_FILES} files after ${o.warm} warm-up opens`);
    lines.push("", "| subject | +p50 µs | +p90 µs | +p99 µs | +p99.9 µs | max µs | +p50 ÷ C | +p99 ÷ C | +p99.9 ÷ C |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of subjects) {
      const isNone = s.id === "none";
      const cell = (k: (typeof keys)[number]): string => (isNone ? f1(med(s.id, k)) + " (abs)" : f1(added(s.id, k)));
      const ratio = (k: (typeof keys)[number]): string => (isNone || s.id === "c-responder" ? "" : f2(added(s.id, k) / added("c-responder", k)));
      lines.push(`| ${s.label} | ${cell("p50")} | ${cell("p90")} | ${cell("p99")} | ${cell("p999")} | ${f1(med(s.id, "max"))} | ${ratio("p50")} | ${ratio("p99")} | ${ratio("p999")} |`);
    }
  }
  return lines.join("\n");
}

interface FloodResult {
  subject: string;
  round: number;
  records: number;
  overflows: number;
  cpuSec: number;
  opsPerSec: number;
}

function countLines(file: string): { records: number; overflows: number } {
  if (!existsSync(file)) return { records: 0, overflows: 0 };
  const text = readFileSync(file, "latin1");
  let records = 0;
  let overflows = 0;
  for (const l of text.split("\n")) {
    if (l.length === 0) continue;
    if (l.includes('"overflow":1') || l.includes('"kind":"overflow"')) overflows++;
    else if (l.includes("/flood/")) records++;
  }
  return { records, overflows };
}

/** Until the output has not grown for 300 ms (30 s at most). */
async function quiet(file: string): Promise<void> {
  await waitQuiet(file, { quietMs: 300, maxMs: 30_000 });
}

async function floodRuns(o: Opts, bin: string, mnt: string, out: string): Promise<FloodResult[]> {
  const mark = join(mnt, "w");
  mkdirSync(join(mark, "flood"), { recursive: true });
  mkdirSync(join(mark, "warm"), { recursive: true });
  assertOurTmpfs(mark, mnt);
  const subjects: { id: string; cmd: (file: string) => string[]; ready: string }[] = [
    { id: "floor-fd", cmd: (file) => [join(bin, "floor-reader"), "fd", mark, file], ready: "ready" },
    { id: "fanotifyd-fd", cmd: (file) => [join(bin, "fanotifyd"), "-f", "--no-fid", "--filesystem", mark, "-o", file], ready: "fanotifyd started (pid=" },
  ];
  if (existsSync(join(bin, "fanotifyd-before"))) {
    subjects.push({ id: "before-fd", cmd: (file) => [join(bin, "fanotifyd-before"), "-f", "--no-fid", "--filesystem", mark, "-o", file], ready: "fanotifyd started (pid=" });
  }
  const results: FloodResult[] = [];
  for (let round = 0; round < o.rounds; round++) {
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[(i + round) % subjects.length];
      const file = join(out, `${s.id}-${round}.out`);
      const r = await start(s.cmd(file), s.ready);
      try {
        Bun.spawnSync([join(bin, "loadgen"), join(mark, "warm"), "oc", "80000", "0"]);
        await quiet(file);
        const before = countLines(file);
        const cpu0 = cpuSec(r.pid);
        const lg = Bun.spawnSync([join(bin, "loadgen"), join(mark, "flood"), "oc", String(o.floodOps), "0"]).stdout.toString();
        await quiet(file);
        const cpu1 = cpuSec(r.pid);
        const after = countLines(file);
        const res = {
          subject: s.id,
          round,
          records: after.records - before.records,
          overflows: after.overflows - before.overflows,
          cpuSec: cpu1 - cpu0,
          opsPerSec: Number(/rate=([\d.]+)/.exec(lg)?.[1] ?? NaN),
        };
        results.push(res);
        log(`flood round ${round + 1} ${s.id}: ${res.records} records, ${res.overflows} overflows, ${res.cpuSec.toFixed(2)} CPU s, ${res.opsPerSec} ops/s`);
      } finally {
        await stop(r);
        rmSync(file, { force: true });
      }
    }
  }
  return results;
}

function floodTable(results: FloodResult[], o: Opts): string {
  const ids = [...new Set(results.map((r) => r.subject))];
  const med = (id: string, f: (r: FloodResult) => number): number => median(results.filter((r) => r.subject === id).map(f));
  const per100k = (r: FloodResult): number => (r.cpuSec / Math.max(1, r.records)) * 1e5;
  const floorRecords = med("floor-fd", (r) => r.records);
  const floorCpu = med("floor-fd", per100k);
  const perOps = (r: FloodResult): number => (r.cpuSec / o.floodOps) * 1e5;
  const floorOps = med("floor-fd", perOps);
  const lines = [
    `\n### FD observe, open+close flood (loadgen oc: 1000 files, ${o.floodOps} opens, as fast as possible) — medians of ${o.rounds}`,
    "",
    "| subject | ops/s | records | ÷ floor | overflows (median / worst) | CPU s / 100k records | × floor | CPU s / 100k ops | × floor |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const id of ids) {
    const worst = Math.max(...results.filter((r) => r.subject === id).map((r) => r.overflows));
    lines.push(
      `| ${id} | ${f1(med(id, (r) => r.opsPerSec))} | ${f1(med(id, (r) => r.records))} | ${f2(med(id, (r) => r.records) / floorRecords)} | ${med(id, (r) => r.overflows)} / ${worst} | ${f2(med(id, per100k))} | ${f2(med(id, per100k) / floorCpu)} | ${f2(med(id, perOps))} | ${f2(med(id, perOps) / floorOps)} |`,
    );
  }
  return lines.join("\n");
}

function buildHelpers(bin: string): void {
  for (const [src, exe] of [
    ["perm-open.c", "perm-open"],
    ["perm-responder.c", "perm-responder"],
    ["floor-reader.c", "floor-reader"],
    ["loadgen.c", "loadgen"],
  ]) {
    const r = Bun.spawnSync(["cc", "-O2", "-o", join(bin, exe), join(BENCH, src)]);
    if (r.exitCode !== 0) throw new Error(`cc ${src} failed: ${r.stderr.toString()}`);
  }
  const daemon = process.env.FANOTIFYD_BIN ?? join(REPO, "fanotifyd");
  if (!existsSync(daemon)) throw new Error(`${daemon} is missing: run 'bun build.ts' first (or set FANOTIFYD_BIN)`);
  copyFileSync(daemon, join(bin, "fanotifyd"));
  const before = process.env.FANOTIFYD_BEFORE;
  if (before) copyFileSync(before, join(bin, "fanotifyd-before"));
}

export async function runPermTail(argv: string[]): Promise<string> {
  const o = parseOpts(argv);
  if (process.getuid?.() !== 0) throw new Error("perm-tail needs root (fanotify, tmpfs mounts)");
  tmpRoot = makeTmpDir("fanotifyd-permtail-");
  const bin = join(tmpRoot, "bin");
  mkdirSync(bin);
  try {
    buildHelpers(bin);
    const mnt = join(tmpRoot, "m");
    const out = join(tmpRoot, "o");
    const floodMnt = join(tmpRoot, "fl");
    mountTmpfs(mnt);
    mountTmpfs(out);
    mountTmpfs(floodMnt);
    const report: string[] = [];
    const json: Record<string, unknown> = { rounds: o.rounds, opens: o.opens, warm: o.warm, nproc: cpus().length, cpu: cpus()[0]?.model };
    if (o.only !== "flood") {
      const perm = await permRuns(o, bin, mnt, floodMnt, out);
      report.push(permTable(perm, permSubjects(bin, out), o));
      json.perm = perm;
    }
    if (o.only !== "perm") {
      const flood = await floodRuns(o, bin, mnt, out);
      report.push(floodTable(flood, o));
      json.flood = flood;
    }
    mkdirSync(join(BENCH, "results"), { recursive: true });
    if (o.json) writeFileSync(o.json, JSON.stringify(json, null, 1));
    return report.join("\n");
  } finally {
    cleanup();
  }
}

if (import.meta.main) {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      killAllNow();
      releaseMounts();
      process.exit(130);
    });
  }
  runPermTail(process.argv.slice(2)).then(
    (report) => console.log(report),
    (err: unknown) => {
      cleanup();
      console.error(`perm-tail: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}
