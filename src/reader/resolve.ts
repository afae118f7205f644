// Turning what the kernel reports into paths (behavior.md A5, B17).
// FD mode: readlink(/proc/self/fd/N). FID mode: open_by_handle_at(mount fd of that fsid, handle,
// O_PATH) and readlink of the result. Directory handles are cached (bounded, cleared on directory
// renames/deletes and once a second, so a path is never more than a second stale). On filesystems
// whose handles cannot be opened (overlayfs, ramfs) the daemon's own directory map answers instead:
// name_to_handle_at(AT_HANDLE_FID) of every marked directory, kept current from directory events.
import { dirname } from "node:path";
import { statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { fsidKey } from "../../ffi/records.ts";
import {
  cpath,
  sysClose,
  sysFstatfs,
  sysNameToHandleAt,
  sysOpenByHandleAt,
} from "../../ffi/libc.ts";
import type { HandleOpener } from "./handle-opener.ts";
import { openFdLinkDir, readFdLink } from "./fd-link.ts";
import { HandleTable } from "./handle-table.ts";
import { NEVER_OPEN_HANDLES } from "./mark-plan.ts";
import { isUnder, mountOf } from "./mountinfo.ts";
import { openDirectory } from "./off-thread.ts";

export const UNRESOLVED = "<fid-unresolved>";
export const UNKNOWN_PATH = "<unknown>";

const MAX_DIR_CACHE = 8192;
const MAX_HANDLE = K.MAX_HANDLE_SZ + 8; // + struct file_handle header

/** What registering a directory learnt about its filesystem. */
export interface FsInfo {
  readonly fsid: string;
  /** statfs f_type. */
  readonly magic: number;
  /** False where open_by_handle_at cannot open this filesystem's handles: the own map serves it. */
  readonly handlesOpen: boolean;
}

export class PathResolver {
  /** fdPathLength() leaves the path here. */
  readonly linkBuf = Buffer.alloc(4096);
  /**
   * Permission mode: handles are opened by the opener Worker, never on this (the answering) thread
   * (handle-opener.ts says why). Null: opened here.
   */
  opener: HandleOpener | null = null;
  /** Per fsid, the directory fds to resolve handles against, with their mounts' mount points. */
  private readonly mountFds = new Map<string, MountRef[]>();
  /** Per fsid key, directory handle → path (kernel-resolved, bounded, cleared on changes). */
  private readonly dirCache = new Map<string, HandleTable>();
  private dirCacheSize = 0;
  /** Per fsid key whose handles cannot be opened: the daemon's own handle → path map (authoritative). */
  private readonly ownMaps = new Map<string, HandleTable>();
  // One-entry memo: consecutive events almost always come from the same filesystem, so the fsid
  // key string is not rebuilt per event.
  private lastFsid0 = 0;
  private lastFsid1 = 0;
  private lastFsid = "";
  private readonly handle = new Uint8Array(MAX_HANDLE);
  private readonly handleView = new DataView(this.handle.buffer);
  private readonly mountId = new Uint8Array(4);
  private readonly statfsBuf = new Uint8Array(128);

  constructor() {
    openFdLinkDir();
  }

  /** FD mode: reads the path of an event fd into `linkBuf`; its length, or -1 when readlink fails. */
  fdPathLength(fd: number): number {
    return readFdLink(fd, this.linkBuf);
  }

  /**
   * Registers the filesystem of `path` (its parent if it is not a directory) for handle
   * resolution. Several mounts of one filesystem (bind mounts of its sub-directories) each get an
   * entry: a handle resolved through a mount whose root does not contain the object comes back with
   * a path outside that mount, so handlePath() tries the filesystem's mounts in registration order
   * and keeps the first result that lies under the mount it was resolved through (A5). Where the
   * filesystem's handles cannot be opened, `path` itself goes into the own map. `path` is a byte
   * string. Null when the directory cannot be opened.
   */
  async registerDir(path: string): Promise<FsInfo | null> {
    let dir = path;
    try {
      if (!statSync(Buffer.from(path, "latin1")).isDirectory()) dir = dirname(path);
    } catch {
      dir = dirname(path);
    }
    // Not O_PATH: open_by_handle_at(2) rejects an O_PATH mount_fd with EBADF. Opened on an I/O
    // thread: the directory may lie on a permission-marked mount.
    const fd = await openDirectory(dir);
    if (fd < 0) return null;
    if (sysFstatfs(fd, this.statfsBuf) !== 0) {
      sysClose(fd);
      return null;
    }
    // struct statfs on 64-bit Linux: f_type first, seven 8-byte fields, then f_fsid (int[2]) at offset 56.
    const dv = new DataView(this.statfsBuf.buffer);
    const magic = Number(dv.getBigInt64(0, true) & 0xffffffffn);
    const key = fsidKey(dv.getInt32(56, true), dv.getInt32(60, true));
    const handlesOpen = this.ownMaps.has(key) || NEVER_OPEN_HANDLES.has(magic) ? false : this.handlesOpen(fd);
    if (!handlesOpen) {
      if (!this.ownMaps.has(key)) this.ownMaps.set(key, new HandleTable());
      this.remember(path, key);
    }
    const mount = mountOf(dir);
    const mountPoint = mount.mountPoint;
    const refs = this.mountFds.get(key) ?? [];
    if (!handlesOpen || refs.some((r) => r.mountPoint === mountPoint)) {
      sysClose(fd);
    } else {
      refs.push({ fd, mountPoint, wholeFs: mount.root === "/" });
      this.mountFds.set(key, refs);
    }
    return { fsid: key, magic, handlesOpen };
  }

  /** Whether a handle of this directory opens again (it does not on overlayfs without nfs_export, ramfs). */
  private handlesOpen(dirFd: number): boolean {
    const h = this.handle;
    this.handleView.setUint32(0, K.MAX_HANDLE_SZ, true);
    if (sysNameToHandleAt(dirFd, EMPTY_PATH, h, this.mountId, K.AT_EMPTY_PATH) !== 0) return false;
    const fd = sysOpenByHandleAt(dirFd, h, K.O_PATH | K.O_CLOEXEC);
    if (fd < 0) return false;
    sysClose(fd);
    return true;
  }

  /**
   * Own map: records the handle (AT_HANDLE_FID, as fanotify reports it) of `path` (a byte string) on
   * an own-mapped filesystem. No open: safe on a permission-marked tree. False when it cannot.
   */
  remember(path: string, fsid: string, fd = -1): boolean {
    const h = this.handle;
    this.handleView.setUint32(0, K.MAX_HANDLE_SZ, true);
    // With `fd` (an O_PATH fd of the directory itself) the handle is that object's, whatever `path` names now.
    const r =
      fd >= 0
        ? sysNameToHandleAt(fd, EMPTY_PATH, h, this.mountId, K.AT_HANDLE_FID | K.AT_EMPTY_PATH)
        : sysNameToHandleAt(K.AT_FDCWD, cpath(path, true), h, this.mountId, K.AT_HANDLE_FID);
    if (r !== 0) return false;
    const len = 8 + this.handleView.getUint32(0, true);
    const table = this.ownMaps.get(fsid);
    if (table === undefined) return false;
    table.set(h.subarray(0, len), Buffer.from(path, "latin1"));
    return true;
  }

  /** Own map: `path` (a byte string) and everything below it moved away or were deleted. */
  forgetUnder(fsid: string, path: string): void {
    const root = Buffer.from(path, "latin1");
    this.ownMaps.get(fsid)?.rewrite((p) => (bytesUnder(p, root) ? null : p));
  }

  /** Own map: directory `from` was renamed to `to` (byte strings); paths below it follow. */
  moveUnder(fsid: string, from: string, to: string): void {
    const root = Buffer.from(from, "latin1");
    const dest = Buffer.from(to, "latin1");
    this.ownMaps.get(fsid)?.rewrite((p) => {
      if (!bytesUnder(p, root)) return p;
      const out = Buffer.allocUnsafe(dest.length + p.length - root.length);
      dest.copy(out, 0);
      out.set(p.subarray(root.length), dest.length);
      return out;
    });
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
    if (len > MAX_HANDLE) return null;
    if (this.ownMaps.size > 0) {
      const own = this.ownMaps.get(fsid);
      if (own !== undefined) return own.get(buf, off, len);
    }
    const refs = this.mountFds.get(fsid);
    if (refs === undefined) return null;
    let cache: HandleTable | undefined;
    if (cacheable) {
      cache = this.dirCache.get(fsid);
      const hit = cache?.get(buf, off, len);
      if (hit != null) return hit;
    }
    const h = this.handle;
    for (let i = 0; i < len; i++) h[i] = buf[off + i];
    let path: string | null = null;
    for (let i = 0; i < refs.length; i++) {
      const ref = refs[i];
      // -1: the object is gone (ESTALE) whichever mount we ask through.
      const n = this.openHandle(ref.fd, len);
      if (n < 0) return null;
      // The kernel names a disconnected dentry (an unlinked file whose inode is still cached, reached
      // through its handle) "/": for a non-directory that means the object is gone, its path unknown.
      if (n === 1 && this.linkBuf[0] === 0x2f && !cacheable) return null;
      const p = this.linkBuf.toString("latin1", 0, n);
      if (isUnder(p, ref.mountPoint)) {
        path = p;
        break;
      }
      // Through a mount of the whole filesystem every connected object lies under the mount point;
      // a path elsewhere is a disconnected (deleted) object's.
      if (ref.wholeFs) return null;
      if (i === 0) path = p; // a path outside the bind mounts we know: the scope filter drops it
    }
    if (path === null) return null;
    const bytes = Buffer.from(path, "latin1");
    if (cacheable) {
      if (this.dirCacheSize >= MAX_DIR_CACHE) this.invalidateDirs();
      if (cache === undefined) {
        cache = new HandleTable();
        this.dirCache.set(fsid, cache);
      }
      cache.set(h.subarray(0, len), bytes);
      this.dirCacheSize++;
    }
    return bytes;
  }

  /** open_by_handle_at(O_PATH) of `this.handle` and readlink into `linkBuf`: the path's length, or -1. */
  private openHandle(mountFd: number, len: number): number {
    if (this.opener !== null) return this.opener.openPath(mountFd, this.handle, len, this.linkBuf);
    const fd = sysOpenByHandleAt(mountFd, this.handle, K.O_PATH | K.O_CLOEXEC);
    if (fd < 0) return -1;
    const n = this.fdPathLength(fd);
    sysClose(fd);
    return n;
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
  /** The mount shows its filesystem's root (not a bind mount of a sub-directory). */
  readonly wholeFs: boolean;
}

const EMPTY_PATH = new Uint8Array(1);

/** True when `path` is `root` or lies below it (byte paths). */
function bytesUnder(path: Uint8Array, root: Uint8Array): boolean {
  const n = root.length;
  if (path.length < n) return false;
  for (let i = 0; i < n; i++) if (path[i] !== root[i]) return false;
  return path.length === n || path[n] === 0x2f || (n === 1 && root[0] === 0x2f);
}
