// Permission events before anything else (B5, issue 11): a non-blocking look at the content group in
// the middle of notification work, and the yield that lets an answered opener run before it.
import * as K from "../../ffi/constants.ts";
import { sysPoll, sysSchedYield } from "../../ffi/libc.ts";

export class ContentFirst {
  private readonly poll = new Uint8Array(8);
  private readonly view = new DataView(this.poll.buffer);
  private active = false;

  /** `drainContent` reads and answers the content group until it is empty. */
  constructor(private readonly drainContent: () => void) {}

  /** The content group's fd, once it exists (permission mode). */
  setGroup(fd: number): void {
    this.view.setInt32(0, fd, true);
    this.view.setInt16(4, K.POLLIN, true);
    this.active = true;
  }

  /** Drains the content group if a permission event is waiting (non-blocking check). */
  service(): void {
    if (!this.active) return;
    this.view.setInt16(6, 0, true);
    if (sysPoll(this.poll, 1, 0) > 0 && this.view.getInt16(6, true) & K.POLLIN) this.drainContent();
  }

  /**
   * Permission mode, before each step of batch work (a notification read, posting a batch): first
   * let the openers just answered run (sched_yield), then answer what they asked meanwhile. On a
   * shared CPU the scheduler otherwise lets this thread finish its batch work while an answered
   * opener waits to run, and the opener's next open waits behind it: that was the permission tail
   * (issue 11; README "Performance"). Without another runnable thread the yield returns at once.
   */
  answerFirst(): void {
    if (!this.active) return;
    sysSchedYield();
    this.service();
  }
}
