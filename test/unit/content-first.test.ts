// ContentFirst (src/reader/content-first.ts): a permission group is drained in the middle of other
// work only when it has something to read, and never before the groups are set.
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
      cf.setGroups([fd]);
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

  test("with several groups, drains exactly the readable ones (issue 11: a group per mark)", () => {
    withEventfd((a) =>
      withEventfd((b) => {
        const drained: number[] = [];
        const fds = [a, b];
        const cf = new ContentFirst((i) => {
          drained.push(i);
          sysRead(fds[i], new Uint8Array(8), 8);
        });
        cf.setGroups(fds);
        expect(sysWrite(b, one, 8)).toBe(8);
        cf.service();
        expect(drained).toEqual([1]);
        expect(sysWrite(a, one, 8)).toBe(8);
        expect(sysWrite(b, one, 8)).toBe(8);
        cf.service();
        expect(drained).toEqual([1, 0, 1]);
        cf.service();
        expect(drained).toEqual([1, 0, 1]);
      }),
    );
  });
});
