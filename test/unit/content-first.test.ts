// ContentFirst (src/reader/content-first.ts): the permission group is drained in the middle of other
// work only when it has something to read, and never before a group is set.
import { describe, expect, test } from "bun:test";
import { sysClose, sysEventfd, sysRead, sysWrite } from "../../ffi/libc.ts";
import { ContentFirst } from "../../src/reader/content-first.ts";

const EFD_NONBLOCK = 0o4000;

function withEventfd(fn: (fd: number) => void): void {
  const fd = sysEventfd(0, EFD_NONBLOCK);
  expect(fd).toBeGreaterThanOrEqual(0);
  try {
    fn(fd);
  } finally {
    sysClose(fd);
  }
}

const one = new Uint8Array(new BigUint64Array([1n]).buffer);

describe("ContentFirst", () => {
  test("without a content group, service() and answerFirst() do nothing", () => {
    let drained = 0;
    const cf = new ContentFirst(() => drained++);
    cf.service();
    cf.answerFirst();
    expect(drained).toBe(0);
  });

  test("drains only when the group is readable", () => {
    withEventfd((fd) => {
      let drained = 0;
      const cf = new ContentFirst(() => {
        drained++;
        sysRead(fd, new Uint8Array(8), 8); // what a drain does: read until empty
      });
      cf.setGroup(fd);
      cf.service();
      cf.answerFirst();
      expect(drained).toBe(0);
      expect(sysWrite(fd, one, 8)).toBe(8);
      cf.answerFirst();
      expect(drained).toBe(1);
      cf.service();
      expect(drained).toBe(1);
      expect(sysWrite(fd, one, 8)).toBe(8);
      cf.service();
      expect(drained).toBe(2);
    });
  });
});
