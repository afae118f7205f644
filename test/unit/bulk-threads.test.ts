// BulkThreads (src/reader/bulk-threads.ts): which threads go idle, and when they are lifted back to
// SCHED_OTHER and demoted again — with a fake thread list and policy setter (no real threads change).
import { describe, expect, test } from "bun:test";
import { threadId } from "../../ffi/process.ts";
import { BulkThreads } from "../../src/reader/bulk-threads.ts";

function setup(threads: Array<[number, string]>, fill = { value: 0 }) {
  const idle = new Map<number, boolean>();
  const calls: string[] = [];
  const bulk = new BulkThreads(
    () => fill.value,
    () => threads,
    (tid, isIdle) => {
      idle.set(tid, isIdle);
      calls.push(`${tid}:${isIdle ? "idle" : "other"}`);
      return true;
    },
  );
  return { bulk, idle, calls, fill };
}

describe("BulkThreads", () => {
  test("every thread but the caller and JSC's GC helpers goes idle", () => {
    const self = threadId();
    const { bulk, idle } = setup([
      [self, "Worker\n"],
      [100, "fanotifyd\n"],
      [101, "JITWorker\n"],
      [102, "HeapHelper\n"],
      [103, "Bun Pool 0\n"],
    ]);
    expect(bulk.start(0)).toBe(true);
    expect([...idle.entries()].sort()).toEqual([
      [100, true],
      [101, true],
      [103, true],
    ]);
  });

  test("start() reports false when the kernel refuses every change", () => {
    const bulk = new BulkThreads(
      () => 0,
      () => [[100, "fanotifyd\n"]],
      () => false,
    );
    expect(bulk.start(0)).toBe(false);
  });

  test("lifted when batches wait 1 s without progress, demoted once caught up and 1 s after the lift", () => {
    const { bulk, idle, calls } = setup([[100, "fanotifyd\n"]]);
    bulk.start(0);
    // update(now, inflight, processed, behind)
    bulk.update(10, 1, 0, false);
    bulk.update(900, 2, 1, false); // progress at 900
    bulk.update(1800, 2, 1, false);
    expect(bulk.isLifted).toBe(false);
    expect(bulk.watching(2)).toBe(true);
    bulk.update(1900, 2, 1, false);
    expect(bulk.isLifted).toBe(true);
    expect(bulk.watching(2)).toBe(false);
    expect(idle.get(100)).toBe(false);
    bulk.update(2000, 0, 3, false); // caught up, but only 100 ms after the lift
    expect(bulk.isLifted).toBe(true);
    bulk.update(2950, 1, 4, false); // work pending: stays lifted
    expect(bulk.isLifted).toBe(true);
    bulk.update(3000, 0, 5, false);
    expect(bulk.isLifted).toBe(false);
    expect(idle.get(100)).toBe(true);
    expect(calls).toEqual(["100:idle", "100:other", "100:idle"]);
  });

  test("nothing pending is never a stall, however long", () => {
    const { bulk } = setup([[100, "fanotifyd\n"]]);
    bulk.start(0);
    bulk.update(5000, 0, 0, false);
    bulk.update(9000, 1, 0, false); // pending since the look before at the earliest
    expect(bulk.isLifted).toBe(false);
    expect(bulk.watching(0)).toBe(false);
    bulk.update(10_001, 1, 0, false);
    expect(bulk.isLifted).toBe(true);
  });

  test("lifted at once when behind and the notification queue is half full, looked at every 10 ms at most", () => {
    const fill = { value: 0.3 };
    let looks = 0;
    const bulk = new BulkThreads(
      () => {
        looks++;
        return fill.value;
      },
      () => [[100, "fanotifyd\n"]],
      () => true,
    );
    bulk.start(0);
    bulk.update(0, 4, 0, true);
    bulk.update(5, 4, 1, true);
    expect(looks).toBe(1);
    fill.value = 0.6;
    bulk.update(9, 4, 2, true);
    expect(bulk.isLifted).toBe(false);
    bulk.update(11, 3, 3, false); // not behind: the queue is not looked at
    expect(looks).toBe(1);
    bulk.update(12, 4, 4, true);
    expect(looks).toBe(2);
    expect(bulk.isLifted).toBe(true);
  });

  test("rescan() picks up new threads and forgets ended ones; release() lifts everything", () => {
    const threads: Array<[number, string]> = [[100, "fanotifyd\n"]];
    const { bulk, idle } = setup(threads);
    bulk.start(0);
    threads.push([104, "Bun Pool 1\n"]);
    bulk.rescan(500);
    expect(idle.has(104)).toBe(false);
    bulk.rescan(1000);
    expect(idle.get(104)).toBe(true);
    threads.splice(0, 1);
    bulk.rescan(2000);
    bulk.release();
    expect(idle.get(104)).toBe(false);
    expect(idle.get(100)).toBe(true); // ended before release: not touched again
  });
});
