// File-system calls the reader must not make on its own thread: inside a permission-marked tree an
// open() waits for an answer only the reader gives (fanotify(7), FAN_OPEN_PERM), so opens and
// directory listings there run on the runtime's I/O threads. `io.pending` tells the reader's loop to
// keep turning its event loop until they are done. Paths are byte strings (src/bytes.ts).
import { constants, open } from "node:fs";
import { readdir } from "node:fs/promises";

export const io = { pending: 0 };

async function counted<T>(work: () => Promise<T>): Promise<T> {
  io.pending++;
  try {
    return await work();
  } finally {
    io.pending--;
  }
}

/** A directory fd opened on an I/O thread (O_RDONLY, as open_by_handle_at needs), or -1. */
export function openDirectory(path: string): Promise<number> {
  const flags = constants.O_RDONLY | constants.O_DIRECTORY | 0o2000000; // O_CLOEXEC
  return counted(
    () => new Promise<number>((resolve) => open(Buffer.from(path, "latin1"), flags, (err, fd) => resolve(err ? -1 : fd))),
  );
}

export interface DirEntry {
  /** A byte string. */
  readonly name: string;
  readonly isDir: boolean;
}

/** A directory's entries, listed on an I/O thread; null when it is gone or unreadable. */
export function listDirectory(dir: string): Promise<DirEntry[] | null> {
  return counted(async () => {
    try {
      // latin1 names are byte strings (Bun ignores withFileTypes with encoding "buffer").
      const dirents = await readdir(Buffer.from(dir, "latin1"), { withFileTypes: true, encoding: "latin1" });
      return dirents.map((d) => ({ name: d.name, isDir: d.isDirectory() }));
    } catch {
      return null;
    }
  });
}
