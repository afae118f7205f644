import { afterEach, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MessageChannel } from "node:worker_threads";
import { Pipeline } from "../../src/pipeline.ts";
import { PolicyEngine } from "../../src/policy/engine.ts";
import { OutputWriter } from "../../src/sinks/output.ts";
import { BatchBuilder } from "../../src/reader/batch-builder.ts";
import { BatchBuffers, BatchSlots, SLOT_BYTES, SLOT_COUNT, SLOT_EVENTS, SWAP_MIN_BYTES, createBatchSlots, returnBatch } from "../../src/reader/batch-recycle.ts";
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

const openPorts: Array<{ close(): void }> = [];
afterEach(() => {
  for (const p of openPorts.splice(0)) p.close();
});

/** As the daemon has it: the main thread's port, and the Worker's pool on the other end. */
function channel() {
  const { port1, port2 } = new MessageChannel();
  openPorts.push(port1, port2);
  return { main: port1, buffers: new BatchBuffers(port2) };
}

describe("batch buffers go round (issue 11: no fresh pages per batch)", () => {
  test("a returned buffer is offered again, with what it held; nothing is allocated when none fits", () => {
    const { main: port1, buffers } = channel();
    // Empty pool: no arrays to go on in (the caller copies the batch out instead).
    expect(buffers.swapFor(SWAP_MIN_BYTES, SWAP_MIN_BYTES)).toBeNull();
    const ints = new Int32Array(SWAP_MIN_BYTES / 2);
    const bytes = new Uint8Array(SWAP_MIN_BYTES * 2);
    ints[7] = 4242;
    bytes[9] = 42;
    returnBatch(port1, ints.subarray(0, 10), bytes.subarray(0, 20));
    expect(ints.length).toBe(0); // transferred away from the main thread
    buffers.collect();
    // Too large for what came back: still nothing.
    expect(buffers.swapFor(SWAP_MIN_BYTES * 4, SWAP_MIN_BYTES)).toBeNull();
    const next = buffers.swapFor(SWAP_MIN_BYTES, SWAP_MIN_BYTES);
    expect(next).not.toBeNull();
    expect(next!.ints.length).toBe(SWAP_MIN_BYTES / 2); // the whole buffer
    expect(next!.ints[7]).toBe(4242);
    expect(next!.bytes[9]).toBe(42);
    // The pool is empty again.
    expect(buffers.swapFor(SWAP_MIN_BYTES, SWAP_MIN_BYTES)).toBeNull();
  });

  test("small batches are copied out and not sent back", () => {
    const { main: port1, buffers } = channel();
    const bb = new BatchBuilder(100);
    fill(bb, 3, 10);
    const out = bb.take(buffers);
    expect(out.ints.buffer.byteLength).toBe(3 * INTS_PER_EVENT * 4);
    returnBatch(port1, out.ints, out.bytes);
    expect(out.ints.length).toBe(3 * INTS_PER_EVENT); // not transferred: still usable here
  });

  test("large batches: copied out while the pool is empty, then handed over in place; the same batches either way", () => {
    const { main: port1, buffers } = channel();
    const plain = new BatchBuilder(70_000);
    const pooled = new BatchBuilder(70_000);
    const inPlace: boolean[] = [];
    for (let round = 0; round < 6; round++) {
      // Round 3 outgrows the builder's first rows (a backlog), round 5 is small again.
      const events = round === 3 ? 20_000 : round === 5 ? 5 : 4096;
      fill(plain, events, 40 + round);
      fill(pooled, events, 40 + round);
      const a = plain.take();
      buffers.collect();
      const p = pooled.take(buffers);
      expect(p.count).toBe(a.count);
      expect(p.ints.length).toBe(a.count * INTS_PER_EVENT);
      expect(Array.from(p.ints)).toEqual(Array.from(a.ints));
      expect(Buffer.from(p.bytes).equals(Buffer.from(a.bytes))).toBe(true);
      inPlace.push(p.ints.buffer.byteLength > p.ints.byteLength);
      returnBatch(port1, p.ints, p.bytes);
    }
    // Round 0: nothing to go on in yet (copied). Later full batches go over in place.
    expect(inPlace[0]).toBe(false);
    expect(inPlace.slice(1, 5).some((x) => x)).toBe(true);
    expect(inPlace[5]).toBe(false);
  });

  test("without a port every batch is copied out", () => {
    const buffers = new BatchBuffers(null);
    buffers.collect();
    expect(buffers.swapFor(SWAP_MIN_BYTES * 4, SWAP_MIN_BYTES * 4)).toBeNull();
    const bb = new BatchBuilder(8192);
    fill(bb, 4096, 30);
    const out = bb.take(buffers);
    expect(out.ints.buffer.byteLength).toBe(out.ints.byteLength);
  });
});

describe("batches are handed over in shared slots (issue 11: built there or copied in, no ArrayBuffer handed over)", () => {
  const policy = (): PolicyEngine =>
    new PolicyEngine({ canaries: [], jobs: [], burstThreshold: 0, burstWindowMs: 1000, hookCooldownMs: 0, denyOnAlert: false });

  /** Both ends over one SharedArrayBuffer, as the Worker and the main thread have them. */
  function slots(): { worker: BatchSlots; main: BatchSlots } {
    const sab = createBatchSlots();
    return { worker: new BatchSlots(sab), main: new BatchSlots(sab) };
  }

  test("the main thread reads the batch in place, byte for byte what a copy holds, and frees the slot", () => {
    const { worker, main } = slots();
    const viaSlot = new BatchBuilder(100);
    viaSlot.useSlots(worker);
    viaSlot.enterSlot(); // as the reader does when a batch gets its first record
    const copied = new BatchBuilder(100);
    fill(viaSlot, 30, 25);
    fill(copied, 30, 25);
    const s = viaSlot.takeSlot();
    const c = copied.take();
    expect(s).not.toBeNull();
    expect(s!.count).toBe(30);
    expect(main.inUse()).toBe(1);
    const ints = main.ints(s!.slot, s!.intsLen);
    const bytes = main.bytes(s!.slot, s!.bytesLen);
    expect(ints.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Array.from(ints)).toEqual(Array.from(c.ints));
    expect(Buffer.from(bytes).equals(Buffer.from(c.bytes))).toBe(true);
    // The next batch goes in another slot: the posted one is left as it is.
    viaSlot.enterSlot();
    fill(viaSlot, 2, 10);
    const next = viaSlot.takeSlot()!;
    expect(next.slot).not.toBe(s!.slot);
    expect(next.count).toBe(2);
    expect(Buffer.from(main.bytes(s!.slot, s!.bytesLen)).equals(Buffer.from(c.bytes))).toBe(true);
    main.release(s!.slot);
    main.release(next.slot);
    expect(worker.inUse()).toBe(0);
  });

  test("a batch built in the builder's own arrays is copied into a free slot as it is posted", () => {
    const { worker, main } = slots();
    const bb = new BatchBuilder(100);
    bb.useSlots(worker); // no enterSlot(): built in its own arrays
    const ref = new BatchBuilder(100);
    fill(bb, 12, 40);
    fill(ref, 12, 40);
    const ownBytes = bb.bytes;
    const s = bb.takeSlot()!;
    const c = ref.take();
    expect(bb.bytes).toBe(ownBytes); // the builder goes on in its own arrays
    expect(main.inUse()).toBe(1);
    expect(Array.from(main.ints(s.slot, s.intsLen))).toEqual(Array.from(c.ints));
    expect(Buffer.from(main.bytes(s.slot, s.bytesLen)).equals(Buffer.from(c.bytes))).toBe(true);
    // Too large for a slot: not put anywhere (handed over by take() instead).
    main.release(s.slot);
    const big = new BatchBuilder(SLOT_EVENTS * 2);
    big.useSlots(worker);
    fill(big, SLOT_EVENTS + 1, 10);
    expect(big.takeSlot()).toBeNull();
    expect(main.inUse()).toBe(0);
    expect(big.take().count).toBe(SLOT_EVENTS + 1);
  });

  test("the lines written from a slot are the lines written from a copy", () => {
    const out: string[] = [];
    const sink = { write: (c: Buffer, _n: number, done?: () => void): void => (out.push(c.toString("latin1")), done?.()) };
    const p = new Pipeline(policy(), [sink], { onAlert() {}, onBurstDenyChanged() {} });
    const { worker, main } = slots();
    const a = new BatchBuilder(100);
    a.useSlots(worker);
    a.enterSlot();
    const b2 = new BatchBuilder(100);
    fill(a, 20, 33);
    fill(b2, 20, 33);
    const s = a.takeSlot()!;
    const c = b2.take();
    p.processBatch(s.count, main.ints(s.slot, s.intsLen), main.bytes(s.slot, s.bytesLen));
    p.processBatch(c.count, c.ints, c.bytes);
    expect(out.length).toBe(2);
    const strip = (t: string): string => t.replace(/"ts_ms":\d+/g, "");
    expect(strip(out[0])).toBe(strip(out[1]));
    expect(out[0].split("\n").length).toBe(21);
  });

  test("while every slot is posted the builder works in its own arrays; a freed slot is taken again", () => {
    const { worker, main } = slots();
    const bb = new BatchBuilder(100);
    bb.useSlots(worker);
    const posted: number[] = [];
    for (let i = 0; i < SLOT_COUNT; i++) {
      bb.enterSlot();
      fill(bb, 3, 10 + i);
      posted.push(bb.takeSlot()!.slot);
    }
    expect(new Set(posted).size).toBe(SLOT_COUNT);
    expect(main.inUse()).toBe(SLOT_COUNT);
    bb.enterSlot();
    fill(bb, 3, 10);
    expect(bb.takeSlot()).toBeNull();
    expect(bb.take().count).toBe(3); // handed over the other way
    // One freed: the next batch is built there, and its bytes are the new batch's.
    main.release(posted[2]);
    bb.enterSlot();
    fill(bb, 4, 50);
    const again = bb.takeSlot()!;
    expect(again.slot).toBe(posted[2]);
    expect(Buffer.from(main.bytes(again.slot, again.bytesLen)).toString("latin1")).toContain(`"path":"/${"p".repeat(49)}"`);
  });

  test("a batch that outgrows its slot (rows or bytes) goes on in the builder's own arrays, unchanged, and frees the slot", () => {
    for (const [events, pathLen] of [
      [SLOT_EVENTS + 10, 20], // more rows than a slot holds
      [Math.ceil(SLOT_BYTES / 3000) + 10, 3000], // more bytes
    ]) {
      const { worker, main } = slots();
      const bb = new BatchBuilder(SLOT_EVENTS * 2);
      bb.useSlots(worker);
      bb.enterSlot();
      const ref = new BatchBuilder(SLOT_EVENTS * 2);
      fill(bb, events, pathLen);
      fill(ref, events, pathLen);
      expect(bb.takeSlot()).toBeNull();
      const out = bb.take();
      const want = ref.take();
      expect(out.count).toBe(events);
      expect(out.ints.buffer).toBeInstanceOf(ArrayBuffer);
      expect(Array.from(out.ints)).toEqual(Array.from(want.ints));
      expect(Buffer.from(out.bytes).equals(Buffer.from(want.bytes))).toBe(true);
      // The slot was given up: every slot can be claimed again.
      expect(main.inUse()).toBe(0);
      const claimed = new Set<number>();
      for (let i = 0; i < SLOT_COUNT; i++) claimed.add(worker.claim());
      expect(claimed).toEqual(new Set(Array.from({ length: SLOT_COUNT }, (_, i) => i)));
    }
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
