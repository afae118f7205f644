// Turning what the kernel reports into paths (behavior.md A5).
// FD mode: readlink(/proc/self/fd/N). FID mode: open_by_handle_at(mount fd of that fsid, handle,
// O_PATH) and readlink of the result. Directory handles are cached (bounded, cleared on directory
// renames/deletes and once a second, so a path is never more than a second stale).
import { dirname } from "node:path";
import { readFileSync, statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { fsidKey } from "../../ffi/records.ts";
import { bytesEqualAt } from "../bytes.ts";
import { cpath, sysClose, sysFstatfs, sysOpen, sysOpenByHandleAt, sysReadlink } from "../../ffi/libc.ts";

export const UNRESOLVED = "<fid-unresolved>";
export const UNKNOWN_PATH = "<unknown>";

const MAX_DIR_CACHE = 8192;
const MAX_FD_LINKS = 1024;
const MAX_HANDLE = 128 + 8; // MAX_HANDLE_SZ + struct file_handle header

/** A cached directory: its handle bytes (to confirm a hash hit) and its path's bytes. */
interface DirEntry {
  readonly handle: Uint8Array;
  readonly path: Uint8Array;
  /** The next entry with the same hash. */
  next: DirEntry | null;
}

/** FNV-1a over buf[off, off+len): the directory cache's key, so no string is built per event. */
function hashBytes(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

export class PathResolver {
  /** fdPathLength() leaves the path here. */
  readonly linkBuf = Buffer.alloc(4096);
  private readonly fdLinkPaths = new Map<number, Uint8Array>();
  /** Per fsid, the directory fds to resolve handles against, with their mounts' mount points. */
  private readonly mountFds = new Map<string, MountRef[]>();
  /** Per fsid key, directory handle hash → entries. */
  private readonly dirCache = new Map<string, Map<number, DirEntry>>();
  private dirCacheSize = 0;
  // One-entry memo: consecutive events almost always come from the same filesystem, so the fsid
  // key string is not rebuilt per event.
  private lastFsid0 = 0;
  private lastFsid1 = 0;
  private lastFsid = "";
  private readonly handle = new Uint8Array(MAX_HANDLE);
  private readonly statfsBuf = new Uint8Array(128);

  /** FD mode: reads the path of an event fd into `linkBuf`; its length, or -1 when readlink fails. */
  fdPathLength(fd: number): number {
    let link = this.fdLinkPaths.get(fd);
    if (link === undefined) {
      link = cpath(`/proc/self/fd/${fd}`);
      if (this.fdLinkPaths.size < MAX_FD_LINKS) this.fdLinkPaths.set(fd, link);
    }
    const n = sysReadlink(link, this.linkBuf, this.linkBuf.length);
    return n > 0 ? n : -1;
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
   * The path's bytes of the object behind a struct file_handle stored in buf[off, off+len), or null
   * when the fsid is unknown or the handle no longer opens (e.g. a deleted directory). `cacheable`
   * for directory handles. The result must not be modified.
   */
  handlePath(fsid0: number, fsid1: number, buf: Uint8Array, off: number, len: number, cacheable: boolean): Uint8Array | null {
    if (fsid0 !== this.lastFsid0 || fsid1 !== this.lastFsid1 || this.lastFsid === "") {
      this.lastFsid0 = fsid0;
      this.lastFsid1 = fsid1;
      this.lastFsid = fsidKey(fsid0, fsid1);
    }
    const fsid = this.lastFsid;
    const refs = this.mountFds.get(fsid);
    if (refs === undefined || len > MAX_HANDLE) return null;
    let hash = 0;
    let cache: Map<number, DirEntry> | undefined;
    let first: DirEntry | undefined;
    if (cacheable) {
      hash = hashBytes(buf, off, len);
      cache = this.dirCache.get(fsid);
      first = cache?.get(hash);
      for (let e = first ?? null; e !== null; e = e.next) if (bytesEqualAt(e.handle, buf, off, len)) return e.path;
    }
    const h = this.handle;
    for (let i = 0; i < len; i++) h[i] = buf[off + i];
    let path: string | null = null;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i];
      const fd = sysOpenByHandleAt(ref.fd, h, K.O_PATH | K.O_CLOEXEC);
      if (fd < 0) return null; // the object is gone (ESTALE) whichever mount we ask through
      const n = this.fdPathLength(fd);
      sysClose(fd);
      if (n < 0) return null;
      const p = this.linkBuf.toString("latin1", 0, n);
      if (i === 0) path = p; // the best we have if no mount contains the object
      if (isUnder(p, ref.mountPoint)) {
        path = p;
        break;
      }
    }
    if (path === null) return null;
    const bytes = Buffer.from(path, "latin1");
    if (cacheable) {
      if (this.dirCacheSize >= MAX_DIR_CACHE) this.invalidateDirs();
      if (cache === undefined || this.dirCacheSize === 0) {
        cache = this.dirCache.get(fsid) ?? new Map<number, DirEntry>();
        this.dirCache.set(fsid, cache);
        first = cache.get(hash);
      }
      cache.set(hash, { handle: h.slice(0, len), path: bytes, next: first ?? null });
      this.dirCacheSize++;
    }
    return bytes;
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
