// ThreadSlices (src/reader/thread-slices.ts): every thread gets the long slice, new threads at the
// next rescan (at most once a second), ended ones are forgotten — with a fake thread list and setter.
import { describe, expect, test } from "bun:test";
import { SLICE_NS, ThreadSlices } from "../../src/reader/thread-slices.ts";

describe("ThreadSlices", () => {
  test("start() sets every thread's slice; rescan() picks up new threads once a second at most", () => {
    const threads = [100, 101];
    const calls: Array<[number, number]> = [];
    const s = new ThreadSlices(
      () => threads,
      (tid, ns) => {
        calls.push([tid, ns]);
        return true;
      },
    );
    expect(s.start(0)).toBe(true);
    expect(calls).toEqual([
      [100, SLICE_NS],
      [101, SLICE_NS],
    ]);
    threads.push(102);
    s.rescan(999);
    expect(calls.length).toBe(2);
    s.rescan(1000);
    expect(calls.at(-1)).toEqual([102, SLICE_NS]);
    expect(calls.length).toBe(3);
    // 100 ends and its id comes back as a new thread: it is set again.
    threads.splice(0, 1);
    s.rescan(2000);
    threads.push(100);
    s.rescan(3000);
    expect(calls.at(-1)).toEqual([100, SLICE_NS]);
    expect(calls.length).toBe(4);
  });

  test("a refused thread is tried again at the next rescan; start() is false when none took it", () => {
    let ok = false;
    let tries = 0;
    const s = new ThreadSlices(
      () => [100],
      () => {
        tries++;
        return ok;
      },
    );
    expect(s.start(0)).toBe(false);
    ok = true;
    s.rescan(1000);
    s.rescan(2000);
    expect(tries).toBe(2);
  });

  test("SLICE_NS is the kernel's upper bound for a custom slice (100 ms)", () => {
    expect(SLICE_NS).toBe(100_000_000);
  });
});
