// The `events` string of an event record (behavior.md A8) and the decimal `mask` field (A7).
//
// A 64-bit fanotify mask travels as two unsigned 32-bit halves (FsEvent.maskLo / maskHi). Every named
// bit lives in the low half. The same handful of masks repeats millions of times, so results for
// masks with an empty high half are cached (bounded map keyed on the low half).

/** The fixed name table, ascending bit order (A8). */
export const MASK_NAME_TABLE: ReadonlyArray<readonly [bit: number, name: string]> = [
  [0x1, "ACCESS"],
  [0x2, "MODIFY"],
  [0x4, "ATTRIB"],
  [0x8, "CLOSE_WRITE"],
  [0x10, "CLOSE_NOWRITE"],
  [0x20, "OPEN"],
  [0x40, "MOVED_FROM"],
  [0x80, "MOVED_TO"],
  [0x100, "CREATE"],
  [0x200, "DELETE"],
  [0x400, "DELETE_SELF"],
  [0x800, "MOVE_SELF"],
  [0x1000, "OPEN_EXEC"],
  [0x4000, "Q_OVERFLOW"],
  [0x8000, "FS_ERROR"],
  [0x10000, "OPEN_PERM"],
  [0x20000, "ACCESS_PERM"],
  [0x40000, "OPEN_EXEC_PERM"],
  [0x10000000, "RENAME"],
  [0x40000000, "ONDIR"],
];

/** OR of every named bit (all in the low 32 bits). */
const KNOWN_LO = MASK_NAME_TABLE.reduce((acc, [bit]) => (acc | bit) >>> 0, 0);

/** Bound on cached distinct masks; unknown bits could otherwise make the cache grow without limit. */
const CACHE_MAX = 4096;
const namesCache = new Map<number, string>();
const decimalCache = new Map<number, string>();

function computeNames(lo: number, hi: number): string {
  let out = "";
  for (let i = 0; i < MASK_NAME_TABLE.length; i++) {
    const entry = MASK_NAME_TABLE[i];
    if ((lo & entry[0]) !== 0) out = out === "" ? entry[1] : out + "," + entry[1];
  }
  const restLo = (lo & ~KNOWN_LO) >>> 0;
  if (restLo !== 0 || hi !== 0) {
    const hex =
      hi !== 0 ? hi.toString(16) + restLo.toString(16).padStart(8, "0") : restLo.toString(16);
    out = out === "" ? "0x" + hex : out + ",0x" + hex;
  }
  return out;
}

/**
 * Names of the set bits of the 64-bit mask `hi:lo`, comma-joined in ascending bit order; all bits
 * outside the table are OR-ed into one final `0x<lowercase hex>` token. Mask 0 → "".
 */
export function maskNames(lo: number, hi: number): string {
  lo >>>= 0;
  hi >>>= 0;
  if (hi !== 0) return computeNames(lo, hi);
  const hit = namesCache.get(lo);
  if (hit !== undefined) return hit;
  const s = computeNames(lo, 0);
  if (namesCache.size >= CACHE_MAX) namesCache.clear();
  namesCache.set(lo, s);
  return s;
}

const TWO_32 = 4294967296;
/** Masks below 2^53 (high half < 2^21) are exact as a JSON number. */
export const EXACT_HI_LIMIT = 0x200000;

/** Exact unsigned decimal of the 64-bit mask `hi:lo`. */
export function maskDecimal(lo: number, hi: number): string {
  lo >>>= 0;
  hi >>>= 0;
  if (hi === 0) {
    const hit = decimalCache.get(lo);
    if (hit !== undefined) return hit;
    const s = String(lo);
    if (decimalCache.size >= CACHE_MAX) decimalCache.clear();
    decimalCache.set(lo, s);
    return s;
  }
  // Exact as a double below 2^53 (hi < 2^21); beyond that go through BigInt.
  if (hi < 0x200000) return String(hi * TWO_32 + lo);
  return ((BigInt(hi) << 32n) | BigInt(lo)).toString();
}
