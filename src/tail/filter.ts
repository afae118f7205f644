// `fanotifyd tail` filters: a record line parsed as bytes, and one predicate for all the filter flags.
//
// --path uses the policy's own canary matcher (fnmatch(3) with FNM_PATHNAME over bytes) rather than
// picomatch: picomatch differs from fnmatch on paths the daemon emits (`/x/*` never matches `/x/.`,
// see src/policy/canary.ts), and a filter should select exactly what a canary pattern would.
import { toByteString } from "../bytes.ts";
import { compileCanaries } from "../policy/canary.ts";
import type { TailOptions } from "./args.ts";

/** A parsed record: a JSON object whose strings are byte strings. */
export type TailRecord = Readonly<Record<string, unknown>>;

/** Parse one line (bytes, with or without its "\n") into a record, or null if it is not a JSON object. */
export function parseRecordLine(line: Buffer): TailRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line.toString("latin1"));
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  return value as TailRecord;
}

/** A predicate for the filters in `opts`, or null when there are none (every line passes). */
export function makeRecordFilter(opts: TailOptions): ((rec: TailRecord) => boolean) | null {
  const tests: ((rec: TailRecord) => boolean)[] = [];
  if (opts.types.length > 0) {
    const types = new Set<unknown>(opts.types);
    tests.push((r) => types.has(r.type));
  }
  if (opts.kinds.length > 0) {
    const kinds = new Set<unknown>(opts.kinds);
    tests.push((r) => r.type === "alert" && kinds.has(r.kind));
  }
  if (opts.jobs.length > 0) {
    const jobs = new Set<unknown>(opts.jobs.map(toByteString));
    tests.push((r) => jobs.has(r.job_id));
  }
  if (opts.paths.length > 0) {
    // The canary matcher: fnmatch(3) with FNM_PATHNAME on bytes, exactly like the policy's patterns.
    const globs = compileCanaries(opts.paths);
    tests.push((r) => {
      const p = r.path;
      return typeof p === "string" && globs.matches(p);
    });
  }
  if (opts.events.length > 0) {
    const names = new Set(opts.events);
    tests.push((r) => {
      const ev = r.events;
      return r.type === "event" && typeof ev === "string" && ev.split(",").some((n) => names.has(n));
    });
  }
  if (opts.containers.length > 0) {
    const prefixes = opts.containers;
    tests.push((r) => {
      const id = r.container_id;
      return typeof id === "string" && prefixes.some((p) => id.startsWith(p));
    });
  }
  if (opts.uids.length > 0) {
    const uids = new Set<unknown>(opts.uids);
    tests.push((r) => uids.has(r.uid));
  }
  if (opts.comms.length > 0) {
    const comms = new Set<unknown>(opts.comms.map(toByteString));
    tests.push((r) => comms.has(r.comm));
  }
  if (tests.length === 0) return null;
  return (rec) => tests.every((t) => t(rec));
}
