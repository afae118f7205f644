// Issue 14 items 2 and 7: the output path is opened without following a planted symlink, refused
// when another user owns it, and a file that ends mid-record gets a newline before the next record.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { OutputWriter } from "../../src/sinks/output.ts";
import { writeLines } from "../support/output.ts";

let dir = "";
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-outsafe-"));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const isRoot = process.geteuid?.() === 0;

describe("output path safety (item 2)", () => {
  test("a symlink at the output path is refused and its target left untouched", () => {
    const victim = path.join(dir, "victim");
    fs.writeFileSync(victim, "secret\n");
    const link = path.join(dir, "out-link.jsonl");
    fs.symlinkSync(victim, link);
    expect(() => OutputWriter.open(link)).toThrow(/refusing output '.*out-link\.jsonl': it is a symbolic link/);
    expect(fs.readFileSync(victim, "utf8")).toBe("secret\n");
  });

  test.skipIf(!isRoot)("a file another user created is refused, naming the owner", () => {
    const p = path.join(dir, "foreign.jsonl");
    fs.writeFileSync(p, "");
    fs.chownSync(p, 65534, 65534);
    expect(() => OutputWriter.open(p)).toThrow(/refusing output '.*foreign\.jsonl': it is owned by uid 65534/);
  });

  test("a hard-linked file is refused", () => {
    const a = path.join(dir, "a.jsonl");
    fs.writeFileSync(a, "");
    fs.linkSync(a, path.join(dir, "b.jsonl"));
    expect(() => OutputWriter.open(a)).toThrow(/2 hard links/);
  });

  test("a reopen (logrotate) onto a planted symlink keeps the old file", async () => {
    const p = path.join(dir, "rot.jsonl");
    const logs: string[] = [];
    const w = OutputWriter.open(p, { log: (_l, m) => logs.push(m) });
    fs.renameSync(p, p + ".1");
    fs.symlinkSync(path.join(dir, "elsewhere"), p);
    expect(w.reopen()).toBe(false);
    expect(logs.join("\n")).toMatch(/symbolic link/);
    writeLines(w, ["{}"]);
    await w.close(1000);
    expect(fs.readFileSync(p + ".1", "utf8")).toBe("{}\n");
    expect(fs.existsSync(path.join(dir, "elsewhere"))).toBe(false);
  });
});

describe("a file cut mid-record (item 7)", () => {
  test("gets a newline before the first new record", async () => {
    const p = path.join(dir, "cut.jsonl");
    fs.writeFileSync(p, '{"a":1}\n{"type":"ev');
    const w = OutputWriter.open(p);
    writeLines(w, ['{"b":2}']);
    await w.close(1000);
    expect(fs.readFileSync(p, "utf8")).toBe('{"a":1}\n{"type":"ev\n{"b":2}\n');
  });

  test("a file that ends in a newline, or is empty, is left as it is", async () => {
    for (const start of ["", '{"a":1}\n']) {
      const p = path.join(dir, `whole-${start.length}.jsonl`);
      fs.writeFileSync(p, start);
      const w = OutputWriter.open(p);
      writeLines(w, ['{"b":2}']);
      await w.close(1000);
      expect(fs.readFileSync(p, "utf8")).toBe(start + '{"b":2}\n');
    }
  });
});
