// The reader's fd bookkeeping on real fds: CloseQueue closes exactly the fds it was given (runs of
// consecutive numbers with one close_range), at once when full; readFdLink reads an fd's path through
// the thread's /proc/self/fd directory.
import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CloseQueue } from "../../src/reader/close-queue.ts";
import { readFdLink } from "../../src/reader/fd-link.ts";

const dir = mkdtempSync(join(tmpdir(), "fanotifyd-closeq-"));
const file = join(dir, "f");
writeFileSync(file, "x");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

function openMany(n: number): number[] {
  return Array.from({ length: n }, () => openSync(file, "r"));
}

describe("CloseQueue", () => {
  test("closes the queued fds (runs and strays) and nothing between them", () => {
    const fds = openMany(6);
    const q = new CloseQueue();
    // Queue all but the third: two runs around an fd that must stay open.
    for (const fd of fds) if (fd !== fds[2]) q.add(fd);
    expect(q.pending).toBe(true);
    expect(fds.every(isOpen)).toBe(true);
    q.closeAll();
    expect(q.pending).toBe(false);
    expect(fds.filter(isOpen)).toEqual([fds[2]]);
    closeSync(fds[2]);
  });

  test("a queue with a capacity closes everything the moment it is full", () => {
    const fds = openMany(5);
    const q = new CloseQueue(4);
    for (const fd of fds.slice(0, 3)) q.add(fd);
    expect(fds.slice(0, 3).every(isOpen)).toBe(true);
    q.add(fds[3]);
    expect(q.pending).toBe(false);
    expect(fds.slice(0, 4).some(isOpen)).toBe(false);
    q.add(fds[4]);
    expect(isOpen(fds[4])).toBe(true);
    q.closeAll();
    expect(isOpen(fds[4])).toBe(false);
  });

  test("capacity 1 closes each fd as it is added", () => {
    const [fd] = openMany(1);
    new CloseQueue(1).add(fd);
    expect(isOpen(fd)).toBe(false);
  });
});

describe("readFdLink", () => {
  test("reads an fd's path, repeatedly (cached name), and -1 for an fd that is not open", () => {
    const fd = openSync(file, "r");
    const out = new Uint8Array(4096);
    for (let i = 0; i < 2; i++) {
      const n = readFdLink(fd, out);
      expect(Buffer.from(out.subarray(0, n)).toString()).toBe(file);
    }
    closeSync(fd);
    expect(readFdLink(fd, out)).toBe(-1);
  });
});
