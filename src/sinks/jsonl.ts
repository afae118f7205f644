// JSONL record encoder (behavior.md A7, B12): one record → one line WITHOUT the trailing newline.
//
// Every string in and out is a byte string (src/bytes.ts): one JS char per byte. The escaping is
// exactly A7's: `"` and `\` backslash-escaped; \n \r \t \b \f; other bytes < 0x20 as \u00xx (lowercase
// hex); everything else — DEL, bytes >= 0x80, invalid UTF-8 — copied raw; `/` not escaped. The caller
// turns the joined lines into bytes with Buffer.from(text, "latin1").
//
// Two serializers are kept: a hand-written concatenating one (encode*Concat, with a one-regex fast
// path per string) and JSON.stringify over an object built in key order (encodeEvent/encodeAlert).
// test/bench/encoder-bench.ts measures both; the JSON.stringify one is faster end to end (see below
// and the numbers at the top of the bench file), and both produce identical bytes (unit-tested).
//
// Event records on the hot path do not come from here: the Worker encodes each event's tail as bytes
// (src/reader/batch-builder.ts) and the main thread writes the head (src/sinks/event-lines.ts), which
// measured ~3× cheaper on the main thread (670 → 210 ns per event, 2048-event batches, no policy) than
// encodeEvent + join + Buffer.from. encodeEvent is the reference that path is tested against byte
// for byte (test/unit/batch-lines.test.ts); alerts and stats are still encoded here.

import type { AlertRecord, FsEvent } from "../records.ts";
import { EXACT_HI_LIMIT, maskDecimal, maskNames } from "./mask-names.ts";

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /[\x00-\x1f"\\]/;

const HEX = "0123456789abcdef";

/** Escapes for every code below 0x20 plus `"` and `\`; "" means "copy raw". */
const ESCAPES: string[] = (() => {
  const t: string[] = new Array<string>(0x5d).fill("");
  for (let c = 0; c < 0x20; c++) t[c] = "\\u00" + HEX[c >> 4] + HEX[c & 15];
  t[0x08] = "\\b";
  t[0x09] = "\\t";
  t[0x0a] = "\\n";
  t[0x0c] = "\\f";
  t[0x0d] = "\\r";
  t[0x22] = '\\"';
  t[0x5c] = "\\\\";
  return t;
})();

function escapeSlow(s: string): string {
  let out = "";
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) {
      if (i > start) out += s.slice(start, i);
      out += ESCAPES[c];
      start = i + 1;
    }
  }
  return start === 0 ? s : start < s.length ? out + s.slice(start) : out;
}

/** The body of a JSON string literal for byte string `s` (no surrounding quotes). */
export function escapeJsonBytes(s: string): string {
  return NEEDS_ESCAPE.test(s) ? escapeSlow(s) : s;
}

/** A complete JSON string literal (with quotes) for byte string `s`. */
export function jsonString(s: string): string {
  return '"' + (NEEDS_ESCAPE.test(s) ? escapeSlow(s) : s) + '"';
}

/** JSON number text; JSON has no NaN/Infinity, so those become null (as JSON.stringify does). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : "null";
}

// ---- records -------------------------------------------------------------------------------------
//
// Measured (test/bench/encoder-bench.ts): building a plain object in key order and calling
// JSON.stringify is faster end to end than string concatenation, because concatenation yields rope
// strings whose flattening (at join + Buffer.from) costs more than the whole JSON.stringify. For byte
// strings JSON.stringify is exactly A7's escaping: `"` `\` \b \t \n \f \r, other < 0x20 as lowercase
// \u00xx, DEL and 0x80..0xff raw, `/` raw (byte strings never hold chars > 0xff, so no surrogate
// handling comes into play). The unit tests check this for every byte value. The hand-written
// concatenating encoder stays for masks that do not fit in a double (and as the reference).

/** Event record shape in A7 key order (optional keys are added in order when present). */
interface EventJson {
  schema_version: 1;
  type: "event";
  ts_ms: number;
  mask: number;
  events: string;
  decision: string;
  job_id: string | null;
  path_role: string | null;
  pid: number;
  comm?: string;
  exe?: string;
  path?: string;
  name?: string;
  is_dir?: boolean;
}

interface AlertJson {
  type: "alert";
  ts_ms: number;
  kind: string;
  pid: number;
  comm?: string;
  exe?: string;
  path?: string;
  reason?: string;
  count?: number;
  window_ms?: number;
  ppid?: number;
  uid?: number;
  cgroup?: string;
  container_id?: string | null;
  pod_uid?: string | null;
}

/** Event record (A7): fixed key order, comm/exe/name omitted when empty. */
export function encodeEvent(
  ev: FsEvent,
  tsMs: number,
  jobId: string | null,
  role: string | null,
): string {
  const lo = ev.maskLo >>> 0;
  const hi = ev.maskHi >>> 0;
  if (hi >= EXACT_HI_LIMIT) return encodeEventConcat(ev, tsMs, jobId, role);
  const o: EventJson = {
    schema_version: 1,
    type: "event",
    ts_ms: tsMs,
    mask: hi === 0 ? lo : hi * 4294967296 + lo,
    events: maskNames(lo, hi),
    decision: ev.decision,
    job_id: jobId,
    path_role: role,
    pid: ev.pid,
  };
  if (ev.comm !== "") o.comm = ev.comm;
  if (ev.exe !== "") o.exe = ev.exe;
  o.path = ev.path;
  if (ev.name !== "") o.name = ev.name;
  o.is_dir = ev.isDir;
  return JSON.stringify(o);
}

/** The same record as encodeEvent, by hand-written concatenation (any 64-bit mask). */
export function encodeEventConcat(
  ev: FsEvent,
  tsMs: number,
  jobId: string | null,
  role: string | null,
): string {
  let s =
    '{"schema_version":1,"type":"event","ts_ms":' +
    jsonNumber(tsMs) +
    ',"mask":' +
    maskDecimal(ev.maskLo, ev.maskHi) +
    ',"events":"' +
    maskNames(ev.maskLo, ev.maskHi) +
    '","decision":"' +
    ev.decision +
    '","job_id":' +
    (jobId === null ? "null" : jsonString(jobId)) +
    ',"path_role":' +
    (role === null ? "null" : jsonString(role)) +
    ',"pid":' +
    jsonNumber(ev.pid);
  if (ev.comm !== "") s += ',"comm":' + jsonString(ev.comm);
  if (ev.exe !== "") s += ',"exe":' + jsonString(ev.exe);
  s += ',"path":' + jsonString(ev.path);
  if (ev.name !== "") s += ',"name":' + jsonString(ev.name);
  return s + (ev.isDir ? ',"is_dir":true}' : ',"is_dir":false}');
}

/** Alert record (A7): comm/exe/path/reason omitted when empty; count and window_ms for burst only. */
export function encodeAlert(a: AlertRecord, tsMs: number): string {
  const o: AlertJson = { type: "alert", ts_ms: tsMs, kind: a.kind, pid: a.pid };
  if (a.comm !== "") o.comm = a.comm;
  if (a.exe !== "") o.exe = a.exe;
  if (a.path !== "") o.path = a.path;
  if (a.reason !== "") o.reason = a.reason;
  if (a.kind === "burst") {
    o.count = a.count ?? 0;
    o.window_ms = a.windowMs ?? 0;
  }
  // --process-details (issue 12): after the seed's fields, omitted when the process was gone.
  const d = a.details;
  if (d !== undefined && d !== null) {
    o.ppid = d.ppid;
    o.uid = d.uid;
    o.cgroup = d.cgroup;
    o.container_id = d.container_id;
    o.pod_uid = d.pod_uid;
  } else if (a.containerId !== undefined && a.containerId !== "") {
    o.container_id = a.containerId;
  }
  return JSON.stringify(o);
}

/** The same record as encodeAlert, by hand-written concatenation (reference for tests and bench). */
export function encodeAlertConcat(a: AlertRecord, tsMs: number): string {
  let s =
    '{"type":"alert","ts_ms":' +
    jsonNumber(tsMs) +
    ',"kind":"' +
    a.kind +
    '","pid":' +
    jsonNumber(a.pid);
  if (a.comm !== "") s += ',"comm":' + jsonString(a.comm);
  if (a.exe !== "") s += ',"exe":' + jsonString(a.exe);
  if (a.path !== "") s += ',"path":' + jsonString(a.path);
  if (a.reason !== "") s += ',"reason":' + jsonString(a.reason);
  if (a.kind === "burst") {
    s += ',"count":' + jsonNumber(a.count ?? 0) + ',"window_ms":' + jsonNumber(a.windowMs ?? 0);
  }
  const d = a.details;
  if (d !== undefined && d !== null) {
    s += ',"ppid":' + jsonNumber(d.ppid) + ',"uid":' + jsonNumber(d.uid) + ',"cgroup":' + jsonString(d.cgroup);
    s += ',"container_id":' + (d.container_id === null ? "null" : jsonString(d.container_id));
    s += ',"pod_uid":' + (d.pod_uid === null ? "null" : jsonString(d.pod_uid));
  } else if (a.containerId !== undefined && a.containerId !== "") {
    s += ',"container_id":' + jsonString(a.containerId);
  }
  return s + "}";
}

/** Stats record (B12): `{"type":"stats","ts_ms":…,<keys in insertion order>}`. */
export function encodeStats(stats: Readonly<Record<string, number>>, tsMs: number): string {
  let s = '{"type":"stats","ts_ms":' + jsonNumber(tsMs);
  for (const key of Object.keys(stats)) {
    s += "," + jsonString(key) + ":" + jsonNumber(stats[key]);
  }
  return s + "}";
}
