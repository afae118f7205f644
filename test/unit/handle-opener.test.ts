// The handle opener (src/reader/handle-opener.ts): results come back through the shared buffer, the
// content group is served while waiting, a stuck open is given up on once with a warning and later
// requests fail fast until its late result has been taken.
import { afterAll, describe, expect, test } from "bun:test";
import * as K from "../../ffi/constants.ts";
import { sysClose, sysEventfd, sysRead, sysWrite } from "../../ffi/libc.ts";
import { HandleOpener, OPENER_BYTES, type OpenerChannel } from "../../src/reader/handle-opener.ts";

const doneFd = sysEventfd(0, K.EFD_CLOEXEC | K.EFD_NONBLOCK);
const contentFd = sysEventfd(0, K.EFD_CLOEXEC | K.EFD_NONBLOCK);
const channel: OpenerChannel = { shared: new SharedArrayBuffer(OPENER_BYTES), doneFd };
const gate = new Int32Array(new SharedArrayBuffer(4));
const worker = new Worker(new URL("./fixtures/opener-worker.ts", import.meta.url).href);
worker.postMessage({ channel, gate: gate.buffer });

const eight = new Uint8Array(8);
let served = 0;
const warnings: string[] = [];
const opener = new HandleOpener(
  channel,
  [contentFd],
  () => {
    served++;
    sysRead(contentFd, eight, 8); // "answer" what waited
  },
  (m) => warnings.push(m),
  200,
);

const handle = (first: number): Uint8Array => new Uint8Array([first, 1, 2, 3, 4, 5, 6, 7]);
const text = (b: Uint8Array, n: number): string => Buffer.from(b.subarray(0, n)).toString("latin1");

afterAll(() => {
  opener.stop();
  Atomics.store(gate, 0, 1);
  Atomics.notify(gate, 0);
  worker.terminate();
  sysClose(doneFd);
  sysClose(contentFd);
});

describe("HandleOpener", () => {
  test("an open's path comes back; a handle that does not open is -1", () => {
    const out = new Uint8Array(64);
    expect(text(out, opener.openPath(3, handle(4), 8, out))).toBe("/m4");
    expect(opener.openPath(-7, handle(5), 8, out)).toBe(-1);
    expect(text(out, opener.openPath(3, handle(6), 8, out))).toBe("/m6");
  });

  test("a stuck open: the content group is served meanwhile, -1 after the timeout with one warning, -1 at once while still stuck, normal again once it returns", () => {
    const out = new Uint8Array(64);
    const one = new Uint8Array(8);
    one[0] = 1;
    sysWrite(contentFd, one, 8); // a permission event waits
    const t0 = performance.now();
    expect(opener.openPath(3, handle(0xee), 8, out)).toBe(-1);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(190);
    expect(served).toBeGreaterThanOrEqual(1);
    expect(warnings.length).toBe(1);
    expect(warnings[0]).toContain("taken over 200 ms");
    const t1 = performance.now();
    expect(opener.openPath(3, handle(7), 8, out)).toBe(-1);
    expect(performance.now() - t1).toBeLessThan(50);
    Atomics.store(gate, 0, 1);
    Atomics.notify(gate, 0);
    const until = performance.now() + 2000;
    let n = -1;
    while (n < 0 && performance.now() < until) n = opener.openPath(3, handle(8), 8, out);
    expect(text(out, n)).toBe("/m8");
    expect(warnings.length).toBe(1);
  });
});
