import { describe, expect, test } from "bun:test";
import { encodeAlert, encodeStats, jsonString } from "../../src/output-encode.ts";
import { encodeAlertConcat, encodeEvent, encodeEventConcat, escapeJsonBytes } from "../support/reference-encoders.ts";
import type { AlertRecord, FsEvent } from "../../src/output-records.ts";

function ev(p: Partial<FsEvent>): FsEvent {
  return {
    maskLo: 0,
    maskHi: 0,
    pid: 0,
    comm: "",
    exe: "",
    path: "",
    name: "",
    isDir: false,
    decision: "observe",
    ...p,
  };
}

function alert(p: Partial<AlertRecord> & Pick<AlertRecord, "kind">): AlertRecord {
  return { pid: 0, comm: "", exe: "", path: "", reason: "", ...p };
}

/** Both event serializers, which must always agree byte for byte. */
function bothEvent(e: FsEvent, ts: number, job: string | null, role: string | null): string {
  const a = encodeEvent(e, ts, job, role);
  expect(encodeEventConcat(e, ts, job, role)).toBe(a);
  return a;
}
function bothAlert(a: AlertRecord, ts: number): string {
  const s = encodeAlert(a, ts);
  expect(encodeAlertConcat(a, ts)).toBe(s);
  return s;
}

/** A7's escaping, written out independently of the encoder. */
function refEscape(s: string): string {
  let out = "";
  for (const ch of s) {
    const c = ch.charCodeAt(0);
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    else if (c < 0x20) out += "\\u00" + c.toString(16).padStart(2, "0");
    else out += ch;
  }
  return out;
}

describe("A7 observed lines, byte for byte", () => {
  test("README quick start: modify event", () => {
    const line = bothEvent(
      ev({
        maskLo: 10,
        pid: 6600,
        comm: "bash",
        exe: "/usr/bin/bash",
        path: "/tmp/fanotifyd-demo/file",
        name: "file",
      }),
      1795558008981,
      null,
      null,
    );
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":1795558008981,"mask":10,"events":"MODIFY,CLOSE_WRITE","decision":"observe","job_id":null,"path_role":null,"pid":6600,"comm":"bash","exe":"/usr/bin/bash","path":"/tmp/fanotifyd-demo/file","name":"file","is_dir":false}',
    );
  });

  test("README quick start: canary alert without exe", () => {
    const line = bothAlert(
      alert({
        kind: "canary",
        pid: 6622,
        comm: "cat",
        path: "/tmp/fanotifyd-demo/canary",
        reason: "canary opened",
      }),
      1795558008983,
    );
    expect(line).toBe(
      '{"type":"alert","ts_ms":1795558008983,"kind":"canary","pid":6622,"comm":"cat","path":"/tmp/fanotifyd-demo/canary","reason":"canary opened"}',
    );
  });

  test("README quick start: open event without exe", () => {
    const line = bothEvent(
      ev({ maskLo: 32, pid: 6622, comm: "cat", path: "/tmp/fanotifyd-demo/canary", name: "canary" }),
      1795558008983,
      null,
      null,
    );
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":1795558008983,"mask":32,"events":"OPEN","decision":"observe","job_id":null,"path_role":null,"pid":6622,"comm":"cat","path":"/tmp/fanotifyd-demo/canary","name":"canary","is_dir":false}',
    );
  });

  test("burst alert with count and window_ms after reason", () => {
    const line = bothAlert(
      alert({
        kind: "burst",
        pid: 6835,
        comm: "touch",
        exe: "/usr/bin/touch",
        path: "/tmp/fdemo2/a",
        reason: "mutating-event burst exceeded threshold",
        count: 3,
        windowMs: 1000,
      }),
      1795558084415,
    );
    expect(line).toBe(
      '{"type":"alert","ts_ms":1795558084415,"kind":"burst","pid":6835,"comm":"touch","exe":"/usr/bin/touch","path":"/tmp/fdemo2/a","reason":"mutating-event burst exceeded threshold","count":3,"window_ms":1000}',
    );
  });

  test("overflow alert (A14 exact text)", () => {
    const line = bothAlert(
      alert({ kind: "overflow", pid: 0, path: "<overflow>", reason: "fanotify queue overflowed" }),
      1795558128466,
    );
    expect(line).toBe(
      '{"type":"alert","ts_ms":1795558128466,"kind":"overflow","pid":0,"path":"<overflow>","reason":"fanotify queue overflowed"}',
    );
  });

  test("permission deny event without name", () => {
    const line = bothEvent(
      ev({
        maskLo: 65536,
        pid: 7076,
        comm: "cat",
        exe: "/usr/bin/cat",
        path: "/tmp/pmnt/blocked",
        decision: "deny",
      }),
      1795558100844,
      null,
      null,
    );
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":1795558100844,"mask":65536,"events":"OPEN_PERM","decision":"deny","job_id":null,"path_role":null,"pid":7076,"comm":"cat","exe":"/usr/bin/cat","path":"/tmp/pmnt/blocked","is_dir":false}',
    );
  });

  test("directory open event", () => {
    const line = bothEvent(
      ev({
        maskLo: 1073741856,
        pid: 6833,
        comm: "ls",
        exe: "/usr/bin/ls",
        path: "/tmp/fdemo2/.",
        name: ".",
        isDir: true,
      }),
      1795558084412,
      null,
      null,
    );
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":1795558084412,"mask":1073741856,"events":"OPEN,ONDIR","decision":"observe","job_id":null,"path_role":null,"pid":6833,"comm":"ls","exe":"/usr/bin/ls","path":"/tmp/fdemo2/.","name":".","is_dir":true}',
    );
  });
});

describe("event record fields", () => {
  test("job_id and path_role strings", () => {
    const line = bothEvent(ev({ maskLo: 0x100, pid: 1, path: "/w/x", name: "x" }), 5, "job-7", "workspace");
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":5,"mask":256,"events":"CREATE","decision":"observe","job_id":"job-7","path_role":"workspace","pid":1,"path":"/w/x","name":"x","is_dir":false}',
    );
  });

  test("comm, exe and name omitted when empty; path always present even empty", () => {
    const line = bothEvent(ev({ maskLo: 0x2, pid: 9 }), 1, null, null);
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":1,"mask":2,"events":"MODIFY","decision":"observe","job_id":null,"path_role":null,"pid":9,"path":"","is_dir":false}',
    );
  });

  test("allow decision and mask 0", () => {
    const line = bothEvent(ev({ maskLo: 0, pid: 2, path: "/p", decision: "allow" }), 1, null, null);
    expect(line).toContain('"mask":0,"events":"","decision":"allow"');
  });

  test("64-bit masks: exact decimal and hex token", () => {
    const hi63 = encodeEvent(ev({ maskLo: 0x20, maskHi: 0x80000000, path: "/p" }), 1, null, null);
    expect(hi63).toContain('"mask":9223372036854775840,"events":"OPEN,0x8000000000000000"');
    expect(encodeEventConcat(ev({ maskLo: 0x20, maskHi: 0x80000000, path: "/p" }), 1, null, null)).toBe(
      hi63,
    );
    const hi1 = bothEvent(ev({ maskLo: 0x2, maskHi: 1, path: "/p" }), 1, null, null);
    expect(hi1).toContain('"mask":4294967298,"events":"MODIFY,0x100000000"');
  });

  test("job strings and role are escaped too", () => {
    const line = bothEvent(ev({ path: "/p" }), 1, 'j"\n\xff', "r\\");
    expect(line).toContain('"job_id":"j\\"\\n\xff","path_role":"r\\\\"');
  });

  test("the line never contains a raw newline or control byte", () => {
    for (let b = 0; b < 256; b++) {
      const ch = String.fromCharCode(b);
      const line = encodeEvent(ev({ comm: ch, exe: ch, path: ch, name: ch }), 1, ch, ch);
      expect(/[\x00-\x1f]/.test(line)).toBe(false);
    }
  });
});

describe("escaping (A7)", () => {
  const cases: Array<[string, string, string]> = [
    ["quote", 'a"b', 'a\\"b'],
    ["backslash", "a\\b", "a\\\\b"],
    ["newline", "a\nb", "a\\nb"],
    ["carriage return", "a\rb", "a\\rb"],
    ["tab", "a\tb", "a\\tb"],
    ["backspace", "a\bb", "a\\bb"],
    ["form feed", "a\fb", "a\\fb"],
    ["0x01", "a\x01b", "a\\u0001b"],
    ["0x00", "\x00", "\\u0000"],
    ["0x1f (lowercase hex)", "a\x1fb", "a\\u001fb"],
    ["0x0b vertical tab", "\x0b", "\\u000b"],
    ["0x1b escape", "\x1b[0m", "\\u001b[0m"],
    ["DEL raw", "a\x7fb", "a\x7fb"],
    ["0xff raw", "a\xffb", "a\xffb"],
    ["valid UTF-8 bytes raw", "caf\xc3\xa9", "caf\xc3\xa9"],
    ["invalid UTF-8 raw", "bad\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc", "bad\xc3\x28\xa0\xa1\xf0\x28\x8c\xbc"],
    ["slash not escaped", "/a/b/", "/a/b/"],
    ["clean", "plain-name.txt", "plain-name.txt"],
    ["empty", "", ""],
    ["everything at once", '"\\\n\r\t\b\f\x01\x1f\x7f\x80\xff/', '\\"\\\\\\n\\r\\t\\b\\f\\u0001\\u001f\x7f\x80\xff/'],
  ];
  for (const [what, input, body] of cases) {
    test(what, () => {
      expect(escapeJsonBytes(input)).toBe(body);
      expect(jsonString(input)).toBe('"' + body + '"');
      // and inside a whole record, through both serializers
      if (input !== "") {
        const line = bothEvent(ev({ comm: input, exe: input, path: input, name: input }), 1, null, null);
        expect(line).toContain(`"comm":"${body}","exe":"${body}","path":"${body}","name":"${body}",`);
      }
    });
  }

  test("every byte value 0x00..0xff, alone and in context, matches the reference escaping", () => {
    for (let b = 0; b < 256; b++) {
      for (const s of [String.fromCharCode(b), `x${String.fromCharCode(b)}y`]) {
        expect(escapeJsonBytes(s)).toBe(refEscape(s));
        const line = bothEvent(ev({ path: s }), 1, null, null);
        expect(line).toContain(`"path":"${refEscape(s)}",`);
        const a = bothAlert(alert({ kind: "canary", path: s, reason: s, comm: s, exe: s }), 1);
        expect(a).toContain(`"reason":"${refEscape(s)}"}`);
      }
    }
  });

  test("a name containing a newline stays on one line, and raw bytes survive latin1 output", () => {
    const e = ev({
      maskLo: 0x100,
      pid: 42,
      comm: "sh",
      path: "/tmp/d/evil\nname\xff",
      name: "evil\nname\xff",
    });
    const line = bothEvent(e, 7, null, null);
    expect(line.includes("\n")).toBe(false);
    expect(line).toBe(
      '{"schema_version":1,"type":"event","ts_ms":7,"mask":256,"events":"CREATE","decision":"observe","job_id":null,"path_role":null,"pid":42,"comm":"sh","path":"/tmp/d/evil\\nname\xff","name":"evil\\nname\xff","is_dir":false}',
    );
    const bytes = Buffer.from(line + "\n", "latin1");
    expect(bytes.length).toBe(line.length + 1);
    expect(bytes.indexOf(0xff)).toBeGreaterThan(0);
    expect(bytes.filter((x) => x === 0x0a).length).toBe(1);
    // Decoding the bytes as UTF-8 where they are valid gives back the original file name bytes.
    const invalid = ev({ path: "/x/\xc3\x28", name: "\xc3\x28" });
    const out = Buffer.from(encodeEvent(invalid, 1, null, null), "latin1");
    expect(out.includes(Buffer.from([0x2f, 0x78, 0x2f, 0xc3, 0x28]))).toBe(true);
  });
});

describe("alert record fields", () => {
  test("burst without count/window gets zeros; other kinds never carry them", () => {
    expect(bothAlert(alert({ kind: "burst", pid: 1 }), 2)).toBe(
      '{"type":"alert","ts_ms":2,"kind":"burst","pid":1,"count":0,"window_ms":0}',
    );
    expect(bothAlert(alert({ kind: "canary", pid: 1, count: 5, windowMs: 9 }), 2)).toBe(
      '{"type":"alert","ts_ms":2,"kind":"canary","pid":1}',
    );
  });

  test("all optional fields present and escaped, in order", () => {
    expect(
      bothAlert(
        alert({
          kind: "canary",
          pid: 3,
          comm: "a b",
          exe: "/bin/\xe9",
          path: '/c/"x"',
          reason: "canary deleted",
        }),
        4,
      ),
    ).toBe(
      '{"type":"alert","ts_ms":4,"kind":"canary","pid":3,"comm":"a b","exe":"/bin/\xe9","path":"/c/\\"x\\"","reason":"canary deleted"}',
    );
  });
});

describe("stats record", () => {
  test("keys in insertion order after type and ts_ms", () => {
    const line = encodeStats(
      {
        events_read: 16385,
        events_written: 16384,
        kernel_overflows: 1,
        perm_allow: 0,
        perm_deny: 2,
        output_records_dropped: 0,
      },
      1795558128466,
    );
    expect(line).toBe(
      '{"type":"stats","ts_ms":1795558128466,"events_read":16385,"events_written":16384,"kernel_overflows":1,"perm_allow":0,"perm_deny":2,"output_records_dropped":0}',
    );
    expect(JSON.parse(line)).toEqual({
      type: "stats",
      ts_ms: 1795558128466,
      events_read: 16385,
      events_written: 16384,
      kernel_overflows: 1,
      perm_allow: 0,
      perm_deny: 2,
      output_records_dropped: 0,
    });
  });

  test("empty stats and non-finite values", () => {
    expect(encodeStats({}, 1)).toBe('{"type":"stats","ts_ms":1}');
    expect(encodeStats({ a: Number.NaN, b: 1.5 }, 1)).toBe('{"type":"stats","ts_ms":1,"a":null,"b":1.5}');
  });
});

describe("lines are valid JSON", () => {
  test("JSON.parse of a latin1-decoded line gives the byte strings back", () => {
    const e = ev({
      maskLo: 0xa,
      pid: 5,
      comm: "c\x01",
      exe: "/e\\",
      path: '/p/"\n\xff',
      name: '"\n\xff',
    });
    const parsed: unknown = JSON.parse(encodeEvent(e, 1, "j", "cache"));
    expect(parsed).toEqual({
      schema_version: 1,
      type: "event",
      ts_ms: 1,
      mask: 10,
      events: "MODIFY,CLOSE_WRITE",
      decision: "observe",
      job_id: "j",
      path_role: "cache",
      pid: 5,
      comm: "c\x01",
      exe: "/e\\",
      path: '/p/"\n\xff',
      name: '"\n\xff',
      is_dir: false,
    });
  });
});
