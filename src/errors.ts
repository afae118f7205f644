// Turning thrown Node/Bun system errors into text a user can act on. One place, used everywhere
// (ffi/libc.ts strerror() is the kernel-side errno's text, for calls made through bun:ffi).
import os from "node:os";
import util from "node:util";

/** The errno name of a system error ("ENOENT"), or undefined. */
export function errCode(e: unknown): string | undefined {
  if (typeof e === "object" && e !== null && "code" in e) {
    const code = (e as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** The message of anything thrown. */
export function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** "no such file or directory (ENOENT)" for a system error; the message otherwise. */
export function errReason(e: unknown): string {
  const code = errCode(e);
  if (code !== undefined) {
    const errno = (os.constants.errno as Readonly<Record<string, number | undefined>>)[code];
    if (errno !== undefined) return `${util.getSystemErrorMessage(-errno).toLowerCase()} (${code})`;
  }
  const msg = errText(e);
  const m = /^([A-Z0-9]+): (.*?)(?:, \w+(?: '.*')?)?$/s.exec(msg);
  return m !== null ? `${m[2]} (${m[1]})` : msg;
}

const ERRNO_TEXT: Readonly<Partial<Record<string, string>>> = {
  ENOENT: "No such file or directory",
  EACCES: "Permission denied",
  EPERM: "Operation not permitted",
  ENOTDIR: "Not a directory",
  EISDIR: "Is a directory",
  ELOOP: "Too many levels of symbolic links",
  ENAMETOOLONG: "File name too long",
  EIO: "Input/output error",
  EINVAL: "Invalid argument",
  ENOMEM: "Cannot allocate memory",
  EMFILE: "Too many open files",
  ENFILE: "Too many open files in system",
};

/** strerror(3)-like text for a Node/Bun fs error. */
export function describeFsError(err: unknown): string {
  const code = errCode(err);
  if (code !== undefined) return ERRNO_TEXT[code] ?? code;
  if (typeof err === "object" && err !== null) {
    const message = (err as { message?: unknown }).message;
    if (typeof message === "string") return message;
  }
  return String(err);
}
