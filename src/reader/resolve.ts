// Turning what the kernel reports into paths (behavior.md A5).
// FD mode: readlink(/proc/self/fd/N). FID mode: open_by_handle_at(mount fd of that fsid, handle,
// O_PATH) and readlink of the result. Directory handles are cached (bounded, cleared on directory
// renames/deletes and once a second, so a path is never more than a second stale).
import { dirname } from "node:path";
import { statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { fsidKey } from "../../ffi/records.ts";
import { cpath, sysClose, sysFstatfs, sysOpen, sysOpenByHandleAt, sysReadlink } from "../../ffi/libc.ts";

export const UNRESOLVED = "<fid-unresolved>";
export const UNKNOWN_PATH = "<unknown>";

const MAX_DIR_CACHE = 8192;
const MAX_FD_LINKS = 1024;
const MAX_HANDLE = 128 + 8; // MAX_HANDLE_SZ + struct file_handle header


export class PathResolver {
  private readonly linkBuf = Buffer.alloc(4096);
  private readonly fdLinkPaths = new Map<number, Uint8Array>();
  private readonly mountFds = new Map<string, number>();
  private readonly dirCache = new Map<string, string>();
  private readonly handle = new Uint8Array(MAX_HANDLE);
  private readonly statfsBuf = new Uint8Array(128);
  dirCacheHits = 0;
  dirCacheMisses = 0;

  /** FD mode: the path of an event fd, or `<fd:N>` when readlink fails. */
  fdPath(fd: number): string {
    let link = this.fdLinkPaths.get(fd);
    if (link === undefined) {
      link = cpath(`/proc/self/fd/${fd}`);
      if (this.fdLinkPaths.size < MAX_FD_LINKS) this.fdLinkPaths.set(fd, link);
    }
    const n = sysReadlink(link, this.linkBuf, this.linkBuf.length);
    return n > 0 ? this.linkBuf.toString("latin1", 0, n) : `<fd:${fd}>`;
  }

  /**
   * Registers the filesystem of `path` (its parent if it is not a directory) for handle
   * resolution. The first directory registered for an fsid is the one handles resolve against,
   * so paths are reported under the marked mount (A5).
   */
  registerDir(path: string): void {
    let dir = path;
    try {
      if (!statSync(path).isDirectory()) dir = dirname(path);
    } catch {
      dir = dirname(path);
    }
    // Not O_PATH: open_by_handle_at(2) rejects an O_PATH mount_fd with EBADF.
    const fd = sysOpen(cpath(dir), K.O_RDONLY | K.O_DIRECTORY | K.O_CLOEXEC);
    if (fd < 0) return;
    if (sysFstatfs(fd, this.statfsBuf) !== 0) {
      sysClose(fd);
      return;
    }
    // struct statfs on 64-bit Linux: seven 8-byte fields, then f_fsid (int[2]) at offset 56.
    const dv = new DataView(this.statfsBuf.buffer);
    const key = fsidKey(dv.getInt32(56, true), dv.getInt32(60, true));
    if (this.mountFds.has(key)) {
      sysClose(fd);
      return;
    }
    this.mountFds.set(key, fd);
  }

  /**
   * Path of the object behind a struct file_handle stored in buf[off, off+len).
   * `cacheable` for directory handles. Returns UNRESOLVED when the fsid is unknown or the handle
   * no longer opens (e.g. a deleted directory).
   */
  handlePath(fsid: string, buf: Uint8Array, off: number, len: number, cacheable: boolean): string {
    const mountFd = this.mountFds.get(fsid);
    if (mountFd === undefined || len > MAX_HANDLE) return UNRESOLVED;
    let key = "";
    if (cacheable) {
      key = fsid + "/" + Buffer.from(buf.buffer, buf.byteOffset + off, len).toString("latin1");
      const hit = this.dirCache.get(key);
      if (hit !== undefined) {
        this.dirCacheHits++;
        return hit;
      }
      this.dirCacheMisses++;
    }
    const h = this.handle;
    for (let i = 0; i < len; i++) h[i] = buf[off + i];
    const fd = sysOpenByHandleAt(mountFd, h, K.O_PATH | K.O_CLOEXEC);
    if (fd < 0) return UNRESOLVED;
    const path = this.fdPath(fd);
    sysClose(fd);
    if (path.startsWith("<fd:")) return UNRESOLVED;
    if (cacheable) {
      if (this.dirCache.size >= MAX_DIR_CACHE) this.dirCache.clear();
      this.dirCache.set(key, path);
    }
    return path;
  }

  /** A directory moved or went away: cached directory paths may be stale. */
  invalidateDirs(): void {
    this.dirCache.clear();
  }

  close(): void {
    for (const fd of this.mountFds.values()) sysClose(fd);
    this.mountFds.clear();
  }
}
