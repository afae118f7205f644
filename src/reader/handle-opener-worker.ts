// Entry of the handle-opener Worker (handle-opener.ts): opens file handles for the reader in
// permission mode, so the thread that answers permission events never waits inside the kernel on one.
import * as K from "../../ffi/constants.ts";
import { sysClose, sysOpenByHandleAt, sysWrite } from "../../ffi/libc.ts";
import { readFdLink } from "./fd-link.ts";
import { serveOpens, type OpenerChannel } from "./handle-opener.ts";

declare const self: Worker;

const one = new Uint8Array(8);
one[0] = 1;

self.onmessage = (e: MessageEvent<OpenerChannel>) => {
  serveOpens(
    e.data,
    (mountFd, handle) => sysOpenByHandleAt(mountFd, handle, K.O_PATH | K.O_CLOEXEC),
    readFdLink,
    (fd) => void sysClose(fd),
    (fd) => void sysWrite(fd, one, 8),
  );
  self.postMessage("stopped");
};
