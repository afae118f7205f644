// fds closed together instead of one close() each: the kernel hands them out as consecutive numbers,
// so a few close_range() calls do it. Two queues use it (reader-loop.ts): the pidfds and notification
// event fds of the records handled since the last read, closed after it; and the answered permission
// event fds, closed in groups of PERM_CLOSE_BATCH or before the reader waits (issue 11).
import { sysClose, sysCloseRange } from "../../ffi/libc.ts";

/** fds waiting to be closed after the current read. */
const CLOSE_LATER_MAX = 16384;

export class CloseQueue {
  private readonly fds: Int32Array;
  private count = 0;

  /** `capacity`: the queue closes everything once it holds this many fds. */
  constructor(private readonly capacity = CLOSE_LATER_MAX) {
    this.fds = new Int32Array(capacity);
  }

  get pending(): boolean {
    return this.count > 0;
  }

  /** Queues an fd that is ours and done with for closing (exactly once): later, or now when the queue is full. */
  add(fd: number): void {
    this.fds[this.count++] = fd;
    if (this.count === this.capacity) this.closeAll();
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
