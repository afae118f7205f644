// The reader's permission policy (src/policy/permission.ts): B3 verdicts, burst denies from the
// engine, and no canary recompilation outside start/reload (issue 14 item 10, issue 15).

import { describe, expect, test } from "bun:test";
import {
  FAN_ACCESS_PERM,
  FAN_MODIFY,
  FAN_OPEN,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
} from "../../ffi/constants.ts";
import { PolicyEngine, type PolicyOptions } from "../../src/policy/engine.ts";
import { PermissionPolicy } from "../../src/policy/permission.ts";
import type { FsEvent } from "../../src/output-records.ts";
import { verdict } from "../support/permission.ts";

const opts: PolicyOptions = {
  canaries: ["/c/canary", "/c/*.key"],
  jobs: [],
  burstThreshold: 2,
  burstWindowMs: 100,
  hookCooldownMs: 500,
  denyOnAlert: true,
};

function ev(maskLo: number, path: string, pid = 100): FsEvent {
  return { maskLo, maskHi: 0, pid, comm: "sh", exe: "/bin/sh", path, name: "", isDir: false, decision: "observe" };
}

/** The daemon's wiring: the engine's rules and burst denies go to the reader's policy as messages. */
function pair(o: PolicyOptions = opts): { engine: PolicyEngine; policy: PermissionPolicy; feed(e: FsEvent, now: number): void } {
  const engine = new PolicyEngine(o);
  const policy = new PermissionPolicy(structuredClone(engine.permissionRules()));
  return {
    engine,
    policy,
    feed(e, now) {
      if (engine.evaluate(e, now).burstDenyChanged) policy.addBurstDenies(structuredClone(engine.takeBurstDenies()), now);
    },
  };
}

describe("B3 verdicts", () => {
  test("a canary is denied every time (no cooldown bypass); every permission kind; other paths allowed", () => {
    const { policy } = pair();
    expect([0, 1, 2].map((t) => verdict(policy, FAN_OPEN_PERM, 1, "/c/canary", t))).toEqual(["deny", "deny", "deny"]);
    expect(verdict(policy, FAN_ACCESS_PERM, 1, "/c/a.key", 0)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_EXEC_PERM, 1, "/c/a.key", 0)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 1, "/c/canary (deleted)", 0)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 1, "/c/other", 0)).toBe("allow");
    expect(verdict(policy, FAN_OPEN_PERM, 1, "<fd:3>", 0)).toBe("allow");
    expect(verdict(policy, FAN_OPEN, 1, "/c/canary", 0)).toBe("allow"); // not a permission event
  });

  test("without deny_on_alert nothing is denied, not even after a burst", () => {
    const { policy, feed } = pair({ ...opts, denyOnAlert: false });
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/c/canary", 0)).toBe("allow");
    feed(ev(FAN_MODIFY, "/d/x", 9), 0);
    feed(ev(FAN_MODIFY, "/d/x", 9), 1);
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/d/y", 2)).toBe("allow");
    policy.addBurstDenies([{ pid: 9, untilMono: 1e9 }], 3);
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/d/y", 4)).toBe("allow");
  });

  test("a burst-alerting pid is denied until window + cooldown after the alert, then allowed", () => {
    const { policy, feed } = pair();
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/d/y", 0)).toBe("allow");
    feed(ev(FAN_MODIFY, "/d/x", 9), 1000);
    feed(ev(FAN_MODIFY, "/d/x", 9), 1010);
    expect(policy.burstDenied).toBe(1);
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/d/y", 1011)).toBe("deny");
    expect(verdict(policy, FAN_ACCESS_PERM, 9, "/d/y", 1609)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 10, "/d/y", 1011)).toBe("allow"); // other pid
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/d/y", 1610)).toBe("allow");
    expect(policy.burstDenied).toBe(0); // expired entries go
  });

  test("expired denies are dropped when new ones arrive; the set is bounded", () => {
    const policy = new PermissionPolicy({ canaries: [], denyOnAlert: true }, 4);
    policy.addBurstDenies([1, 2, 3].map((pid) => ({ pid, untilMono: 100 })), 0);
    policy.addBurstDenies([{ pid: 4, untilMono: 300 }], 200);
    expect(policy.burstDenied).toBe(1);
    policy.addBurstDenies([5, 6, 7, 8, 9].map((pid) => ({ pid, untilMono: 400 })), 210);
    expect(policy.burstDenied).toBe(4);
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/a", 250)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 4, "/a", 250)).toBe("allow"); // evicted, oldest first
  });

  test("new rules (reload) replace the canaries; turning deny_on_alert off clears burst denies", () => {
    const policy = new PermissionPolicy({ canaries: ["/c/canary"], denyOnAlert: true });
    policy.addBurstDenies([{ pid: 9, untilMono: 1e9 }], 0);
    policy.setRules({ canaries: ["/n/*"], denyOnAlert: true });
    expect(verdict(policy, FAN_OPEN_PERM, 1, "/c/canary", 0)).toBe("allow");
    expect(verdict(policy, FAN_OPEN_PERM, 1, "/n/a", 0)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/x", 0)).toBe("deny");
    policy.setRules({ canaries: ["/n/*"], denyOnAlert: false });
    policy.setRules({ canaries: ["/n/*"], denyOnAlert: true });
    expect(verdict(policy, FAN_OPEN_PERM, 9, "/x", 0)).toBe("allow");
  });

  test("a pattern that cannot be compiled leaves the old rules in place", () => {
    const policy = new PermissionPolicy({ canaries: ["/c/canary"], denyOnAlert: true });
    expect(() => policy.setRules({ canaries: ["/x/" + "[".repeat(20000)], denyOnAlert: true })).toThrow(/too complex/);
    expect(verdict(policy, FAN_OPEN_PERM, 1, "/c/canary", 0)).toBe("deny");
  });
});

describe("burst denies never recompile canaries (issue 14 item 10)", () => {
  test("10,000 canaries: 1,000 burst alerts, one compilation, verdicts still right", () => {
    const canaries: string[] = [];
    for (let i = 0; i < 5000; i++) canaries.push(`/srv/c${i}/decoy.docx`);
    for (let i = 0; i < 5000; i++) canaries.push(`/home/u${i}/.ssh/id_*`);
    const { policy, feed } = pair({ ...opts, canaries, burstThreshold: 1, burstWindowMs: 100_000, hookCooldownMs: 0 });
    expect(policy.compilations).toBe(1);
    const t0 = performance.now();
    for (let pid = 1; pid <= 1000; pid++) feed(ev(FAN_MODIFY, "/d/x", pid), pid);
    const ms = performance.now() - t0;
    expect(policy.compilations).toBe(1);
    expect(policy.burstDenied).toBe(1000);
    expect(verdict(policy, FAN_OPEN_PERM, 500, "/d/y", 600)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 5000, "/home/u42/.ssh/id_rsa", 600)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 5000, "/srv/c4999/decoy.docx", 600)).toBe("deny");
    expect(verdict(policy, FAN_OPEN_PERM, 5000, "/home/u42/.ssh/known_hosts", 600)).toBe("allow");
    // 1,000 bursts cost what 1,000 map insertions cost, not 1,000 compilations of 10k patterns.
    expect(ms).toBeLessThan(500);
  });
});
