// The chaos suite (issue 14): the compiled ./fanotifyd against real fanotify marks on private tmpfs
// mounts, tried the way a hostile local user or a bad day would. Scenarios:
//   cycles     start / load / SIGTERM-under-load in FID, FD and perm modes, with exit times
//   signals    SIGHUP/SIGUSR1/SIGUSR2 storm under load
//   disk       the output on a tiny tmpfs that fills up, then space comes back
//   pipe       `-o -` into a consumer that stalls and resumes
//   fdlimit    prlimit --nofile=64, --perm, 100 parallel openers
//   hostile    names with newlines, invalid UTF-8, 255 bytes, control characters
//   reloads    a storm of config rewrites + SIGHUPs; the last config must be the one in force
// Every scenario counts hangs (a daemon not gone within 3 s of SIGTERM, or an opener stuck while
// the daemon runs), wrongful denials (EPERM with no canary), invalid output lines, and losses not
// counted (event records handed to the output but neither in the file nor in output_records_dropped).
//
// SAFETY: marks only on tmpfs mounts made here (harness.ts makeTmpfs / assertSafeMarks); everything
// is bounded in time and killed at the end.
import { chmodSync, closeSync, existsSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, makeTmpDir, makeTmpfs, runTimed, startDaemon, statsFromLog, track, type Daemon, type JsonRecord } from "../integration/harness.ts";

export interface ChaosOptions {
  /** start/load/stop cycles per mode (fid, fd, perm). */
  cyclesPerMode: number;
  /** ms of load per cycle before SIGTERM. */
  cycleLoadMs: number;
  /** ms of each of the other scenarios' load phases. */
  scenarioMs: number;
  /** Wall-clock bound for the whole run; cycles stop early (and say so) when it is reached. */
  budgetMs: number;
  log?: (line: string) => void;
  /** Run only the scenarios whose name contains one of these words (default: all). */
  only?: readonly string[];
}

export interface ChaosReport {
  cycles: Record<string, { runs: number; exitMs: number[] }>;
  hangs: number;
  unansweredPerm: number;
  wrongfulDenials: number;
  invalidLines: number;
  uncountedLoss: number;
  eventsWritten: number;
  eventLines: number;
  countedDrops: number;
  kernelOverflows: number;
  lostNoFd: number;
  badExits: number;
  notes: string[];
  failures: string[];
}

const HANG_MS = 3000;

let helperBin: string | null = null;
export function helper(): string {
  if (helperBin !== null && existsSync(helperBin)) return helperBin;
  const dir = makeTmpDir("fanotifyd-chaos-bin-");
  const out = join(dir, "helper");
  const r = Bun.spawnSync(["cc", "-O2", "-o", out, join(import.meta.dir, "helper.c")], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`cc helper.c failed: ${r.stderr.toString()}`);
  helperBin = out;
  return out;
}

export type Running = Daemon;

/** Starts the daemon (foreground) and waits for its readiness line. */
export function start(args: string[], opts: { prefix?: string[]; stdout?: number; env?: Record<string, string> } = {}): Promise<Running> {
  const stdout = opts.stdout === undefined ? "ignore" : { fd: opts.stdout };
  return startDaemon(args, { prefix: opts.prefix, stdout, env: opts.env, readyTimeoutMs: 15_000 });
}

/** SIGTERM; ms until exit, or null (a hang: SIGKILLed). */
export async function stop(r: Running, sig: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
  const res = await r.stop(sig, HANG_MS);
  return res.timedOut ? null : res.elapsedMs;
}

/** Runs the helper with a deadline; null when it had to be killed (stuck). */
export async function runHelper(args: string[], timeoutMs: number): Promise<string | null> {
  const r = await runTimed([helper(), ...args], timeoutMs);
  return r.timedOut ? null : r.stdout;
}

export function field(text: string, name: string): number {
  const m = new RegExp(`${name}=(\\d+)`).exec(text);
  return m ? Number(m[1]) : 0;
}

interface Checked {
  valid: number;
  invalid: number;
  /** The first invalid line (up to 300 bytes), for the failure message. */
  sample: string;
  eventLines: number;
  records: JsonRecord[];
}

/** Strictly parses an output file: every line JSON, the file ends with a newline. */
export function checkLines(text: string): Checked {
  const res: Checked = { valid: 0, invalid: 0, sample: "", eventLines: 0, records: [] };
  if (text.length === 0) return res;
  const lines = text.split("\n");
  const last = lines.pop();
  if (last !== "") {
    res.invalid++; // cut last line
    res.sample = `(last) ${JSON.stringify(last?.slice(0, 300))}`;
  }
  let lineNo = 0;
  for (const line of lines) {
    try {
      const r = JSON.parse(line) as JsonRecord;
      if (typeof r !== "object" || r === null || typeof r.type !== "string") throw new Error("not a record");
      res.valid++;
      if (r.type === "event") res.eventLines++;
      res.records.push(r);
    } catch {
      res.invalid++;
      if (res.sample === "") res.sample = `(line ${lineNo + 1} of ${lines.length}) ${JSON.stringify(line.slice(0, 300))}`;
    }
    lineNo++;
  }
  return res;
}

class Tally {
  readonly report: ChaosReport = {
    cycles: {},
    hangs: 0,
    unansweredPerm: 0,
    wrongfulDenials: 0,
    invalidLines: 0,
    uncountedLoss: 0,
    eventsWritten: 0,
    eventLines: 0,
    countedDrops: 0,
    kernelOverflows: 0,
    lostNoFd: 0,
    badExits: 0,
    notes: [],
    failures: [],
  };

  /** SIGTERM; a daemon not gone within HANG_MS is a hang (SIGKILLed). Returns the exit time. */
  async stopped(what: string, d: Running): Promise<number | null> {
    const ms = await stop(d);
    if (ms === null) {
      this.report.hangs++;
      this.fail(`${what}: no exit within ${HANG_MS} ms of SIGTERM\n${d.stderr().slice(-1500)}`);
    }
    return ms;
  }

  fail(what: string): void {
    if (this.report.failures.length < 50) this.report.failures.push(what);
  }

  /**
   * Accounts one finished daemon: its final stats (from the log), its output text, and whether the
   * output can be expected to hold every written record (false for a pipe cut at exit).
   */
  account(what: string, stderr: string, output: string | null, code: number | null): void {
    const r = this.report;
    if (code !== 0) {
      r.badExits++;
      this.fail(`${what}: exit ${code}\n${stderr.slice(-2000)}`);
    }
    const stats = statsFromLog(stderr).at(-1);
    if (stats === undefined) {
      this.fail(`${what}: no final stats record`);
      return;
    }
    const n = (k: string): number => (typeof stats[k] === "number" ? (stats[k] as number) : 0);
    r.kernelOverflows += n("kernel_overflows");
    r.lostNoFd += n("events_lost_no_fd");
    r.countedDrops += n("output_records_dropped");
    if (output === null) return;
    const c = checkLines(output);
    r.invalidLines += c.invalid;
    if (c.invalid > 0) this.fail(`${what}: ${c.invalid} invalid output lines, first: ${c.sample}`);
    r.eventsWritten += n("events_written");
    r.eventLines += c.eventLines;
    // Every event record handed to the output is in the file or counted as dropped.
    const missing = n("events_written") - c.eventLines - n("output_records_dropped");
    if (missing > 0) {
      r.uncountedLoss += missing;
      this.fail(`${what}: ${missing} event records neither written nor counted (stats ${JSON.stringify(stats)})`);
    }
  }
}

type Mode = "fid" | "fd" | "perm";

function modeArgs(mode: Mode, dir: string): string[] {
  if (mode === "fd") return ["--no-fid", "--filesystem", dir];
  if (mode === "perm") return ["--perm", "--filesystem", dir];
  return ["--filesystem", dir];
}

function seedFiles(dir: string): void {
  for (let i = 0; i < 16; i++) writeFileSync(join(dir, `f${i}`), "data\n");
}

async function cycles(t: Tally, opts: ChaosOptions, deadline: number): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(256);
  seedFiles(fs.dir);
  const modes: Mode[] = ["fid", "fd", "perm"];
  const counts: Record<Mode, number> = { fid: 0, fd: 0, perm: 0 };
  for (const m of modes) t.report.cycles[m] = { runs: 0, exitMs: [] };
  for (let i = 0; i < opts.cyclesPerMode * modes.length; i++) {
    if (performance.now() > deadline) {
      t.report.notes.push(`cycles stopped at the time budget after ${i} cycles`);
      break;
    }
    const mode = modes[i % modes.length];
    counts[mode]++;
    const out = join(outFs.dir, "cycle.jsonl");
    rmSync(out, { force: true });
    const d = await start([...modeArgs(mode, fs.dir), "-o", out]);
    // Load runs on past the SIGTERM: the daemon stops while the events still come.
    const loadMs = opts.cycleLoadMs + 400;
    const load = runHelper(["load", fs.dir, String(loadMs)], loadMs + 5000);
    const opens = mode === "perm" ? runHelper(["open", fs.dir, "8", "200"], loadMs + 5000) : Promise.resolve("");
    await Bun.sleep(opts.cycleLoadMs);
    const ms = await t.stopped(`cycle ${i} (${mode})`, d);
    const [loadOut, openOut] = await Promise.all([load, opens]);
    const c = t.report.cycles[mode];
    c.runs++;
    if (ms !== null) c.exitMs.push(ms);
    if (loadOut === null || openOut === null) {
      t.report.unansweredPerm++;
      t.fail(`cycle ${i} (${mode}): a load process was stuck`);
    } else if (mode === "perm") {
      const eperm = field(openOut, "eperm");
      t.report.wrongfulDenials += eperm;
      if (eperm > 0) t.fail(`cycle ${i}: ${eperm} opens got EPERM`);
    }
    t.account(`cycle ${i} (${mode})`, d.stderr(), existsSync(out) ? readFileSync(out, "latin1") : "", d.proc.exitCode);
  }
  fs.cleanup();
  outFs.cleanup();
}

async function signalStorm(t: Tally, opts: ChaosOptions): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(512);
  const conf = join(makeTmpDir(), "storm.conf");
  writeFileSync(conf, `canary ${fs.dir}/canary*\n`);
  chmodSync(conf, 0o600);
  const out = join(outFs.dir, "storm.jsonl");
  const d = await start(["-c", conf, "--filesystem", fs.dir, "-o", out]);
  const load = runHelper(["load", fs.dir, String(opts.scenarioMs)], opts.scenarioMs + 5000);
  const sigs: NodeJS.Signals[] = ["SIGHUP", "SIGUSR1", "SIGUSR2"];
  let sent = 0;
  const end = performance.now() + opts.scenarioMs;
  while (performance.now() < end && !d.exited()) {
    d.proc.kill(sigs[sent++ % 3]);
    await Bun.sleep(2 + (sent % 7) * 3);
  }
  await load;
  if (d.exited()) t.fail(`signal storm: the daemon died after ${sent} signals\n${d.stderr().slice(-1500)}`);
  const ms = await t.stopped("signal storm", d);
  t.report.notes.push(`signal storm: ${sent} signals in ${opts.scenarioMs} ms, exit in ${ms?.toFixed(0)} ms`);
  t.account("signal storm", d.stderr(), readFileSync(out, "latin1"), d.proc.exitCode);
  fs.cleanup();
  outFs.cleanup();
}

async function fullDisk(t: Tally, opts: ChaosOptions): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(1); // 1 MiB: full within a second of load
  const out = join(outFs.dir, "disk.jsonl");
  const d = await start(["--filesystem", fs.dir, "-o", out]);
  await runHelper(["load", fs.dir, String(opts.scenarioMs)], opts.scenarioMs + 5000);
  const full = d.stderr().includes("No space left") || d.stderr().includes("ENOSPC");
  if (!full) t.fail("full disk: the output never reported ENOSPC");
  // Space comes back (logrotate moved the file away): the daemon must write valid records again.
  const before = readFileSync(out, "latin1");
  rmSync(out);
  d.signal("SIGUSR1");
  await d.waitFor("stderr", "SIGUSR1 received: reopening the output", 5000); // logged, then reopened at once
  await runHelper(["load", fs.dir, "200"], 5000);
  await Bun.sleep(300);
  await t.stopped("full disk", d);
  const after = existsSync(out) ? readFileSync(out, "latin1") : "";
  const c1 = checkLines(before);
  // The file cut by ENOSPC may end mid-record: that is the one tolerated cut, and the daemon never
  // appends to it again (a restart would first add a newline: unit test output-safety).
  const cutAtEnd = before.length > 0 && !before.endsWith("\n") ? 1 : 0;
  t.report.invalidLines += c1.invalid - cutAtEnd;
  if (c1.invalid - cutAtEnd > 0) t.fail(`full disk: ${c1.invalid - cutAtEnd} invalid lines before recovery`);
  const c2 = checkLines(after);
  if (c2.eventLines === 0) t.fail("full disk: no records after space came back");
  // The new file may fill up again under the same load: again only a cut at its very end is allowed.
  const cut2 = after.length > 0 && !after.endsWith("\n") ? 1 : 0;
  t.report.invalidLines += c2.invalid - cut2;
  if (c2.invalid - cut2 > 0) t.fail(`full disk: ${c2.invalid - cut2} invalid lines after recovery`);
  const stats = statsFromLog(d.stderr()).at(-1);
  const drops = typeof stats?.output_records_dropped === "number" ? stats.output_records_dropped : 0;
  if (full && drops === 0) t.fail("full disk: records were lost but output_records_dropped is 0");
  t.report.notes.push(
    `full disk: ${c1.eventLines} event lines, then ${c2.eventLines} after space came back; ${drops} records counted dropped; files cut by ENOSPC at their end: ${cutAtEnd + cut2}`,
  );
  t.account("full disk", d.stderr(), null, d.proc.exitCode);
  fs.cleanup();
  outFs.cleanup();
}

async function stalledPipe(t: Tally, opts: ChaosOptions): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(256);
  const fifo = join(outFs.dir, "pipe.fifo");
  const got = join(outFs.dir, "pipe.jsonl");
  Bun.spawnSync(["mkfifo", fifo]);
  // The consumer reads 100 ms, stalls 300 ms, and so on.
  const consumer = track(Bun.spawn(["sh", "-c", 'exec "$0" stallcat "$1" 100 300 < "$2"', helper(), got, fifo], { stdin: "ignore" }));
  const wfd = openSync(fifo, "w");
  let d: Running;
  try {
    d = await start(["--filesystem", fs.dir, "-o", "-"], { stdout: wfd });
  } finally {
    closeSync(wfd);
  }
  await runHelper(["load", fs.dir, String(opts.scenarioMs)], opts.scenarioMs + 5000);
  await Bun.sleep(800); // a stall or two more: the consumer catches up
  const ms = await t.stopped("stalled pipe", d);
  await Promise.race([consumer.exited, Bun.sleep(3000)]);
  t.account("stalled pipe", d.stderr(), readFileSync(got, "latin1"), d.proc.exitCode);
  t.report.notes.push(`stalled pipe: exit in ${ms?.toFixed(0)} ms`);
  fs.cleanup();
  outFs.cleanup();
}

async function fdLimit(t: Tally): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(256);
  seedFiles(fs.dir);
  const out = join(outFs.dir, "fd.jsonl");
  const d = await start(["--perm", "--filesystem", fs.dir, "-o", out], { prefix: ["prlimit", "--nofile=64"] });
  const res = await runHelper(["open", fs.dir, "100", "50"], 30_000);
  await t.stopped("fd limit", d);
  if (res === null) {
    t.report.unansweredPerm++;
    t.fail("fd limit: openers stuck");
  } else {
    const eperm = field(res, "eperm");
    t.report.wrongfulDenials += eperm;
    if (eperm > 0) t.fail(`fd limit: ${eperm} opens of ordinary files got EPERM`);
    const stats = statsFromLog(d.stderr()).at(-1);
    const allowed = typeof stats?.perm_allowed === "number" ? stats.perm_allowed : -1;
    // every open asks OPEN_PERM and its read ACCESS_PERM
    if (allowed < 2 * field(res, "ok")) t.fail(`fd limit: perm_allowed ${allowed} < 2 x ${field(res, "ok")} opens`);
    t.report.notes.push(`fd limit (nofile=64, 100 openers): ${res.trim()}, perm_allowed=${allowed}`);
  }
  t.account("fd limit", d.stderr(), readFileSync(out, "latin1"), d.proc.exitCode);
  fs.cleanup();
  outFs.cleanup();
}

async function hostileNames(t: Tally): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(64);
  const out = join(outFs.dir, "hostile.jsonl");
  const d = await start(["--filesystem", fs.dir, "-o", out]);
  const res = await runHelper(["hostile", fs.dir], 5000);
  await Bun.sleep(300);
  await t.stopped("hostile names", d);
  const text = readFileSync(out, "latin1");
  const c = checkLines(text);
  const paths = new Set(c.records.map((r) => r.path));
  for (const name of ["new\nline", "\u001b[31mred", "n".repeat(255)]) {
    if (!paths.has(`${fs.dir}/${name}`)) t.fail(`hostile names: no record for ${JSON.stringify(name)}`);
  }
  t.report.notes.push(`hostile names: ${res?.trim()}, ${c.eventLines} event lines, ${c.invalid} invalid`);
  t.account("hostile names", d.stderr(), text, d.proc.exitCode);
  fs.cleanup();
  outFs.cleanup();
}

async function reloadStorm(t: Tally, opts: ChaosOptions): Promise<void> {
  const fs = makeTmpfs(64);
  const outFs = makeTmpfs(512); // ~100 MB of records per 2 s of load: room to spare (no ENOSPC here)
  const conf = join(makeTmpDir(), "reload.conf");
  const write = (n: number): void => {
    const lines = Array.from({ length: n }, (_, i) => `canary ${fs.dir}/c${i}-*`);
    writeFileSync(conf, lines.join("\n") + "\n", { mode: 0o600 });
  };
  write(1);
  const out = join(outFs.dir, "reload.jsonl");
  const d = await start(["-c", conf, "--filesystem", fs.dir, "-o", out]);
  const load = runHelper(["load", fs.dir, String(opts.scenarioMs)], opts.scenarioMs + 5000);
  const rounds = Math.max(20, Math.floor(opts.scenarioMs / 10));
  for (let i = 0; i < rounds && !d.exited(); i++) {
    write(1 + (i % 50));
    d.proc.kill("SIGHUP");
    await Bun.sleep(i % 3);
  }
  const FINAL = 77;
  write(FINAL);
  d.proc.kill("SIGHUP");
  await load;
  // The last reload must take the last config, however many were running or queued.
  const want = `canaries=${FINAL},`;
  const until = performance.now() + 5000;
  const lastReload = (): string => d.stderr().split("\n").filter((l) => l.includes("configuration reloaded")).at(-1) ?? "";
  while (!lastReload().includes(want) && performance.now() < until) await Bun.sleep(20);
  if (!lastReload().includes(want)) t.fail(`reload storm: the last config (77 canaries) never took effect; last: ${lastReload()}`);
  await t.stopped("reload storm", d);
  const reloads = d.stderr().split("\n").filter((l) => l.includes("configuration reloaded")).length;
  t.report.notes.push(`reload storm: ${rounds + 1} SIGHUPs, ${reloads} reloads, last config in force`);
  t.account("reload storm", d.stderr(), readFileSync(out, "latin1"), d.proc.exitCode);
  fs.cleanup();
  outFs.cleanup();
}

function pct(xs: number[], p: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  for (const [mode, c] of Object.entries(r.cycles)) {
    lines.push(
      `cycles ${mode}: ${c.runs} runs, exit ms p50=${pct(c.exitMs, 50).toFixed(0)} p99=${pct(c.exitMs, 99).toFixed(0)} max=${pct(c.exitMs, 100).toFixed(0)}`,
    );
  }
  for (const n of r.notes) lines.push(n);
  lines.push(
    `hangs=${r.hangs} unanswered_perm=${r.unansweredPerm} wrongful_denials=${r.wrongfulDenials} invalid_lines=${r.invalidLines} bad_exits=${r.badExits}`,
  );
  lines.push(
    `events: written=${r.eventsWritten} in_files=${r.eventLines} counted_drops=${r.countedDrops} kernel_overflows=${r.kernelOverflows} lost_no_fd=${r.lostNoFd} uncounted_loss=${r.uncountedLoss}`,
  );
  lines.push(r.failures.length === 0 ? "chaos: PASS" : `chaos: FAIL (${r.failures.length})\n- ${r.failures.join("\n- ")}`);
  return lines.join("\n");
}

export async function runChaos(opts: ChaosOptions): Promise<ChaosReport> {
  const t = new Tally();
  const log = opts.log ?? (() => {});
  const deadline = performance.now() + opts.budgetMs;
  const scenarios: Array<[string, () => Promise<void>]> = [
    ["hostile names", () => hostileNames(t)],
    ["reload storm", () => reloadStorm(t, opts)],
    ["signal storm", () => signalStorm(t, opts)],
    ["full disk", () => fullDisk(t, opts)],
    ["stalled pipe", () => stalledPipe(t, opts)],
    ["fd limit", () => fdLimit(t)],
    ["cycles", () => cycles(t, opts, deadline)],
  ];
  try {
    for (const [name, run] of scenarios) {
      if (opts.only !== undefined && opts.only.length > 0 && !opts.only.some((w) => name.includes(w))) continue;
      const t0 = performance.now();
      try {
        await run();
      } catch (e) {
        t.fail(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
      log(`${name}: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
  } finally {
    await cleanupAll();
  }
  return t.report;
}
