// Reference encoders (tests and benchmarks only): the event record by JSON.stringify and by
// concatenation, and the alert record by concatenation. Production writes events through the byte
// path (src/reader/batch-builder.ts + src/sinks/event-lines.ts) and alerts with encodeAlert; the tests
// check those against these, byte for byte.
import type { AlertRecord, FsEvent } from "../../src/output-records.ts";
import { jsonNumber, jsonString } from "../../src/output-encode.ts";
import { EXACT_HI_LIMIT, maskDecimal, maskNames } from "../../src/sinks/mask-names.ts";

/** The body of a JSON string literal for byte string `s` (no surrounding quotes). */
export function escapeJsonBytes(s: string): string {
  return jsonString(s).slice(1, -1);
}

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

