// Exclusion globs: picomatch semantics with `**`, and a bounded cost: no accepted pattern may take more
// than a few ms against a hostile 4096-byte path; the dangerous shapes are refused with a message.
import { describe, expect, test } from "bun:test";
import { compileExcludes, excludePatternProblem } from "../../src/policy/exclude.ts";
import { parseCommandLine, UsageError } from "../support/config.ts";

describe("matching", () => {
  const m = compileExcludes(["**/node_modules/**", "*.swp", "/x/cache/**", "/x/**/*.log"])!;
  test.each([
    ["/a/node_modules/b/c", true],
    ["/a/node_modules", true],
    ["/a/.f.swp", true],
    ["/x/cache", true],
    ["/x/cache/a/b", true],
    ["/x/a/b/c.log", true],
    ["/x/c.log", true],
    ["/y/c.log", false],
    ["/x/cachet/a", false],
    ["/a/b", false],
  ])("%s excluded: %p", (path, want) => {
    expect(m.test(path)).toBe(want);
  });
  test("no patterns: no matcher", () => {
    expect(compileExcludes([])).toBeNull();
  });
});

describe("bounded cost", () => {
  const refused: [string, RegExp][] = [
    ["**/a*a*b", /more than one '\*' in the segment 'a\*a\*b'/],
    ["/**/a*/**/a*/**/b", /more than one '\*\*' followed by further segments/],
    ["/x/a**b", /'\*\*' must be a whole path segment/],
    ["/x/{1..1000}", /brace ranges/],
    ["x/y", /must be absolute or start with '\*\*\/'/],
    ["/" + "a".repeat(300), /longer than 256 characters/],
    ["", /empty pattern/],
  ];
  test.each(refused)("refused: %s", (pattern, why) => {
    expect(excludePatternProblem(pattern)).toMatch(why);
  });

  test("a refused pattern is a one-line usage error naming it", () => {
    let err: unknown;
    try {
      parseCommandLine(["-w", "/nonexistent-x", "--exclude", "**/a*a*b"], { cwd: "/", version: "0" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toBe("bad exclude pattern '**/a*a*b': more than one '*' in the segment 'a*a*b' (it could make matching slow)");
  });

  // The worst shapes that are accepted, against paths built to make a backtracking matcher work hard.
  const worst = [
    "**/*a/a*/a*/a*/**",
    "/**/a*/[a-z]?*/**",
    "**/{a,b,c}*/**",
    "**/?a?a?a?a?a?a?a?b",
    "/**/a*/**",
    "**/" + "a*/".repeat(40) + "b",
  ];
  const seg = (c: string, n: number): string => "/" + c.repeat(n - 1);
  const paths = [seg("a", 4096), seg("a", 256).repeat(16), seg("a", 16).repeat(256), "/a".repeat(2048)];
  test.each(worst)("accepted %s costs under 5 ms on every 4096-byte path", (pattern) => {
    expect(excludePatternProblem(pattern)).toBeNull();
    const m = compileExcludes([pattern])!;
    for (const p of paths) m.test(p); // JIT warm-up
    for (const p of paths) {
      expect(p.length).toBe(4096);
      const t = performance.now();
      m.test(p);
      expect(performance.now() - t).toBeLessThan(5);
    }
  });
});
