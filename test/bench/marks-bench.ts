#!/usr/bin/env bun
// Cost of the per-mark mechanisms (behavior.md B17): `--mount` on tmpfs (a FID filesystem mark kept to
// the mount's tree) against `--filesystem` and against a base build whose `--mount` was a plain mount
// mark (file events only), and `--mount` on overlayfs (inode marks on every directory + the daemon's
// own directory map). Also the marks and start-up time for a tree of many directories.
//
//   sudo bun test/bench/marks-bench.ts [--rounds 5] [--ops 100000] [--dirs 10000] [--base-bin PATH]
//
// SAFETY: every mark is placed on a tmpfs or an overlayfs this script mounts inside its own private
// tmpfs, and everything is unmounted on exit.
import type { Subprocess } from "bun";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const REPO = resolve(import.meta.dir, "../..");
const READY = "fanotifyd started (pid=";
const CLK_TCK = 100;

interface Options {
  rounds: number;
  ops: number;
  dirs: number;
  bin: string;
  baseBin: string | null;
}

function parseOptions(argv: string[]): Options {
  const o: Options = { rounds: 5, ops: 100_000, dirs: 10_000, bin: process.env.FANOTIFYD_BIN ?? join(REPO, "fanotifyd"), baseBin: null };
  for (let i = 0; i < argv.length; i++) {
    const val = (): string => argv[++i] ?? "";
    switch (argv[i]) {
      case "--rounds":
        o.rounds = Number(val());
        break;
      case "--ops":
        o.ops = Number(val());
        break;
      case "--dirs":
        o.dirs = Number(val());
        break;
      case "--base-bin":
        o.baseBin = resolve(val());
        break;
      default:
        throw new Error(`unknown option ${argv[i]}`);
    }
  }
  return o;
}

const mounts: string[] = [];
const children = new Set<Subprocess>();
const work = realpathSync(mkdtempSync(join(tmpdir(), "fanotifyd-marks-bench-")));

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

function mount(args: string[], dir: string): void {
  mkdirSync(dir, { recursive: true });
  sh(["mount", ...args, dir]);
  mounts.push(dir);
}

function cleanup(): void {
  for (const c of children) c.kill(9);
  for (const m of mounts.reverse()) Bun.spawnSync(["umount", "-l", m]);
  mounts.length = 0;
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", cleanup);
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** A fresh filesystem to mark, inside the private tmpfs `work/base`. */
function makeMarkFs(kind: "tmpfs" | "overlay", n: number): string {
  const base = join(work, `fs${n}`);
  mount(["-t", "tmpfs", "-o", "size=1g", "tmpfs"], base);
  const mnt = join(base, "m");
  if (kind === "tmpfs") {
    mount(["-t", "tmpfs", "-o", "size=512m", "tmpfs"], mnt);
  } else {
    for (const d of ["l", "u", "w"]) mkdirSync(join(base, d));
    mount(["-t", "overlay", "-o", `lowerdir=${base}/l,upperdir=${base}/u,workdir=${base}/w`, "overlay"], mnt);
  }
  return mnt;
}

function cpuSec(pid: number): number {
  const s = readFileSync(`/proc/${pid}/stat`, "latin1");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

/** fanotify marks the process holds, from /proc/PID/fdinfo. */
function markCount(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== "anon_inode:[fanotify]") continue;
      for (const line of readFileSync(`/proc/${pid}/fdinfo/${fd}`, "latin1").split("\n")) if (/^fanotify (ino|mnt_id|sdev):/.test(line)) n++;
    } catch {
      // closed meanwhile
    }
  }
  return n;
}

interface Daemon {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  readyMs: number;
  stderr(): string;
}

async function startDaemon(bin: string, args: string[]): Promise<Daemon> {
  const t0 = performance.now();
  const proc = Bun.spawn([bin, "-f", ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  children.add(proc);
  let text = "";
  const ready = Promise.withResolvers<number>();
  void (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stderr) {
      text += dec.decode(chunk, { stream: true });
      if (text.includes(READY)) ready.resolve(performance.now() - t0);
    }
  })();
  const r = await Promise.race([ready.promise, proc.exited.then(() => -1), Bun.sleep(120_000).then(() => -2)]);
  if (r < 0) throw new Error(`${bin} ${args.join(" ")} did not start:\n${text}`);
  return { proc, readyMs: r, stderr: () => text };
}

async function stop(d: Daemon): Promise<void> {
  d.proc.kill("SIGTERM");
  await d.proc.exited;
  children.delete(d.proc);
}

async function waitQuiet(file: string): Promise<void> {
  let last = -1;
  let stableSince = performance.now();
  for (;;) {
    let size = 0;
    try {
      size = statSync(file).size;
    } catch {
      // not yet
    }
    if (size !== last) {
      last = size;
      stableSince = performance.now();
    } else if (performance.now() - stableSince > 300) return;
    await Bun.sleep(5);
  }
}

function countRecords(file: string): { events: number; overflows: number } {
  const text = readFileSync(file, "latin1");
  let events = 0;
  let overflows = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith('{"schema_version":1,"type":"event"')) events++;
    else if (line.includes('"kind":"overflow"')) overflows++;
  }
  return { events, overflows };
}

interface Row {
  id: string;
  eventsPerSec: number;
  cpuPer100k: number;
  overflows: number;
  events: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

async function flood(id: string, bin: string, kind: "tmpfs" | "overlay", markFlag: string, ops: number, loadgen: string, n: number): Promise<Row> {
  const mnt = makeMarkFs(kind, n);
  const dir = join(mnt, "w");
  mkdirSync(dir);
  const outDir = join(work, `out${n}`);
  mount(["-t", "tmpfs", "-o", "size=2g", "tmpfs"], outDir);
  const out = join(outDir, "out.jsonl");
  const d = await startDaemon(bin, [markFlag, mnt, "-o", out]);
  const c0 = cpuSec(d.proc.pid);
  const t0 = performance.now();
  sh([loadgen, dir, "cwcru", String(ops), "0"]);
  await waitQuiet(out);
  const secs = (performance.now() - t0 - 300) / 1000;
  const c1 = cpuSec(d.proc.pid);
  await stop(d);
  const { events, overflows } = countRecords(out);
  Bun.spawnSync(["umount", outDir]);
  return { id, eventsPerSec: events / secs, cpuPer100k: ((c1 - c0) * 100_000) / Math.max(events, 1), overflows, events };
}

async function treeStart(bin: string, kind: "tmpfs" | "overlay", dirs: number, n: number): Promise<{ readyMs: number; marks: number }> {
  const mnt = makeMarkFs(kind, n);
  const per = Math.ceil(Math.sqrt(dirs));
  let made = 0;
  for (let i = 0; i < per && made < dirs; i++) {
    for (let j = 0; j < per && made < dirs; j++, made++) mkdirSync(join(mnt, `a${i}`, `b${j}`), { recursive: true });
  }
  writeFileSync(join(mnt, "a0", "file"), "x");
  const d = await startDaemon(bin, ["--mount", mnt, "-o", "/dev/null"]);
  const marks = markCount(d.proc.pid);
  await stop(d);
  return { readyMs: d.readyMs, marks };
}

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const loadgen = join(work, "loadgen");
  sh(["cc", "-O2", "-o", loadgen, join(import.meta.dir, "loadgen.c")]);
  const subjects: Array<{ id: string; bin: string; kind: "tmpfs" | "overlay"; flag: string }> = [
    { id: "tmpfs --mount", bin: o.bin, kind: "tmpfs", flag: "--mount" },
    { id: "tmpfs --filesystem", bin: o.bin, kind: "tmpfs", flag: "--filesystem" },
    { id: "overlay --mount", bin: o.bin, kind: "overlay", flag: "--mount" },
  ];
  if (o.baseBin !== null) subjects.push({ id: "tmpfs --mount (base build)", bin: o.baseBin, kind: "tmpfs", flag: "--mount" });
  const rows = new Map<string, Row[]>();
  let n = 0;
  for (let r = 0; r < o.rounds; r++) {
    for (const s of subjects) {
      const row = await flood(s.id, s.bin, s.kind, s.flag, o.ops, loadgen, n++);
      console.error(`round ${r + 1} ${s.id}: ${Math.round(row.eventsPerSec)} events/s, ${row.cpuPer100k.toFixed(3)} CPU s/100k, ${row.overflows} overflows`);
      rows.set(s.id, [...(rows.get(s.id) ?? []), row]);
    }
  }
  const trees: Array<{ kind: string; readyMs: number[]; marks: number[] }> = [];
  for (const kind of ["tmpfs", "overlay"] as const) {
    const t = { kind, readyMs: [] as number[], marks: [] as number[] };
    for (let r = 0; r < Math.min(o.rounds, 3); r++) {
      const res = await treeStart(o.bin, kind, o.dirs, n++);
      t.readyMs.push(res.readyMs);
      t.marks.push(res.marks);
    }
    trees.push(t);
  }
  console.log(`## --mount mechanisms: cwcru flood of ${o.ops} ops, medians of ${o.rounds}\n`);
  console.log("| subject | events/s | CPU s per 100k records | events | overflows (sum) |");
  console.log("|---|---:|---:|---:|---:|");
  for (const [id, rs] of rows) {
    console.log(
      `| ${id} | ${Math.round(median(rs.map((x) => x.eventsPerSec)))} | ${median(rs.map((x) => x.cpuPer100k)).toFixed(3)} | ` +
        `${Math.round(median(rs.map((x) => x.events)))} | ${rs.reduce((a, x) => a + x.overflows, 0)} |`,
    );
  }
  console.log(`\n## start-up with a tree of ${o.dirs} directories (\`--mount\`, medians of ${Math.min(o.rounds, 3)})\n`);
  console.log("| filesystem | marks | start-up to ready, ms |");
  console.log("|---|---:|---:|");
  for (const t of trees) console.log(`| ${t.kind} | ${median(t.marks)} | ${Math.round(median(t.readyMs))} |`);
}

await main();
