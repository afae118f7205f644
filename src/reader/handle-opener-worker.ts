// Entry of the handle-opener Worker (handle-opener.ts): opens file handles for the reader in
// permission mode, so the thread that answers permission events never waits inside the kernel on one.
import * as K from "../../ffi/constants.ts";
import { cpath, sysClose, sysOpenByHandleAt, sysReadlink, sysWrite } from "../../ffi/libc.ts";
import { serveOpens, type OpenerChannel } from "./handle-opener.ts";

declare const self: Worker;

const links = new Map<number, Uint8Array>();
const one = new Uint8Array(8);
one[0] = 1;

self.onmessage = (e: MessageEvent<OpenerChannel>) => {
  serveOpens(
    e.data,
    (mountFd, handle) => sysOpenByHandleAt(mountFd, handle, K.O_PATH | K.O_CLOEXEC),
    (fd, out) => {
      let link = links.get(fd);
      if (link === undefined) {
        link = cpath(`/proc/self/fd/${fd}`);
        if (links.size < 1024) links.set(fd, link);
      }
      const n = sysReadlink(link, out, out.length);
      return n > 0 ? n : -1;
    },
    (fd) => void sysClose(fd),
    (fd) => void sysWrite(fd, one, 8),
  );
  self.postMessage("stopped");
};
