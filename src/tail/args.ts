// `fanotifyd tail` arguments: the option table (also the help text) and the parser (behavior.md A12).
import { defineCommand, type ArgsDef } from "citty";
import { getopt } from "../config/getopt.ts";
import { optionEntries, optionIndex, type OptionEntry } from "../config/help.ts";
import { UsageError } from "../config/types.ts";
import { compileCanaries } from "../policy/canary.ts";
import type { AlertKind } from "../output-records.ts";
import { MASK_NAME_TABLE } from "../sinks/mask-names.ts";

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

type TailOptionInfo = OptionEntry<TailOptionName>;

const OPTIONS = optionEntries(tailArgs);
const { byLong: BY_LONG, byShort: BY_SHORT } = optionIndex(OPTIONS);

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

type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };

/** Applies one option to `o`; true for --help (stop and print it). Throws UsageError on a bad value. */
function applyTailOption(o: Mutable<TailOptions>, opt: TailOptionInfo, value: string): boolean {
  const flag = `--${opt.name}`;
  switch (opt.name) {
    case "help":
      return true;
    case "pretty":
      o.pretty = true;
      return false;
    case "socket":
      o.socket = value;
      return false;
    case "type":
      for (const t of splitList(value)) {
        const found = RECORD_TYPES.find((x) => x === t);
        if (found === undefined) throw new UsageError(`invalid ${flag} value '${t}' (expected event, alert or stats)`);
        if (!o.types.includes(found)) o.types.push(found);
      }
      return false;
    case "kind":
      for (const k of splitList(value)) {
        const found = ALERT_KINDS.find((x) => x === k);
        if (found === undefined) throw new UsageError(`invalid ${flag} value '${k}' (expected canary, burst or overflow)`);
        if (!o.kinds.includes(found)) o.kinds.push(found);
      }
      return false;
    case "job":
      if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a job id)`);
      o.jobs.push(value);
      return false;
    case "path":
      if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a glob pattern)`);
      try {
        compileCanaries([value]);
      } catch (e) {
        throw new UsageError(`invalid ${flag} pattern '${value}': ${e instanceof Error ? e.message : String(e)}`);
      }
      o.paths.push(value);
      return false;
    case "events":
      for (const raw of splitList(value)) {
        const name = raw.toUpperCase();
        if (!EVENT_NAMES.has(name)) throw new UsageError(`invalid ${flag} value '${raw}' (unknown event name)`);
        if (!o.events.includes(name)) o.events.push(name);
      }
      return false;
    case "container": {
      const id = value.toLowerCase();
      if (!/^[0-9a-f]{12,64}$/.test(id)) {
        throw new UsageError(`invalid ${flag} value '${value}' (expected 12 to 64 hex digits of a container id)`);
      }
      o.containers.push(id);
      return false;
    }
    case "uid": {
      const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
      if (!(n <= 4294967295)) throw new UsageError(`invalid ${flag} value '${value}' (expected a numeric uid)`);
      o.uids.push(n);
      return false;
    }
    case "comm":
      if (value === "") throw new UsageError(`invalid ${flag} value '' (expected a process name)`);
      o.comms.push(value);
      return false;
    default: {
      const unreachable: never = opt.name;
      throw new Error(`unhandled tail option ${String(unreachable)}`);
    }
  }
}

/**
 * Parse the arguments after `tail`. Throws UsageError (exit status 2, one-line message) on bad input.
 * `--opt value` and `--opt=value`; `-h`; `--` ends the options; no positionals.
 */
export function parseTailArgs(argv: readonly string[]): TailOptions {
  const o: Mutable<TailOptions> = {
    help: false,
    socket: "",
    types: [],
    kinds: [],
    jobs: [],
    paths: [],
    events: [],
    containers: [],
    uids: [],
    comms: [],
    pretty: false,
  };
  for (const item of getopt(argv, BY_LONG, BY_SHORT)) {
    if (item.kind === "positional") throw new UsageError(`unexpected argument '${item.arg}'`);
    if (applyTailOption(o, item.opt, item.value ?? "")) return { ...o, help: true };
  }
  if (o.socket === "") throw new UsageError("tail needs --socket PATH");
  return o;
}
