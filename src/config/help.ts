// The command-line option table (citty `args` metadata: the single source of truth for the option list,
// read by the strict parser in cli.ts and by the help text below) and the help text itself (B15: stdout).

import type { ArgsDef } from "citty";
import { CONFIG_KEYS } from "./file.ts";

/** The second line of every usage error. */
export const USAGE_HINT = "Try 'fanotifyd --help' for more information.";

/**
 * Every command-line option, in help order. Keys are the long option names; `alias` is the one-letter
 * short option; `type: "string"` options take an argument named by `valueHint`.
 */
export const mainArgs = {
  config: { type: "string", alias: "c", valueHint: "FILE", description: "load config from FILE; repeatable" },
  watch: {
    type: "string",
    alias: "w",
    valueHint: "PATH",
    description: "watch a directory inode, including child events; repeatable",
  },
  mount: { type: "string", valueHint: "PATH", description: "mark a whole mount; repeatable" },
  filesystem: { type: "string", valueHint: "PATH", description: "mark a whole filesystem; repeatable" },
  canary: { type: "string", valueHint: "PATTERN", description: "alert on matching canary path (glob); repeatable" },
  exclude: {
    type: "string",
    valueHint: "GLOB",
    description: "no record for paths matching GLOB (**); canaries still see them; repeatable",
  },
  output: { type: "string", alias: "o", valueHint: "PATH", description: 'write JSONL events to PATH; "-" means stdout' },
  format: { type: "string", valueHint: "FMT", description: "output records as json (default) or text (one readable line each)" },
  socket: { type: "string", valueHint: "PATH", description: "Unix socket for streaming subscribers" },
  metrics: {
    type: "string",
    valueHint: "ADDR",
    description: "serve /metrics, /healthz on ADDR: socket path, 127.0.0.1:PORT, [::1]:PORT",
  },
  hook: { type: "string", valueHint: "CMD", description: "run shell command when an alert fires" },
  "pid-file": { type: "string", valueHint: "PATH", description: "write daemon pid on start" },
  "burst-threshold": {
    type: "string",
    valueHint: "N",
    description: "alert after N mutating events per process/window; default 0 (off)",
  },
  "burst-window-ms": { type: "string", valueHint: "MS", description: "burst window, at least 1; default 1000" },
  "burst-scope": {
    type: "string",
    valueHint: "SCOPE",
    description: "burst windows per process (default) or container (implies --process-details)",
  },
  "hook-cooldown-ms": {
    type: "string",
    valueHint: "MS",
    description: "per-process alert cooldown, 0 = none; default 5000",
  },
  "hook-max-concurrent": { type: "string", valueHint: "N", description: "at most N hooks running at once; default 8" },
  "hook-timeout-ms": { type: "string", valueHint: "MS", description: "kill a hook running longer; default 30000" },
  foreground: { type: "boolean", alias: "f", description: "do not daemonize" },
  perm: { type: "boolean", description: "use fanotify permission events" },
  "deny-on-alert": { type: "boolean", description: "deny permission events that trigger an alert" },
  "no-fid": { type: "boolean", description: "use FD mode instead of FID mode" },
  "process-details": {
    type: "boolean",
    description: "add ppid, uid, cgroup, container_id, pod_uid to events and alerts",
  },
  "process-details-check": {
    type: "string",
    valueHint: "X",
    description: "pidfd (default: race-free) or start-time (cheaper; see README)",
  },
  "no-perm-long-slice": {
    type: "boolean",
    description: "--perm: leave thread scheduling as it is (see README)",
  },
  verbose: { type: "boolean", alias: "v", description: "increase log verbosity (debug)" },
  help: { type: "boolean", alias: "h", description: "show this help" },
  version: { type: "boolean", description: "show version" },
} as const satisfies ArgsDef;

export type OptionName = keyof typeof mainArgs;

/** The citty fields an option table entry (fanotifyd's or tail's) uses. */
interface ArgDef {
  readonly type: "string" | "boolean";
  readonly alias?: string;
  readonly valueHint?: string;
  readonly description: string;
}

/** An option's table entry with the optional fields widened, for generic code. */
export interface OptionEntry<N extends string> {
  readonly name: N;
  readonly type: "string" | "boolean";
  readonly short: string | undefined;
  readonly valueHint: string | undefined;
  readonly description: string;
}

export type OptionInfo = OptionEntry<OptionName>;

/** The entries of an option table, in order. */
export function optionEntries<N extends string>(table: Readonly<Record<N, ArgDef>>): readonly OptionEntry<N>[] {
  return (Object.keys(table) as N[]).map((name) => {
    const def: ArgDef = table[name];
    return { name, type: def.type, short: def.alias, valueHint: def.valueHint, description: def.description };
  });
}

/** Entries by long name and by short letter, for getopt. */
export function optionIndex<N extends string>(
  entries: readonly OptionEntry<N>[],
): { readonly byLong: ReadonlyMap<string, OptionEntry<N>>; readonly byShort: ReadonlyMap<string, OptionEntry<N>> } {
  return {
    byLong: new Map(entries.map((o) => [o.name, o])),
    byShort: new Map(entries.filter((o) => o.short !== undefined).map((o) => [o.short as string, o])),
  };
}

export function optionList(): readonly OptionInfo[] {
  return optionEntries(mainArgs);
}

const CONFIG_ONLY_ENTRIES: readonly (readonly [string, string])[] = [
  ["(config) job ID", "start or select job block ID"],
  ["(config) rootfs PATH", "set the current job's rootfs; likewise workspace, export, cache"],
  ["(config) job_<role> ID PATH", "set a role of job ID: job_rootfs, job_workspace, job_export, job_cache"],
];

function wrap(text: string, width: number, indent = ""): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = indent + word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(line);
  return lines.join("\n");
}

/** The `--help` text (ends with a newline). */
export function renderHelp(argv0: string): string {
  const rows: [string, string][] = optionList().map((o): [string, string] => {
    const flags = `${o.short !== undefined ? `-${o.short}, ` : "    "}--${o.name}`;
    return [o.type === "string" && o.valueHint !== undefined ? `${flags} ${o.valueHint}` : flags, o.description];
  });
  for (const [left, right] of CONFIG_ONLY_ENTRIES) rows.push([left, right]);
  const optionWidth = Math.max(...rows.map(([l]) => l.length));

  const out: string[] = [`Usage: ${argv0} [OPTIONS]`, ""];
  for (const [left, right] of rows) {
    out.push(`  ${left.padEnd(optionWidth)}  ${right}`);
  }
  out.push("");

  const keys = CONFIG_KEYS.filter((k) => k.aliasOf === undefined).map((k) => k.key);
  const booleans = CONFIG_KEYS.filter((k) => k.def.kind === "boolean").map((k) => k.key);
  const paragraph =
    "Config files hold one 'key value' pair per line; lines starting with # are comments. " +
    `Keys: ${keys.join(", ")}. ` +
    `The boolean keys ${booleans.slice(0, -1).join(", ")} and ${booleans[booleans.length - 1]} take only 0 or 1. ` +
    "Command-line values override config-file values; marks, canaries and jobs accumulate from every source.";
  out.push(wrap(paragraph, 100));
  out.push("", `To print a running daemon's stream: ${argv0} tail --socket PATH [OPTIONS] (see ${argv0} tail --help).`);
  out.push(`To validate a configuration and print the plan for each mark: ${argv0} check [OPTIONS].`);
  return `${out.join("\n")}\n`;
}
