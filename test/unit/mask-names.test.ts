import { describe, expect, test } from "bun:test";
import { MASK_NAME_TABLE, maskDecimal, maskNames } from "../../src/sinks/mask-names.ts";

const TABLE: Array<[number, string]> = [
  [0x1, "ACCESS"],
  [0x2, "MODIFY"],
  [0x4, "ATTRIB"],
  [0x8, "CLOSE_WRITE"],
  [0x10, "CLOSE_NOWRITE"],
  [0x20, "OPEN"],
  [0x40, "MOVED_FROM"],
  [0x80, "MOVED_TO"],
  [0x100, "CREATE"],
  [0x200, "DELETE"],
  [0x400, "DELETE_SELF"],
  [0x800, "MOVE_SELF"],
  [0x1000, "OPEN_EXEC"],
  [0x4000, "Q_OVERFLOW"],
  [0x8000, "FS_ERROR"],
  [0x10000, "OPEN_PERM"],
  [0x20000, "ACCESS_PERM"],
  [0x40000, "OPEN_EXEC_PERM"],
  [0x10000000, "RENAME"],
  [0x40000000, "ONDIR"],
];

describe("maskNames", () => {
  test("the table is A8's, in ascending order", () => {
    expect(MASK_NAME_TABLE.map(([b, n]) => [b, n])).toEqual(TABLE);
  });

  for (const [bit, name] of TABLE) {
    test(`single bit 0x${bit.toString(16)} → ${name}`, () => {
      expect(maskNames(bit, 0)).toBe(name);
      expect(maskNames(bit, 0)).toBe(name); // cached path
    });
  }

  test("merged masks in ascending bit order", () => {
    expect(maskNames(42, 0)).toBe("MODIFY,CLOSE_WRITE,OPEN");
    expect(maskNames(10, 0)).toBe("MODIFY,CLOSE_WRITE");
    expect(maskNames(0x40000100, 0)).toBe("CREATE,ONDIR");
    expect(maskNames(0x30000, 0)).toBe("OPEN_PERM,ACCESS_PERM");
    expect(maskNames(0x40000200, 0)).toBe("DELETE,ONDIR");
    expect(maskNames(1073741856, 0)).toBe("OPEN,ONDIR");
    const all = TABLE.reduce((a, [b]) => (a | b) >>> 0, 0);
    expect(maskNames(all, 0)).toBe(TABLE.map(([, n]) => n).join(","));
  });

  test("mask 0 is the empty string", () => {
    expect(maskNames(0, 0)).toBe("");
  });

  test("unknown bits", () => {
    expect(maskNames(0x2000, 0)).toBe("0x2000");
    expect(maskNames(0x80000000, 0)).toBe("0x80000000");
    expect(maskNames(0x20000000, 0)).toBe("0x20000000");
    expect(maskNames(0x2000 | 0x100000 | 0x20, 0)).toBe("OPEN,0x102000");
    // bit 63 alone
    expect(maskNames(0, 0x80000000)).toBe("0x8000000000000000");
    // bit 32 alone
    expect(maskNames(0, 1)).toBe("0x100000000");
    // unknown bits of both halves are OR-ed into one final token, after the names
    expect(maskNames(0x2000 | 0x2 | 0x40000000, 0x80000001)).toBe("MODIFY,ONDIR,0x8000000100002000");
    expect(maskNames(0x80000000, 0x80000000)).toBe("0x8000000080000000");
    // known low bits with an unknown high half
    expect(maskNames(0x8, 0x10)).toBe("CLOSE_WRITE,0x1000000000");
  });

  test("signed 32-bit halves are read as unsigned", () => {
    expect(maskNames(0x80000000 | 0, 0)).toBe("0x80000000");
    expect(maskNames(0, 0x80000000 | 0)).toBe("0x8000000000000000");
  });

  test("no leading, trailing or double comma for any single or paired bit", () => {
    for (let i = 0; i < 64; i++) {
      for (let j = i; j < 64; j++) {
        const lo = ((i < 32 ? 2 ** i : 0) | (j < 32 ? 2 ** j : 0)) >>> 0;
        const hi = ((i >= 32 ? 2 ** (i - 32) : 0) | (j >= 32 ? 2 ** (j - 32) : 0)) >>> 0;
        const s = maskNames(lo, hi);
        expect(s).not.toMatch(/^,|,$|,,/);
        expect(s.length).toBeGreaterThan(0);
      }
    }
  });
});

describe("maskDecimal", () => {
  test("exact unsigned 64-bit decimal", () => {
    expect(maskDecimal(0, 0)).toBe("0");
    expect(maskDecimal(10, 0)).toBe("10");
    expect(maskDecimal(1073741856, 0)).toBe("1073741856");
    expect(maskDecimal(0xffffffff, 0)).toBe("4294967295");
    expect(maskDecimal(0x80000000 | 0, 0)).toBe("2147483648");
    expect(maskDecimal(0, 1)).toBe("4294967296");
    expect(maskDecimal(5, 0x1fffff)).toBe(String(0x1fffff * 2 ** 32 + 5));
    expect(maskDecimal(0, 0x80000000)).toBe("9223372036854775808");
    expect(maskDecimal(0xffffffff, 0xffffffff)).toBe("18446744073709551615");
    expect(maskDecimal(1, 0x200000)).toBe("9007199254740993"); // 2^53 + 1, not representable as double
  });
});
