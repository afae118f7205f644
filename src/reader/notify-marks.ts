// The notification group's marks (behavior.md B17): each mark is placed with the richest mechanism
// the kernel and filesystem allow (mark-plan.ts), falling back per mark, and removed the same way on
// reload. Keeps what each placed mark needs: its filesystem mark's scope, its tree of inode marks.
import { statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { cpath, errno, fanotifyMark, strerror } from "../../ffi/libc.ts";
import { toByteString } from "../bytes.ts";
import { markFailure, SetupError } from "./groups.ts";
import { describePlan, isFallbackErrno, markSteps, type Mechanism } from "./mark-plan.ts";
import { mountOf } from "./mountinfo.ts";
import type { ReaderMark, ReaderMode } from "./protocol.ts";
import type { PathResolver } from "./resolve.ts";
import { ScopeFilter, type Want } from "./scope.ts";
import { TreeMarkError, TreeMarks, type EmitCreate, type Tree } from "./tree-marks.ts";

const TYPE_NUMBER = { inode: 0, mount: 1, filesystem: 2 } as const;

interface Placed {
  readonly mechanism: Mechanism;
  readonly flags: number;
  readonly mask: number;
  readonly fsid: string | null;
  readonly want: Want | null;
  readonly tree: Tree | null;
}

function markKey(m: ReaderMark): string {
  return `${m.type}\0${m.path}`;
}

export class NotifyMarks {
  readonly scope = new ScopeFilter();
  readonly trees: TreeMarks;
  private readonly placed = new Map<string, Placed>();

  constructor(
    private readonly fd: number,
    private readonly mode: ReaderMode,
    private readonly resolver: PathResolver,
    emit: EmitCreate,
    log: (level: "warn" | "info", message: string) => void,
  ) {
    this.trees = new TreeMarks(fd, resolver, emit, log);
  }

  /** Places one mark; returns its log lines (A3's `watching` line and the plan). Throws SetupError. */
  async add(mark: ReaderMark): Promise<string[]> {
    const key = markKey(mark);
    if (this.placed.has(key)) return [];
    const bytePath = toByteString(mark.path);
    let isDir = true;
    try {
      isDir = statSync(Buffer.from(bytePath, "latin1")).isDirectory();
    } catch {
      // fanotify_mark reports the real reason.
    }
    const fs = this.mode === "fid" ? await this.resolver.registerDir(bytePath) : null;
    const mount = mountOf(bytePath);
    const fsType = mount.fsType;
    const handlesOpen = fs?.handlesOpen ?? true;
    const fallbacks: string[] = [];
    for (const step of markSteps(this.mode, mark.type, isDir)) {
      if (step.mechanism === "fid-inode-tree") {
        if (fs === null) throw new SetupError(`cannot place ${mark.type} mark on '${mark.path}': cannot open it`);
        let tree: Tree;
        try {
          tree = await this.trees.place(mount.mountPoint, fs.fsid, !fs.handlesOpen);
        } catch (err) {
          if (err instanceof TreeMarkError) throw new SetupError(`${mark.type} mark on '${mark.path}': ${err.message}`);
          throw err;
        }
        this.placed.set(key, { ...step, fsid: fs.fsid, want: null, tree });
        return this.notes(mark, { mechanism: step.mechanism, isDir, fsType, handlesOpen, dirs: tree.dirs.size, fallback: fallbacks.join("; ") });
      }
      if (fanotifyMark(this.fd, step.flags, step.mask, K.AT_FDCWD, cpath(toByteString(mark.path), true)) !== 0) {
        const code = errno();
        if (usesFsMark(step.mechanism)) {
          if (isFallbackErrno(code)) {
            fallbacks.push(`FID filesystem mark refused: ${strerror(code)}`);
            continue;
          }
        }
        throw markFailure(mark, code, this.mode);
      }
      const scoped = step.mechanism === "fid-filesystem-scoped" && mount.root !== "/";
      const want: Want | null =
        fs === null
          ? null
          : step.mechanism === "fid-filesystem" || (step.mechanism === "fid-filesystem-scoped" && !scoped)
            ? { kind: "all" }
            : scoped
              ? { kind: "tree", path: mount.mountPoint }
              : { kind: "shallow", path: bytePath };
      if (fs !== null && want !== null) this.scope.add(fs.fsid, want, usesFsMark(step.mechanism));
      this.placed.set(key, { ...step, fsid: fs?.fsid ?? null, want, tree: null });
      return this.notes(mark, { mechanism: step.mechanism, isDir, fsType, handlesOpen, scoped });
    }
    throw new SetupError(`cannot place ${mark.type} mark on '${mark.path}': no mechanism is available`);
  }

  private notes(mark: ReaderMark, facts: Parameters<typeof describePlan>[2]): string[] {
    return [`watching ${mark.path} (type=${TYPE_NUMBER[mark.type]})`, describePlan(mark.type, mark.path, facts)];
  }

  /** Removes a placed mark; an error text or null. A vanished inode took its mark with it. */
  remove(mark: ReaderMark): string | null {
    const key = markKey(mark);
    const p = this.placed.get(key);
    if (p === undefined) return null;
    this.placed.delete(key);
    if (p.tree !== null) {
      this.trees.remove(p.tree);
      return null;
    }
    const fsMark = usesFsMark(p.mechanism);
    if (p.fsid !== null && p.want !== null) this.scope.remove(p.fsid, p.want, fsMark);
    // A filesystem mark stays while another mark on the same filesystem still uses it.
    if (fsMark && p.fsid !== null && this.scope.fsMarkUsers(p.fsid) > 0) return null;
    const flags = (p.flags & ~K.FAN_MARK_ADD) | K.FAN_MARK_REMOVE;
    if (fanotifyMark(this.fd, flags, p.mask, K.AT_FDCWD, cpath(toByteString(mark.path), true)) === 0) return null;
    const code = errno();
    return code === K.ENOENT ? null : `cannot remove ${mark.type} mark on '${mark.path}': ${strerror(code)}`;
  }
}

/** The mechanism places a FID filesystem mark (shared by every mark on that filesystem). */
function usesFsMark(m: Mechanism): boolean {
  return m === "fid-filesystem" || m === "fid-filesystem-scoped";
}
