// fnmatch(pattern, path, FNM_PATHNAME) for many patterns at once, in time linear in the path length
// (behavior.md A10; issue 14 item 1). No backtracking: every pattern is compiled to a small NFA over
// bytes, the NFAs are joined, and a DFA is built from them lazily, one transition at a time, as paths
// need it. A path byte costs one table lookup once its transition is known; an unknown transition costs
// at most one pass over the NFA. The DFA cache is bounded: when it fills up it is emptied and rebuilt
// on demand, so neither time per byte nor memory depends on what paths were seen.
//
// NFA states are pattern positions (glibc's "where matching resumes"):
//   `*`        loops on any byte but '/', and also moves on to the next position without a byte;
//   `?`        any byte but '/' → next;
//   `\c`       the byte c → after it (a trailing `\` never matches: a dead state);
//   `[...]`    per byte, the position glibc resumes at (fnmatch-bracket.ts; never '/');
//   other      that byte → next;   end of pattern: accepting.
// glibc's one departure from that regular language: after a run of `*`/`?` holding a `*`, an escaped
// slash `\/` is looked for only before the next '/' of the string, so it never matches; such a `*` is a
// dead state. The differential test against glibc (policy-canary.test.ts) checks all of this.

import { BACKSLASH, bracketCompileCost, bracketTargets, LBRACKET, SLASH } from "./fnmatch-bracket.ts";

const STAR = 0x2a;
const QUESTION = 0x3f;

/** Longest pattern accepted (bytes). PATH_MAX is 4096; brackets may make a pattern longer than its path. */
export const MAX_PATTERN_BYTES = 16384;
/** Compile work allowed per pattern (bracket scans: see bracketCompileCost). */
const MAX_COMPILE_COST = 1 << 26;
/** NFA states allowed over all the patterns of one matcher. */
export const MAX_NFA_STATES = 1 << 21;
/** DFA cache bounds: states, and NFA state ids stored over all cached states. */
const MAX_DFA_STATES = 4096;
const MAX_CACHED_IDS = 1 << 22;

/** A pattern that cannot be compiled within the bounds above. */
export class PatternError extends Error {
  constructor(
    readonly pattern: string,
    what: string,
  ) {
    super(`canary pattern too complex: ${quoteShort(pattern)} (${what})`);
    this.name = "PatternError";
  }
}

/** A pattern for an error message: quoted, cut to its first 80 characters. */
function quoteShort(pattern: string): string {
  return JSON.stringify(pattern.length > 80 ? `${pattern.slice(0, 80)}…` : pattern);
}

// Edge kinds of an NFA state.
const K_DEAD = 0;
const K_ACCEPT = 1;
const K_BYTE = 2; // one byte → next
const K_NOT_SLASH = 3; // any byte but '/' → next
const K_STAR = 4; // any byte but '/' → itself; ε → next
const K_TABLE = 5; // per-byte targets (a bracket)

/** The joined NFA of a set of patterns (byte strings). */
class Nfa {
  kind: Uint8Array;
  /** K_BYTE: the byte. K_TABLE: index of the state's 256-entry row in `tables`. */
  arg: Int32Array;
  next: Int32Array;
  tables: Int32Array[] = [];
  count = 0;
  /** One entry state per pattern. */
  readonly starts: number[] = [];

  constructor(capacity: number) {
    this.kind = new Uint8Array(capacity);
    this.arg = new Int32Array(capacity);
    this.next = new Int32Array(capacity);
  }

  /** Adds one pattern; throws PatternError when it is over the bounds. */
  add(p: string): void {
    if (p.length > MAX_PATTERN_BYTES) throw new PatternError(p, `longer than ${MAX_PATTERN_BYTES} bytes`);
    if (bracketCompileCost(p) > MAX_COMPILE_COST) throw new PatternError(p, "its brackets are too costly to compile");
    const n = p.length;
    if (this.count + n + 1 > MAX_NFA_STATES) {
      throw new PatternError(p, `the patterns together are too large to compile (over ${MAX_NFA_STATES} states)`);
    }
    this.grow(this.count + n + 1);
    // State for pattern position i is base + i; position n is the accepting state.
    const base = this.count;
    this.count += n + 1;
    this.starts.push(base);
    for (let i = 0; i <= n; i++) this.kind[base + i] = K_DEAD;
    this.kind[base + n] = K_ACCEPT;
    // Only positions where matching can resume get compiled (brackets skip their members).
    const todo = [0];
    const done = new Uint8Array(n + 1);
    while (todo.length > 0) {
      const i = todo.pop() as number;
      if (done[i] !== 0) continue;
      done[i] = 1;
      if (i === n) continue;
      const s = base + i;
      const c = p.charCodeAt(i);
      if (c === STAR) {
        let j = i;
        while (j < n && (p.charCodeAt(j) === STAR || p.charCodeAt(j) === QUESTION)) j++;
        if (p.charCodeAt(j) === BACKSLASH && p.charCodeAt(j + 1) === SLASH) continue; // glibc: `*\/` never matches
        this.kind[s] = K_STAR;
        this.next[s] = s + 1;
        todo.push(i + 1);
      } else if (c === QUESTION) {
        this.kind[s] = K_NOT_SLASH;
        this.next[s] = s + 1;
        todo.push(i + 1);
      } else if (c === BACKSLASH) {
        if (i + 1 >= n) continue; // "Trailing \ loses."
        this.kind[s] = K_BYTE;
        this.arg[s] = p.charCodeAt(i + 1);
        this.next[s] = s + 2;
        todo.push(i + 2);
      } else if (c === LBRACKET) {
        const targets = bracketTargets(p, i);
        const row = new Int32Array(256).fill(-1);
        let any = false;
        for (let b = 0; b < 256; b++) {
          const t = targets[b];
          if (t < 0) continue;
          row[b] = base + t;
          any = true;
          if (done[t] === 0) todo.push(t);
        }
        if (!any) continue;
        this.kind[s] = K_TABLE;
        this.arg[s] = this.tables.length;
        this.tables.push(row);
      } else {
        this.kind[s] = K_BYTE;
        this.arg[s] = c;
        this.next[s] = s + 1;
        todo.push(i + 1);
      }
    }
  }

  private grow(size: number): void {
    if (size <= this.kind.length) return;
    const cap = Math.max(size, this.kind.length * 2);
    const kind = new Uint8Array(cap);
    kind.set(this.kind);
    const arg = new Int32Array(cap);
    arg.set(this.arg);
    const next = new Int32Array(cap);
    next.set(this.next);
    this.kind = kind;
    this.arg = arg;
    this.next = next;
  }
}

const UNKNOWN = -1;
const DEAD = 0;

/**
 * A set of fnmatch(FNM_PATHNAME) patterns, compiled into one lazily built DFA over bytes. `test()` is
 * true when any pattern matches the whole byte string.
 */
export class GlobAutomaton {
  private readonly nfa: Nfa;
  /** Scratch: NFA state → generation stamp (set membership while computing a transition). */
  private readonly mark: Uint32Array;
  private stamp = 0;
  private readonly scratch: Int32Array;
  // The DFA cache: per state, its NFA state set, whether it accepts, and 256 transitions.
  private sets: Int32Array[] = [];
  private accepting = new Uint8Array(64);
  private trans = new Int32Array(64 * 256).fill(UNKNOWN);
  private byKey = new Map<number, number[]>();
  private cachedIds = 0;
  private startState = DEAD;
  private startSet: Int32Array;
  /** Times the DFA cache was emptied (tests, diagnostics). */
  cacheResets = 0;

  private readonly maxDfaStates: number;

  /** `maxDfaStates` bounds the DFA cache (tests use a small one to exercise its resets). */
  constructor(patterns: readonly string[], opts: { maxDfaStates?: number } = {}) {
    this.maxDfaStates = Math.max(4, Math.min(opts.maxDfaStates ?? MAX_DFA_STATES, MAX_DFA_STATES));
    let total = 0;
    for (const p of patterns) total += p.length + 1;
    this.nfa = new Nfa(Math.min(Math.max(total, 16), MAX_NFA_STATES));
    for (const p of patterns) this.nfa.add(p);
    this.mark = new Uint32Array(this.nfa.count);
    this.scratch = new Int32Array(this.nfa.count);
    // The start set: every pattern's first position, with ε-moves (runs of `*`) followed.
    let k = 0;
    this.nextStamp();
    for (const s of this.nfa.starts) k = this.addClosure(s, k);
    this.startSet = this.scratch.slice(0, k).sort();
    this.resetCache();
  }

  /** True when some pattern fnmatch()es the byte string `s` (chars above 0xff never match). */
  test(s: string): boolean {
    let d = this.startState;
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0xff) return false;
      let t = this.trans[(d << 8) | c];
      if (t === UNKNOWN) t = this.step(d, c);
      if (t === DEAD) return false;
      d = t;
    }
    return this.accepting[d] !== 0;
  }

  /** test() over the bytes buf[0..len), without a string (the permission verdict's path). */
  testBytes(buf: Uint8Array, len: number): boolean {
    let d = this.startState;
    for (let i = 0; i < len; i++) {
      const c = buf[i];
      let t = this.trans[(d << 8) | c];
      if (t === UNKNOWN) t = this.step(d, c);
      if (t === DEAD) return false;
      d = t;
    }
    return this.accepting[d] !== 0;
  }

  /** Computes (and caches) the transition of DFA state d on byte c. */
  private step(d: number, c: number): number {
    const from = this.sets[d];
    const nfa = this.nfa;
    const kind = nfa.kind;
    this.nextStamp();
    let k = 0;
    for (let i = 0; i < from.length; i++) {
      const s = from[i];
      switch (kind[s]) {
        case K_BYTE:
          if (nfa.arg[s] === c) k = this.addClosure(nfa.next[s], k);
          break;
        case K_NOT_SLASH:
          if (c !== SLASH) k = this.addClosure(nfa.next[s], k);
          break;
        case K_STAR:
          if (c !== SLASH) k = this.addClosure(s, k);
          break;
        case K_TABLE: {
          const t = nfa.tables[nfa.arg[s]][c];
          if (t >= 0) k = this.addClosure(t, k);
          break;
        }
      }
    }
    if (k === 0) {
      this.trans[(d << 8) | c] = DEAD;
      return DEAD;
    }
    const set = this.scratch.slice(0, k).sort();
    let t = this.lookup(set);
    if (t < 0) {
      if (this.sets.length >= this.maxDfaStates || this.cachedIds + set.length > MAX_CACHED_IDS) {
        // Full: start over. The state being left is not needed any more (the caller only keeps t).
        this.resetCache();
        t = this.lookup(set);
        if (t >= 0) return t;
        return this.intern(set);
      }
      t = this.intern(set);
    }
    this.trans[(d << 8) | c] = t;
    return t;
  }

  private nextStamp(): void {
    if (++this.stamp === 0xffffffff) {
      this.mark.fill(0);
      this.stamp = 1;
    }
  }

  /** Adds NFA state s and what it reaches by ε-moves to scratch[k...]; returns the new k. */
  private addClosure(s: number, k: number): number {
    const nfa = this.nfa;
    for (;;) {
      if (this.mark[s] === this.stamp) return k;
      this.mark[s] = this.stamp;
      const kind = nfa.kind[s];
      if (kind === K_DEAD) return k;
      this.scratch[k++] = s;
      if (kind !== K_STAR) return k;
      s = nfa.next[s];
    }
  }

  private static hash(set: Int32Array): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < set.length; i++) h = Math.imul(h ^ set[i], 0x01000193);
    return h >>> 0;
  }

  private lookup(set: Int32Array): number {
    const bucket = this.byKey.get(GlobAutomaton.hash(set));
    if (bucket === undefined) return -1;
    for (const id of bucket) {
      const other = this.sets[id];
      if (other.length !== set.length) continue;
      let same = true;
      for (let i = 0; i < set.length; i++) {
        if (other[i] !== set[i]) {
          same = false;
          break;
        }
      }
      if (same) return id;
    }
    return -1;
  }

  private intern(set: Int32Array): number {
    const id = this.sets.length;
    this.sets.push(set);
    this.cachedIds += set.length;
    if (id >= this.accepting.length) {
      const accepting = new Uint8Array(this.accepting.length * 2);
      accepting.set(this.accepting);
      this.accepting = accepting;
      const trans = new Int32Array(this.trans.length * 2).fill(UNKNOWN);
      trans.set(this.trans);
      this.trans = trans;
    }
    let acc = 0;
    for (let i = 0; i < set.length; i++) {
      if (this.nfa.kind[set[i]] === K_ACCEPT) {
        acc = 1;
        break;
      }
    }
    this.accepting[id] = acc;
    const h = GlobAutomaton.hash(set);
    const bucket = this.byKey.get(h);
    if (bucket === undefined) this.byKey.set(h, [id]);
    else bucket.push(id);
    return id;
  }

  /** Empties the DFA cache: state 0 is the dead state, then the start state. */
  private resetCache(): void {
    if (this.sets.length > 0) this.cacheResets++;
    this.sets = [];
    this.byKey = new Map();
    this.cachedIds = 0;
    this.trans.fill(UNKNOWN);
    this.intern(new Int32Array(0));
    this.trans.fill(DEAD, 0, 256);
    this.startState = this.intern(this.startSet);
  }
}
