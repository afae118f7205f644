// The byte path of a batch: BatchBuilder (Worker: tails) + Pipeline/EventLineWriter (main: heads)
// must write exactly what the reference encoder (encodeEvent, itself checked byte by byte in
// jsonl.test.ts) writes, and the policy must see the same text fields.
import { describe, expect, setSystemTime, test } from "bun:test";
import { Pipeline } from "../../src/pipeline.ts";
import { compileExcludes } from "../../src/policy/exclude.ts";
import { PolicyEngine } from "../../src/policy/engine.ts";
import { BatchBuilder, procHead } from "../../src/reader/batch-builder.ts";
import { F_DENIED, F_IS_DIR, F_PERM } from "../../src/reader/protocol.ts";
import type { AlertRecord, Decision, FsEvent } from "../../src/output-records.ts";
import { encodeAlert } from "../../src/output-encode.ts";
import { encodeEvent } from "../support/reference-encoders.ts";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

interface Ev {
  lo: number;
  hi: number;
  pid: number;
  flags: number;
  comm: string;
  exe: string;
  path: string;
  name: string;
}

function build(evs: Ev[], initialBytes = 64): { count: number; ints: Int32Array; bytes: Uint8Array } {
  const bb = new BatchBuilder(evs.length + 1, initialBytes);
  for (const e of evs) {
    bb.begin(e.lo, e.hi, e.pid, e.flags);
    bb.comm(b(e.comm), 0, e.comm.length);
    bb.exe(b(e.exe), 0, e.exe.length);
    // Offsets inside a larger buffer, as the Worker passes them.
    const p = b(`xx${e.path}yy`);
    bb.path(p, 2, 2 + e.path.length);
    const n = b(`zz${e.name}`);
    bb.name(n, 2, 2 + e.name.length);
    bb.end((e.flags & F_IS_DIR) !== 0);
  }
  return bb.take();
}

function decision(flags: number): Decision {
  return flags & F_PERM ? (flags & F_DENIED ? "deny" : "allow") : "observe";
}

function reference(e: Ev, ts: number, jobId: string | null = null, role: string | null = null): string {
  const ev: FsEvent = {
    maskLo: e.lo >>> 0,
    maskHi: e.hi >>> 0,
    pid: e.pid,
    comm: e.comm,
    exe: e.exe,
    path: e.path,
    name: e.name,
    isDir: (e.flags & F_IS_DIR) !== 0,
    decision: decision(e.flags),
  };
  return encodeEvent(ev, ts, jobId, role);
}

function run(
  evs: Ev[],
  opts: Partial<ConstructorParameters<typeof PolicyEngine>[0]> = {},
): { text: string; records: number; alerts: AlertRecord[] } {
  const policy = new PolicyEngine({
    canaries: [],
    jobs: [],
    burstThreshold: 0,
    burstWindowMs: 1000,
    hookCooldownMs: 0,
    denyOnAlert: false,
    ...opts,
  });
  const chunks: Buffer[] = [];
  let records = 0;
  const alerts: AlertRecord[] = [];
  const sink = {
    write(chunk: Buffer, n: number) {
      chunks.push(chunk);
      records += n;
    },
  };
  const p = new Pipeline(policy, [sink], { onAlert: (a) => alerts.push(a), onBurstDenyChanged() {} });
  const batch = build(evs);
  p.processBatch(batch.count, batch.ints, batch.bytes);
  return { text: Buffer.concat(chunks).toString("latin1"), records, alerts };
}

const TS_RE = /"ts_ms":(\d+)/;

function expectSameAsReference(evs: Ev[]): void {
  const { text, records } = run(evs);
  const lines = text.split("\n");
  expect(lines.pop()).toBe("");
  expect(records).toBe(evs.length);
  expect(lines.length).toBe(evs.length);
  const ts = Number(TS_RE.exec(lines[0])![1]);
  lines.forEach((line, i) => expect(line).toBe(reference(evs[i], ts)));
}

const plain: Ev = { lo: 0x100, hi: 0, pid: 4242, flags: 0, comm: "loadgen", exe: "/usr/bin/loadgen", path: "/mnt/w/run/g1", name: "g1" };

describe("batch byte path (BatchBuilder + Pipeline)", () => {
  test("plain events, optional fields left out when empty, is_dir, decisions, negative pid", () => {
    expectSameAsReference([
      plain,
      { ...plain, comm: "", exe: "", name: "" },
      { ...plain, lo: 0x40000100, flags: F_IS_DIR, name: "" },
      { ...plain, lo: 0x10000, flags: F_PERM, name: "" },
      { ...plain, lo: 0x10000, flags: F_PERM | F_DENIED, name: "" },
      { ...plain, pid: -7 },
      { ...plain, pid: 0 },
      { ...plain, pid: 2147483647 },
    ]);
  });

  test("every byte value 0x00..0xff in every text field matches the reference escaping", () => {
    const evs: Ev[] = [];
    for (let c = 0; c < 256; c++) {
      const ch = String.fromCharCode(c);
      evs.push({ lo: 0x2, hi: 0, pid: c, flags: 0, comm: `a${ch}b`, exe: `/x${ch}`, path: `/d/${ch}/f${ch}`, name: `f${ch}` });
      evs.push({ lo: 0x2, hi: 0, pid: c, flags: 0, comm: ch, exe: ch, path: ch, name: ch });
    }
    expectSameAsReference(evs);
  });

  test("64-bit masks, and a batch that outgrows its first buffer", () => {
    const long = "/".concat("d".repeat(3000));
    expectSameAsReference([
      { ...plain, lo: 0x1, hi: 0x1 },
      { ...plain, lo: 0xffffffff | 0, hi: 0xffffffff | 0 },
      ...Array.from({ length: 50 }, (_, i) => ({ ...plain, path: `${long}/${i}\n"` })),
    ]);
  });

  test("the policy sees the raw text fields, escaped or not (job tag, canary alert with comm/exe)", () => {
    const weird = '/jobs/a/x"\n\\y';
    const { text, alerts } = run(
      [
        { ...plain, lo: 0x2, comm: "c\tm", exe: "/e\u0001", path: weird, name: 'x"\n\\y' },
        { ...plain, lo: 0x2, path: "/jobs/a/ok", name: "ok" },
      ],
      { canaries: ['/jobs/a/x"*'], jobs: [{ id: "job\n1", roots: { rootfs: "/jobs/a" } }] },
    );
    expect(alerts).toEqual([{ kind: "canary", pid: 4242, comm: "c\tm", exe: "/e\u0001", path: weird, reason: "canary modified" }]);
    const lines = text.trimEnd().split("\n");
    const ts = Number(TS_RE.exec(lines[0])![1]);
    expect(lines[0]).toBe(
      reference({ ...plain, lo: 0x2, comm: "c\tm", exe: "/e\u0001", path: weird, name: 'x"\n\\y' }, ts, "job\n1", "rootfs"),
    );
    expect(lines[1]).toBe(encodeAlert(alerts[0], ts));
    expect(lines[2]).toBe(reference({ ...plain, lo: 0x2, path: "/jobs/a/ok", name: "ok" }, ts, "job\n1", "rootfs"));
  });

  test("an overflow row becomes the overflow alert between the events around it", () => {
    const bb = new BatchBuilder(4);
    for (const overflow of [false, true, false]) {
      if (overflow) {
        bb.overflow(0x4000, 0);
        continue;
      }
      bb.begin(0x2, 0, 1, 0);
      bb.path(b("/p"), 0, 2);
      bb.end(false);
    }
    const batch = bb.take();
    const policy = new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });
    const chunks: Buffer[] = [];
    const p = new Pipeline(policy, [{ write: (c: Buffer) => void chunks.push(c) }], { onAlert() {}, onBurstDenyChanged() {} });
    p.processBatch(batch.count, batch.ints, batch.bytes);
    const lines = Buffer.concat(chunks).toString("latin1").trimEnd().split("\n");
    expect(lines.map((l) => (l.startsWith('{"type":"alert"') ? "alert" : JSON.parse(l).path))).toEqual(["/p", "alert", "/p"]);
    expect(lines[1]).toContain('"kind":"overflow"');
    expect(p.counters).toEqual({ eventsWritten: 2, eventsExcluded: 0, alertsWritten: 1, overflows: 1 });
  });
});

describe("exclusions on the record path", () => {
  test("an excluded event writes no record, but its canary alert is still written and counted", () => {
    const evs: Ev[] = [
      { lo: 0x20, hi: 0, pid: 7, flags: 0, comm: "cat", exe: "", path: "/w/cache/canary", name: "canary" },
      { lo: 0x2, hi: 0, pid: 7, flags: 0, comm: "cat", exe: "", path: "/w/cache/other", name: "other" },
      { lo: 0x2, hi: 0, pid: 7, flags: 0, comm: "cat", exe: "", path: "/w/keep", name: "keep" },
    ];
    const batch = build(evs);
    const policy = new PolicyEngine({ canaries: ["/w/cache/canary"], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });
    const chunks: Buffer[] = [];
    const p = new Pipeline(policy, [{ write: (c: Buffer) => void chunks.push(c) }], { onAlert() {}, onBurstDenyChanged() {} });
    p.setExcluder(compileExcludes(["/w/cache/**"]));
    p.processBatch(batch.count, batch.ints, batch.bytes);
    const recs = Buffer.concat(chunks).toString("latin1").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(recs.map((r) => `${String(r.type)}:${String(r.path)}`)).toEqual(["alert:/w/cache/canary", "event:/w/keep"]);
    expect(p.counters).toEqual({ eventsWritten: 1, eventsExcluded: 2, alertsWritten: 1, overflows: 0 });
  });
});

describe("batch buffers go round (issue 11)", () => {
  const ev: Ev = { lo: 0x20, hi: 0, pid: 7, flags: 0, comm: "cat", exe: "/bin/cat", path: "/w/a", name: "" };
  const policy = (): PolicyEngine =>
    new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });

  test("a small batch's lines are written into the buffer of an earlier batch every sink is done with", () => {
    const held: Array<{ chunk: Buffer; done?: () => void }> = [];
    const p = new Pipeline(policy(), [{ write: (chunk: Buffer, _n: number, done?: () => void) => void held.push({ chunk, done }) }], {
      onAlert() {},
      onBurstDenyChanged() {},
    });
    const one = build([ev]);
    p.processBatch(one.count, one.ints, one.bytes);
    // Still held by the sink: the next batch must not write over it.
    const two = build([{ ...ev, path: "/w/b" }]);
    p.processBatch(two.count, two.ints, two.bytes);
    expect(held[1].chunk.buffer).not.toBe(held[0].chunk.buffer);
    expect(JSON.parse(held[0].chunk.toString("latin1")).path).toBe("/w/a");
    held[0].done?.();
    const three = build([{ ...ev, path: "/w/c" }]);
    p.processBatch(three.count, three.ints, three.bytes);
    // The first batch's memory, not fresh memory (a fresh buffer is page-faulted in as it is written).
    expect(held[2].chunk.buffer).toBe(held[0].chunk.buffer);
    expect(held[2].chunk.byteOffset).toBe(held[0].chunk.byteOffset);
    expect(JSON.parse(held[2].chunk.toString("latin1")).path).toBe("/w/c");
    expect(JSON.parse(held[1].chunk.toString("latin1")).path).toBe("/w/b");
  });
});

describe("a process's head, encoded once (issue 11)", () => {
  const cases: Array<[number, string, string]> = [
    [4242, "cat", "/usr/bin/cat"],
    [1, "", "/sbin/init"],
    [77, "kworker/0:1", ""],
    [-3, "", ""],
    [9, "sp ace", "/opt/x y/\u00e9"],
  ];

  test("a row begun with procHead() has the same bytes and raw offsets as one written field by field", () => {
    for (const [pid, comm, exe] of cases) {
      const head = procHead(pid, b(comm), b(exe));
      expect(head).not.toBeNull();
      const rows = [new BatchBuilder(4, 64), new BatchBuilder(4, 64)];
      for (const [i, bb] of rows.entries()) {
        // Two rows each, so the head's offsets are checked away from the start of the tail.
        for (const path of ["/w/a", "/w/\"q\""]) {
          if (i === 0) {
            bb.begin(0x20, 0, pid, 0);
            bb.comm(b(comm), 0, comm.length);
            bb.exe(b(exe), 0, exe.length);
          } else {
            bb.begin(0x20, 0, pid, 0, head);
          }
          bb.path(b(path), 0, path.length);
          bb.end(false);
        }
      }
      const [plain, cached] = rows.map((bb) => bb.take());
      expect(Buffer.from(cached.bytes).toString("latin1")).toBe(Buffer.from(plain.bytes).toString("latin1"));
      expect(Array.from(cached.ints)).toEqual(Array.from(plain.ints));
    }
  });

  test("no head for names that need escaping (those rows are written field by field)", () => {
    expect(procHead(5, b('a"b'), b("/bin/x"))).toBeNull();
    expect(procHead(5, b("ok"), b("/tmp/new\nline"))).toBeNull();
    expect(procHead(5, b("tab\there"), b(""))).toBeNull();
  });
});

describe("batch buffers under a sink that keeps every chunk (an output stalled on a full disk)", () => {
  test("small batches pin no more than a few large buffers: the memory under the kept chunks stays near their bytes", () => {
    const ev: Ev = { lo: 0x20, hi: 0, pid: 7, flags: 0, comm: "cat", exe: "/bin/cat", path: "/w/a", name: "" };
    const policy = new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });
    const kept: Buffer[] = [];
    const p = new Pipeline(policy, [{ write: (chunk: Buffer) => void kept.push(chunk) }], { onAlert() {}, onBurstDenyChanged() {} });
    for (let i = 0; i < 64; i++) {
      const batch = build([ev, ev, ev]);
      p.processBatch(batch.count, batch.ints, batch.bytes);
    }
    expect(kept.length).toBe(64);
    const under = new Set(kept.map((c) => c.buffer));
    let pinned = 0;
    for (const ab of under) pinned += ab.byteLength;
    const bytes = kept.reduce((n, c) => n + c.length, 0);
    // At most four 256 KiB buffers (the pool's) and the allocator's 8 KiB slabs besides the lines.
    expect(pinned).toBeLessThan(4 * 320 * 1024 + bytes + 64 * 8192);
  });
});

describe("a batch's line heads (issue 11)", () => {
  test("each batch's lines carry its own ts_ms, with the same mask, decision and job as the batch before", () => {
    const policy = new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });
    const chunks: Buffer[] = [];
    const p = new Pipeline(policy, [{ write: (c: Buffer) => void chunks.push(Buffer.from(c)) }], { onAlert() {}, onBurstDenyChanged() {} });
    const evs: Ev[] = [
      { lo: 0x10000, hi: 0, pid: 7, flags: F_PERM, comm: "cat", exe: "/bin/cat", path: "/w/a", name: "" },
      { lo: 0x20000, hi: 0, pid: 7, flags: F_PERM, comm: "cat", exe: "/bin/cat", path: "/w/b", name: "" },
      { lo: 0x10000, hi: 0, pid: 7, flags: F_PERM | F_DENIED, comm: "cat", exe: "/bin/cat", path: "/w/c", name: "" },
    ];
    try {
      for (const t of [1_700_000_000_123, 1_700_000_007_456]) {
        setSystemTime(new Date(t));
        const batch = build(evs);
        p.processBatch(batch.count, batch.ints, batch.bytes);
      }
    } finally {
      setSystemTime();
    }
    const recs = chunks.map((c) => c.toString("latin1").trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>));
    expect(recs.map((r) => r.map((x) => x.ts_ms))).toEqual([
      [1_700_000_000_123, 1_700_000_000_123, 1_700_000_000_123],
      [1_700_000_007_456, 1_700_000_007_456, 1_700_000_007_456],
    ]);
    expect(recs[1].map((x) => `${String(x.events)} ${String(x.decision)} ${String(x.path)}`)).toEqual(["OPEN_PERM allow /w/a", "ACCESS_PERM allow /w/b", "OPEN_PERM deny /w/c"]);
  });
});
