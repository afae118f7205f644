// Permission events before anything else (B5, issue 11): a non-blocking look at the content groups in
// the middle of notification work, and the yield that lets an answered opener run before it.
import * as K from "../../ffi/constants.ts";
import { sysSchedYield } from "../../ffi/libc.ts";
import { PollSet } from "./poll-set.ts";

export class ContentFirst {
  private groups: PollSet | null = null;

  /** `drainContent(i)` reads and answers the i-th content group until it is empty. */
  constructor(private readonly drainContent: (index: number) => void) {}

  /** The content groups' fds, once they exist (permission mode). */
  setGroups(fds: readonly number[]): void {
    this.groups = fds.length > 0 ? new PollSet(fds) : null;
  }

  /** Drains the content groups that have a permission event waiting (non-blocking check). */
  service(): void {
    const set = this.groups;
    if (set === null || set.wait(0) <= 0) return;
    for (let i = 0; i < set.size; i++) if (set.revents(i) & K.POLLIN) this.drainContent(i);
  }

  /**
   * Permission mode, before each step of batch work (a notification read, posting a batch): first
   * let the openers just answered run (sched_yield), then answer what they asked meanwhile. On a
   * shared CPU the scheduler otherwise lets this thread finish its batch work while an answered
   * opener waits to run, and the opener's next open waits behind it: that was the permission tail
   * (issue 11; README "Performance"). Without another runnable thread the yield returns at once.
   */
  answerFirst(): void {
    if (this.groups === null) return;
    sysSchedYield();
    this.service();
  }
}
