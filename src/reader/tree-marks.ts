// Inode marks on every directory of a tree (behavior.md B17): the mechanism for `--mount` and
// `--filesystem` where the kernel refuses FID filesystem marks (overlayfs, ramfs, FUSE). New
// directories are marked as their CREATE / MOVED_TO is processed and then rescanned, so entries made
// before the mark took hold are reported too (as CREATE records of the directory's creator).
//
// The Worker never opens anything inside a tree itself: in permission mode an open there waits for
// an answer only the Worker can give. Directory listings run on the runtime's I/O threads
// (off-thread.ts), whose opens the Worker answers like any of the daemon's own. Each directory is
// reached from the tree's root with openat2(O_PATH, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
// RESOLVE_NO_XDEV) — an O_PATH open is no permission event — and marked, handled and listed through
// that fd: a directory swapped for a symlink between a listing and its mark (a local user racing the
// daemon) can never put a mark, or a listing's CREATE records, outside the tree.
import { readFileSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { cpath, errno, fanotifyMark, strerror, sysClose, sysOpenat2 } from "../../ffi/libc.ts";
import { FID_DIR_MASK } from "./mark-plan.ts";
import { isUnder, mountPointsBelow } from "./mountinfo.ts";
import { listDirectory, type DirEntry } from "./off-thread.ts";
import type { PathResolver } from "./resolve.ts";

export class TreeMarkError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TreeMarkError";
  }
}

export interface Tree {
  /** The tree's root (a byte string). */
  readonly root: string;
  readonly fsid: string;
  /** Paths come from the own map (handles cannot be opened on this filesystem). */
  readonly ownMap: boolean;
  /** Marked directories (byte strings), for removal and counting. */
  readonly dirs: Set<string>;
  /** Other filesystems mounted inside the tree: not part of it. */
  readonly skip: ReadonlySet<string>;
  /** O_PATH fd of the root: every directory is opened beneath it. */
  readonly rootFd: number;
  /** A new directory's path no longer led to a directory of the tree when it was processed (see adoptUnmarked). */
  missed: boolean;
}

const BENEATH = K.RESOLVE_BENEATH | K.RESOLVE_NO_SYMLINKS | K.RESOLVE_NO_MAGICLINKS | K.RESOLVE_NO_XDEV;
/** Not a directory of the tree (any more): gone, not a directory, a symlink, or another filesystem. */
const NOT_IN_TREE = new Set([K.ENOENT, K.ENOTDIR, K.ELOOP, K.EXDEV]);
const DOT = cpath(".");

/** A synthetic CREATE for an entry found by a rescan: path, name (byte strings), is_dir, creator pid. */
export type EmitCreate = (path: string, name: string, isDir: boolean, pid: number) => void;

type Log = (level: "warn" | "info", message: string) => void;

export function maxUserMarks(): string {
  try {
    return readFileSync("/proc/sys/fs/fanotify/max_user_marks", "latin1").trim();
  } catch {
    return "unknown";
  }
}

function join(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}

export class TreeMarks {
  readonly trees: Tree[] = [];
  /** Marks the kernel refused after start-up (fs.fanotify.max_user_marks reached, …). */
  failures = 0;
  private warnedLimit = false;
  private moving: { readonly tree: Tree; readonly dir: string } | null = null;

  constructor(
    private readonly groupFd: number,
    private readonly resolver: PathResolver,
    private readonly emit: EmitCreate,
    private readonly log: Log,
  ) {}

  /** Marks every directory under `root` (a byte string); throws TreeMarkError naming the limit it hit. */
  async place(root: string, fsid: string, ownMap: boolean): Promise<Tree> {
    const rootFd = sysOpenat2(K.AT_FDCWD, cpath(root, true), K.O_PATH | K.O_DIRECTORY | K.O_CLOEXEC, 0);
    const tree: Tree = { root, fsid, ownMap, dirs: new Set(), skip: mountPointsBelow(root), rootFd, missed: false };
    if (rootFd < 0) throw this.placeError(tree, root, errno());
    const queue = [root];
    try {
      while (queue.length > 0) {
        const dir = queue.pop() as string;
        const fd = this.markDir(tree, dir);
        if (fd < 0) {
          if (dir === root || -fd === K.ENOSPC) throw this.placeError(tree, dir, -fd);
          continue; // vanished or swapped meanwhile
        }
        const entries = await listOpened(fd);
        for (const e of entries ?? []) {
          const child = join(dir, e.name);
          if (e.isDir && !tree.skip.has(child)) queue.push(child);
        }
      }
    } catch (err) {
      this.unmark(tree);
      sysClose(rootFd);
      throw err;
    }
    this.trees.push(tree);
    return tree;
  }

  private placeError(tree: Tree, dir: string, code: number): TreeMarkError {
    const at = Buffer.from(dir, "latin1").toString("utf8");
    if (code === K.ENOSPC) {
      return new TreeMarkError(
        `cannot mark every directory under '${Buffer.from(tree.root, "latin1").toString("utf8")}': ` +
          `${tree.dirs.size} directories marked when fs.fanotify.max_user_marks (${maxUserMarks()}) was reached ` +
          "(raise /proc/sys/fs/fanotify/max_user_marks or mark a smaller tree)",
      );
    }
    return new TreeMarkError(`cannot place inode mark on '${at}': ${strerror(code)}`);
  }

  /**
   * Marks one directory of the tree, reached beneath its root: an O_PATH fd of it (the caller lists
   * it through listOpened(), which closes it), or -errno.
   */
  private markDir(tree: Tree, dir: string): number {
    const fd = openBeneath(tree, dir);
    if (fd < 0) return fd;
    // "." beneath the fd: fanotify_mark(2) with a NULL path refuses O_PATH fds (EBADF).
    if (fanotifyMark(this.groupFd, K.FAN_MARK_ADD | K.FAN_MARK_INODE, FID_DIR_MASK, fd, DOT) !== 0) {
      const e = errno();
      sysClose(fd);
      return -e;
    }
    tree.dirs.add(dir);
    if (tree.ownMap) this.resolver.remember(dir, tree.fsid, fd);
    return fd;
  }

  /** The tree a directory path on filesystem `fsid` belongs to, or null. */
  treeOf(fsid: string, path: string): Tree | null {
    for (const t of this.trees) if (t.fsid === fsid && isUnder(path, t.root) && !this.skipped(t, path)) return t;
    return null;
  }

  private skipped(tree: Tree, path: string): boolean {
    if (tree.skip.size === 0) return false;
    for (const m of tree.skip) if (isUnder(path, m)) return true;
    return false;
  }

  /**
   * A directory was created in (or moved into) the tree: mark it now, then list it on an I/O thread
   * and mark what it holds. `created`: report what the listing finds as CREATE records of `pid`.
   */
  dirAppeared(tree: Tree, dir: string, created: boolean, pid: number): void {
    this.settle();
    const fd = this.markDir(tree, dir);
    if (fd < 0) {
      const code = -fd;
      if (NOT_IN_TREE.has(code)) {
        tree.missed = true; // gone again already, or its parent moved first: a later move may bring it back
        return;
      }
      this.failures++;
      if (code === K.ENOSPC && !this.warnedLimit) {
        this.warnedLimit = true;
        this.log(
          "warn",
          `fs.fanotify.max_user_marks (${maxUserMarks()}) reached: new directories under ` +
            `${Buffer.from(tree.root, "latin1").toString("utf8")} are not watched (raise the limit)`,
        );
      } else if (code !== K.ENOSPC) {
        this.log("warn", `cannot mark new directory ${Buffer.from(dir, "latin1").toString("utf8")}: ${strerror(code)}`);
      }
      return;
    }
    void listOpened(fd).then((entries) => {
      for (const e of entries ?? []) {
        const child = join(dir, e.name);
        if (created) this.emit(child, e.name, e.isDir, pid);
        if (e.isDir) this.dirAppeared(tree, child, created, pid);
      }
    });
  }

  /** A directory of the tree was deleted: forget it and what lies below it. */
  dirGone(tree: Tree, dir: string): void {
    this.settle();
    for (const d of tree.dirs) if (isUnder(d, dir)) tree.dirs.delete(d);
    if (tree.ownMap) this.resolver.forgetUnder(tree.fsid, dir);
  }

  /**
   * A directory of the tree was moved from `dir`. The kernel reports MOVED_TO right after MOVED_FROM
   * when the destination is marked too (fanotify(7)), so the move is held until then: a move within
   * the tree renames the known paths at once (its marks stay on the inodes); anything else, settled
   * at the next batch, forgets them.
   */
  dirMovedFrom(tree: Tree, dir: string): void {
    this.settle();
    this.moving = { tree, dir };
  }

  /** A directory arrived at `dir` by a move (from inside the tree or from outside it). */
  dirMovedTo(tree: Tree, dir: string, pid: number): void {
    const m = this.moving;
    this.moving = null;
    // A directory the tree never marked (moved before its CREATE was processed) is new to it.
    if (m === null || m.tree !== tree || !tree.dirs.has(m.dir)) {
      if (m !== null) this.dirGone(m.tree, m.dir);
      this.dirAppeared(tree, dir, false, pid);
      return;
    }
    const moved: string[] = [];
    for (const d of tree.dirs) if (isUnder(d, m.dir)) moved.push(d);
    for (const d of moved) {
      tree.dirs.delete(d);
      tree.dirs.add(dir + d.slice(m.dir.length));
    }
    if (tree.ownMap) this.resolver.moveUnder(tree.fsid, m.dir, dir);
    this.adoptUnmarked(tree, dir, pid);
  }

  /**
   * After a move inside the tree: sub-directories of `dir` that are not marked yet — made in it just
   * before the move, whose CREATE named the old path when it was processed (the path then failed to
   * open beneath the root) — are taken in now. Only after such a miss: a move otherwise lists nothing.
   */
  private adoptUnmarked(tree: Tree, dir: string, pid: number): void {
    if (!tree.missed) return;
    tree.missed = false;
    const fd = openBeneath(tree, dir);
    if (fd < 0) return;
    void listOpened(fd).then((entries) => {
      for (const e of entries ?? []) {
        const child = join(dir, e.name);
        if (e.isDir && !tree.dirs.has(child) && !tree.skip.has(child)) this.dirAppeared(tree, child, false, pid);
      }
    });
  }

  /** A held move whose MOVED_TO did not follow left the tree. */
  settle(): void {
    const m = this.moving;
    if (m === null) return;
    this.moving = null;
    this.dirGone(m.tree, m.dir);
  }

  /** Removes a tree's marks (reload). */
  remove(tree: Tree): void {
    this.unmark(tree);
    const i = this.trees.indexOf(tree);
    if (i >= 0) this.trees.splice(i, 1);
    if (tree.ownMap) this.resolver.forgetUnder(tree.fsid, tree.root);
    sysClose(tree.rootFd);
  }

  private unmark(tree: Tree): void {
    // By path: the marks' objects may have moved; one that moved out of the tree keeps its mark until
    // it is deleted (README "Known limits").
    const flags = K.FAN_MARK_REMOVE | K.FAN_MARK_INODE | K.FAN_MARK_DONT_FOLLOW;
    for (const d of tree.dirs) fanotifyMark(this.groupFd, flags, FID_DIR_MASK, K.AT_FDCWD, cpath(d, true));
    tree.dirs.clear();
  }
}

/** O_PATH fd of `dir` (a path under the tree's root), resolved beneath the root without symlinks or mount crossings; or -errno. */
function openBeneath(tree: Tree, dir: string): number {
  const rel = dir === tree.root ? "." : dir.slice(tree.root.endsWith("/") ? tree.root.length : tree.root.length + 1);
  const path = cpath(rel, true);
  for (let attempt = 0; ; attempt++) {
    const fd = sysOpenat2(tree.rootFd, path, K.O_PATH | K.O_DIRECTORY | K.O_NOFOLLOW | K.O_CLOEXEC, BENEATH);
    if (fd >= 0) return fd;
    const e = errno();
    // EAGAIN: a rename elsewhere on the filesystem raced the lookup (openat2(2)); try again.
    if (e !== K.EAGAIN || attempt >= 3) return -e;
  }
}

/** Lists the directory an O_PATH fd refers to (through /proc/self/fd, on an I/O thread), then closes the fd. */
async function listOpened(fd: number): Promise<DirEntry[] | null> {
  try {
    return await listDirectory(`/proc/self/fd/${fd}`);
  } finally {
    sysClose(fd);
  }
}
