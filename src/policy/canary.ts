// Canary patterns (behavior.md A10): fnmatch(3) with FNM_PATHNAME, plus exact string equality for
// patterns without `*` and `?`; and the alert reason chosen from the event mask.
//
// Why not picomatch or a RegExp
// -----------------------------
// design.md suggested picomatch.makeRe({dot, nobrace, noextglob, nonegate, noglobstar, posix}). Checked
// against real glibc fnmatch(3) (test/unit/fnmatch-oracle.c) it disagrees on inputs the daemon meets:
//   * `/x/*` does not match `/x/.` or `/x/..` (picomatch never lets a wildcard match a `.`/`..`
//     segment, even with `dot`) — and `DIR/.` is exactly how a directory's own events are reported (A5);
//   * `/x/*` and `/x/[ab]` match `/x/a/` (picomatch appends an optional trailing slash);
//   * `(`, `)` and `|` are emitted raw with `noextglob`: `/x/a|b` matches `b`, `/x/(a)` matches `/x/a`;
//   * `[/]` matches `/` (fnmatch: a bracket never matches `/` under FNM_PATHNAME);
//   * a trailing backslash matches a literal backslash (fnmatch: the pattern never matches);
//   * a leading `./` is stripped from the pattern.
// The test suite keeps these cases as evidence (policy-canary.test.ts). And any translation to a
// backtracking RegExp can be made to run for ever: `/m/*a*a*a*a*a*a*a*a*a*a*a*b` against a 255-byte
// name never finishes (issue 14). So patterns compile to an automaton over bytes
// (glob-automaton.ts): matching is linear in the path length for every pattern, all glob patterns
// share ONE lazily built DFA, and literal patterns go to a Set; nothing is interpreted per event.
//
// Paths and patterns are byte strings (src/bytes.ts: one char per byte), so a canary holding bytes
// that are not UTF-8 matches the file with those bytes.

import {
  FAN_CLOSE_WRITE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_MODIFY,
  FAN_MOVE_SELF,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
  FAN_OPEN,
  FAN_OPEN_EXEC_PERM,
  FAN_OPEN_PERM,
  FAN_RENAME,
} from "../../ffi/constants.ts";
import { toByteString } from "../bytes.ts";
import { GlobAutomaton } from "./glob-automaton.ts";

export { PatternError } from "./glob-automaton.ts";

export type CanaryReason = "canary deleted" | "canary renamed" | "canary modified" | "canary opened";

const DELETED_MASK = FAN_DELETE | FAN_DELETE_SELF;
const RENAMED_MASK = FAN_RENAME | FAN_MOVED_FROM | FAN_MOVED_TO | FAN_MOVE_SELF;
const MODIFIED_MASK = FAN_MODIFY | FAN_CLOSE_WRITE;
const OPENED_MASK = FAN_OPEN | FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM;
/** Events that can raise a canary alert (A10). ACCESS, ACCESS_PERM, ATTRIB, CREATE, CLOSE_NOWRITE cannot. */
export const CANARY_TRIGGER_MASK = DELETED_MASK | RENAMED_MASK | MODIFIED_MASK | OPENED_MASK;

/** The canary alert reason for a (possibly merged) mask, by A10 precedence; null if it cannot alert. */
export function canaryReason(maskLo: number): CanaryReason | null {
  if ((maskLo & DELETED_MASK) !== 0) return "canary deleted";
  if ((maskLo & RENAMED_MASK) !== 0) return "canary renamed";
  if ((maskLo & MODIFIED_MASK) !== 0) return "canary modified";
  if ((maskLo & OPENED_MASK) !== 0) return "canary opened";
  return null;
}

export interface CanaryMatcher {
  /** The patterns as byte strings, in configuration order. */
  readonly patterns: readonly string[];
  /** Number of patterns in the automaton / the exact-match Set. */
  readonly globCount: number;
  readonly literalCount: number;
  /** Pure A10 test: some pattern fnmatch()es `path` (a byte string), or equals it and has no `*`/`?`. */
  matches(path: string): boolean;
  /**
   * The test for an event path: placeholders (`<overflow>`, `<fd:N>`, … — anything not starting with
   * `/`) never match, and an FD-mode path ending in the kernel's " (deleted)" suffix is also tried
   * without it (design.md: strip it for matching, keep it in the record).
   */
  matchesEvent(path: string): boolean;
  /** matchesEvent() over the bytes buf[0..len) — no string is made (the permission verdict). */
  matchesEventBytes(buf: Uint8Array, len: number): boolean;
}

const DELETED_SUFFIX = " (deleted)";

/**
 * Compile canary patterns (config strings, converted once to byte strings). Throws a PatternError
 * naming the pattern when one cannot be compiled within the automaton's bounds.
 */
export function compileCanaries(patterns: readonly string[]): CanaryMatcher {
  const bytes = patterns.map(toByteString);
  const exact = new Set<string>();
  const globs = new Set<string>();
  for (const p of bytes) {
    const hasStarOrQuestion = p.includes("*") || p.includes("?");
    if (!hasStarOrQuestion) exact.add(p);
    // A pattern without any of `* ? [ \` is its own fnmatch: the Set alone decides it.
    if (!hasStarOrQuestion && !p.includes("[") && !p.includes("\\")) continue;
    globs.add(p);
  }
  const automaton = globs.size === 0 ? null : new GlobAutomaton([...globs]);
  const hasExact = exact.size > 0;

  const matches = (path: string): boolean => {
    if (hasExact && exact.has(path)) return true;
    return automaton !== null && automaton.test(path);
  };
  const exactBytes = new ExactBytes([...exact]);
  const matchesBytes = (buf: Uint8Array, len: number): boolean => {
    if (hasExact && exactBytes.has(buf, len)) return true;
    return automaton !== null && automaton.testBytes(buf, len);
  };
  return {
    patterns: bytes,
    globCount: globs.size,
    literalCount: exact.size,
    matches,
    matchesEvent(path: string): boolean {
      if (path.charCodeAt(0) !== 0x2f) return false;
      if (matches(path)) return true;
      return (
        path.endsWith(DELETED_SUFFIX) && matches(path.slice(0, path.length - DELETED_SUFFIX.length))
      );
    },
    matchesEventBytes(buf: Uint8Array, len: number): boolean {
      if (len <= 0 || buf[0] !== 0x2f) return false;
      if (matchesBytes(buf, len)) return true;
      return endsWithDeleted(buf, len) && matchesBytes(buf, len - DELETED_BYTES.length);
    },
  };
}

const DELETED_BYTES = Buffer.from(DELETED_SUFFIX, "latin1");

function endsWithDeleted(buf: Uint8Array, len: number): boolean {
  const n = DELETED_BYTES.length;
  if (len < n) return false;
  for (let i = 0; i < n; i++) if (buf[len - n + i] !== DELETED_BYTES[i]) return false;
  return true;
}

/** A set of byte strings, looked up by bytes without making a string (FNV-1a buckets). */
class ExactBytes {
  private readonly buckets = new Map<number, Uint8Array[]>();

  constructor(byteStrings: readonly string[]) {
    for (const s of byteStrings) {
      const b = Buffer.from(s, "latin1");
      const h = fnv1a(b, b.length);
      const list = this.buckets.get(h);
      if (list === undefined) this.buckets.set(h, [b]);
      else list.push(b);
    }
  }

  has(buf: Uint8Array, len: number): boolean {
    const list = this.buckets.get(fnv1a(buf, len));
    if (list === undefined) return false;
    outer: for (const b of list) {
      if (b.length !== len) continue;
      for (let i = 0; i < len; i++) if (b[i] !== buf[i]) continue outer;
      return true;
    }
    return false;
  }
}

function fnv1a(buf: Uint8Array, len: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < len; i++) h = Math.imul(h ^ buf[i], 0x01000193);
  return h >>> 0;
}
