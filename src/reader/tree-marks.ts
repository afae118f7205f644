// Inode marks on every directory of a tree (behavior.md B17): the mechanism for `--mount` and
// `--filesystem` where the kernel refuses FID filesystem marks (overlayfs, ramfs, FUSE). New
// directories are marked as their CREATE / MOVED_TO is processed and then rescanned, so entries made
// before the mark took hold are reported too (as CREATE records of the directory's creator).
//
// The Worker never opens anything inside a tree itself: in permission mode an open there waits for
// an answer only the Worker can give. Directory listings run on the runtime's I/O threads
// (off-thread.ts), whose opens the Worker answers like any of the daemon's own; marking and handle
// lookups (fanotify_mark, name_to_handle_at) take a path and open nothing.
import { readFileSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { cpath, errno, fanotifyMark, strerror } from "../../ffi/libc.ts";
import { FID_DIR_MASK } from "./mark-plan.ts";
import { isUnder, mountPointsBelow } from "./mountinfo.ts";
import { listDirectory } from "./off-thread.ts";
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
}

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
    const tree: Tree = { root, fsid, ownMap, dirs: new Set(), skip: mountPointsBelow(root) };
    const queue = [root];
    try {
      while (queue.length > 0) {
        const dir = queue.pop() as string;
        const code = this.markDir(tree, dir);
        if (code !== 0) {
          if (dir === root || code === K.ENOSPC) throw this.placeError(tree, dir, code);
          continue; // vanished meanwhile
        }
        const entries = await listDirectory(dir);
        for (const e of entries ?? []) {
          const child = join(dir, e.name);
          if (e.isDir && !tree.skip.has(child)) queue.push(child);
        }
      }
    } catch (err) {
      this.unmark(tree);
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

  /** Marks one directory; 0 or errno. */
  private markDir(tree: Tree, dir: string): number {
    if (fanotifyMark(this.groupFd, K.FAN_MARK_ADD | K.FAN_MARK_INODE | K.FAN_MARK_DONT_FOLLOW, FID_DIR_MASK, K.AT_FDCWD, cpath(dir, true)) !== 0) {
      return errno();
    }
    tree.dirs.add(dir);
    if (tree.ownMap) this.resolver.remember(dir, tree.fsid);
    return 0;
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
    const code = this.markDir(tree, dir);
    if (code !== 0) {
      if (code === K.ENOENT || code === K.ENOTDIR) return; // gone again already
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
    void listDirectory(dir).then((entries) => {
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
    if (m === null || m.tree !== tree) {
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
  }

  private unmark(tree: Tree): void {
    const flags = K.FAN_MARK_REMOVE | K.FAN_MARK_INODE | K.FAN_MARK_DONT_FOLLOW;
    for (const d of tree.dirs) fanotifyMark(this.groupFd, flags, FID_DIR_MASK, K.AT_FDCWD, cpath(d, true));
    tree.dirs.clear();
  }
}
