// --process-details on the byte path: the Worker's fragment follows `"is_dir":B` in event lines, the
// main thread finds the process key, the container id and (for alerts) the parsed details; and the
// /proc/PID/status uid parser.
import { describe, expect, test } from "bun:test";
import { Pipeline } from "../../src/pipeline.ts";
import { PolicyEngine } from "../../src/policy/engine.ts";
import { processKey } from "../../src/policy/process-key.ts";
import { BatchBuilder } from "../../src/reader/batch-builder.ts";
import { effectiveUid } from "../../src/reader/process-details.ts";
import type { AlertRecord } from "../../src/output-records.ts";
import { encodeAlert } from "../../src/output-encode.ts";

const b = (s: string): Buffer => Buffer.from(s, "latin1");
const CID = "0123456789abcdef".repeat(4);
const FRAGMENT = `,"ppid":12,"uid":1000,"cgroup":"/kubepods/besteffort/pod1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b/${CID}","container_id":"${CID}","pod_uid":"1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b"`;

function batch(withDetails: boolean): { count: number; ints: Int32Array; bytes: Uint8Array } {
  const bb = new BatchBuilder(4, 64);
  for (let i = 0; i < 2; i++) {
    bb.begin(0x2, 0, 300 + i, 0);
    bb.comm(b("sh"), 0, 2);
    bb.path(b("/c/canary"), 0, 9);
    bb.startTime(2 ** 33 + 5); // past 32 bits
    if (withDetails) {
      const frag = b(FRAGMENT);
      bb.details(frag, FRAGMENT.indexOf(CID), 64);
    }
    bb.end(false);
  }
  return bb.take();
}

function run(withDetails: boolean): { lines: string[]; alerts: AlertRecord[]; keys: number[]; containers: string[] } {
  const policy = new PolicyEngine({ canaries: ["/c/canary"], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });
  const keys: number[] = [];
  const containers: string[] = [];
  const evaluate = policy.evaluate.bind(policy);
  policy.evaluate = (ev, now) => {
    keys.push(ev.processKey ?? -1);
    containers.push(ev.containerId ?? "?");
    return evaluate(ev, now);
  };
  const chunks: Buffer[] = [];
  const alerts: AlertRecord[] = [];
  const p = new Pipeline(policy, [{ write: (c: Buffer) => void chunks.push(c) }], { onAlert: (a) => alerts.push(a), onBurstDenyChanged() {} });
  const bt = batch(withDetails);
  p.processBatch(bt.count, bt.ints, bt.bytes);
  return { lines: Buffer.concat(chunks).toString("latin1").trimEnd().split("\n"), alerts, keys, containers };
}

describe("details on the batch byte path", () => {
  test("event lines end with the fragment; alerts carry the parsed details after the seed's fields", () => {
    const { lines, alerts, keys, containers } = run(true);
    expect(lines.length).toBe(4); // event, alert, event, alert
    expect(lines[0].endsWith(`"is_dir":false${FRAGMENT}}`)).toBe(true);
    const rec = JSON.parse(lines[0]) as Record<string, unknown>;
    expect(Object.keys(rec).slice(-6)).toEqual(["is_dir", "ppid", "uid", "cgroup", "container_id", "pod_uid"]);
    expect(alerts[0].details).toEqual({
      ppid: 12,
      uid: 1000,
      cgroup: `/kubepods/besteffort/pod1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b/${CID}`,
      container_id: CID,
      pod_uid: "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b",
    });
    expect(lines[1]).toBe(encodeAlert(alerts[0], Number(JSON.parse(lines[1]).ts_ms)));
    expect(lines[1]).toContain(`"reason":"canary modified","ppid":12,"uid":1000,`);
    expect(keys).toEqual([processKey(300, 2 ** 33 + 5), processKey(301, 2 ** 33 + 5)]);
    expect(containers).toEqual([CID, CID]);
  });

  test("without details the lines are the seed's and alerts have none", () => {
    const { lines, alerts, containers } = run(false);
    expect(lines[0].endsWith('"is_dir":false}')).toBe(true);
    expect(lines[1]).not.toContain("ppid");
    expect(alerts[0].details).toBeUndefined();
    expect(containers).toEqual(["", ""]);
  });
});

describe("effectiveUid", () => {
  test("the second Uid: field", () => {
    expect(effectiveUid("Name:\tsh\nUmask:\t0022\nUid:\t1000\t65534\t1000\t1000\nGid:\t0\t0\t0\t0\n")).toBe(65534);
  });
  test("absent or malformed: -1", () => {
    expect(effectiveUid("Name:\tsh\n")).toBe(-1);
    expect(effectiveUid("Name:\tsh\nUid:\tx\n")).toBe(-1);
  });
});

describe("ProcInfoCache: start time of a process that is gone", () => {
  test("names are dropped but the last start time seen for the pid keys its late events", async () => {
    const { ProcInfoCache } = await import("../../src/reader/proc-info.ts");
    const child = Bun.spawn(["sleep", "30"]);
    const procs = new ProcInfoCache();
    procs.lookup(child.pid);
    expect(procs.gone).toBe(false);
    expect(Buffer.from(procs.comm).toString()).toBe("sleep");
    const start = procs.startTime;
    expect(start).toBeGreaterThan(0);
    expect(procs.ppid).toBe(process.pid);
    child.kill("SIGKILL");
    await child.exited; // reaped
    procs.nextBatch();
    procs.lookup(child.pid);
    expect(procs.gone).toBe(true);
    expect(procs.comm.length).toBe(0);
    expect(procs.exe.length).toBe(0);
    expect(procs.startTime).toBe(start);
    // a pid never seen: nothing
    procs.lookup(4194303);
    expect([procs.gone, procs.startTime]).toEqual([true, 0]);
  });
});
