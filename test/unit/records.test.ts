import { describe, expect, test } from "bun:test";
import {
  FAN_EVENT_INFO_TYPE_DFID,
  FAN_EVENT_INFO_TYPE_DFID_NAME,
  FAN_EVENT_INFO_TYPE_ERROR,
  FAN_EVENT_INFO_TYPE_FID,
  FAN_EVENT_INFO_TYPE_NEW_DFID_NAME,
  FAN_EVENT_INFO_TYPE_OLD_DFID_NAME,
  FAN_EVENT_INFO_TYPE_PIDFD,
  FAN_Q_OVERFLOW,
} from "../../ffi/constants.ts";
import {
  type ParsedEvent,
  type ParsedInfo,
  type ParseStats,
  RecordCursor,
  RecordKind,
  StopReason,
  fsidKey,
  handleView,
  pathInfoIndex,
  eventPidfd,
  NO_PIDFD_INFO,
} from "../../ffi/records.ts";
import { parseBatch } from "../support/records.ts";

// ---------------------------------------------------------------------------------------------------
// Byte-by-byte record builders (little-endian, via DataView)

interface MetaOpts {
  vers?: number;
  metadataLen?: number;
  maskLo: number;
  maskHi?: number;
  fd: number;
  pid: number;
  /** Override event_len (default: 24 + infos). */
  eventLen?: number;
}

function meta(o: MetaOpts, infos: Uint8Array[] = []): Uint8Array {
  const infoLen = infos.reduce((n, i) => n + i.length, 0);
  const total = 24 + infoLen;
  const out = new Uint8Array(total);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, o.eventLen ?? total, true);
  dv.setUint8(4, o.vers ?? 3);
  dv.setUint8(5, 0);
  dv.setUint16(6, o.metadataLen ?? 24, true);
  dv.setUint32(8, o.maskLo >>> 0, true);
  dv.setUint32(12, (o.maskHi ?? 0) >>> 0, true);
  dv.setInt32(16, o.fd, true);
  dv.setInt32(20, o.pid, true);
  let p = 24;
  for (const i of infos) {
    out.set(i, p);
    p += i.length;
  }
  return out;
}

/** FID-style info: hdr, fsid, file_handle{handle_bytes, handle_type, f_handle}, [name NUL], padded to 4. */
function fidInfo(
  type: number,
  fsid0: number,
  fsid1: number,
  handleType: number,
  fHandle: number[],
  name?: number[],
  opts: { handleBytes?: number; len?: number } = {},
): Uint8Array {
  const raw = 4 + 8 + 8 + fHandle.length + (name ? name.length + 1 : 0);
  const padded = (raw + 3) & ~3;
  const out = new Uint8Array(padded);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, type);
  dv.setUint8(1, 0);
  dv.setUint16(2, opts.len ?? padded, true);
  dv.setInt32(4, fsid0, true);
  dv.setInt32(8, fsid1, true);
  dv.setUint32(12, opts.handleBytes ?? fHandle.length, true);
  dv.setInt32(16, handleType, true);
  for (let k = 0; k < fHandle.length; k++) dv.setUint8(20 + k, fHandle[k]);
  if (name) {
    for (let k = 0; k < name.length; k++) dv.setUint8(20 + fHandle.length + k, name[k]);
    dv.setUint8(20 + fHandle.length + name.length, 0);
  }
  return out;
}

function pidfdInfo(pidfd: number): Uint8Array {
  const out = new Uint8Array(8);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, FAN_EVENT_INFO_TYPE_PIDFD);
  dv.setUint16(2, 8, true);
  dv.setInt32(4, pidfd, true);
  return out;
}

function errorInfo(error: number, count: number): Uint8Array {
  const out = new Uint8Array(12);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, FAN_EVENT_INFO_TYPE_ERROR);
  dv.setUint16(2, 12, true);
  dv.setInt32(4, error, true);
  dv.setUint32(8, count, true);
  return out;
}

function rawInfo(type: number, len: number, body: number[] = []): Uint8Array {
  const out = new Uint8Array(Math.max(4 + body.length, 4));
  const dv = new DataView(out.buffer);
  dv.setUint8(0, type);
  dv.setUint16(2, len, true);
  for (let k = 0; k < body.length; k++) dv.setUint8(4 + k, body[k]);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const bytes = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

// Snapshot of a delivered record (the parser reuses its objects).
interface InfoSnap {
  type: number;
  offset: number;
  len: number;
  fsid0: number;
  fsid1: number;
  handleOffset: number;
  handleLen: number;
  handleBytes: number;
  handleType: number;
  nameOffset: number;
  nameLen: number;
  name: string;
  pidfd: number;
  error: number;
  errorCount: number;
}
interface EvSnap {
  kind: RecordKind;
  offset: number;
  eventLen: number;
  vers: number;
  metadataLen: number;
  maskLo: number;
  maskHi: number;
  fd: number;
  pid: number;
  infoWalkAborted: boolean;
  malformedInfos: number;
  unknownInfos: number;
  pathIdx: number;
  infos: InfoSnap[];
}

function snapInfo(i: ParsedInfo): InfoSnap {
  return { ...i };
}
function snap(ev: ParsedEvent): EvSnap {
  return {
    kind: ev.kind,
    offset: ev.offset,
    eventLen: ev.eventLen,
    vers: ev.vers,
    metadataLen: ev.metadataLen,
    maskLo: ev.maskLo,
    maskHi: ev.maskHi,
    fd: ev.fd,
    pid: ev.pid,
    infoWalkAborted: ev.infoWalkAborted,
    malformedInfos: ev.malformedInfos,
    unknownInfos: ev.unknownInfos,
    pathIdx: pathInfoIndex(ev),
    infos: ev.infos.slice(0, ev.infoCount).map(snapInfo),
  };
}

function parseAll(buf: Uint8Array, len = buf.length): { evs: EvSnap[]; stats: ParseStats } {
  const evs: EvSnap[] = [];
  const stats = parseBatch(buf, len, (ev) => evs.push(snap(ev)));
  return { evs, stats: { ...stats } };
}

const NO_FID = {
  fsid0: 0,
  fsid1: 0,
  handleOffset: 0,
  handleLen: 0,
  handleBytes: 0,
  handleType: 0,
  nameOffset: 0,
  nameLen: 0,
  name: "",
  pidfd: -1,
  error: 0,
  errorCount: 0,
};

const CLEAN = { infoWalkAborted: false, malformedInfos: 0, unknownInfos: 0 };

// ---------------------------------------------------------------------------------------------------

describe("FD mode records", () => {
  test("plain event: fd, pid, mask 0x20", () => {
    const buf = meta({ maskLo: 0x20, fd: 7, pid: 1234 });
    const { evs, stats } = parseAll(buf);
    expect(evs).toEqual([
      {
        kind: RecordKind.Event,
        offset: 0,
        eventLen: 24,
        vers: 3,
        metadataLen: 24,
        maskLo: 0x20,
        maskHi: 0,
        fd: 7,
        pid: 1234,
        ...CLEAN,
        pathIdx: -1,
        infos: [],
      },
    ]);
    expect(stats).toEqual({
      events: 1,
      unknownVersion: 0,
      badMetadata: 0,
      unknownInfos: 0,
      malformedInfos: 0,
      infoWalksAborted: 0,
      consumed: 24,
      truncated: false,
      stop: StopReason.End,
    });
  });

  test("merged mask 0x2a", () => {
    const { evs } = parseAll(meta({ maskLo: 0x2a, fd: 3, pid: 99 }));
    expect(evs.length).toBe(1);
    expect(evs[0].maskLo).toBe(0x2a);
    expect(evs[0].maskHi).toBe(0);
  });

  test("mask bit 63 and bit 31 are read unsigned", () => {
    const { evs } = parseAll(meta({ maskLo: 0x80000020, maskHi: 0x80000000, fd: 5, pid: 1 }));
    expect(evs[0].maskLo).toBe(0x80000020);
    expect(evs[0].maskHi).toBe(0x80000000);
    expect(evs[0].maskHi).toBeGreaterThan(0);
  });

  test("negative pid and large fd are signed i32", () => {
    const { evs } = parseAll(meta({ maskLo: 0x1, fd: 0x7fffffff, pid: -5 }));
    expect(evs[0].fd).toBe(0x7fffffff);
    expect(evs[0].pid).toBe(-5);
  });

  test("Q_OVERFLOW: fd -1, pid 0", () => {
    const { evs, stats } = parseAll(meta({ maskLo: FAN_Q_OVERFLOW, fd: -1, pid: 0 }));
    expect(evs[0]).toMatchObject({ kind: RecordKind.Event, maskLo: 0x4000, maskHi: 0, fd: -1, pid: 0, infos: [] });
    expect(stats.events).toBe(1);
  });

  test("several events in one buffer, at their offsets", () => {
    const a = meta({ maskLo: 0x20, fd: 4, pid: 10 });
    const b = meta({ maskLo: 0x8, fd: 5, pid: 11 }, [pidfdInfo(9)]);
    const c = meta({ maskLo: 0x10000, fd: 6, pid: 12 });
    const buf = concat(a, b, c);
    const { evs, stats } = parseAll(buf);
    expect(evs.map((e) => [e.offset, e.eventLen, e.maskLo, e.fd, e.pid, e.infos.length])).toEqual([
      [0, 24, 0x20, 4, 10, 0],
      [24, 32, 0x8, 5, 11, 1],
      [56, 24, 0x10000, 6, 12, 0],
    ]);
    expect(evs[1].infos[0].pidfd).toBe(9);
    expect(stats).toMatchObject({ events: 3, consumed: 80, truncated: false, stop: StopReason.End });
  });

  test("len shorter than the buffer: only len bytes are walked", () => {
    const buf = new Uint8Array(65536);
    buf.set(concat(meta({ maskLo: 1, fd: 3, pid: 1 }), meta({ maskLo: 2, fd: 4, pid: 2 })), 0);
    const { evs, stats } = parseAll(buf, 48);
    expect(evs.map((e) => e.fd)).toEqual([3, 4]);
    expect(stats).toMatchObject({ consumed: 48, truncated: false, stop: StopReason.End });
  });

  test("len larger than the buffer is clamped; empty batch is fine", () => {
    const buf = meta({ maskLo: 1, fd: 3, pid: 1 });
    expect(parseAll(buf, 1000).stats).toMatchObject({ events: 1, consumed: 24, truncated: false });
    expect(parseAll(new Uint8Array(0), 0).stats).toMatchObject({ events: 0, consumed: 0, truncated: false });
  });
});

describe("FID mode info records", () => {
  test("FID info: fsid, handle location, handle bytes", () => {
    const fid = fidInfo(FAN_EVENT_INFO_TYPE_FID, 0x1234, -2, 1, [1, 2, 3, 4, 5, 6, 7, 8]);
    expect(fid.length).toBe(28);
    const buf = meta({ maskLo: 0x2, fd: -1, pid: 42 }, [fid]);
    const { evs } = parseAll(buf);
    expect(evs[0]).toEqual({
      kind: RecordKind.Event,
      offset: 0,
      eventLen: 52,
      vers: 3,
      metadataLen: 24,
      maskLo: 0x2,
      maskHi: 0,
      fd: -1,
      pid: 42,
      ...CLEAN,
      pathIdx: 0,
      infos: [
        {
          ...NO_FID,
          type: FAN_EVENT_INFO_TYPE_FID,
          offset: 24,
          len: 28,
          fsid0: 0x1234,
          fsid1: -2,
          handleOffset: 36,
          handleLen: 16,
          handleBytes: 8,
          handleType: 1,
        },
      ],
    });
    // the handle can be used in place: bytes [handleOffset, handleOffset + handleLen) are struct file_handle
    const cur = new RecordCursor();
    cur.reset(buf, buf.length);
    expect(cur.next()).toBe(true);
    const h = handleView(buf, cur.event.infos[0]);
    expect(Array.from(h)).toEqual([8, 0, 0, 0, 1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(h.buffer).toBe(buf.buffer);
    expect(fsidKey(cur.event.infos[0].fsid0, cur.event.infos[0].fsid1)).toBe("4660:-2");
    expect(cur.next()).toBe(false);
  });

  test("DFID_NAME with a byte >= 0x80 in the name (latin1 byte string)", () => {
    // "caf\xc3\xa9" = UTF-8 "café" as raw bytes; plus an invalid lone 0xff
    const name = [0x63, 0x61, 0x66, 0xc3, 0xa9, 0xff];
    const info = fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 7, 8, 0x81, [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9], name);
    // 20 + 12 + 6 + 1 = 39 → padded 40
    expect(info.length).toBe(40);
    const { evs } = parseAll(meta({ maskLo: 0x100, fd: -1, pid: 77 }, [info]));
    expect(evs[0].infos).toEqual([
      {
        ...NO_FID,
        type: FAN_EVENT_INFO_TYPE_DFID_NAME,
        offset: 24,
        len: 40,
        fsid0: 7,
        fsid1: 8,
        handleOffset: 36,
        handleLen: 20,
        handleBytes: 12,
        handleType: 0x81,
        nameOffset: 56,
        nameLen: 6,
        name: "caf\xc3\xa9\xff",
      },
    ]);
    expect(evs[0].infos[0].name.length).toBe(6);
    expect(Buffer.from(evs[0].infos[0].name, "latin1").toString("utf8").startsWith("café")).toBe(true);
  });

  test("DFID_NAME with a newline and a 1-byte name", () => {
    const a = meta({ maskLo: 0x100, fd: -1, pid: 1 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("a\nb.txt")),
    ]);
    const b = meta({ maskLo: 0x40000020, fd: -1, pid: 2 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes(".")),
    ]);
    const { evs } = parseAll(concat(a, b));
    expect(evs[0].infos[0].name).toBe("a\nb.txt");
    expect(evs[0].infos[0].nameLen).toBe(7);
    expect(evs[1].infos[0].name).toBe(".");
    expect(evs[1].infos[0].nameOffset).toBe(a.length + 24 + 28);
  });

  test("DFID_NAME with an empty name", () => {
    const { evs } = parseAll(
      meta({ maskLo: 0x100, fd: -1, pid: 1 }, [fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4], [])]),
    );
    expect(evs[0].infos[0]).toMatchObject({ name: "", nameLen: 0, nameOffset: 24 + 24 });
  });

  test("DFID + FID: both parsed, the first FID-style info is the path source", () => {
    const dfid = fidInfo(FAN_EVENT_INFO_TYPE_DFID, 10, 11, 1, [0xaa, 0xbb, 0xcc, 0xdd, 0, 0, 0, 0]);
    const fid = fidInfo(FAN_EVENT_INFO_TYPE_FID, 10, 11, 1, [1, 0, 0, 0, 2, 0, 0, 0]);
    const { evs } = parseAll(meta({ maskLo: 0x4, fd: -1, pid: 3 }, [dfid, fid]));
    expect(evs[0].infos).toEqual([
      {
        ...NO_FID,
        type: FAN_EVENT_INFO_TYPE_DFID,
        offset: 24,
        len: 28,
        fsid0: 10,
        fsid1: 11,
        handleOffset: 36,
        handleLen: 16,
        handleBytes: 8,
        handleType: 1,
      },
      {
        ...NO_FID,
        type: FAN_EVENT_INFO_TYPE_FID,
        offset: 52,
        len: 28,
        fsid0: 10,
        fsid1: 11,
        handleOffset: 64,
        handleLen: 16,
        handleBytes: 8,
        handleType: 1,
      },
    ]);
    expect(evs[0].pathIdx).toBe(0);
  });

  test("DFID_NAME + FID: DFID_NAME is the path source", () => {
    const { evs } = parseAll(
      meta({ maskLo: 0x100, fd: -1, pid: 3 }, [
        fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 1, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("x")),
        fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 1, 1, [8, 7, 6, 5, 4, 3, 2, 1]),
      ]),
    );
    expect(evs[0].infos.map((i) => i.type)).toEqual([FAN_EVENT_INFO_TYPE_DFID_NAME, FAN_EVENT_INFO_TYPE_FID]);
    expect(evs[0].pathIdx).toBe(0);
  });

  test("RENAME: OLD_DFID_NAME + NEW_DFID_NAME + FID", () => {
    const oldI = fidInfo(FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 5, 6, 1, [1, 1, 1, 1, 1, 1, 1, 1], bytes("old.txt"));
    const newI = fidInfo(FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 5, 6, 1, [2, 2, 2, 2, 2, 2, 2, 2], bytes("new name"));
    const fid = fidInfo(FAN_EVENT_INFO_TYPE_FID, 5, 6, 1, [3, 3, 3, 3, 3, 3, 3, 3]);
    // old: 28+8 = 36; new: 28+9 = 37 → 40; fid: 28
    expect([oldI.length, newI.length, fid.length]).toEqual([36, 40, 28]);
    const { evs } = parseAll(meta({ maskLo: 0x10000000, fd: -1, pid: 8 }, [oldI, newI, fid]));
    const e = evs[0];
    expect(e.eventLen).toBe(24 + 36 + 40 + 28);
    expect(e.infos.map((i) => [i.type, i.offset, i.len, i.handleOffset, i.handleLen, i.nameOffset, i.name])).toEqual([
      [FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, 24, 36, 36, 16, 52, "old.txt"],
      [FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, 60, 40, 72, 16, 88, "new name"],
      [FAN_EVENT_INFO_TYPE_FID, 100, 28, 112, 16, 0, ""],
    ]);
    expect(e.pathIdx).toBe(1);
    expect({ ...e, infos: [] }).toMatchObject(CLEAN);
  });

  test("unknown info type 99 between known ones is skipped", () => {
    const dfidName = fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("f"));
    const unknown = rawInfo(99, 12, [0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4]);
    const fid = fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 2, 1, [9, 9, 9, 9, 9, 9, 9, 9]);
    const { evs, stats } = parseAll(meta({ maskLo: 0x100, fd: -1, pid: 1 }, [dfidName, unknown, fid]));
    expect(evs[0].infos.map((i) => [i.type, i.offset])).toEqual([
      [FAN_EVENT_INFO_TYPE_DFID_NAME, 24],
      [FAN_EVENT_INFO_TYPE_FID, 24 + 32 + 12],
    ]);
    expect(evs[0].infos[1].handleOffset).toBe(24 + 32 + 12 + 12);
    expect(evs[0].unknownInfos).toBe(1);
    expect(evs[0].infoWalkAborted).toBe(false);
    expect(stats.unknownInfos).toBe(1);
  });

  test("PIDFD and ERROR infos", () => {
    const { evs } = parseAll(
      concat(
        meta({ maskLo: 0x20, fd: 11, pid: 500 }, [pidfdInfo(12)]),
        meta({ maskLo: 0x20, fd: 13, pid: 501 }, [pidfdInfo(-2)]),
        meta({ maskLo: 0x8000, fd: -1, pid: 0 }, [
          errorInfo(-5, 0xfffffffe),
          fidInfo(FAN_EVENT_INFO_TYPE_FID, 3, 4, 1, [1, 2, 3, 4, 5, 6, 7, 8]),
        ]),
      ),
    );
    expect(evs[0].infos).toEqual([{ ...NO_FID, type: FAN_EVENT_INFO_TYPE_PIDFD, offset: 24, len: 8, pidfd: 12 }]);
    expect(evs[1].infos[0].pidfd).toBe(-2);
    expect(evs[2].infos[0]).toEqual({
      ...NO_FID,
      type: FAN_EVENT_INFO_TYPE_ERROR,
      offset: 64 + 24,
      len: 12,
      error: -5,
      errorCount: 0xfffffffe,
    });
    expect(evs[2].infos[1]).toMatchObject({ type: FAN_EVENT_INFO_TYPE_FID, fsid0: 3, fsid1: 4 });
    expect(evs[2].pathIdx).toBe(1);
  });

  test("eventPidfd: the PIDFD info beside FID infos (FID + FAN_REPORT_PIDFD), its absence, and no-fd values", () => {
    const pidfds: number[] = [];
    const paths: number[] = [];
    const cur = new RecordCursor(false);
    const buf = concat(
      meta({ maskLo: 0x100, fd: -1, pid: 7 }, [
        fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("f")),
        pidfdInfo(21),
      ]),
      meta({ maskLo: 0x100, fd: -1, pid: 8 }, [pidfdInfo(-1)]),
      meta({ maskLo: 0x20, fd: 5, pid: 9 }, []),
      meta({ maskLo: 0x20, fd: 6, pid: 9 }, [pidfdInfo(-2)]),
    );
    cur.reset(buf, buf.length);
    while (cur.next()) {
      pidfds.push(eventPidfd(cur.event));
      paths.push(pathInfoIndex(cur.event));
    }
    expect(pidfds).toEqual([21, -1, NO_PIDFD_INFO, -2]);
    expect(paths).toEqual([0, -1, -1, -1]);
  });

  test("info pool entries are refilled: no stale fields between events", () => {
    const a = meta({ maskLo: 0x100, fd: -1, pid: 1 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("name")),
    ]);
    const b = meta({ maskLo: 0x20, fd: 9, pid: 2 }, [pidfdInfo(4)]);
    const { evs } = parseAll(concat(a, b));
    expect(evs[1].infos).toEqual([{ ...NO_FID, type: FAN_EVENT_INFO_TYPE_PIDFD, offset: a.length + 24, len: 8, pidfd: 4 }]);
  });
});

describe("robustness (never throws on kernel data)", () => {
  test("truncated record at the end: earlier records delivered, consumed reported", () => {
    const a = meta({ maskLo: 0x20, fd: 4, pid: 1 });
    const b = meta({ maskLo: 0x20, fd: 5, pid: 2 }, [pidfdInfo(3)]);
    const buf = concat(a, b);
    // b is 32 bytes, only 28 present
    const r1 = parseAll(buf, 24 + 28);
    expect(r1.evs.map((e) => e.fd)).toEqual([4]);
    expect(r1.stats).toMatchObject({ events: 1, consumed: 24, truncated: true, stop: StopReason.Truncated });
    // fewer than 24 bytes of the next header present
    const r2 = parseAll(buf, 24 + 10);
    expect(r2.evs.map((e) => e.fd)).toEqual([4]);
    expect(r2.stats).toMatchObject({ events: 1, consumed: 24, truncated: true, stop: StopReason.Truncated });
  });

  test("event_len < 24 stops the batch", () => {
    const a = meta({ maskLo: 0x20, fd: 4, pid: 1 });
    const bad = meta({ maskLo: 0x20, fd: 5, pid: 2, eventLen: 16 });
    const c = meta({ maskLo: 0x20, fd: 6, pid: 3 });
    const { evs, stats } = parseAll(concat(a, bad, c));
    expect(evs.map((e) => e.fd)).toEqual([4]);
    expect(stats).toMatchObject({ events: 1, consumed: 24, truncated: true, stop: StopReason.BadEventLen });
    // event_len 0 first thing: nothing consumed, no infinite loop
    const z = parseAll(meta({ maskLo: 1, fd: 1, pid: 1, eventLen: 0 }));
    expect(z.evs).toEqual([]);
    expect(z.stats).toMatchObject({ consumed: 0, truncated: true, stop: StopReason.BadEventLen });
  });

  test("event_len overrunning the buffer (huge u32) is truncation", () => {
    const { evs, stats } = parseAll(meta({ maskLo: 1, fd: 1, pid: 1, eventLen: 0xffffffff }));
    expect(evs).toEqual([]);
    expect(stats).toMatchObject({ consumed: 0, truncated: true, stop: StopReason.Truncated });
  });

  test("wrong version: skipped by event_len, fd still reported, next record parsed", () => {
    const v4 = meta({ vers: 4, maskLo: 0x10000, fd: 17, pid: 300 }, [rawInfo(1, 8, [0, 0, 0, 0])]);
    const v2short = meta({ vers: 2, metadataLen: 16, maskLo: 0x20, fd: 18, pid: 301 });
    const ok = meta({ maskLo: 0x20, fd: 19, pid: 302 });
    const { evs, stats } = parseAll(concat(v4, v2short, ok));
    expect(evs.map((e) => [e.kind, e.offset, e.eventLen, e.vers, e.fd, e.pid, e.maskLo, e.infos.length])).toEqual([
      [RecordKind.UnknownVersion, 0, 32, 4, 17, 300, 0x10000, 0],
      [RecordKind.UnknownVersion, 32, 24, 2, -1, 0, 0, 0],
      [RecordKind.Event, 56, 24, 3, 19, 302, 0x20, 0],
    ]);
    expect(stats).toMatchObject({ events: 1, unknownVersion: 2, consumed: 80, truncated: false });
  });

  test("vers 3 with metadata_len < 24: BadMetadata, no fd", () => {
    const { evs, stats } = parseAll(concat(meta({ metadataLen: 8, maskLo: 1, fd: 5, pid: 1 }), meta({ maskLo: 2, fd: 6, pid: 2 })));
    expect(evs.map((e) => [e.kind, e.fd])).toEqual([
      [RecordKind.BadMetadata, -1],
      [RecordKind.Event, 6],
    ]);
    expect(stats).toMatchObject({ events: 1, badMetadata: 1, consumed: 48 });
  });

  test("vers 3 with metadata_len past event_len: event delivered, info walk aborted", () => {
    const { evs, stats } = parseAll(meta({ metadataLen: 40, maskLo: 0x20, fd: 5, pid: 1 }));
    expect(evs[0]).toMatchObject({ kind: RecordKind.Event, fd: 5, infoWalkAborted: true, infos: [] });
    expect(stats).toMatchObject({ events: 1, infoWalksAborted: 1 });
  });

  test("info len 0 ends the info walk, event still delivered, next event parsed", () => {
    const fid = fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8]);
    const zero = rawInfo(FAN_EVENT_INFO_TYPE_FID, 0, [0, 0, 0, 0]);
    const after = pidfdInfo(3);
    const a = meta({ maskLo: 0x2, fd: -1, pid: 1 }, [fid, zero, after]);
    const b = meta({ maskLo: 0x20, fd: 8, pid: 2 });
    const { evs, stats } = parseAll(concat(a, b));
    expect(evs[0]).toMatchObject({ kind: RecordKind.Event, eventLen: 24 + 28 + 8 + 8, infoWalkAborted: true });
    expect(evs[0].infos.map((i) => i.type)).toEqual([FAN_EVENT_INFO_TYPE_FID]);
    expect(evs[1]).toMatchObject({ offset: a.length, fd: 8 });
    expect(stats).toMatchObject({ events: 2, infoWalksAborted: 1, truncated: false, consumed: a.length + 24 });
  });

  test("info len overrunning the event ends the info walk", () => {
    const a = meta({ maskLo: 0x2, fd: -1, pid: 1 }, [pidfdInfo(4), rawInfo(FAN_EVENT_INFO_TYPE_PIDFD, 200, [1, 0, 0, 0])]);
    const { evs, stats } = parseAll(concat(a, meta({ maskLo: 1, fd: 3, pid: 1 })));
    expect(evs[0].infos.map((i) => i.pidfd)).toEqual([4]);
    expect(evs[0].infoWalkAborted).toBe(true);
    expect(evs[1].fd).toBe(3);
    expect(stats.events).toBe(2);
  });

  test("trailing 1-3 bytes inside an event after the infos abort the walk quietly", () => {
    const a = meta({ maskLo: 0x2, fd: -1, pid: 1 }, [pidfdInfo(4), new Uint8Array(2)]);
    const { evs } = parseAll(a);
    expect(evs[0].infos.length).toBe(1);
    expect(evs[0].infoWalkAborted).toBe(true);
  });

  test("handle_bytes overrunning the info: that info skipped as malformed, walk continues", () => {
    const bad = fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4, 5, 6, 7, 8], bytes("n"), {
      handleBytes: 4096,
    });
    const huge = fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 2, 1, [1, 2, 3, 4], undefined, { handleBytes: 0xffffffff });
    const good = fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 2, 1, [5, 6, 7, 8, 9, 10, 11, 12]);
    const { evs, stats } = parseAll(meta({ maskLo: 0x100, fd: -1, pid: 1 }, [bad, huge, good]));
    expect(evs[0].infos.map((i) => [i.type, i.offset, i.handleBytes])).toEqual([
      [FAN_EVENT_INFO_TYPE_FID, 24 + bad.length + huge.length, 8],
    ]);
    expect(evs[0]).toMatchObject({ malformedInfos: 2, infoWalkAborted: false });
    expect(stats.malformedInfos).toBe(2);
  });

  test("FID/PIDFD/ERROR infos too short for their type are malformed", () => {
    const { evs, stats } = parseAll(
      meta({ maskLo: 0x100, fd: -1, pid: 1 }, [
        rawInfo(FAN_EVENT_INFO_TYPE_FID, 16, new Array<number>(12).fill(0)),
        rawInfo(FAN_EVENT_INFO_TYPE_PIDFD, 4),
        rawInfo(FAN_EVENT_INFO_TYPE_ERROR, 8, [1, 0, 0, 0]),
        pidfdInfo(7),
      ]),
    );
    expect(evs[0].infos.map((i) => [i.type, i.pidfd])).toEqual([[FAN_EVENT_INFO_TYPE_PIDFD, 7]]);
    expect(stats.malformedInfos).toBe(3);
  });

  test("name without NUL runs to the end of the info", () => {
    const info = fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4], bytes("abc"));
    // fill the NUL and padding with letters: raw 20+4+4 = 28, no padding
    expect(info.length).toBe(28);
    info[27] = 0x64; // 'd' replaces the NUL
    const { evs } = parseAll(meta({ maskLo: 0x100, fd: -1, pid: 1 }, [info]));
    expect(evs[0].infos[0]).toMatchObject({ name: "abcd", nameLen: 4 });
  });

  test("random garbage never throws and always terminates", () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const cur = new RecordCursor();
    for (let round = 0; round < 2000; round++) {
      const n = rnd() % 300;
      const buf = new Uint8Array(n);
      for (let k = 0; k < n; k++) buf[k] = rnd() & 0xff;
      // make some records plausible
      if (n >= 24 && round % 2 === 0) {
        const dv = new DataView(buf.buffer);
        dv.setUint32(0, 24 + (rnd() % (n - 23)), true);
        dv.setUint8(4, 3);
        dv.setUint16(6, 24, true);
      }
      let count = 0;
      cur.reset(buf, n);
      while (cur.next()) {
        count++;
        expect(count).toBeLessThanOrEqual(n / 24);
      }
      expect(cur.stats.consumed).toBeLessThanOrEqual(n);
    }
  });
});

describe("cursor and helpers", () => {
  test("cursor API over a reused buffer; stats reset per batch", () => {
    const buf = new Uint8Array(1024);
    const cur = new RecordCursor();
    buf.set(concat(meta({ maskLo: 1, fd: 3, pid: 1 }), meta({ maskLo: 2, fd: 4, pid: 2 })));
    cur.reset(buf, 48);
    const fds: number[] = [];
    while (cur.next()) fds.push(cur.event.fd);
    expect(fds).toEqual([3, 4]);
    expect(cur.stats.events).toBe(2);
    expect(cur.next()).toBe(false);

    const rec = meta({ maskLo: 0x100, fd: -1, pid: 5 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4], bytes("zz")),
    ]);
    expect(rec.length).toBe(52);
    buf.set(rec);
    cur.reset(buf, rec.length);
    expect(cur.next()).toBe(true);
    expect(cur.event.infos[0].name).toBe("zz");
    expect(cur.next()).toBe(false);
    expect(cur.stats).toMatchObject({ events: 1, consumed: 52, truncated: false });
  });

  test("works on a Buffer and on a subarray view with a byteOffset", () => {
    const rec = meta({ maskLo: 0x100, fd: -1, pid: 5 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4], bytes("hello")),
    ]);
    const big = new Uint8Array(rec.length + 100);
    big.set(rec, 37);
    const view = big.subarray(37);
    expect(parseAll(view, rec.length).evs[0].infos[0].name).toBe("hello");
    expect(parseAll(Buffer.from(rec)).evs[0].infos[0].name).toBe("hello");
  });

  test("parseBatch is re-entrant from a sink", () => {
    const inner = meta({ maskLo: 2, fd: 9, pid: 9 });
    const outer = concat(meta({ maskLo: 1, fd: 3, pid: 1 }), meta({ maskLo: 1, fd: 4, pid: 1 }));
    const seen: number[] = [];
    parseBatch(outer, outer.length, (ev) => {
      seen.push(ev.fd);
      parseBatch(inner, inner.length, (e) => seen.push(e.fd));
    });
    expect(seen).toEqual([3, 9, 4, 9]);
  });

  test("decodeNames=false leaves name empty; nameOf decodes on demand", () => {
    const rec = meta({ maskLo: 0x100, fd: -1, pid: 5 }, [
      fidInfo(FAN_EVENT_INFO_TYPE_DFID_NAME, 1, 2, 1, [1, 2, 3, 4], [0x61, 0xe9, 0x0a]),
      fidInfo(FAN_EVENT_INFO_TYPE_FID, 1, 2, 1, [1, 2, 3, 4]),
    ]);
    const cur = new RecordCursor(false);
    cur.reset(rec, rec.length);
    expect(cur.next()).toBe(true);
    const [dn, fid] = cur.event.infos;
    expect(dn).toMatchObject({ name: "", nameOffset: 24 + 24, nameLen: 3 });
    expect(cur.nameOf(dn)).toBe("a\xe9\n");
    expect(cur.nameOf(fid)).toBe("");
    expect(Array.from(rec.subarray(dn.nameOffset, dn.nameOffset + dn.nameLen))).toEqual([0x61, 0xe9, 0x0a]);
  });

  test("fsidKey normalises to signed i32", () => {
    expect(fsidKey(1, 2)).toBe("1:2");
    expect(fsidKey(-1, 0)).toBe("-1:0");
    expect(fsidKey(0xffffffff, 0x80000000)).toBe("-1:-2147483648");
  });

  test("pathInfoIndex follows A5 (DFID_NAME / NEW_DFID_NAME win, else first)", () => {
    const mk = (types: number[]): number => {
      const infos = types.map((t) =>
        t === FAN_EVENT_INFO_TYPE_PIDFD
          ? pidfdInfo(1)
          : fidInfo(t, 1, 1, 1, [1, 2, 3, 4], t === 2 || t === 10 || t === 12 ? bytes("n") : undefined),
      );
      return parseAll(meta({ maskLo: 1, fd: -1, pid: 1 }, infos)).evs[0].pathIdx;
    };
    expect(mk([])).toBe(-1);
    expect(mk([FAN_EVENT_INFO_TYPE_PIDFD])).toBe(-1);
    expect(mk([FAN_EVENT_INFO_TYPE_FID])).toBe(0);
    expect(mk([FAN_EVENT_INFO_TYPE_FID, FAN_EVENT_INFO_TYPE_DFID_NAME])).toBe(1);
    expect(mk([FAN_EVENT_INFO_TYPE_DFID, FAN_EVENT_INFO_TYPE_FID])).toBe(0);
    expect(mk([FAN_EVENT_INFO_TYPE_OLD_DFID_NAME, FAN_EVENT_INFO_TYPE_NEW_DFID_NAME, FAN_EVENT_INFO_TYPE_FID])).toBe(1);
    expect(mk([FAN_EVENT_INFO_TYPE_PIDFD, FAN_EVENT_INFO_TYPE_OLD_DFID_NAME])).toBe(1);
  });
});
