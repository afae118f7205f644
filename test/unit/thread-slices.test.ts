// ThreadSlices (src/lifecycle/thread-slices.ts): every thread gets the long slice, background threads
// (JIT compilers, the allocator's scavenger) nice 19; a look lists the threads
// only when their number changed (or every 10 s); new threads are treated, ended ones forgotten, a
// refused one tried again — with a fake thread source and setter (no real thread changes).
import { describe, expect, test } from "bun:test";
import { SLICE_NS, ThreadSlices, type ThreadTreatment } from "../../src/lifecycle/thread-slices.ts";

function setup(threads: Array<[number, string]>, ok = () => true) {
  const calls: Array<[number, ThreadTreatment]> = [];
  let lists = 0;
  const s = new ThreadSlices(
    {
      count: () => threads.length,
      list: () => {
        lists++;
        return threads;
      },
    },
    (tid, how) => {
      calls.push([tid, how]);
      return ok();
    },
  );
  return { s, calls, lists: () => lists };
}

describe("ThreadSlices", () => {
  test("start(): the long slice for the daemon's threads, nice 19 for JIT compilers and the scavenger", () => {
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
      [102, "background"],
      [103, "slice"],
      [104, "slice"],
      [105, "background"],
      [106, "background"],
    ]);
  });

  test("rescan() lists threads only when their number changed; every 10 s all are treated again", () => {
    const threads: Array<[number, string]> = [[100, "fanotifyd\n"]];
    const { s, calls, lists } = setup(threads);
    s.start(0);
    s.rescan(1000);
    expect(lists()).toBe(1);
    threads.push([102, "Bun Pool 1\n"]);
    s.rescan(2000);
    expect(lists()).toBe(2);
    expect(calls.at(-1)).toEqual([102, "slice"]);
    // 100 ends and its id comes back as a new (background) thread, same count: seen at the full scan.
    threads.splice(0, 1);
    threads.push([100, "JITWorker\n"]);
    s.rescan(3000);
    expect(lists()).toBe(2);
    s.rescan(12_000);
    expect(lists()).toBe(3);
    expect(calls.slice(2)).toEqual([
      [102, "slice"],
      [100, "background"],
    ]);
  });

  test("a refused thread is tried again at the next look; start() is false when none took it", () => {
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
