// Canary matching (behavior.md A10) checked against real fnmatch(3) when a C compiler is available,
// and the canary reason precedence table.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import picomatch from "picomatch";
import {
  FAN_ACCESS,
  FAN_ACCESS_PERM,
  FAN_ATTRIB,
  FAN_CLOSE_NOWRITE,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_ONDIR,
  FAN_OPEN,
  FAN_OPEN_EXEC,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
  FAN_Q_OVERFLOW,
  FAN_RENAME,
} from "../../ffi/constants.ts";
import { toByteString } from "../../src/bytes.ts";
import { GlobAutomaton, MAX_PATTERN_BYTES } from "../../src/policy/glob-automaton.ts";
import {
  canaryReason,
  PatternError,
  compileCanaries,
  type CanaryReason,
} from "../../src/policy/canary.ts";

// ---------------------------------------------------------------------------------------------
// The fnmatch(3) oracle: test/unit/fnmatch-oracle.c compiled at test time.

const work = mkdtempSync(join(tmpdir(), "fanotifyd-fnmatch-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cc = Bun.which("cc");
const oracleBin: string | null = (() => {
  if (cc === null) return null;
  const bin = join(work, "fnmatch-oracle");
  const r = Bun.spawnSync([cc, "-O2", "-o", bin, join(import.meta.dir, "fnmatch-oracle.c")], {
    stdout: "pipe",
    stderr: "pipe",
  });
  if (r.exitCode !== 0) throw new Error(`cc failed: ${r.stderr.toString()}`);
  return bin;
})();

const hex = (bytes: string): string => Buffer.from(bytes, "latin1").toString("hex");

/** fnmatch(pattern, path, FNM_PATHNAME) == 0 for each pair (both byte strings). */
function fnmatchOracle(bin: string, pairs: ReadonlyArray<readonly [string, string]>): boolean[] {
  const input = pairs.map(([p, s]) => `${hex(p)} ${hex(s)}\n`).join("");
  // Empty environment: no POSIXLY_CORRECT (which would stop '^' from negating), "C" locale.
  const r = Bun.spawnSync([bin], { stdin: Buffer.from(input), stdout: "pipe", stderr: "pipe", env: {} });
  if (r.exitCode !== 0) throw new Error(`oracle failed: ${r.stderr.toString()}`);
  const lines = r.stdout.toString().trim().split("\n");
  expect(lines.length).toBe(pairs.length);
  return lines.map((l) => l === "1");
}

/** What the automaton says about one pair (fnmatch alone, without A10's literal equality). */
function viaTranslator(patternBytes: string, path: string): boolean {
  return new GlobAutomaton([patternBytes]).test(path);
}

// ---------------------------------------------------------------------------------------------
// The table. Patterns are config strings (as typed by a user); paths are byte strings. `fnm` is what
// fnmatch(3) answers; the canary matcher additionally matches a pattern without `*`/`?` by equality.

const b = toByteString;
const TABLE: ReadonlyArray<{ pattern: string; path: string; fnm: boolean; note: string }> = [
  { pattern: "/x/*.txt", path: "/x/a.txt", fnm: true, note: "star" },
  { pattern: "/x/*.txt", path: "/x/sub/a.txt", fnm: false, note: "* does not cross /" },
  { pattern: "/x/*", path: "/x/", fnm: true, note: "* matches empty" },
  { pattern: "/x/*", path: "/x/.", fnm: true, note: "DIR/. self events (A5)" },
  { pattern: "/x/*", path: "/x/.hidden", fnm: true, note: "leading dot not special" },
  { pattern: "/x/*", path: "/x/a/", fnm: false, note: "no optional trailing slash" },
  { pattern: "/x/.*", path: "/x/.ssh", fnm: true, note: "dotfile glob" },
  { pattern: "/x/?", path: "/x/a", fnm: true, note: "?" },
  { pattern: "/x/a?b", path: "/x/a/b", fnm: false, note: "? does not match /" },
  { pattern: "/x/[ab].txt", path: "/x/a.txt", fnm: true, note: "bracket" },
  { pattern: "/x/[ab].txt", path: "/x/c.txt", fnm: false, note: "bracket miss" },
  { pattern: "/x/[a-c]1", path: "/x/b1", fnm: true, note: "range" },
  { pattern: "/x/[a-c]1", path: "/x/d1", fnm: false, note: "range miss" },
  { pattern: "/x/[!a-c]1", path: "/x/d1", fnm: true, note: "[! negation" },
  { pattern: "/x/[!a-c]1", path: "/x/a1", fnm: false, note: "[! negation miss" },
  { pattern: "/x/[^a]", path: "/x/b", fnm: true, note: "[^ negation" },
  { pattern: "/x/[^a]", path: "/x/a", fnm: false, note: "[^ negation miss" },
  { pattern: "/x[!a]a", path: "/x/a", fnm: false, note: "negated bracket never matches /" },
  { pattern: "/x/a[/]b", path: "/x/a/b", fnm: false, note: "[/] never matches /" },
  { pattern: "/x/[]a]", path: "/x/]", fnm: true, note: "leading ] is a member" },
  { pattern: "/x/[a-]", path: "/x/-", fnm: true, note: "trailing - is literal" },
  { pattern: "/x/[[:digit:]]*", path: "/x/7z", fnm: true, note: "character class" },
  { pattern: "/x/[[:digit:]]*", path: "/x/z7", fnm: false, note: "character class miss" },
  { pattern: "/x/\\*", path: "/x/*", fnm: true, note: "escaped *" },
  { pattern: "/x/\\*", path: "/x/a", fnm: false, note: "escaped * is literal" },
  { pattern: "/x/br[1].txt", path: "/x/br1.txt", fnm: true, note: "bracket in a literal-looking name" },
  { pattern: "/x/br[1].txt", path: "/x/br[1].txt", fnm: false, note: "literal name: equality (A10)" },
  { pattern: "/x/a\\", path: "/x/a\\", fnm: false, note: "trailing \\ never fnmatches; equality does" },
  { pattern: "/x/[", path: "/x/[", fnm: true, note: "unterminated [ is literal" },
  { pattern: "/x/a|b", path: "/x/a|b", fnm: true, note: "| is literal" },
  { pattern: "/x/a|b", path: "b", fnm: false, note: "| is no alternation" },
  { pattern: "/x/(a)", path: "/x/a", fnm: false, note: "( ) are literal" },
  { pattern: "/x/{a,b}", path: "/x/a", fnm: false, note: "no braces" },
  { pattern: "/x/**", path: "/x/a/b", fnm: false, note: "no globstar" },
  { pattern: "/x/*\\/y", path: "/x/a/y", fnm: false, note: "glibc: *\\/ never matches" },
  { pattern: "/home/*/.ssh/id_*", path: "/home/bob/.ssh/id_rsa", fnm: true, note: "typical canary" },
  { pattern: "/home/*/.ssh/id_*", path: "/home/bob/x/.ssh/id_rsa", fnm: false, note: "typical miss" },
  { pattern: "/tmp/canary", path: "/tmp/canary", fnm: true, note: "plain literal" },
  { pattern: "/tmp/canary", path: "/tmp/canary2", fnm: false, note: "plain literal miss" },
  { pattern: "/x/été*", path: b("/x/été.doc"), fnm: true, note: "UTF-8 literal + star" },
  { pattern: "/x/?", path: b("/x/é"), fnm: false, note: "? is one byte, é is two" },
  { pattern: "/x/??", path: b("/x/é"), fnm: true, note: "two ? for a 2-byte char" },
  { pattern: "/x/[é]", path: b("/x/é"), fnm: false, note: "a bracket matches one byte" },
  { pattern: "/x/*", path: "/x/\xff\xfe", fnm: true, note: "invalid UTF-8 bytes" },
  { pattern: "/x/café", path: b("/x/café"), fnm: true, note: "UTF-8 literal" },
];

describe("canary matcher table", () => {
  test("table has at least 30 pairs", () => {
    expect(TABLE.length).toBeGreaterThanOrEqual(30);
  });

  for (const row of TABLE) {
    const literal = !row.pattern.includes("*") && !row.pattern.includes("?");
    const want = row.fnm || (literal && b(row.pattern) === row.path);
    test(`${JSON.stringify(row.pattern)} vs ${JSON.stringify(row.path)} → ${want} (${row.note})`, () => {
      expect(viaTranslator(b(row.pattern), row.path)).toBe(row.fnm);
      expect(compileCanaries([row.pattern]).matches(row.path)).toBe(want);
      // and inside one combined matcher with other patterns
      const combined = compileCanaries(["/nowhere/*", row.pattern, "/nothing/[ab]", "/none"]);
      expect(combined.matches(row.path)).toBe(want);
    });
  }

  test.skipIf(oracleBin === null)("every fnm value is what fnmatch(3) answers", () => {
    const got = fnmatchOracle(
      oracleBin as string,
      TABLE.map((r) => [b(r.pattern), r.path] as const),
    );
    const wrong = TABLE.filter((r, i) => got[i] !== r.fnm).map((r) => `${r.pattern} vs ${r.path}`);
    expect(wrong).toEqual([]);
  });
});

/** mulberry32: deterministic, so a failure reproduces. A random number and a random pick. */
function random(seed0: number): { rnd: () => number; pick: (a: readonly string[]) => string } {
  let seed = seed0;
  const rnd = (): number => {
    seed = (seed + 0x6d2b79f5) >>> 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { rnd, pick: (a) => a[Math.floor(rnd() * a.length)] };
}

describe("fnmatch automaton: differential test against fnmatch(3)", () => {
  const { rnd, pick } = random(0x5eed);
  const patternParts = [
    "a", "b", "c", "/", "/", "*", "?", "[", "]", "!", "^", "-", "\\", ".", ":", "z",
    "[:alpha:]", "[:foo:]", "[=a=]", "[.a.]", "[.", "[=", "=", ".]", "[:", "(", "|", "$", "+", "{",
    "\xc3", "\xa9", "\xff", "\n",
  ];
  const stringParts = ["a", "b", "c", "/", ".", "[", "]", "-", "!", "^", "\\", "z", ":", "=", "(", "|", "\xc3", "\xa9", "A", "1", "\n"];

  test.skipIf(oracleBin === null)("12,000 random pattern/path pairs agree", () => {
    const pairs: Array<[string, string]> = [];
    for (let k = 0; k < 3000; k++) {
      let p = "";
      const len = 1 + Math.floor(rnd() * 8);
      for (let i = 0; i < len; i++) p += pick(patternParts);
      for (let m = 0; m < 4; m++) {
        let s = "";
        if (m === 0) s = p.replace(/[*?\\]/g, "");
        else if (m === 1) s = p.replace(/[*?\\]/g, () => pick(stringParts));
        else for (let i = Math.floor(rnd() * 7); i > 0; i--) s += pick(stringParts);
        pairs.push([p, s]);
      }
    }
    const want = fnmatchOracle(oracleBin as string, pairs);
    const wrong: string[] = [];
    pairs.forEach(([p, s], i) => {
      if (viaTranslator(p, s) !== want[i]) wrong.push(`${JSON.stringify(p)} vs ${JSON.stringify(s)}: fnmatch ${want[i]}`);
    });
    expect(wrong.slice(0, 10)).toEqual([]);
    expect(want.filter(Boolean).length).toBeGreaterThan(1000); // the sample has real positives
  });
});

describe("fnmatch automaton: many patterns in one DFA against fnmatch(3)", () => {
  const { rnd, pick } = random(0xc0ffee);
  const parts = ["a", "b", "/", "*", "?", "[ab]", "[!a]", "[", "]", "\\", "\\/", "[a-]", "[]a]", "\xe9"];
  const strParts = ["a", "b", "/", "[", "]", "\\", "-", "\xe9"];

  test.skipIf(oracleBin === null)("groups of 8 patterns share one automaton; a tiny DFA cache gives the same answers", () => {
    const groups: string[][] = [];
    const paths: string[] = [];
    for (let g = 0; g < 60; g++) {
      const pats: string[] = [];
      for (let k = 0; k < 8; k++) {
        let p = "/";
        for (let i = 1 + Math.floor(rnd() * 6); i > 0; i--) p += pick(parts);
        pats.push(p);
      }
      groups.push(pats);
    }
    for (let i = 0; i < 400; i++) {
      let s = "/";
      for (let j = Math.floor(rnd() * 8); j > 0; j--) s += pick(strParts);
      paths.push(s);
    }
    const pairs: Array<[string, string]> = [];
    for (const pats of groups) for (const p of pats) for (const s of paths) pairs.push([p, s]);
    const want = fnmatchOracle(oracleBin as string, pairs);
    let at = 0;
    const wrong: string[] = [];
    for (const pats of groups) {
      const big = new GlobAutomaton(pats);
      const tiny = new GlobAutomaton(pats, { maxDfaStates: 4 });
      for (let pi = 0; pi < paths.length; pi++) {
        let any = false;
        for (let k = 0; k < pats.length; k++) any ||= want[at + k * paths.length + pi];
        const s = paths[pi];
        if (big.test(s) !== any || tiny.test(s) !== any) wrong.push(`${JSON.stringify(pats)} vs ${JSON.stringify(s)}: ${any}`);
      }
      at += pats.length * paths.length;
      expect(tiny.cacheResets).toBeGreaterThan(0);
    }
    expect(wrong.slice(0, 10)).toEqual([]);
  });
});

describe("hostile patterns: matching is linear in the path length (issue 14 item 1)", () => {
  const HOSTILE = [
    "/m/*a*a*a*a*a*a*a*a*a*a*a*b",
    "/m/*a*a*a*b",
    "/m/" + "*a".repeat(60) + "*b",
    "/m/" + "?*".repeat(100) + "b",
    "/m/" + "[a]*".repeat(80) + "b",
    "/m/*" + "[[".repeat(30) + "*b",
    "/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/*/b",
  ];
  const names = (len: number): string[] => {
    const name = "a".repeat(len);
    return [`/m/${name.slice(0, Math.min(len, 255))}`, `/m/${name}`, `/m/${"a/".repeat(len >> 1)}`];
  };

  for (const pattern of HOSTILE) {
    test(`${JSON.stringify(pattern.length > 40 ? pattern.slice(0, 40) + "…" : pattern)} against 255- and 4096-byte paths`, () => {
      const m = compileCanaries([pattern]);
      const t0 = performance.now();
      for (const len of [255, 4096]) for (const path of names(len)) expect(m.matches(path)).toBe(false);
      // A backtracking RegExp takes seconds to forever here; the automaton well under a second.
      expect(performance.now() - t0).toBeLessThan(1000);
    });
  }

  test("all hostile patterns together, 1000 different 4096-byte paths: bounded time per byte", () => {
    const m = compileCanaries([...HOSTILE, "/m/a*b", "/home/*/.ssh/id_*"]);
    const paths: string[] = [];
    for (let i = 0; i < 1000; i++) paths.push(`/m/${"a".repeat(i % 300)}${String(i).padStart(4, "0")}${"a".repeat(4000 - (i % 300))}`);
    const t0 = performance.now();
    for (const p of paths) expect(m.matches(p)).toBe(false);
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(m.matches("/m/aaab")).toBe(true);
  });

  test("a pattern whose DFA is exponential (`*a` then 20 `?`): the bounded cache keeps it linear", () => {
    const { rnd } = random(7);
    const m = new GlobAutomaton(["/m/*a" + "?".repeat(20)], { maxDfaStates: 512 });
    let name = "";
    for (let i = 0; i < 4096; i++) name += rnd() < 0.5 ? "a" : "b";
    const t0 = performance.now();
    let hits = 0;
    for (let k = 0; k < 20; k++) if (m.test(`/m/${name.slice(k)}`)) hits++;
    expect(performance.now() - t0).toBeLessThan(3000);
    expect(m.cacheResets).toBeGreaterThan(0);
    // the answer is still fnmatch's: the 21st byte from the end is an 'a'
    const want = Array.from({ length: 20 }, (_, k) => name.slice(k).at(-21) === "a").filter(Boolean).length;
    expect(hits).toBe(want);
  });

  test("the A10 answers stay right on long paths", () => {
    const long = "a".repeat(4000);
    expect(compileCanaries(["/m/*a*a*a*b"]).matches(`/m/${long}b`)).toBe(true);
    expect(compileCanaries(["/m/*a*a*a*b"]).matches(`/m/${long}b/`)).toBe(false);
    expect(compileCanaries(["/m/*"]).matches(`/m/${long}`)).toBe(true);
    expect(compileCanaries(["/m/*"]).matches(`/m/${long}/x`)).toBe(false);
  });
});

describe("patterns that cannot be compiled within bounds are refused with their name", () => {
  test("too long", () => {
    const p = "/x/" + "a*".repeat(MAX_PATTERN_BYTES);
    expect(() => compileCanaries([p])).toThrow(PatternError);
    expect(() => compileCanaries([p])).toThrow(/longer than/);
  });
  test("brackets too costly to compile", () => {
    const p = "/x/" + "[".repeat(MAX_PATTERN_BYTES - 10);
    let err: unknown = null;
    try {
      compileCanaries(["/ok/*", p]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PatternError);
    expect((err as PatternError).pattern).toBe(p);
    expect((err as Error).message).toContain('"/x/[[[[');
    expect((err as Error).message.length).toBeLessThan(200);
  });
});

describe("why canary.ts does not use picomatch (evidence)", () => {
  const opts = { dot: true, nobrace: true, noextglob: true, nonegate: true, noglobstar: true, posix: true };
  // Pairs where picomatch.makeRe(opts) and fnmatch(3) disagree.
  const CASES: ReadonlyArray<readonly [string, string, boolean]> = [
    ["/x/*", "/x/.", true],
    ["/x/*", "/x/..", true],
    ["/x/*", "/x/a/", false],
    ["/x/[ab]", "/x/a/", false],
    ["/x/a|b", "b", false],
    ["/x/(a)", "/x/a", false],
    ["/x/(a)", "/x/(a)", true],
    ["/x/a[/]b", "/x/a/b", false],
    ["./x", "x", false],
  ];
  test("picomatch disagrees with fnmatch, the automaton agrees", () => {
    for (const [pattern, path, fnm] of CASES) {
      expect(picomatch.makeRe(pattern, opts).test(path)).toBe(!fnm);
      expect(viaTranslator(pattern, path)).toBe(fnm);
    }
  });
  test.skipIf(oracleBin === null)("the fnm column is fnmatch(3)", () => {
    expect(fnmatchOracle(oracleBin as string, CASES.map(([p, s]) => [p, s] as const))).toEqual(
      CASES.map(([, , fnm]) => fnm),
    );
  });
});

describe("compileCanaries", () => {
  test("literal patterns go to the exact set, globs to one RegExp", () => {
    const m = compileCanaries(["/a/b", "/a/*.c", "/a/[x]", "/a/b"]);
    expect(m.literalCount).toBe(2); // "/a/b" (deduplicated) and "/a/[x]"
    expect(m.globCount).toBe(2); // "/a/*.c" and "/a/[x]" (the latter also fnmatches "/a/x")
    expect(m.matches("/a/b")).toBe(true);
    expect(m.matches("/a/q.c")).toBe(true);
    expect(m.matches("/a/x")).toBe(true);
    expect(m.matches("/a/[x]")).toBe(true);
    expect(m.matches("/a/c")).toBe(false);
  });

  test("no patterns match nothing", () => {
    const m = compileCanaries([]);
    expect(m.matches("/")).toBe(false);
    expect(m.matchesEvent("/a")).toBe(false);
  });

  test("config strings are converted to byte strings once", () => {
    const m = compileCanaries(["/srv/données/*"]);
    expect(m.patterns).toEqual([b("/srv/données/*")]);
    expect(m.matches(b("/srv/données/x"))).toBe(true);
    expect(m.matches("/srv/données/x")).toBe(false); // not a byte string
  });

  test("matchesEvent: placeholders never match, ' (deleted)' is stripped for matching", () => {
    const m = compileCanaries(["/x/canary", "*", "/x/*.key"]);
    expect(m.matchesEvent("<overflow>")).toBe(false);
    expect(m.matchesEvent("<fd:7>")).toBe(false);
    expect(m.matchesEvent("")).toBe(false);
    expect(m.matchesEvent("/x/canary (deleted)")).toBe(true);
    expect(m.matchesEvent("/x/a.key (deleted)")).toBe(true);
    expect(m.matchesEvent("/x/other (deleted)")).toBe(false);
    expect(m.matches("/x/canary (deleted)")).toBe(false);
  });

  test("matchesEventBytes (the permission verdict, no string made) agrees with matchesEvent", () => {
    const patterns = ["/x/canary", "/x/*.key", "/x/[ab]c", "/x/lit[", "/srv/données/*", "/y/?/z", "/x/same", "/x/emas"];
    const m = compileCanaries(patterns);
    const paths = ["/x/canary", "/x/canary (deleted)", "/x/canary2", "/x/a.key", "/x/a.key (deleted)", "/x/sub/a.key",
      "/x/ac", "/x/cc", "/x/lit[", "/x/lit", b("/srv/données/f"), "/srv/données/f", "/y/1/z", "/y/12/z", "/x/same",
      "/x/emas", "/x/smae", "<fd:7>", "<overflow>", "", "x/canary", " (deleted)", "/x/other (deleted)"];
    for (const p of paths) {
      const bytes = Buffer.from(p, "latin1");
      // a tail of other bytes after len must not matter (readlink's buffer is reused)
      const buf = Buffer.concat([bytes, Buffer.from("/trailing-junk")]);
      expect({ p, got: m.matchesEventBytes(buf, bytes.length) }).toEqual({ p, got: m.matchesEvent(p) });
    }
    expect(m.matchesEventBytes(Buffer.from("/x/canary"), 0)).toBe(false);
    expect(m.matchesEventBytes(Buffer.from("/x/canary"), -1)).toBe(false);
  });
});

describe("canaryReason (A10 precedence on merged masks)", () => {
  const cases: ReadonlyArray<readonly [string, number, CanaryReason | null]> = [
    ["DELETE", FAN_DELETE, "canary deleted"],
    ["DELETE_SELF", FAN_DELETE_SELF, "canary deleted"],
    ["MODIFY|DELETE", FAN_MODIFY | FAN_DELETE, "canary deleted"],
    ["OPEN|MOVED_FROM|DELETE_SELF", FAN_OPEN | FAN_MOVED_FROM | FAN_DELETE_SELF, "canary deleted"],
    ["RENAME", FAN_RENAME, "canary renamed"],
    ["MOVED_FROM", FAN_MOVED_FROM, "canary renamed"],
    ["MOVED_TO", FAN_MOVED_TO, "canary renamed"],
    ["MOVE_SELF", FAN_MOVE_SELF, "canary renamed"],
    ["MODIFY|MOVED_TO", FAN_MODIFY | FAN_MOVED_TO, "canary renamed"],
    ["MODIFY", FAN_MODIFY, "canary modified"],
    ["CLOSE_WRITE", FAN_CLOSE_WRITE, "canary modified"],
    ["OPEN|MODIFY", FAN_OPEN | FAN_MODIFY, "canary modified"],
    ["MODIFY|CLOSE_WRITE|OPEN", FAN_MODIFY | FAN_CLOSE_WRITE | FAN_OPEN, "canary modified"],
    ["OPEN", FAN_OPEN, "canary opened"],
    ["OPEN_PERM", FAN_OPEN_PERM, "canary opened"],
    ["OPEN_EXEC_PERM", FAN_OPEN_EXEC_PERM, "canary opened"],
    ["OPEN|ONDIR", FAN_OPEN | FAN_ONDIR, "canary opened"],
    ["OPEN_PERM|ACCESS_PERM", FAN_OPEN_PERM | FAN_ACCESS_PERM, "canary opened"],
    ["ACCESS", FAN_ACCESS, null],
    ["ACCESS_PERM", FAN_ACCESS_PERM, null],
    ["ATTRIB", FAN_ATTRIB, null],
    ["CREATE", FAN_CREATE, null],
    ["CLOSE_NOWRITE", FAN_CLOSE_NOWRITE, null],
    ["OPEN_EXEC", FAN_OPEN_EXEC, null],
    ["Q_OVERFLOW", FAN_Q_OVERFLOW, null],
    ["ACCESS|ATTRIB|CREATE|CLOSE_NOWRITE", FAN_ACCESS | FAN_ATTRIB | FAN_CREATE | FAN_CLOSE_NOWRITE, null],
    ["none", 0, null],
  ];
  for (const [name, mask, want] of cases) {
    test(`${name} → ${want ?? "none"}`, () => {
      expect(canaryReason(mask)).toBe(want);
    });
  }
});
