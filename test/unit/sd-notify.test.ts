import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { errno, strerror, sysClose, sysPoll } from "../../ffi/libc.ts";
import {
  AF_UNIX,
  MSG_DONTWAIT,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrUn,
  sysBind,
  sysRecv,
  sysSocket,
} from "../../ffi/socket.ts";
import { sdNotify, sdNotifyDetailed } from "../../src/lifecycle/sd-notify.ts";

let dir = "";
const savedNotify = process.env.NOTIFY_SOCKET;
const open: number[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-sdnotify-"));
});
afterEach(() => {
  for (const fd of open.splice(0)) sysClose(fd);
  if (savedNotify === undefined) delete process.env.NOTIFY_SOCKET;
  else process.env.NOTIFY_SOCKET = savedNotify;
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A bound, non-blocking AF_UNIX datagram socket: the service manager's end. */
function listener(name: string): number {
  const sa = sockaddrUn(name);
  if (sa === null) throw new Error(`bad socket name ${name}`);
  const fd = sysSocket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${strerror(errno())}`);
  open.push(fd);
  if (sysBind(fd, sa.addr, sa.len) !== 0) throw new Error(`bind(${name}): ${strerror(errno())}`);
  return fd;
}

/** One datagram, waiting at most `ms` (poll with a timeout: never a blocking FFI call). */
function receive(fd: number, ms = 1000): string | null {
  const pfd = new Uint8Array(8);
  new DataView(pfd.buffer).setInt32(0, fd, true);
  new DataView(pfd.buffer).setInt16(4, 1 /* POLLIN */, true);
  if (sysPoll(pfd, 1, ms) <= 0) return null;
  const buf = new Uint8Array(4096);
  const n = sysRecv(fd, buf, buf.length, MSG_DONTWAIT);
  if (n < 0) throw new Error(`recv: ${strerror(errno())}`);
  return Buffer.from(buf.subarray(0, n)).toString("utf8");
}

describe("sockaddrUn", () => {
  test("path: family 1, NUL-terminated path, length 2 + path + 1", () => {
    const sa = sockaddrUn("/run/x");
    expect(sa).not.toBeNull();
    expect(Array.from(sa!.addr.subarray(0, 9))).toEqual([1, 0, 0x2f, 0x72, 0x75, 0x6e, 0x2f, 0x78, 0]);
    expect(sa!.len).toBe(2 + 6 + 1);
  });
  test("abstract: leading NUL, length 2 + name length (with the '@')", () => {
    const sa = sockaddrUn("@ab");
    expect(Array.from(sa!.addr.subarray(0, 5))).toEqual([1, 0, 0, 0x61, 0x62]);
    expect(sa!.len).toBe(2 + 3);
  });
  test("too long or empty names are refused", () => {
    expect(sockaddrUn("")).toBeNull();
    expect(sockaddrUn("/" + "a".repeat(106))).not.toBeNull();
    expect(sockaddrUn("/" + "a".repeat(107))).toBeNull();
    expect(sockaddrUn("@" + "a".repeat(108))).toBeNull();
  });
});

describe("sdNotify", () => {
  test("sends one datagram to a socket path", () => {
    const sock = path.join(dir, "notify.sock");
    const fd = listener(sock);
    process.env.NOTIFY_SOCKET = sock;
    expect(sdNotify("READY=1")).toBe(true);
    expect(receive(fd)).toBe("READY=1");
    expect(sdNotify(`READY=1\nMAINPID=${process.pid}`)).toBe(true);
    expect(receive(fd)).toBe(`READY=1\nMAINPID=${process.pid}`);
    expect(sdNotify("STOPPING=1")).toBe(true);
    expect(receive(fd)).toBe("STOPPING=1");
  });

  test("sends to an abstract socket ('@name')", () => {
    const name = `@fanotifyd-test-${process.pid}-${Date.now()}`;
    const fd = listener(name);
    process.env.NOTIFY_SOCKET = name;
    expect(sdNotify("RELOADING=1")).toBe(true);
    expect(receive(fd)).toBe("RELOADING=1");
  });

  test("without NOTIFY_SOCKET it sends nothing and returns false", () => {
    delete process.env.NOTIFY_SOCKET;
    expect(sdNotify("READY=1")).toBe(false);
    expect(sdNotifyDetailed("READY=1").reason).toBe("NOTIFY_SOCKET is not set");
  });

  test("failures return false, never throw", () => {
    process.env.NOTIFY_SOCKET = path.join(dir, "nobody-listens.sock");
    expect(sdNotify("READY=1")).toBe(false);
    expect(sdNotifyDetailed("READY=1").reason).toMatch(/^sendto\(.*nobody-listens\.sock\): /);
    process.env.NOTIFY_SOCKET = "relative.sock";
    expect(sdNotify("READY=1")).toBe(false);
    process.env.NOTIFY_SOCKET = "/" + "x".repeat(200);
    expect(sdNotify("READY=1")).toBe(false);
  });
});
