// `fanotifyd tail --pretty` (and --format text): one human-readable line per record.
import type { TailRecord } from "./filter.ts";

const ESC: Readonly<Record<string, string>> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A byte string made safe for one terminal line: control bytes escaped, everything else kept as is. */
function clean(s: string): string {
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => ESC[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

function str(v: unknown): string | null {
  return typeof v === "string" ? v : null;
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/** `HH:MM:SS.mmm` in local time. */
export function clockTime(tsMs: number): string {
  const d = new Date(tsMs);
  return `${pad(d.getHours(), 2)}:${pad(d.getMinutes(), 2)}:${pad(d.getSeconds(), 2)}.${pad(d.getMilliseconds(), 3)}`;
}

const COLORS = {
  time: "\x1b[2m",
  events: "\x1b[36m",
  alert: "\x1b[1;31m",
  stats: "\x1b[33m",
  job: "\x1b[35m",
  reset: "\x1b[0m",
} as const;

/** `  uid=N ctr=<12 hex> pod=<uid>` from --process-details fields ("" when the record has none). */
function processPart(rec: TailRecord): string {
  let out = "";
  const uid = num(rec.uid);
  if (uid !== null) out += ` uid=${uid}`;
  const ctr = str(rec.container_id);
  if (ctr !== null) out += ` ctr=${clean(ctr.slice(0, 12))}`;
  const pod = str(rec.pod_uid);
  if (pod !== null) out += ` pod=${clean(pod)}`;
  return out === "" ? "" : ` ${out}`;
}

function who(rec: TailRecord): string {
  const pid = num(rec.pid);
  const comm = str(rec.comm);
  if (comm !== null && comm !== "") return `${clean(comm)}[${pid ?? "?"}]`;
  return pid !== null && pid !== 0 ? `[${pid}]` : "";
}

/**
 * One human line (a byte string, no newline) for a record, or null for a record of unknown type.
 * `color` adds ANSI colors.
 */
export function formatPretty(rec: TailRecord, color = false): string | null {
  const paint = (what: keyof typeof COLORS, text: string): string =>
    color ? `${COLORS[what]}${text}${COLORS.reset}` : text;
  const ts = num(rec.ts_ms);
  const time = paint("time", clockTime(ts ?? Date.now()));
  switch (rec.type) {
    case "event": {
      const events = str(rec.events) ?? "";
      let line = `${time} ${paint("events", events === "" ? "-" : clean(events))}  ${who(rec) || "?"} ${clean(str(rec.path) ?? "")}`;
      const decision = str(rec.decision);
      if (decision !== null && decision !== "observe") line += `  decision=${clean(decision)}`;
      const job = str(rec.job_id);
      if (job !== null) {
        const role = str(rec.path_role);
        line += `  ${paint("job", `job=${clean(job)}${role !== null ? `/${clean(role)}` : ""}`)}`;
      }
      return line + processPart(rec);
    }
    case "alert": {
      const parts = [`${time} ${paint("alert", "ALERT")} ${clean(str(rec.kind) ?? "?")}`];
      const w = who(rec);
      if (w !== "") parts.push(w);
      const p = str(rec.path);
      if (p !== null && p !== "") parts.push(clean(p));
      let line = parts.join(" ");
      const reason = str(rec.reason);
      if (reason !== null && reason !== "") line += `: ${clean(reason)}`;
      const count = num(rec.count);
      const windowMs = num(rec.window_ms);
      if (count !== null) line += ` (count=${count}${windowMs !== null ? ` in ${windowMs}ms` : ""})`;
      return line + processPart(rec);
    }
    case "stats": {
      const fields: string[] = [];
      for (const [k, v] of Object.entries(rec)) {
        if (k === "type" || k === "ts_ms") continue;
        fields.push(`${clean(k)}=${typeof v === "string" ? clean(v) : clean(JSON.stringify(v) ?? "")}`);
      }
      return `${time} ${paint("stats", "STATS")}${fields.length > 0 ? " " + fields.join(" ") : ""}`;
    }
    default:
      return null;
  }
}
