// A table from struct file_handle bytes to a path's bytes, looked up straight from the kernel's record
// buffer (no key string per event). Serves the directory cache (kernel-resolved paths) and the
// daemon's own directory map (filesystems whose handles cannot be opened, design.md "Marks").
import { bytesEqualAt } from "../bytes.ts";

interface Entry {
  readonly handle: Uint8Array;
  path: Uint8Array;
  /** The next entry with the same hash. */
  next: Entry | null;
}

/** FNV-1a over buf[off, off+len). */
function hashBytes(buf: Uint8Array, off: number, len: number): number {
  let h = 0x811c9dc5;
  for (let i = off; i < off + len; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}

export class HandleTable {
  private readonly buckets = new Map<number, Entry>();
  size = 0;

  /** The path stored for the handle at buf[off, off+len), or null. The result must not be modified. */
  get(buf: Uint8Array, off: number, len: number): Uint8Array | null {
    for (let e = this.buckets.get(hashBytes(buf, off, len)) ?? null; e !== null; e = e.next) {
      if (bytesEqualAt(e.handle, buf, off, len)) return e.path;
    }
    return null;
  }

  /** Stores (or replaces) the path for a handle; `handle` is copied. */
  set(handle: Uint8Array, path: Uint8Array): void {
    const hash = hashBytes(handle, 0, handle.length);
    const first = this.buckets.get(hash) ?? null;
    for (let e = first; e !== null; e = e.next) {
      if (bytesEqualAt(e.handle, handle, 0, handle.length)) {
        e.path = path;
        return;
      }
    }
    this.buckets.set(hash, { handle: handle.slice(), path, next: first });
    this.size++;
  }

  /**
   * Walks every entry: `change` returns the entry's new path, the same path to keep it, or null to
   * drop it. For rare changes only (directory renames and deletions).
   */
  rewrite(change: (path: Uint8Array) => Uint8Array | null): void {
    for (const [hash, first] of this.buckets) {
      let head: Entry | null = null;
      let tail: Entry | null = null;
      for (let e: Entry | null = first; e !== null; e = e.next) {
        const path = change(e.path);
        if (path === null) {
          this.size--;
          continue;
        }
        const kept: Entry = { handle: e.handle, path, next: null };
        if (tail === null) head = kept;
        else tail.next = kept;
        tail = kept;
      }
      if (head === null) this.buckets.delete(hash);
      else this.buckets.set(hash, head);
    }
  }

  clear(): void {
    this.buckets.clear();
    this.size = 0;
  }
}
