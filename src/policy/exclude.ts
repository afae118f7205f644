// Exclusions (`--exclude GLOB`, config `exclude`): picomatch globs with `**`, as users know them from
// .gitignore-style tools. Matching events write no record and reach no subscriber; the policy (canaries,
// bursts) still sees them — the check runs on the main thread's record path, after the policy.
//
// No pattern may stall the daemon. picomatch compiles to a backtracking RegExp, and some globs cost
// polynomial time in the path length (measured on a 4096-byte path: `**/a*a*b` 24 ms, `/**/a*/**/a*/**/b`
// 1.8 s). So a pattern's cost is bounded before it is accepted:
//  - at most MAX_PATTERN_LENGTH characters;
//  - at most one `*` in each path segment (a `**` segment does not count);
//  - at most one `**` that is followed by more segments (a trailing `/**` is free);
//  - no brace ranges (`{1..9}`), no extglobs (`+(a)`: compiled with `noextglob`, so literal).
// With these, every pattern runs in about linear time (test/unit/exclude.test.ts keeps the worst
// accepted shapes under a few ms against hostile 4096-byte paths).
import picomatch from "picomatch";

export const MAX_PATTERN_LENGTH = 256;

const PICOMATCH_OPTIONS = { dot: true, noextglob: true, strictSlashes: false } as const;

/** Why `pattern` is refused, or null when it is accepted. The caller names the pattern in its message. */
export function excludePatternProblem(pattern: string): string | null {
  if (pattern === "") return "empty pattern";
  if (pattern.length > MAX_PATTERN_LENGTH) return `longer than ${MAX_PATTERN_LENGTH} characters`;
  if (!pattern.startsWith("/") && !pattern.startsWith("**") && pattern.includes("/")) {
    return "a pattern with a '/' must be absolute or start with '**/' (a pattern without '/' matches a name anywhere)";
  }
  if (/\{[^}]*\.\.[^}]*\}/.test(pattern)) return "brace ranges ({a..b}) are not supported";
  const segments = pattern.split("/");
  let innerGlobstars = 0;
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i];
    if (seg === "**") {
      const rest = segments.slice(i + 1).filter((s) => s !== "" && s !== "**");
      if (rest.length > 0) innerGlobstars++;
      continue;
    }
    if (seg.includes("**")) return `'**' must be a whole path segment (in '${seg}')`;
    let stars = 0;
    for (const ch of seg) if (ch === "*") stars++;
    if (stars > 1) return `more than one '*' in the segment '${seg}' (it could make matching slow)`;
  }
  if (innerGlobstars > 1) return "more than one '**' followed by further segments (it could make matching slow)";
  return null;
}

/** The pattern as matched against absolute paths: a pattern without '/' matches a name anywhere. */
function anchored(pattern: string): string {
  return pattern.includes("/") ? pattern : `**/${pattern}`;
}

export interface ExcludeMatcher {
  /** True when `path` (an absolute byte string) is excluded. */
  test(path: string): boolean;
  readonly patterns: readonly string[];
}

/**
 * Compiles every pattern into ONE RegExp (never pattern by pattern per event). Throws an Error naming the
 * first refused pattern. Returns null when there are no patterns.
 */
export function compileExcludes(patterns: readonly string[]): ExcludeMatcher | null {
  if (patterns.length === 0) return null;
  const sources: string[] = [];
  for (const p of patterns) {
    const problem = excludePatternProblem(p);
    if (problem !== null) throw new Error(`bad exclude pattern '${p.slice(0, 80)}': ${problem}`);
    sources.push(`(?:${picomatch.makeRe(anchored(p), PICOMATCH_OPTIONS).source})`);
  }
  const re = new RegExp(sources.join("|"));
  return { test: (path: string) => re.test(path), patterns: [...patterns] };
}
