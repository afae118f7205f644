// Per-process policy state keyed by (pid, start time) (issue 12, behavior.md B18): a reused pid never
// inherits another process's burst window, cooldown or burst deny; burst_scope container shares one
// window across a container's processes.

import { describe, expect, test } from "bun:test";
import { FAN_MODIFY, FAN_OPEN, FAN_OPEN_PERM } from "../../ffi/constants.ts";
import { PolicyEngine, type PolicyOptions } from "../../src/policy/engine.ts";
import { PermissionPolicy } from "../../src/policy/permission.ts";
import { keyPid, processKey } from "../../src/policy/process-key.ts";
import type { FsEvent, ProcessDetailsRecord } from "../../src/output-records.ts";
import { encodeAlert } from "../../src/output-encode.ts";
import { encodeAlertConcat } from "../support/reference-encoders.ts";
import { verdict } from "../support/permission.ts";

const CID = "ab".repeat(32);

function ev(maskLo: number, pid: number, start: number, containerId = "", path = "/d/x"): FsEvent {
  return {
    maskLo,
    maskHi: 0,
    pid,
    comm: "sh",
    exe: "/bin/sh",
    path,
    name: "",
    isDir: false,
    decision: "observe",
    processKey: processKey(pid, start),
    containerId,
  };
}

const opts: PolicyOptions = {
  canaries: ["/c/*"],
  jobs: [],
  burstThreshold: 3,
  burstWindowMs: 1000,
  hookCooldownMs: 5000,
  denyOnAlert: true,
};

describe("processKey", () => {
  test("distinct for one pid with different start times, and for different pids", () => {
    const keys = new Set([processKey(100, 5000), processKey(100, 5001), processKey(101, 5000), processKey(100, 0)]);
    expect(keys.size).toBe(4);
  });

  test("exact up to the largest pid and start times past 2^31 ticks; the pid part comes back", () => {
    const maxPid = 4194303;
    for (const start of [0, 1, 123456789, 2 ** 31 - 1, 2 ** 31 + 7, 2 ** 40]) {
      const k = processKey(maxPid, start);
      expect(Number.isSafeInteger(k)).toBe(true);
      expect(keyPid(k)).toBe(maxPid);
    }
    expect(processKey(maxPid, 2 ** 31 - 1)).not.toBe(processKey(maxPid, 2 ** 31 - 2));
  });

  test("start time 0 (unknown) keys by the bare pid", () => {
    expect(processKey(42, 0)).toBe(42);
  });
});

describe("engine state keyed by (pid, start time)", () => {
  test("a reused pid starts a fresh burst window", () => {
    const e = new PolicyEngine(opts);
    e.evaluate(ev(FAN_MODIFY, 77, 1000), 0);
    e.evaluate(ev(FAN_MODIFY, 77, 1000), 1);
    // pid 77 exits; a new process gets pid 77: its first write is count 1, not 3
    expect(e.evaluate(ev(FAN_MODIFY, 77, 2000), 2).alerts).toEqual([]);
    expect(e.evaluate(ev(FAN_MODIFY, 77, 2000), 3).alerts).toEqual([]);
    expect(e.evaluate(ev(FAN_MODIFY, 77, 2000), 4).alerts.map((a) => a.kind)).toEqual(["burst"]);
  });

  test("a reused pid does not inherit the cooldown of the process that had it", () => {
    const e = new PolicyEngine(opts);
    expect(e.evaluate(ev(FAN_OPEN, 5, 10, "", "/c/a"), 0).alerts.length).toBe(1);
    expect(e.evaluate(ev(FAN_OPEN, 5, 10, "", "/c/a"), 1).suppressed).toBe(1); // same process: cooldown
    expect(e.evaluate(ev(FAN_OPEN, 5, 11, "", "/c/a"), 2).alerts.length).toBe(1); // new process, same pid
  });

  test("a burst deny names the process: the reader denies it and not a reused pid", () => {
    const e = new PolicyEngine(opts);
    for (let t = 0; t < 3; t++) e.evaluate(ev(FAN_MODIFY, 9, 500), t);
    const denies = e.takeBurstDenies();
    expect(denies).toEqual([{ pid: 9, key: processKey(9, 500), untilMono: 2 + 1000 + 5000 }]);
    const w = new PermissionPolicy(e.permissionRules());
    w.addBurstDenies(structuredClone(denies), 5);
    const asked: number[] = [];
    const keyOf = (start: number) => (pid: number) => {
      asked.push(pid);
      return processKey(pid, start);
    };
    expect(verdict(w, FAN_OPEN_PERM, 9, "/d/y", 6, keyOf(500))).toBe("deny");
    expect(verdict(w, FAN_OPEN_PERM, 9, "/d/y", 6, keyOf(501))).toBe("allow");
    // pids not under a deny never cost a start-time lookup
    expect(verdict(w, FAN_OPEN_PERM, 10, "/d/y", 6, keyOf(500))).toBe("allow");
    expect(asked).toEqual([9, 9]);
  });
});

describe("burst_scope container", () => {
  const container: PolicyOptions = { ...opts, burstScope: "container", burstThreshold: 4, denyOnAlert: false };

  test("processes of one container share a window; one alert carrying the container id", () => {
    const e = new PolicyEngine(container);
    const kinds: string[] = [];
    const alerts = [];
    for (let pid = 1000; pid < 1020; pid++) {
      for (let i = 0; i < 2; i++) {
        const r = e.evaluate(ev(FAN_MODIFY, pid, 7, CID), pid - 1000);
        for (const a of r.alerts) {
          kinds.push(a.kind);
          alerts.push({ ...a });
        }
      }
    }
    expect(kinds).toEqual(["burst"]); // the cooldown is per container too
    expect(alerts[0].containerId).toBe(CID);
    expect(alerts[0].count).toBe(4);
    expect(JSON.parse(encodeAlert(alerts[0], 1)).container_id).toBe(CID);
    expect(encodeAlertConcat(alerts[0], 1)).toBe(encodeAlert(alerts[0], 1));
  });

  test("processes in no container keep their own windows", () => {
    const e = new PolicyEngine(container);
    let n = 0;
    for (let pid = 1000; pid < 1020; pid++) {
      for (let i = 0; i < 2; i++) n += e.evaluate(ev(FAN_MODIFY, pid, 7, ""), pid - 1000).alerts.length;
    }
    expect(n).toBe(0);
  });

  test("scope process (default): the same container's processes do not add up", () => {
    const e = new PolicyEngine({ ...container, burstScope: "process" });
    let n = 0;
    for (let pid = 1000; pid < 1020; pid++) {
      for (let i = 0; i < 2; i++) n += e.evaluate(ev(FAN_MODIFY, pid, 7, CID), pid - 1000).alerts.length;
    }
    expect(n).toBe(0);
  });
});

describe("alert records with process details", () => {
  const details: ProcessDetailsRecord = { ppid: 1, uid: 1000, cgroup: `/docker/${CID}`, container_id: CID, pod_uid: null };

  test("fields follow the seed's, in the issue's order; both encoders agree", () => {
    const a = { kind: "burst" as const, pid: 3, comm: "sh", exe: "", path: "/p", reason: "r", count: 2, windowMs: 10, details };
    const line = encodeAlert(a, 5);
    expect(line).toBe(
      `{"type":"alert","ts_ms":5,"kind":"burst","pid":3,"comm":"sh","path":"/p","reason":"r","count":2,"window_ms":10,"ppid":1,"uid":1000,"cgroup":"/docker/${CID}","container_id":"${CID}","pod_uid":null}`,
    );
    expect(encodeAlertConcat(a, 5)).toBe(line);
  });

  test("no details (process gone, or details off): no fields", () => {
    const a = { kind: "canary" as const, pid: 3, comm: "", exe: "", path: "/p", reason: "r", details: null };
    expect(encodeAlert(a, 5)).toBe('{"type":"alert","ts_ms":5,"kind":"canary","pid":3,"path":"/p","reason":"r"}');
    expect(encodeAlertConcat(a, 5)).toBe(encodeAlert(a, 5));
  });
});
