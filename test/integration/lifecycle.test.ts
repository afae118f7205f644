// Daemon behaviour under its own output, a flood, and a kernel queue overflow (B4, B6, B10, A14).

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  churnLoopCommand,
  cleanupAll,
  createFilesCommand,
  hasEvent,
  makeTmpfs,
  maxQueuedEvents,
  readJsonl,
  readLines,
  requireIntegration,
  run,
  startDaemon,
  track,
  waitFor,
  waitForRecord,
  type JsonRecord,
} from "./harness.ts";

const RUN = requireIntegration();

describe.skipIf(!RUN)("self-exclusion", () => {
  afterEach(cleanupAll);

  test("output file inside the watched directory: no records about it, no feedback loop", async () => {
    const fs = makeTmpfs();
    const out = join(fs.dir, "out.jsonl");
    const d = await startDaemon(["--watch", fs.dir, "-o", out]);
    for (let i = 0; i < 3; i++) writeFileSync(join(fs.dir, `w${i}`), `data ${i}\n`);
    await waitForRecord(out, (r) => r.name === "w2" && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    // a feedback loop grows without the test doing anything: wait for a later event of ours to be
    // written, which gives any self-generated records time to appear ahead of it
    writeFileSync(join(fs.dir, "last"), "x");
    await waitForRecord(out, (r) => r.name === "last" && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    const st = await d.stop("SIGTERM");
    expect({ code: st.code, timedOut: st.timedOut }).toEqual({ code: 0, timedOut: false });
    const recs = readJsonl(out);
    // The test itself opens the output read-only to poll it: those OPEN records are legitimate.
    const testPolls = (r: JsonRecord) => r.pid === process.pid && r.events === "OPEN" && r.path === out;
    const aboutOutput = recs.filter((r) => (r.path === out || r.name === "out.jsonl") && !testPolls(r));
    expect(aboutOutput).toEqual([]);
    expect(recs.filter((r) => r.pid === d.pid)).toEqual([]);
    // 4 files × (CREATE, OPEN, MODIFY, CLOSE_WRITE) at most, plus possibly a final stats record
    expect(recs.filter((r) => !testPolls(r)).length).toBeLessThanOrEqual(24);
  }, 20_000);
});

describe.skipIf(!RUN)("SIGTERM under load", () => {
  afterEach(cleanupAll);

  test("exits 0 within 1000 ms while a writer floods the watched tmpfs; output ends with whole lines", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs(256);
    const out = join(outFs.dir, "out.jsonl");
    const d = await startDaemon(["--watch", fs.dir, "-o", out]);
    const writer = track(Bun.spawn(churnLoopCommand(fs.dir), { stdin: "ignore", stdout: "ignore", stderr: "pipe" }));
    await waitFor(() => existsSync(out) && statSync(out).size > 4 * 1024 * 1024, 15_000, "the flood to reach the output", d);
    expect(writer.exitCode).toBeNull(); // still writing flat out
    const st = await d.stop("SIGTERM", 5000);
    writer.kill("SIGKILL");
    await writer.exited;
    expect({ code: st.code, signal: st.signal, timedOut: st.timedOut }).toEqual({ code: 0, signal: null, timedOut: false });
    expect(st.elapsedMs).toBeLessThan(1000);
    const text = readFileSync(out, "utf8");
    expect(text.endsWith("\n")).toBe(true);
    const recs = readJsonl(out); // every line whole JSON
    expect(recs.length).toBeGreaterThan(1000);
  }, 30_000);
});

describe.skipIf(!RUN)("kernel queue overflow", () => {
  afterEach(cleanupAll);

  test("a stopped daemon overflows once: exactly one overflow alert, then clean exit", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs(256);
    const out = join(outFs.dir, "out.jsonl");
    const q = maxQueuedEvents();
    const d = await startDaemon(["--watch", fs.dir, "-o", out]);
    // Drain the kernel queue before stopping the daemon: once the sentinel's last event is written,
    // everything queued before it (e.g. the daemon's own, unreported start-up opens) has been read.
    writeFileSync(join(fs.dir, "sentinel"), "x");
    const sentinel = await waitForRecord(out, (r) => r.name === "sentinel" && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    d.signal("SIGSTOP");
    try {
      await run(createFilesCommand(fs.dir, q + 4000));
    } finally {
      d.signal("SIGCONT");
    }
    await waitForRecord(out, (r) => r.type === "alert" && r.kind === "overflow", 30_000, { daemon: d });
    const st = await d.stop("SIGTERM", 10_000);
    expect({ code: st.code, timedOut: st.timedOut }).toEqual({ code: 0, timedOut: false });
    const lines = readLines(out);
    const overflow = lines.filter((l) => l.includes('"kind":"overflow"'));
    expect(overflow.length).toBe(1);
    expect(overflow[0]).toMatch(
      /^\{"type":"alert","ts_ms":\d+,"kind":"overflow","pid":0,"path":"<overflow>","reason":"fanotify queue overflowed"\}$/,
    );
    const recs = readJsonl(out);
    // the queue held exactly q events when the overflow was queued; none of them may be lost
    expect(recs.slice(sentinel.index + 1).filter((r) => r.type === "event").length).toBe(q);
  }, 60_000);
});
