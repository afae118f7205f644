// The in-memory shapes of what the daemon writes (behavior.md A7). Strings are byte strings
// (src/bytes.ts); an empty comm/exe/name means "unknown" and the field is omitted from the record.

export type Decision = "observe" | "allow" | "deny";

/** One kernel event, resolved. The main thread reuses one instance per batch (hot path). */
export interface FsEvent {
  /** Low and high 32 bits of the raw 64-bit fanotify mask (unsigned). */
  maskLo: number;
  maskHi: number;
  pid: number;
  comm: string;
  exe: string;
  path: string;
  name: string;
  isDir: boolean;
  decision: Decision;
  /** Policy state key: pid and process start time (src/policy/process-key.ts); absent = the pid. */
  processKey?: number;
  /** Container id (64 hex) of the process, "" / absent when none or unknown (--process-details). */
  containerId?: string;
  /** --process-details: the process's details; null when they could not be read (process gone). */
  details?: ProcessDetailsRecord | null;
}

/** `--process-details` fields (issue 12), written after the seed's fields of events and alerts. */
export interface ProcessDetailsRecord {
  readonly ppid: number;
  /** Effective uid. */
  readonly uid: number;
  readonly cgroup: string;
  readonly container_id: string | null;
  readonly pod_uid: string | null;
}

export type AlertKind = "canary" | "burst" | "overflow";

export interface AlertRecord {
  kind: AlertKind;
  pid: number;
  comm: string; // "" = omitted
  exe: string; // "" = omitted
  path: string; // "" = omitted
  reason: string; // "" = omitted
  /** Burst alerts only. */
  count?: number;
  windowMs?: number;
  /** --process-details: the details of the alert's process (absent or null: none written). */
  details?: ProcessDetailsRecord | null;
  /** burst_scope container: the container whose processes made the burst (written as container_id). */
  containerId?: string;
}
