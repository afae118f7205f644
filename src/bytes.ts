// Paths, names, comm and exe travel through the daemon as "byte strings": one JS char per byte
// (latin1), so invalid UTF-8 in file names reaches the JSONL output unchanged (behavior.md A7).
//
// Text typed by a user (argv, a config file) may hold bytes that are not UTF-8 (`canary /m/caf\xe9`).
// It is decoded losslessly (decodeLossless): valid UTF-8 becomes its characters and every byte of an
// invalid sequence becomes one lone surrogate U+DC80..U+DCFF (Python's "surrogateescape"), which no
// valid UTF-8 can produce; toByteString() maps those back to the original bytes.

const LOW_ESCAPE = 0xdc00;
const STRICT_UTF8 = new TextDecoder("utf-8", { fatal: true });

/** Text typed by a user (argv, config file) → the byte string it came from (UTF-8, escapes undone). */
export function toByteString(text: string): string {
  // Pure ASCII is already its own byte string.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  if (!/[\udc80-\udcff]/.test(text)) return Buffer.from(text, "utf8").toString("latin1");
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc80 || c > 0xdcff) continue;
    const prev = i > 0 ? text.charCodeAt(i - 1) : 0;
    if (prev >= 0xd800 && prev <= 0xdbff) continue; // the second half of a surrogate pair
    out += Buffer.from(text.slice(from, i), "utf8").toString("latin1") + String.fromCharCode(c - LOW_ESCAPE);
    from = i + 1;
  }
  return out + Buffer.from(text.slice(from), "utf8").toString("latin1");
}

/** A path typed by a user, as the argument of a node:fs call: its original bytes, not its UTF-8 re-encoding. */
export function fsPath(text: string): Buffer {
  return Buffer.from(toByteString(text), "latin1");
}

/** Bytes from argv or a config file → text, losslessly (see above; toByteString reverses it). */
export function decodeLossless(bytes: Uint8Array): string {
  try {
    return STRICT_UTF8.decode(bytes);
  } catch {
    // Some sequence is not UTF-8: decode piece by piece.
  }
  let out = "";
  let i = 0;
  const n = bytes.length;
  while (i < n) {
    const len = utf8SequenceLength(bytes, i);
    if (len > 0) {
      out += STRICT_UTF8.decode(bytes.subarray(i, i + len));
      i += len;
    } else {
      out += String.fromCharCode(LOW_ESCAPE + bytes[i]);
      i++;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at bytes[i], or 0 when there is none (RFC 3629). */
function utf8SequenceLength(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0; // no UTF-16 surrogates
  if (c >= 0xe1 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** A byte string → readable text (for logs and hook environments). Invalid UTF-8 becomes U+FFFD. */
export function fromByteString(bytes: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(bytes)) return bytes;
  return Buffer.from(bytes, "latin1").toString("utf8");
}

/** True when `a` equals buf[off, off + len). */
export function bytesEqualAt(a: Uint8Array, buf: Uint8Array, off: number, len: number): boolean {
  if (a.length !== len) return false;
  for (let i = 0; i < len; i++) if (a[i] !== buf[off + i]) return false;
  return true;
}

/** The NUL-terminated strings of `raw` (e.g. /proc/self/cmdline or environ), as views into it. */
export function splitNulTerminated(raw: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let from = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] !== 0) continue;
    parts.push(raw.subarray(from, i));
    from = i + 1;
  }
  return parts;
}
