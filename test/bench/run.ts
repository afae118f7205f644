// fanotifyd benchmark (npm run bench → bun test/bench/run.ts). Needs root. See test/bench/README.md.
//
// Builds the helpers (loadgen.c, floor-reader.c) with cc -O2 into a private temp dir, copies the
// daemon binary there (a rebuild of ./fanotifyd mid-run cannot disturb the run), mounts two private
// tmpfs file systems — one that the subjects mark, one for their output files — and runs every
// scenario against every subject, interleaved: round → scenario → subjects (the subject order is
// rotated every round). Every figure in the report is the median over the rounds.
//
// SAFETY: the only marks placed are filesystem marks on the private tmpfs this script mounts. Every
// mark path is checked before a subject starts, and every subject's marks are read back from
// /proc/PID/fdinfo once it is ready (any mark that is not a filesystem mark on our tmpfs kills the
// subject and aborts the run). Both mounts are unmounted on every exit path (normal end, error,
// SIGINT/SIGTERM/SIGHUP). Every loop is bounded in count and time.
//
// Permission scenarios (perm-idle, perm-warm): the subjects are the C responder (perm-responder.c)
// and fanotifyd --perm; perm-open.c times every open() under their OPEN_PERM/ACCESS_PERM marks (the
// same filesystem marks on the private tmpfs, checked the same way). Every subject process is
// stopped with SIGTERM and SIGKILLed after 5 s; the kernel releases any pending permission event
// when the group fd closes. perm-warm keeps a nice-19 busy loop running so idle vCPUs do not halt.

import {
  chmodSync,
  closeSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { waitQuiet as waitQuietFile } from "../support/jsonl.ts";
import { makeTmpDir, makeTmpfs, mountInfoFsType, releaseMounts } from "../support/mounts.ts";
import { countFds, cpuSeconds as readCpuSec, ctxSwitches as readCtxSwitches, fanotifyMarks, median, statusKiB as readStatusKiB, threadCpuSeconds as readThreadCpu } from "../support/procfs.ts";
import { killAllNow, runToExit, spawnChild, type Child } from "../support/process.ts";
import { runPermTail } from "./perm-tail.ts";

const REPO = resolve(import.meta.dir, "../..");
const BENCH = join(REPO, "test/bench");
const READY_FANOTIFYD = "fanotifyd started (pid=";

// ---------------------------------------------------------------------------------------------------
// options

interface Options {
  quick: boolean;
  rounds: number;
  scale: number;
  scenarios: string[] | null;
  subjects: string[] | null;
  fatrace: boolean;
  soakMinutes: number; // 0 = no soak (the default run)
  soakMode: "fid" | "fd";
  /** which perm scenarios run: both (default), only perm-warm (--perm-warm), only perm-idle (--perm-idle) */
  permVariants: "both" | "warm" | "idle";
  json: string;
  /** run a short warm-up load before each measurement (off: --no-warmup) */
  warmup: boolean;
  /** after the main report, the issue-11 tables (perm-tail.ts); off: --no-perm-tail, or --scenarios/--subjects */
  permTail: boolean;
}

const USAGE = `usage: bun test/bench/run.ts [options]        (as root)
  --quick               2 rounds, a quarter of the operations (under 2 minutes)
  --rounds N            rounds per scenario and subject (default 5; --quick 2)
  --scale X             multiply every scenario's operation count by X
  --scenarios a,b       only these scenarios (ids as in the report)
  --subjects a,b        only these subjects (none, floor-fd, floor-fid, fanotifyd-fd, fanotifyd-fid, fatrace,
                        c-responder, fanotifyd-perm, fanotifyd-perm-deny; only when named: fanotifyd-fd-details,
                        fanotifyd-fid-details, fanotifyd-perm-details = the same with --process-details;
                        fanotifyd-fd-details-st, fanotifyd-fid-details-st: also --process-details-check start-time;
                        floor-fd-pidfd, floor-fid-pidfd = the C floor with FAN_REPORT_PIDFD)
  --perm-warm           run the permission scenario only warm (perm-warm: a nice-19 busy loop keeps the
                        vCPUs from idling); the default run does both perm-idle and perm-warm
  --perm-idle           run the permission scenario only idle (perm-idle)
  --no-fatrace          leave fatrace out even when it is installed
  --soak                run ONLY the soak: 10k cwcru ops/s against fanotifyd for 10 minutes
  --soak-minutes N      the same for N minutes
  --soak-mode fid|fd    daemon mode for the soak (default fid)
  --json PATH           where to write the JSON report (default test/bench/results/latest.json; with
                        --scenarios or --subjects, fanotifyd-bench-partial.json in the temp directory,
                        so a partial run never replaces the last full report)
  --no-warmup           measure from the subject's start, one-off costs (fanotifyd's JIT) included
  --no-perm-tail        leave out the permission-tail and FD-flood tables (perm-tail.ts; also left out
                        with --scenarios or --subjects)
`;

function parseOptions(argv: string[]): Options {
  const o: Options = {
    quick: false,
    rounds: 0,
    scale: 1,
    scenarios: null,
    subjects: null,
    fatrace: true,
    soakMinutes: 0,
    soakMode: "fid",
    permVariants: "both",
    json: join(BENCH, "results/latest.json"),
    warmup: true,
    permTail: true,
  };
  let jsonGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    const num = (v: string, min: number): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < min) throw new Error(`${a}: bad value '${v}'`);
      return n;
    };
    switch (a) {
      case "--quick":
        o.quick = true;
        break;
      case "--rounds":
        o.rounds = Math.floor(num(val(), 1));
        break;
      case "--scale":
        o.scale = num(val(), 0.001);
        break;
      case "--scenarios":
        o.scenarios = val().split(",");
        break;
      case "--subjects":
        o.subjects = val().split(",");
        break;
      case "--no-fatrace":
        o.fatrace = false;
        break;
      case "--soak":
        o.soakMinutes = o.soakMinutes || 10;
        break;
      case "--soak-minutes":
        o.soakMinutes = num(val(), 0.1);
        break;
      case "--soak-mode": {
        const m = val();
        if (m !== "fid" && m !== "fd") throw new Error(`--soak-mode: fid or fd, not '${m}'`);
        o.soakMode = m;
        break;
      }
      case "--perm-warm":
        o.permVariants = "warm";
        break;
      case "--perm-idle":
        o.permVariants = "idle";
        break;
      case "--json":
        o.json = resolve(val());
        jsonGiven = true;
        break;
      case "--no-warmup":
        o.warmup = false;
        break;
      case "--no-perm-tail":
        o.permTail = false;
        break;
      case "-h":
      case "--help":
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        throw new Error(`unknown option '${a}'\n${USAGE}`);
    }
  }
  if (o.rounds === 0) o.rounds = o.quick ? 2 : 5;
  if (!jsonGiven && (o.scenarios !== null || o.subjects !== null)) o.json = join(tmpdir(), "fanotifyd-bench-partial.json");
  return o;
}

// ---------------------------------------------------------------------------------------------------
// subjects and scenarios

type Mode = "fd" | "fid";
type Kind = "none" | "floor" | "fanotifyd" | "fatrace" | "responder";

interface Subject {
  id: string;
  kind: Kind;
  mode: Mode | null; // the fanotify reporting mode (null: no reader)
  label: string;
  /** permission subject: answers OPEN_PERM/ACCESS_PERM (deny: --deny-on-alert with a canary, so the verdict needs the path) */
  perm?: "allow" | "deny";
  /** fanotifyd with --process-details (issue 12; only when asked for with --subjects) */
  details?: boolean;
  /** with details: --process-details-check start-time (no pidfd per event) */
  startTime?: boolean;
  /** C floor reader with FAN_REPORT_PIDFD (the kernel's cost of pidfds; only when named) */
  pidfd?: boolean;
}

const ALL_SUBJECTS: Subject[] = [
  { id: "none", kind: "none", mode: null, label: "no reader (baseline)" },
  { id: "floor-fd", kind: "floor", mode: "fd", label: "C floor reader, FD mode" },
  { id: "floor-fid", kind: "floor", mode: "fid", label: "C floor reader, FID mode" },
  { id: "fanotifyd-fd", kind: "fanotifyd", mode: "fd", label: "fanotifyd --no-fid" },
  { id: "fanotifyd-fid", kind: "fanotifyd", mode: "fid", label: "fanotifyd (FID)" },
  { id: "fatrace", kind: "fatrace", mode: "fid", label: "fatrace -c (peer; own mask, FID)" },
  { id: "c-responder", kind: "responder", mode: "fd", label: "C permission responder (allow all, readlink per event)", perm: "allow" },
  { id: "fanotifyd-perm", kind: "fanotifyd", mode: "fid", label: "fanotifyd --perm", perm: "allow" },
  { id: "fanotifyd-perm-deny", kind: "fanotifyd", mode: "fid", label: "fanotifyd --perm --deny-on-alert --canary DIR/canary*", perm: "deny" },
  // --process-details variants: not in the default run; name them with --subjects.
  { id: "fanotifyd-fd-details", kind: "fanotifyd", mode: "fd", label: "fanotifyd --no-fid --process-details", details: true },
  { id: "fanotifyd-fid-details", kind: "fanotifyd", mode: "fid", label: "fanotifyd --process-details", details: true },
  { id: "fanotifyd-fd-details-st", kind: "fanotifyd", mode: "fd", label: "fanotifyd --no-fid --process-details --process-details-check start-time", details: true, startTime: true },
  { id: "fanotifyd-fid-details-st", kind: "fanotifyd", mode: "fid", label: "fanotifyd --process-details --process-details-check start-time", details: true, startTime: true },
  { id: "floor-fd-pidfd", kind: "floor", mode: "fd", label: "C floor reader, FD mode, FAN_REPORT_PIDFD", pidfd: true },
  { id: "floor-fid-pidfd", kind: "floor", mode: "fid", label: "C floor reader, FID mode, FAN_REPORT_PIDFD", pidfd: true },
  { id: "fanotifyd-perm-details", kind: "fanotifyd", mode: "fid", label: "fanotifyd --perm --process-details", perm: "allow", details: true },
];

type Load = "cwcru" | "orc" | "perm";

interface Scenario {
  id: string;
  load: Load;
  /** ops/s for this subject; 0 = as fast as possible; null = skip this subject */
  rate(s: Subject): number | null;
  /** operation count for this subject at scale 1 */
  ops(s: Subject): number;
  /** per-event lag from op timestamps (cwcru at a fixed rate only: paths carry the op index) */
  perEventLag: boolean;
  note: string;
  skip?: string;
  /** permission scenario (perm-open against the perm subjects); warm: a nice-19 busy loop runs meanwhile */
  perm?: { warm: boolean };
}

/** Does subject s take part in scenario sc? Perm scenarios: none + the perm subjects; others: the rest. */
function applies(sc: Scenario, s: Subject): boolean {
  if (sc.perm) return s.kind === "none" || s.perm !== undefined;
  return s.perm === undefined && sc.rate(s) !== null;
}

const PERM_OPENS = 30_000;
const PERM_OPENS_QUICK = 20_000;
const PERM_FILES = 64;
/** the busy loop of perm-warm: nice 19 so it only takes otherwise idle CPU time */
const WARM_CMD = ["nice", "-n", "19", "sh", "-c", "while :; do :; done"];

// Nominal events per cwcru op without kernel merging (measured with floor-reader):
// FID: CREATE, OPEN, MODIFY, CLOSE_WRITE, RENAME, MOVED_FROM, MOVED_TO, MOVE_SELF, ATTRIB, DELETE_SELF,
// DELETE = 11; FD: OPEN, MODIFY, CLOSE_WRITE = 3.
/** The warm-up load (see measure()): its own directory under the mark, and how much of it. */
const WARMUP_DIR = "warm";
function warmupOps(load: Load): number {
  return load === "orc" ? 80_000 : 20_000;
}

const NOMINAL_CWCRU_EVENTS: Record<Mode, number> = { fid: 11, fd: 3 };
const LAG_EVENTS_PER_SEC = 50_000;

function fixed(rate: number, secs: number): Pick<Scenario, "rate" | "ops"> {
  return { rate: () => rate, ops: () => Math.round(rate * secs) };
}

const ALL_SCENARIOS: Scenario[] = [
  {
    id: "cwcru-flood",
    load: "cwcru",
    rate: () => 0,
    ops: () => 100_000,
    perEventLag: false,
    note: "create+write+close+rename+unlink, as fast as possible, 100k ops",
  },
  {
    id: "cwcru-10k",
    load: "cwcru",
    ...fixed(10_000, 2.5),
    perEventLag: true,
    note: "cwcru at 10k ops/s for 2.5 s",
  },
  {
    id: "cwcru-50k",
    load: "cwcru",
    ...fixed(50_000, 1.2),
    perEventLag: true,
    note: "cwcru at 50k ops/s for 1.2 s",
  },
  {
    id: "cwcru-100k",
    load: "cwcru",
    ...fixed(100_000, 1),
    perEventLag: true,
    note: "cwcru at 100k ops/s for 1 s",
  },
  {
    id: "lag-50kev",
    load: "cwcru",
    rate: (s) => (s.mode === null ? null : Math.round(LAG_EVENTS_PER_SEC / NOMINAL_CWCRU_EVENTS[s.mode])),
    ops: (s) => (s.mode === null ? 0 : Math.round((2 * LAG_EVENTS_PER_SEC) / NOMINAL_CWCRU_EVENTS[s.mode])),
    perEventLag: true,
    note: "cwcru at 50k nominal events/s for 2 s (FID 4.5k ops/s × 11 events, FD 16.7k ops/s × 3)",
  },
  {
    id: "orc-flood",
    load: "orc",
    rate: () => 0,
    ops: () => 300_000,
    perEventLag: false,
    note: "open+read+close of 64 files, as fast as possible, 300k ops",
  },
  {
    id: "orc-100k",
    load: "orc",
    ...fixed(100_000, 1.5),
    perEventLag: false,
    note: "open+read+close at 100k ops/s for 1.5 s (target: no kernel overflow)",
  },
  {
    id: "perm-idle",
    load: "perm",
    rate: () => 0,
    ops: () => PERM_OPENS,
    perEventLag: false,
    note: "permission latency: perm-open times each open() of 64 files (+read, close) under OPEN_PERM/ACCESS_PERM, 30k opens, idle machine",
    perm: { warm: false },
  },
  {
    id: "perm-warm",
    load: "perm",
    rate: () => 0,
    ops: () => PERM_OPENS,
    perEventLag: false,
    note: "the same with a nice-19 busy loop running (vCPUs kept awake: no ~70 µs idle wake-up per hand-off)",
    perm: { warm: true },
  },
];

// ---------------------------------------------------------------------------------------------------
// small helpers

const nowMs = (): number => performance.timeOrigin + performance.now();

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

function sh(cmd: string[], opts: { cwd?: string } = {}): { code: number; out: string; err: string } {
  const r = Bun.spawnSync(cmd, { cwd: opts.cwd, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin" } });
  return { code: r.exitCode ?? -1, out: r.stdout.toString(), err: r.stderr.toString() };
}

function which(cmd: string): string | null {
  const r = sh(["sh", "-c", `command -v ${cmd}`]);
  return r.code === 0 && r.out.trim() !== "" ? r.out.trim() : null;
}

function fmt(n: number, digits = 0): string {
  if (!Number.isFinite(n)) return "–";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ---------------------------------------------------------------------------------------------------
// /proc sampling

function diffThreadCpu(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) {
    const d = Math.round((v - (a[k] ?? 0)) * 100) / 100;
    if (d > 0) out[k] = d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// private tmpfs mounts + safety

interface Mounts {
  work: string; // private temp dir (not marked): helpers, times files
  markMnt: string; // tmpfs the subjects mark
  markDir: string; // markMnt/w: the mark path
  outMnt: string; // tmpfs for output files (never marked)
  markSdev: number; // kernel-internal s_dev of markMnt, as /proc/PID/fdinfo prints it
}

/** A private tmpfs at `dir` (mode 0755), unmounted by cleanup() and at exit (test/support/mounts.ts). */
function mountTmpfs(dir: string, sizeMb: number): void {
  makeTmpfs(sizeMb, { at: dir, options: "mode=0755" });
}

/** st_dev (userspace encoding) → the kernel's internal dev_t that fdinfo prints as sdev:%x. */
function kernelDev(stDev: number): number {
  const major = Math.floor(stDev / 256) & 0xfff;
  const minor = (stDev & 0xff) | (Math.floor(stDev / 4096) & 0xfff00);
  return major * 2 ** 20 + minor;
}

function setUpMounts(): Mounts {
  const work = makeTmpDir("fanotifyd-bench-");
  const markMnt = join(work, "mark");
  const outMnt = join(work, "out");
  mountTmpfs(markMnt, 512);
  mountTmpfs(outMnt, 6 * 1024);
  const markDir = join(markMnt, "w");
  mkdirSync(markDir);
  const st = statSync(markMnt);
  if (st.dev === statSync("/").dev || st.dev === statSync(work).dev) throw new Error("SAFETY: mark tmpfs shares a device with / or the temp dir");
  return { work, markMnt, markDir, outMnt, markSdev: kernelDev(st.dev) };
}

/** Throws unless `p` lies on the private mark tmpfs (and that tmpfs is still mounted). */
function assertSafeMarkPath(m: Mounts, p: string): void {
  const real = realpathSync(p);
  if (!(real === m.markMnt || real.startsWith(m.markMnt + "/"))) throw new Error(`SAFETY: mark path ${p} is not on the bench tmpfs`);
  if (mountInfoFsType(m.markMnt) !== "tmpfs") throw new Error(`SAFETY: ${m.markMnt} is no longer a tmpfs mount`);
  if (statSync(real).dev !== statSync(m.markMnt).dev) throw new Error(`SAFETY: ${p} is not on the ${m.markMnt} file system`);
}

function assertMarksSafe(m: Mounts, pid: number, who: string): void {
  const marks = fanotifyMarks(pid);
  const want = `sdev:${m.markSdev.toString(16)} `;
  for (const mk of marks) {
    if (!mk.startsWith(want)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
      throw new Error(`SAFETY: ${who} (pid ${pid}) placed a mark that is not a filesystem mark on the bench tmpfs: '${mk}'`);
    }
  }
}

/** Kills every subject and helper, unmounts the bench tmpfs mounts (newest first), removes the work dir. */
function cleanup(): void {
  killAllNow();
  releaseMounts();
}

function installCleanupHooks(): void {
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      log(`${sig}: cleaning up (killing subjects, unmounting the bench tmpfs)`);
      cleanup();
      process.exit(130);
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// helpers: build, daemon copy

interface Bins {
  loadgen: string;
  floor: string;
  permOpen: string;
  permResponder: string;
  fanotifyd: string;
  fanotifydMtime: string; // of the copied source binary, taken when it was copied
  fatrace: string | null;
}

function buildHelpers(m: Mounts, opts: Options): Bins {
  const bin = join(m.work, "bin");
  mkdirSync(bin);
  const cc = which("cc") ?? which("gcc") ?? which("clang");
  if (cc === null) throw new Error("no C compiler (cc) found");
  const build = (src: string, out: string) => {
    const r = sh([cc, "-O2", "-Wall", "-o", out, join(BENCH, src)]);
    if (r.code !== 0) throw new Error(`cc ${src} failed:\n${r.err}`);
  };
  build("loadgen.c", join(bin, "loadgen"));
  build("floor-reader.c", join(bin, "floor-reader"));
  build("perm-open.c", join(bin, "perm-open"));
  build("perm-responder.c", join(bin, "perm-responder"));
  const daemonSrc = process.env.FANOTIFYD_BIN ?? join(REPO, "fanotifyd");
  if (process.env.FANOTIFYD_BIN !== undefined && !existsSync(daemonSrc)) throw new Error(`FANOTIFYD_BIN=${daemonSrc} does not exist`);
  if (!existsSync(daemonSrc)) {
    log(`${daemonSrc} is missing: building it (bun build.ts)`);
    const r = Bun.spawnSync([process.execPath, "build.ts"], { cwd: REPO, stdout: "inherit", stderr: "inherit" });
    if (r.exitCode !== 0 || !existsSync(daemonSrc)) throw new Error("bun build.ts failed");
  }
  const fanotifyd = join(bin, "fanotifyd");
  const fanotifydMtime = statSync(daemonSrc).mtime.toISOString();
  copyFileSync(daemonSrc, fanotifyd);
  chmodSync(fanotifyd, 0o755);
  const fatrace = opts.fatrace ? which("fatrace") : null;
  return {
    loadgen: join(bin, "loadgen"),
    floor: join(bin, "floor-reader"),
    permOpen: join(bin, "perm-open"),
    permResponder: join(bin, "perm-responder"),
    fanotifyd,
    fanotifydMtime,
    fatrace,
  };
}

// ---------------------------------------------------------------------------------------------------
// running a subject

interface Running {
  proc: Child["proc"];
  stderr(): string;
  stop(): Promise<{ code: number | null; signal: string | number | null; killed: boolean }>;
}

function subjectCommand(s: Subject, b: Bins, m: Mounts, out: string): { cmd: string[]; cwd?: string; env?: Record<string, string> } {
  switch (s.kind) {
    case "floor":
      return { cmd: [b.floor, s.mode!, m.markDir, out], env: s.pidfd === true ? { FLOOR_PIDFD: "1" } : undefined };
    case "fanotifyd": {
      const perm = s.perm === undefined ? [] : ["--perm", ...(s.perm === "deny" ? ["--deny-on-alert", "--canary", `${m.markDir}/canary*`] : [])];
      const details = s.details === true ? ["--process-details", ...(s.startTime === true ? ["--process-details-check", "start-time"] : [])] : [];
      return { cmd: [b.fanotifyd, "-f", ...(s.mode === "fd" ? ["--no-fid"] : []), "--filesystem", m.markDir, ...perm, ...details, "-o", out] };
    }
    case "responder":
      return { cmd: [b.permResponder, m.markDir] };
    case "fatrace":
      // -c: only the file system of the current directory (our tmpfs). Without -c fatrace marks
      // every mount of the machine, so the flag is asserted below.
      return { cmd: [b.fatrace!, "-c", "-tt", "-o", out], cwd: m.markDir };
    case "none":
      throw new Error("no command for 'none'");
  }
}

async function startSubject(s: Subject, b: Bins, m: Mounts, out: string, extraArgs: string[] = []): Promise<Running> {
  const { cmd, cwd, env } = subjectCommand(s, b, m, out);
  cmd.push(...extraArgs);
  // SAFETY: the only mark path any subject gets is m.markDir (fatrace: its cwd, with -c).
  assertSafeMarkPath(m, m.markDir);
  if (s.kind === "fatrace") {
    if (!cmd.includes("-c")) throw new Error("SAFETY: fatrace without -c");
    assertSafeMarkPath(m, cwd!);
  }
  const child = spawnChild(cmd, { cwd, cleanEnv: true, env: { PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin", ...env }, stdout: "ignore", cap: 1_000_000 });
  const proc = child.proc;
  const marker = s.kind === "floor" || s.kind === "responder" ? "ready\n" : s.kind === "fanotifyd" ? READY_FANOTIFYD : null;
  const fail = async (why: string): Promise<never> => {
    await child.stop("SIGKILL");
    throw new Error(`${s.id} ${why}; stderr:\n${child.stderr().slice(-2000)}`);
  };
  if (marker === null) {
    // fatrace prints nothing when ready: wait for its mark to show up in fdinfo.
    const deadline = nowMs() + 15_000;
    for (let i = 0; i < 3000 && nowMs() < deadline; i++) {
      if (fanotifyMarks(proc.pid).length > 0) break;
      if (child.exited()) break;
      await Bun.sleep(5);
    }
  } else {
    await child.waitFor("stderr", marker, 15_000, "ready").catch(() => fail(`did not become ready (${child.exited() ? "exited" : "timeout"})`));
  }
  if (child.exited() || fanotifyMarks(proc.pid).length === 0) await fail("has no fanotify mark in place");
  assertMarksSafe(m, proc.pid, s.id);
  return {
    proc,
    stderr: child.stderr,
    stop: async () => {
      const r = await child.stop("SIGTERM", 5000);
      return { code: r.code, signal: r.signal, killed: r.timedOut };
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// loadgen

interface LoadResult {
  ops: number;
  secs: number;
  rate: number;
  endMs: number;
  startMs: number;
}

async function runLoadgen(b: Bins, dir: string, load: Load, ops: number, rate: number, timesFile: string | null): Promise<LoadResult> {
  const args = [b.loadgen, dir, load, String(ops), String(rate)];
  if (timesFile !== null) args.push(timesFile);
  const { code, stdout: out, stderr: err } = await runToExit(args, 120_000);
  const mm = /ops=(\d+) secs=([\d.]+) rate=(\d+) end_ns=(\d+) start_ns=(\d+)/.exec(out);
  if (code !== 0 || !mm) throw new Error(`loadgen failed (${code}): ${out}${err}`);
  return {
    ops: Number(mm[1]),
    secs: Number(mm[2]),
    rate: Number(mm[3]),
    endMs: Number(BigInt(mm[4]) / 1000n) / 1000,
    startMs: Number(BigInt(mm[5]) / 1000n) / 1000,
  };
}

function readTimesMs(file: string): Float64Array {
  const buf = readFileSync(file);
  const big = new BigInt64Array(buf.buffer, buf.byteOffset, Math.floor(buf.byteLength / 8));
  const out = new Float64Array(big.length);
  for (let i = 0; i < big.length; i++) out[i] = Number(big[i] / 1000n) / 1000;
  return out;
}

// ---------------------------------------------------------------------------------------------------
// output analysis

interface Scan {
  lines: number;
  events: number;
  overflows: number;
  /** overflow records from before the measured load (the warm-up's) */
  warmupOverflows: number;
  lastTsMs: number;
  lags: Float64Array | null; // sorted per-event lag (ms), when op times were given
  deleted: number; // FD-mode paths ending in " (deleted)"
  /** Event-type bits summed over all records (a merged record carries several events); NaN for fatrace. */
  bits: number;
}

// Event-type bits: everything below FAN_EVENT_ON_CHILD (0x08000000) plus FAN_RENAME (0x10000000);
// FAN_ONDIR and FAN_Q_OVERFLOW are flags, not events.
const EVENT_BITS_LO = 0x17ffffff;
function popcount32(x: number): number {
  let v = x >>> 0;
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}
const MASK_AFTER_TS = ',"mask":'.length;
function maskBits(b: Uint8Array, i: number, end: number): number {
  const [mask] = parseUint(b, i, end);
  return popcount32(mask % 4294967296 & EVENT_BITS_LO);
}

const FD_PREFIX = Buffer.from('{"schema_version":1,"type":"event","ts_ms":');
const PATH_KEY = Buffer.from('"path":"');
const OVERFLOW_KEY = Buffer.from('"kind":"overflow"');
const DELETED = Buffer.from(" (deleted)");

function parseUint(b: Uint8Array, i: number, end: number): [number, number] {
  let v = 0;
  let j = i;
  while (j < end && b[j] >= 48 && b[j] <= 57) {
    v = v * 10 + (b[j] - 48);
    j++;
  }
  return [v, j];
}

/** Op index of a path ending in /gN or /hN (optionally " (deleted)"), else -1. */
function opIndex(b: Buffer, start: number, end: number): number {
  let e = end;
  if (e - start > DELETED.length && b.compare(DELETED, 0, DELETED.length, e - DELETED.length, e) === 0) e -= DELETED.length;
  let j = e - 1;
  let v = 0;
  let mul = 1;
  while (j > start && b[j] >= 48 && b[j] <= 57) {
    v += (b[j] - 48) * mul;
    mul *= 10;
    j--;
  }
  if (j === e - 1 || j - 1 < start) return -1;
  if ((b[j] !== 0x67 && b[j] !== 0x68) || b[j - 1] !== 0x2f) return -1; // 'g' | 'h', '/'
  return v;
}

const ALERT_TS = Buffer.from('{"type":"alert","ts_ms":').length;
const FLOOR_OVERFLOW_TS = Buffer.from('{"overflow":1,"ts_ns":').length;

/**
 * Counts the records of one subject's output. Records timestamped before `sinceMs` (the warm-up's,
 * which has gone quiet for 100 ms before the measured load starts) are left out of every figure;
 * overflow records among them are counted apart. By time, not by path: records the warm-up caused
 * whose path could not be resolved (a file already gone) name no directory.
 */
function scanOutput(file: string, kind: Kind, times: Float64Array | null, sinceMs = -Infinity): Scan {
  const res: Scan = { lines: 0, events: 0, overflows: 0, warmupOverflows: 0, lastTsMs: NaN, lags: null, deleted: 0, bits: kind === "fatrace" ? NaN : 0 };
  const overflowAt = (tsMs: number): void => {
    if (tsMs < sinceMs) res.warmupOverflows++;
    else res.overflows++;
  };
  if (!existsSync(file)) return res;
  const lagList: number[] = [];
  const handle = (b: Buffer, s: number, e: number) => {
    if (e <= s) return;
    res.lines++;
    let ts = NaN;
    let pathStart = -1;
    let pathEnd = -1;
    let bits = 0;
    if (kind === "fanotifyd") {
      if (b[s + 2] === 0x73) {
        // {"schema_version":…  an event record
        const [t, j] = parseUint(b, s + FD_PREFIX.length, e);
        ts = t;
        bits = maskBits(b, j + MASK_AFTER_TS, e);
        const p = b.lastIndexOf(PATH_KEY, e);
        if (p > s) {
          pathStart = p + PATH_KEY.length;
          pathEnd = b.indexOf(0x22, pathStart);
        }
      } else {
        const o = b.indexOf(OVERFLOW_KEY, s);
        if (o >= 0 && o < e) overflowAt(parseUint(b, s + ALERT_TS, e)[0]);
        return;
      }
    } else if (kind === "floor") {
      if (b[s + 2] === 0x6f) {
        // {"overflow":1,…
        overflowAt(parseUint(b, s + FLOOR_OVERFLOW_TS, e)[0] / 1e6);
        return;
      }
      const [t, j] = parseUint(b, s + 9, e); // {"ts_ns":
      ts = t / 1e6;
      bits = maskBits(b, j + MASK_AFTER_TS, e);
      const p = b.lastIndexOf(PATH_KEY, e);
      if (p > s) {
        pathStart = p + PATH_KEY.length;
        pathEnd = e - 2; // "}
      }
    } else {
      // fatrace -tt: "SEC.USEC comm(pid): FLAGS PATH"
      const [sec, dot] = parseUint(b, s, e);
      const [usec, after] = parseUint(b, dot + 1, e);
      ts = sec * 1000 + (usec / 10 ** (after - dot - 1)) * 1000;
      const colon = b.indexOf(Buffer.from("): "), s);
      if (colon > s && colon < e) {
        const sp = b.indexOf(0x20, colon + 3);
        pathStart = sp;
        while (pathStart < e && b[pathStart] === 0x20) pathStart++;
        pathEnd = e;
      }
    }
    if (ts < sinceMs) return;
    const hasPath = pathEnd > pathStart && pathStart > s;
    res.events++;
    res.bits += bits;
    if (!(ts <= res.lastTsMs)) res.lastTsMs = ts;
    if (hasPath) {
      if (pathEnd - pathStart > DELETED.length && b.compare(DELETED, 0, DELETED.length, pathEnd - DELETED.length, pathEnd) === 0) res.deleted++;
      if (times !== null) {
        const i = opIndex(b, pathStart, pathEnd);
        if (i >= 0 && i < times.length) lagList.push(ts - times[i]);
      }
    }
  };
  const fd = openSync(file, "r");
  try {
    const buf = Buffer.allocUnsafe(16 << 20);
    let carry = 0;
    for (let guard = 0; guard < 1_000_000; guard++) {
      const n = readSync(fd, buf, carry, buf.length - carry, null);
      const len = carry + n;
      const view = buf.subarray(0, len);
      if (n === 0) {
        if (len > 0) handle(view, 0, len);
        break;
      }
      let start = 0;
      for (;;) {
        const nl = view.indexOf(10, start);
        if (nl < 0) break;
        handle(view, start, nl);
        start = nl + 1;
      }
      buf.copy(buf, 0, start, len);
      carry = len - start;
      if (carry === buf.length) throw new Error(`${file}: line longer than ${buf.length} bytes`);
    }
  } finally {
    closeSync(fd);
  }
  if (times !== null) res.lags = Float64Array.from(lagList).sort();
  return res;
}

/** Polls the file size every ~1 ms until it has not grown for quietMs; returns the time of the last growth. */
function waitQuiet(file: string, sinceMs: number, quietMs: number, maxMs: number): Promise<{ lastGrowthMs: number; timedOut: boolean }> {
  return waitQuietFile(file, { sinceMs, quietMs, maxMs, intervalMs: 1 });
}

/** "0.21 s (fanotifyd-fid), 0.18 s (fanotifyd-fd)": median warm-up CPU per fanotifyd subject. */
function warmupSummary(ms: Measurement[]): string {
  const by = new Map<string, number[]>();
  for (const x of ms) {
    if (!x.subject.startsWith("fanotifyd") || !Number.isFinite(x.warmupCpuSec)) continue;
    const list = by.get(x.subject) ?? [];
    list.push(x.warmupCpuSec);
    by.set(x.subject, list);
  }
  const parts = [...by].map(([subject, xs]) => `${fmt(median(xs), 2)} CPU s (${subject})`);
  const warmed = ms.filter((x) => Number.isFinite(x.warmupOverflows));
  const overflowed = warmed.filter((x) => x.warmupOverflows > 0);
  const where = overflowed.map((x) => `${x.subject} ${x.scenario} round ${x.round + 1}`).join(", ");
  return `${parts.length > 0 ? parts.join(", ") : "n/a"}. Overflow records during warm-ups (the flood starts ~50 ms after the subject is ready; not counted in the overflow column): ${overflowed.length} of ${warmed.length} runs${where ? ` (${where})` : ""}`;
}

// ---------------------------------------------------------------------------------------------------
// one measurement

interface Measurement {
  round: number;
  scenario: string;
  subject: string;
  error?: string;
  opsRequested: number;
  rateRequested: number;
  ops: number;
  loadSecs: number;
  opsPerSec: number;
  events: number;
  bitsPerOp: number; // event-type bits per op (merge-independent for cwcru: FID 11, FD 3 = nothing lost)
  overflows: number; // overflow records written (kernel FAN_Q_OVERFLOW); NaN when the subject cannot tell
  cpuSec: number;
  cpuPer100k: number;
  hwmMiB: number;
  rssMiB: number;
  fds: number;
  lagLastMs: number; // last line's own timestamp − loadgen end
  lagQuietMs: number; // last growth of the output file − loadgen end (poll-based)
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  eventsPerSec: number;
  deletedPaths: number;
  daemonProcessed: number; // fanotifyd: "processed N events" at shutdown
  daemonDropped: boolean; // fanotifyd: output queue dropped records
  exit: string;
  wallSec: number;
  /** CPU s the subject spent on the warm-up load (not part of cpuSec) */
  warmupCpuSec: number;
  /** overflow records during the warm-up (not in `overflows`) */
  warmupOverflows: number;
  threadCpuSec: Record<string, number>; // CPU per thread name over the measurement
  ctxSwitchesPerRecord: number; // context switches of the subject (all threads) per record written
  // permission scenarios (NaN elsewhere): perm-open's per-open() latency, and the subject's answers
  permP50Us: number;
  permP99Us: number;
  permMaxUs: number;
  permAnswered: number; // fanotifyd: perm_allowed + perm_denied; c-responder: events answered
  permDenied: number;
  permTimeouts: number;
}

interface PermOpenResult {
  opens: number;
  secs: number;
  rate: number;
  p50: number;
  p99: number;
  max: number;
}

async function runPermOpen(b: Bins, dir: string, n: number): Promise<PermOpenResult> {
  const { code, signal, stdout: out, stderr: err } = await runToExit([b.permOpen, dir, String(n), String(PERM_FILES)], 120_000);
  const mm = /opens=(\d+) secs=([\d.]+) rate=(\d+) p50_us=([\d.]+) p90_us=[\d.]+ p99_us=([\d.]+) p999_us=[\d.]+ max_us=([\d.]+)/.exec(out);
  if (code !== 0 || !mm) throw new Error(`perm-open failed (${code ?? signal}): ${out}${err}`);
  return { opens: Number(mm[1]), secs: Number(mm[2]), rate: Number(mm[3]), p50: Number(mm[4]), p99: Number(mm[5]), max: Number(mm[6]) };
}

/** perm-warm: a nice-19 busy loop (killed by the caller) so the vCPUs never go idle during the measurement. */
function startWarmLoop(): Child {
  return spawnChild(WARM_CMD, { stdout: "ignore", stderr: "ignore" });
}

async function killProc(p: Child): Promise<void> {
  await p.stop("SIGKILL", 5000);
}

async function measure(sc: Scenario, s: Subject, round: number, b: Bins, m: Mounts, opts: Options): Promise<Measurement | null> {
  const rate = sc.rate(s);
  if (rate === null || !applies(sc, s)) return null;
  const ops = sc.perm
    ? Math.max(100, Math.round((opts.quick ? PERM_OPENS_QUICK : sc.ops(s)) * opts.scale))
    : Math.max(100, Math.round(sc.ops(s) * opts.scale * (opts.quick ? 0.25 : 1)));
  const t0 = nowMs();
  const mm: Measurement = {
    round,
    scenario: sc.id,
    subject: s.id,
    opsRequested: ops,
    rateRequested: rate,
    ops: NaN,
    loadSecs: NaN,
    opsPerSec: NaN,
    events: NaN,
    bitsPerOp: NaN,
    overflows: NaN,
    cpuSec: NaN,
    cpuPer100k: NaN,
    hwmMiB: NaN,
    rssMiB: NaN,
    fds: NaN,
    lagLastMs: NaN,
    lagQuietMs: NaN,
    lagP50Ms: NaN,
    lagP99Ms: NaN,
    lagMaxMs: NaN,
    eventsPerSec: NaN,
    deletedPaths: NaN,
    daemonProcessed: NaN,
    daemonDropped: false,
    exit: "",
    wallSec: NaN,
    warmupCpuSec: NaN,
    warmupOverflows: NaN,
    threadCpuSec: {},
    ctxSwitchesPerRecord: NaN,
    permP50Us: NaN,
    permP99Us: NaN,
    permMaxUs: NaN,
    permAnswered: NaN,
    permDenied: NaN,
    permTimeouts: NaN,
  };
  if (sc.perm) return measurePerm(sc, s, round, b, m, mm, t0);
  // A fresh load directory, made before the subject starts (so the clean-up is not observed).
  const runDir = join(m.markDir, "run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir);
  const out = join(m.outMnt, `${s.id}.${sc.id}.${round}.out`);
  const timesFile = sc.perEventLag && s.kind !== "none" ? join(m.work, "times.bin") : null;
  const warmDir = join(m.markDir, WARMUP_DIR);
  const warmup = opts.warmup && s.kind !== "none";
  if (warmup) {
    rmSync(warmDir, { recursive: true, force: true });
    mkdirSync(warmDir);
  }
  let running: Running | null = null;
  try {
    if (s.kind !== "none") {
      running = await startSubject(s, b, m, out);
      await Bun.sleep(50); // let start-up work settle before the CPU sample
    }
    const pid = running?.proc.pid ?? 0;
    if (running && warmup) {
      // Steady state: the same load for a moment first, so one-off costs (fanotifyd's JIT
      // compilation, page faults of first use) are not charged to the measured records. Its
      // records come before the measured load's start and are left out of the scan.
      const w0 = readCpuSec(pid);
      // As fast as possible whatever the scenario's rate: the hot code gets compiled in ~0.3 s.
      const wl = await runLoadgen(b, warmDir, sc.load, warmupOps(sc.load), 0, null);
      await waitQuiet(out, wl.endMs, 100, 10_000);
      mm.warmupCpuSec = readCpuSec(pid) - w0;
    }
    const cpu0 = running ? readCpuSec(pid) : 0;
    const threads0 = running ? readThreadCpu(pid) : {};
    const ctx0 = running ? readCtxSwitches(pid) : 0;
    const lg = await runLoadgen(b, runDir, sc.load, ops, rate, timesFile);
    mm.ops = lg.ops;
    mm.loadSecs = lg.secs;
    mm.opsPerSec = lg.rate;
    if (running) {
      const q = await waitQuiet(out, lg.endMs, 200, 60_000);
      mm.lagQuietMs = Math.max(0, q.lastGrowthMs - lg.endMs);
      mm.cpuSec = readCpuSec(pid) - cpu0;
      mm.threadCpuSec = diffThreadCpu(threads0, readThreadCpu(pid));
      const ctx = readCtxSwitches(pid) - ctx0;
      mm.hwmMiB = readStatusKiB(pid, "VmHWM") / 1024;
      mm.rssMiB = readStatusKiB(pid, "VmRSS") / 1024;
      mm.fds = countFds(pid);
      const st = await running.stop();
      mm.exit = st.killed ? "killed after 5 s" : st.code !== null ? `exit ${st.code}` : `signal ${st.signal}`;
      const err = running.stderr();
      running = null;
      const pm = /processed (\d+) events \(overflow=(\d+)\)/.exec(err);
      if (pm) mm.daemonProcessed = Number(pm[1]);
      mm.daemonDropped = /dropping records/.test(err);
      const times = timesFile !== null ? readTimesMs(timesFile) : null;
      // 1 ms of slack: fanotifyd's ts_ms is whole milliseconds.
      const scan = scanOutput(out, s.kind, times, warmup ? lg.startMs - 1 : -Infinity);
      mm.warmupOverflows = scan.warmupOverflows;
      mm.events = scan.events;
      mm.bitsPerOp = scan.bits / lg.ops;
      mm.overflows = s.kind === "fatrace" ? NaN : scan.overflows;
      mm.deletedPaths = scan.deleted;
      mm.cpuPer100k = scan.events > 0 ? (mm.cpuSec / scan.events) * 1e5 : NaN;
      mm.ctxSwitchesPerRecord = scan.events > 0 ? ctx / scan.events : NaN;
      mm.lagLastMs = Math.max(0, scan.lastTsMs - lg.endMs);
      mm.eventsPerSec = scan.events / lg.secs;
      if (scan.lags !== null && scan.lags.length > 0) {
        mm.lagP50Ms = Math.max(0, percentile(scan.lags, 50));
        mm.lagP99Ms = Math.max(0, percentile(scan.lags, 99));
        mm.lagMaxMs = Math.max(0, scan.lags[scan.lags.length - 1]);
      }
    }
  } catch (e) {
    mm.error = e instanceof Error ? e.message : String(e);
    if (mm.error.startsWith("SAFETY")) throw e;
  } finally {
    if (running) await running.stop();
    rmSync(out, { force: true });
    if (timesFile !== null) rmSync(timesFile, { force: true });
    rmSync(runDir, { recursive: true, force: true });
    if (warmup) rmSync(warmDir, { recursive: true, force: true });
  }
  mm.wallSec = (nowMs() - t0) / 1000;
  return mm;
}

/**
 * One permission measurement: a fresh directory of PERM_FILES files (made before the subject starts),
 * optionally the warm busy loop, the subject (none: perm-open alone), perm-open N, then for fanotifyd
 * wait until its output (the perm events' records plus the FID group's notifications) is quiet.
 */
async function measurePerm(sc: Scenario, s: Subject, _round: number, b: Bins, m: Mounts, mm: Measurement, t0: number): Promise<Measurement> {
  const runDir = join(m.markDir, "run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir);
  for (let i = 0; i < PERM_FILES; i++) writeFileSync(join(runDir, `p${i}`), "data\n");
  const out = join(m.outMnt, `${s.id}.${sc.id}.${mm.round}.out`);
  let running: Running | null = null;
  let warm: Child | null = null;
  try {
    if (sc.perm!.warm) {
      warm = startWarmLoop();
      await Bun.sleep(20);
    }
    if (s.kind !== "none") {
      running = await startSubject(s, b, m, out);
      await Bun.sleep(50);
    }
    const pid = running?.proc.pid ?? 0;
    const cpu0 = running ? readCpuSec(pid) : 0;
    const threads0 = running ? readThreadCpu(pid) : {};
    const ctx0 = running ? readCtxSwitches(pid) : 0;
    const po = await runPermOpen(b, runDir, mm.opsRequested);
    const endMs = nowMs();
    mm.ops = po.opens;
    mm.loadSecs = po.secs;
    mm.opsPerSec = po.rate;
    mm.permP50Us = po.p50;
    mm.permP99Us = po.p99;
    mm.permMaxUs = po.max;
    if (running) {
      if (s.kind === "fanotifyd") {
        const q = await waitQuiet(out, endMs, 200, 60_000);
        mm.lagQuietMs = Math.max(0, q.lastGrowthMs - endMs);
      }
      mm.cpuSec = readCpuSec(pid) - cpu0;
      mm.threadCpuSec = diffThreadCpu(threads0, readThreadCpu(pid));
      const ctx = readCtxSwitches(pid) - ctx0;
      mm.hwmMiB = readStatusKiB(pid, "VmHWM") / 1024;
      mm.rssMiB = readStatusKiB(pid, "VmRSS") / 1024;
      mm.fds = countFds(pid);
      const st = await running.stop();
      mm.exit = st.killed ? "killed after 5 s" : st.code !== null ? `exit ${st.code}` : `signal ${st.signal}`;
      const err = running.stderr();
      running = null;
      if (s.kind === "fanotifyd") {
        const num = (k: string) => {
          const r = new RegExp(`"${k}":(\\d+)`).exec(err);
          return r ? Number(r[1]) : NaN;
        };
        const pm = /processed (\d+) events \(overflow=(\d+)\)/.exec(err);
        if (pm) mm.daemonProcessed = Number(pm[1]);
        mm.daemonDropped = /dropping records/.test(err);
        mm.permAnswered = num("perm_allowed") + num("perm_denied");
        mm.permDenied = num("perm_denied");
        mm.permTimeouts = num("perm_timeouts");
        const scan = scanOutput(out, s.kind, null);
        mm.events = scan.events;
        mm.bitsPerOp = scan.bits / po.opens;
        mm.overflows = scan.overflows;
        mm.lagLastMs = Math.max(0, scan.lastTsMs - endMs);
        mm.eventsPerSec = scan.events / po.secs;
      } else {
        const r = /events=(\d+)/.exec(err);
        mm.permAnswered = r ? Number(r[1]) : NaN;
        mm.permDenied = 0;
        mm.events = mm.permAnswered;
        mm.eventsPerSec = mm.events / po.secs;
      }
      mm.cpuPer100k = mm.events > 0 ? (mm.cpuSec / mm.events) * 1e5 : NaN;
      mm.ctxSwitchesPerRecord = mm.events > 0 ? ctx / mm.events : NaN;
      if (mm.permDenied > 0) throw new Error(`${s.id} denied ${mm.permDenied} permission events (expected none: no canary is opened)`);
    }
  } catch (e) {
    mm.error = e instanceof Error ? e.message : String(e);
    if (mm.error.startsWith("SAFETY")) throw e;
  } finally {
    if (running) await running.stop();
    if (warm) await killProc(warm);
    rmSync(out, { force: true });
    rmSync(runDir, { recursive: true, force: true });
  }
  mm.wallSec = (nowMs() - t0) / 1000;
  return mm;
}

// ---------------------------------------------------------------------------------------------------
// report

interface Row {
  scenario: string;
  subject: string;
  n: number;
  errors: number;
  opsPerSec: number;
  vsNone: number;
  events: number;
  evPerOp: number;
  bitsPerOp: number;
  expected: number; // floor reader's median events in the same mode and scenario
  writtenVsExpected: number;
  overflowsMedian: number;
  overflowsMax: number;
  roundsWithOverflow: number;
  cpuSec: number;
  cpuPer100k: number;
  cpuVsFloor: number;
  cpuPerKop: number; // CPU ms per 1000 ops (independent of kernel merging)
  cpuPerOpVsFloor: number;
  ctxSwitchesPerRecord: number;
  threadCpuSec: Record<string, number>; // medians per thread name
  hwmMiB: number;
  lagLastMs: number;
  lagQuietMs: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  eventsPerSec: number;
  deletedPaths: number;
  // permission scenarios (NaN elsewhere): medians over rounds of perm-open's per-open() figures (µs)
  permP50Us: number;
  permP99Us: number;
  permMaxUs: number;
  permMaxUsWorst: number;
  /** added latency: this subject's median − none's median (µs) */
  permAddedP50Us: number;
  permAddedP99Us: number;
  /** added latency ÷ the C responder's added latency */
  permAddedP50VsC: number;
  permAddedP99VsC: number;
  permAnswered: number;
  permTimeouts: number;
}

function summarize(ms: Measurement[], scenarios: Scenario[], subjects: Subject[]): Row[] {
  const rows: Row[] = [];
  const get = (sc: string, su: string) => ms.filter((x) => x.scenario === sc && x.subject === su && x.error === undefined);
  for (const sc of scenarios) {
    if (sc.skip) continue;
    const noneOps = median(get(sc.id, "none").map((x) => x.opsPerSec));
    const floorFor = (mode: Mode | null) => (mode === null ? [] : get(sc.id, `floor-${mode}`));
    for (const su of subjects) {
      const all = ms.filter((x) => x.scenario === sc.id && x.subject === su.id);
      if (all.length === 0) continue;
      const ok = all.filter((x) => x.error === undefined);
      const med = (f: (x: Measurement) => number) => median(ok.map(f));
      const floor = su.kind === "fatrace" ? [] : floorFor(su.mode);
      const expected = median(floor.map((x) => x.events));
      const floorCpu = median(floor.map((x) => x.cpuPer100k));
      const floorCpuPerKop = median(floor.map((x) => (x.cpuSec / x.ops) * 1e6));
      const cpuPerKop = med((x) => (x.cpuSec / x.ops) * 1e6);
      const threadCpuSec: Record<string, number> = {};
      for (const name of new Set(ok.flatMap((x) => Object.keys(x.threadCpuSec)))) {
        threadCpuSec[name] = median(ok.map((x) => x.threadCpuSec[name] ?? 0));
      }
      const events = med((x) => x.events);
      const cpuPer100k = med((x) => x.cpuPer100k);
      const overflows = ok.map((x) => x.overflows).filter((x) => Number.isFinite(x));
      rows.push({
        scenario: sc.id,
        subject: su.id,
        n: ok.length,
        errors: all.length - ok.length,
        opsPerSec: med((x) => x.opsPerSec),
        vsNone: med((x) => x.opsPerSec) / noneOps,
        events,
        evPerOp: med((x) => x.events / x.ops),
        bitsPerOp: med((x) => x.bitsPerOp),
        expected,
        writtenVsExpected: events / expected,
        overflowsMedian: median(overflows),
        overflowsMax: overflows.length ? Math.max(...overflows) : NaN,
        roundsWithOverflow: overflows.filter((x) => x > 0).length,
        cpuSec: med((x) => x.cpuSec),
        cpuPer100k,
        cpuVsFloor: su.kind === "fanotifyd" || su.kind === "fatrace" ? cpuPer100k / floorCpu : NaN,
        cpuPerKop,
        cpuPerOpVsFloor: su.kind === "fanotifyd" ? cpuPerKop / floorCpuPerKop : NaN,
        ctxSwitchesPerRecord: med((x) => x.ctxSwitchesPerRecord),
        threadCpuSec,
        hwmMiB: med((x) => x.hwmMiB),
        lagLastMs: med((x) => x.lagLastMs),
        lagQuietMs: med((x) => x.lagQuietMs),
        lagP50Ms: med((x) => x.lagP50Ms),
        lagP99Ms: med((x) => x.lagP99Ms),
        lagMaxMs: ok.length ? Math.max(...ok.map((x) => (Number.isFinite(x.lagMaxMs) ? x.lagMaxMs : 0))) : NaN,
        eventsPerSec: med((x) => x.eventsPerSec),
        deletedPaths: med((x) => x.deletedPaths),
        permP50Us: NaN,
        permP99Us: NaN,
        permMaxUs: NaN,
        permMaxUsWorst: NaN,
        permAddedP50Us: NaN,
        permAddedP99Us: NaN,
        permAddedP50VsC: NaN,
        permAddedP99VsC: NaN,
        permAnswered: med((x) => x.permAnswered),
        permTimeouts: med((x) => x.permTimeouts),
      });
      const r = rows[rows.length - 1];
      if (sc.perm) {
        r.permP50Us = med((x) => x.permP50Us);
        r.permP99Us = med((x) => x.permP99Us);
        r.permMaxUs = med((x) => x.permMaxUs);
        r.permMaxUsWorst = ok.length ? Math.max(...ok.map((x) => x.permMaxUs)) : NaN;
      }
    }
    if (sc.perm) {
      // Added latency vs no responder, and its ratio to the C responder's.
      const pr = rows.filter((r) => r.scenario === sc.id);
      const none = pr.find((r) => r.subject === "none");
      const c = pr.find((r) => r.subject === "c-responder");
      for (const r of pr) {
        if (!none) continue;
        r.permAddedP50Us = r.permP50Us - none.permP50Us;
        r.permAddedP99Us = r.permP99Us - none.permP99Us;
      }
      for (const r of pr) {
        if (!c || r.subject === "none") continue;
        r.permAddedP50VsC = c.permAddedP50Us > 0 ? r.permAddedP50Us / c.permAddedP50Us : NaN;
        r.permAddedP99VsC = c.permAddedP99Us > 0 ? r.permAddedP99Us / c.permAddedP99Us : NaN;
        const cCpu = c.cpuPerKop;
        r.cpuPerOpVsFloor = r.subject !== "c-responder" && cCpu > 0 ? r.cpuPerKop / cCpu : NaN;
      }
    }
  }
  return rows;
}

function permTable(rows: Row[]): string {
  const pr = rows.filter((r) => Number.isFinite(r.permP50Us));
  if (pr.length === 0) return "";
  const head = [
    "scenario",
    "subject",
    "opens/s",
    "open() p50 µs",
    "p99 µs",
    "max µs (worst)",
    "added p50 µs",
    "added p99 µs",
    "added p50 ÷ C",
    "added p99 ÷ C",
    "CPU ms/1k opens",
    "CPU ÷ C",
    "perm answered",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`];
  for (const r of pr) {
    const isNone = r.subject === "none";
    lines.push(
      `| ${[
        r.scenario,
        r.subject + (r.errors ? ` (${r.errors} err)` : ""),
        fmt(r.opsPerSec),
        fmt(r.permP50Us, 1),
        fmt(r.permP99Us, 1),
        `${fmt(r.permMaxUs, 0)} (${fmt(r.permMaxUsWorst, 0)})`,
        isNone ? "" : fmt(r.permAddedP50Us, 1),
        isNone ? "" : fmt(r.permAddedP99Us, 1),
        isNone || r.subject === "c-responder" ? "" : fmt(r.permAddedP50VsC, 2),
        isNone || r.subject === "c-responder" ? "" : fmt(r.permAddedP99VsC, 2),
        isNone ? "" : fmt(r.cpuPerKop, 1),
        isNone || r.subject === "c-responder" ? "" : fmt(r.cpuPerOpVsFloor, 2),
        isNone ? "" : fmt(r.permAnswered),
      ].join(" | ")} |`,
    );
  }
  return lines.join("\n");
}

function markdownTable(rows: Row[], scenarios: Scenario[]): string {
  const head = [
    "scenario",
    "subject",
    "ops/s",
    "vs none",
    "events",
    "ev/op",
    "bits/op",
    "written/expected",
    "overflows med (max)",
    "CPU s",
    "CPU s/100k ev",
    "× floor",
    "peak RSS MiB",
    "lag last ms",
    "lag p50/p99 ms",
    "events/s",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map((_, i) => (i < 2 ? "---" : "---:")).join("|")}|`];
  for (const r of rows) {
    const isNone = r.subject === "none";
    const cells = [
      r.scenario,
      r.subject + (r.errors ? ` (${r.errors} err)` : ""),
      fmt(r.opsPerSec),
      isNone ? "1.00" : fmt(r.vsNone, 2),
      isNone ? "" : fmt(r.events),
      isNone ? "" : fmt(r.evPerOp, 2),
      isNone ? "" : fmt(r.bitsPerOp, 2),
      isNone || !Number.isFinite(r.writtenVsExpected) ? "" : fmt(r.writtenVsExpected, 3),
      isNone ? "" : Number.isFinite(r.overflowsMedian) ? `${fmt(r.overflowsMedian)} (${fmt(r.overflowsMax)})` : "n/a",
      isNone ? "" : fmt(r.cpuSec, 2),
      isNone ? "" : fmt(r.cpuPer100k, 3),
      Number.isFinite(r.cpuVsFloor) ? fmt(r.cpuVsFloor, 2) : "",
      isNone ? "" : fmt(r.hwmMiB, 1),
      isNone ? "" : fmt(r.lagLastMs, 0),
      isNone ? "" : Number.isFinite(r.lagP99Ms) ? `${fmt(r.lagP50Ms, 1)} / ${fmt(r.lagP99Ms, 1)}` : "",
      isNone ? "" : fmt(r.eventsPerSec),
    ];
    lines.push(`| ${cells.join(" | ")} |`);
  }
  for (const sc of scenarios) if (sc.skip) lines.push(`| ${sc.id} | — | skipped: ${sc.skip} |${" |".repeat(head.length - 3)}`);
  return lines.join("\n");
}

interface Target {
  target: string;
  verdict: "pass" | "FAIL" | "n/a";
  detail: string;
}

function evaluateTargets(rows: Row[]): Target[] {
  const t: Target[] = [];
  const row = (sc: string, su: string) => rows.find((r) => r.scenario === sc && r.subject === su);
  // 1. no kernel overflow, orc at 100k ops/s
  for (const su of ["fanotifyd-fid", "fanotifyd-fd"]) {
    const r = row("orc-100k", su);
    if (!r) continue;
    t.push({
      target: `no kernel overflow, open+read+close at 100k ops/s (${su})`,
      verdict: r.n === 0 ? "n/a" : r.roundsWithOverflow === 0 ? "pass" : "FAIL",
      detail: `${r.roundsWithOverflow}/${r.n} rounds overflowed (max ${fmt(r.overflowsMax)} overflow records); achieved ${fmt(r.opsPerSec)} ops/s`,
    });
  }
  // 2. CPU per 100k records within 2× of the floor in the same mode
  for (const mode of ["fid", "fd"] as const) {
    const rs = rows.filter((r) => r.subject === `fanotifyd-${mode}` && Number.isFinite(r.cpuVsFloor));
    if (rs.length === 0) continue;
    const worst = rs.reduce((a, b) => (b.cpuVsFloor > a.cpuVsFloor ? b : a));
    t.push({
      target: `CPU s per 100k records within 2× of floor-${mode}`,
      verdict: rs.every((r) => r.cpuVsFloor <= 2) ? "pass" : "FAIL",
      detail:
        rs.map((r) => `${r.scenario} ${fmt(r.cpuVsFloor, 2)}×`).join(", ") +
        ` (worst ${worst.scenario}). Per op instead of per record (merging-independent): ` +
        rs.map((r) => `${r.scenario} ${fmt(r.cpuPerOpVsFloor, 2)}×`).join(", "),
    });
  }
  // 3. lag p99 under 50 ms at 50k events/s
  for (const su of ["fanotifyd-fid", "fanotifyd-fd"]) {
    const r = row("lag-50kev", su);
    if (!r) continue;
    t.push({
      target: `lag p99 < 50 ms at 50k events/s (${su})`,
      verdict: !Number.isFinite(r.lagP99Ms) ? "n/a" : r.lagP99Ms < 50 && r.roundsWithOverflow === 0 ? "pass" : "FAIL",
      detail: `p99 ${fmt(r.lagP99Ms, 1)} ms (median of rounds; worst single event ${fmt(r.lagMaxMs, 0)} ms), ${fmt(r.eventsPerSec)} events/s written, overflow rounds ${r.roundsWithOverflow}`,
    });
  }
  // 4. permission latency: added p50 within 1.2×, added p99 within 2× of the C responder
  for (const sc of [...new Set(rows.filter((r) => Number.isFinite(r.permP50Us)).map((r) => r.scenario))]) {
    const c = row(sc, "c-responder");
    for (const su of ["fanotifyd-perm", "fanotifyd-perm-deny"]) {
      const r = row(sc, su);
      if (!r || !c) continue;
      for (const [q, lim, ratio, added, cAdded, abs, cAbs] of [
        ["p50", 1.2, r.permAddedP50VsC, r.permAddedP50Us, c.permAddedP50Us, r.permP50Us, c.permP50Us],
        ["p99", 2, r.permAddedP99VsC, r.permAddedP99Us, c.permAddedP99Us, r.permP99Us, c.permP99Us],
      ] as const) {
        t.push({
          target: `permission latency: added open() ${q} within ${lim}× of the C responder (${su}, ${sc})`,
          verdict: !Number.isFinite(ratio) || r.n === 0 ? "n/a" : ratio <= lim ? "pass" : "FAIL",
          detail: `added ${fmt(added, 1)} µs vs C ${fmt(cAdded, 1)} µs = ${fmt(ratio, 2)}× (open() ${q} ${fmt(abs, 1)} vs ${fmt(cAbs, 1)} µs; medians of ${r.n} rounds)`,
        });
      }
    }
  }
  return t;
}

function machineInfo(b: Bins | null): Record<string, string | number> {
  const fv = b ? sh([b.fanotifyd, "--version"]).out.trim() : "";
  const fat = b?.fatrace ? sh(["dpkg-query", "-W", "-f", "${Version}", "fatrace"]).out.trim() || "installed" : "not installed";
  let maxq = "";
  try {
    maxq = readFileSync("/proc/sys/fs/fanotify/max_queued_events", "utf8").trim();
  } catch {
    // older kernels
  }
  let sha = "";
  let mtime = "";
  if (b) {
    const h = new Bun.CryptoHasher("sha256");
    h.update(readFileSync(b.fanotifyd));
    sha = h.digest("hex").slice(0, 16);
    mtime = b.fanotifydMtime;
  }
  const head = sh(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]).out.trim();
  const dirty = sh(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"]).out.trim() !== "";
  return {
    nproc: cpus().length,
    cpu: cpus()[0]?.model ?? "",
    memGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    bun: Bun.version,
    fanotifyd: fv,
    fanotifydSha256: sha,
    fanotifydMtime: mtime,
    gitHead: head + (dirty ? " (work tree modified)" : ""),
    fatrace: fat,
    max_queued_events: maxq,
  };
}

// ---------------------------------------------------------------------------------------------------
// soak

interface SoakSample {
  tSec: number;
  rssMiB: number;
  hwmMiB: number;
  fds: number;
  cpuSec: number;
  events: number;
  overflows: number;
  opsPerSec: number;
  lagLastMs: number;
}

async function runSoak(opts: Options, b: Bins, m: Mounts): Promise<Record<string, unknown>> {
  const subject = ALL_SUBJECTS.find((s) => s.id === `fanotifyd-${opts.soakMode}`)!;
  const totalSec = opts.soakMinutes * 60;
  const chunkSec = 10;
  const rate = 10_000;
  const out = join(m.outMnt, "soak.jsonl");
  const old = join(m.outMnt, "soak.old");
  const runDir = join(m.markDir, "run");
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir);
  log(`soak: ${subject.id}, cwcru at ${rate} ops/s for ${opts.soakMinutes} min, sampling every ${chunkSec} s`);
  const running = await startSubject(subject, b, m, out);
  const pid = running.proc.pid;
  const t0 = nowMs();
  const cpu0 = readCpuSec(pid);
  const samples: SoakSample[] = [];
  const sample = (lg: LoadResult | null, scan: Scan | null): SoakSample => ({
    tSec: Math.round((nowMs() - t0) / 100) / 10,
    rssMiB: readStatusKiB(pid, "VmRSS") / 1024,
    hwmMiB: readStatusKiB(pid, "VmHWM") / 1024,
    fds: countFds(pid),
    cpuSec: readCpuSec(pid) - cpu0,
    events: scan?.events ?? 0,
    overflows: scan?.overflows ?? 0,
    opsPerSec: lg?.rate ?? 0,
    lagLastMs: scan && lg ? Math.max(0, scan.lastTsMs - lg.endMs) : NaN,
  });
  samples.push(sample(null, null));
  const chunks = Math.max(1, Math.round(totalSec / chunkSec));
  try {
    for (let i = 0; i < chunks; i++) {
      // A new loadgen process per chunk: new pids exercise the daemon's per-process cache too.
      const lg = await runLoadgen(b, runDir, "cwcru", rate * chunkSec, rate, null);
      await waitQuiet(out, lg.endMs, 100, 30_000);
      // logrotate-style: rename, SIGUSR1 (reopen), read and drop the old file; keeps the tmpfs small.
      renameSync(out, old);
      running.proc.kill("SIGUSR1");
      await Bun.sleep(20);
      const scan = scanOutput(old, "fanotifyd", null);
      rmSync(old, { force: true });
      const s = sample(lg, scan);
      samples.push(s);
      log(
        `soak ${fmt(s.tSec)} s: RSS ${fmt(s.rssMiB, 1)} MiB, fds ${s.fds}, CPU ${fmt(s.cpuSec, 1)} s, ${fmt(s.events)} events (+${s.overflows} overflow), lag ${fmt(s.lagLastMs)} ms`,
      );
    }
  } finally {
    await running.stop();
    rmSync(runDir, { recursive: true, force: true });
  }
  // Verdict: RSS growth < 10% from the baseline (minute 2, or half time for soaks shorter than 4
  // min) to the end; fd count within ±5 of the first sample throughout. RSS saw-tooths with GC by
  // ±10% between samples, so the growth is that of a least-squares line through every sample from
  // the baseline on (fitted end − fitted start) ÷ fitted start. One-minute medians at both ends are
  // reported too.
  const baseT = totalSec >= 240 ? 120 : totalSec / 2;
  const baseIdx = Math.max(1, samples.findIndex((s) => s.tSec >= baseT));
  const baseWin = samples.slice(baseIdx, baseIdx + 6);
  const endWin = samples.slice(Math.max(1, samples.length - 6));
  const base = samples[baseIdx] ?? samples[samples.length - 1];
  const last = samples[samples.length - 1];
  const baseRss = median(baseWin.map((s) => s.rssMiB));
  const endRss = median(endWin.map((s) => s.rssMiB));
  const fitPts = samples.slice(baseIdx);
  let slope = 0;
  let fitStart = baseRss;
  let fitEnd = baseRss;
  if (fitPts.length >= 2) {
    const mx = fitPts.reduce((a, p) => a + p.tSec, 0) / fitPts.length;
    const my = fitPts.reduce((a, p) => a + p.rssMiB, 0) / fitPts.length;
    const sxx = fitPts.reduce((a, p) => a + (p.tSec - mx) ** 2, 0);
    slope = sxx > 0 ? fitPts.reduce((a, p) => a + (p.tSec - mx) * (p.rssMiB - my), 0) / sxx : 0;
    fitStart = my + slope * (fitPts[0].tSec - mx);
    fitEnd = my + slope * (fitPts[fitPts.length - 1].tSec - mx);
  }
  const rssGrowth = (fitEnd - fitStart) / fitStart;
  const windowGrowth = (endRss - baseRss) / baseRss;
  const fd0 = samples[0].fds;
  const fdDev = Math.max(...samples.map((s) => Math.abs(s.fds - fd0)));
  const overflows = samples.reduce((a, s) => a + s.overflows, 0);
  const events = samples.reduce((a, s) => a + s.events, 0);
  const verdict = {
    rss: rssGrowth < 0.1 ? "pass" : "FAIL",
    fds: fdDev <= 5 ? "pass" : "FAIL",
  };
  const rss = samples.map((s) => s.rssMiB);
  const fds = samples.map((s) => s.fds);
  const md = [
    `| soak (${subject.id}, ${rate} ops/s cwcru, ${opts.soakMinutes} min) | first | baseline (t=${fmt(base.tSec)} s) | last | max | verdict |`,
    "|---|---:|---:|---:|---:|---|",
    `| RSS MiB | ${fmt(rss[0], 1)} | ${fmt(base.rssMiB, 1)} | ${fmt(last.rssMiB, 1)} | ${fmt(Math.max(...rss), 1)} | ${verdict.rss}: ${fmt(rssGrowth * 100, 1)}% by a least-squares fit from the baseline (${fmt(fitStart, 1)} → ${fmt(fitEnd, 1)} MiB, ${fmt(slope * 60, 2)} MiB/min; must be < 10%); one-minute medians ${fmt(baseRss, 1)} → ${fmt(endRss, 1)} MiB (${fmt(windowGrowth * 100, 1)}%) |`,
    `| peak RSS (VmHWM) MiB | ${fmt(samples[0].hwmMiB, 1)} | ${fmt(base.hwmMiB, 1)} | ${fmt(last.hwmMiB, 1)} | | |`,
    `| open fds | ${fds[0]} | ${base.fds} | ${last.fds} | ${Math.max(...fds)} | ${verdict.fds} (max deviation ${fdDev}; must be ≤ 5) |`,
    `| events / overflow records | | | | | ${fmt(events)} / ${overflows} |`,
    `| CPU s per 100k events | | | | | ${fmt((last.cpuSec / Math.max(1, events)) * 1e5, 3)} |`,
  ].join("\n");
  return { subject: subject.id, rate, minutes: opts.soakMinutes, samples, baselineTSec: base.tSec, baselineRssMiB: baseRss, endRssMiB: endRss, windowGrowth, fitStartMiB: fitStart, fitEndMiB: fitEnd, rssSlopeMiBPerMin: slope * 60, rssGrowth, fdDeviation: fdDev, events, overflows, verdict, markdown: md };
}

// ---------------------------------------------------------------------------------------------------
// main

async function main(): Promise<void> {
  const opts = parseOptions(process.argv.slice(2));
  if (process.platform !== "linux" || process.getuid?.() !== 0) throw new Error("the benchmark needs root on Linux (fanotify, tmpfs mounts)");
  if (!existsSync("/proc/sys/fs/fanotify/max_queued_events")) throw new Error("this kernel has no fanotify");
  installCleanupHooks();
  const started = nowMs();
  const m = setUpMounts();
  const b = buildHelpers(m, opts);
  const machine = machineInfo(b);
  log(`machine: ${JSON.stringify(machine)}`);
  log(`work dir ${m.work} (tmpfs ${m.markMnt} marked, ${m.outMnt} for output)`);

  const report: Record<string, unknown> = {
    tool: "fanotifyd test/bench/run.ts",
    startedAt: new Date().toISOString(),
    options: { ...opts },
    machine,
  };

  if (opts.soakMinutes > 0) {
    const soak = await runSoak(opts, b, m);
    report.soak = soak;
    report.elapsedSec = Math.round((nowMs() - started) / 100) / 10;
    process.stdout.write(`\n${soak.markdown as string}\n\nelapsed ${fmt(report.elapsedSec as number, 1)} s\n`);
    writeJson(opts.json, report);
    return;
  }

  const subjects = ALL_SUBJECTS.filter((s) => (opts.subjects ? opts.subjects.includes(s.id) : s.details !== true && s.pidfd !== true)).filter(
    (s) => s.kind !== "fatrace" || b.fatrace !== null,
  );
  if (b.fatrace === null) log(opts.fatrace ? "fatrace is not installed: peer skipped (apt-get install fatrace)" : "fatrace left out (--no-fatrace)");
  const scenarios = ALL_SCENARIOS.filter((s) => (opts.scenarios ? opts.scenarios.includes(s.id) || (s.perm && opts.scenarios.includes("perm")) : true)).filter(
    (s) => !s.perm || opts.permVariants === "both" || (opts.permVariants === "warm") === s.perm.warm,
  );
  for (const sc of scenarios) if (sc.skip) log(`scenario ${sc.id}: skipped — ${sc.skip}`);
  const measurements: Measurement[] = [];
  for (let round = 0; round < opts.rounds; round++) {
    for (const sc of scenarios) {
      if (sc.skip) continue;
      const these = subjects.filter((su) => applies(sc, su));
      const order = these.map((_, i) => these[(i + round) % these.length]);
      for (const su of order) {
        const r = await measure(sc, su, round, b, m, opts);
        if (r === null) continue;
        measurements.push(r);
        log(
          `round ${round + 1}/${opts.rounds} ${sc.id} ${su.id}: ` +
            (r.error
              ? `ERROR ${r.error.split("\n")[0]}`
              : sc.perm
                ? `${fmt(r.opsPerSec)} opens/s, open() p50 ${fmt(r.permP50Us, 1)} µs, p99 ${fmt(r.permP99Us, 1)} µs, max ${fmt(r.permMaxUs)} µs` +
                  (su.kind === "none" ? "" : `, CPU ${fmt(r.cpuSec, 2)} s, answered ${fmt(r.permAnswered)}, records ${fmt(r.events)}`) +
                  ` [${fmt(r.wallSec, 1)} s]`
                : `${fmt(r.opsPerSec)} ops/s` +
                (su.kind === "none"
                  ? ""
                  : `, ${fmt(r.events)} events, overflow ${Number.isFinite(r.overflows) ? r.overflows : "n/a"}, CPU ${fmt(r.cpuSec, 2)} s, lag ${fmt(r.lagLastMs)} ms` +
                    (Number.isFinite(r.lagP99Ms) ? ` (p99 ${fmt(r.lagP99Ms, 1)})` : "")) +
                ` [${fmt(r.wallSec, 1)} s]`),
        );
      }
    }
  }
  const rows = summarize(measurements, scenarios, subjects);
  const table = markdownTable(rows, scenarios);
  const ptable = permTable(rows);
  const targets = evaluateTargets(rows);
  const elapsed = (nowMs() - started) / 1000;
  const notes = [
    `Medians over ${opts.rounds} rounds${opts.quick ? " (--quick: a quarter of the operations)" : ""}; subjects interleaved, order rotated each round.`,
    "events = records written (event lines). expected = median records of the C floor reader in the same mode and scenario. The kernel merges queued events on the same object into one record, so a slower reader writes fewer records without losing anything: bits/op (event-type bits summed over records, per op) is the merge-independent count — for cwcru every op is FID 11 / FD 3 events, so bits/op below that is loss. orc re-opens 64 files, so its repeated OPENs merge away for every reader. fatrace has its own mask: no expected, no bits.",
    opts.warmup
      ? `CPU = utime+stime of the subject (all threads) in steady state, from /proc/PID/stat: each subject first gets a warm-up (the same load type in another directory, as fast as possible: 20k cwcru or 80k orc ops; its records are not counted), then CPU is sampled from the start of the measured load until the output stopped growing. The warm-up keeps one-off costs out of the per-record figures; fanotifyd's is mostly JIT compilation: median ${warmupSummary(measurements)}. --no-warmup measures from the ready state instead. Peak RSS = VmHWM.`
      : "CPU = utime+stime of the subject (all threads) from the ready state until its output stopped growing, from /proc/PID/stat (--no-warmup: one-off costs such as fanotifyd's JIT compilation included); peak RSS = VmHWM.",
    "lag last = timestamp in the subject's last line − loadgen's end (fanotifyd: ts_ms, 1 ms resolution; floor: read time; fatrace: -tt); lag p50/p99 = per event, line timestamp − the start time of the op named in its path (cwcru at fixed rates).",
    "floor-fid caches the last directory handle (as fanotifyd caches directory handles); neither floor resolves comm/exe, fanotifyd does (cached per pid).",
    ...(scenarios.some((s) => s.perm)
      ? [
          "perm-*: perm-open opens+reads+closes 64 files N times and times each open(); every iteration is an OPEN_PERM and an ACCESS_PERM. added = subject − none (median p50/p99 of the rounds); ÷ C = added ÷ the C responder's added. In the main table, events for fanotifyd are the records it wrote (perm events with their decision plus its FID group's OPEN/ACCESS/CLOSE_NOWRITE notifications), for c-responder the perm events it answered. perm-warm runs a nice-19 busy loop (`sh -c 'while :; do :; done'`) throughout so the vCPUs never idle: on this VM an idle vCPU takes ~70 µs to wake, which otherwise dominates every hand-off.",
        ]
      : []),
  ];
  const md = [
    `## fanotifyd bench — ${new Date().toISOString().slice(0, 16)}Z`,
    "",
    `Machine: ${machine.nproc} × ${machine.cpu}, Linux ${machine.kernel}, Bun ${machine.bun}, ${machine.fanotifyd} (binary sha256 ${machine.fanotifydSha256}…, built ${String(machine.fanotifydMtime).slice(0, 16)}Z, git ${machine.gitHead}), fatrace ${machine.fatrace}; elapsed ${fmt(elapsed, 0)} s.`,
    "",
    table,
    "",
    ...(ptable ? ["Permission latency (perm-open: each open() timed; medians over the rounds):", "", ptable, ""] : []),
    "| target | verdict | detail |",
    "|---|---|---|",
    ...targets.map((t) => `| ${t.target} | ${t.verdict} | ${t.detail} |`),
    "",
    ...notes.map((n) => `- ${n}`),
  ].join("\n");
  process.stdout.write(md + "\n");
  Object.assign(report, {
    elapsedSec: Math.round(elapsed * 10) / 10,
    scenarios: scenarios.map((s) => ({ id: s.id, load: s.load, note: s.note, skip: s.skip ?? null })),
    subjects,
    rows,
    targets,
    notes,
    measurements,
    markdown: md,
  });
  writeJson(opts.json, report);
  if (opts.permTail && opts.scenarios === null && opts.subjects === null) {
    const quick = opts.quick ? ["--opens", "10000", "--flood-ops", "100000"] : [];
    process.stdout.write(`\n## Permission tail and FD flood (perm-tail.ts)\n${await runPermTail(["--rounds", String(opts.rounds), ...quick])}\n`);
  }
}

function writeJson(path: string, obj: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  // NaN is not JSON: write null.
  writeFileSync(path, JSON.stringify(obj, (_k, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2) + "\n");
  log(`JSON written to ${path}`);
}

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    cleanup();
    process.exit(1);
  },
);
