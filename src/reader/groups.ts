// fanotify group set-up: fanotify_init per mode and one fanotify_mark per configured mark
// (behavior.md A4, with B2: every mark type works in every mode).
import { statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { cpath, errno, fanotifyInit, fanotifyMark, strerror, sysClose } from "../../ffi/libc.ts";
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

const FILE_EVENTS = K.FAN_OPEN | K.FAN_MODIFY | K.FAN_CLOSE_WRITE;
const DIRENT_EVENTS = K.FAN_CREATE | K.FAN_DELETE | K.FAN_MOVED_FROM | K.FAN_MOVED_TO | K.FAN_RENAME;
const SELF_EVENTS = K.FAN_ATTRIB | K.FAN_MOVE_SELF | K.FAN_DELETE_SELF;
const PERM_EVENTS = K.FAN_OPEN_PERM | K.FAN_ACCESS_PERM;
const TREE = K.FAN_ONDIR | K.FAN_EVENT_ON_CHILD;

export interface MarkPlan {
  readonly flags: number;
  readonly mask: number;
  /** Event kinds this mark cannot deliver in this mode, for the one-time log line (B2). */
  readonly missing: readonly string[];
}

/**
 * The mask for a mark. The kernel refuses directory-entry and self events on mount marks of a
 * FID group, and directory-entry events on an inode mark of a non-directory (fanotify_mark(2),
 * EINVAL / ENOTDIR), so those marks ask only for what they can get.
 */
export function planMark(kind: GroupKind, mode: ReaderMode, type: ReaderMark["type"], isDir: boolean): MarkPlan {
  const flags =
    K.FAN_MARK_ADD |
    (type === "mount" ? K.FAN_MARK_MOUNT : type === "filesystem" ? K.FAN_MARK_FILESYSTEM : K.FAN_MARK_INODE);
  const tree = type === "inode" && !isDir ? 0 : TREE;
  if (kind === "content") return { flags, mask: PERM_EVENTS | tree, missing: [] };
  if (mode === "fd") return { flags, mask: FILE_EVENTS | tree, missing: [] };
  if (type === "mount") {
    return {
      flags,
      mask: FILE_EVENTS | TREE,
      missing: ["CREATE", "DELETE", "MOVED_FROM", "MOVED_TO", "RENAME", "ATTRIB", "MOVE_SELF", "DELETE_SELF"],
    };
  }
  if (type === "inode" && !isDir) return { flags, mask: FILE_EVENTS | SELF_EVENTS, missing: [] };
  return { flags, mask: FILE_EVENTS | DIRENT_EVENTS | SELF_EVENTS | TREE, missing: [] };
}

const TYPE_NUMBER = { inode: 0, mount: 1, filesystem: 2 } as const;

function markHint(code: number, mode: ReaderMode, type: ReaderMark["type"]): string {
  switch (code) {
    case K.ENOENT:
      return "the path does not exist; create it first";
    case 1: // EPERM
    case 13: // EACCES
      return "fanotify needs root or CAP_SYS_ADMIN";
    case 28: // ENOSPC
      return "too many marks; raise /proc/sys/fs/fanotify/max_user_marks";
    case 19: // ENODEV
    case 18: // EXDEV
    case 95: // EOPNOTSUPP
      return mode === "fid"
        ? "this filesystem cannot report file handles; use --no-fid"
        : "this filesystem does not support fanotify marks";
    case 22: // EINVAL
      return type === "filesystem"
        ? "this kernel or filesystem refuses filesystem marks; use --mount or --watch"
        : mode === "fid"
          ? "use --filesystem or --no-fid"
          : "use --watch or --filesystem";
    case 20: // ENOTDIR
      return "use --no-fid or watch the parent directory";
    default:
      return "check the path and the kernel log";
  }
}

export interface OpenedGroup {
  readonly fd: number;
  /** One line per mark: `watching <p> (type=N)` plus any capability note. */
  readonly notes: string[];
}

/** `pidfd`: also ask for FAN_REPORT_PIDFD (--process-details); a kernel before 5.15 refuses it (noted). */
export function openGroup(kind: GroupKind, mode: ReaderMode, marks: readonly ReaderMark[], pidfd = false): OpenedGroup {
  const notes: string[] = [];
  let fd = fanotifyInit(initFlags(kind, mode) | (pidfd ? K.FAN_REPORT_PIDFD : 0), EVENT_FLAGS);
  if (fd < 0 && pidfd && errno() === 22) {
    fd = fanotifyInit(initFlags(kind, mode), EVENT_FLAGS);
    if (fd >= 0) notes.push("this kernel has no FAN_REPORT_PIDFD (5.15+): process details are checked by start time only");
  }
  if (fd < 0) {
    const code = errno();
    const hint =
      code === 1
        ? "run as root or with CAP_SYS_ADMIN"
        : code === 22 && mode === "fid"
          ? "this kernel lacks file-handle reporting; use --no-fid"
          : code === 24
            ? "too many fanotify groups; raise /proc/sys/fs/fanotify/max_user_groups"
            : "check that the kernel has CONFIG_FANOTIFY";
    const what = kind === "content" ? "fanotify_init (permission group)" : "fanotify_init";
    throw new SetupError(`${what} failed: ${strerror(code)} (${hint})`);
  }
  try {
    for (const mark of marks) notes.push(...addMark(fd, kind, mode, mark));
  } catch (err) {
    sysClose(fd);
    throw err;
  }
  return { fd, notes };
}

function planFor(kind: GroupKind, mode: ReaderMode, mark: ReaderMark): MarkPlan {
  let isDir = true;
  try {
    isDir = statSync(mark.path).isDirectory();
  } catch {
    // fanotify_mark reports the real reason.
  }
  return planMark(kind, mode, mark.type, isDir);
}

/** Places one mark on a group; returns its log notes. Throws SetupError naming path, type, reason, hint (B2). */
export function addMark(fd: number, kind: GroupKind, mode: ReaderMode, mark: ReaderMark): string[] {
  const plan = planFor(kind, mode, mark);
  if (fanotifyMark(fd, plan.flags, plan.mask, K.AT_FDCWD, cpath(mark.path)) !== 0) {
    const code = errno();
    throw new SetupError(
      `cannot place ${mark.type} mark on '${mark.path}': ${strerror(code)} (${markHint(code, mode, mark.type)})`,
    );
  }
  if (kind === "content") return [];
  const notes = [`watching ${mark.path} (type=${TYPE_NUMBER[mark.type]})`];
  if (plan.missing.length > 0) {
    notes.push(
      `mount mark on ${mark.path} cannot deliver ${plan.missing.join(", ")} in FID mode (the kernel refuses them on mount marks); use --filesystem for those`,
    );
  }
  return notes;
}

/** Removes one mark; returns an error text or null. A vanished inode took its mark with it. */
export function removeMark(fd: number, kind: GroupKind, mode: ReaderMode, mark: ReaderMark): string | null {
  const plan = planFor(kind, mode, mark);
  const flags = (plan.flags & ~K.FAN_MARK_ADD) | K.FAN_MARK_REMOVE;
  if (fanotifyMark(fd, flags, plan.mask, K.AT_FDCWD, cpath(mark.path)) === 0) return null;
  const code = errno();
  return code === K.ENOENT ? null : `cannot remove ${mark.type} mark on '${mark.path}': ${strerror(code)}`;
}
