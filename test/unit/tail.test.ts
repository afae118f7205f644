import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { UsageError } from "../../src/config/types.ts";
import { SocketHub } from "../../src/sinks/socket-hub.ts";
import { parseTailArgs, renderTailHelp, tailArgs, tailCommand } from "../../src/tail/args.ts";
import { runTail, runTailCommand, type TailIO } from "../../src/tail/client.ts";
import { makeRecordFilter, parseRecordLine } from "../../src/tail/filter.ts";
import { clockTime, formatPretty } from "../../src/tail/format.ts";
import { spawnChild } from "../support/process.ts";

let dir = "";
let seq = 0;
beforeAll(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-tail-")));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function sockPath(): string {
  return path.join(dir, `t${seq++}.sock`);
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

function usageError(argv: string[]): UsageError {
  try {
    parseTailArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) return e;
    throw e;
  }
  throw new Error(`expected a usage error for ${JSON.stringify(argv)}`);
}

// Real records (behavior.md A7), as byte strings.
const EV_OPEN =
  '{"schema_version":1,"type":"event","ts_ms":1795558008983,"mask":32,"events":"OPEN","decision":"observe","job_id":null,"path_role":null,"pid":6622,"comm":"cat","path":"/tmp/demo/canary","name":"canary","is_dir":false}\n';
const EV_JOB =
  '{"schema_version":1,"type":"event","ts_ms":1795558008981,"mask":10,"events":"MODIFY,CLOSE_WRITE","decision":"observe","job_id":"J1","path_role":"workspace","pid":6600,"comm":"bash","exe":"/usr/bin/bash","path":"/srv/j1/ws/caf\xc3\xa9\xff","name":"file","is_dir":false}\n';
const EV_DIR =
  '{"schema_version":1,"type":"event","ts_ms":1795558084412,"mask":1073741856,"events":"OPEN,ONDIR","decision":"observe","job_id":"J2","path_role":null,"pid":6833,"comm":"ls","exe":"/usr/bin/ls","path":"/tmp/demo/.","name":".","is_dir":true}\n';
const EV_DENY =
  '{"schema_version":1,"type":"event","ts_ms":1795558100844,"mask":65536,"events":"OPEN_PERM","decision":"deny","job_id":null,"path_role":null,"pid":7076,"comm":"cat","exe":"/usr/bin/cat","path":"/tmp/pmnt/blocked","is_dir":false}\n';
const AL_CANARY =
  '{"type":"alert","ts_ms":1795558008983,"kind":"canary","pid":6622,"comm":"cat","path":"/tmp/demo/canary","reason":"canary opened"}\n';
const AL_BURST =
  '{"type":"alert","ts_ms":1795558084415,"kind":"burst","pid":6835,"comm":"touch","exe":"/usr/bin/touch","path":"/tmp/fdemo2/a","reason":"mutating-event burst exceeded threshold","count":3,"window_ms":1000}\n';
const AL_OVERFLOW =
  '{"type":"alert","ts_ms":1795558128466,"kind":"overflow","pid":0,"path":"<overflow>","reason":"fanotify queue overflowed"}\n';
const STATS = '{"type":"stats","ts_ms":1795558128466,"events_read":10,"subscribers_dropped":0}\n';
const ALL = [EV_OPEN, AL_CANARY, EV_JOB, EV_DIR, AL_BURST, EV_DENY, AL_OVERFLOW, STATS];

interface Captured {
  io: TailIO;
  text(): string;
  bytes(): Buffer;
  errors: string[];
}

function capture(opts: { isTTY?: boolean; slow?: boolean } = {}): Captured {
  const chunks: Buffer[] = [];
  const errors: string[] = [];
  const stdout = new Writable({
    highWaterMark: opts.slow === true ? 1024 : 16384,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(Buffer.from(chunk));
      if (opts.slow === true) setTimeout(cb, 1);
      else cb();
    },
  });
  const out = Object.assign(stdout, { isTTY: opts.isTTY === true });
  return {
    io: { stdout: out, stderr: (l) => errors.push(l), env: {} },
    text: () => Buffer.concat(chunks).toString("latin1"),
    bytes: () => Buffer.concat(chunks),
    errors,
  };
}

/** Start a hub, run tail with `args` against it, send `lines`, close the hub; the tail's output. */
async function tailOf(args: string[], lines: readonly string[] = ALL, cap = capture()): Promise<{ code: number; out: string; cap: Captured }> {
  const p = sockPath();
  const hub = await SocketHub.listen(p);
  const running = runTail(parseTailArgs([...args, "--socket", p]), cap.io);
  await waitFor(() => hub.subscriberCount === 1, "tail to connect");
  hub.write(lines.join(""), lines.length);
  // Everything handed to the kernel: the tail reads it all before the EOF that close() sends after it.
  await waitFor(() => hub.queuedBytes === 0, "the hub to send the lines");
  await hub.close();
  const code = await running;
  return { code, out: cap.text(), cap };
}

describe("parseTailArgs", () => {
  test("socket is required", () => {
    expect(usageError([]).message).toBe("tail needs --socket PATH");
    expect(usageError(["--pretty"]).message).toBe("tail needs --socket PATH");
    expect(usageError(["--socket="]).message).toBe("tail needs --socket PATH");
    expect(usageError([]).exitCode).toBe(2);
  });

  test("bad input gives one-line messages", () => {
    expect(usageError(["--socket", "s", "--bogus"]).message).toBe("unrecognized option '--bogus'");
    expect(usageError(["--socket"]).message).toBe("option '--socket' requires an argument");
    expect(usageError(["--socket", "s", "--pretty=yes"]).message).toBe("option '--pretty' doesn't allow an argument");
    expect(usageError(["--socket", "s", "extra"]).message).toBe("unexpected argument 'extra'");
    expect(usageError(["--socket", "s", "-x"]).message).toBe("invalid option -- 'x'");
    expect(usageError(["--socket", "s", "--type", "events"]).message).toBe(
      "invalid --type value 'events' (expected event, alert or stats)",
    );
    expect(usageError(["--socket", "s", "--kind", "canary,nope"]).message).toBe(
      "invalid --kind value 'nope' (expected canary, burst or overflow)",
    );
    expect(usageError(["--socket", "s", "--events", "OPEN,FROB"]).message).toBe(
      "invalid --events value 'FROB' (unknown event name)",
    );
    expect(usageError(["--socket", "s", "--job", ""]).message).toContain("--job");
    expect(usageError(["--socket", "s", "--path="]).message).toContain("--path");
    // No unique-prefix abbreviations (B13).
    expect(usageError(["--sock", "s"]).message).toBe("unrecognized option '--sock'");
    for (const argv of [["--bogus"], ["--socket", "s", "a", "b"]]) expect(usageError(argv).message).not.toContain("\n");
  });

  test("values, lists and repeats", () => {
    const o = parseTailArgs([
      "--socket=/run/f.sock",
      "--type",
      "event,alert",
      "--type=alert",
      "--kind",
      "canary",
      "--kind=burst,overflow",
      "--job",
      "J 1",
      "--job=J2",
      "--path",
      "/tmp/*",
      "--path=/srv/[ab]*",
      "--events",
      "open,CLOSE_WRITE",
      "--events=ONDIR",
      "--pretty",
    ]);
    expect(o).toEqual({
      help: false,
      socket: "/run/f.sock",
      types: ["event", "alert"],
      kinds: ["canary", "burst", "overflow"],
      jobs: ["J 1", "J2"],
      paths: ["/tmp/*", "/srv/[ab]*"],
      events: ["OPEN", "CLOSE_WRITE", "ONDIR"],
      containers: [],
      uids: [],
      comms: [],
      pretty: true,
    });
    expect(parseTailArgs(["--socket", "s", "--socket", "t"]).socket).toBe("t");
    expect(parseTailArgs(["--socket", "s", "--"]).socket).toBe("s");
  });

  test("-h / --help wins as soon as it is reached", () => {
    expect(parseTailArgs(["-h"]).help).toBe(true);
    expect(parseTailArgs(["--help", "--bogus"]).help).toBe(true);
    expect(() => parseTailArgs(["--bogus", "--help"])).toThrow(UsageError);
  });

  test("the help lists every option of the citty table", () => {
    const help = renderTailHelp();
    expect(help.startsWith("Usage: fanotifyd tail --socket PATH [OPTIONS]\n")).toBe(true);
    for (const name of Object.keys(tailArgs)) expect(help).toContain(`--${name}`);
    expect(help).toContain("-h, --help");
    expect(tailCommand.args).toBe(tailArgs);
  });
});

describe("runTail against a SocketHub", () => {
  test("no filter: the exact bytes, exit 0 at EOF", async () => {
    const cap = capture();
    const { code } = await tailOf([], ALL, cap);
    expect(code).toBe(0);
    expect(cap.bytes().equals(Buffer.from(ALL.join(""), "latin1"))).toBe(true);
    expect(cap.errors).toEqual([]);
  });

  test("--type alert shows only alerts", async () => {
    const { code, out } = await tailOf(["--type", "alert"]);
    expect(code).toBe(0);
    expect(out).toBe(AL_CANARY + AL_BURST + AL_OVERFLOW);
  });

  test("--type event,stats", async () => {
    const { out } = await tailOf(["--type", "event,stats"]);
    expect(out).toBe(EV_OPEN + EV_JOB + EV_DIR + EV_DENY + STATS);
  });

  test("--kind", async () => {
    expect((await tailOf(["--kind", "burst"])).out).toBe(AL_BURST);
    expect((await tailOf(["--kind", "canary", "--kind", "overflow"])).out).toBe(AL_CANARY + AL_OVERFLOW);
  });

  test("--job", async () => {
    expect((await tailOf(["--job", "J1"])).out).toBe(EV_JOB);
    expect((await tailOf(["--job", "J1", "--job", "J2"])).out).toBe(EV_JOB + EV_DIR);
  });

  test("--path glob (fnmatch-like: * stops at /, dot files match)", async () => {
    expect((await tailOf(["--path", "/tmp/demo/*"])).out).toBe(EV_OPEN + AL_CANARY + EV_DIR);
    expect((await tailOf(["--path", "/tmp/*"])).out).toBe("");
    expect((await tailOf(["--path", "/tmp/*/*", "--type", "event"])).out).toBe(EV_OPEN + EV_DIR + EV_DENY);
    // A UTF-8 pattern matches the raw bytes of the path.
    expect((await tailOf(["--path", "/srv/j1/ws/café?"])).out).toBe(EV_JOB);
    expect((await tailOf(["--path", "<overflow>"])).out).toBe(AL_OVERFLOW);
  });

  test("--events matches any listed name", async () => {
    expect((await tailOf(["--events", "ONDIR"])).out).toBe(EV_DIR);
    expect((await tailOf(["--events", "OPEN"])).out).toBe(EV_OPEN + EV_DIR);
    expect((await tailOf(["--events", "close_write,OPEN_PERM"])).out).toBe(EV_JOB + EV_DENY);
  });

  test("filters combine with AND", async () => {
    expect((await tailOf(["--events", "OPEN", "--path", "/tmp/demo/canary"])).out).toBe(EV_OPEN);
    expect((await tailOf(["--type", "event", "--kind", "canary"])).out).toBe("");
  });

  test("lines that are not records are shown only without filters", async () => {
    const junk = "not json\n";
    expect((await tailOf([], [junk, EV_OPEN])).out).toBe(junk + EV_OPEN);
    expect((await tailOf(["--type", "event"], [junk, EV_OPEN])).out).toBe(EV_OPEN);
  });

  test("--pretty", async () => {
    const { code, out } = await tailOf(["--pretty"]);
    expect(code).toBe(0);
    const t = (ms: number): string => clockTime(ms);
    expect(out.split("\n")).toEqual([
      `${t(1795558008983)} OPEN  cat[6622] /tmp/demo/canary`,
      `${t(1795558008983)} ALERT canary cat[6622] /tmp/demo/canary: canary opened`,
      // The path's original bytes, including the invalid UTF-8 byte.
      `${t(1795558008981)} MODIFY,CLOSE_WRITE  bash[6600] /srv/j1/ws/caf\xc3\xa9\xff  job=J1/workspace`,
      `${t(1795558084412)} OPEN,ONDIR  ls[6833] /tmp/demo/.  job=J2`,
      `${t(1795558084415)} ALERT burst touch[6835] /tmp/fdemo2/a: mutating-event burst exceeded threshold (count=3 in 1000ms)`,
      `${t(1795558100844)} OPEN_PERM  cat[7076] /tmp/pmnt/blocked  decision=deny`,
      `${t(1795558128466)} ALERT overflow <overflow>: fanotify queue overflowed`,
      `${t(1795558128466)} STATS events_read=10 subscribers_dropped=0`,
      "",
    ]);
    expect(out).not.toContain("\x1b");
  });

  test("--pretty with filters, and colors only on a TTY", async () => {
    const tty = capture({ isTTY: true });
    const { out } = await tailOf(["--pretty", "--type", "alert", "--kind", "canary"], ALL, tty);
    expect(out).toContain("\x1b[");
    expect(out.replace(/\x1b\[[0-9;]*m/g, "")).toBe(
      `${clockTime(1795558008983)} ALERT canary cat[6622] /tmp/demo/canary: canary opened\n`,
    );
    const noColor = capture({ isTTY: true });
    noColor.io = { ...noColor.io, env: { NO_COLOR: "1" } };
    expect((await tailOf(["--pretty", "--kind", "canary"], ALL, noColor)).out).not.toContain("\x1b");
  });

  test("backpressure: a slow stdout still gets every line", async () => {
    const lines: string[] = [];
    for (let i = 0; i < 3000; i++) lines.push(`{"type":"event","n":${i},"path":"/p/${"x".repeat(200)}"}\n`);
    const slow = capture({ slow: true });
    const p = sockPath();
    const hub = await SocketHub.listen(p);
    const running = runTail(parseTailArgs(["--socket", p]), slow.io);
    await waitFor(() => hub.subscriberCount === 1, "connect");
    for (let i = 0; i < lines.length; i += 100) {
      hub.write(lines.slice(i, i + 100).join(""), 100);
      await Bun.sleep(0);
    }
    const want = lines.join("");
    await waitFor(() => slow.text().length >= want.length, "slow output", 20000);
    expect(hub.counters.subscribersDropped).toBe(0);
    await hub.close();
    expect(await running).toBe(0);
    expect(slow.text()).toBe(want);
  });
});

describe("runTail stream handling", () => {
  /** A raw server that sends `parts` with pauses in between, then closes. */
  async function rawServer(parts: readonly string[]): Promise<string> {
    const p = sockPath();
    const server = Bun.listen({
      unix: p,
      socket: {
        async open(s) {
          for (const part of parts) {
            s.write(Buffer.from(part, "latin1"));
            await Bun.sleep(15);
          }
          s.end();
        },
        data() {},
      },
    });
    setTimeout(() => server.stop(), 2000);
    return p;
  }

  test("lines split across reads are put back together; a partial last line is not printed", async () => {
    const p = await rawServer([EV_OPEN.slice(0, 30), EV_OPEN.slice(30) + AL_CANARY.slice(0, 5), AL_CANARY.slice(5), '{"type":"ev']);
    const raw = capture();
    expect(await runTail(parseTailArgs(["--socket", p]), raw.io)).toBe(0);
    expect(raw.text()).toBe(EV_OPEN + AL_CANARY);

    const p2 = await rawServer([AL_CANARY.slice(0, 40), AL_CANARY.slice(40) + EV_OPEN]);
    const filtered = capture();
    expect(await runTail(parseTailArgs(["--socket", p2, "--type", "alert"]), filtered.io)).toBe(0);
    expect(filtered.text()).toBe(AL_CANARY);
  });

  test("connect failure: exit 1 with one line", async () => {
    const missing = path.join(dir, "absent.sock");
    const c = capture();
    expect(await runTail(parseTailArgs(["--socket", missing]), c.io)).toBe(1);
    expect(c.errors).toEqual([`fanotifyd tail: cannot connect to '${missing}': no such file or directory (ENOENT)`]);
    expect(c.text()).toBe("");

    const file = path.join(dir, "regular");
    fs.writeFileSync(file, "");
    const c2 = capture();
    expect(await runTail(parseTailArgs(["--socket", file]), c2.io)).toBe(1);
    expect(c2.errors.length).toBe(1);
    expect(c2.errors[0]).toStartWith(`fanotifyd tail: cannot connect to '${file}': `);
  });

  test("runTailCommand: usage errors exit 2, --help prints to stdout", async () => {
    const c = capture();
    expect(await runTailCommand(["--bogus"], c.io)).toBe(2);
    expect(c.errors).toEqual([
      "fanotifyd tail: unrecognized option '--bogus'",
      "Try 'fanotifyd tail --help' for more information.",
    ]);
    const h = capture();
    expect(await runTailCommand(["--help"], h.io)).toBe(0);
    expect(h.text()).toBe(renderTailHelp());
  });

  test("a reader that goes away (| head -n 1) ends the run quietly with 0", async () => {
    const p = sockPath();
    const hub = await SocketHub.listen(p);
    const script = path.join(dir, "run-tail.ts");
    const tailModule = path.resolve(import.meta.dir, "../../src/tail/client.ts");
    fs.writeFileSync(
      script,
      `import { runTailCommand } from ${JSON.stringify(tailModule)};\nprocess.exit(await runTailCommand(process.argv.slice(2)));\n`,
    );
    const child = spawnChild(["bash", "-c", `"$0" "$1" --socket "$2" | head -n 1; echo "status=\${PIPESTATUS[0]}" >&2`, process.execPath, script, p]);
    await waitFor(() => hub.subscriberCount === 1, "child tail to connect", 10000);
    const line = `${EV_OPEN}`.repeat(200);
    const deadline = Date.now() + 10000;
    while (!child.exited() && Date.now() < deadline) {
      hub.write(line, 200);
      await Bun.sleep(5);
    }
    await child.wait(5000);
    await hub.close();
    expect(child.stdout()).toBe(EV_OPEN);
    expect(child.stderr().trim()).toBe("status=0");
  });
});

describe("formatPretty", () => {
  test("control bytes in paths are escaped, one line per record", () => {
    const rec = parseRecordLine(
      Buffer.from('{"type":"event","ts_ms":0,"events":"CREATE","pid":1,"path":"/tmp/a\\nb\\u0001c"}\n', "latin1"),
    );
    expect(rec).not.toBeNull();
    if (rec === null) return;
    expect(formatPretty(rec)).toBe(`${clockTime(0)} CREATE  [1] /tmp/a\\nb\\x01c`);
  });

  test("unknown record types and non-objects", () => {
    expect(formatPretty({ type: "hello" })).toBeNull();
    expect(parseRecordLine(Buffer.from("[1,2]\n"))).toBeNull();
    expect(parseRecordLine(Buffer.from("nope\n"))).toBeNull();
  });

  test("clockTime is HH:MM:SS.mmm local time", () => {
    const d = new Date(2026, 0, 2, 3, 4, 5, 67);
    expect(clockTime(d.getTime())).toBe("03:04:05.067");
  });
});

describe("process filters (--container, --uid, --comm; records from --process-details)", () => {
  const CID = "4f8d1c3b2a19" + "0".repeat(52);
  const withDetails = (pid: number, comm: string, uid: number, cid: string | null): string =>
    `{"schema_version":1,"type":"event","ts_ms":1,"mask":2,"events":"MODIFY","decision":"observe","job_id":null,"path_role":null,"pid":${pid},"comm":"${comm}","path":"/x","is_dir":false,"ppid":1,"uid":${uid},"cgroup":"/","container_id":${cid === null ? "null" : `"${cid}"`},"pod_uid":null}`;
  const recs = [
    withDetails(1, "sh", 0, CID),
    withDetails(2, "python3", 1000, null),
    withDetails(3, "caf\xc3\xa9", 1000, "f".repeat(64)),
    '{"type":"alert","ts_ms":1,"kind":"burst","pid":4,"path":"/x","reason":"r","count":3,"window_ms":1000,"container_id":"' + CID + '"}',
    EV_OPEN.trimEnd(),
  ].map((l) => parseRecordLine(Buffer.from(l, "latin1"))!);
  const pick = (argv: string[]): number[] => {
    const f = makeRecordFilter(parseTailArgs(["--socket", "s", ...argv]))!;
    return recs.map((r, i) => (f(r) ? i : -1)).filter((i) => i >= 0);
  };

  test("--container takes a docker-style prefix (>= 12 hex) or the whole id, any case", () => {
    expect(pick(["--container", CID.slice(0, 12)])).toEqual([0, 3]);
    expect(pick(["--container", CID.toUpperCase()])).toEqual([0, 3]);
    expect(pick(["--container", CID.slice(0, 12), "--container", "ffffffffffff"])).toEqual([0, 2, 3]);
  });

  test("--uid and --comm (a UTF-8 name matches the raw bytes); options combine with AND", () => {
    expect(pick(["--uid", "1000"])).toEqual([1, 2]);
    expect(pick(["--uid", "0", "--uid", "1000"])).toEqual([0, 1, 2]);
    expect(pick(["--comm", "python3"])).toEqual([1]);
    expect(pick(["--comm", "café"])).toEqual([2]);
    expect(pick(["--uid", "1000", "--comm", "sh"])).toEqual([]);
    expect(pick(["--comm", "cat"])).toEqual([4]);
  });

  test("--pretty shows uid, the short container id and the pod when present", () => {
    expect(formatPretty(recs[0]!)).toBe(`${clockTime(1)} MODIFY  sh[1] /x  uid=0 ctr=${CID.slice(0, 12)}`);
    expect(formatPretty(recs[1]!)).toBe(`${clockTime(1)} MODIFY  python3[2] /x  uid=1000`);
    expect(formatPretty(recs[3]!)).toBe(`${clockTime(1)} ALERT burst [4] /x: r (count=3 in 1000ms)  ctr=${CID.slice(0, 12)}`);
    expect(formatPretty(recs[4]!)).not.toContain("uid=");
  });

  test("bad values are usage errors naming the value", () => {
    expect(usageError(["--socket", "s", "--container", "4f8d1c3b2a1"]).message).toContain("'4f8d1c3b2a1'");
    expect(usageError(["--socket", "s", "--container", "xyzxyzxyzxyz"]).message).toContain("hex");
    expect(usageError(["--socket", "s", "--uid", "-1"]).message).toContain("'-1'");
    expect(usageError(["--socket", "s", "--uid", "4294967296"]).message).toContain("uid");
    expect(usageError(["--socket", "s", "--comm", ""]).message).toContain("--comm");
  });
});
