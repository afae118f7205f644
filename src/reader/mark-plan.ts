// The plan for each mark of the notification group (behavior.md B17, design.md "Marks: a plan per
// mark"): the mechanisms that can deliver what the mark type can have, richest first. Pure: the
// Worker tries them in order (falling back where the kernel refuses one) and `check` prints them.
import * as K from "../../ffi/constants.ts";
import type { MarkType } from "../config/types.ts";
import type { ReaderMode } from "./protocol.ts";

export type Mechanism =
  /** FD reporting: file events only, paths from the event fd. */
  | "fd"
  /** One FID inode mark (`--watch`). */
  | "fid-inode"
  /** One FID filesystem mark (`--filesystem`). */
  | "fid-filesystem"
  /** `--mount`: a FID filesystem mark whose events are kept to the mount's tree. */
  | "fid-filesystem-scoped"
  /** FID inode marks on every directory of the tree, new directories marked as they appear. */
  | "fid-inode-tree";

export interface MarkStep {
  readonly mechanism: Mechanism;
  readonly flags: number;
  readonly mask: number;
}

const FILE_EVENTS = K.FAN_OPEN | K.FAN_MODIFY | K.FAN_CLOSE_WRITE;
const DIRENT_EVENTS = K.FAN_CREATE | K.FAN_DELETE | K.FAN_MOVED_FROM | K.FAN_MOVED_TO | K.FAN_RENAME;
const SELF_EVENTS = K.FAN_ATTRIB | K.FAN_MOVE_SELF | K.FAN_DELETE_SELF;
const TREE = K.FAN_ONDIR | K.FAN_EVENT_ON_CHILD;
/** Everything a directory (or a filesystem) can report in FID mode (behavior.md A4, 0x58000fee). */
export const FID_DIR_MASK = FILE_EVENTS | DIRENT_EVENTS | SELF_EVENTS | TREE;
export const FID_FILE_MASK = FILE_EVENTS | SELF_EVENTS;
export const FD_MASK = FILE_EVENTS | TREE;

const INODE = K.FAN_MARK_ADD | K.FAN_MARK_INODE;
const MOUNT = K.FAN_MARK_ADD | K.FAN_MARK_MOUNT;
const FILESYSTEM = K.FAN_MARK_ADD | K.FAN_MARK_FILESYSTEM;

/** The notification group's mechanisms for one mark, richest first. */
export function markSteps(mode: ReaderMode, type: MarkType, isDir: boolean): MarkStep[] {
  if (mode === "fd") {
    const flags = type === "mount" ? MOUNT : type === "filesystem" ? FILESYSTEM : INODE;
    return [{ mechanism: "fd", flags, mask: type === "inode" && !isDir ? FILE_EVENTS : FD_MASK }];
  }
  if (type === "inode") return [{ mechanism: "fid-inode", flags: INODE, mask: isDir ? FID_DIR_MASK : FID_FILE_MASK }];
  const tree: MarkStep = { mechanism: "fid-inode-tree", flags: INODE, mask: FID_DIR_MASK };
  const fs: MarkStep = {
    mechanism: type === "mount" ? "fid-filesystem-scoped" : "fid-filesystem",
    flags: FILESYSTEM,
    mask: FID_DIR_MASK,
  };
  return [fs, tree];
}

/** Errors that mean "this mechanism is not available here; try the next" (fanotify_mark(2)). */
export function isFallbackErrno(code: number): boolean {
  return code === K.EOPNOTSUPP || code === K.ENODEV || code === K.EXDEV || code === K.EINVAL;
}

/** Filesystems known to refuse FID filesystem and mount marks (measured on Linux 6.18), by statfs f_type. */
const NO_FID_FS_MARK: ReadonlyMap<number, string> = new Map([
  [K.OVERLAYFS_SUPER_MAGIC, "Operation not supported"],
  [K.RAMFS_MAGIC, "Operation not supported"],
  [K.FUSE_SUPER_MAGIC, "No such device"],
]);

/** What `check` expects the kernel to say to a step on a filesystem of this type, or null for "placed". */
export function predictedRefusal(step: MarkStep, magic: number): string | null {
  if (step.mechanism === "fid-filesystem" || step.mechanism === "fid-filesystem-scoped") {
    return NO_FID_FS_MARK.get(magic) ?? null;
  }
  return null;
}

const ALL_KINDS = "every event kind (OPEN, MODIFY, CLOSE_WRITE, CREATE, DELETE, MOVED_FROM, MOVED_TO, RENAME, ATTRIB, MOVE_SELF, DELETE_SELF)";

/**
 * Filesystems whose handles the daemon never opens, though the kernel could: opening a FUSE handle
 * of a removed directory makes the kernel ask the server for ".." (exportfs reconnect), and
 * libfuse 2.9's high-level API dereferences the removed node's null parent there (bindfs crashed
 * under the filesystem matrix). The daemon's directory map serves them, as where handles cannot be
 * opened at all.
 */
export const NEVER_OPEN_HANDLES: ReadonlySet<number> = new Set([K.FUSE_SUPER_MAGIC]);

/** Filesystems whose handles cannot be opened (measured on Linux 6.18): the directory map serves them too. */
export const UNOPENABLE_HANDLES: ReadonlySet<number> = new Set([K.OVERLAYFS_SUPER_MAGIC, K.RAMFS_MAGIC]);

export interface PlanFacts {
  readonly mechanism: Mechanism;
  readonly isDir: boolean;
  /** Filesystem type as mountinfo names it (e.g. "overlay", "fuse.bindfs"). */
  readonly fsType: string;
  readonly handlesOpen: boolean;
  /** fid-inode-tree: directories marked (undefined: not placed yet, "every directory"). */
  readonly dirs?: number;
  /** Why richer mechanisms were not used (e.g. "filesystem mark refused: Operation not supported"). */
  readonly fallback?: string;
  /** fid-filesystem-scoped: the mount shows only part of its filesystem (events are filtered by path). */
  readonly scoped?: boolean;
}

/** The start-up log line for one mark: what it delivers, by which mechanism, and what it cannot (B17). */
export function describePlan(type: MarkType, path: string, f: PlanFacts): string {
  return `${type} mark on ${path} (${f.fsType || "unknown fs"}): ${planSummary(f)}`;
}

/** describePlan() without the mark's name: the mechanism, what it delivers and what it cannot. */
export function planSummary(f: PlanFacts): string {
  const paths = f.handlesOpen
    ? "full paths from file handles"
    : `full paths from the daemon's directory map (${f.fsType} file handles ${f.fsType.startsWith("fuse") ? "are not opened: that would send the FUSE server lookups it may not survive" : "cannot be opened"})`;
  const fallback = f.fallback ? ` (${f.fallback})` : "";
  switch (f.mechanism) {
    case "fd":
      return (
        "FD reporting; delivers OPEN, MODIFY, CLOSE_WRITE with paths from the event fd; cannot deliver " +
        "CREATE, DELETE, MOVED_FROM, MOVED_TO, RENAME, ATTRIB, MOVE_SELF, DELETE_SELF (FD reporting has no " +
        "directory-entry or self events; drop --no-fid for them)"
      );
    case "fid-inode":
      return f.isDir
        ? `FID inode mark; delivers ${ALL_KINDS} for the directory and its direct children, ${paths}`
        : `FID inode mark; delivers OPEN, MODIFY, CLOSE_WRITE, ATTRIB, MOVE_SELF, DELETE_SELF of the file, ${paths}`;
    case "fid-filesystem":
      return `FID filesystem mark; delivers ${ALL_KINDS} on the whole filesystem, ${paths}`;
    case "fid-filesystem-scoped":
      return (
        `FID filesystem mark kept to the mount's tree; delivers ${ALL_KINDS}, ${paths}` +
        (f.scoped ? "; events outside the mount's tree are dropped" : "") +
        "; unlike a mount mark it also sees changes made through other mounts of the same files"
      );
    case "fid-inode-tree":
      return (
        `FID inode marks on ${f.dirs === undefined ? "every directory" : `${f.dirs} directories`}, ` +
        `new directories marked as they appear${fallback}; ` +
        `delivers every event kind but MOVE_SELF and DELETE_SELF of files, ${paths}; cannot deliver MOVE_SELF, ` +
        "DELETE_SELF of files (inode marks on directories report self events of the directories only; " +
        "DELETE and MOVED_FROM/MOVED_TO still report them)"
      );
  }
}
