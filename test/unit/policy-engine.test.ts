// PolicyEngine: alerts, cooldown sharing, job fields, B3 verdicts, and the Worker snapshot.

import { describe, expect, test } from "bun:test";
import {
  FAN_ACCESS_PERM,
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_MODIFY,
  FAN_MOVED_FROM,
  FAN_OPEN,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
} from "../../ffi/constants.ts";
import type { FsEvent } from "../../src/records.ts";
import { compileSnapshot, PolicyEngine, verdict, type PolicyOptions } from "../../src/policy/engine.ts";

const base: PolicyOptions = {
  canaries: ["/c/canary", "/c/*.key"],
  jobs: [{ id: "job1", roots: { rootfs: "/jobs/1", workspace: "/jobs/1/work" } }],
  burstThreshold: 0,
  burstWindowMs: 1000,
  hookCooldownMs: 5000,
  denyOnAlert: false,
};

function ev(maskLo: number, path: string, pid = 100): FsEvent {
  return { maskLo, maskHi: 0, pid, comm: "cat", exe: "/usr/bin/cat", path, name: "", isDir: false, decision: "observe" };
}

/** evaluate() and copy what the (reused) result says. */
function run(e: PolicyEngine, event: FsEvent, now: number) {
  const r = e.evaluate(event, now);
  return {
    jobId: r.jobId,
    role: r.role,
    alerts: r.alerts.map((a) => ({ ...a })),
    suppressed: r.suppressed,
    deny: r.deny,
    canaryMatch: r.canaryMatch,
    burstDenyChanged: r.burstDenyChanged,
  };
}

describe("evaluate: tags and canary alerts", () => {
  test("job fields, no alerts on an ordinary event", () => {
    const e = new PolicyEngine(base);
    const r = run(e, ev(FAN_MODIFY, "/jobs/1/work/a.c"), 0);
    expect(r).toEqual({
      jobId: "job1",
      role: "workspace",
      alerts: [],
      suppressed: 0,
      deny: false,
      canaryMatch: false,
      burstDenyChanged: false,
    });
    expect(run(e, ev(FAN_MODIFY, "/etc/x"), 0).jobId).toBeNull();
  });

  test("canary alert record per A7, reason by precedence", () => {
    const e = new PolicyEngine({ ...base, hookCooldownMs: 0 });
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 1).alerts).toEqual([
      { kind: "canary", pid: 100, comm: "cat", exe: "/usr/bin/cat", path: "/c/canary", reason: "canary opened" },
    ]);
    expect(run(e, ev(FAN_OPEN | FAN_MODIFY, "/c/a.key"), 2).alerts[0].reason).toBe("canary modified");
    expect(run(e, ev(FAN_MODIFY | FAN_DELETE, "/c/a.key"), 3).alerts[0].reason).toBe("canary deleted");
    expect(run(e, ev(FAN_RENAME, "/c/a.key"), 4).alerts[0].reason).toBe("canary renamed");
    expect(run(e, ev(FAN_MOVED_FROM, "/c/canary"), 5).alerts[0].reason).toBe("canary renamed");
  });

  test("events that cannot alert: ATTRIB, CREATE, ACCESS_PERM; no match, no alert", () => {
    const e = new PolicyEngine({ ...base, hookCooldownMs: 0 });
    for (const m of [FAN_ATTRIB, FAN_CREATE, FAN_ACCESS_PERM]) {
      const r = run(e, ev(m, "/c/canary"), 1);
      expect(r.alerts).toEqual([]);
      expect(r.suppressed).toBe(0);
    }
    expect(run(e, ev(FAN_OPEN, "/c/other"), 1).alerts).toEqual([]);
    expect(run(e, ev(FAN_Q_OVERFLOW, "<overflow>", 0), 1)).toMatchObject({ alerts: [], jobId: null });
  });

  test("cooldown suppresses and counts; another pid is not affected; expires", () => {
    const e = new PolicyEngine(base); // cooldown 5000
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 1000).alerts.length).toBe(1);
    const r = run(e, ev(FAN_OPEN, "/c/canary"), 2000);
    expect(r.alerts).toEqual([]);
    expect(r.suppressed).toBe(1);
    expect(run(e, ev(FAN_OPEN, "/c/canary", 200), 2000).alerts.length).toBe(1);
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 6000).alerts.length).toBe(1);
    expect(e.counters).toEqual({ alertsEmitted: 3, alertsSuppressed: 1 });
  });

  test("hook_cooldown_ms 0 allows back-to-back alerts (B7)", () => {
    const e = new PolicyEngine({ ...base, hookCooldownMs: 0, burstThreshold: 1 });
    for (let i = 0; i < 3; i++) {
      const r = run(e, ev(FAN_MODIFY, "/c/canary"), 1000);
      expect(r.alerts.map((a) => a.kind)).toEqual(["canary", "burst"]);
      expect(r.suppressed).toBe(0);
    }
    expect(e.counters).toEqual({ alertsEmitted: 6, alertsSuppressed: 0 });
  });

  test("the result object and its alerts array are reused", () => {
    const e = new PolicyEngine(base);
    const r1 = e.evaluate(ev(FAN_OPEN, "/x"), 0);
    const r2 = e.evaluate(ev(FAN_OPEN, "/y"), 0);
    expect(r1).toBe(r2);
    expect(r1.alerts).toBe(r2.alerts);
  });
});

describe("evaluate: bursts and the shared cooldown", () => {
  test("the A10 trace through the engine (threshold 2, window 100, cooldown 500)", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 2, burstWindowMs: 100, hookCooldownMs: 500 });
    const m = (t: number) => run(e, ev(FAN_MODIFY, "/data/f", 42), t);
    expect(m(1010).alerts).toEqual([]);
    expect(m(1050).alerts).toEqual([
      {
        kind: "burst",
        pid: 42,
        comm: "cat",
        exe: "/usr/bin/cat",
        path: "/data/f",
        reason: "mutating-event burst exceeded threshold",
        count: 2,
        windowMs: 100,
      },
    ]);
    expect(m(1100)).toMatchObject({ alerts: [], suppressed: 0 });
    expect(m(1140)).toMatchObject({ alerts: [], suppressed: 1 });
    expect(m(1700)).toMatchObject({ alerts: [], suppressed: 0 });
    const last = m(1750);
    expect(last.alerts.length).toBe(1);
    expect(last.alerts[0].count).toBe(2);
    expect(e.counters).toEqual({ alertsEmitted: 2, alertsSuppressed: 1 });
  });

  test("only mutating records count; one record counts once", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 3, burstWindowMs: 1000, hookCooldownMs: 0 });
    expect(run(e, ev(FAN_MODIFY | FAN_CLOSE_WRITE | FAN_ATTRIB, "/d/a"), 0).alerts).toEqual([]);
    expect(run(e, ev(FAN_OPEN, "/d/a"), 1).alerts).toEqual([]);
    expect(run(e, ev(FAN_RENAME, "/d/a"), 2).alerts).toEqual([]);
    expect(run(e, ev(FAN_CREATE, "/d/b"), 3).alerts).toEqual([]);
    expect(run(e, ev(FAN_DELETE, "/d/b"), 4).alerts.map((a) => a.count)).toEqual([3]);
  });

  test("cooldown is shared between canary and burst alerts", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 2, burstWindowMs: 1000, hookCooldownMs: 500 });
    expect(run(e, ev(FAN_MODIFY, "/c/canary"), 0).alerts.map((a) => a.kind)).toEqual(["canary"]);
    // burst condition reached, but the canary alert put the pid in cooldown
    expect(run(e, ev(FAN_MODIFY, "/d/x"), 10)).toMatchObject({ alerts: [], suppressed: 1 });
    // a burst alert, then a canary hit within the cooldown is suppressed
    expect(run(e, ev(FAN_MODIFY, "/d/x"), 600).alerts.map((a) => a.kind)).toEqual(["burst"]);
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 700)).toMatchObject({ alerts: [], suppressed: 1 });
    // one event raising both: the canary alert is emitted, the burst is suppressed by it
    const both = run(e, ev(FAN_MODIFY, "/c/canary"), 1200);
    expect(both.alerts.map((a) => a.kind)).toEqual(["canary"]);
    expect(both.suppressed).toBe(0); // count 1 after the reset: no burst yet
    const again = run(e, ev(FAN_MODIFY, "/c/canary"), 1201);
    expect(again.alerts).toEqual([]);
    expect(again.suppressed).toBe(2);
  });

  test("sweep bounds the per-pid state", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 2, burstWindowMs: 100, hookCooldownMs: 500, denyOnAlert: true });
    for (let pid = 1; pid <= 100; pid++) {
      run(e, ev(FAN_MODIFY, "/d/x", pid), 0);
      run(e, ev(FAN_MODIFY, "/d/x", pid), 1);
    }
    expect(e.stateSizes).toEqual({ burst: 100, cooldown: 100, burstDenied: 100 });
    e.sweep(300);
    expect(e.stateSizes).toEqual({ burst: 100, cooldown: 100, burstDenied: 100 });
    e.sweep(700);
    expect(e.stateSizes).toEqual({ burst: 0, cooldown: 0, burstDenied: 0 });
  });

  test("maxPids bounds every map", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 1, hookCooldownMs: 10_000, denyOnAlert: true, maxPids: 8 });
    for (let pid = 1; pid <= 50; pid++) run(e, ev(FAN_MODIFY, "/d/x", pid), pid);
    expect(e.stateSizes).toEqual({ burst: 8, cooldown: 8, burstDenied: 8 });
  });
});

describe("B3 deny verdicts", () => {
  const opts: PolicyOptions = { ...base, denyOnAlert: true, burstThreshold: 2, burstWindowMs: 100, hookCooldownMs: 500 };

  test("three canary opens in a row are all denied despite the cooldown", () => {
    const e = new PolicyEngine(opts);
    const rs = [0, 1, 2].map((t) => run(e, ev(FAN_OPEN_PERM, "/c/canary"), 1000 + t));
    expect(rs.map((r) => r.deny)).toEqual([true, true, true]);
    expect(rs.map((r) => r.alerts.length)).toEqual([1, 0, 0]);
    expect(rs.map((r) => r.suppressed)).toEqual([0, 1, 1]);
  });

  test("every permission event kind on a canary is denied; other paths allowed", () => {
    const e = new PolicyEngine(opts);
    expect(run(e, ev(FAN_ACCESS_PERM, "/c/a.key"), 0).deny).toBe(true);
    expect(run(e, ev(FAN_OPEN_EXEC_PERM, "/c/a.key"), 0).deny).toBe(true);
    expect(run(e, ev(FAN_OPEN_PERM, "/c/canary (deleted)"), 0).deny).toBe(true);
    expect(run(e, ev(FAN_OPEN_PERM, "/c/other"), 0).deny).toBe(false);
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 0).deny).toBe(false); // not a permission event
  });

  test("without deny_on_alert nothing is denied", () => {
    const e = new PolicyEngine({ ...opts, denyOnAlert: false });
    expect(run(e, ev(FAN_OPEN_PERM, "/c/canary"), 0).deny).toBe(false);
    run(e, ev(FAN_MODIFY, "/d/x", 9), 0);
    expect(run(e, ev(FAN_MODIFY, "/d/x", 9), 1).alerts.length).toBe(1);
    expect(e.isBurstDenied(9, 2)).toBe(false);
    expect(run(e, ev(FAN_OPEN_PERM, "/d/y", 9), 2).deny).toBe(false);
  });

  test("a burst-alerting pid is denied until window + cooldown after the alert, then allowed", () => {
    const e = new PolicyEngine(opts);
    expect(run(e, ev(FAN_OPEN_PERM, "/d/y", 9), 0).deny).toBe(false);
    run(e, ev(FAN_MODIFY, "/d/x", 9), 1000);
    const alert = run(e, ev(FAN_MODIFY, "/d/x", 9), 1010);
    expect(alert.alerts.map((a) => a.kind)).toEqual(["burst"]);
    expect(alert.burstDenyChanged).toBe(true);
    expect(e.burstDenied(1010)).toEqual([{ pid: 9, untilMono: 1610 }]);
    expect(run(e, ev(FAN_OPEN_PERM, "/d/y", 9), 1011).deny).toBe(true);
    expect(run(e, ev(FAN_ACCESS_PERM, "/d/y", 9), 1609).deny).toBe(true);
    expect(run(e, ev(FAN_OPEN_PERM, "/d/y", 10), 1011).deny).toBe(false); // other pid
    expect(e.isBurstDenied(9, 1610)).toBe(false);
    expect(run(e, ev(FAN_OPEN_PERM, "/d/y", 9), 1610).deny).toBe(false);
    expect(e.burstDenied(1610)).toEqual([]);
  });

  test("verdict()", () => {
    expect(verdict(FAN_OPEN_PERM, true, false, true)).toBe("deny");
    expect(verdict(FAN_OPEN_PERM, false, true, true)).toBe("deny");
    expect(verdict(FAN_OPEN_PERM, false, false, true)).toBe("allow");
    expect(verdict(FAN_OPEN_PERM, true, true, false)).toBe("allow");
    expect(verdict(FAN_OPEN, true, true, true)).toBe("allow");
  });
});

describe("Worker snapshot", () => {
  const opts: PolicyOptions = { ...base, denyOnAlert: true, burstThreshold: 2, burstWindowMs: 100, hookCooldownMs: 500 };

  test("the snapshot is plain data and decides like the engine", () => {
    const e = new PolicyEngine(opts);
    run(e, ev(FAN_MODIFY, "/d/x", 9), 1000);
    run(e, ev(FAN_MODIFY, "/d/x", 9), 1010);
    const snap = e.snapshot(1020);
    expect(structuredClone(snap)).toEqual(snap);
    expect(snap).toEqual({ canaries: ["/c/canary", "/c/*.key"], denyOnAlert: true, burstDenied: [{ pid: 9, untilMono: 1610 }], takenAtMono: 1020 });

    const w = compileSnapshot(structuredClone(snap));
    expect(w.decide(FAN_OPEN_PERM, 1, "/c/canary", 1020)).toBe("deny");
    expect(w.decide(FAN_ACCESS_PERM, 1, "/c/x.key", 1020)).toBe("deny");
    expect(w.decide(FAN_OPEN_PERM, 1, "/c/x.txt", 1020)).toBe("allow");
    expect(w.decide(FAN_OPEN_PERM, 9, "/c/x.txt", 1609)).toBe("deny");
    expect(w.decide(FAN_OPEN_PERM, 9, "/c/x.txt", 1610)).toBe("allow");
    expect(w.decide(FAN_OPEN, 1, "/c/canary", 1020)).toBe("allow");
    expect(w.decide(FAN_OPEN_PERM, 1, "<fd:3>", 1020)).toBe("allow");
  });

  test("deny-on-alert off: always allow", () => {
    const w = compileSnapshot({ canaries: ["/c/*"], denyOnAlert: false, burstDenied: [{ pid: 1, untilMono: 1e9 }], takenAtMono: 0 });
    expect(w.decide(FAN_OPEN_PERM, 1, "/c/a", 0)).toBe("allow");
  });

  test("updateBurstDenied replaces the set; deadlines can be rebased to the Worker's clock", () => {
    const w = compileSnapshot({ canaries: [], denyOnAlert: true, burstDenied: [], takenAtMono: 0 });
    expect(w.decide(FAN_OPEN_PERM, 5, "/a", 10)).toBe("allow");
    w.updateBurstDenied({ burstDenied: [{ pid: 5, untilMono: 1600 }], takenAtMono: 1000 });
    expect(w.decide(FAN_OPEN_PERM, 5, "/a", 1500)).toBe("deny");
    // the Worker's clock reads 20 when the main thread's read 1000: deadline 620 locally
    w.updateBurstDenied({ burstDenied: [{ pid: 5, untilMono: 1600 }], takenAtMono: 1000 }, 20);
    expect(w.decide(FAN_OPEN_PERM, 5, "/a", 619)).toBe("deny");
    expect(w.decide(FAN_OPEN_PERM, 5, "/a", 620)).toBe("allow");
    w.updateBurstDenied({ burstDenied: [], takenAtMono: 2000 });
    expect(w.decide(FAN_OPEN_PERM, 5, "/a", 0)).toBe("allow");
  });
});

describe("reconfigure (SIGHUP)", () => {
  test("new canaries and jobs apply; cooldown and burst state are kept", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 3, burstWindowMs: 1000 });
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 0).alerts.length).toBe(1);
    run(e, ev(FAN_MODIFY, "/d/x", 7), 0);
    run(e, ev(FAN_MODIFY, "/d/x", 7), 1);
    e.reconfigure({ ...base, canaries: ["/new/*"], jobs: [{ id: "j2", roots: { cache: "/d" } }], burstThreshold: 3, burstWindowMs: 1000 });
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 10).alerts).toEqual([]);
    expect(run(e, ev(FAN_OPEN, "/new/a", 300), 10)).toMatchObject({ alerts: [{ kind: "canary" }] });
    expect(run(e, ev(FAN_OPEN, "/new/a"), 10)).toMatchObject({ alerts: [], suppressed: 1 }); // pid 100 still cooling down
    const r = run(e, ev(FAN_MODIFY, "/d/x", 7), 2); // third in the kept window
    expect(r).toMatchObject({ jobId: "j2", role: "cache" });
    expect(r.alerts.map((a) => a.count)).toEqual([3]);
  });

  test("invalid options throw and leave the engine unchanged", () => {
    const e = new PolicyEngine(base);
    expect(() => e.reconfigure({ ...base, canaries: ["/other"], burstWindowMs: 0 })).toThrow();
    expect(run(e, ev(FAN_OPEN, "/c/canary"), 0).alerts.length).toBe(1);
  });
});
