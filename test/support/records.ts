// Test-only: parseBatch, a callback walk over one batch with a shared ffi/records.ts RecordCursor
// (the reader drives its own cursor; this is how the unit tests read a batch).
import { RecordCursor, type ParsedEvent, type ParseStats } from "../../ffi/records.ts";

/** Called once per delivered record (including skipped-version records: check `ev.kind`). */
export type RecordSink = (ev: ParsedEvent) => void;

let shared: RecordCursor | null = null;
let sharedBusy = false;

/**
 * Walk `buf[0, len)` and call `out` once per record (check `ev.kind`; close/answer `ev.fd` when >= 0
 * whatever the kind). Returns the cursor's stats object (reused across calls with the same cursor; copy
 * what you keep). Pass your own `cursor` to avoid sharing the module's default one.
 */
export function parseBatch(buf: Uint8Array, len: number, out: RecordSink, cursor?: RecordCursor): ParseStats {
  let cur = cursor;
  let usingShared = false;
  if (cur === undefined) {
    if (sharedBusy) {
      cur = new RecordCursor(); // re-entrant call from inside a sink: don't clobber the outer walk
    } else {
      if (shared === null) shared = new RecordCursor();
      cur = shared;
      sharedBusy = true;
      usingShared = true;
    }
  }
  try {
    cur.reset(buf, len);
    while (cur.next()) out(cur.event);
  } finally {
    if (usingShared) sharedBusy = false;
  }
  return cur.stats;
}
