// ThreadSlices (src/reader/thread-slices.ts): every thread gets the long slice, background threads
// (JIT compilers, the allocator's scavenger) SCHED_IDLE; new threads at the next rescan (at most once
// a second), ended ones forgotten — with a fake thread list and setter (no real thread changes).
import { describe, expect, test } from "bun:test";
import { SLICE_NS, ThreadSlices, type ThreadTreatment } from "../../src/reader/thread-slices.ts";

function setup(threads: Array<[number, string]>, ok = () => true) {
  const calls: Array<[number, ThreadTreatment]> = [];
  const s = new ThreadSlices(
    () => threads,
    (tid, how) => {
      calls.push([tid, how]);
      return ok();
    },
  );
  return { s, calls };
}

describe("ThreadSlices", () => {
  test("start(): the long slice for the daemon's threads, SCHED_IDLE for JIT compilers and the scavenger", () => {
    const { s, calls } = setup([
      [100, "fanotifyd\n"],
      [101, "Worker\n"],
      [102, "JITWorker\n"],
      [103, "HeapHelper\n"],
      [104, "Bun Pool 0\n"],
      [105, "mi-scavenger\n"],
      [106, "JSCWarmUp\n"],
    ]);
    expect(s.start(0)).toBe(true);
    expect(calls).toEqual([
      [100, "slice"],
      [101, "slice"],
      [102, "idle"],
      [103, "slice"],
      [104, "slice"],
      [105, "idle"],
      [106, "idle"],
    ]);
  });

  test("rescan() picks up new threads once a second at most and forgets ended ones", () => {
    const threads: Array<[number, string]> = [[100, "fanotifyd\n"]];
    const { s, calls } = setup(threads);
    s.start(0);
    threads.push([102, "Bun Pool 1\n"]);
    s.rescan(999);
    expect(calls.length).toBe(1);
    s.rescan(1000);
    expect(calls.at(-1)).toEqual([102, "slice"]);
    // 100 ends and its id comes back as a new (background) thread: treated again.
    threads.splice(0, 1);
    s.rescan(2000);
    threads.push([100, "JITWorker\n"]);
    s.rescan(3000);
    expect(calls.at(-1)).toEqual([100, "idle"]);
    expect(calls.length).toBe(3);
  });

  test("a refused thread is tried again at the next rescan; start() is false when none took it", () => {
    let ok = false;
    const { s, calls } = setup([[100, "fanotifyd\n"]], () => ok);
    expect(s.start(0)).toBe(false);
    ok = true;
    s.rescan(1000);
    s.rescan(2000);
    expect(calls.length).toBe(2);
  });

  test("SLICE_NS is the kernel's upper bound for a custom slice (100 ms)", () => {
    expect(SLICE_NS).toBe(100_000_000);
  });
});
