import { describe, expect, test } from "bun:test";
import { FAN_EVENT_METADATA_LEN } from "../../ffi/constants.ts";
import { FD_RESERVE, FdBudget, countOpenFds } from "../../src/reader/fd-budget.ts";
import { closeSync, openSync, readdirSync } from "node:fs";
import { getNofileLimit, setNofileSoftLimit } from "../../ffi/process.ts";

describe("FdBudget (issue 14 item 5)", () => {
  test("a roomy limit never shortens reads and never counts fds", () => {
    let counted = 0;
    const b = new FdBudget(1 << 20, () => (counted++, 30));
    expect(b.isTight).toBe(false);
    expect(b.readBytes(65536)).toBe(65536);
    expect(counted).toBe(1); // only at construction
  });

  test("under a low limit a read asks for no more events than there are free fds", () => {
    let open = 20;
    const b = new FdBudget(64, () => open);
    expect(b.isTight).toBe(true);
    expect(b.readBytes(65536)).toBe((64 - 20 - FD_RESERVE) * FAN_EVENT_METADATA_LEN);
    open = 50;
    expect(b.readBytes(65536)).toBe((64 - 50 - FD_RESERVE) * FAN_EVENT_METADATA_LEN);
  });

  test("with no fd free it still reads one event (a failure is then reported by read itself)", () => {
    const b = new FdBudget(64, () => 64);
    expect(b.readBytes(65536)).toBe(FAN_EVENT_METADATA_LEN);
  });

  test("at the real limit (EMFILE while counting) it reads one event instead of throwing", () => {
    const lim = getNofileLimit();
    if (lim === null) throw new Error("getrlimit failed");
    const open = readdirSync("/proc/self/fd").length - 1;
    expect(setNofileSoftLimit(open + 16, lim.hard)).toBe(true);
    const held: number[] = [];
    try {
      const b = new FdBudget(open + 16);
      expect(b.isTight).toBe(true);
      for (;;) {
        try {
          held.push(openSync("/dev/null", "r"));
        } catch {
          break;
        }
      }
      expect(b.readBytes(65536)).toBe(FAN_EVENT_METADATA_LEN);
    } finally {
      for (const fd of held) closeSync(fd);
      setNofileSoftLimit(lim.soft, lim.hard);
    }
  });

  test("a failure other than EMFILE/ENFILE while counting is thrown, not taken for 'no fd free'", () => {
    expect(() => countOpenFds(64, "/nonexistent-fanotifyd-fd-dir")).toThrow(/ENOENT/);
    expect(countOpenFds(64)).toBeLessThan(64);
  });

  test("an infinite limit is roomy", () => {
    expect(new FdBudget(Number.POSITIVE_INFINITY, () => 10).isTight).toBe(false);
  });
});
