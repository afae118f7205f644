// Paths, names, comm and exe travel through the daemon as "byte strings": one JS char per byte
// (latin1), so invalid UTF-8 in file names reaches the JSONL output unchanged (behavior.md A7).

/** Text typed by a user (argv, config file) → the byte string of its UTF-8 encoding. */
export function toByteString(text: string): string {
  // Pure ASCII is already its own byte string.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(text)) return text;
  return Buffer.from(text, "utf8").toString("latin1");
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
