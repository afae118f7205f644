import { describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MessageChannel } from "node:worker_threads";
import { Pipeline } from "../../src/pipeline.ts";
import { PolicyEngine } from "../../src/policy/engine.ts";
import { OutputWriter } from "../../src/sinks/output.ts";
import { BatchBuilder } from "../../src/reader/batch-builder.ts";
import { BatchBuffers, RECYCLE_MIN_BYTES, returnBatch } from "../../src/reader/batch-recycle.ts";
import { INTS_PER_EVENT } from "../../src/reader/protocol.ts";

const b = (s: string): Buffer => Buffer.from(s, "latin1");

function fill(bb: BatchBuilder, events: number, pathLen: number): void {
  const path = b(`/${"p".repeat(pathLen - 1)}`);
  for (let i = 0; i < events; i++) {
    bb.begin(0x20, 0, 100 + i, 0);
    bb.comm(b("cat"), 0, 3);
    bb.path(path, 0, path.length);
    bb.end(false);
  }
}

describe("batch buffers go round (issue 11: no fresh pages per batch)", () => {
  test("a returned buffer is used for the next batch of that size", () => {
    const { port1, port2 } = new MessageChannel();
    const buffers = new BatchBuffers(port2);
    const n = (RECYCLE_MIN_BYTES / 4) * 2;
    const first = buffers.intsFor(n);
    const bytes = buffers.bytesFor(RECYCLE_MIN_BYTES + 1);
    const firstBuf = first.buffer;
    expect(first.length).toBe(n);
    expect(bytes.length).toBe(RECYCLE_MIN_BYTES + 1);
    // Powers of two: the bytes buffer has room for a larger batch later.
    expect(bytes.buffer.byteLength).toBe(RECYCLE_MIN_BYTES * 2);
    returnBatch(port1, first, bytes);
    expect(firstBuf.byteLength).toBe(0); // transferred away from the main thread
    buffers.collect();
    const again = buffers.intsFor(n - 5);
    const bytesAgain = buffers.bytesFor(RECYCLE_MIN_BYTES + 100);
    expect(again.length).toBe(n - 5);
    expect(again.buffer.byteLength).toBe(n * 4);
    expect(bytesAgain.length).toBe(RECYCLE_MIN_BYTES + 100);
    expect(bytesAgain.buffer.byteLength).toBe(RECYCLE_MIN_BYTES * 2);
    // The pool is empty now: the next one is new.
    expect(buffers.intsFor(n).buffer).not.toBe(again.buffer);
    port1.close();
    port2.close();
  });

  test("small batches are plain allocations and are not sent back", () => {
    const { port1, port2 } = new MessageChannel();
    const buffers = new BatchBuffers(port2);
    const ints = buffers.intsFor(10);
    const bytes = buffers.bytesFor(100);
    expect(ints.buffer.byteLength).toBe(40);
    expect(bytes.buffer.byteLength).toBe(100);
    returnBatch(port1, ints, bytes);
    expect(ints.length).toBe(10); // not transferred: still usable here
    port1.close();
    port2.close();
  });

  test("take() through the pool gives the same batch as a plain take()", () => {
    const { port1, port2 } = new MessageChannel();
    const buffers = new BatchBuffers(port2);
    const plain = new BatchBuilder(8192);
    const pooled = new BatchBuilder(8192);
    for (let round = 0; round < 3; round++) {
      fill(plain, 4096, 40 + round);
      fill(pooled, 4096, 40 + round);
      const a = plain.take();
      buffers.collect();
      const p = pooled.take(buffers);
      expect(p.count).toBe(a.count);
      expect(p.ints.length).toBe(a.count * INTS_PER_EVENT);
      expect(Array.from(p.ints)).toEqual(Array.from(a.ints));
      expect(Buffer.from(p.bytes).equals(Buffer.from(a.bytes))).toBe(true);
      returnBatch(port1, p.ints, p.bytes);
    }
    port1.close();
    port2.close();
  });

  test("without a port every batch gets new arrays", () => {
    const buffers = new BatchBuffers(null);
    buffers.collect();
    const x = buffers.intsFor(RECYCLE_MIN_BYTES);
    expect(x.length).toBe(RECYCLE_MIN_BYTES);
    expect(buffers.intsFor(RECYCLE_MIN_BYTES).buffer).not.toBe(x.buffer);
  });
});

describe("the main thread's line buffers go round", () => {
  const policy = (): PolicyEngine =>
    new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });

  function bigBatch(pathLen: number): { count: number; ints: Int32Array; bytes: Uint8Array } {
    const bb = new BatchBuilder(4096);
    fill(bb, 2000, pathLen);
    return bb.take();
  }

  test("a batch's lines reuse the buffer every sink has released", () => {
    const seen: ArrayBuffer[] = [];
    const texts: string[] = [];
    const sink = {
      write: (c: Buffer, _n: number, done?: () => void): void => {
        seen.push(c.buffer as ArrayBuffer);
        texts.push(c.toString("latin1"));
        done?.();
      },
    };
    const p = new Pipeline(policy(), [sink], { onAlert() {}, onBurstDenyChanged() {} });
    for (const len of [30, 31, 30]) {
      const batch = bigBatch(len);
      p.processBatch(batch.count, batch.ints, batch.bytes);
    }
    expect(seen.length).toBe(3);
    expect(seen[1]).toBe(seen[0]);
    expect(seen[2]).toBe(seen[0]);
    // Each batch's text is whole and its own (the buffer was not written while a sink read it).
    expect(texts[1].split("\n").length).toBe(2001);
    expect(texts[1]).toContain(`"path":"/${"p".repeat(30)}"`);
    expect(texts[2]).not.toContain(`"path":"/${"p".repeat(30)}"`);
  });

  test("a buffer still held by one sink is never handed out again", () => {
    const held: Buffer[] = [];
    const copies: string[] = [];
    const releasing = { write: (_c: Buffer, _n: number, done?: () => void): void => done?.() };
    const holding = {
      write: (c: Buffer): void => {
        held.push(c);
        copies.push(c.toString("latin1"));
      },
    };
    const p = new Pipeline(policy(), [releasing, holding], { onAlert() {}, onBurstDenyChanged() {} });
    for (const len of [20, 21, 22]) {
      const batch = bigBatch(len);
      p.processBatch(batch.count, batch.ints, batch.bytes);
    }
    expect(new Set(held.map((c) => c.buffer)).size).toBe(3);
    held.forEach((c, i) => expect(c.toString("latin1")).toBe(copies[i]));
  });

  test("the output file releases a chunk once it is written, and every line arrives", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-recycle-"));
    try {
      const file = path.join(dir, "out.jsonl");
      const w = OutputWriter.open(file);
      const released: number[] = [];
      let expected = "";
      for (let i = 0; i < 5; i++) {
        const text = `${"{\"i\":" + i}}\n`.repeat(1000);
        expected += text;
        // The first goes out at once; the others queue behind it and are joined (copied).
        w.write(Buffer.from(text), 1000, () => released.push(i));
      }
      await w.flush(5000);
      expect(released.sort()).toEqual([0, 1, 2, 3, 4]);
      expect(fs.readFileSync(file, "latin1")).toBe(expected);
      // Dropped (closing): released at once.
      await w.close(1000);
      let late = false;
      w.write(Buffer.from("x\n"), 1, () => (late = true));
      expect(late).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
