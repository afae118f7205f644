import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OutputWriter, type OutputLogFn } from "../../src/sinks/output.ts";
import { waitFor } from "../support/jsonl.ts";
import { writeLines } from "../support/output.ts";
import { runToExit } from "../support/process.ts";

let dir = "";
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-output-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

interface LogLine {
  level: "warn" | "error";
  msg: string;
}
function logger(): { log: OutputLogFn; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { log: (level, msg) => lines.push({ level, msg }), lines };
}

function mkfifo(p: string): void {
  const r = Bun.spawnSync(["mkfifo", p]);
  if (r.exitCode !== 0) throw new Error(`mkfifo failed: ${r.stderr.toString()}`);
}

/** A line of exactly `len` bytes (without the newline) carrying its index. */
function numbered(i: number, len: number): string {
  const head = `line-${i} `;
  return head + "x".repeat(len - head.length);
}

function readAvailable(fd: number): Buffer {
  const parts: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "EAGAIN") break;
      throw e;
    }
    if (n <= 0) break;
    parts.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(parts);
}

describe("OutputWriter on a file", () => {
  test("appends across two opens and creates the file 0640", async () => {
    const p = path.join(dir, "append.jsonl");
    const w1 = OutputWriter.open(p);
    expect(w1.mode).toBe("async");
    writeLines(w1, ['{"a":1}', '{"b":2}']);
    await w1.close(1000);
    expect(w1.writtenRecords).toBe(2);
    const umask = process.umask();
    expect(fs.statSync(p).mode & 0o777).toBe(0o640 & ~umask);

    const w2 = OutputWriter.open(p);
    w2.write('{"c":3}\n', 1);
    await w2.close(1000);
    expect(fs.readFileSync(p, "latin1")).toBe('{"a":1}\n{"b":2}\n{"c":3}\n');
    expect(w2.writtenRecords).toBe(1);
    expect(w2.droppedRecords).toBe(0);
  });

  test("never truncates an existing file and keeps its mode", async () => {
    const p = path.join(dir, "existing.jsonl");
    fs.writeFileSync(p, "old\n", { mode: 0o600 });
    const w = OutputWriter.open(p);
    writeLines(w, ["new"]);
    await w.close(1000);
    expect(fs.readFileSync(p, "latin1")).toBe("old\nnew\n");
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
  });

  test("raw bytes >= 0x80 and invalid UTF-8 reach the file unchanged", async () => {
    const p = path.join(dir, "bytes.jsonl");
    const w = OutputWriter.open(p);
    writeLines(w, ['{"path":"/t/\xc3\x28\xff\x80"}']);
    await w.close(1000);
    const got = fs.readFileSync(p);
    expect([...got]).toEqual([...Buffer.from('{"path":"/t/', "latin1"), 0xc3, 0x28, 0xff, 0x80, 0x22, 0x7d, 0x0a]);
  });

  test("batching: many lines in one write(), many write()s coalesce", async () => {
    const p = path.join(dir, "batch.jsonl");
    const w = OutputWriter.open(p);
    const lines = Array.from({ length: 1000 }, (_, i) => `{"i":${i}}`);
    writeLines(w, lines);
    await w.close(1000);
    expect(w.writeCalls).toBe(1);
    expect(w.writtenRecords).toBe(1000);

    const w2 = OutputWriter.open(p);
    for (let i = 0; i < 100; i++) w2.write(`{"j":${i}}\n`, 1); // same tick: one write starts, the rest queue
    expect(w2.writeCalls).toBe(1);
    await w2.close(1000);
    expect(w2.writeCalls).toBe(2);
    expect(w2.writtenRecords).toBe(100);
    const text = fs.readFileSync(p, "latin1");
    expect(text).toBe(lines.join("\n") + "\n" + Array.from({ length: 100 }, (_, i) => `{"j":${i}}\n`).join(""));
  });

  test("reopen after rename writes to a new file and keeps the queue", async () => {
    const p = path.join(dir, "rotate.jsonl");
    const { log, lines } = logger();
    const w = OutputWriter.open(p, { log });
    writeLines(w, ["before-1", "before-2"]);
    await waitFor(() => w.writtenRecords === 2, 3000, "the first two lines written");
    fs.renameSync(p, p + ".1");
    writeLines(w, ["still-old"]); // written before reopen: goes to the renamed file
    await waitFor(() => w.writtenRecords === 3, 3000, "still-old written");
    expect(w.reopen()).toBe(true);
    writeLines(w, ["after-1", "after-2"]);
    await w.close(1000);
    expect(fs.readFileSync(p + ".1", "latin1")).toBe("before-1\nbefore-2\nstill-old\n");
    expect(fs.readFileSync(p, "latin1")).toBe("after-1\nafter-2\n");
    expect(fs.statSync(p).mode & 0o777).toBe(0o640 & ~process.umask());
    expect(w.writtenRecords).toBe(5);
    expect(lines).toEqual([]);
  });

  test("reopen with lines queued: they go to the new file, none lost or duplicated", async () => {
    const p = path.join(dir, "rotate2.jsonl");
    const w = OutputWriter.open(p);
    writeLines(w, ["a"]); // in flight
    writeLines(w, ["b"]); // queued behind it
    fs.renameSync(p, p + ".1");
    expect(w.reopen()).toBe(true);
    writeLines(w, ["c"]);
    await w.close(1000);
    const old = fs.readFileSync(p + ".1", "latin1");
    const cur = fs.readFileSync(p, "latin1");
    expect(old + cur).toBe("a\nb\nc\n");
    expect(old.startsWith("a\n")).toBe(true);
  });

  test("failed reopen keeps the old file and logs", async () => {
    const sub = path.join(dir, "gone");
    fs.mkdirSync(sub);
    const p = path.join(sub, "out.jsonl");
    const { log, lines } = logger();
    const w = OutputWriter.open(p, { log });
    writeLines(w, ["one"]);
    await waitFor(() => w.writtenRecords === 1, 3000, "the first line written");
    fs.renameSync(sub, sub + ".moved");
    expect(w.reopen()).toBe(false);
    writeLines(w, ["two"]);
    await w.close(1000);
    expect(fs.readFileSync(path.join(sub + ".moved", "out.jsonl"), "latin1")).toBe("one\ntwo\n");
    expect(lines.length).toBe(1);
    expect(lines[0].level).toBe("error");
    expect(lines[0].msg).toContain(`failed to reopen output '${p}': no such file or directory (ENOENT)`);
  });

  test("open failure names the path and the reason", () => {
    const p = path.join(dir, "no-such-dir", "out.jsonl");
    expect(() => OutputWriter.open(p)).toThrow(`failed to open output '${p}': no such file or directory (ENOENT)`);
  });

  test("writes after close are dropped and counted", async () => {
    const p = path.join(dir, "closed.jsonl");
    const w = OutputWriter.open(p);
    await w.close(100);
    writeLines(w, ["x", "y"]);
    expect(w.droppedRecords).toBe(2);
    expect(fs.readFileSync(p, "latin1")).toBe("");
  });
});

describe("OutputWriter on a pipe nobody reads", () => {
  test("never blocks; drops whole records beyond the bound; lines never split or duplicated", async () => {
    const fifo = path.join(dir, "stall.fifo");
    mkfifo(fifo);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const { log, lines: logs } = logger();
      const maxQueueBytes = 32 * 1024;
      const w = OutputWriter.open(fifo, { maxQueueBytes, log, retryMs: 5 });
      expect(w.mode).toBe("nonblock");

      const LEN = 99; // +1 newline = 100 bytes: 65536 is not a multiple, so writes split lines
      const TOTAL = 3000; // 300 KB, far more than pipe (64 KiB) + queue (32 KiB)
      const t0 = performance.now();
      for (let i = 0; i < TOTAL; i += 10) {
        const batch: string[] = [];
        for (let k = i; k < i + 10; k++) batch.push(numbered(k, LEN));
        writeLines(w, batch);
      }
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(w.queuedBytes).toBeLessThanOrEqual(maxQueueBytes);
      expect(w.droppedRecords).toBeGreaterThan(0);
      // every record is accounted for: written, dropped, or queued (possibly half-written)
      const queuedRecords = Math.ceil(w.queuedBytes / (LEN + 1));
      expect(w.writtenRecords + w.droppedRecords + queuedRecords).toBe(TOTAL);
      expect(logs.filter((l) => l.msg.includes("not keeping up")).length).toBe(1);

      // Now read everything; the queue drains on the retry timer.
      const chunks: Buffer[] = [];
      const deadline = performance.now() + 3000;
      while (performance.now() < deadline) {
        chunks.push(readAvailable(rfd));
        if (w.queuedBytes === 0) {
          await Bun.sleep(10);
          chunks.push(readAvailable(rfd));
          break;
        }
        await Bun.sleep(10);
      }
      expect(w.queuedBytes).toBe(0);
      const text = Buffer.concat(chunks).toString("latin1");
      expect(text.endsWith("\n")).toBe(true);
      const got = text.slice(0, -1).split("\n");
      let prev = -1;
      for (const line of got) {
        expect(line.length).toBe(LEN);
        const m = /^line-(\d+) x+$/.exec(line);
        expect(m).not.toBeNull();
        const idx = Number(m?.[1]);
        expect(idx).toBeGreaterThan(prev); // in order, no duplicates
        prev = idx;
      }
      expect(got.length).toBe(w.writtenRecords);
      expect(w.writtenRecords + w.droppedRecords).toBe(TOTAL);
      expect(w.writeErrors).toBe(0);
      expect(logs.filter((l) => l.msg.includes("caught up")).length).toBe(1);
      await w.close(100);
    } finally {
      fs.closeSync(rfd);
    }
  });

  test("close() gives up after its timeout and counts what is left as dropped", async () => {
    const fifo = path.join(dir, "stall2.fifo");
    mkfifo(fifo);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    try {
      const w = OutputWriter.open(fifo, { maxQueueBytes: 1 << 20 });
      const line = "y".repeat(999);
      for (let i = 0; i < 200; i++) writeLines(w, [line]); // 200 KB: 64 KiB fit in the pipe
      const t0 = performance.now();
      await w.close(50);
      const took = performance.now() - t0;
      expect(took).toBeGreaterThanOrEqual(40);
      expect(took).toBeLessThan(1000);
      expect(w.queuedBytes).toBe(0);
      expect(w.writtenRecords + w.droppedRecords).toBe(200);
      expect(w.droppedRecords).toBeGreaterThan(0);
    } finally {
      fs.closeSync(rfd);
    }
  });

  test("a reader that went away (EPIPE): logged once, counted, records dropped", async () => {
    const fifo = path.join(dir, "gone.fifo");
    mkfifo(fifo);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const { log, lines } = logger();
    const w = OutputWriter.open(fifo, { log, retryMs: 5 });
    fs.closeSync(rfd);
    writeLines(w, ["a", "b"]);
    expect(w.writeErrors).toBe(1);
    expect(w.droppedRecords).toBe(2);
    writeLines(w, ["c"]); // queued behind the retry timer
    await waitFor(() => w.droppedRecords === 3, 3000, "c dropped on the retry");
    writeLines(w, ["d"]);
    await waitFor(() => w.droppedRecords === 4, 3000, "d dropped on the retry");
    expect(w.writeErrors).toBeGreaterThanOrEqual(2);
    expect(w.droppedRecords).toBe(4);
    expect(w.writtenRecords).toBe(0);
    const errs = lines.filter((l) => l.level === "error");
    expect(errs.length).toBe(1);
    expect(errs[0].msg).toContain("EPIPE");
    expect(errs[0].msg).toContain(`'${fifo}'`);
    await w.close(100);
    expect(w.droppedRecords).toBe(4);
  });

  test("opening a FIFO without a reader fails instead of hanging", () => {
    const fifo = path.join(dir, "noreader.fifo");
    mkfifo(fifo);
    expect(() => OutputWriter.open(fifo)).toThrow(`failed to open output '${fifo}': no such device or address (ENXIO)`);
  });
});

describe("OutputWriter on stdout", () => {
  const bun = process.execPath;
  const writerModule = path.resolve(import.meta.dir, "../../src/sinks/output.ts");

  function childScript(lines: number, lineLen: number, maxQueueBytes: number): string {
    return `
import fs from "node:fs";
import { OutputWriter } from ${JSON.stringify(writerModule)};
const w = OutputWriter.open(null, { maxQueueBytes: ${maxQueueBytes} });
const line = "z".repeat(${lineLen});
const t0 = performance.now();
for (let i = 0; i < ${lines}; i++) w.write(line + "\\n", 1);
const took = performance.now() - t0;
const flags = /flags:\\s+(\\d+)/.exec(fs.readFileSync("/proc/self/fdinfo/1", "utf8"));
const fd1NonBlock = flags !== null && (parseInt(flags[1], 8) & 0o4000) !== 0;
const stats = { mode: w.mode, written: w.writtenRecords, dropped: w.droppedRecords, queued: w.queuedBytes, took, fd1NonBlock };
await w.close(50);
console.error(JSON.stringify({ ...stats, writtenAfterClose: w.writtenRecords, droppedAfterClose: w.droppedRecords }));
process.exit(0);
`;
  }

  interface ChildStats {
    mode: string;
    written: number;
    dropped: number;
    queued: number;
    took: number;
    fd1NonBlock: boolean;
    writtenAfterClose: number;
    droppedAfterClose: number;
  }

  async function runChild(script: string, stdoutFd: number): Promise<ChildStats> {
    const file = path.join(dir, `child-${Math.random().toString(36).slice(2)}.ts`);
    fs.writeFileSync(file, script);
    const r = await runToExit([bun, file], 4000, { stdout: { fd: stdoutFd } });
    expect(r.code).toBe(0);
    return JSON.parse(r.stderr.trim().split("\n").pop() ?? "") as ChildStats;
  }

  test("stdout pipe nobody reads: private non-blocking description, bounded, fd 1 untouched", async () => {
    const fifo = path.join(dir, "stdout.fifo");
    mkfifo(fifo);
    const rfd = fs.openSync(fifo, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const wfd = fs.openSync(fifo, fs.constants.O_WRONLY); // the child's stdout (blocking)
    try {
      const s = await runChild(childScript(1000, 999, 64 * 1024), wfd);
      expect(s.mode).toBe("nonblock");
      expect(s.fd1NonBlock).toBe(false);
      expect(s.took).toBeLessThan(1000);
      expect(s.dropped).toBeGreaterThan(0);
      expect(s.queued).toBeLessThanOrEqual(64 * 1024);
      expect(s.writtenAfterClose + s.droppedAfterClose).toBe(1000);
      const got = readAvailable(rfd).toString("latin1");
      const lines = got.slice(0, -1).split("\n");
      expect(got.endsWith("\n")).toBe(true);
      expect(lines.length).toBe(s.writtenAfterClose);
      for (const l of lines) expect(l).toBe("z".repeat(999));
    } finally {
      fs.closeSync(wfd);
      fs.closeSync(rfd);
    }
  });

  test("stdout redirected to a regular file: appended, nothing dropped", async () => {
    const p = path.join(dir, "stdout.jsonl");
    fs.writeFileSync(p, "first\n");
    const fd = fs.openSync(p, "a");
    try {
      const s = await runChild(childScript(50, 9, 1 << 20), fd);
      expect(s.mode).toBe("async");
      expect(s.writtenAfterClose).toBe(50);
      expect(s.droppedAfterClose).toBe(0);
    } finally {
      fs.closeSync(fd);
    }
    expect(fs.readFileSync(p, "latin1")).toBe("first\n" + ("z".repeat(9) + "\n").repeat(50));
  });
});
