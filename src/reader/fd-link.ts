// readlink(/proc/self/fd/N) with the link path's bytes cached per fd number (fd numbers repeat: the
// kernel hands out the lowest free one). Per thread: each Worker has its own cache.
import { cpath, sysReadlink } from "../../ffi/libc.ts";

const MAX_FD_LINKS = 1024;
const fdLinkPaths = new Map<number, Uint8Array>();

/** The path behind `fd`, read into `out`: its length, or -1 when readlink fails. */
export function readFdLink(fd: number, out: Uint8Array): number {
  let link = fdLinkPaths.get(fd);
  if (link === undefined) {
    link = cpath(`/proc/self/fd/${fd}`);
    if (fdLinkPaths.size < MAX_FD_LINKS) fdLinkPaths.set(fd, link);
  }
  const n = sysReadlink(link, out, out.length);
  return n > 0 ? n : -1;
}
