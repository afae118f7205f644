// Pure parser for the record buffers read(2) returns on a fanotify fd (fanotify(7)). No syscalls, no
// bun:ffi: unit tests feed it buffers built byte by byte.
//
// Hot path (reader Worker): the Worker reads a batch into one reused buffer and walks it with a
// RecordCursor (test/support/records.ts has a callback walk for tests). Per record the cursor fills ONE reused ParsedEvent whose
// info entries come from a pool that only grows; nothing is copied out of the buffer except *_NAME
// names (decoded as latin1 byte strings, src/bytes.ts). File handles are reported by location
// (handleOffset/handleLen, absolute offsets in the buffer) so the caller can pass
// `ptr(buf, info.handleOffset)` to open_by_handle_at without copying.
//
// Robustness (behavior.md Part C): nothing here throws on kernel data.
// - unknown info types are skipped by their header len;
// - an info whose len is 0 or overruns its event ends that event's info walk (event still delivered,
//   `infoWalkAborted` set); a FID-style info whose handle overruns the info is skipped as malformed;
// - a record whose metadata version is not 3 (or whose metadata_len < 24) is skipped by its event_len but
//   still delivered with `kind !== RecordKind.Event` and its fd (when metadata_len >= 24) so the caller
//   can close / answer it;
// - event_len < 24 or a record overrunning the buffer stops the batch (`truncated`, `consumed`).
//
// Fields stay valid only until the next `next()` / the callback returns, and only while the buffer is
// not overwritten. All offsets are absolute byte offsets into the buffer passed in.

import {
  FAN_EVENT_INFO_TYPE_DFID,
  FAN_EVENT_INFO_TYPE_DFID_NAME,
  FAN_EVENT_INFO_TYPE_ERROR,
  FAN_EVENT_INFO_TYPE_FID,
  FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
  FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
  FAN_EVENT_INFO_TYPE_PIDFD,
  FAN_NOFD,
  FANOTIFY_METADATA_VERSION,
} from "./constants.ts";
export * from "./record-layout.ts";
import {
  ERROR_INFO_MIN_LEN,
  ERROR_OFF_ERROR,
  ERROR_OFF_ERROR_COUNT,
  FH_HDR_LEN,
  FH_OFF_HANDLE_BYTES,
  FH_OFF_HANDLE_TYPE,
  FID_INFO_MIN_LEN,
  FID_OFF_FSID0,
  FID_OFF_FSID1,
  FID_OFF_HANDLE,
  INFO_HDR_LEN,
  INFO_HDR_OFF_LEN,
  INFO_HDR_OFF_TYPE,
  META_LEN,
  META_OFF_EVENT_LEN,
  META_OFF_FD,
  META_OFF_MASK_HI,
  META_OFF_MASK_LO,
  META_OFF_METADATA_LEN,
  META_OFF_PID,
  META_OFF_VERS,
  PIDFD_INFO_MIN_LEN,
  PIDFD_OFF_PIDFD,
  type ParseStats,
  ParsedEvent,
  ParsedInfo,
  RecordKind,
  StopReason,
  newStats,
  resetStats,
} from "./record-layout.ts";

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Table key for a kernel fsid (both halves as signed 32-bit ints, like __kernel_fsid_t / statfs). */
export function fsidKey(a: number, b: number): string {
  return `${a | 0}:${b | 0}`;
}

/** True for info types that carry an fsid + file_handle. */
export function isFidInfoType(t: number): boolean {
  return (
    t === FAN_EVENT_INFO_TYPE_FID ||
    t === FAN_EVENT_INFO_TYPE_DFID_NAME ||
    t === FAN_EVENT_INFO_TYPE_DFID ||
    t === FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
    t === FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
  );
}

/** True for FID-style info types that carry a name after the handle. */
export function isNameInfoType(t: number): boolean {
  return (
    t === FAN_EVENT_INFO_TYPE_DFID_NAME ||
    t === FAN_EVENT_INFO_TYPE_OLD_DFID_NAME ||
    t === FAN_EVENT_INFO_TYPE_NEW_DFID_NAME
  );
}

/**
 * Index in `ev.infos` of the FID-style info that determines the event's path (behavior.md A5): infos
 * are taken in order; one replaces the choice if none is chosen yet, or if it is DFID_NAME or
 * NEW_DFID_NAME (so a child's DFID_NAME beats its FID, and RENAME reports the new location).
 * -1 when the event has no FID-style info.
 */
export function pathInfoIndex(ev: ParsedEvent): number {
  let idx = -1;
  const infos = ev.infos;
  for (let i = 0; i < ev.infoCount; i++) {
    const t = infos[i].type;
    if (!isFidInfoType(t)) continue;
    if (idx === -1 || t === FAN_EVENT_INFO_TYPE_DFID_NAME || t === FAN_EVENT_INFO_TYPE_NEW_DFID_NAME) {
      idx = i;
    }
  }
  return idx;
}

/** No PIDFD info in the event (the group was not opened with FAN_REPORT_PIDFD, or it was malformed). */
export const NO_PIDFD_INFO = -3;

/**
 * The event's pidfd (FAN_REPORT_PIDFD): >= 0 is an open fd the caller must close exactly once;
 * FAN_NOPIDFD (-1, the process was already reaped), FAN_EPIDFD (-2, the kernel could not make one) or
 * NO_PIDFD_INFO (-3) are not fds.
 */
export function eventPidfd(ev: ParsedEvent): number {
  const infos = ev.infos;
  for (let i = 0; i < ev.infoCount; i++) if (infos[i].type === FAN_EVENT_INFO_TYPE_PIDFD) return infos[i].pidfd;
  return NO_PIDFD_INFO;
}

/** The file_handle bytes of a FID-style info as a view (no copy). */
export function handleView(buf: Uint8Array, info: ParsedInfo): Uint8Array {
  return buf.subarray(info.handleOffset, info.handleOffset + info.handleLen);
}

// Little-endian reads without a DataView (no allocation per buffer; unaligned-safe).
function u16(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}
function i32(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
}
function u32(b: Uint8Array, o: number): number {
  return i32(b, o) >>> 0;
}

interface Latin1Buffer extends Buffer {
  latin1Slice?: (start: number, end: number) => string;
}

// ---------------------------------------------------------------------------------------------------
// Cursor

/**
 * Walks one batch. `reset(buf, len)` then `while (cur.next()) use(cur.event)`; afterwards
 * `cur.stats` tells how it ended. Reuse one cursor for the life of the reader.
 */
export class RecordCursor {
  readonly event = new ParsedEvent();
  readonly stats: ParseStats = newStats();
  private buf: Uint8Array = new Uint8Array(0);
  private len = 0;
  private pos = 0;
  private done = true;
  private text: Latin1Buffer | null = null;
  private textSrc: Uint8Array | null = null;
  private readonly decodeNames: boolean;

  /**
   * @param decodeNames fill `ParsedInfo.name` while parsing (default true). Pass false when the names
   *   are copied as bytes (nameOffset/nameLen) or decoded on demand with `nameOf()`: decoding is ~60% of
   *   the parse cost per DFID_NAME event.
   */
  constructor(decodeNames = true) {
    this.decodeNames = decodeNames;
  }

  /** Start walking `buf[0, len)`. `len` is clamped to the buffer size. Clears `stats`. */
  reset(buf: Uint8Array, len: number): void {
    this.buf = buf;
    this.len = len > buf.length ? buf.length : len > 0 ? len | 0 : 0;
    this.pos = 0;
    this.done = false;
    resetStats(this.stats);
  }

  /** Fill `event` with the next record; false when the batch is over (see `stats.stop`). */
  next(): boolean {
    if (this.done) return false;
    const b = this.buf;
    const len = this.len;
    const off = this.pos;
    const st = this.stats;
    const rest = len - off;
    if (rest <= 0) return this.finish(StopReason.End);
    if (rest < META_LEN) return this.finish(StopReason.Truncated);
    const eventLen = u32(b, off + META_OFF_EVENT_LEN);
    if (eventLen < META_LEN) return this.finish(StopReason.BadEventLen);
    if (eventLen > rest) return this.finish(StopReason.Truncated);

    const ev = this.event;
    const vers = b[off + META_OFF_VERS];
    const metaLen = u16(b, off + META_OFF_METADATA_LEN);
    ev.offset = off;
    ev.eventLen = eventLen;
    ev.vers = vers;
    ev.metadataLen = metaLen;
    ev.infoCount = 0;
    ev.infoWalkAborted = false;
    ev.malformedInfos = 0;
    ev.unknownInfos = 0;
    if (metaLen >= META_LEN) {
      ev.maskLo = u32(b, off + META_OFF_MASK_LO);
      ev.maskHi = u32(b, off + META_OFF_MASK_HI);
      ev.fd = i32(b, off + META_OFF_FD);
      ev.pid = i32(b, off + META_OFF_PID);
    } else {
      ev.maskLo = 0;
      ev.maskHi = 0;
      ev.fd = FAN_NOFD;
      ev.pid = 0;
    }
    this.pos = off + eventLen;
    st.consumed = this.pos;

    if (vers !== FANOTIFY_METADATA_VERSION) {
      ev.kind = RecordKind.UnknownVersion;
      st.unknownVersion++;
      return true;
    }
    if (metaLen < META_LEN) {
      ev.kind = RecordKind.BadMetadata;
      st.badMetadata++;
      return true;
    }
    ev.kind = RecordKind.Event;
    st.events++;
    if (metaLen < eventLen) this.walkInfos(ev, off + metaLen, off + eventLen);
    else if (metaLen > eventLen) this.abortInfos(ev);
    return true;
  }

  private finish(reason: StopReason): false {
    this.done = true;
    const st = this.stats;
    st.consumed = this.pos;
    st.stop = reason;
    st.truncated = reason !== StopReason.End;
    return false;
  }

  private abortInfos(ev: ParsedEvent): void {
    ev.infoWalkAborted = true;
    this.stats.infoWalksAborted++;
  }

  private walkInfos(ev: ParsedEvent, start: number, end: number): void {
    const b = this.buf;
    const st = this.stats;
    let p = start;
    while (p < end) {
      if (end - p < INFO_HDR_LEN) {
        this.abortInfos(ev);
        return;
      }
      const type = b[p + INFO_HDR_OFF_TYPE];
      const ilen = u16(b, p + INFO_HDR_OFF_LEN);
      if (ilen === 0 || ilen > end - p) {
        this.abortInfos(ev);
        return;
      }
      if (isFidInfoType(type)) {
        if (!this.fillFid(ev, type, p, ilen)) {
          ev.malformedInfos++;
          st.malformedInfos++;
        }
      } else if (type === FAN_EVENT_INFO_TYPE_PIDFD) {
        if (ilen < PIDFD_INFO_MIN_LEN) {
          ev.malformedInfos++;
          st.malformedInfos++;
        } else {
          const info = this.take(ev, type, p, ilen);
          info.pidfd = i32(b, p + PIDFD_OFF_PIDFD);
        }
      } else if (type === FAN_EVENT_INFO_TYPE_ERROR) {
        if (ilen < ERROR_INFO_MIN_LEN) {
          ev.malformedInfos++;
          st.malformedInfos++;
        } else {
          const info = this.take(ev, type, p, ilen);
          info.error = i32(b, p + ERROR_OFF_ERROR);
          info.errorCount = u32(b, p + ERROR_OFF_ERROR_COUNT);
        }
      } else {
        ev.unknownInfos++;
        st.unknownInfos++;
      }
      p += ilen;
    }
  }

  /** Parse a FID-style info at p; false (nothing added) if malformed. */
  private fillFid(ev: ParsedEvent, type: number, p: number, ilen: number): boolean {
    if (ilen < FID_INFO_MIN_LEN) return false;
    const b = this.buf;
    const fh = p + FID_OFF_HANDLE;
    const handleBytes = u32(b, fh + FH_OFF_HANDLE_BYTES);
    // handleBytes is < 2^32, the sum stays exact in a double.
    if (FID_OFF_HANDLE + FH_HDR_LEN + handleBytes > ilen) return false;
    const info = this.take(ev, type, p, ilen);
    info.fsid0 = i32(b, p + FID_OFF_FSID0);
    info.fsid1 = i32(b, p + FID_OFF_FSID1);
    info.handleOffset = fh;
    info.handleLen = FH_HDR_LEN + handleBytes;
    info.handleBytes = handleBytes;
    info.handleType = i32(b, fh + FH_OFF_HANDLE_TYPE);
    if (isNameInfoType(type)) {
      const start = fh + FH_HDR_LEN + handleBytes;
      const end = p + ilen;
      let q = start;
      while (q < end && b[q] !== 0) q++;
      // The kernel always NUL-terminates; without a NUL the name runs to the end of the info.
      info.nameOffset = start;
      info.nameLen = q - start;
      info.name = this.decodeNames ? this.latin1(start, q) : "";
    }
    return true;
  }

  /** Next pooled info entry, cleared and filled with the common fields. */
  private take(ev: ParsedEvent, type: number, p: number, ilen: number): ParsedInfo {
    const infos = ev.infos;
    let info: ParsedInfo;
    if (ev.infoCount < infos.length) {
      info = infos[ev.infoCount];
    } else {
      info = new ParsedInfo();
      infos.push(info);
    }
    ev.infoCount++;
    info.type = type;
    info.offset = p;
    info.len = ilen;
    info.fsid0 = 0;
    info.fsid1 = 0;
    info.handleOffset = 0;
    info.handleLen = 0;
    info.handleBytes = 0;
    info.handleType = 0;
    info.nameOffset = 0;
    info.nameLen = 0;
    info.name = "";
    info.pidfd = -1;
    info.error = 0;
    info.errorCount = 0;
    return info;
  }

  /** The name of a *_NAME info of the current batch as a latin1 byte string ("" for other types). */
  nameOf(info: ParsedInfo): string {
    return this.latin1(info.nameOffset, info.nameOffset + info.nameLen);
  }

  private latin1(start: number, end: number): string {
    const n = end - start;
    if (n <= 0) return "";
    const b = this.buf;
    if (n === 1) return String.fromCharCode(b[start]);
    let t = this.text;
    if (t === null || this.textSrc !== b || t.buffer !== b.buffer) {
      t = (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength)) as Latin1Buffer;
      this.text = t;
      this.textSrc = b;
    }
    return t.latin1Slice !== undefined ? t.latin1Slice(start, end) : t.toString("latin1", start, end);
  }
}
