// Turning what the kernel reports into paths (behavior.md A5).
// FD mode: readlink(/proc/self/fd/N). FID mode: open_by_handle_at(mount fd of that fsid, handle,
// O_PATH) and readlink of the result. Directory handles are cached (bounded, cleared on directory
// renames/deletes and once a second, so a path is never more than a second stale).
import { dirname } from "node:path";
import { readFileSync, statSync } from "node:fs";
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
  /** Per fsid, the directory fds to resolve handles against, with their mounts' mount points. */
  private readonly mountFds = new Map<string, MountRef[]>();
  /** Per fsid key, directory handle bytes (latin1) → path. */
  private readonly dirCache = new Map<string, Map<string, string>>();
  private dirCacheSize = 0;
  // One-entry memo: consecutive events almost always come from the same filesystem, so the fsid
  // key string is not rebuilt per event.
  private lastFsid0 = 0;
  private lastFsid1 = 0;
  private lastFsid = "";
  private readonly handle = new Uint8Array(MAX_HANDLE);
  private readonly statfsBuf = new Uint8Array(128);

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
   * resolution. Several mounts of one filesystem (bind mounts of its sub-directories) each get an
   * entry: a handle resolved through a mount whose root does not contain the object comes back with
   * a path outside that mount, so handlePath() tries the filesystem's mounts in registration order
   * and keeps the first result that lies under the mount it was resolved through (A5).
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
    const mountPoint = mountPointOf(Buffer.from(dir, "utf8").toString("latin1"));
    const refs = this.mountFds.get(key) ?? [];
    if (refs.some((r) => r.mountPoint === mountPoint)) {
      sysClose(fd);
      return;
    }
    refs.push({ fd, mountPoint });
    this.mountFds.set(key, refs);
  }

  /**
   * Path of the object behind a struct file_handle stored in buf[off, off+len).
   * `cacheable` for directory handles. Returns UNRESOLVED when the fsid is unknown or the handle
   * no longer opens (e.g. a deleted directory).
   */
  handlePath(fsid0: number, fsid1: number, buf: Buffer, off: number, len: number, cacheable: boolean): string {
    if (fsid0 !== this.lastFsid0 || fsid1 !== this.lastFsid1 || this.lastFsid === "") {
      this.lastFsid0 = fsid0;
      this.lastFsid1 = fsid1;
      this.lastFsid = fsidKey(fsid0, fsid1);
    }
    const fsid = this.lastFsid;
    const refs = this.mountFds.get(fsid);
    if (refs === undefined || len > MAX_HANDLE) return UNRESOLVED;
    let key = "";
    let cache: Map<string, string> | undefined;
    if (cacheable) {
      key = buf.toString("latin1", off, off + len);
      cache = this.dirCache.get(fsid);
      const hit = cache?.get(key);
      if (hit !== undefined) return hit;
    }
    const h = this.handle;
    for (let i = 0; i < len; i++) h[i] = buf[off + i];
    let path = UNRESOLVED;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i];
      const fd = sysOpenByHandleAt(ref.fd, h, K.O_PATH | K.O_CLOEXEC);
      if (fd < 0) return UNRESOLVED; // the object is gone (ESTALE) whichever mount we ask through
      const p = this.fdPath(fd);
      sysClose(fd);
      if (p.startsWith("<fd:")) return UNRESOLVED;
      if (i === 0) path = p; // the best we have if no mount contains the object
      if (isUnder(p, ref.mountPoint)) {
        path = p;
        break;
      }
    }
    if (cacheable) {
      if (this.dirCacheSize >= MAX_DIR_CACHE) this.invalidateDirs();
      if (cache === undefined || this.dirCacheSize === 0) {
        cache = this.dirCache.get(fsid) ?? new Map<string, string>();
        this.dirCache.set(fsid, cache);
      }
      cache.set(key, path);
      this.dirCacheSize++;
    }
    return path;
  }

  /** A directory moved or went away: cached directory paths may be stale. */
  invalidateDirs(): void {
    this.dirCache.clear();
    this.dirCacheSize = 0;
  }

  close(): void {
    for (const refs of this.mountFds.values()) for (const r of refs) sysClose(r.fd);
    this.mountFds.clear();
  }
}

interface MountRef {
  readonly fd: number;
  /** Mount point (byte string) of the mount the fd was opened through. */
  readonly mountPoint: string;
}

function isUnder(path: string, root: string): boolean {
  return root === "/" || path === root || (path.startsWith(root) && path.charCodeAt(root.length) === 0x2f);
}

/** mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)). */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mount point of the mount that contains `dir` (a byte string), from /proc/self/mountinfo. */
function mountPointOf(dir: string): string {
  let best = "/";
  try {
    for (const line of readFileSync("/proc/self/mountinfo", "latin1").split("\n")) {
      const mp = line.split(" ")[4];
      if (mp === undefined) continue;
      const point = unescapeMountinfo(mp);
      // The last of several mounts at one point is the visible one; longer prefixes win.
      if (isUnder(dir, point) && point.length >= best.length) best = point;
    }
  } catch {
    // no /proc: every result is accepted as it comes
  }
  return best;
}
