// open_by_handle_at(2) off the answering thread, in permission mode (B5, B17).
//
// Opening a directory handle whose dentry is not connected (evicted from the cache, or removed)
// makes the kernel reconnect it: exportfs looks up ".." and then *opens the parent directory* to
// find the name (get_name()). On a permission-marked filesystem that open is a FAN_OPEN_PERM event,
// and if the thread inside open_by_handle_at is the one that answers permission events, it waits
// for itself: the reader deadlocks and every opener on the filesystem hangs behind it (seen in the
// filesystem matrix on xfs; test/integration/perm-handles.test.ts reproduces it on demand).
//
// So with a content group the reader hands each open to a small Worker (handle-opener-worker.ts)
// and, while it waits for the result (an eventfd), keeps answering the content group: the opener's
// own permission events come from the daemon's pid and are allowed at once (B4). An opener stuck
// longer than OPEN_TIMEOUT_MS (a FUSE server that never replies, a filesystem that loops) is given
// up on: its result is "unresolved" and so are later ones until it comes back.
import * as K from "../../ffi/constants.ts";
import { errno, sysRead } from "../../ffi/libc.ts";
import { PollSet } from "./poll-set.ts";

/** Int32 slots of the shared buffer. */
const S_STATE = 0;
const S_MOUNT_FD = 1;
const S_RESULT = 2;
const S_HANDLE_LEN = 3;
const STATE_IDLE = 0;
const STATE_REQUEST = 1;
const STATE_DONE = 2;
const STATE_STOP = 3;
/** Byte offsets: the struct file_handle, then the path the opener read back. */
const HANDLE_AT = 16;
const HANDLE_ROOM = 256;
const PATH_AT = HANDLE_AT + HANDLE_ROOM;
const PATH_ROOM = 4096;
export const OPENER_BYTES = PATH_AT + PATH_ROOM;

const OPEN_TIMEOUT_MS = 1000;

/** What the main thread hands the reader and the opener Worker. */
export interface OpenerChannel {
  readonly shared: SharedArrayBuffer;
  /** eventfd the opener writes once a result is in `shared`. */
  readonly doneFd: number;
}

/** The reader's side. */
export class HandleOpener {
  private readonly state: Int32Array;
  private readonly bytes: Uint8Array;
  /** The opener's eventfd, then the content groups. */
  private waitSet: PollSet;
  private readonly doneFd: number;
  private readonly drained = new Uint8Array(8);
  private stuckLogged = false;

  /**
   * `serviceContent` drains and answers the content groups (`contentFds`) while an open is in the
   * opener's hands; `warn` is told once when the opener is given up on.
   */
  constructor(
    channel: OpenerChannel,
    contentFds: readonly number[],
    private readonly serviceContent: () => void,
    private readonly warn: (message: string) => void,
    private readonly timeoutMs = OPEN_TIMEOUT_MS,
  ) {
    this.state = new Int32Array(channel.shared, 0, 4);
    this.bytes = new Uint8Array(channel.shared);
    this.doneFd = channel.doneFd;
    this.waitSet = new PollSet([channel.doneFd, ...contentFds]);
  }

  /**
   * open_by_handle_at(mountFd, handle, O_PATH) and readlink of the result, done by the opener;
   * the path's bytes go to `out`. Returns the path length, or -1 when the handle does not open
   * (the object is gone), readlink fails or the opener is stuck.
   */
  openPath(mountFd: number, handle: Uint8Array, handleLen: number, out: Uint8Array): number {
    const st = this.state;
    const previous = Atomics.load(st, S_STATE);
    if (previous === STATE_REQUEST) return -1; // still stuck in an earlier open
    if (previous === STATE_DONE) this.consumeDone(); // the late result of an open given up on
    if (handleLen > HANDLE_ROOM) return -1;
    this.bytes.set(handle.subarray(0, handleLen), HANDLE_AT);
    st[S_MOUNT_FD] = mountFd;
    st[S_HANDLE_LEN] = handleLen;
    Atomics.store(st, S_STATE, STATE_REQUEST);
    Atomics.notify(st, S_STATE, 1);
    const deadline = performance.now() + this.timeoutMs;
    while (Atomics.load(st, S_STATE) !== STATE_DONE) {
      const left = Math.ceil(deadline - performance.now());
      if (left <= 0) {
        if (!this.stuckLogged) {
          this.stuckLogged = true;
          this.warn(`opening a file handle has taken over ${this.timeoutMs} ms (the filesystem is not answering); paths are <fid-unresolved> until it returns`);
        }
        return -1;
      }
      const set = this.waitSet;
      const r = set.wait(left);
      if (r < 0 && errno() !== K.EINTR) return -1;
      let ready = false;
      for (let i = 1; i < set.size; i++) {
        const content = set.revents(i);
        if (content & K.POLLIN) ready = true;
        else if (content !== 0) return -1; // a content group failed: the reader's loop reports it
      }
      if (ready) this.serviceContent();
    }
    const n = st[S_RESULT];
    if (n > 0) out.set(this.bytes.subarray(PATH_AT, PATH_AT + n), 0);
    this.consumeDone();
    return n > 0 ? n : -1;
  }

  /** The content groups changed (a reload added one). */
  setContentFds(contentFds: readonly number[]): void {
    this.waitSet = new PollSet([this.doneFd, ...contentFds]);
  }

  /** Asks the opener Worker to end (at stop). */
  stop(): void {
    Atomics.store(this.state, S_STATE, STATE_STOP);
    Atomics.notify(this.state, S_STATE, 1);
  }

  private consumeDone(): void {
    sysRead(this.doneFd, this.drained, 8); // non-blocking eventfd: resets it
    Atomics.store(this.state, S_STATE, STATE_IDLE);
    Atomics.notify(this.state, S_STATE, 1);
  }
}

/** The opener Worker's loop: waits for a request, opens, reads the path back, signals. Returns at stop. */
export function serveOpens(
  channel: OpenerChannel,
  open: (mountFd: number, handle: Uint8Array) => number,
  readPath: (fd: number, out: Uint8Array) => number,
  close: (fd: number) => void,
  signal: (fd: number) => void,
): void {
  const st = new Int32Array(channel.shared, 0, 4);
  const bytes = new Uint8Array(channel.shared);
  const path = bytes.subarray(PATH_AT, PATH_AT + PATH_ROOM);
  for (;;) {
    Atomics.wait(st, S_STATE, STATE_IDLE);
    const s = Atomics.load(st, S_STATE);
    if (s === STATE_STOP) return;
    if (s !== STATE_REQUEST) {
      Atomics.wait(st, S_STATE, s); // a result the reader has not taken yet
      continue;
    }
    const handle = bytes.subarray(HANDLE_AT, HANDLE_AT + st[S_HANDLE_LEN]);
    const fd = open(st[S_MOUNT_FD], handle);
    let n = -1;
    if (fd >= 0) {
      n = readPath(fd, path);
      close(fd);
    }
    st[S_RESULT] = n;
    Atomics.store(st, S_STATE, STATE_DONE);
    signal(channel.doneFd);
  }
}
