// Messages between the main thread and the reader Worker, and the layout of an event batch.
import type { OpenerChannel } from "./handle-opener.ts";
import type { MarkType } from "../config/types.ts";
import type { BurstDeny, PermissionRules } from "../policy/permission.ts";

export type ReaderMode = "fid" | "fd";

export interface ReaderMark {
  readonly type: MarkType;
  readonly path: string;
}

/** main → Worker: the first message. */
export interface StartMessage {
  readonly type: "start";
  /** Mode of the notification group (FID with names, or FD). */
  readonly mode: ReaderMode;
  /**
   * Permission mode: also open an FD-mode content group for OPEN_PERM/ACCESS_PERM on the same marks,
   * answered by the Worker from its PermissionPolicy (design.md "Permission events").
   */
  readonly perm: boolean;
  readonly permission: PermissionRules;
  /**
   * `--process-details` (or burst_scope container): ppid, uid, cgroup, container id and pod uid are
   * read per process and appended to event tails.
   */
  readonly details: boolean;
  /**
   * With details: the groups report pidfds (FAN_REPORT_PIDFD) and /proc is checked against them;
   * false (`process_details_check start-time`): the (pid, start time) check only.
   */
  readonly detailsPidfd: boolean;
  readonly marks: readonly ReaderMark[];
  /** Directories whose filesystems should resolve file handles (canary dirs), besides the marks. */
  readonly extraDirs: readonly string[];
  /** eventfd the main thread writes to wake the Worker. */
  readonly wakeFd: number;
  /** Int32Array over a SharedArrayBuffer, indexed by CTRL_*. */
  readonly control: SharedArrayBuffer;
  /** Float64Array over a SharedArrayBuffer, indexed like COUNTER_NAMES. */
  readonly counters: SharedArrayBuffer;
  /** Permission answer-time histogram (src/metrics/histogram.ts), when metrics are served. */
  readonly permHistogram: SharedArrayBuffer | null;
  /** Permission mode with FID reporting: file handles are opened by the opener Worker (handle-opener.ts). */
  readonly opener: OpenerChannel | null;
  /** Where the main thread hands processed batches' buffers back (batch-recycle.ts); transferred. */
  readonly recycle: MessagePort;
  /** The shared slots small batches go through (batch-recycle.ts BatchSlots). */
  readonly slots: SharedArrayBuffer;
}

export const CTRL_INFLIGHT = 0; // batches posted and not yet processed by the main thread
export const CTRL_STOP = 1; // set to 1 by the main thread to stop the Worker
export const CTRL_MESSAGES = 2; // control messages posted to the Worker and not yet handled
export const CTRL_BEAT = 3; // bumped by the Worker at every loop turn (health: the reader polls)
export const CTRL_STALL = 4; // test hook: while 1 the Worker blocks (Atomics.wait) instead of polling
export const CTRL_SLOTS = 5;
/** Flow control: the Worker stops reading while this many batches are unprocessed. */
export const MAX_INFLIGHT = 4;

/** Per-event integers in a batch: INTS_PER_EVENT consecutive Int32 slots. */
export const I_MASK_LO = 0;
export const I_MASK_HI = 1;
export const I_PID = 2;
export const I_FLAGS = 3;
/** The event's JSONL tail in the batch bytes: [start, end) (see batch-builder.ts). */
export const I_TAIL_START = 4;
export const I_TAIL_END = 5;
/** Raw (unescaped) bytes of a text field: offset at I_x, length at I_x + 1 (length 0: empty). */
export const I_PATH = 6;
export const I_NAME = 8;
export const I_COMM = 10;
export const I_EXE = 12;
/** The process's start time in clock ticks since boot (low, high 32 bits; 0 when unknown). */
export const I_START_LO = 14;
export const I_START_HI = 15;
/** The process-details fragment inside the tail (offset, length; length 0: none). */
export const I_DETAILS = 16;
/** The container id (64 hex) inside the fragment (offset, length; length 0: none). */
export const I_CONTAINER = 18;
export const INTS_PER_EVENT = 20;

export const F_IS_DIR = 1;
export const F_OVERFLOW = 2;
export const F_PERM = 4; // a permission event (answered by the Worker)
export const F_DENIED = 8; // answered FAN_DENY


/** The Worker mirrors its counters into a shared Float64Array in this order (live stats, B12). */
export const COUNTER_NAMES = [
  "eventsRead",
  "ownEvents",
  "overflows",
  "unknownRecords",
  "readErrors",
  "permAllowed",
  "permDenied",
  "permUnreported",
  "responseErrors",
  "pathsUnresolved",
  "outOfScope",
  "treeMarkFailures",
  "fdLost",
  "permKernelDenied",
  "unreadAtExit",
  "attributionMissed",
] as const satisfies ReadonlyArray<keyof ReaderCounters>;

export interface ReaderCounters {
  eventsRead: number; // every kernel record, overflow included
  ownEvents: number; // caused by the daemon itself, not reported (B4)
  overflows: number;
  unknownRecords: number; // skipped by length (unknown version, truncated)
  readErrors: number;
  permAllowed: number;
  permDenied: number;
  /** Permission events answered while the main thread was behind and the batch was full: answered, not reported. */
  permUnreported: number;
  responseErrors: number;
  /** FID records whose handle could not be turned into a path (`<fid-unresolved>`). */
  pathsUnresolved: number;
  /** Filesystem-mark records outside every mount tree that asked for them (dropped, B17). */
  outOfScope: number;
  /** New directories of an inode-marked tree the kernel refused to mark (e.g. max_user_marks). */
  treeMarkFailures: number;
  /** Events the kernel could not hand over: no fd could be created for them (EMFILE/ENFILE). */
  fdLost: number;
  /** Of those, permission events: the kernel denied them itself (fanotify(7)). */
  permKernelDenied: number;
  /** Events still in the kernel queue when the reader stopped (read, counted, not reported). */
  unreadAtExit: number;
  /** Events whose process was gone before its details were read (details omitted). */
  attributionMissed: number;
}

/** main → Worker on reload: new permission rules (the only time the Worker compiles patterns). */
export interface PermissionRulesMessage {
  readonly type: "permission-rules";
  readonly rules: PermissionRules;
}

/** main → Worker: pids a burst alert has put under a deny (B3), each with its deadline. */
export interface BurstDenyMessage {
  readonly type: "burst-deny";
  readonly add: readonly BurstDeny[];
}

/** main → Worker: change the marks (SIGHUP reload). Answered by a "marks-done" message. */
export interface MarksMessage {
  readonly type: "marks";
  readonly id: number;
  readonly add: readonly ReaderMark[];
  readonly remove: readonly ReaderMark[];
}

export type ControlMessage = StartMessage | PermissionRulesMessage | BurstDenyMessage | MarksMessage;

/**
 * The clock both threads use for policy deadlines. performance.now() has a per-thread origin, so
 * add the thread's timeOrigin to get values comparable across threads.
 */
export function sharedMonoNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Worker → main messages. */
export type WorkerMessage =
  | { readonly type: "ready"; readonly notes: readonly string[] }
  | { readonly type: "fatal"; readonly message: string; readonly exitCode: number }
  | { readonly type: "log"; readonly level: "warn" | "info" | "debug" | "error"; readonly message: string }
  | {
      readonly type: "batch";
      readonly count: number;
      /** INTS_PER_EVENT per event (I_*). */
      readonly ints: Int32Array;
      /** The events' JSONL tails and raw field bytes (batch-builder.ts). */
      readonly bytes: Uint8Array;
      /** sharedMonoNow() of the read() that brought the batch's first event (event lag). */
      readonly readAt: number;
    }
  | {
      /** A batch built in a shared slot (batch-recycle.ts BatchSlots); released by the main thread once processed. */
      readonly type: "slot-batch";
      readonly count: number;
      readonly slot: number;
      readonly intsLen: number;
      readonly bytesLen: number;
      readonly readAt: number;
    }
  | { readonly type: "stopped"; readonly counters: ReaderCounters }
  | {
      readonly type: "marks-done";
      readonly id: number;
      /** null when every added mark was placed (removal problems are only notes). */
      readonly error: string | null;
      readonly notes: readonly string[];
    };
