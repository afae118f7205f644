// The reader's permission verdict as the tests call it: a path as text, handed over as readlink's
// bytes (placeholders such as "<fd:3>" as no path at all).
import type { PermissionPolicy } from "../../src/policy/permission.ts";

export function verdict(p: PermissionPolicy, mask: number, pid: number, path: string, now: number, keyOf?: (pid: number) => number) {
  const b = Buffer.from(path, "latin1");
  return p.decide(mask, pid, b, path.startsWith("<") ? -1 : b.length, now, keyOf);
}
