// PolicyEngine: alerts, cooldown sharing, job fields, and the burst denies it hands the reader.
// (Permission verdicts: policy-permission.test.ts.)

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
  FAN_OPEN_PERM,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
} from "../../ffi/constants.ts";
import type { FsEvent } from "../../src/output-records.ts";
import { PolicyEngine, type PolicyOptions } from "../../src/policy/engine.ts";

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
    expect(e.stateSizes).toEqual({ burst: 100, cooldown: 100 });
    expect(e.takeBurstDenies().length).toBe(100);
    e.sweep(300);
    expect(e.stateSizes).toEqual({ burst: 100, cooldown: 100 });
    e.sweep(700);
    expect(e.stateSizes).toEqual({ burst: 0, cooldown: 0 });
  });

  test("maxPids bounds every map", () => {
    const e = new PolicyEngine({ ...base, burstThreshold: 1, hookCooldownMs: 10_000, denyOnAlert: true, maxPids: 8 });
    for (let pid = 1; pid <= 50; pid++) run(e, ev(FAN_MODIFY, "/d/x", pid), pid);
    expect(e.stateSizes).toEqual({ burst: 8, cooldown: 8 });
  });
});

describe("burst denies and permission rules for the reader", () => {
  const opts: PolicyOptions = { ...base, denyOnAlert: true, burstThreshold: 2, burstWindowMs: 100, hookCooldownMs: 500 };

  test("a burst alert with deny-on-alert hands over pid + deadline (window + cooldown), once", () => {
    const e = new PolicyEngine(opts);
    run(e, ev(FAN_MODIFY, "/d/x", 9), 1000);
    const alert = run(e, ev(FAN_MODIFY, "/d/x", 9), 1010);
    expect(alert.alerts.map((a) => a.kind)).toEqual(["burst"]);
    expect(alert.burstDenyChanged).toBe(true);
    expect(e.takeBurstDenies()).toEqual([{ pid: 9, untilMono: 1610 }]);
    expect(e.takeBurstDenies()).toEqual([]);
  });

  test("without deny_on_alert no burst deny is made", () => {
    const e = new PolicyEngine({ ...opts, denyOnAlert: false });
    run(e, ev(FAN_MODIFY, "/d/x", 9), 0);
    const r = run(e, ev(FAN_MODIFY, "/d/x", 9), 1);
    expect(r.alerts.length).toBe(1);
    expect(r.burstDenyChanged).toBe(false);
    expect(e.takeBurstDenies()).toEqual([]);
  });

  test("permission events are not judged here: a canary open alerts once per cooldown, nothing more", () => {
    const e = new PolicyEngine(opts);
    const rs = [0, 1, 2].map((t) => run(e, ev(FAN_OPEN_PERM, "/c/canary"), 1000 + t));
    expect(rs.map((r) => r.alerts.length)).toEqual([1, 0, 0]);
    expect(rs.map((r) => r.suppressed)).toEqual([0, 1, 1]);
    expect(run(e, ev(FAN_ACCESS_PERM, "/c/a.key"), 0).canaryMatch).toBe(false); // ACCESS_PERM cannot alert
    expect(e.permissionRules()).toEqual({ canaries: ["/c/canary", "/c/*.key"], denyOnAlert: true });
    expect(structuredClone(e.permissionRules())).toEqual(e.permissionRules());
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
