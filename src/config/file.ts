// Config file parsing (behavior.md A2, overridden by B7, B8, B9, B10, B13).
//
// Line oriented: each line is trimmed; empty lines and lines starting with `#` are skipped (no inline
// comments); the key is the first run of non-whitespace, the value the rest of the line, trimmed. Every
// error is `config:FILE:N: <what is wrong>` (FILE as given) and thrown as a UsageError.

import { readTrustedConfig, UntrustedConfigError } from "./trust.ts";
import { BURST_SCOPES, DETAILS_CHECKS, JOB_ROLES, UsageError, type Config, type JobRole, type JobSpec, type MarkSpec, type MarkType } from "./types.ts";
import { describeFsError } from "../errors.ts";
import { resolveCanaryPattern, resolveFilePath, resolveMarkPath } from "./paths.ts";
import { checkExcludePattern, checkFormat, checkMetricsAddress } from "./ops-settings.ts";

// ---------------------------------------------------------------------------------------------------
// Scalar settings shared by the command line and config files

export type StringSetting = "output" | "socket" | "hook" | "pidFile" | "metrics";
export type NumberSetting =
  | "burstThreshold"
  | "burstWindowMs"
  | "hookCooldownMs"
  | "hookMaxConcurrent"
  | "hookTimeoutMs"
  | "socketQueueBytes"
  | "outputQueueBytes"
  | "verbose";
export type BooleanSetting = "foreground" | "perm" | "denyOnAlert" | "fid" | "processDetails" | "permLongSlice";
export type ChoiceSetting = "burstScope" | "detailsCheck";
export type ScalarSetting = StringSetting | NumberSetting | BooleanSetting | ChoiceSetting | "format";

/** The values a choice setting accepts. */
export const CHOICES: Readonly<Record<ChoiceSetting, readonly string[]>> = {
  burstScope: BURST_SCOPES,
  detailsCheck: DETAILS_CHECKS,
};

/** Scalars set by one source (a config file or the command line); absent = not set there. */
export type ScalarSettings = { -readonly [K in ScalarSetting]?: Config[K] };

/** Smallest accepted value per numeric setting (B7: burst_window_ms 0 rejected; B8: ≥ 1 hook). */
export const NUMBER_MIN: Readonly<Record<NumberSetting, number>> = {
  burstThreshold: 0,
  burstWindowMs: 1,
  hookCooldownMs: 0,
  hookMaxConcurrent: 1,
  hookTimeoutMs: 1,
  socketQueueBytes: 1,
  outputQueueBytes: 1,
  verbose: 0,
};

const U32_MAX = 4294967295;

/** Strict u32 (A1): decimal digits only, first char a digit, ≤ 4294967295. Null when invalid. */
export function parseU32(text: string): number | null {
  if (!/^[0-9]+$/.test(text)) return null;
  const n = Number(text);
  return n <= U32_MAX ? n : null;
}

/**
 * A numeric setting's value, or the reason it is invalid (suffix for the caller's `invalid X value 'v'`
 * message: "" for a syntax error, " (must be at least N)" for a value below the minimum).
 */
export function parseNumberSetting(
  setting: NumberSetting,
  text: string,
): { readonly ok: true; readonly value: number } | { readonly ok: false; readonly detail: string } {
  const n = parseU32(text);
  if (n === null) return { ok: false, detail: "" };
  const min = NUMBER_MIN[setting];
  if (n < min) return { ok: false, detail: ` (must be at least ${min})` };
  return { ok: true, value: n };
}

// ---------------------------------------------------------------------------------------------------
// The config key table (also drives the help text)

export type ConfigKeyKind =
  | { readonly kind: "mark"; readonly type: MarkType }
  | { readonly kind: "canary" }
  | { readonly kind: "exclude" }
  | { readonly kind: "metrics"; readonly setting: "metrics" }
  | { readonly kind: "format"; readonly setting: "format" }
  | { readonly kind: "path"; readonly setting: "output" | "socket" | "pidFile" }
  | { readonly kind: "command"; readonly setting: "hook" }
  | { readonly kind: "number"; readonly setting: NumberSetting }
  | { readonly kind: "boolean"; readonly setting: BooleanSetting }
  | { readonly kind: "choice"; readonly setting: ChoiceSetting }
  | { readonly kind: "job" }
  | { readonly kind: "role"; readonly role: JobRole }
  | { readonly kind: "jobRole"; readonly role: JobRole };

/** The kinds of key that set one scalar. */
type ScalarKeyKind = Extract<ConfigKeyKind, { readonly setting: unknown }>;

export interface ConfigKeyDef {
  readonly key: string;
  readonly def: ConfigKeyKind;
  /** Set when this key is an alias of another (duplicate detection treats them as one). */
  readonly aliasOf?: string;
}

export const CONFIG_KEYS: readonly ConfigKeyDef[] = [
  { key: "watch", def: { kind: "mark", type: "inode" } },
  { key: "mount", def: { kind: "mark", type: "mount" } },
  { key: "filesystem", def: { kind: "mark", type: "filesystem" } },
  { key: "canary", def: { kind: "canary" } },
  { key: "exclude", def: { kind: "exclude" } },
  { key: "output", def: { kind: "path", setting: "output" } },
  { key: "out", def: { kind: "path", setting: "output" }, aliasOf: "output" },
  { key: "format", def: { kind: "format", setting: "format" } },
  { key: "socket", def: { kind: "path", setting: "socket" } },
  { key: "metrics", def: { kind: "metrics", setting: "metrics" } },
  { key: "hook", def: { kind: "command", setting: "hook" } },
  { key: "pid_file", def: { kind: "path", setting: "pidFile" } },
  { key: "pidfile", def: { kind: "path", setting: "pidFile" }, aliasOf: "pid_file" },
  { key: "burst_threshold", def: { kind: "number", setting: "burstThreshold" } },
  { key: "burst_window_ms", def: { kind: "number", setting: "burstWindowMs" } },
  { key: "hook_cooldown_ms", def: { kind: "number", setting: "hookCooldownMs" } },
  { key: "hook_max_concurrent", def: { kind: "number", setting: "hookMaxConcurrent" } },
  { key: "hook_timeout_ms", def: { kind: "number", setting: "hookTimeoutMs" } },
  { key: "socket_queue_bytes", def: { kind: "number", setting: "socketQueueBytes" } },
  { key: "output_queue_bytes", def: { kind: "number", setting: "outputQueueBytes" } },
  { key: "foreground", def: { kind: "boolean", setting: "foreground" } },
  { key: "perm", def: { kind: "boolean", setting: "perm" } },
  { key: "deny_on_alert", def: { kind: "boolean", setting: "denyOnAlert" } },
  { key: "fid", def: { kind: "boolean", setting: "fid" } },
  { key: "process_details", def: { kind: "boolean", setting: "processDetails" } },
  { key: "perm_long_slice", def: { kind: "boolean", setting: "permLongSlice" } },
  { key: "burst_scope", def: { kind: "choice", setting: "burstScope" } },
  { key: "process_details_check", def: { kind: "choice", setting: "detailsCheck" } },
  { key: "verbose", def: { kind: "number", setting: "verbose" } },
  { key: "job", def: { kind: "job" } },
  ...JOB_ROLES.map((role): ConfigKeyDef => ({ key: role, def: { kind: "role", role } })),
  ...JOB_ROLES.map((role): ConfigKeyDef => ({ key: `job_${role}`, def: { kind: "jobRole", role } })),
];

const KEY_INDEX: ReadonlyMap<string, ConfigKeyDef> = new Map<string, ConfigKeyDef>(CONFIG_KEYS.map((k) => [k.key, k]));

// ---------------------------------------------------------------------------------------------------
// Parsing

export interface ConfigFileContents {
  /** The path as given (used in messages and mark sources). */
  readonly file: string;
  /** Absolute path (against the start cwd). */
  readonly absPath: string;
  readonly marks: readonly MarkSpec[];
  readonly canaries: readonly string[];
  readonly exclude: readonly string[];
  /** Jobs mentioned in this file, in order of first mention, roles already merged. */
  readonly jobs: readonly JobSpec[];
  readonly settings: Readonly<ScalarSettings>;
}

// ASCII isspace(3), as the reference trims (not JS's Unicode-aware trim()).
const LEADING_WS = /^[ \t\n\v\f\r]+/;
const TRAILING_WS = /[ \t\n\v\f\r]+$/;
const KEY_VALUE = /^([^ \t\n\v\f\r]+)(?:[ \t\n\v\f\r]+(.*))?$/s;

function trimAscii(s: string): string {
  return s.replace(LEADING_WS, "").replace(TRAILING_WS, "");
}

/** Read and parse one config file. Relative paths inside it resolve against `cwd` (the start cwd). */
export function loadConfigFile(file: string, cwd: string): ConfigFileContents {
  const absPath = resolveFilePath(file, cwd);
  let text: string;
  try {
    if (file === "") throw Object.assign(new Error("empty path"), { code: "ENOENT" });
    text = readTrustedConfig(absPath, file);
  } catch (err) {
    if (err instanceof UntrustedConfigError) throw new UsageError(`config:${file}: ${err.message}`);
    throw new UsageError(`config:${file}: cannot read: ${describeFsError(err)}`);
  }
  return parseConfigText(text, file, cwd);
}

/** Where a config line is, and how to fail naming it. */
interface LineContext {
  readonly key: string;
  readonly value: string;
  readonly entry: ConfigKeyDef;
  readonly lineNo: number;
  readonly where: string;
  readonly error: (what: string) => UsageError;
}

/** The state of one config file's parse: what its lines have added so far. */
class ConfigTextParser {
  readonly marks: MarkSpec[] = [];
  readonly canaries: string[] = [];
  readonly exclude: string[] = [];
  readonly jobs = new Map<string, Partial<Record<JobRole, string>>>();
  readonly settings: ScalarSettings = {};
  /** Scalar key (canonical name) → first line and spelling. */
  private readonly seen = new Map<string, { readonly line: number; readonly key: string }>();
  private currentJob: string | null = null;

  constructor(private readonly cwd: string) {}

  private checkDuplicate(c: LineContext): void {
    const canonical = c.entry.aliasOf ?? c.key;
    const first = this.seen.get(canonical);
    if (first !== undefined) {
      const spelled = first.key === c.key ? "" : ` as '${first.key}'`;
      throw c.error(`duplicate key '${c.key}' (first set on line ${first.line}${spelled})`);
    }
    this.seen.set(canonical, { line: c.lineNo, key: c.key });
  }

  private markPath(c: LineContext, what: string, arg: string): string {
    const r = resolveMarkPath(arg, this.cwd);
    if (!r.ok) throw c.error(`bad path '${arg}' for ${what}: ${r.reason}`);
    return r.path;
  }

  private setRole(c: LineContext, id: string, role: JobRole, arg: string): void {
    const p = this.markPath(c, c.key, arg);
    let roots = this.jobs.get(id);
    if (roots === undefined) {
      roots = {};
      this.jobs.set(id, roots);
    }
    roots[role] = p;
  }

  /** One `key value` line. */
  apply(c: LineContext): void {
    const { def } = c.entry;
    const { key, value } = c;
    switch (def.kind) {
      case "mark":
        this.marks.push({ type: def.type, path: this.markPath(c, key, value), source: c.where });
        return;
      case "canary": {
        const r = resolveCanaryPattern(value, this.cwd);
        if (!r.ok) throw c.error(`bad pattern '${value}' for canary: ${r.reason}`);
        this.canaries.push(r.path);
        return;
      }
      case "exclude": {
        const problem = checkExcludePattern(value);
        if (problem !== null) throw c.error(problem);
        this.exclude.push(value);
        return;
      }
      case "job":
        this.currentJob = value;
        if (!this.jobs.has(value)) this.jobs.set(value, {});
        return;
      case "role":
        if (this.currentJob === null) throw c.error(`${key} requires a preceding job`);
        this.setRole(c, this.currentJob, def.role, value);
        return;
      case "jobRole": {
        const jm = KEY_VALUE.exec(value);
        const id = jm?.[1];
        const arg = trimAscii(jm?.[2] ?? "");
        if (id === undefined || arg === "") throw c.error(`malformed ${key} entry (want: ${key} <job-id> <path>)`);
        this.setRole(c, id, def.role, arg);
        return;
      }
      default:
        this.checkDuplicate(c);
        this.applyScalar(c, def);
    }
  }

  /** A scalar setting (each may be set once per file). */
  private applyScalar(c: LineContext, def: ScalarKeyKind): void {
    const { key, value } = c;
    const settings = this.settings;
    switch (def.kind) {
      case "metrics": {
        const r = checkMetricsAddress(value, this.cwd);
        if (!r.ok) throw c.error(r.problem);
        settings[def.setting] = r.value;
        return;
      }
      case "format": {
        const r = checkFormat(value);
        if (!r.ok) throw c.error(`invalid ${key} value '${value}' (want json or text)`);
        settings[def.setting] = r.value;
        return;
      }
      case "path":
        settings[def.setting] = def.setting === "output" && value === "-" ? null : resolveFilePath(value, this.cwd);
        return;
      case "command":
        settings[def.setting] = value;
        return;
      case "number": {
        const r = parseNumberSetting(def.setting, value);
        if (!r.ok) throw c.error(`invalid ${key} value '${value}'${r.detail}`);
        settings[def.setting] = r.value;
        return;
      }
      case "boolean":
        if (value !== "0" && value !== "1") throw c.error(`invalid ${key} value '${value}' (want 0 or 1)`);
        settings[def.setting] = value === "1";
        return;
      case "choice": {
        const allowed = CHOICES[def.setting];
        if (!allowed.includes(value)) throw c.error(`invalid ${key} value '${value}' (want ${allowed.join(" or ")})`);
        if (def.setting === "burstScope") settings.burstScope = BURST_SCOPES.find((x) => x === value);
        else settings.detailsCheck = DETAILS_CHECKS.find((x) => x === value);
        return;
      }
      default: {
        const unreachable: never = def;
        throw new Error(`unhandled config key kind ${String(unreachable)}`);
      }
    }
  }
}

/** Parse config text; `file` is only used for messages, mark sources and `absPath`. */
export function parseConfigText(text: string, file: string, cwd: string): ConfigFileContents {
  const parser = new ConfigTextParser(cwd);
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  for (let index = 0; index < lines.length; index++) {
    const lineNo = index + 1;
    const where = `config:${file}:${lineNo}`;
    const error = (what: string): UsageError => new UsageError(`${where}: ${what}`);
    const line = trimAscii(lines[index]);
    if (line === "" || line.startsWith("#")) continue;
    const m = KEY_VALUE.exec(line);
    if (m === null) continue; // unreachable: a trimmed non-empty line always has a key
    const key = m[1];
    const value = trimAscii(m[2] ?? "");
    const entry = KEY_INDEX.get(key);
    if (entry === undefined) throw error(`unknown key '${key}'`);
    if (value === "") throw error(`missing value for '${key}'`);
    parser.apply({ key, value, entry, lineNo, where, error });
  }
  return {
    file,
    absPath: resolveFilePath(file, cwd),
    marks: parser.marks,
    canaries: parser.canaries,
    exclude: parser.exclude,
    jobs: [...parser.jobs].map(([id, roots]) => ({ id, roots: { ...roots } })),
    settings: parser.settings,
  };
}
