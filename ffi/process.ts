// Process-level libc calls (design.md "Layers": ffi/ is the only folder that calls dlopen):
// _exit (no atexit handlers, no static destructors), alarm (a kernel-side exit deadline), the
// RLIMIT_NOFILE limits, thread scheduling, the signal mask and execve.
import { dlopen, FFIType, ptr as addressOf } from "bun:ffi";
import { errno, strerror } from "./libc.ts";

const { i32, u32, ptr } = FFIType;

const lib = dlopen("libc.so.6", {
  _exit: { args: [i32], returns: FFIType.void },
  alarm: { args: [u32], returns: u32 },
  getrlimit: { args: [i32, ptr], returns: i32 },
  setrlimit: { args: [i32, ptr], returns: i32 },
  setpriority: { args: [i32, u32, i32], returns: i32 },
  getpriority: { args: [i32, u32], returns: i32 },
  syscall: { args: [FFIType.i64, i32, ptr, u32], returns: FFIType.i64 },
  sigprocmask: { args: [i32, ptr, ptr], returns: i32 },
  execve: { args: [ptr, ptr, ptr], returns: i32 },
});

const RLIMIT_NOFILE = 7;
/** RLIM_INFINITY as the unsigned 64-bit value the kernel uses. */
const RLIM_INFINITY = 0xffffffffffffffffn;

/** Ends the process at once with `code`: no exit handlers run, no thread is waited for. */
export function hardExit(code: number): never {
  lib.symbols._exit(code | 0);
  throw new Error("_exit returned");
}

/** alarm(2): SIGALRM (default action: terminate) after `seconds`; 0 cancels. */
export function setAlarm(seconds: number): void {
  lib.symbols.alarm(Math.max(0, Math.floor(seconds)) >>> 0);
}

export interface NofileLimit {
  soft: number;
  hard: number;
}

function toNumber(v: bigint): number {
  return v === RLIM_INFINITY || v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(v);
}

/** getrlimit(RLIMIT_NOFILE); null when the call fails. */
export function getNofileLimit(): NofileLimit | null {
  const buf = new BigUint64Array(2);
  if (lib.symbols.getrlimit(RLIMIT_NOFILE, buf) !== 0) return null;
  return { soft: toNumber(buf[0]), hard: toNumber(buf[1]) };
}

/** setrlimit(RLIMIT_NOFILE) with the soft limit changed; false when the kernel refuses. */
export function setNofileSoftLimit(soft: number, hard: number): boolean {
  const buf = new BigUint64Array(2);
  buf[0] = Number.isFinite(soft) ? BigInt(soft) : RLIM_INFINITY;
  buf[1] = Number.isFinite(hard) ? BigInt(hard) : RLIM_INFINITY;
  return lib.symbols.setrlimit(RLIMIT_NOFILE, buf) === 0;
}

/** setpriority(PRIO_PROCESS, tid, nice) for one thread (Linux: nice is per thread); false on failure. */
export function setThreadNice(tid: number, nice: number): boolean {
  return lib.symbols.setpriority(0, tid >>> 0, nice | 0) === 0;
}

/** sched_setattr(2) has no glibc wrapper: its syscall number per architecture. */
const SYS_SCHED_SETATTR = process.arch === "arm64" ? 274 : 314;
const PRIO_PROCESS = 0;
const SCHED_OTHER = 0;

/** sched_setattr(2) to SCHED_OTHER with `nice` and a `sliceNs` custom slice (0: the default). */
function setSchedOther(tid: number, nice: number, sliceNs: number): boolean {
  // struct sched_attr (SCHED_ATTR_SIZE_VER0 = 48 bytes): size, policy, flags, nice, priority,
  // runtime, deadline, period.
  const attr = new DataView(new ArrayBuffer(48));
  attr.setUint32(0, 48, true);
  attr.setUint32(4, SCHED_OTHER, true);
  attr.setInt32(16, nice, true);
  attr.setBigUint64(24, BigInt(sliceNs), true);
  return Number(lib.symbols.syscall(SYS_SCHED_SETATTR, tid | 0, new Uint8Array(attr.buffer), 0)) === 0;
}

/**
 * Thread `tid` of this process keeps SCHED_OTHER and its nice value and asks for a `sliceNs` time
 * slice (sched_setattr(2) sched_runtime for SCHED_OTHER: the EEVDF custom slice of Linux 6.12+,
 * clamped there to 0.1–100 ms; older kernels ignore it). No privilege is needed: nothing is raised.
 * False when the kernel refuses (e.g. the thread is gone).
 */
export function setThreadSlice(tid: number, sliceNs: number): boolean {
  return setSchedOther(tid, lib.symbols.getpriority(PRIO_PROCESS, tid >>> 0), sliceNs);
}

/** The lowest nice value (sched(7)): the smallest CPU share SCHED_OTHER gives. */
export const NICE_LOWEST = 19;

/**
 * Thread `tid` of this process to SCHED_OTHER at nice 19 with the default time slice (sched_runtime
 * 0 undoes a custom one): the smallest share of a contended CPU that still lets it progress.
 * Lowering needs no privilege. False on failure.
 */
export function setThreadBackground(tid: number): boolean {
  return setSchedOther(tid, NICE_LOWEST, 0);
}

const SIG_BLOCK = 0;
const SIG_UNBLOCK = 1;

/** sigprocmask(2) for the calling thread: `how` the given signal numbers; false on failure. */
function changeSignalMask(how: number, signals: readonly number[]): boolean {
  // The kernel's sigset_t is 64 bits here (glibc's is 1024 bits; the rest stays zero).
  const set = new BigUint64Array(16);
  for (const sig of signals) set[0] |= 1n << BigInt(sig - 1);
  return lib.symbols.sigprocmask(how, set, null) === 0;
}

/** Blocks `signals` in the calling thread: they stay pending (and pending across execve(2)). */
export const blockSignals = (signals: readonly number[]): boolean => changeSignalMask(SIG_BLOCK, signals);

/** Unblocks `signals` in the calling thread: pending ones are delivered now. */
export const unblockSignals = (signals: readonly number[]): boolean => changeSignalMask(SIG_UNBLOCK, signals);

/**
 * execve(2) of `path` with these argument and environment strings (raw bytes, no NUL inside). Returns
 * only when the kernel refused, with the reason.
 */
export function execProgram(path: Uint8Array, argv: readonly Uint8Array[], env: readonly Uint8Array[]): string {
  // execve takes char *argv[] and char *envp[]: every string goes, NUL-terminated, into one buffer
  // (JSC does not move a typed array's storage; `bytes` is also the path argument, so it lives
  // through the call).
  const strings = [path, ...argv, ...env];
  const bytes = new Uint8Array(strings.reduce((n, b) => n + b.length + 1, 0));
  const offsets: number[] = [];
  let at = 0;
  for (const b of strings) {
    offsets.push(at);
    bytes.set(b, at);
    at += b.length + 1;
  }
  const args = new BigUint64Array(argv.length + 1);
  const envp = new BigUint64Array(env.length + 1);
  const base = BigInt(addressOf(bytes));
  for (let i = 0; i < argv.length; i++) args[i] = base + BigInt(offsets[1 + i]);
  for (let i = 0; i < env.length; i++) envp[i] = base + BigInt(offsets[1 + argv.length + i]);
  lib.symbols.execve(bytes, args, envp);
  return strerror(errno());
}
