// FD-mode reads make the kernel create one fd per event. When it cannot (EMFILE/ENFILE), a
// permission event is DENIED by the kernel and a notification event is dropped, and read() hides
// the failure unless it hit the first event of the read (fanotify(7), fs/notify/fanotify
// copy_event_to_user). So under a low fd limit, each FD-mode read asks for no more events than there
// are fds left to receive them (issue 14 item 5).
//
// Counting open fds (/proc/self/fd) costs a directory read, so it is done only while the limit is
// tight; with the usual limits (Bun raises the soft limit to the hard one) reads are not shortened.
import fs from "node:fs";
import { FAN_EVENT_METADATA_LEN } from "../../ffi/constants.ts";
import { getNofileLimit, setNofileSoftLimit } from "../../ffi/process.ts";

/** fds kept free for the main thread (output reopen, hooks, subscribers) and the runtime. */
export const FD_RESERVE = 8;
/** Above this many free fds a full read cannot run out: no counting. */
const ROOMY = 4 * 4096;

/**
 * Open fds of this process. Listing /proc/self/fd takes an fd itself: with none free (EMFILE, or
 * ENFILE system-wide) the process is at its limit, which is what the count is for — so that is the
 * answer, not an error that would end the reader. Any other failure is thrown as before.
 */
export function countOpenFds(limit: number, fdDir = "/proc/self/fd"): number {
  try {
    return fs.readdirSync(fdDir).length - 1; // the directory's own fd
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EMFILE" || code === "ENFILE") return limit;
    throw e;
  }
}

export class FdBudget {
  private tight: boolean;
  /** How many reads were shortened (for tests and logs). */
  shortened = 0;

  constructor(
    private readonly softLimit: number,
    private readonly countOpen: () => number = () => countOpenFds(softLimit),
    private readonly reserve = FD_RESERVE,
  ) {
    this.tight = Number.isFinite(softLimit) && softLimit - countOpen() < ROOMY;
  }

  /** True when reads are sized by the free fds. */
  get isTight(): boolean {
    return this.tight;
  }

  /**
   * Bytes to read from an FD-mode group whose buffer holds `max` bytes: room for as many events as
   * there are free fds (at least one event, so a failure is seen by read() itself and counted).
   */
  readBytes(max: number): number {
    if (!this.tight) return max;
    const free = this.softLimit - this.countOpen() - this.reserve;
    const bytes = Math.max(1, free) * FAN_EVENT_METADATA_LEN;
    if (bytes >= max) return max;
    this.shortened++;
    return bytes;
  }
}

/** Raises the soft RLIMIT_NOFILE to the hard limit; returns a note when it changed, else null. */
export function raiseFdLimit(): string | null {
  const lim = getNofileLimit();
  if (lim === null || lim.soft >= lim.hard) return null;
  return setNofileSoftLimit(lim.hard, lim.hard) ? `raised the open file limit from ${lim.soft} to ${lim.hard}` : null;
}
