// Private tmpfs mounts for tests, and the safety check every daemon start goes through.
//
// SAFETY: every mark a test asks for must lie on a tmpfs mount created by makeTmpfs() (or name a path
// that does not exist, for the failure tests). assertSafeMarks() checks the mark arguments (and the
// config files they name) and refuses anything else, so a typo can never mark `/`, /tmp or a
// filesystem the machine runs from. releaseMounts() (afterEach) and the exit hook unmount them all.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, rmdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { atExit } from "./exit.ts";

export interface Tmpfs {
  /** Real path of the mount point (the daemon realpaths mark paths, so compare against this). */
  dir: string;
  cleanup(): void;
}

const liveMounts = new Set<string>();
const tmpDirs = new Set<string>();
/** Mounts made inside a test tmpfs (loop images, overlayfs, FUSE), newest last; unmounted first. */
const innerMounts: string[] = [];

/**
 * Records a mount made inside one of our tmpfs mounts (filesystems.ts), so cleanupAll() and the exit
 * hook unmount it before the tmpfs under it (a loop device is released only by a real unmount).
 */
export function trackInnerMount(dir: string): void {
  innerMounts.push(dir);
}

function unmountInner(): void {
  while (innerMounts.length > 0) {
    const m = innerMounts.pop() as string;
    if (Bun.spawnSync(["umount", m], { stderr: "ignore" }).exitCode !== 0) Bun.spawnSync(["umount", "-l", m], { stderr: "ignore" });
  }
}

/** File system type of the mount point `dir` (from /proc/self/mountinfo), or null if it is none. */
export function mountInfoFsType(dir: string): string | null {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const sep = f.indexOf("-");
    if (sep < 0) continue;
    // mount point is field 5 (octal escapes for spaces etc.; our dirs have none)
    if (f[4] === dir) return f[sep + 1] ?? null;
  }
  return null;
}

export interface TmpfsOptions {
  /** Mount point to create and use (default: a fresh directory under the OS temp dir). */
  at?: string;
  /** More mount options after size=, e.g. "mode=0755". */
  options?: string;
}

/** Mounts a private tmpfs of `sizeMb` MiB; unmounted by cleanup(), releaseMounts() or at exit. */
export function makeTmpfs(sizeMb = 64, opts: TmpfsOptions = {}): Tmpfs {
  installMountExitHook();
  if (opts.at !== undefined) mkdirSync(opts.at, { recursive: true });
  const dir = realpathSync(opts.at ?? mkdtempSync(join(tmpdir(), "fanotifyd-it-")));
  const o = `size=${sizeMb}m${opts.options !== undefined ? `,${opts.options}` : ""}`;
  const r = Bun.spawnSync(["mount", "-t", "tmpfs", "-o", o, "tmpfs", dir], { stderr: "pipe" });
  if (r.exitCode !== 0) {
    rmdirSync(dir);
    throw new Error(`mount tmpfs on ${dir} failed: ${r.stderr.toString().trim()}`);
  }
  if (mountInfoFsType(dir) !== "tmpfs") {
    Bun.spawnSync(["umount", "-l", dir]);
    throw new Error(`SAFETY: ${dir} is not a tmpfs mount point after mounting`);
  }
  liveMounts.add(dir);
  return { dir, cleanup: () => unmount(dir) };
}

function unmount(dir: string): void {
  if (!liveMounts.has(dir)) return;
  liveMounts.delete(dir);
  Bun.spawnSync(["umount", "-l", dir]);
  try {
    rmdirSync(dir);
  } catch {
    // still busy or not empty: leave it
  }
}

/** A plain (unmarked, not tmpfs) scratch directory, removed by cleanupAll(). */
export function makeTmpDir(prefix = "fanotifyd-it-aux-"): string {
  installMountExitHook();
  const dir = realpathSync(mkdtempSync(join(tmpdir(), prefix)));
  tmpDirs.add(dir);
  return dir;
}

function isUnder(path: string, root: string): boolean {
  return path === root || path.startsWith(root + "/");
}

/**
 * Throws unless `p` is on one of our live tmpfs mounts or does not exist at all. A relative `p` is
 * taken against `cwd`, the directory the daemon starts in (as the daemon itself resolves it).
 */
export function assertSafeMarkPath(p: string, flag: string, cwd: string): void {
  const abs = resolve(cwd, p);
  if (!existsSync(abs)) {
    // Nothing exists at the path: the daemon cannot place a mark on it. Its nearest existing ancestor
    // must not be reachable through a symlink trick either: require every existing ancestor be real.
    return;
  }
  const real = realpathSync(abs);
  for (const m of liveMounts) if (isUnder(real, m)) return;
  throw new Error(`SAFETY: refusing to let the daemon mark ${p} (${flag}): not on a private test tmpfs`);
}

const MARK_LONG = ["--watch", "--mount", "--filesystem"];
const CONFIG_MARK_KEYS = new Set(["watch", "mount", "filesystem"]);

/**
 * Checks every mark given on the command line or in a config file named on it. `cwd` is the directory
 * the daemon runs in (relative paths resolve there, not in the runner's cwd).
 */
export function assertSafeMarks(args: readonly string[], cwd: string): void {
  const configs: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") break;
    for (const f of MARK_LONG) {
      if (a === f) assertSafeMarkPath(args[++i] ?? "", f, cwd);
      else if (a.startsWith(f + "=")) assertSafeMarkPath(a.slice(f.length + 1), f, cwd);
    }
    if (a === "--config" || a === "-c") configs.push(args[++i] ?? "");
    else if (a.startsWith("--config=")) configs.push(a.slice(9));
    else if (/^-[a-zA-Z]+$/.test(a) && !a.startsWith("--")) {
      // short options, possibly bundled: -w PATH, -wPATH, -fw PATH, -c FILE
      for (let j = 1; j < a.length; j++) {
        const ch = a[j]!;
        if (ch === "w" || ch === "c" || ch === "o") {
          const rest = a.slice(j + 1);
          const val = rest !== "" ? rest : (args[++i] ?? "");
          if (ch === "w") assertSafeMarkPath(val, "-w", cwd);
          if (ch === "c") configs.push(val);
          break;
        }
      }
    } else if (/^-[wc]./.test(a)) {
      if (a[1] === "w") assertSafeMarkPath(a.slice(2), "-w", cwd);
      else configs.push(a.slice(2));
    }
  }
  for (const name of configs) {
    const c = resolve(cwd, name);
    if (!existsSync(c)) continue;
    for (const raw of readFileSync(c, "utf8").split("\n")) {
      const line = raw.trim();
      if (line === "" || line.startsWith("#")) continue;
      const m = /^(\S+)\s+(.*)$/.exec(line);
      if (m && CONFIG_MARK_KEYS.has(m[1]!)) {
        const p = m[2]!.trim();
        assertSafeMarkPath(p, `config ${m[1]}`, cwd);
      }
    }
  }
}

/** Unmounts every mount and removes every scratch dir made so far (afterEach). */
export function releaseMounts(): void {
  unmountInner();
  for (const m of [...liveMounts].reverse()) unmount(m); // newest first: a mount made inside another goes first
  for (const d of [...tmpDirs]) {
    tmpDirs.delete(d);
    rmSync(d, { recursive: true, force: true });
  }
}

let exitHookInstalled = false;
function installMountExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  atExit(1, () => {
    unmountInner();
    for (const m of [...liveMounts].reverse()) Bun.spawnSync(["umount", "-l", m]);
    for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
  });
}
