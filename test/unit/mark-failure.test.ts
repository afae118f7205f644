// The one-line reason for a refused mark (groups.ts markFailure): the hint names what would work.
import { describe, expect, test } from "bun:test";
import * as K from "../../ffi/constants.ts";
import { markFailure } from "../../src/reader/groups.ts";

describe("markFailure", () => {
  test("EINVAL: per mark type, an alternative that exists (an inode mark has none: pseudo filesystems)", () => {
    const msg = (type: "inode" | "mount" | "filesystem") => markFailure({ type, path: "/p" }, K.EINVAL, "fd").message;
    expect(msg("filesystem")).toContain("refuses filesystem marks; use --mount or --watch");
    expect(msg("mount")).toContain("refuses mount marks; use --watch or --filesystem");
    expect(msg("inode")).toContain("refuses fanotify marks, as pseudo filesystems such as /proc and /sys do");
    expect(msg("inode")).not.toContain("use --watch");
    expect(msg("inode")).toMatch(/^cannot place inode mark on '\/p': Invalid argument \(/);
  });

  test("other codes keep their hints", () => {
    expect(markFailure({ type: "inode", path: "/p" }, K.ENOENT, "fid").message).toContain("the path does not exist");
    expect(markFailure({ type: "mount", path: "/p" }, K.EOPNOTSUPP, "fid").message).toContain("use --no-fid");
  });
});
