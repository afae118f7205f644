// JSONL encoder of alert and stats records (behavior.md A7, B12): one record → one line WITHOUT the trailing newline.
//
// Every string in and out is a byte string (src/bytes.ts): one JS char per byte. The escaping is
// exactly A7's: `"` and `\` backslash-escaped; \n \r \t \b \f; other bytes < 0x20 as \u00xx (lowercase
// hex); everything else — DEL, bytes >= 0x80, invalid UTF-8 — copied raw; `/` not escaped. The caller
// turns the joined lines into bytes with Buffer.from(text, "latin1").
//
// Alerts are JSON.stringify over an object built in key order, which test/bench/encoder-bench.ts
// measured faster end to end than concatenation; the concatenating reference encoders, and the event
// encoder the byte path is checked against, live in test/support/reference-encoders.ts.
//
// Event records on the hot path do not come from here: the Worker encodes each event's tail as bytes
// (src/reader/batch-builder.ts) and the main thread writes the head (src/sinks/event-lines.ts), which
// measured ~3× cheaper on the main thread (670 → 210 ns per event, 2048-event batches, no policy) than
// a per-event encoder + join + Buffer.from.

import type { AlertRecord } from "./output-records.ts";

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

/** A complete JSON string literal (with quotes) for byte string `s`. */
export function jsonString(s: string): string {
  return '"' + (NEEDS_ESCAPE.test(s) ? escapeSlow(s) : s) + '"';
}

/** JSON number text; JSON has no NaN/Infinity, so those become null (as JSON.stringify does). */
export function jsonNumber(n: number): string {
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

/** Stats record (B12): `{"type":"stats","ts_ms":…,<keys in insertion order>}`. */
export function encodeStats(stats: Readonly<Record<string, number>>, tsMs: number): string {
  let s = '{"type":"stats","ts_ms":' + jsonNumber(tsMs);
  for (const key of Object.keys(stats)) {
    s += "," + jsonString(key) + ":" + jsonNumber(stats[key]);
  }
  return s + "}";
}
