// The program's arguments, decoded losslessly (src/bytes.ts): Bun's process.argv turns bytes that are
// not UTF-8 into U+FFFD, which would make `--canary $'/m/caf\xe9'` a different pattern (a canary
// bypass, issue 14 item 9). The raw bytes are in /proc/self/cmdline; a daemonizing parent hands them
// to its child in DAEMON_ARGV_ENV, since spawning re-encodes arguments as UTF-8 too.

import { readFileSync } from "node:fs";
import { decodeLossless, splitNulTerminated, toByteString } from "../bytes.ts";

/** Environment variable carrying the arguments (hex of the NUL-joined bytes) to a daemon child. */
export const DAEMON_ARGV_ENV = "FANOTIFYD_ARGV_HEX";

/**
 * process.argv.slice(2), each argument decoded losslessly from the bytes it was given as. Falls back to
 * process.argv when /proc/self/cmdline cannot be read or does not line up with it.
 */
export function programArgs(daemonChild: boolean): string[] {
  const given = process.argv.slice(2);
  const fromEnv = process.env[DAEMON_ARGV_ENV];
  // Never passed on (hooks inherit the environment, and may run fanotifyd themselves).
  delete process.env[DAEMON_ARGV_ENV];
  if (daemonChild && fromEnv !== undefined) {
    const args = Buffer.from(fromEnv, "hex").toString("latin1").split("\0");
    args.pop(); // each argument ends in NUL
    return args.map((a) => decodeLossless(Buffer.from(a, "latin1")));
  }
  let raw: Buffer;
  try {
    raw = readFileSync("/proc/self/cmdline");
  } catch {
    return given;
  }
  const parts = splitNulTerminated(raw);
  if (parts.length < given.length) return given;
  const tail = parts.slice(parts.length - given.length);
  // Each raw argument must be the one Bun decoded (lossily) into process.argv.
  for (let i = 0; i < given.length; i++) if (tail[i].toString("utf8") !== given[i]) return given;
  return tail.map((b) => decodeLossless(b));
}

/** The value of DAEMON_ARGV_ENV for `args` (as returned by programArgs). */
export function encodeArgsForChild(args: readonly string[]): string {
  return Buffer.from(args.map((a) => `${toByteString(a)}\0`).join(""), "latin1").toString("hex");
}
