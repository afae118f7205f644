// Process-level libc calls (design.md "Layers": ffi/ is the only folder that calls dlopen):
// _exit (no atexit handlers, no static destructors), alarm (a kernel-side exit deadline) and the
// RLIMIT_NOFILE limits.
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, ptr } = FFIType;

const lib = dlopen("libc.so.6", {
  _exit: { args: [i32], returns: FFIType.void },
  alarm: { args: [u32], returns: u32 },
  getrlimit: { args: [i32, ptr], returns: i32 },
  setrlimit: { args: [i32, ptr], returns: i32 },
  setpriority: { args: [i32, u32, i32], returns: i32 },
  sched_setscheduler: { args: [i32, i32, ptr], returns: i32 },
  gettid: { args: [], returns: i32 },
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

const SCHED_OTHER = 0;
const SCHED_FIFO = 1;
const SCHED_IDLE = 5;
/** sched(7): children of the thread go back to SCHED_OTHER (nothing we start inherits real-time). */
const SCHED_RESET_ON_FORK = 0x40000000;
const fifoParam = new Int32Array([1]);
const otherParam = new Int32Array([0]);

/**
 * The calling thread to SCHED_FIFO priority 1 (`realtime`) or back to SCHED_OTHER; false when the
 * kernel refuses (no CAP_SYS_NICE / RLIMIT_RTPRIO). sched_setscheduler(2) with pid 0 = this thread.
 */
export function setThreadRealtime(realtime: boolean): boolean {
  const policy = (realtime ? SCHED_FIFO : SCHED_OTHER) | SCHED_RESET_ON_FORK;
  return lib.symbols.sched_setscheduler(0, policy, realtime ? fifoParam : otherParam) === 0;
}

/** This thread's id (gettid(2)). */
export const threadId = (): number => lib.symbols.gettid();

/**
 * Thread `tid` of this process to SCHED_IDLE (`idle`: runs only when nothing else wants the CPU, and
 * any other waking thread preempts it at once, sched(7)) or back to SCHED_OTHER; false on failure.
 */
export function setThreadIdle(tid: number, idle: boolean): boolean {
  return lib.symbols.sched_setscheduler(tid | 0, idle ? SCHED_IDLE : SCHED_OTHER, otherParam) === 0;
}
