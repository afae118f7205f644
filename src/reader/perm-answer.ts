// Writing the kernel's answer to a permission event (B5), and the answer-time histogram (--metrics).
import { errno, strerror, sysWrite } from "../../ffi/libc.ts";
import { SharedHistogram, PERM_ANSWER_BOUNDS_S } from "../metrics/histogram.ts";
import { sharedMonoNow, type ReaderCounters } from "./protocol.ts";

export class PermAnswerer {
  private readonly response = new Uint8Array(8);
  private readonly responseView = new DataView(this.response.buffer);
  /** Permission answer time (metrics), or null. */
  private readonly hist: SharedHistogram | null;
  /** sharedMonoNow() taken before the read() that brought the current records. */
  readAt = 0;

  constructor(
    histogram: SharedArrayBuffer | null,
    private readonly counters: ReaderCounters,
    private readonly warn: (message: string) => void,
  ) {
    this.hist = histogram === null ? null : new SharedHistogram(PERM_ANSWER_BOUNDS_S, histogram);
  }

  /** Writes the answer (FAN_ALLOW/FAN_DENY) for a permission event's fd to its group. */
  respond(groupFd: number, fd: number, response: number): void {
    // Pass the typed array itself on every call (design.md: never cache ptr()).
    this.responseView.setInt32(0, fd, true);
    this.responseView.setUint32(4, response, true);
    if (sysWrite(groupFd, this.response, 8) !== 8) {
      this.counters.responseErrors++;
      this.warn(`fanotify response failed for fd ${fd}: ${strerror(errno())}`);
    }
    this.hist?.observe((sharedMonoNow() - this.readAt) / 1000);
  }
}
