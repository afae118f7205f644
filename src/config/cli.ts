// Strict command-line parsing (behavior.md A1 as amended by B13, B15) into one frozen Config.
//
// getopt-like: `--opt value` and `--opt=value`, bundled short options (`-fv`, `-w/tmp`), `--` ends the
// options, no unique-prefix abbreviations, leftover positionals are an error. The option list comes from
// `mainArgs` (citty metadata), shared with the help text. Options are applied left to right (so a bad
// `-c` file before `--help` still fails), but scalars set on the command line override config-file
// values whatever their order (B13). Deterministic: SIGHUP reload calls it again with the same argv/cwd.

import { defineCommand } from "citty";
import { BURST_SCOPES, DETAILS_CHECKS, UsageError, type CliRequest, type Config, type JobRole, type JobSpec, type MarkSpec, type MarkType } from "./types.ts";
import { loadConfigFile, parseNumberSetting, type BooleanSetting, type NumberSetting, type ScalarSettings } from "./file.ts";
import { resolveCanaryPattern, resolveFilePath, resolveMarkPath } from "./paths.ts";
import { getopt } from "./getopt.ts";
import {
  DEFAULT_BURST_THRESHOLD,
  DEFAULT_BURST_WINDOW_MS,
  DEFAULT_HOOK_COOLDOWN_MS,
  DEFAULT_HOOK_MAX_CONCURRENT,
  DEFAULT_HOOK_TIMEOUT_MS,
  DEFAULT_OUTPUT_QUEUE_BYTES,
  DEFAULT_SOCKET_QUEUE_BYTES,
} from "../limits.ts";
import { checkExcludePattern, checkFormat, checkMetricsAddress } from "./ops-settings.ts";
import { mainArgs, optionIndex, optionList, renderHelp, type OptionInfo, type OptionName } from "./help.ts";

/** The fanotifyd command (citty definition); subcommands (e.g. `tail`) can be added to it later. */
export const mainCommand = defineCommand({
  meta: { name: "fanotifyd", description: "Linux fanotify event and policy daemon" },
  args: mainArgs,
});

export interface ParseOptions {
  /** Directory relative paths are resolved against (the start directory). */
  readonly cwd: string;
  /** Program name for the help text; default "fanotifyd". */
  readonly argv0?: string;
  /** Version string for `--version`. */
  readonly version: string;
}

type ScalarKey = Exclude<keyof Config, "marks" | "canaries" | "exclude" | "jobs" | "configFiles">;
/** Every scalar field of Config, mutable while a Config is being assembled. */
type Scalars = { -readonly [K in ScalarKey]: Config[K] };

export const DEFAULTS: Readonly<Scalars> = Object.freeze({
  output: null,
  socket: null,
  hook: null,
  pidFile: null,
  metrics: null,
  format: "json",
  burstThreshold: DEFAULT_BURST_THRESHOLD,
  burstWindowMs: DEFAULT_BURST_WINDOW_MS,
  hookCooldownMs: DEFAULT_HOOK_COOLDOWN_MS,
  hookMaxConcurrent: DEFAULT_HOOK_MAX_CONCURRENT,
  hookTimeoutMs: DEFAULT_HOOK_TIMEOUT_MS,
  socketQueueBytes: DEFAULT_SOCKET_QUEUE_BYTES,
  outputQueueBytes: DEFAULT_OUTPUT_QUEUE_BYTES,
  foreground: false,
  perm: false,
  denyOnAlert: false,
  fid: true,
  processDetails: false,
  permLongSlice: true,
  burstScope: "process",
  detailsCheck: "pidfd",
  verbose: 0,
});

const NUMBER_OPTIONS: Readonly<Partial<Record<OptionName, NumberSetting>>> = {
  "burst-threshold": "burstThreshold",
  "burst-window-ms": "burstWindowMs",
  "hook-cooldown-ms": "hookCooldownMs",
  "hook-max-concurrent": "hookMaxConcurrent",
  "hook-timeout-ms": "hookTimeoutMs",
};

const MARK_OPTIONS: Readonly<Partial<Record<OptionName, MarkType>>> = {
  watch: "inode",
  mount: "mount",
  filesystem: "filesystem",
};

const OPTIONS = optionList();
const { byLong: BY_LONG, byShort: BY_SHORT } = optionIndex(OPTIONS);

/** Accumulates what the sources say, in order of appearance. */
class Builder {
  readonly marks: MarkSpec[] = [];
  readonly canaries: string[] = [];
  readonly exclude: string[] = [];
  readonly jobs = new Map<string, Partial<Record<JobRole, string>>>();
  readonly configFiles: string[] = [];
  /** Scalars from config files (a later file overrides an earlier one). */
  readonly fileSettings: ScalarSettings = {};
  /** Scalars from the command line (override every file). */
  readonly cliSettings: ScalarSettings = {};
  verboseCount = 0;

  addJobs(jobs: readonly JobSpec[]): void {
    for (const job of jobs) {
      const roots = this.jobs.get(job.id);
      if (roots === undefined) this.jobs.set(job.id, { ...job.roots });
      else Object.assign(roots, job.roots);
    }
  }

  build(): Config {
    const merged: Scalars = { ...DEFAULTS, ...this.fileSettings, ...this.cliSettings };
    if (this.verboseCount > 0) merged.verbose = this.verboseCount;
    const jobs: JobSpec[] = [...this.jobs].map(([id, roots]) =>
      Object.freeze({ id, roots: Object.freeze({ ...roots }) }),
    );
    return Object.freeze({
      ...merged,
      marks: Object.freeze(this.marks.map((m) => Object.freeze({ ...m }))),
      canaries: Object.freeze([...this.canaries]),
      exclude: Object.freeze([...this.exclude]),
      jobs: Object.freeze(jobs),
      configFiles: Object.freeze([...this.configFiles]),
    });
  }
}

type Step = "continue" | "help" | "version";

/** Switches: the setting each sets, and to what. */
const SWITCH_OPTIONS: Readonly<Partial<Record<OptionName, readonly [BooleanSetting, boolean]>>> = {
  foreground: ["foreground", true],
  perm: ["perm", true],
  "deny-on-alert": ["denyOnAlert", true],
  "no-fid": ["fid", false],
  "process-details": ["processDetails", true],
  "no-perm-long-slice": ["permLongSlice", false],
};

/** Options with a value that set one scalar (validated); false when `name` is not one of them. */
function applyValueOption(b: Builder, name: OptionName, arg: string, cwd: string): boolean {
  const flag = `--${name}`;
  const s = b.cliSettings;
  switch (name) {
    case "metrics": {
      if (arg === "") {
        s.metrics = null;
        return true;
      }
      const r = checkMetricsAddress(arg, cwd);
      if (!r.ok) throw new UsageError(r.problem);
      s.metrics = r.value;
      return true;
    }
    case "format": {
      const r = checkFormat(arg);
      if (!r.ok) throw new UsageError(`invalid ${flag} value '${arg}' (want json or text)`);
      s.format = r.value;
      return true;
    }
    case "output":
      s.output = arg === "" || arg === "-" ? null : resolveFilePath(arg, cwd);
      return true;
    case "socket":
      // An empty value unsets a socket a config file asked for.
      s.socket = arg === "" ? null : resolveFilePath(arg, cwd);
      return true;
    case "pid-file":
      s.pidFile = arg === "" ? null : resolveFilePath(arg, cwd);
      return true;
    case "hook":
      s.hook = arg === "" ? null : arg;
      return true;
    case "burst-scope": {
      const scope = BURST_SCOPES.find((x) => x === arg);
      if (scope === undefined) throw new UsageError(`invalid ${flag} value '${arg}' (want process or container)`);
      s.burstScope = scope;
      return true;
    }
    case "process-details-check": {
      const check = DETAILS_CHECKS.find((x) => x === arg);
      if (check === undefined) throw new UsageError(`invalid ${flag} value '${arg}' (want pidfd or start-time)`);
      s.detailsCheck = check;
      return true;
    }
    default:
      return false;
  }
}

/** Marks, numbers and switches, by table; false when `name` is in none of them. */
function applyTableOption(b: Builder, name: OptionName, arg: string, cwd: string): boolean {
  const flag = `--${name}`;
  const markType = MARK_OPTIONS[name];
  if (markType !== undefined) {
    const r = resolveMarkPath(arg, cwd);
    if (!r.ok) throw new UsageError(`bad path '${arg}' for ${flag}: ${r.reason}`);
    b.marks.push({ type: markType, path: r.path, source: flag });
    return true;
  }
  const numberSetting = NUMBER_OPTIONS[name];
  if (numberSetting !== undefined) {
    const r = parseNumberSetting(numberSetting, arg);
    if (!r.ok) throw new UsageError(`invalid ${flag} value '${arg}'${r.detail}`);
    b.cliSettings[numberSetting] = r.value;
    return true;
  }
  const sw = SWITCH_OPTIONS[name];
  if (sw !== undefined) {
    b.cliSettings[sw[0]] = sw[1];
    return true;
  }
  return false;
}

function applyOption(b: Builder, opt: OptionInfo, value: string | undefined, cwd: string): Step {
  const flag = `--${opt.name}`;
  const arg = value ?? "";
  const name = opt.name;
  if (applyTableOption(b, name, arg, cwd) || applyValueOption(b, name, arg, cwd)) return "continue";
  switch (name) {
    case "config": {
      const contents = loadConfigFile(arg, cwd);
      b.configFiles.push(contents.absPath);
      b.marks.push(...contents.marks);
      b.canaries.push(...contents.canaries);
      b.exclude.push(...contents.exclude);
      b.addJobs(contents.jobs);
      Object.assign(b.fileSettings, contents.settings);
      return "continue";
    }
    case "canary": {
      const r = resolveCanaryPattern(arg, cwd);
      if (!r.ok) throw new UsageError(`bad pattern '${arg}' for ${flag}: ${r.reason}`);
      b.canaries.push(r.path);
      return "continue";
    }
    case "exclude": {
      const problem = checkExcludePattern(arg);
      if (problem !== null) throw new UsageError(problem);
      b.exclude.push(arg);
      return "continue";
    }
    case "verbose":
      b.verboseCount++;
      return "continue";
    case "help":
      return "help";
    case "version":
      return "version";
    default:
      throw new Error(`option table out of sync for --${name}`); // every other option is handled above
  }
}

/**
 * Parse the command line (`argv` without the program name). Throws UsageError with a one-line message
 * (no trailing newline, no "Try --help" hint) on bad input.
 */
export function parseCommandLine(argv: readonly string[], opts: ParseOptions): CliRequest {
  const b = new Builder();
  const positionals: string[] = [];
  const cwd = opts.cwd;

  const finish = (step: Step): CliRequest | null => {
    if (step === "help") return { kind: "help", text: renderHelp(opts.argv0 ?? "fanotifyd") };
    if (step === "version") return { kind: "version", text: `fanotifyd ${opts.version}` };
    return null;
  };

  for (const item of getopt(argv, BY_LONG, BY_SHORT)) {
    if (item.kind === "positional") {
      positionals.push(item.arg);
      continue;
    }
    const done = finish(applyOption(b, item.opt, item.value, cwd));
    if (done !== null) return done;
  }

  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (b.marks.length === 0) throw new UsageError("no watch paths configured. Use --watch or a config file.");
  return { kind: "run", config: b.build() };
}
