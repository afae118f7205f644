// The pidfds and notification event fds of the records handled since the last read, closed together
// after it: the kernel hands them out as consecutive numbers, so a few close_range() calls replace one
// close() per fd. (Permission event fds are closed right after their answer, never here.)
import { sysClose, sysCloseRange } from "../../ffi/libc.ts";

/** fds waiting to be closed after the current read. */
const CLOSE_LATER_MAX = 16384;

export class CloseQueue {
  private readonly fds = new Int32Array(CLOSE_LATER_MAX);
  private count = 0;

  get pending(): boolean {
    return this.count > 0;
  }

  /** Queues an fd that is ours and done with for closing (exactly once) after the current read. */
  add(fd: number): void {
    if (this.count === CLOSE_LATER_MAX) this.closeAll();
    this.fds[this.count++] = fd;
  }

  /** Closes the queued fds, each run of consecutive numbers with one close_range(). */
  closeAll(): void {
    const a = this.fds;
    const n = this.count;
    this.count = 0;
    for (let i = 0; i < n; ) {
      const first = a[i++];
      let last = first;
      while (i < n && a[i] === last + 1) {
        last++;
        i++;
      }
      // Every number in the run is one of our open fds, so the range closes nothing else.
      if (last === first || sysCloseRange(first, last) !== 0) for (let fd = first; fd <= last; fd++) sysClose(fd);
    }
  }
}
