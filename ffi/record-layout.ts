// fanotify(7) record layouts (struct offsets) and the shapes ffi/records.ts fills: ParsedInfo,
// ParsedEvent, ParseStats. Re-exported by ffi/records.ts.

import { FAN_EVENT_METADATA_LEN, FAN_NOFD } from "./constants.ts";

// ---------------------------------------------------------------------------------------------------
// Struct layouts (little-endian; all offsets relative to the start of the struct)

/** struct fanotify_event_metadata (24 bytes). */
export const META_OFF_EVENT_LEN = 0; // __u32
export const META_OFF_VERS = 4; // __u8
export const META_OFF_RESERVED = 5; // __u8
export const META_OFF_METADATA_LEN = 6; // __u16
export const META_OFF_MASK_LO = 8; // __aligned_u64 mask, low half
export const META_OFF_MASK_HI = 12; // high half
export const META_OFF_FD = 16; // __s32
export const META_OFF_PID = 20; // __s32
export const META_LEN = FAN_EVENT_METADATA_LEN; // 24

/** struct fanotify_event_info_header (4 bytes). */
export const INFO_HDR_OFF_TYPE = 0; // __u8 info_type
export const INFO_HDR_OFF_PAD = 1; // __u8
export const INFO_HDR_OFF_LEN = 2; // __u16 len (whole info record, header included)
export const INFO_HDR_LEN = 4;

/** struct fanotify_event_info_fid: header, __kernel_fsid_t fsid (int val[2]), struct file_handle. */
export const FID_OFF_FSID0 = 4; // __s32 val[0]
export const FID_OFF_FSID1 = 8; // __s32 val[1]
export const FID_OFF_HANDLE = 12; // struct file_handle
/** Smallest FID-style info that can hold a file_handle header. */
export const FID_INFO_MIN_LEN = FID_OFF_HANDLE + 8; // 20

/** struct file_handle: __u32 handle_bytes, int handle_type, unsigned char f_handle[handle_bytes]. */
export const FH_OFF_HANDLE_BYTES = 0;
export const FH_OFF_HANDLE_TYPE = 4;
export const FH_OFF_F_HANDLE = 8;
export const FH_HDR_LEN = 8;

/** struct fanotify_event_info_pidfd: header, __s32 pidfd. */
export const PIDFD_OFF_PIDFD = 4;
export const PIDFD_INFO_MIN_LEN = 8;

/** struct fanotify_event_info_error: header, __s32 error, __u32 error_count. */
export const ERROR_OFF_ERROR = 4;
export const ERROR_OFF_ERROR_COUNT = 8;
export const ERROR_INFO_MIN_LEN = 12;

// ---------------------------------------------------------------------------------------------------
// Shapes

/** What a delivered record is. Only `Event` records carry trustworthy mask/pid/infos. */
export const RecordKind = {
  /** vers 3, metadata_len >= 24: fully parsed. */
  Event: 0,
  /** vers != 3: skipped by event_len; fd (if metadata_len >= 24) must still be closed/answered. */
  UnknownVersion: 1,
  /** vers 3 but metadata_len < 24: skipped by event_len; fd not trustworthy (reported as -1). */
  BadMetadata: 2,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/** Why a batch walk ended. */
export const StopReason = {
  /** Every byte up to `len` was consumed. */
  End: 0,
  /** Fewer than 24 bytes left, or a record's event_len runs past `len`. */
  Truncated: 1,
  /** A record's event_len is below 24 (cannot be skipped safely). */
  BadEventLen: 2,
} as const;
export type StopReason = (typeof StopReason)[keyof typeof StopReason];

/** One info record of an event. Entries are pooled and refilled; every field is written on each fill. */
export class ParsedInfo {
  /** info_type (FAN_EVENT_INFO_TYPE_*). */
  type = 0;
  /** Absolute offset of the info header in the buffer, and the header's len. */
  offset = 0;
  len = 0;
  // FID-style types (FID, DFID, DFID_NAME, OLD_DFID_NAME, NEW_DFID_NAME); 0 otherwise.
  /** fsid.val[0], fsid.val[1] as signed 32-bit ints; see fsidKey(). */
  fsid0 = 0;
  fsid1 = 0;
  /** Absolute offset of struct file_handle (its 8-byte header), and its total length (8 + handle_bytes). */
  handleOffset = 0;
  handleLen = 0;
  /** file_handle.handle_bytes and file_handle.handle_type. */
  handleBytes = 0;
  handleType = 0;
  // *_NAME types only; "" / 0 otherwise.
  /** Absolute offset and byte length (without the NUL) of the name, and the name as a latin1 byte string. */
  nameOffset = 0;
  nameLen = 0;
  name = "";
  /** PIDFD: the pidfd (may be FAN_NOPIDFD -1 / FAN_EPIDFD -2). -1 for other types. */
  pidfd = -1;
  /** ERROR: error (errno-style, signed) and error_count (unsigned). 0 for other types. */
  error = 0;
  errorCount = 0;
}

/** One record. The cursor reuses one instance; `infos` entries past `infoCount` are stale. */
export class ParsedEvent {
  kind: RecordKind = RecordKind.Event;
  /** Absolute offset of the record in the buffer. */
  offset = 0;
  eventLen = 0;
  vers = 0;
  metadataLen = 0;
  /** Low / high 32 bits of the 64-bit mask, unsigned. */
  maskLo = 0;
  maskHi = 0;
  /** Event fd (FAN_NOFD -1 in FID mode and for Q_OVERFLOW). Always close / answer it when >= 0. */
  fd = FAN_NOFD;
  pid = 0;
  /** Number of valid entries in `infos`. */
  infoCount = 0;
  infos: ParsedInfo[] = [];
  /** The info walk stopped early (len 0, len overrunning the event, or a metadata_len past event_len). */
  infoWalkAborted = false;
  /** Infos of this event skipped as malformed (too short for their type, handle overrun). */
  malformedInfos = 0;
  /** Infos of this event with an unknown type (skipped). */
  unknownInfos = 0;
}

/** Counters for one batch. Reused by the cursor; `resetStats` clears it. */
export interface ParseStats {
  /** Records delivered with kind Event. */
  events: number;
  /** Records delivered with kind UnknownVersion / BadMetadata. */
  unknownVersion: number;
  badMetadata: number;
  /** Info records skipped: unknown type / malformed; events whose info walk was aborted. */
  unknownInfos: number;
  malformedInfos: number;
  infoWalksAborted: number;
  /** Bytes consumed: the offset just past the last record walked (== len unless truncated). */
  consumed: number;
  /** True when the walk stopped before `len` (stop !== End). */
  truncated: boolean;
  stop: StopReason;
}

export function newStats(): ParseStats {
  return {
    events: 0,
    unknownVersion: 0,
    badMetadata: 0,
    unknownInfos: 0,
    malformedInfos: 0,
    infoWalksAborted: 0,
    consumed: 0,
    truncated: false,
    stop: StopReason.End,
  };
}

export function resetStats(s: ParseStats): void {
  s.events = 0;
  s.unknownVersion = 0;
  s.badMetadata = 0;
  s.unknownInfos = 0;
  s.malformedInfos = 0;
  s.infoWalksAborted = 0;
  s.consumed = 0;
  s.truncated = false;
  s.stop = StopReason.End;
}
