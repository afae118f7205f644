// The path behind an fd: readlinkat(/proc/self/fd, "N"), with the directory opened once per thread
// and the name's bytes cached per fd number (fd numbers repeat: the kernel hands out the lowest free
// one). Against readlink("/proc/self/fd/N") this skips walking /proc, the self link and fd/ on every
// call (issue 11; a C loop on the 2-vCPU test VM: 2.0–2.8 against 2.6–3.8 µs per call).
// Per thread: each Worker has its own directory fd and cache.
import * as K from "../../ffi/constants.ts";
import { cpath, sysOpen, sysReadlink, sysReadlinkat } from "../../ffi/libc.ts";

const MAX_FD_LINKS = 1024;
const fdNames = new Map<number, Uint8Array>();
/** /proc/self/fd opened as a directory; -1 when it could not be (then the full path is read). */
let procFdDir = -2;

function nameOf(fd: number, full: boolean): Uint8Array {
  let name = fdNames.get(fd);
  if (name === undefined) {
    name = cpath(full ? `/proc/self/fd/${fd}` : String(fd));
    if (fdNames.size < MAX_FD_LINKS) fdNames.set(fd, name);
  }
  return name;
}

/** Opens this thread's /proc/self/fd once (before any event fd, so it sits below their numbers). */
export function openFdLinkDir(): void {
  if (procFdDir === -2) procFdDir = sysOpen(cpath("/proc/self/fd"), K.O_RDONLY | K.O_DIRECTORY | K.O_CLOEXEC);
}

/** The path behind `fd`, read into `out`: its length, or -1 when readlink fails. */
export function readFdLink(fd: number, out: Uint8Array): number {
  if (procFdDir === -2) openFdLinkDir();
  const n = procFdDir >= 0 ? sysReadlinkat(procFdDir, nameOf(fd, false), out, out.length) : sysReadlink(nameOf(fd, true), out, out.length);
  return n > 0 ? n : -1;
}
