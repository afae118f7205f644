// Keeps a filesystem mark's events to what the marks on that filesystem asked for (behavior.md B17):
// a `--mount` served by a FID filesystem mark reports only what lies in the mount's tree, unless the
// mount shows the whole filesystem or a `--filesystem` mark asks for all of it. Per-event cost is one
// map lookup on a filesystem that needs it and nothing elsewhere (`active` is false).

/** What one mark wants of its filesystem. */
export type Want =
  | { readonly kind: "all" }
  /** The tree below a path (a mount showing part of its filesystem). */
  | { readonly kind: "tree"; readonly path: string }
  /** A watched directory and its direct children, or a watched file (an inode mark). */
  | { readonly kind: "shallow"; readonly path: string };

interface Scope {
  all: number;
  readonly trees: Uint8Array[];
  readonly shallow: Uint8Array[];
  /** A filesystem mark serves this filesystem (only then can unwanted events arrive). */
  fsMarks: number;
}

export class ScopeFilter {
  private readonly scopes = new Map<string, Scope>();
  /** True when some filesystem's events must be checked. */
  active = false;

  private scope(fsid: string): Scope {
    let s = this.scopes.get(fsid);
    if (s === undefined) {
      s = { all: 0, trees: [], shallow: [], fsMarks: 0 };
      this.scopes.set(fsid, s);
    }
    return s;
  }

  /** `fsMark`: the want is served by a filesystem mark. Paths are byte strings. */
  add(fsid: string, want: Want, fsMark: boolean): void {
    const s = this.scope(fsid);
    if (fsMark) s.fsMarks++;
    if (want.kind === "all") s.all++;
    else (want.kind === "tree" ? s.trees : s.shallow).push(Buffer.from(want.path, "latin1"));
    this.refresh();
  }

  remove(fsid: string, want: Want, fsMark: boolean): void {
    const s = this.scopes.get(fsid);
    if (s === undefined) return;
    if (fsMark) s.fsMarks--;
    if (want.kind === "all") s.all--;
    else {
      const list = want.kind === "tree" ? s.trees : s.shallow;
      const i = list.findIndex((p) => Buffer.from(p).toString("latin1") === want.path);
      if (i >= 0) list.splice(i, 1);
    }
    this.refresh();
  }

  /** Marks on `fsid` that use its filesystem mark. */
  fsMarkUsers(fsid: string): number {
    return this.scopes.get(fsid)?.fsMarks ?? 0;
  }

  private refresh(): void {
    this.active = false;
    for (const s of this.scopes.values()) if (s.fsMarks > 0 && s.all === 0) this.active = true;
  }

  /** Whether an event on `fsid` at path buf[0, len) is wanted. */
  allows(fsid: string, buf: Uint8Array, len: number): boolean {
    const s = this.scopes.get(fsid);
    if (s === undefined || s.fsMarks === 0 || s.all > 0) return true;
    for (const root of s.trees) if (under(buf, len, root)) return true;
    for (const dir of s.shallow) if (shallowUnder(buf, len, dir)) return true;
    return false;
  }
}

function prefixed(buf: Uint8Array, len: number, root: Uint8Array): boolean {
  if (len < root.length) return false;
  for (let i = 0; i < root.length; i++) if (buf[i] !== root[i]) return false;
  return true;
}

/** buf is root or lies below it. */
function under(buf: Uint8Array, len: number, root: Uint8Array): boolean {
  if (root.length === 1 && root[0] === 0x2f) return true;
  return prefixed(buf, len, root) && (len === root.length || buf[root.length] === 0x2f);
}

/** buf is dir or a direct child of it. */
function shallowUnder(buf: Uint8Array, len: number, dir: Uint8Array): boolean {
  if (!under(buf, len, dir)) return false;
  for (let i = dir.length + 1; i < len; i++) if (buf[i] === 0x2f) return false;
  return true;
}
