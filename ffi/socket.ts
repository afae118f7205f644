// AF_UNIX datagram sockets through bun:ffi, for sd_notify(3) (src/lifecycle/sd-notify.ts) and its tests.
// libc.ts stays the home of the fanotify/file bindings; this file opens libc a second time for the socket
// calls only (same libc, so errno() from libc.ts reads the same thread-local errno).
// Hygiene (design.md "bun:ffi hygiene"): pass typed arrays themselves as pointer arguments on every call
// (never a cached ptr()), and read errno right after the call that failed.
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, u64, i64_fast, ptr } = FFIType;

const lib = dlopen("libc.so.6", {
  socket: { args: [i32, i32, i32], returns: i32 },
  bind: { args: [i32, ptr, u32], returns: i32 },
  connect: { args: [i32, ptr, u32], returns: i32 },
  sendto: { args: [i32, ptr, u64, i32, ptr, u32], returns: i64_fast },
  recv: { args: [i32, ptr, u64, i32], returns: i64_fast },
  setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
});

const sym = lib.symbols;

export const AF_UNIX = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_DONTWAIT = 0x40;
export const MSG_NOSIGNAL = 0x4000;

/** sizeof(struct sockaddr_un): sa_family_t (u16) + sun_path[108]. */
export const SOCKADDR_UN_SIZE = 110;
/** Longest name that fits sun_path: a path keeps room for its NUL; an abstract name skips the leading NUL. */
export const SUN_PATH_MAX = 107;

export interface SockaddrUn {
  /** The struct, SOCKADDR_UN_SIZE bytes. */
  readonly addr: Uint8Array;
  /** The address length to pass to bind/connect/sendto. */
  readonly len: number;
}

/**
 * Builds a struct sockaddr_un (pure). `name` is a filesystem path, or an abstract name written with a
 * leading "@" (the "@" becomes the NUL byte; the length is 2 + the name's byte length, "@" included, and
 * no trailing NUL is counted). Returns null for an empty name or one too long for sun_path.
 */
export function sockaddrUn(name: string): SockaddrUn | null {
  if (name.length === 0) return null;
  const abstract = name.startsWith("@");
  const body = Buffer.from(abstract ? name.slice(1) : name, "utf8");
  if (body.length > SUN_PATH_MAX) return null;
  if (!abstract && body.includes(0)) return null;
  const addr = new Uint8Array(SOCKADDR_UN_SIZE);
  addr[0] = AF_UNIX & 0xff; // sa_family_t, little-endian u16
  addr[1] = AF_UNIX >> 8;
  addr.set(body, abstract ? 3 : 2); // abstract: addr[2] stays 0
  const len = abstract ? 2 + 1 + body.length : 2 + body.length + 1;
  return { addr, len };
}

export const sysSocket = (domain: number, type: number, protocol: number): number =>
  sym.socket(domain, type, protocol);
export const sysBind = (fd: number, addr: Uint8Array, len: number): number => sym.bind(fd, addr, len >>> 0);
export const sysConnect = (fd: number, addr: Uint8Array, len: number): number => sym.connect(fd, addr, len >>> 0);
export const sysSendto = (
  fd: number,
  buf: Uint8Array,
  len: number,
  flags: number,
  addr: Uint8Array,
  addrLen: number,
): number => Number(sym.sendto(fd, buf, len, flags, addr, addrLen >>> 0));
export const sysRecv = (fd: number, buf: Uint8Array, len: number, flags: number): number =>
  Number(sym.recv(fd, buf, len, flags));

export const SOL_SOCKET = 1;
export const SO_SNDBUF = 7;
export const SO_SNDBUFFORCE = 32;

/**
 * Sets a socket's send buffer to `bytes`: SO_SNDBUFFORCE first (root may exceed net.core.wmem_max),
 * SO_SNDBUF otherwise (capped by the kernel). Returns 0 on success.
 */
export function setSendBuffer(fd: number, bytes: number): number {
  const v = new Int32Array([bytes]);
  if (sym.setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, v, 4) === 0) return 0;
  return sym.setsockopt(fd, SOL_SOCKET, SO_SNDBUF, v, 4);
}
