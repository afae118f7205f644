// Permission mode: which content group answers which mark (issue 11). The kernel wakes every process
// waiting on a group's permission events whenever any one of them is answered (fanotify_get_response
// waits on the group's one access wait queue, which each answer wakes whole), so with one group for
// everything an opener on a quiet mount was woken, switched to and put back to sleep for every answer
// given on a busy one: on a shared CPU half of its opens waited twice as long. Each mark gets a
// group of its own, up to MAX_CONTENT_GROUPS (fanotify allows 128 groups per user by default); further
// marks share them in turn.
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
  private readonly holder = new Map<string, number>();
  private next = 0;

  /** `fds`: the content groups, at least one. */
  constructor(readonly fds: readonly number[]) {
    if (fds.length === 0) throw new RangeError("ContentMarks needs a content group");
  }

  /** Places `mark` on the next group in turn; 0 or the errno. */
  add(mark: ReaderMark): number {
    const fd = this.fds[this.next];
    const code = contentMark(fd, mark, isDirectory(mark.path));
    if (code !== 0) return code;
    this.next = (this.next + 1) % this.fds.length;
    this.holder.set(keyOf(mark), fd);
    return 0;
  }

  /** Removes `mark` from the group holding it (from every group when none is known); 0 or the errno. */
  remove(mark: ReaderMark): number {
    const key = keyOf(mark);
    const fd = this.holder.get(key);
    const isDir = isDirectory(mark.path);
    if (fd !== undefined) {
      this.holder.delete(key);
      return contentMark(fd, mark, isDir, true);
    }
    let code = K.ENOENT;
    for (const g of this.fds) if (contentMark(g, mark, isDir, true) === 0) code = 0;
    return code;
  }
}

function keyOf(mark: ReaderMark): string {
  return `${mark.type}\0${mark.path}`;
}
