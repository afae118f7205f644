// Burst windows (behavior.md A10) and the alert cooldown (A10, B7) as separate units.

import { describe, expect, test } from "bun:test";
import { BurstTracker } from "../../src/policy/burst.ts";
import { Cooldown } from "../../src/policy/cooldown.ts";

/** The A10 loop for one pid: burst condition → cooldown → alert + reset, or suppressed. */
function step(b: BurstTracker, c: Cooldown, pid: number, now: number): { alert: number | null; suppressed: boolean } {
  const count = b.hit(pid, now);
  if (count === 0) return { alert: null, suppressed: false };
  if (c.tryAlert(pid, now)) {
    b.reset(pid, now);
    return { alert: count, suppressed: false };
  }
  return { alert: null, suppressed: true };
}

describe("BurstTracker", () => {
  test("the A10 trace: threshold 2, window 100, cooldown 500", () => {
    const b = new BurstTracker({ threshold: 2, windowMs: 100 });
    const c = new Cooldown(500);
    expect(step(b, c, 7, 1010)).toEqual({ alert: null, suppressed: false });
    expect(b.count(7)).toBe(1);
    expect(step(b, c, 7, 1050)).toEqual({ alert: 2, suppressed: false }); // alert, count 2
    expect(b.count(7)).toBe(0); // reset
    expect(step(b, c, 7, 1100)).toEqual({ alert: null, suppressed: false });
    expect(b.count(7)).toBe(1); // new window
    expect(step(b, c, 7, 1140)).toEqual({ alert: null, suppressed: true }); // count 2, cooldown
    expect(b.count(7)).toBe(2); // not reset while suppressed
    expect(step(b, c, 7, 1700)).toEqual({ alert: null, suppressed: false });
    expect(b.count(7)).toBe(1); // window expired
    expect(step(b, c, 7, 1750)).toEqual({ alert: 2, suppressed: false });
  });

  test("window starts at the first event and is not sliding", () => {
    const b = new BurstTracker({ threshold: 3, windowMs: 100 });
    expect(b.hit(1, 0)).toBe(0);
    expect(b.hit(1, 60)).toBe(0);
    expect(b.hit(1, 101)).toBe(0); // 101 − 0 > 100: new window, count 1 (a sliding window would say 2)
    expect(b.count(1)).toBe(1);
    expect(b.hit(1, 150)).toBe(0);
    expect(b.hit(1, 201)).toBe(3); // exactly 100 after start: still the same window
  });

  test("pids are independent; counts keep growing while suppressed", () => {
    const b = new BurstTracker({ threshold: 2, windowMs: 1000 });
    expect(b.hit(1, 0)).toBe(0);
    expect(b.hit(2, 0)).toBe(0);
    expect(b.hit(1, 1)).toBe(2);
    expect(b.hit(1, 2)).toBe(3);
    expect(b.count(2)).toBe(1);
  });

  test("threshold 0 disables it; threshold 1 fires on every record", () => {
    const off = new BurstTracker({ threshold: 0, windowMs: 100 });
    for (let t = 0; t < 50; t++) expect(off.hit(1, t)).toBe(0);
    expect(off.size).toBe(0);
    const one = new BurstTracker({ threshold: 1, windowMs: 100 });
    expect(one.hit(1, 0)).toBe(1);
  });

  test("a zero window is rejected", () => {
    expect(() => new BurstTracker({ threshold: 1, windowMs: 0 })).toThrow();
  });

  test("size bound: the oldest window is evicted when full", () => {
    const b = new BurstTracker({ threshold: 100, windowMs: 1000, maxEntries: 4 });
    for (let pid = 1; pid <= 4; pid++) b.hit(pid, pid);
    b.hit(1, 10); // same window: pid 1 keeps its place (oldest start)
    b.hit(5, 11);
    expect(b.size).toBe(4);
    expect(b.count(1)).toBe(0); // evicted
    expect(b.count(2)).toBe(1);
    expect(b.count(5)).toBe(1);
    // a new window re-inserts: pid 2 restarts at 2000, so pid 3 is now the oldest
    b.hit(2, 2000);
    b.hit(6, 2001);
    expect(b.count(3)).toBe(0);
    expect(b.count(2)).toBe(1);
    expect(b.size).toBe(4);
  });

  test("the 65536 default bound holds under a pid flood", () => {
    const b = new BurstTracker({ threshold: 5, windowMs: 1000 });
    for (let pid = 1; pid <= 70000; pid++) b.hit(pid, pid / 100);
    expect(b.size).toBe(65536);
    expect(b.count(1)).toBe(0);
    expect(b.count(70000)).toBe(1);
  });

  test("sweep drops entries idle longer than expireMs, keeps the rest", () => {
    const b = new BurstTracker({ threshold: 10, windowMs: 100, expireMs: 600 });
    b.hit(1, 0);
    b.hit(2, 50);
    b.hit(3, 90);
    b.hit(3, 95);
    b.hit(4, 700);
    expect(b.sweep(650)).toBe(1); // pid 1: idle 650 > 600
    expect(b.count(1)).toBe(0);
    expect(b.sweep(696)).toBe(2); // pids 2 (idle 646) and 3 (idle 601)
    expect(b.size).toBe(1);
    expect(b.sweep(10_000)).toBe(1);
    expect(b.size).toBe(0);
  });
});

describe("Cooldown", () => {
  test("allowed when never alerted or now − last >= cooldown", () => {
    const c = new Cooldown(500);
    expect(c.allowed(1, 0)).toBe(true);
    expect(c.tryAlert(1, 100)).toBe(true);
    expect(c.tryAlert(1, 599)).toBe(false);
    expect(c.tryAlert(2, 599)).toBe(true); // per pid
    expect(c.tryAlert(1, 600)).toBe(true);
  });

  test("cooldown 0 disables it: back-to-back alerts, no state (B7)", () => {
    const c = new Cooldown(0);
    for (let i = 0; i < 5; i++) expect(c.tryAlert(1, 1000)).toBe(true);
    expect(c.size).toBe(0);
  });

  test("size bound evicts the least recently alerted pid; sweep drops expired entries", () => {
    const c = new Cooldown(1000, 3);
    c.mark(1, 0);
    c.mark(2, 10);
    c.mark(3, 20);
    c.mark(1, 30); // pid 1 moves to the back
    c.mark(4, 40); // evicts pid 2
    expect(c.size).toBe(3);
    expect(c.allowed(2, 50)).toBe(true);
    expect(c.allowed(1, 50)).toBe(false);
    expect(c.sweep(1025)).toBe(1); // pid 3 (20 + 1000 <= 1025)
    expect(c.sweep(1040)).toBe(2);
    expect(c.size).toBe(0);
  });
});
