// Permission mode: which content group answers which mark (issue 11). The kernel wakes every process
// waiting on a group's permission events whenever any one of them is answered (fanotify_get_response
// waits on the group's one access wait queue, which each answer wakes whole), so with one group for
// everything an opener on a quiet mount was woken, switched to and put back to sleep for every answer
// given on a busy one: on a shared CPU half of its opens waited twice as long. Each mark gets a
// group of its own, up to MAX_CONTENT_GROUPS (fanotify allows 128 groups per user by default); further
// marks, and marks added by a reload, go to the group holding the fewest.
import * as K from "../../ffi/constants.ts";
import { contentMark } from "./groups.ts";
import { isDirectory } from "./mark-changes.ts";
import type { ReaderMark } from "./protocol.ts";

export const MAX_CONTENT_GROUPS = 8;

/** How many content groups `marks` get. */
export function contentGroupCount(marks: number): number {
  return Math.max(1, Math.min(marks, MAX_CONTENT_GROUPS));
}

/** The content groups' fds and the mark each one holds. */
export class ContentMarks {
  /** Mark key → index of the group holding it. */
  private readonly holder = new Map<string, number>();
  /** Marks held per group. */
  private readonly load: number[];

  private readonly groupFds: number[];

  /** `fds`: the content groups, at least one. */
  constructor(fds: readonly number[]) {
    if (fds.length === 0) throw new RangeError("ContentMarks needs a content group");
    this.groupFds = [...fds];
    this.load = fds.map(() => 0);
  }

  get fds(): readonly number[] {
    return this.groupFds;
  }

  /** How many marks are placed. */
  get marks(): number {
    return this.holder.size;
  }

  /** A further (empty) group: the next marks go there first. */
  addGroup(fd: number): void {
    this.groupFds.push(fd);
    this.load.push(0);
  }

  /** Places `mark` on the group holding the fewest marks (the first of those); 0 or the errno. */
  add(mark: ReaderMark): number {
    let g = 0;
    for (let i = 1; i < this.load.length; i++) if (this.load[i] < this.load[g]) g = i;
    const code = contentMark(this.fds[g], mark, isDirectory(mark.path));
    if (code !== 0) return code;
    this.holder.set(keyOf(mark), g);
    this.load[g]++;
    return 0;
  }

  /** Removes `mark` from the group holding it (from every group when none is known); 0 or the errno. */
  remove(mark: ReaderMark): number {
    const key = keyOf(mark);
    const g = this.holder.get(key);
    const isDir = isDirectory(mark.path);
    if (g !== undefined) {
      this.holder.delete(key);
      this.load[g]--;
      return contentMark(this.fds[g], mark, isDir, true);
    }
    let code = K.ENOENT;
    for (const fd of this.fds) if (contentMark(fd, mark, isDir, true) === 0) code = 0;
    return code;
  }
}

function keyOf(mark: ReaderMark): string {
  return `${mark.type}\0${mark.path}`;
}
