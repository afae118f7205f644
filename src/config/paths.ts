// Path handling at parse time (behavior.md A1, A2, B11). Pure apart from realpath(3) lookups; every
// relative path is taken against the `cwd` passed in, never against process.cwd().

import { realpathSync } from "node:fs";
import { posix } from "node:path";
import { decodeLossless, fsPath } from "../bytes.ts";
import { describeFsError, errCode } from "../errors.ts";

export type PathResult =
  | { readonly ok: true; readonly path: string }
  | { readonly ok: false; readonly reason: string };

/** Strip trailing slashes; `/` stays `/`. */
export function stripTrailingSlashes(p: string): string {
  let end = p.length;
  while (end > 1 && p.charCodeAt(end - 1) === 0x2f) end--;
  return p.slice(0, end);
}

/** `p` made absolute against `cwd` and normalised (`.`/`..`/`//` removed lexically). */
export function absolutize(p: string, cwd: string): string {
  return posix.normalize(p.startsWith("/") ? p : `${cwd}/${p}`);
}

/** realpath(3) of a path typed by a user, on its original bytes (a non-UTF-8 name is found, not re-encoded). */
function realpathOf(p: string): string {
  return decodeLossless(realpathSync.native(fsPath(p), { encoding: "buffer" }));
}

/** Absolute but not lexically rewritten: what realpath(3) gets, so `link/..` is resolved correctly. */
function joinRaw(p: string, cwd: string): string {
  return p.startsWith("/") ? p : `${cwd}/${p}`;
}

/**
 * Mark and job-root paths (A1): realpath when it exists (symlinks resolved); ENOENT → made absolute
 * against cwd and normalised; any other failure (EACCES, ENOTDIR, ELOOP, empty string) → error.
 * Trailing slashes stripped.
 */
export function resolveMarkPath(arg: string, cwd: string): PathResult {
  if (arg === "") return { ok: false, reason: "empty path" };
  if (arg.includes("\0")) return { ok: false, reason: "path contains a NUL byte" };
  try {
    return { ok: true, path: stripTrailingSlashes(realpathOf(joinRaw(arg, cwd))) };
  } catch (err) {
    if (errCode(err) === "ENOENT") return { ok: true, path: stripTrailingSlashes(absolutize(arg, cwd)) };
    return { ok: false, reason: describeFsError(err) };
  }
}

/** True when a canary pattern holds glob syntax (`*`, `?` or `[`). */
export function isGlobPattern(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * Canary patterns (A1/A2): globs are kept verbatim, only made absolute; a literal pattern that exists is
 * realpath'd (symlinks resolved); one that does not (or cannot be resolved) is only made absolute.
 * No trailing-slash strip. Never fails for a non-empty pattern.
 */
export function resolveCanaryPattern(pattern: string, cwd: string): PathResult {
  if (pattern === "") return { ok: false, reason: "empty pattern" };
  if (pattern.includes("\0")) return { ok: false, reason: "pattern contains a NUL byte" };
  if (isGlobPattern(pattern)) {
    return { ok: true, path: pattern.startsWith("/") ? pattern : absolutize(pattern, cwd) };
  }
  try {
    return { ok: true, path: realpathOf(joinRaw(pattern, cwd)) };
  } catch {
    return { ok: true, path: pattern.startsWith("/") ? pattern : absolutize(pattern, cwd) };
  }
}

/** Output / socket / pid-file paths (B11): made absolute against the start directory. */
export function resolveFilePath(p: string, cwd: string): string {
  return absolutize(p, cwd);
}
