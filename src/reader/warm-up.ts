// Start-up warm-up of the per-event code. A cold daemon runs its first events in JavaScriptCore's
// interpreter while the JIT compiles in the background, several times slower than once compiled; a
// flood that starts right after the start line can then outrun the reader and overflow the kernel
// queue (16384 events). The benchmark saw it in 3 of 70 FID starts (a 20k-op create/write/rename/
// unlink flood ~50 ms after ready). Running the parser, the batch builder and (main thread) the line
// writer over synthetic records for WARM_UP_MS first, before any mark exists, gets them compiled
// earlier. It touches no file descriptor and no shared state.
import * as K from "../../ffi/constants.ts";
import { RecordCursor } from "../../ffi/records.ts";
import { BatchBuilder } from "./batch-builder.ts";

const RECORDS = 256;
const COMM = Buffer.from("warm-up", "latin1");
const EXE = Buffer.from("/usr/bin/warm-up", "latin1");
const DIR = Buffer.from("/warm/up/", "latin1");
const MASKS = [K.FAN_CREATE, K.FAN_MODIFY, K.FAN_CLOSE_WRITE, K.FAN_MOVED_FROM, K.FAN_MOVED_TO, K.FAN_DELETE, K.FAN_OPEN];

/** RECORDS FID records with a DFID_NAME info each, as fanotify_read() lays them out. */
function syntheticRecords(): { buf: Buffer; len: number } {
  const parts: Buffer[] = [];
  for (let i = 0; i < RECORDS; i++) {
    const name = Buffer.from(`file-${i}${i % 17 === 0 ? '"\n' : ""}`, "latin1");
    // info: header(4) + fsid(8) + file_handle header(8) + 8 handle bytes + name + NUL, 4-aligned
    const infoLen = (4 + 8 + 8 + 8 + name.length + 1 + 3) & ~3;
    const rec = Buffer.alloc(K.FAN_EVENT_METADATA_LEN + infoLen);
    rec.writeUInt32LE(rec.length, 0);
    rec.writeUInt8(K.FANOTIFY_METADATA_VERSION, 4);
    rec.writeUInt16LE(K.FAN_EVENT_METADATA_LEN, 6);
    rec.writeUInt32LE(MASKS[i % MASKS.length] >>> 0, 8);
    rec.writeInt32LE(K.FAN_NOFD, 16);
    rec.writeInt32LE(1000 + (i % 4), 20);
    const o = K.FAN_EVENT_METADATA_LEN;
    rec.writeUInt8(K.FAN_EVENT_INFO_TYPE_DFID_NAME, o);
    rec.writeUInt16LE(infoLen, o + 2);
    rec.writeInt32LE(0x1234, o + 4);
    rec.writeInt32LE(0x5678, o + 8);
    rec.writeUInt32LE(8, o + 12); // handle_bytes
    rec.writeInt32LE(1, o + 16); // handle_type
    rec.writeUInt32LE(i, o + 20);
    name.copy(rec, o + 28);
    parts.push(rec);
  }
  const buf = Buffer.concat(parts);
  return { buf, len: buf.length };
}

/** Records from a synthetic read, turned into a batch the way the Worker does it. */
function buildBatch(cursor: RecordCursor, records: { buf: Buffer; len: number }, out: BatchBuilder, scratch: Uint8Array): void {
  cursor.reset(records.buf, records.len);
  while (cursor.next()) {
    const ev = cursor.event;
    const info = ev.infos[0];
    out.begin(ev.maskLo, ev.maskHi, ev.pid, 0);
    out.comm(COMM, 0, COMM.length);
    out.exe(EXE, 0, EXE.length);
    scratch.set(DIR, 0);
    scratch.set(records.buf.subarray(info.nameOffset, info.nameOffset + info.nameLen), DIR.length);
    out.path(scratch, 0, DIR.length + info.nameLen);
    out.name(records.buf, info.nameOffset, info.nameOffset + info.nameLen);
    out.end(false);
  }
}

/** Runs the Worker's per-event code for about `ms` milliseconds. */
export function warmUpReader(ms: number): void {
  const records = syntheticRecords();
  const cursor = new RecordCursor(false);
  const out = new BatchBuilder(RECORDS);
  const scratch = new Uint8Array(8192);
  const deadline = performance.now() + ms;
  while (performance.now() < deadline) {
    buildBatch(cursor, records, out, scratch);
    out.take();
  }
}

/** One synthetic batch, for warming the main thread's side (Pipeline.warmUp). */
export function syntheticBatch(): { count: number; ints: Int32Array; bytes: Uint8Array } {
  const out = new BatchBuilder(RECORDS);
  buildBatch(new RecordCursor(false), syntheticRecords(), out, new Uint8Array(8192));
  return out.take();
}
