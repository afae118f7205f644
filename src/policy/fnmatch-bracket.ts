// One fnmatch(3) bracket expression, as glibc 2.36 (fnmatch_loop.c, "C" locale, FNM_PATHNAME) scans it.
//
// glibc scans the members for one string byte at a time, stops at the first member that matches and
// then skips to the closing ']' with a second, slightly different scanner; an unterminated '[' falls
// back to a literal '['. Rather than re-derive a set from the syntax, bracketTargets() runs that scan
// for each of the 256 byte values at compile time, so malformed brackets come out exactly as fnmatch
// treats them: each byte either fails or resumes the pattern at some index (different bytes may resume
// at different places in a malformed bracket).

/** Pattern bytes the glob compiler and this matcher both look for. */
export const SLASH = 0x2f;
export const BACKSLASH = 0x5c;
export const LBRACKET = 0x5b;
const RBRACKET = 0x5d;

/**
 * For the bracket whose '[' is at `start`: per byte, the pattern index where matching resumes after
 * it, or -1 when that byte does not match. '/' never matches (FNM_PATHNAME).
 */
export function bracketTargets(p: string, start: number): Int32Array {
  const next = new Int32Array(256).fill(-1);
  for (let b = 0; b < 256; b++) {
    if (b === SLASH) continue;
    const r = scanBracket(p, start, b);
    if (r >= 0) next[b] = r;
    else if (r === LITERAL && b === LBRACKET) next[b] = start + 1; // unterminated: a literal '['
  }
  return next;
}

/**
 * An upper bound of the steps bracketTargets() takes over a whole pattern: each scan reads at most
 * the rest of the pattern, once per byte value. Used to refuse patterns too costly to compile.
 */
export function bracketCompileCost(p: string): number {
  let cost = 0;
  for (let i = p.indexOf("["); i >= 0; i = p.indexOf("[", i + 1)) cost += 256 * (p.length - i);
  return cost;
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

type At = (k: number) => number;

/** glibc's skip loop, run once a member matched: `k` is the index after that member. */
function skipRest(at: At, k: number, not: boolean): number {
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
}

/** `[.x.]` whose '[' precedes index k (at(k) is '.'): [byte, index after], or null when glibc fails. */
function collating(at: At, k: number): [number, number] | null {
  const startp = k;
  let c1 = 0;
  for (;;) {
    const c = at(++k);
    if (c === 0x2e && at(k + 1) === RBRACKET) break;
    if (c === 0) return null;
    c1++;
  }
  return c1 === 1 ? [at(startp + 1), k + 2] : null; // the C locale has single-byte elements only
}

/** `[:name:]` whose '[' precedes index i (at(i) is ':'): the name and the index after, or null. */
function className(at: At, i: number): { name: string; end: number } | null {
  let name = "";
  for (;;) {
    const c = at(++i);
    if (c === 0x3a && at(i + 1) === RBRACKET) return { name, end: i + 2 };
    if (c < 0x61 || c >= 0x7a) return null;
    name += String.fromCharCode(c);
  }
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

  const skip = (k: number): number => skipRest(at, k, not);

  let c = at(i++);
  for (;;) {
    let normal = false; // glibc's "goto normal_bracket" with c
    let cold = -1; // a single-byte member that may start a range
    if (c === BACKSLASH) {
      if (at(i) === 0) return NOMATCH;
      c = at(i++);
      normal = true;
    } else if (c === LBRACKET && at(i) === 0x3a /* : */) {
      const cls = className(at, i);
      if (cls !== null) {
        i = cls.end;
        const test = CLASS_TABLE.get(cls.name);
        if (test === undefined) return NOMATCH; // invalid class name
        if (test(fn)) return skip(i);
        c = at(i++);
      } else {
        // "This cannot possibly be a character class name": '[' is an ordinary member
        c = LBRACKET;
        normal = true;
      }
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
      const sym = collating(at, i);
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
        const sym = collating(at, i);
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
