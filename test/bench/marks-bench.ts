#!/usr/bin/env bun
// Cost of the per-mark mechanisms (behavior.md B17): `--mount` on tmpfs (a FID filesystem mark kept to
// the mount's tree) against `--filesystem` and against a base build whose `--mount` was a plain mount
// mark (file events only), and `--mount` on overlayfs (inode marks on every directory + the daemon's
// own directory map). Also the marks and start-up time for a tree of many directories.
//
//   sudo bun test/bench/marks-bench.ts [--rounds 5] [--ops 100000] [--dirs 10000] [--base-bin PATH]
//
// SAFETY: every mark is placed on a tmpfs or an overlayfs this script mounts inside a private tmpfs
// of its own (checked before each start, test/support/mounts.ts), and everything is unmounted on exit.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { waitQuiet } from "../support/jsonl.ts";
import { assertSafeMarks, makeTmpDir, makeTmpfs, trackInnerMount } from "../support/mounts.ts";
import { cpuSeconds as cpuSec, fanotifyMarks, median } from "../support/procfs.ts";
import { spawnChild, type Child } from "../support/process.ts";

const REPO = resolve(import.meta.dir, "../..");
const READY = "fanotifyd started (pid=";

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

const work = makeTmpDir("fanotifyd-marks-bench-");

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString().trim()}`);
  return r.stdout.toString();
}

// Children and mounts are released at exit (test/support/exit.ts), also after SIGINT/SIGTERM.
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => process.exit(130));

/** A fresh filesystem to mark, inside the private tmpfs `work/base`. */
function makeMarkFs(kind: "tmpfs" | "overlay", n: number): string {
  const base = join(work, `fs${n}`);
  makeTmpfs(1024, { at: base });
  const mnt = join(base, "m");
  if (kind === "tmpfs") {
    makeTmpfs(512, { at: mnt });
  } else {
    for (const d of ["l", "u", "w", "m"]) mkdirSync(join(base, d));
    sh(["mount", "-t", "overlay", "-o", `lowerdir=${base}/l,upperdir=${base}/u,workdir=${base}/w`, "overlay", mnt]);
    trackInnerMount(mnt);
  }
  return mnt;
}

/** fanotify marks the process holds, from /proc/PID/fdinfo. */
function markCount(pid: number): number {
  return fanotifyMarks(pid).filter((l) => /^(ino|mnt_id|sdev):/.test(l)).length;
}

interface Daemon extends Child {
  readyMs: number;
}

async function startDaemon(bin: string, args: string[]): Promise<Daemon> {
  assertSafeMarks(args, work);
  const t0 = performance.now();
  const c = spawnChild([bin, "-f", ...args], { cwd: work, stdout: "ignore" });
  try {
    await c.waitFor("stderr", READY, 120_000, "ready");
  } catch (e) {
    throw new Error(`${bin} ${args.join(" ")} did not start:\n${c.stderr()}`, { cause: e });
  }
  return { ...c, readyMs: performance.now() - t0 };
}

async function stop(d: Daemon): Promise<void> {
  await d.stop("SIGTERM", 60_000);
}

/** Until the output has not grown for 300 ms. */
async function quiet(file: string): Promise<void> {
  await waitQuiet(file, { quietMs: 300, maxMs: Infinity });
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

async function flood(id: string, bin: string, kind: "tmpfs" | "overlay", markFlag: string, ops: number, loadgen: string, n: number): Promise<Row> {
  const mnt = makeMarkFs(kind, n);
  const dir = join(mnt, "w");
  mkdirSync(dir);
  const outFs = makeTmpfs(2048, { at: join(work, `out${n}`) });
  const outDir = outFs.dir;
  const out = join(outDir, "out.jsonl");
  const d = await startDaemon(bin, [markFlag, mnt, "-o", out]);
  const c0 = cpuSec(d.pid);
  const t0 = performance.now();
  sh([loadgen, dir, "cwcru", String(ops), "0"]);
  await quiet(out);
  const secs = (performance.now() - t0 - 300) / 1000;
  const c1 = cpuSec(d.pid);
  await stop(d);
  const { events, overflows } = countRecords(out);
  outFs.cleanup();
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
  const marks = markCount(d.pid);
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
