// Shared batch slots (src/reader/batch-slots.ts): the BatchBuilder writes each batch into a slot of
// shared memory and hands it over without a copy; the slot stays untouched until the main thread
// gives it back; with every slot busy a batch is copied out instead; slots grow with big batches.
import { describe, expect, test } from "bun:test";
import { BatchBuilder } from "../../src/reader/batch-builder.ts";
import { BatchSlots, MAX_SLOTS } from "../../src/reader/batch-slots.ts";
import { INTS_PER_EVENT, I_PID, I_TAIL_END, I_TAIL_START } from "../../src/reader/protocol.ts";

const path = Buffer.from("/m/f", "latin1");

function event(b: BatchBuilder, pid: number): void {
  b.begin(1, 0, pid, 0);
  b.path(path, 0, path.length);
  b.end(false);
}

function tail(t: { ints: Int32Array; bytes: Uint8Array }, i: number): string {
  const r = i * INTS_PER_EVENT;
  return Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength).toString("latin1", t.ints[r + I_TAIL_START], t.ints[r + I_TAIL_END]);
}

function setup(initialInts = 4 * INTS_PER_EVENT, initialBytes = 64) {
  const busy = new Int32Array(new SharedArrayBuffer(MAX_SLOTS * 4));
  const b = new BatchBuilder(1000, initialBytes, new BatchSlots(busy, initialInts, initialBytes));
  return { busy, b };
}

describe("BatchSlots", () => {
  test("a batch is handed over as views of shared memory, untouched while the main thread holds it", () => {
    const { busy, b } = setup();
    event(b, 11);
    const first = b.take();
    expect(first.slot).toBe(0);
    expect(first.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(first.ints.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(Atomics.load(busy, 0)).toBe(1);
    // The next batches go elsewhere while slot 0 is held.
    event(b, 22);
    const second = b.take();
    expect(second.slot).toBe(1);
    expect(tail(first, 0)).toBe('"pid":11,"path":"/m/f","is_dir":false}\n');
    expect(first.ints[I_PID]).toBe(11);
    // Given back: reused.
    Atomics.store(busy, 0, 0);
    event(b, 33);
    expect(b.take().slot).toBe(2);
    Atomics.store(busy, 1, 0);
    event(b, 44);
    const fourth = b.take();
    expect([0, 1]).toContain(fourth.slot);
    expect(tail(fourth, 0)).toBe('"pid":44,"path":"/m/f","is_dir":false}\n');
  });

  test("with every slot busy the batch is copied out (slot -1) and the builder keeps its slot", () => {
    const { busy, b } = setup();
    const slots: number[] = [];
    for (let i = 0; i < MAX_SLOTS + 2; i++) {
      event(b, 100 + i);
      const t = b.take();
      slots.push(t.slot);
      if (t.slot < 0) {
        expect(t.bytes.buffer).toBeInstanceOf(ArrayBuffer);
        expect(tail(t, 0)).toBe(`"pid":${100 + i},"path":"/m/f","is_dir":false}\n`);
      }
    }
    expect(slots).toEqual([0, 1, 2, 3, 4, 5, 6, -1, -1, -1]);
    expect(Array.from(busy)).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
  });

  test("a batch larger than its slot grows the slot's shared arrays; what was written stays", () => {
    const { b } = setup(2 * INTS_PER_EVENT, 16);
    for (let pid = 1; pid <= 50; pid++) event(b, pid);
    const t = b.take();
    expect(t.count).toBe(50);
    expect(t.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    for (let i = 0; i < 50; i++) expect(tail(t, i)).toBe(`"pid":${i + 1},"path":"/m/f","is_dir":false}\n`);
  });
});
