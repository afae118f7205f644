// The policy in observe mode, against real fanotify marks on private tmpfs mounts: the seed README quick
// start, canary reasons, bursts, the per-pid alert cooldown, job tagging (behavior.md A9, A10, B1).
// Hooks are not tested here.

import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanupAll,
  eventKeyProblem,
  hasEvent,
  makeTmpDir,
  makeTmpfs,
  readJsonl,
  readLines,
  requireIntegration,
  run,
  startDaemon,
  held,
  waitForRecord,
  type Daemon,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();

const ALERT_KEYS = ["type", "ts_ms", "kind", "pid", "comm", "exe", "path", "reason"];
const BURST_KEYS = [...ALERT_KEYS, "count", "window_ms"];
const BURST_REASON = "mutating-event burst exceeded threshold";

/** Alert keys are a subsequence of `order` (comm, exe, path, reason may be omitted), in that order. */
function alertKeyProblem(r: JsonRecord, order: readonly string[]): string | null {
  const keys = Object.keys(r);
  const unknown = keys.filter((k) => !order.includes(k));
  if (unknown.length) return `unknown keys ${unknown.join(",")}`;
  const expected = order.filter((k) => keys.includes(k));
  if (expected.join(",") !== keys.join(",")) return `key order ${keys.join(",")} != ${expected.join(",")}`;
  for (const k of ["type", "ts_ms", "kind", "pid"]) if (!keys.includes(k)) return `missing ${k}`;
  return null;
}

/** A10: the canary reason of an event record by precedence, or null when its events cannot alert. */
function expectedReason(r: JsonRecord): string | null {
  if (hasEvent(r, "DELETE", "DELETE_SELF")) return "canary deleted";
  if (hasEvent(r, "RENAME", "MOVED_FROM", "MOVED_TO", "MOVE_SELF")) return "canary renamed";
  if (hasEvent(r, "MODIFY", "CLOSE_WRITE")) return "canary modified";
  if (hasEvent(r, "OPEN", "OPEN_PERM", "OPEN_EXEC_PERM")) return "canary opened";
  return null;
}

const isAlert = (kind: string) => (r: JsonRecord) => r.type === "alert" && r.kind === kind;

describe.skipIf(!RUN)("quick start (seed README) on a tmpfs dir", () => {
  afterEach(cleanupAll);

  test("echo → MODIFY/CLOSE_WRITE record; cat canary → OPEN record, then the canary alert on the next line", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const DIR = fs.dir;
    const CANARY = join(DIR, "canary");
    const FILE = join(DIR, "file");
    writeFileSync(CANARY, "");
    const d = await startDaemon(["--foreground", "--watch", DIR, "--canary", `${DIR}/canary*`, "--output", out]);
    const w = { daemon: d };

    const echo = await run(["sh", "-c", 'echo hello > "$1"', "sh", FILE]);
    const mod = await waitForRecord(out, (r) => r.path === FILE && hasEvent(r, "MODIFY"), 5000, w);
    const cw = await waitForRecord(out, (r) => r.path === FILE && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    for (const r of [mod.record, cw.record]) {
      expect(eventKeyProblem(r)).toBeNull();
      expect(r.decision).toBe("observe");
      expect(r.pid).toBe(echo.pid);
      expect(r.name).toBe("file");
    }

    // `cat canary -`: cat opens and reads the canary, then waits on stdin, so it is alive while the
    // daemon reads its comm/exe.
    const cat = held(["cat", CANARY, "-"]);
    const open = await waitForRecord(out, (r) => r.type === "event" && r.path === CANARY && r.pid === cat.pid && hasEvent(r, "OPEN"), 5000, w);
    const alert = await waitForRecord(out, isAlert("canary"), 5000, w);
    await cat.release();
    expect(open.record.events).toBe("OPEN");
    expect(open.record.mask).toBe(32);
    expect(open.record.comm).toBe("cat");
    expect(eventKeyProblem(open.record)).toBeNull();

    // B1: the alert is the very next line after the event that caused it, with the same ts_ms
    expect(alert.index).toBe(open.index + 1);
    const a = alert.record;
    expect(Object.keys(a)).toEqual(ALERT_KEYS);
    expect(a.type).toBe("alert");
    expect(a.ts_ms).toBe(open.record.ts_ms as number);
    expect(a.kind).toBe("canary");
    expect(a.pid).toBe(cat.pid);
    expect(a.comm).toBe("cat");
    expect(String(a.exe)).toMatch(/\/cat$/);
    expect(a.exe).toBe(open.record.exe as string);
    expect(a.path).toBe(CANARY);
    expect(a.reason).toBe("canary opened");
    // and the raw line starts exactly like the README's example
    expect(readLines(out)[alert.index]).toStartWith(`{"type":"alert","ts_ms":${a.ts_ms},"kind":"canary","pid":${cat.pid},"comm":"cat",`);

    await stopClean(d);
    // only one alert: writing `file` is no canary
    expect(readJsonl(out).filter((r) => r.type === "alert").length).toBe(1);
  }, 20_000);
});

describe.skipIf(!RUN)("canary reasons", () => {
  afterEach(cleanupAll);

  test("modify, rename and delete of a canary alert with their reasons (cooldown 0)", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const DIR = fs.dir;
    const CANARY = join(DIR, "canary");
    const CANARY2 = join(DIR, "canary2");
    writeFileSync(CANARY, "c\n");
    writeFileSync(CANARY2, "c2\n");
    const d = await startDaemon(["--watch", DIR, "--canary", `${DIR}/canary*`, "--hook-cooldown-ms", "0", "-o", out]);
    const w = { daemon: d };

    const app = await run(["sh", "-c", 'echo x >> "$1"', "sh", CANARY]);
    const modified = await waitForRecord(out, (r) => isAlert("canary")(r) && r.reason === "canary modified", 5000, w);
    expect(modified.record.pid).toBe(app.pid);
    expect(modified.record.path).toBe(CANARY);
    expect(alertKeyProblem(modified.record, ALERT_KEYS)).toBeNull();

    const mv = await run(["mv", CANARY, join(DIR, "other")]);
    const renamed = await waitForRecord(out, (r) => isAlert("canary")(r) && r.reason === "canary renamed", 5000, w);
    expect(renamed.record.pid).toBe(mv.pid);
    expect(renamed.record.path).toBe(CANARY); // MOVED_FROM carries the old name
    const cause = renamed.records[renamed.index - 1]!;
    expect(cause.type).toBe("event");
    expect(hasEvent(cause, "MOVED_FROM")).toBe(true);
    expect(cause.ts_ms).toBe(renamed.record.ts_ms as number);

    const rm = await run(["rm", CANARY2]);
    const deleted = await waitForRecord(out, (r) => isAlert("canary")(r) && r.reason === "canary deleted", 5000, w);
    expect(deleted.record.pid).toBe(rm.pid);
    expect(deleted.record.path).toBe(CANARY2);
    const cause2 = deleted.records[deleted.index - 1]!;
    expect(hasEvent(cause2, "DELETE")).toBe(true);
    expect(cause2.path).toBe(CANARY2);

    await stopClean(d);
    // With cooldown 0, every canary event record (the kernel may merge OPEN/MODIFY/CLOSE_WRITE into one)
    // is followed by exactly one alert whose reason follows the A10 precedence.
    const recs = readJsonl(out);
    const canaryPath = (p: unknown) => typeof p === "string" && /\/canary[^/]*$/.test(p);
    let checked = 0;
    for (const [i, r] of recs.entries()) {
      if (r.type !== "event" || !canaryPath(r.path)) continue;
      const reason = expectedReason(r);
      const next = recs[i + 1];
      if (reason === null) {
        if (next) expect(next.type).toBe("event");
        continue;
      }
      checked++;
      expect(next).toBeDefined();
      expect([next!.type, next!.kind, next!.pid, next!.path, next!.reason, next!.ts_ms]).toEqual([
        "alert",
        "canary",
        r.pid,
        r.path,
        reason,
        r.ts_ms,
      ]);
    }
    expect(checked).toBeGreaterThanOrEqual(3);
  }, 20_000);
});

describe.skipIf(!RUN)("burst", () => {
  afterEach(cleanupAll);

  test("six file writes in one sh → one burst alert (count 5, window 1000) for that sh", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const DIR = fs.dir;
    const d = await startDaemon(["--watch", DIR, "--burst-threshold", "5", "--burst-window-ms", "1000", "-o", out]);
    const w = { daemon: d };
    const sh = await run(["sh", "-c", 'for i in 1 2 3 4 5 6; do echo $i > "$1/f$i"; done', "sh", DIR]);
    const burst = await waitForRecord(out, isAlert("burst"), 5000, w);
    const b = burst.record;
    expect(alertKeyProblem(b, BURST_KEYS)).toBeNull();
    expect(Object.keys(b).slice(-2)).toEqual(["count", "window_ms"]);
    expect(b.pid).toBe(sh.pid);
    expect(b.count).toBe(5);
    expect(b.window_ms).toBe(1000);
    expect(b.reason).toBe(BURST_REASON);
    expect(String(b.path)).toStartWith(DIR + "/f");
    const cause = burst.records[burst.index - 1]!;
    expect(cause.type).toBe("event");
    expect(cause.pid).toBe(sh.pid);
    expect(cause.ts_ms).toBe(b.ts_ms as number);
    // wait for the last file's records, then: exactly one burst alert (the default cooldown holds the rest)
    await waitForRecord(out, (r) => r.path === join(DIR, "f6") && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    await stopClean(d);
    expect(readJsonl(out).filter(isAlert("burst")).length).toBe(1);
  }, 20_000);
});

describe.skipIf(!RUN)("alert cooldown", () => {
  afterEach(cleanupAll);

  test("two cat processes both alert; one pid opening twice alerts once (default cooldown)", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const DIR = fs.dir;
    const CANARY = join(DIR, "canary");
    const MARKER = join(DIR, "marker");
    writeFileSync(CANARY, "c\n");
    const d = await startDaemon(["--watch", DIR, "--canary", CANARY, "-o", out]);
    const w = { daemon: d };

    const c1 = await run(["cat", CANARY]);
    const c2 = await run(["cat", CANARY]);
    expect(c1.pid).not.toBe(c2.pid);
    await waitForRecord(out, (r) => isAlert("canary")(r) && r.pid === c1.pid, 5000, w);
    await waitForRecord(out, (r) => isAlert("canary")(r) && r.pid === c2.pid, 5000, w);

    // one shell opens the canary twice; the sleep between lets the daemon read the first open, so the
    // kernel cannot merge the two OPEN events into one
    const sh = await run(["sh", "-c", 'exec 3<"$1"; sleep 0.3; exec 4<"$1"', "sh", CANARY]);
    await waitFor2Opens(out, sh.pid, d);
    // a later event from another process: everything the shell caused has been written before it
    await run(["sh", "-c", 'echo m > "$1"', "sh", MARKER]);
    await waitForRecord(out, (r) => r.path === MARKER && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    const recs = readJsonl(out, { strict: false });
    expect(recs.filter((r) => r.type === "event" && r.pid === sh.pid && hasEvent(r, "OPEN") && r.path === CANARY).length).toBe(2);
    const shAlerts = recs.filter((r) => isAlert("canary")(r) && r.pid === sh.pid);
    expect(shAlerts.length).toBe(1);
    expect(shAlerts[0]!.reason).toBe("canary opened");
    await stopClean(d);
  }, 20_000);
});

async function waitFor2Opens(out: string, pid: number, d: Daemon): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const n = readJsonl(out, { strict: false }).filter((r) => r.type === "event" && r.pid === pid && hasEvent(r, "OPEN")).length;
    if (n >= 2) return;
    if (d.exited()) throw new Error(`daemon exited; stderr:\n${d.stderr()}`);
    if (Date.now() > deadline) throw new Error(`only ${n} OPEN record(s) of pid ${pid} after 5 s; stderr:\n${d.stderr()}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!RUN)("job tags", () => {
  afterEach(cleanupAll);

  test("rootfs, nested workspace, and a sibling with a common prefix", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const DIR = fs.dir;
    mkdirSync(join(DIR, "root", "ws"), { recursive: true });
    mkdirSync(join(DIR, "rootish"));
    const conf = join(makeTmpDir(), "jobs.conf");
    writeFileSync(
      conf,
      ["# job tagging test", "job J1", `rootfs ${DIR}/root`, `workspace ${DIR}/root/ws`, `filesystem ${DIR}`, `output ${out}`, ""].join(
        "\n",
      ),
    );
    const d = await startDaemon(["--config", conf]);
    const w = { daemon: d };
    const X = join(DIR, "root", "x");
    const Y = join(DIR, "root", "ws", "y");
    const Z = join(DIR, "rootish", "z");
    await run(["sh", "-c", 'echo 1 > "$1"; echo 2 > "$2"; echo 3 > "$3"', "sh", X, Y, Z]);
    const x = await waitForRecord(out, (r) => r.path === X && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    const y = await waitForRecord(out, (r) => r.path === Y && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    const z = await waitForRecord(out, (r) => r.path === Z && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect([x.record.job_id, x.record.path_role]).toEqual(["J1", "rootfs"]);
    expect([y.record.job_id, y.record.path_role]).toEqual(["J1", "workspace"]);
    expect([z.record.job_id, z.record.path_role]).toEqual([null, null]);
    await stopClean(d);
    // every record of those paths is tagged the same way
    for (const r of readJsonl(out)) {
      if (r.type !== "event") continue;
      if (r.path === X) expect([r.job_id, r.path_role]).toEqual(["J1", "rootfs"]);
      if (r.path === Y) expect([r.job_id, r.path_role]).toEqual(["J1", "workspace"]);
      if (r.path === Z) expect([r.job_id, r.path_role]).toEqual([null, null]);
    }
  }, 20_000);
});
