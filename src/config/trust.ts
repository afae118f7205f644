// A config file may run `hook` commands as root (at start and at every SIGHUP), so, like sshd and
// sudo, the daemon refuses one that someone else could have written (issue 14 item 3): the file and
// the directory holding it must belong to root or to the daemon's user and must not be writable by
// group or others. The file is checked through the opened fd, so what is checked is what is read.
import { decodeLossless } from "../bytes.ts";
import fs from "node:fs";
import { dirname } from "node:path";
import { daemonUid, trustedOwner } from "../lifecycle/safe-path.ts";

function octal(mode: number): string {
  return "0" + (mode & 0o7777).toString(8).padStart(3, "0");
}

/** Why a config file or its directory with these stats is not trusted; null when it is. */
export function untrustedReason(st: fs.Stats, what: "file" | "directory"): string | null {
  if (!trustedOwner(st.uid)) {
    return `${what} owned by uid ${st.uid}, not by root or the daemon's user (uid ${daemonUid()})`;
  }
  if ((st.mode & 0o022) !== 0) {
    return `${what} mode ${octal(st.mode)} lets group or others write it (chmod go-w)`;
  }
  return null;
}

/**
 * Reads a config file after checking that it and its directory are trusted. `shown` names the
 * file in messages. Throws Error("<reason>") for an untrusted file; fs errors pass through.
 */
export function readTrustedConfig(absPath: string, shown: string): string {
  const fd = fs.openSync(absPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    const st = fs.fstatSync(fd);
    const own = untrustedReason(st, "file");
    if (own !== null) throw new UntrustedConfigError(`refusing '${shown}': ${own}`);
    // The directory that holds the file itself (after symlinks): whoever can write it can swap the file.
    const dir = dirname(fs.realpathSync(absPath));
    const dst = fs.statSync(dir);
    const parent = untrustedReason(dst, "directory");
    if (parent !== null) throw new UntrustedConfigError(`refusing '${shown}': ${parent.replace("directory", `directory '${dir}'`)}`);
    // Lossless: a value may hold bytes that are not UTF-8 (src/bytes.ts).
    return decodeLossless(fs.readFileSync(fd));
  } finally {
    fs.closeSync(fd);
  }
}

export class UntrustedConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UntrustedConfigError";
  }
}
