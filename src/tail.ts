// `fanotifyd tail`: a subscriber client for the daemon's socket (behavior.md A12). Connects, splits the
// stream into lines, filters them, and prints them — raw (byte-identical to the daemon's lines) or, with
// --pretty, one human line per record.
//
// Lines are handled as bytes: a JSON line decoded as latin1 parses fine (every structural character is
// ASCII) and yields byte strings (one char per byte, like the daemon's own strings), so paths with
// invalid UTF-8 are matched and printed with their original bytes. Output respects stdout's
// backpressure (the socket is paused until stdout drains); a reader that goes away (`| head`) ends the
// run quietly with status 0, as does the daemon closing the connection.
//
// --path uses the policy's own canary matcher (fnmatch(3) with FNM_PATHNAME over bytes) rather than
// picomatch: picomatch differs from fnmatch on paths the daemon emits (`/x/*` never matches `/x/.`,
// see src/policy/canary.ts), and a filter should select exactly what a canary pattern would.

import type { Writable } from "node:stream";
import type { Socket } from "bun";
import { defineCommand, type ArgsDef } from "citty";
import { toByteString } from "./bytes.ts";
import { UsageError } from "./config/types.ts";
import { plainError } from "./log.ts";
import { compileCanaries } from "./policy/canary.ts";
import type { AlertKind } from "./records.ts";
import { MASK_NAME_TABLE } from "./sinks/mask-names.ts";
import { getopt } from "./config/getopt.ts";
import { errCode, errReason } from "./errors.ts";

/** The `tail` option table (citty metadata): read by the parser below and by the help text. */
export const tailArgs = {
  socket: { type: "string", valueHint: "PATH", description: "the daemon's subscriber socket (required)" },
  type: {
    type: "string",
    valueHint: "TYPE",
    description: "only records of TYPE: event, alert or stats; repeatable or comma list",
  },
  kind: {
    type: "string",
    valueHint: "KIND",
    description: "only alerts of KIND: canary, burst or overflow; repeatable or comma list",
  },
  job: { type: "string", valueHint: "ID", description: "only events tagged with job ID; repeatable" },
  path: {
    type: "string",
    valueHint: "GLOB",
    description: "only records whose path matches GLOB (like a canary pattern); repeatable",
  },
  events: {
    type: "string",
    valueHint: "NAME[,NAME]",
    description: "only events with one of the NAMEs (e.g. OPEN,CLOSE_WRITE); repeatable",
  },
  container: {
    type: "string",
    valueHint: "ID",
    description: "only records of container ID (12 to 64 hex digits, a prefix as docker ps shows); repeatable",
  },
  uid: { type: "string", valueHint: "N", description: "only records of processes with effective uid N; repeatable" },
  comm: { type: "string", valueHint: "NAME", description: "only records of processes named NAME (comm); repeatable" },
  pretty: { type: "boolean", description: "print one human-readable line per record" },
  help: { type: "boolean", alias: "h", description: "show this help" },
} as const satisfies ArgsDef;

/** The `fanotifyd tail` subcommand, for the main command's help and subcommand table. */
export const tailCommand = defineCommand({
  meta: { name: "tail", description: "print the records a running daemon streams on its socket" },
  args: tailArgs,
});

export type TailRecordType = "event" | "alert" | "stats";
const RECORD_TYPES: readonly TailRecordType[] = ["event", "alert", "stats"];
const ALERT_KINDS: readonly AlertKind[] = ["canary", "burst", "overflow"];
const EVENT_NAMES: ReadonlySet<string> = new Set(MASK_NAME_TABLE.map(([, name]) => name));

export interface TailOptions {
  /** `-h`/`--help` was given: print the help and do nothing else. */
  readonly help: boolean;
  readonly socket: string;
  /** Each list: empty = no filter; otherwise a record must match one entry. Lists combine with AND. */
  readonly types: readonly TailRecordType[];
  readonly kinds: readonly AlertKind[];
  /** Job ids as typed (UTF-8 text). */
  readonly jobs: readonly string[];
  /** Glob patterns as typed. */
  readonly paths: readonly string[];
  /** Upper-case event names from the A8 table. */
  readonly events: readonly string[];
  /** Lower-case container id prefixes (>= 12 hex digits); records need --process-details. */
  readonly containers: readonly string[];
  readonly uids: readonly number[];
  /** comm values as typed (UTF-8 text). */
  readonly comms: readonly string[];
  readonly pretty: boolean;
}

type TailOptionName = keyof typeof tailArgs;

interface TailOptionInfo {
  readonly name: TailOptionName;
  readonly type: "string" | "boolean";
  readonly short: string | undefined;
  readonly valueHint: string | undefined;
  readonly description: string;
}

function tailOptionList(): readonly TailOptionInfo[] {
  return (Object.keys(tailArgs) as TailOptionName[]).map((name) => {
    const def: {
      readonly type: "string" | "boolean";
      readonly alias?: string;
      readonly valueHint?: string;
      readonly description: string;
    } = tailArgs[name];
    return { name, type: def.type, short: def.alias, valueHint: def.valueHint, description: def.description };
  });
}

const OPTIONS = tailOptionList();
const BY_LONG: ReadonlyMap<string, TailOptionInfo> = new Map(OPTIONS.map((o) => [o.name, o]));
const BY_SHORT: ReadonlyMap<string, TailOptionInfo> = new Map(
  OPTIONS.filter((o) => o.short !== undefined).map((o) => [o.short as string, o]),
);

/** The `tail --help` text (ends with a newline). */
export function renderTailHelp(argv0 = "fanotifyd"): string {
  const rows = OPTIONS.map((o): [string, string] => {
    const flags = `${o.short !== undefined ? `-${o.short}, ` : "    "}--${o.name}`;
    return [o.type === "string" && o.valueHint !== undefined ? `${flags} ${o.valueHint}` : flags, o.description];
  });
  const width = Math.max(...rows.map(([l]) => l.length));
  const out = [
    `Usage: ${argv0} tail --socket PATH [OPTIONS]`,
    "",
    "Print the records a running fanotifyd streams on its subscriber socket, from now on.",
    "",
    ...rows.map(([l, r]) => `  ${l.padEnd(width)}  ${r}`),
    "",
    "Several values of one option match any of them; different options must all match (--kind, --events,",
    "--job, --container and --uid select only the records that have those fields; --container and --uid",
    "need a daemon run with --process-details). Without --pretty the lines are printed",
    "exactly as the daemon sent them. Exit status: 0 when the daemon closes the connection or stdout's",
    "reader goes away, 1 when the socket cannot be reached, 2 on a usage error.",
  ];
  return `${out.join("\n")}\n`;
}

function splitList(value: string): string[] {
  return value.split(",").map((s) => s.trim());
}

/**
 * Parse the arguments after `tail`. Throws UsageError (exit status 2, one-line message) on bad input.
 * `--opt value` and `--opt=value`; `-h`; `--` ends the options; no positionals.
 */
export function parseTailArgs(argv: readonly string[]): TailOptions {
  let socket = "";
  const types: TailRecordType[] = [];
  const kinds: AlertKind[] = [];
  const jobs: string[] = [];
  const paths: string[] = [];
  const events: string[] = [];
  const containers: string[] = [];
  const uids: number[] = [];
  const comms: string[] = [];
  let pretty = false;

  const apply = (opt: TailOptionInfo, value: string): boolean => {
    const flag = `--${opt.name}`;
    switch (opt.name) {
      case "help":
        return true;
      case "pretty":
        pretty = true;
        return false;
      case "socket":
        socket = value;
        return false;
      case "type":
        for (const t of splitList(value)) {
          const found = RECORD_TYPES.find((x) => x === t);
          if (found === undefined) throw new UsageError(`invalid ${flag} value '${t}' (expected event, alert or stats)`);
          if (!types.includes(found)) types.push(found);
        }
        return false;
      case "kind":
        for (const k of splitList(value)) {
          const found = ALERT_KINDS.find((x) => x === k);
          if (found === undefined) throw new UsageError(`invalid ${flag} value '${k}' (expected canary, burst or overflow)`);
          if (!kinds.includes(found)) kinds.push(found);
        }
        return false;
      case "job":
        if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a job id)`);
        jobs.push(value);
        return false;
      case "path":
        if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a glob pattern)`);
        try {
          compileCanaries([value]);
        } catch (e) {
          throw new UsageError(`invalid ${flag} pattern '${value}': ${e instanceof Error ? e.message : String(e)}`);
        }
        paths.push(value);
        return false;
      case "events":
        for (const raw of splitList(value)) {
          const name = raw.toUpperCase();
          if (!EVENT_NAMES.has(name)) throw new UsageError(`invalid ${flag} value '${raw}' (unknown event name)`);
          if (!events.includes(name)) events.push(name);
        }
        return false;
      case "container": {
        const id = value.toLowerCase();
        if (!/^[0-9a-f]{12,64}$/.test(id)) {
          throw new UsageError(`invalid ${flag} value '${value}' (expected 12 to 64 hex digits of a container id)`);
        }
        containers.push(id);
        return false;
      }
      case "uid": {
        const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
        if (!(n <= 4294967295)) throw new UsageError(`invalid ${flag} value '${value}' (expected a numeric uid)`);
        uids.push(n);
        return false;
      }
      case "comm":
        if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a process name)`);
        comms.push(value);
        return false;
      default: {
        const unreachable: never = opt.name;
        throw new Error(`unhandled tail option ${String(unreachable)}`);
      }
    }
  };

  const helpResult = (): TailOptions => ({
    help: true,
    socket,
    types,
    kinds,
    jobs,
    paths,
    events,
    containers,
    uids,
    comms,
    pretty,
  });

  for (const item of getopt(argv, BY_LONG, BY_SHORT)) {
    if (item.kind === "positional") throw new UsageError(`unexpected argument '${item.arg}'`);
    if (apply(item.opt, item.value ?? "")) return helpResult();
  }
  if (socket === "") throw new UsageError("tail needs --socket PATH");
  return { help: false, socket, types, kinds, jobs, paths, events, containers, uids, comms, pretty };
}

// ---------------------------------------------------------------------------------------------------
// Filtering and formatting (pure; exported for tests)

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

// ---------------------------------------------------------------------------------------------------
// Running

export interface TailIO {
  /** Where records go (default process.stdout). */
  readonly stdout: Writable & { readonly isTTY?: boolean };
  /** One-line error messages (default: stderr). */
  readonly stderr: (line: string) => void;
  /** Environment, for NO_COLOR (default process.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

function defaultIO(): TailIO {
  return { stdout: process.stdout, stderr: plainError, env: process.env };
}

/** Bun sockets can pause reading at run time; the type declarations do not say so. */
interface Pausable {
  pause?: () => void;
  resume?: () => void;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Connect and print until the daemon closes the connection. Resolves with the exit status: 0 on EOF
 * or when stdout's reader has gone away (EPIPE), 1 when the socket cannot be reached.
 */
export async function runTail(opts: TailOptions, io: TailIO = defaultIO()): Promise<number> {
  const out = io.stdout;
  if (opts.help) {
    return new Promise<number>((resolve) => {
      out.write(renderTailHelp(), () => resolve(0));
    });
  }
  const filter = makeRecordFilter(opts);
  const color = opts.pretty && out.isTTY === true && (io.env.NO_COLOR ?? "") === "";

  let resolveDone: (code: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    resolveDone = resolve;
  });
  let finished = false;
  let sock: Socket<undefined> | null = null;
  let carry: Buffer = EMPTY;

  const onDrain = (): void => (sock as Pausable | null)?.resume?.();
  const finish = (code: number): void => {
    if (finished) return;
    finished = true;
    out.off("error", onStdoutError);
    out.off("drain", onDrain);
    resolveDone(code);
  };
  function onStdoutError(e: unknown): void {
    if (errCode(e) !== "EPIPE") io.stderr(`fanotifyd tail: cannot write to stdout: ${errReason(e)}`);
    const s = sock;
    sock = null;
    s?.terminate();
    finish(errCode(e) === "EPIPE" ? 0 : 1);
  }
  out.on("error", onStdoutError);
  out.on("drain", onDrain);

  /** Print what is left in stdout's buffer, then finish (a pending write never blocks EOF forever: EPIPE ends it). */
  const flushAndFinish = (code: number): void => {
    if (finished) return;
    if (out.writableLength === 0) finish(code);
    else out.write(EMPTY, () => finish(code));
  };

  const emit = (chunk: Buffer): void => {
    if (finished || chunk.length === 0) return;
    if (!out.write(chunk) && sock !== null) (sock as Pausable).pause?.();
  };

  const handleLines = (buf: Buffer): void => {
    const last = buf.lastIndexOf(NL);
    if (last < 0) {
      carry = Buffer.from(buf);
      return;
    }
    carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : EMPTY;
    if (filter === null && !opts.pretty) {
      emit(Buffer.from(buf.subarray(0, last + 1))); // raw and unfiltered: the bytes as they came
      return;
    }
    const parts: Buffer[] = [];
    let start = 0;
    while (start <= last) {
      const nl = buf.indexOf(NL, start);
      const line = buf.subarray(start, nl + 1);
      start = nl + 1;
      const rec = parseRecordLine(line);
      if (rec === null) {
        if (filter === null) parts.push(line); // not a record: shown only when nothing is filtered
        continue;
      }
      if (filter !== null && !filter(rec)) continue;
      if (!opts.pretty) {
        parts.push(line);
        continue;
      }
      const text = formatPretty(rec, color);
      parts.push(text === null ? line : Buffer.from(`${text}\n`, "latin1"));
    }
    if (parts.length > 0) emit(Buffer.concat(parts));
  };

  try {
    sock = await Bun.connect({
      unix: opts.socket,
      socket: {
        data(_s, chunk) {
          if (finished) return;
          handleLines(carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk);
        },
        // The daemon closed the connection (or dropped us): a partial last line is not printed.
        close() {
          sock = null;
          flushAndFinish(0);
        },
        error(_s, e) {
          if (!finished) io.stderr(`fanotifyd tail: connection to '${opts.socket}' failed: ${errReason(e)}`);
          sock = null;
          finish(1);
        },
      },
    });
  } catch (e) {
    if (!finished) io.stderr(`fanotifyd tail: cannot connect to '${opts.socket}': ${errReason(e)}`);
    finish(1);
  }
  if (finished) sock?.terminate();
  return done;
}

/** `fanotifyd tail ARGS…` as the entry point runs it: parse, report usage errors, run. */
export async function runTailCommand(argv: readonly string[], io: TailIO = defaultIO()): Promise<number> {
  let opts: TailOptions;
  try {
    opts = parseTailArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`fanotifyd tail: ${e.message}`);
      io.stderr("Try 'fanotifyd tail --help' for more information.");
      return e.exitCode;
    }
    throw e;
  }
  return runTail(opts, io);
}
