// Canary patterns (behavior.md A10): fnmatch(3) with FNM_PATHNAME, plus exact string equality for
// patterns without `*` and `?`; and the alert reason chosen from the event mask.
//
// Why this file translates fnmatch patterns itself instead of using picomatch
// ---------------------------------------------------------------------------
// design.md suggests picomatch.makeRe({dot, nobrace, noextglob, nonegate, noglobstar, posix}). Checked
// against real glibc fnmatch(3) (test/unit/fnmatch-oracle.c) it disagrees on inputs the daemon meets:
//   * `/x/*` does not match `/x/.` or `/x/..` (picomatch never lets a wildcard match a `.`/`..`
//     segment, even with `dot`) — and `DIR/.` is exactly how a directory's own events are reported (A5);
//   * `/x/*` and `/x/[ab]` match `/x/a/` (picomatch appends an optional trailing slash);
//   * `(`, `)` and `|` are emitted raw with `noextglob`: `/x/a|b` matches `b`, `/x/(a)` matches `/x/a`
//     and not the literal `/x/(a)`; inside one combined RegExp a raw `|` would even leak into the
//     alternation of the other patterns;
//   * `[/]` matches `/` (fnmatch: a bracket never matches `/` under FNM_PATHNAME);
//   * a trailing backslash matches a literal backslash (fnmatch: the pattern never matches);
//   * a leading `./` is stripped from the pattern.
// The test suite keeps these cases as evidence (policy-canary.test.ts). So every pattern goes through
// fnmatchSource() below, which follows glibc's internal_fnmatch in the "C" locale (the reference daemon
// never calls setlocale): one pattern character or bracket matches one byte of the byte-string path.
// Like picomatch's makeRe, all glob patterns are compiled ONCE into a single RegExp, and literal
// patterns go to a Set; nothing is interpreted per event.
//
// Semantics reproduced (and checked by a differential fuzz against the oracle, 1.5M pairs): `*` and
// `?` never match '/'; `\` escapes (a trailing `\` never matches); brackets with `!`/`^` negation, a
// leading `]`, escapes, byte ranges, C-locale `[:class:]`, `[=c=]`, `[.c.]`, and all of glibc 2.36's
// handling of malformed or unterminated brackets (it scans members per string byte; bracket() runs that
// scan for all 256 byte values at compile time); glibc's quirk that `*\/` never matches.

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
  /** Number of patterns compiled into the combined RegExp / the exact-match Set. */
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
}

const DELETED_SUFFIX = " (deleted)";

/** Compile canary patterns (config strings, converted once to byte strings). */
export function compileCanaries(patterns: readonly string[]): CanaryMatcher {
  const bytes = patterns.map(toByteString);
  const exact = new Set<string>();
  const sources: string[] = [];
  const seen = new Set<string>();
  for (const p of bytes) {
    const hasStarOrQuestion = p.includes("*") || p.includes("?");
    if (!hasStarOrQuestion) exact.add(p);
    // A pattern without any of `* ? [ \` is its own fnmatch: the Set alone decides it.
    if (!hasStarOrQuestion && !p.includes("[") && !p.includes("\\")) continue;
    const src = fnmatchSource(p);
    if (src === null || seen.has(src)) continue; // null: fnmatch can never match this pattern
    seen.add(src);
    sources.push(src);
  }
  // One anchored alternation: the engine tries the alternatives at position 0 only.
  const re = sources.length === 0 ? null : new RegExp(`^(?:${sources.join("|")})$`);
  const hasExact = exact.size > 0;

  const matches = (path: string): boolean => {
    if (hasExact && exact.has(path)) return true;
    return re !== null && re.test(path);
  };
  return {
    patterns: bytes,
    globCount: sources.length,
    literalCount: exact.size,
    matches,
    matchesEvent(path: string): boolean {
      if (path.charCodeAt(0) !== 0x2f) return false;
      if (matches(path)) return true;
      return (
        path.endsWith(DELETED_SUFFIX) && matches(path.slice(0, path.length - DELETED_SUFFIX.length))
      );
    },
  };
}

// ---------------------------------------------------------------------------------------------
// fnmatch(pattern, string, FNM_PATHNAME) → RegExp source (no flags; one char per byte).

const SLASH = 0x2f;
const BACKSLASH = 0x5c;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const STAR = 0x2a;
const QUESTION = 0x3f;
/**
 * Malformed brackets that resume the pattern at two places fork the translation; a pattern with many
 * of them could grow exponentially, so translations over this size are refused with an error.
 */
const MAX_SOURCE = 1 << 16;

/**
 * The RegExp source (unanchored, no flags) equivalent to fnmatch(pattern, ·, FNM_PATHNAME) on byte
 * strings, or null when fnmatch can never match the pattern (e.g. a trailing backslash).
 * Throws a RangeError for a (pathological) pattern whose translation exceeds 64 KiB.
 */
/** A pattern for an error message: quoted, and cut to its first 80 characters. */
function quoteShort(pattern: string): string {
  return JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern);
}

export function fnmatchSource(pattern: string): string | null {
  const src = translateFrom(pattern, 0);
  if (src !== null && src.length > MAX_SOURCE) {
    throw new RangeError(`canary pattern too complex: ${quoteShort(pattern)}`);
  }
  return src;
}

function translateFrom(p: string, from: number): string | null {
  const n = p.length;
  let out = "";
  let i = from;
  while (i < n) {
    const c = p.charCodeAt(i);
    if (c === STAR || c === QUESTION) {
      // glibc consumes a run of '*' and '?' together.
      let star = false;
      while (i < n && (p.charCodeAt(i) === STAR || p.charCodeAt(i) === QUESTION)) {
        if (p.charCodeAt(i) === STAR) {
          if (!star) out += "[^/]*";
          star = true;
        } else out += "[^/]";
        i++;
      }
      // glibc quirk: after '*', an escaped slash `\/` is searched for only before the first '/' of
      // the string, so it can never match.
      if (star && p.charCodeAt(i) === BACKSLASH && p.charCodeAt(i + 1) === SLASH) return null;
      continue;
    }
    if (c === BACKSLASH) {
      if (i + 1 >= n) return null; // "Trailing \ loses."
      out += literal(p.charCodeAt(i + 1));
      i += 2;
      continue;
    }
    if (c === LBRACKET) {
      const b = bracket(p, i);
      if (b.alternatives.length === 0) return null; // the bracket matches no byte at all
      if (b.alternatives.length === 1) {
        const alt = b.alternatives[0];
        out += alt.element;
        i = alt.next;
        continue;
      }
      // Different bytes resume the pattern at different places: one alternative per resume point.
      const alts: string[] = [];
      for (const alt of b.alternatives) {
        const rest = translateFrom(p, alt.next);
        if (rest !== null) alts.push(alt.element + rest);
      }
      if (alts.length === 0) return null;
      const src = `${out}(?:${alts.join("|")})`;
      if (src.length > MAX_SOURCE) throw new RangeError(`canary pattern too complex: ${quoteShort(p)}`);
      return src;
    }
    out += literal(c);
    i++;
  }
  return out;
}

function literal(c: number): string {
  if ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f) {
    return String.fromCharCode(c);
  }
  // Other printable ASCII: an identity escape (valid in a non-unicode RegExp, also inside a class).
  if (c > 0x20 && c < 0x7f) return "\\" + String.fromCharCode(c);
  if (c <= 0xff) return "\\x" + c.toString(16).padStart(2, "0");
  return "\\u" + c.toString(16).padStart(4, "0");
}

/** A RegExp character class for a set of bytes, or null when empty. */
function charClass(members: Uint8Array): string | null {
  let out = "";
  let count = 0;
  let c = 0;
  while (c < 256) {
    if (members[c] === 0) {
      c++;
      continue;
    }
    let e = c;
    while (e + 1 < 256 && members[e + 1] !== 0) e++;
    count += e - c + 1;
    out += e === c ? literal(c) : e === c + 1 ? literal(c) + literal(e) : `${literal(c)}-${literal(e)}`;
    c = e + 1;
  }
  if (count === 0) return null;
  return `[${out}]`;
}

interface BracketAlt {
  /** RegExp source matching the bytes that take this alternative. */
  element: string;
  /** Pattern index where matching resumes for them. */
  next: number;
}

/**
 * The bracket expression whose '[' is at `start`. glibc (2.36, "C" locale) scans the members for one
 * string byte at a time, stops at the first member that matches and then skips to the closing ']' with
 * a second, slightly different scanner; an unterminated '[' falls back to a literal '['. Rather than
 * re-derive a set from the syntax, this runs that scan for each of the 256 byte values at compile time
 * and groups the bytes by outcome, so malformed brackets come out exactly as fnmatch treats them.
 */
function bracket(p: string, start: number): { alternatives: BracketAlt[] } {
  const byNext = new Map<number, Uint8Array>();
  let literalBracket = false;
  for (let b = 0; b < 256; b++) {
    if (b === SLASH) continue; // under FNM_PATHNAME a bracket never matches '/'
    const r = scanBracket(p, start, b);
    if (r === LITERAL) {
      if (b === LBRACKET) literalBracket = true;
    } else if (r >= 0) {
      let set = byNext.get(r);
      if (set === undefined) byNext.set(r, (set = new Uint8Array(256)));
      set[b] = 1;
    }
  }
  const alternatives: BracketAlt[] = [];
  for (const [next, set] of byNext) {
    const element = charClass(set);
    if (element !== null) alternatives.push({ element, next });
  }
  if (literalBracket) alternatives.push({ element: literal(LBRACKET), next: start + 1 });
  return { alternatives };
}

const NOMATCH = -1;
const LITERAL = -2;

/** C-locale ctype classes, by name. */
const CLASS_TABLE: ReadonlyMap<string, (c: number) => boolean> = new Map([
  ["alnum", (c: number) => isDigit(c) || isUpper(c) || isLower(c)],
  ["alpha", (c: number) => isUpper(c) || isLower(c)],
  ["blank", (c: number) => c === 0x20 || c === 0x09],
  ["cntrl", (c: number) => c < 0x20 || c === 0x7f],
  ["digit", isDigit],
  ["graph", (c: number) => c > 0x20 && c < 0x7f],
  ["lower", isLower],
  ["print", (c: number) => c >= 0x20 && c < 0x7f],
  ["punct", (c: number) => c > 0x20 && c < 0x7f && !isDigit(c) && !isUpper(c) && !isLower(c)],
  ["space", (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d)],
  ["upper", isUpper],
  ["xdigit", (c: number) => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66)],
]);
function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isUpper(c: number): boolean {
  return c >= 0x41 && c <= 0x5a;
}
function isLower(c: number): boolean {
  return c >= 0x61 && c <= 0x7a;
}

/**
 * glibc's bracket scan for string byte `fn` (never '/'): the pattern index after the bracket when it
 * matches, NOMATCH, or LITERAL (unterminated: the '[' is compared as an ordinary character).
 * `at(i)` plays the C string: 0 past the end.
 */
function scanBracket(p: string, start: number, fn: number): number {
  const n = p.length;
  const at = (k: number): number => (k < n ? p.charCodeAt(k) : 0);
  let i = start + 1;
  const not = at(i) === 0x21 /* ! */ || at(i) === 0x5e; /* ^ */
  if (not) i++;

  // The skip loop run once a member matched; `k` is the index after that member.
  const skip = (k: number): number => {
    let c: number;
    while ((c = at(k++)) !== RBRACKET) {
      if (c === 0) return LITERAL; // glibc 2.36: "[ unterminated, treat as normal character"
      if (c === BACKSLASH) {
        if (at(k) === 0) return NOMATCH;
        k++;
      } else if (c === LBRACKET && at(k) === 0x3a /* : */) {
        const startp = k;
        for (;;) {
          c = at(++k);
          if (at(k) === 0x3a && at(k + 1) === RBRACKET) break;
          if (c < 0x61 || c >= 0x7a) {
            k = startp - 2;
            break;
          }
        }
        k += 2;
      } else if (c === LBRACKET && at(k) === 0x3d /* = */) {
        c = at(++k);
        if (c === 0) return NOMATCH;
        c = at(++k);
        if (c !== 0x3d || at(k + 1) !== RBRACKET) return NOMATCH;
        k += 2;
      } else if (c === LBRACKET && at(k) === 0x2e /* . */) {
        for (;;) {
          c = at(++k);
          if (c === 0) return NOMATCH;
          if (c === 0x2e && at(k + 1) === RBRACKET) break;
        }
        k += 2;
      }
    }
    return not ? NOMATCH : k;
  };

  /** `[.x.]` whose '[' precedes index k (at(k) is '.'): [byte, index after], or null when glibc fails. */
  const collating = (k: number): [number, number] | null => {
    const startp = k;
    let c1 = 0;
    for (;;) {
      const c = at(++k);
      if (c === 0x2e && at(k + 1) === RBRACKET) break;
      if (c === 0) return null;
      c1++;
    }
    return c1 === 1 ? [at(startp + 1), k + 2] : null; // the C locale has single-byte elements only
  };

  let c = at(i++);
  for (;;) {
    let normal = false; // glibc's "goto normal_bracket" with c
    let cold = -1; // a single-byte member that may start a range
    if (c === BACKSLASH) {
      if (at(i) === 0) return NOMATCH;
      c = at(i++);
      normal = true;
    } else if (c === LBRACKET && at(i) === 0x3a /* : */) {
      const startp = i;
      let name = "";
      let isClass = true;
      for (;;) {
        c = at(++i);
        if (c === 0x3a && at(i + 1) === RBRACKET) {
          i += 2;
          break;
        }
        if (c < 0x61 || c >= 0x7a) {
          // "This cannot possibly be a character class name": '[' is an ordinary member
          i = startp;
          c = LBRACKET;
          isClass = false;
          break;
        }
        name += String.fromCharCode(c);
      }
      if (isClass) {
        const test = CLASS_TABLE.get(name);
        if (test === undefined) return NOMATCH; // invalid class name
        if (test(fn)) return skip(i);
        c = at(i++);
      } else normal = true;
    } else if (c === LBRACKET && at(i) === 0x3d /* = */) {
      const startp = i;
      const str = at(i + 1);
      if (str !== 0 && at(i + 2) === 0x3d && at(i + 3) === RBRACKET) {
        i += 4;
        if (fn === str) return skip(i);
        c = at(i++);
      } else {
        i = startp;
        c = LBRACKET;
        normal = true;
      }
    } else if (c === 0) {
      return LITERAL; // "[ unterminated, treat as normal character"
    } else if (c === LBRACKET && at(i) === 0x2e /* . */) {
      const sym = collating(i);
      if (sym === null) return NOMATCH;
      i = sym[1];
      const isRange = at(i) === 0x2d && at(i + 1) !== 0;
      if (!isRange && fn === sym[0]) return skip(i);
      cold = sym[0];
      c = at(i++);
    } else normal = true;

    if (normal) {
      const isRange = at(i) === 0x2d && at(i + 1) !== 0 && at(i + 1) !== RBRACKET;
      if (!isRange && c === fn) return skip(i);
      cold = c;
      c = at(i++);
    }
    if (cold >= 0 && c === 0x2d /* - */ && at(i) !== RBRACKET) {
      let cend = at(i++);
      if (cend === LBRACKET && at(i) === 0x2e) {
        const sym = collating(i);
        if (sym === null) return NOMATCH;
        cend = sym[0];
        i = sym[1];
      } else {
        if (cend === BACKSLASH) cend = at(i++);
        if (cend === 0) return NOMATCH;
      }
      if (cold <= fn && fn <= cend) return skip(i);
      c = at(i++);
    }
    if (c === RBRACKET) break;
  }
  return not ? i : NOMATCH;
}
