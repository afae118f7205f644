// Reading what a fanotify group still holds when the reader stops (issue 14 items 8 and 11): after
// its marks are gone nothing new arrives, so a bounded read loop empties it.
import * as K from "../../ffi/constants.ts";
import { errno, sysRead } from "../../ffi/libc.ts";
import type { ParsedEvent, RecordCursor } from "../../ffi/records.ts";

export interface DrainTarget {
  readonly fd: number;
  readonly buf: Buffer;
  readonly cursor: RecordCursor;
}

/**
 * Reads `g` until it is empty or `ms` have passed, handing every record to `onEvent`; `onNoFd` is
 * told of each read the kernel failed for want of an fd (EMFILE/ENFILE: that event is gone).
 */
export function drainFor(
  g: DrainTarget,
  ms: number,
  readBytes: () => number,
  onEvent: (ev: ParsedEvent) => void,
  onNoFd: (errno: number) => void,
): void {
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    const n = sysRead(g.fd, g.buf, readBytes());
    if (n <= 0) {
      const e = n < 0 ? errno() : 0;
      if (e === K.EINTR) continue;
      if (e === K.EMFILE || e === K.ENFILE) {
        onNoFd(e);
        continue;
      }
      return;
    }
    g.cursor.reset(g.buf, n);
    while (g.cursor.next()) onEvent(g.cursor.event);
  }
}
