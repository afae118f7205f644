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
}
