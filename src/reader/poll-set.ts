// A fixed set of fds to poll(2) for input: the struct pollfd array (8 bytes each: fd, events, revents).
import * as K from "../../ffi/constants.ts";
import { sysPoll } from "../../ffi/libc.ts";

export class PollSet {
  private readonly fds: Uint8Array;
  private readonly view: DataView;
  readonly size: number;

  constructor(fds: readonly number[]) {
    this.size = fds.length;
    this.fds = new Uint8Array(8 * Math.max(1, fds.length));
    this.view = new DataView(this.fds.buffer);
    fds.forEach((fd, i) => {
      this.view.setInt32(i * 8, fd, true);
      this.view.setInt16(i * 8 + 4, K.POLLIN, true);
    });
  }

  /** poll(2) on every fd (revents cleared first): the number ready, 0 on timeout, -1 on error. */
  wait(timeoutMs: number): number {
    for (let i = 0; i < this.size; i++) this.view.setInt16(i * 8 + 6, 0, true);
    return sysPoll(this.fds, this.size, timeoutMs);
  }

  /** revents of the i-th fd after the last wait(). */
  revents(i: number): number {
    return this.view.getInt16(i * 8 + 6, true);
  }
}
