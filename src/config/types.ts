// The one validated, immutable description of what the daemon should do. Built from the command
// line and config files by src/config/; consumed by src/daemon/ and the Worker.

export type MarkType = "inode" | "mount" | "filesystem";

export interface MarkSpec {
  readonly type: MarkType;
  /** Absolute path (realpath'd when it exists, trailing slash stripped; see behavior.md A1). */
  readonly path: string;
  /** Where it came from, for error messages: "--watch", "config:/etc/f.conf:3". */
  readonly source: string;
}

export type OutputFormat = "json" | "text";
export type BurstScope = "process" | "container";
export const BURST_SCOPES: readonly BurstScope[] = ["process", "container"];
/** How `--process-details` knows /proc described the event's process (README "Process details"). */
export type DetailsCheck = "pidfd" | "start-time";
export const DETAILS_CHECKS: readonly DetailsCheck[] = ["pidfd", "start-time"];

export type JobRole = "rootfs" | "workspace" | "export" | "cache";
export const JOB_ROLES: readonly JobRole[] = ["rootfs", "workspace", "export", "cache"];

export interface JobSpec {
  readonly id: string;
  /** Absolute, realpath'd when existing, trailing slash stripped. Missing roles are absent. */
  readonly roots: Readonly<Partial<Record<JobRole, string>>>;
}

export interface Config {
  readonly marks: readonly MarkSpec[];
  /** Canary patterns, absolutised per behavior.md A1/A2 (globs verbatim). */
  readonly canaries: readonly string[];
  readonly jobs: readonly JobSpec[];
  /** Exclusion globs (picomatch, `**`), as typed; validated at parse time (src/policy/exclude.ts). */
  readonly exclude: readonly string[];

  /** Absolute path of the JSONL output, or null for stdout ("-" or empty). */
  readonly output: string | null;
  /** Absolute socket path, or null. */
  readonly socket: string | null;
  /** Shell command run on alerts, or null. */
  readonly hook: string | null;
  /** Absolute pid-file path, or null. */
  readonly pidFile: string | null;
  /** Metrics/health endpoint address as given (validated: src/metrics/address.ts), or null. */
  readonly metrics: string | null;
  /** Format of the output file/stdout records: JSONL, or one human line per record. */
  readonly format: OutputFormat;

  readonly burstThreshold: number; // 0 = off
  readonly burstWindowMs: number; // > 0 (B7: 0 is rejected)
  readonly hookCooldownMs: number; // 0 = no cooldown (B7)
  readonly hookMaxConcurrent: number; // default 8 (B8)
  readonly hookTimeoutMs: number; // default 30000 (B8)
  readonly socketQueueBytes: number; // default 1 MiB (B9)
  readonly outputQueueBytes: number; // default 16 MiB (B10)

  readonly foreground: boolean;
  readonly perm: boolean;
  readonly denyOnAlert: boolean;
  /** FID reporting wanted (default true; `--no-fid` / `fid 0` turn it off). */
  readonly fid: boolean;
  /** `--process-details` / `process_details 1`: ppid, uid, cgroup, container_id, pod_uid in records (issue 12). */
  readonly processDetails: boolean;
  /**
   * `--perm`: every daemon thread asks for a long scheduler time slice, so openers it shares a CPU
   * with preempt its work between answers, and JSC's compiler threads run at nice 19 (default
   * true; `--no-perm-long-slice` / `perm_long_slice 0`; issue 11).
   */
  readonly permLongSlice: boolean;
  /** `--burst-scope` / `burst_scope`: one burst window per process (default) or per container. */
  readonly burstScope: BurstScope;
  /**
   * `--process-details-check` / `process_details_check`: `pidfd` (default; FAN_REPORT_PIDFD, race-free)
   * or `start-time` (no pidfd per event: cheaper, but a pid reused within a read is not detected).
   */
  readonly detailsCheck: DetailsCheck;
  /** 0 = INFO, >= 1 = DEBUG. */
  readonly verbose: number;

  /** Absolute paths of the config files loaded, in order (re-read on SIGHUP). */
  readonly configFiles: readonly string[];
}

/** A usage, flag or config error: printed as one line, exit status 2. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** What the command line asks for. */
export type CliRequest =
  | { readonly kind: "run"; readonly config: Config }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version"; readonly text: string };

/** --process-details, which burst_scope container implies (it needs each process's container). */
export function detailsOn(config: Config): boolean {
  return config.processDetails || config.burstScope === "container";
}
