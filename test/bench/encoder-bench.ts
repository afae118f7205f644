// Micro-benchmark: JSONL record encoders (src/output-encode.ts and test/support/reference-encoders.ts), hand-written concatenation against
// JSON.stringify-based construction. Run: node_modules/.bin/bun test/bench/encoder-bench.ts
//
// Since then event records on the hot path are bytes (src/reader/batch-builder.ts writes the tail
// in the Worker, src/sinks/event-lines.ts the head on the main thread: ~210 ns per event on the main
// thread against ~670 for encodeEvent + join + Buffer.from in the pipeline). The string encoders
// measured here remain for alerts, stats and as the tests' reference.
//
// Measured (Bun 1.4.5, 2 vCPU Xeon, pass 2 of 2, ns per record; "+join+bytes" = encode a batch of 256,
// join with "\n", Buffer.from(..., "latin1") — what the daemon actually does per batch):
//
//                                   encode only   +join+bytes
//   event, clean strings
//     hand-written concat                 211          618
//     JSON.stringify per field            313          611
//     JSON.stringify object               293          396   <- encodeEvent
//   event, every record needs escaping
//     hand-written concat                 363          767
//     JSON.stringify per field            387          711
//     JSON.stringify object               469          497   <- encodeEvent
//   alert
//     hand-written concat                   -          450
//     JSON.stringify object                 -          256   <- encodeAlert
//
// The hand-written serializer wins on encoding alone, but its result is a rope string (one fiber
// per concatenated piece), and flattening the ropes at join/Buffer.from costs more than the whole
// JSON.stringify, whose result is flat. End to end the object + JSON.stringify build is ~35% faster,
// so it is what encodeEvent/encodeAlert use; the hand-written one stays as encode*Concat (used for
// masks >= 2^53, and in the tests as an independent check of every byte's escaping).
//
// Every variant is checked to produce identical bytes before timing. Bun's JSON.stringify escapes
// control characters as lowercase \u00xx and copies 0x7f..0xff raw, so for byte strings it is exactly
// behavior.md A7's escaping; the choice is on speed only.

import { encodeAlert } from "../../src/output-encode.ts";
import { encodeAlertConcat, encodeEvent, encodeEventConcat } from "../support/reference-encoders.ts";
import { maskDecimal, maskNames } from "../../src/sinks/mask-names.ts";
import type { AlertRecord, FsEvent } from "../../src/output-records.ts";

// ---- a third variant: the concatenation, but each string literal through JSON.stringify ----
function encodeEventStringifyFields(
  ev: FsEvent,
  tsMs: number,
  jobId: string | null,
  role: string | null,
): string {
  let s =
    '{"schema_version":1,"type":"event","ts_ms":' +
    tsMs +
    ',"mask":' +
    maskDecimal(ev.maskLo, ev.maskHi) +
    ',"events":"' +
    maskNames(ev.maskLo, ev.maskHi) +
    '","decision":"' +
    ev.decision +
    '","job_id":' +
    JSON.stringify(jobId) +
    ',"path_role":' +
    JSON.stringify(role) +
    ',"pid":' +
    ev.pid;
  if (ev.comm !== "") s += ',"comm":' + JSON.stringify(ev.comm);
  if (ev.exe !== "") s += ',"exe":' + JSON.stringify(ev.exe);
  s += ',"path":' + JSON.stringify(ev.path);
  if (ev.name !== "") s += ',"name":' + JSON.stringify(ev.name);
  return s + (ev.isDir ? ',"is_dir":true}' : ',"is_dir":false}');
}

// ---- inputs ----
const N = 4096;
const clean: FsEvent[] = [];
const dirty: FsEvent[] = [];
const masks = [0x20, 0xa, 0x10, 0x2, 0x100, 0x40000100, 0x200, 0x10000];
for (let i = 0; i < N; i++) {
  const base: FsEvent = {
    maskLo: masks[i % masks.length],
    maskHi: 0,
    pid: 1000 + (i % 97),
    comm: i % 3 === 0 ? "bash" : "node",
    exe: i % 3 === 0 ? "/usr/bin/bash" : "/usr/local/bin/node",
    path: `/srv/build/workspace/project-${i % 50}/src/module_${i}/file_${i}.ts`,
    name: `file_${i}.ts`,
    isDir: i % 11 === 0,
    decision: "observe",
  };
  clean.push(base);
  // Every record has something to escape (or raw high bytes) in path and name.
  const odd = ['a"b', "a\\b", "new\nline", "tab\there", "\x01\x1f", "caf\xc3\xa9\xff\xfe"][i % 6];
  dirty.push({ ...base, path: base.path + "/" + odd, name: odd });
}
const alerts: AlertRecord[] = [];
for (let i = 0; i < N; i++) {
  alerts.push({
    kind: i % 2 === 0 ? "burst" : "canary",
    pid: 2000 + i,
    comm: "touch",
    exe: "/usr/bin/touch",
    path: `/tmp/fdemo/${i}`,
    reason: i % 2 === 0 ? "mutating-event burst exceeded threshold" : "canary opened",
    count: 3,
    windowMs: 1000,
  });
}

type EventEnc = (ev: FsEvent, ts: number, j: string | null, r: string | null) => string;
type AlertEnc = (a: AlertRecord, ts: number) => string;

const jobOf = (i: number): string | null => (i % 4 === 0 ? "job-1" : null);
const roleOf = (i: number): string | null => (i % 4 === 0 ? "workspace" : null);

// ---- correctness: identical bytes ----
for (const set of [clean, dirty]) {
  for (let i = 0; i < set.length; i++) {
    const a = encodeEvent(set[i], 1795558008981, jobOf(i), roleOf(i));
    const b = encodeEventConcat(set[i], 1795558008981, jobOf(i), roleOf(i));
    const c = encodeEventStringifyFields(set[i], 1795558008981, jobOf(i), roleOf(i));
    if (a !== b || a !== c) throw new Error(`mismatch at ${i}:\n${a}\n${b}\n${c}`);
  }
}
for (const al of alerts) {
  if (encodeAlert(al, 1) !== encodeAlertConcat(al, 1)) throw new Error("alert mismatch");
}

// ---- timing ----
let sink = 0;
function report(label: string, t0: number, records: number): void {
  if (label === "") return;
  const ns = (Bun.nanoseconds() - t0) / records;
  console.log(`${label.padEnd(62)} ${ns.toFixed(1).padStart(7)} ns/record`);
}

/** Encoding only (the returned strings may stay ropes). */
function benchEvents(label: string, enc: EventEnc, set: FsEvent[], rounds: number): void {
  const t0 = Bun.nanoseconds();
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < set.length; i++) {
      sink += enc(set[i], 1795558008981 + r, jobOf(i), roleOf(i)).length;
    }
  }
  report(label, t0, rounds * set.length);
}

// End to end as the daemon does it: encode a batch, join with "\n", turn into bytes (latin1). String
// concatenation builds ropes whose flattening is only paid here, so this is the number that decides.
const BATCH = 256;
function benchBatches(label: string, enc: EventEnc, set: FsEvent[], rounds: number): void {
  const lines: string[] = new Array<string>(BATCH);
  const t0 = Bun.nanoseconds();
  for (let r = 0; r < rounds; r++) {
    for (let b = 0; b < set.length; b += BATCH) {
      for (let i = 0; i < BATCH; i++) lines[i] = enc(set[b + i], 1795558008981 + r, jobOf(i), roleOf(i));
      sink += Buffer.from(lines.join("\n") + "\n", "latin1").length;
    }
  }
  report(label, t0, rounds * set.length);
}

function benchAlerts(label: string, enc: AlertEnc, rounds: number): void {
  const lines: string[] = new Array<string>(BATCH);
  const t0 = Bun.nanoseconds();
  for (let r = 0; r < rounds; r++) {
    for (let b = 0; b < alerts.length; b += BATCH) {
      for (let i = 0; i < BATCH; i++) lines[i] = enc(alerts[b + i], 1795558008981 + r);
      sink += Buffer.from(lines.join("\n") + "\n", "latin1").length;
    }
  }
  report(label, t0, rounds * alerts.length);
}

const ROUNDS = Number(process.env.ROUNDS ?? 200);
const variants: Array<[string, EventEnc]> = [
  ["hand-written concat", encodeEventConcat],
  ["JSON.stringify per field", encodeEventStringifyFields],
  ["JSON.stringify object (encodeEvent)", encodeEvent],
];
// Warm-up so every variant is JIT-compiled before it is measured.
for (const [, enc] of variants) {
  for (const set of [clean, dirty]) {
    benchEvents("", enc, set, 20);
    benchBatches("", enc, set, 20);
  }
}
benchAlerts("", encodeAlertConcat, 20);
benchAlerts("", encodeAlert, 20);

for (let pass = 1; pass <= 2; pass++) {
  console.log(`--- pass ${pass}, ${N} records x ${ROUNDS} rounds`);
  for (const [name, enc] of variants) benchEvents(`event clean, encode only: ${name}`, enc, clean, ROUNDS);
  for (const [name, enc] of variants) benchEvents(`event escapes, encode only: ${name}`, enc, dirty, ROUNDS);
  for (const [name, enc] of variants) benchBatches(`event clean, +join+bytes: ${name}`, enc, clean, ROUNDS);
  for (const [name, enc] of variants) benchBatches(`event escapes, +join+bytes: ${name}`, enc, dirty, ROUNDS);
  benchAlerts("alert, +join+bytes: hand-written concat", encodeAlertConcat, ROUNDS);
  benchAlerts("alert, +join+bytes: JSON.stringify object (encodeAlert)", encodeAlert, ROUNDS);
}
if (sink === 42) console.log(""); // keep results observable
