// /proc/self/mountinfo (proc(5)): which mount holds a path, what it shows of its filesystem, and which
// mounts lie below a tree. Paths here are byte strings (src/bytes.ts).
import { readFileSync } from "node:fs";

export interface MountEntry {
  /** Field 4: the directory of the filesystem this mount shows ("/" for the whole filesystem). */
  readonly root: string;
  /** Field 5: where it is mounted. */
  readonly mountPoint: string;
  /** The filesystem type after the " - " separator (e.g. "overlay", "fuse.bindfs"). */
  readonly fsType: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo (proc(5)). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** Parses mountinfo text (read as latin1) into entries, in file order; malformed lines are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 10) continue;
    const sep = f.indexOf("-", 6);
    if (sep < 0 || sep + 1 >= f.length) continue;
    out.push({ root: unescape(f[3]), mountPoint: unescape(f[4]), fsType: f[sep + 1] });
  }
  return out;
}

export function readMountinfo(): MountEntry[] {
  try {
    return parseMountinfo(readFileSync("/proc/self/mountinfo", "latin1"));
  } catch {
    return []; // no /proc: callers fall back to treating "/" as the only mount
  }
}

export function isUnder(path: string, root: string): boolean {
  return root === "/" || path === root || (path.startsWith(root) && path.charCodeAt(root.length) === 0x2f);
}

const ROOT_MOUNT: MountEntry = { root: "/", mountPoint: "/", fsType: "" };

/** The visible mount that contains `path`: the longest mount point above it, the last of equals. */
export function mountOf(path: string, entries: readonly MountEntry[] = readMountinfo()): MountEntry {
  let best = ROOT_MOUNT;
  for (const e of entries) {
    if (isUnder(path, e.mountPoint) && e.mountPoint.length >= best.mountPoint.length) best = e;
  }
  return best;
}

/** Mount points strictly below `root` (a tree walk that stays on one mount skips them). */
export function mountPointsBelow(root: string, entries: readonly MountEntry[] = readMountinfo()): Set<string> {
  const out = new Set<string>();
  for (const e of entries) if (e.mountPoint !== root && isUnder(e.mountPoint, root)) out.add(e.mountPoint);
  return out;
}
