// libc through bun:ffi (design.md "Layers"): ffi/ is the only folder that calls dlopen (this file and
// ffi/socket.ts for the sd_notify socket calls).
// Hygiene (design.md "bun:ffi hygiene"): pass typed arrays themselves as pointer arguments on every
// call (never a cached ptr()), and read errno right after the call that failed.
import { dlopen, FFIType, read as readMem } from "bun:ffi";

const { i32, u32, u64, ptr } = FFIType;

const lib = dlopen("libc.so.6", {
  fanotify_init: { args: [u32, u32], returns: i32 },
  fanotify_mark: { args: [i32, u32, u64, i32, ptr], returns: i32 },
  read: { args: [i32, ptr, u64], returns: i32 },
  write: { args: [i32, ptr, u64], returns: i32 },
  close: { args: [i32], returns: i32 },
  poll: { args: [ptr, u64, i32], returns: i32 },
  eventfd: { args: [u32, i32], returns: i32 },
  timerfd_create: { args: [i32, i32], returns: i32 },
  timerfd_settime: { args: [i32, i32, ptr, ptr], returns: i32 },
  open: { args: [ptr, i32, u32], returns: i32 },
  openat: { args: [i32, ptr, i32, u32], returns: i32 },
  open_by_handle_at: { args: [i32, ptr, i32], returns: i32 },
  name_to_handle_at: { args: [i32, ptr, ptr, ptr, i32], returns: i32 },
  readlink: { args: [ptr, ptr, u64], returns: i32 },
  readlinkat: { args: [i32, ptr, ptr, u64], returns: i32 },
  fstatfs: { args: [i32, ptr], returns: i32 },
  getpid: { args: [], returns: i32 },
  sched_yield: { args: [], returns: i32 },
  syscall: { args: [FFIType.i64, i32, i32, ptr, u32], returns: FFIType.i64 },

  strerror: { args: [i32], returns: FFIType.cstring },
  __errno_location: { args: [], returns: ptr },
});

const sym = lib.symbols;

// syscall(2) with a (long, int, ptr, ptr, size_t) shape, for openat2(2), which glibc does not wrap.
const lib4 = dlopen("libc.so.6", {
  syscall: { args: [FFIType.i64, i32, ptr, ptr, u64], returns: FFIType.i64 },
});

export function errno(): number {
  const p = sym.__errno_location();
  return p === null ? 0 : readMem.i32(p, 0);
}

export function strerror(code: number): string {
  return String(sym.strerror(code));
}

/** A NUL-terminated copy of a path (byte string or text) for passing to libc. */
export function cpath(path: string, bytes = false): Uint8Array {
  const body = Buffer.from(path, bytes ? "latin1" : "utf8");
  const out = new Uint8Array(body.length + 1);
  out.set(body);
  return out;
}

/** Thrown for a failed libc call; `code` is errno. */
export class SysError extends Error {
  constructor(
    readonly call: string,
    readonly code: number,
  ) {
    super(`${call}: ${strerror(code)}`);
    this.name = "SysError";
  }
}

export const fanotifyInit = (flags: number, eventFlags: number): number =>
  sym.fanotify_init(flags >>> 0, eventFlags >>> 0);

export const fanotifyMark = (fd: number, flags: number, mask: number, dirfd: number, path: Uint8Array): number =>
  sym.fanotify_mark(fd, flags >>> 0, mask, dirfd, path);

/** openat2(2) is syscall 437 on every architecture (the unified syscall table, Linux 5.6+). */
const SYS_OPENAT2 = 437;
const openHow = new DataView(new ArrayBuffer(24));

/** openat2(dirfd, path, {flags, mode 0, resolve}): an fd, or -1 with errno. */
export function sysOpenat2(dirfd: number, path: Uint8Array, flags: number, resolve: number): number {
  openHow.setBigUint64(0, BigInt(flags >>> 0), true);
  openHow.setBigUint64(8, 0n, true);
  openHow.setBigUint64(16, BigInt(resolve), true);
  return Number(lib4.symbols.syscall(SYS_OPENAT2, dirfd, path, new Uint8Array(openHow.buffer), 24));
}

export const sysRead = (fd: number, buf: Uint8Array, len: number): number => sym.read(fd, buf, len);
export const sysWrite = (fd: number, buf: Uint8Array, len: number): number => sym.write(fd, buf, len);
export const sysClose = (fd: number): number => sym.close(fd);
/** Gives the CPU to another runnable thread, if any (sched_yield(2)). */
export const sysSchedYield = (): number => sym.sched_yield();
export const sysPoll = (fds: Uint8Array, nfds: number, timeoutMs: number): number => sym.poll(fds, nfds, timeoutMs);
export const sysEventfd = (initval: number, flags: number): number => sym.eventfd(initval >>> 0, flags);
export const sysTimerfdCreate = (clockId: number, flags: number): number => sym.timerfd_create(clockId, flags);
/** `spec` is a struct itimerspec (4 × 64-bit: interval sec/nsec, value sec/nsec). */
export const sysTimerfdSettime = (fd: number, spec: Uint8Array): number => sym.timerfd_settime(fd, 0, spec, null);
export const sysOpen = (path: Uint8Array, flags: number, mode = 0): number => sym.open(path, flags, mode >>> 0);
export const sysOpenByHandleAt = (mountFd: number, handle: Uint8Array, flags: number): number =>
  sym.open_by_handle_at(mountFd, handle, flags);
/**
 * name_to_handle_at(2): fills `handle` (a struct file_handle whose handle_bytes says its room) for
 * `path`; `mountId` receives the mount id (4 bytes).
 */
export const sysNameToHandleAt = (dirfd: number, path: Uint8Array, handle: Uint8Array, mountId: Uint8Array, flags: number): number =>
  sym.name_to_handle_at(dirfd, path, handle, mountId, flags);
export const sysReadlink = (path: Uint8Array, buf: Uint8Array, len: number): number => sym.readlink(path, buf, len);
export const sysReadlinkat = (dirfd: number, path: Uint8Array, buf: Uint8Array, len: number): number =>
  sym.readlinkat(dirfd, path, buf, len);
export const sysFstatfs = (fd: number, buf: Uint8Array): number => sym.fstatfs(fd, buf);
export const sysGetpid = (): number => sym.getpid();

/** close_range(2) is syscall 436 on every architecture (Linux 5.9+). */
const SYS_CLOSE_RANGE = 436;

/** close_range(first, last, 0): closes the fds first..last (inclusive); 0 or -1 with errno. */
export const sysCloseRange = (first: number, last: number): number =>
  Number(sym.syscall(SYS_CLOSE_RANGE, first, last, null, 0));

/** pidfd_send_signal(2) is syscall 424 on every architecture (the unified syscall table, Linux 5.1+). */
const SYS_PIDFD_SEND_SIGNAL = 424;

/**
 * pidfd_send_signal(pidfd, 0): 0 while the process the pidfd refers to exists (a zombie still does),
 * -1 with ESRCH once it has been reaped, i.e. once its pid may name another process.
 */
export const sysPidfdAlive = (pidfd: number): number => Number(sym.syscall(SYS_PIDFD_SEND_SIGNAL, pidfd, 0, null, 0));
