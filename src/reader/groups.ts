// fanotify group set-up: fanotify_init per group kind and mode, the permission (content) group's marks,
// and the error text for a mark the kernel refuses (behavior.md A4, B2, B17). The notification
// group's marks are planned per mark in notify-marks.ts.
import * as K from "../../ffi/constants.ts";
import { cpath, errno, fanotifyInit, fanotifyMark, strerror } from "../../ffi/libc.ts";
import type { RecordCursor } from "../../ffi/records.ts";
import { toByteString } from "../bytes.ts";
import type { ReaderMark, ReaderMode } from "./protocol.ts";

export class SetupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SetupError";
  }
}

const EVENT_FLAGS = K.O_RDONLY | K.O_LARGEFILE | K.O_CLOEXEC;

/** A notification group (observe records) or a content group (permission events, FD mode only). */
export type GroupKind = "notify" | "content";

export function initFlags(kind: GroupKind, mode: ReaderMode): number {
  if (kind === "content") return K.FAN_CLOEXEC | K.FAN_NONBLOCK | K.FAN_CLASS_CONTENT;
  return mode === "fid"
    ? K.FAN_CLOEXEC | K.FAN_NONBLOCK | K.FAN_CLASS_NOTIF | K.FAN_REPORT_FID | K.FAN_REPORT_DFID_NAME
    : K.FAN_CLOEXEC | K.FAN_NONBLOCK | K.FAN_CLASS_NOTIF;
}

/**
 * fanotify_init for one group; throws SetupError with a hint. `pidfd`: also ask for FAN_REPORT_PIDFD
 * (--process-details); a kernel before 5.15 refuses it, which is noted in `notes`.
 */
export function initGroup(kind: GroupKind, mode: ReaderMode, pidfd = false, notes: string[] = []): number {
  let fd = fanotifyInit(initFlags(kind, mode) | (pidfd ? K.FAN_REPORT_PIDFD : 0), EVENT_FLAGS);
  if (fd < 0 && pidfd && errno() === K.EINVAL) {
    fd = fanotifyInit(initFlags(kind, mode), EVENT_FLAGS);
    if (fd >= 0) notes.push("this kernel has no FAN_REPORT_PIDFD (5.15+): process details are checked by start time only");
  }
  if (fd >= 0) return fd;
  const code = errno();
  const hint =
    code === K.EPERM
      ? "run as root or with CAP_SYS_ADMIN"
      : code === K.EINVAL && mode === "fid"
        ? "this kernel lacks file-handle reporting; use --no-fid"
        : code === K.EMFILE
          ? "too many fanotify groups; raise /proc/sys/fs/fanotify/max_user_groups"
          : "check that the kernel has CONFIG_FANOTIFY";
  const what = kind === "content" ? "fanotify_init (permission group)" : "fanotify_init";
  throw new SetupError(`${what} failed: ${strerror(code)} (${hint})`);
}

/** The reason and what would work instead, for a mark the kernel refused with `code` (B2). */
export function markFailure(mark: ReaderMark, code: number, mode: ReaderMode): SetupError {
  return new SetupError(`cannot place ${mark.type} mark on '${mark.path}': ${strerror(code)} (${markHint(code, mode, mark.type)})`);
}

function markHint(code: number, mode: ReaderMode, type: ReaderMark["type"]): string {
  switch (code) {
    case K.ENOENT:
      return "the path does not exist; create it first";
    case K.EPERM:
    case K.EACCES:
      return "fanotify needs root or CAP_SYS_ADMIN";
    case K.ENOSPC:
      return "too many marks; raise /proc/sys/fs/fanotify/max_user_marks";
    case K.ENODEV:
    case K.EXDEV:
    case K.EOPNOTSUPP:
      return mode === "fid"
        ? "this filesystem cannot report file handles; use --no-fid"
        : "this filesystem does not support fanotify marks";
    case K.EINVAL:
      // fanotify_mark(2) EINVAL: among others, pseudo filesystems (proc, sysfs, …) refuse every mark.
      return type === "filesystem"
        ? "this kernel or filesystem refuses filesystem marks; use --mount or --watch"
        : type === "mount"
          ? "this kernel or filesystem refuses mount marks; use --watch or --filesystem"
          : "this filesystem refuses fanotify marks, as pseudo filesystems such as /proc and /sys do";
    case K.ENOTDIR:
      return "use --no-fid or watch the parent directory";
    default:
      return "check the path and the kernel log";
  }
}

const PERM_EVENTS = K.FAN_OPEN_PERM | K.FAN_ACCESS_PERM;

/** Adds (or removes) a mark of the content group: FD permission events work on every filesystem. */
export function contentMark(fd: number, mark: ReaderMark, isDir: boolean, remove = false): number {
  const type = mark.type === "mount" ? K.FAN_MARK_MOUNT : mark.type === "filesystem" ? K.FAN_MARK_FILESYSTEM : K.FAN_MARK_INODE;
  const tree = mark.type === "inode" && !isDir ? 0 : K.FAN_ONDIR | K.FAN_EVENT_ON_CHILD;
  const op = remove ? K.FAN_MARK_REMOVE : K.FAN_MARK_ADD;
  return fanotifyMark(fd, op | type, PERM_EVENTS | tree, K.AT_FDCWD, cpath(toByteString(mark.path), true)) === 0 ? 0 : errno();
}

/**
 * Removes every mark of a group (FAN_MARK_FLUSH for inode, mount and filesystem marks): no new
 * event enters its queue, while what is queued can still be read and answered. Detaching is quick;
 * close() of a group with marks also waits for them to be destroyed, which under a flood of
 * permission events took ~1 s here.
 */
export function flushMarks(fd: number): void {
  const none = cpath("/");
  for (const type of [K.FAN_MARK_INODE, K.FAN_MARK_MOUNT, K.FAN_MARK_FILESYSTEM]) {
    fanotifyMark(fd, K.FAN_MARK_FLUSH | type, 0, K.AT_FDCWD, none);
  }
}

/** One fanotify group the reader polls: its fd, read buffer and record cursor. */
export interface Group {
  readonly kind: GroupKind;
  readonly mode: ReaderMode;
  readonly fd: number;
  readonly buf: Buffer;
  /** Each group walks its own buffer, so the content group can be served in the middle of another's. */
  readonly cursor: RecordCursor;
}
