// The per-mark planner, mountinfo parsing, the scope filter and the handle table (behavior.md B17).
import { describe, expect, test } from "bun:test";
import * as K from "../../ffi/constants.ts";
import { HandleTable } from "../../src/reader/handle-table.ts";
import { describePlan, FID_DIR_MASK, isFallbackErrno, markSteps, NEVER_OPEN_HANDLES, predictedRefusal, UNOPENABLE_HANDLES } from "../../src/reader/mark-plan.ts";
import { mountOf, mountPointsBelow, parseMountinfo } from "../../src/reader/mountinfo.ts";
import { ScopeFilter } from "../../src/reader/scope.ts";

describe("markSteps", () => {
  test("FID --mount and --filesystem: a filesystem mark first, inode marks on the tree as the fallback", () => {
    for (const type of ["mount", "filesystem"] as const) {
      const steps = markSteps("fid", type, true);
      expect(steps.map((s) => s.mechanism)).toEqual([type === "mount" ? "fid-filesystem-scoped" : "fid-filesystem", "fid-inode-tree"]);
      expect(steps[0].flags & K.FAN_MARK_FILESYSTEM).toBe(K.FAN_MARK_FILESYSTEM);
      expect(steps[1].flags & (K.FAN_MARK_FILESYSTEM | K.FAN_MARK_MOUNT)).toBe(0);
      for (const s of steps) expect(s.mask).toBe(0x58000fee); // behavior.md A4's observe-FID mask
    }
  });

  test("FID --watch: one inode mark; a file gets no directory-entry events (ENOTDIR otherwise)", () => {
    expect(markSteps("fid", "inode", true)).toEqual([{ mechanism: "fid-inode", flags: K.FAN_MARK_ADD, mask: FID_DIR_MASK }]);
    const file = markSteps("fid", "inode", false)[0];
    expect(file.mask & (K.FAN_CREATE | K.FAN_DELETE | K.FAN_EVENT_ON_CHILD)).toBe(0);
    expect(file.mask & K.FAN_DELETE_SELF).toBe(K.FAN_DELETE_SELF);
  });

  test("FD mode (--no-fid): the mark type as given, file events only (A4 0x4800002a)", () => {
    expect(markSteps("fd", "mount", true)).toEqual([{ mechanism: "fd", flags: K.FAN_MARK_ADD | K.FAN_MARK_MOUNT, mask: 0x4800002a }]);
    expect(markSteps("fd", "filesystem", true)[0].flags).toBe(K.FAN_MARK_ADD | K.FAN_MARK_FILESYSTEM);
  });

  test("which kernel answers fall back to the next mechanism", () => {
    for (const e of [K.EOPNOTSUPP, K.ENODEV, K.EXDEV, K.EINVAL]) expect(isFallbackErrno(e)).toBe(true);
    for (const e of [K.ENOENT, K.EPERM, K.ENOSPC, K.EACCES]) expect(isFallbackErrno(e)).toBe(false);
  });

  test("predicted refusals by filesystem type (measured on 6.18)", () => {
    const [fs] = markSteps("fid", "mount", true);
    expect(predictedRefusal(fs, K.OVERLAYFS_SUPER_MAGIC)).toBe("Operation not supported");
    expect(predictedRefusal(fs, K.RAMFS_MAGIC)).toBe("Operation not supported");
    expect(predictedRefusal(fs, K.FUSE_SUPER_MAGIC)).toBe("No such device");
    for (const m of [K.TMPFS_MAGIC, K.EXT4_SUPER_MAGIC, K.XFS_SUPER_MAGIC, K.BTRFS_SUPER_MAGIC]) expect(predictedRefusal(fs, m)).toBeNull();
  });

  test("the plan line names the mechanism, what it delivers and what it cannot", () => {
    const tree = describePlan("mount", "/c/root", { mechanism: "fid-inode-tree", isDir: true, fsType: "overlay", handlesOpen: false, dirs: 12, fallback: "FID filesystem mark refused: Operation not supported" });
    expect(tree).toContain("mount mark on /c/root (overlay): FID inode marks on 12 directories");
    expect(tree).toContain("refused: Operation not supported");
    expect(tree).toContain("daemon's directory map");
    expect(tree).toContain("cannot deliver MOVE_SELF, DELETE_SELF of files");
    const fd = describePlan("mount", "/m", { mechanism: "fd", isDir: true, fsType: "tmpfs", handlesOpen: true });
    expect(fd).toContain("cannot deliver CREATE");
    const scoped = describePlan("mount", "/v", { mechanism: "fid-filesystem-scoped", isDir: true, fsType: "ext4", handlesOpen: true, scoped: true });
    expect(scoped).toContain("events outside the mount's tree are dropped");
    const fuse = describePlan("inode", "/f", { mechanism: "fid-inode", isDir: true, fsType: "fuse.bindfs", handlesOpen: false });
    expect(fuse).toContain("daemon's directory map (fuse.bindfs file handles are not opened: that would send the FUSE server lookups it may not survive)");
  });

  test("FUSE handles are never opened; overlayfs and ramfs handles cannot be", () => {
    expect(NEVER_OPEN_HANDLES.has(K.FUSE_SUPER_MAGIC)).toBe(true);
    expect([...UNOPENABLE_HANDLES].sort()).toEqual([K.OVERLAYFS_SUPER_MAGIC, K.RAMFS_MAGIC].sort());
    for (const m of [K.TMPFS_MAGIC, K.EXT4_SUPER_MAGIC, K.XFS_SUPER_MAGIC, K.BTRFS_SUPER_MAGIC]) {
      expect(NEVER_OPEN_HANDLES.has(m) || UNOPENABLE_HANDLES.has(m)).toBe(false);
    }
  });
});

describe("mountinfo", () => {
  const text = [
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
    "40 22 0:35 / /tmp/t rw shared:2 - tmpfs tmpfs rw",
    "41 40 0:36 / /tmp/t/o rw shared:3 - overlay overlay rw,lowerdir=/x",
    "42 40 0:35 /data/shown /tmp/t/with\\040space rw shared:2 - tmpfs tmpfs rw",
    "43 40 0:37 / /tmp/t/o/proc rw - proc proc rw",
    "garbage line",
  ].join("\n");
  const entries = parseMountinfo(text);

  test("parses root, mount point (octal escapes undone) and type; skips malformed lines", () => {
    expect(entries.length).toBe(5);
    expect(entries[3]).toEqual({ root: "/data/shown", mountPoint: "/tmp/t/with space", fsType: "tmpfs" });
  });

  test("mountOf: the longest mount point above a path", () => {
    expect(mountOf("/tmp/t/o/etc/passwd", entries).fsType).toBe("overlay");
    expect(mountOf("/tmp/t/other", entries).mountPoint).toBe("/tmp/t");
    expect(mountOf("/tmp/tt", entries).mountPoint).toBe("/");
    expect(mountOf("/tmp/t/with space/x", entries).root).toBe("/data/shown");
  });

  test("mountPointsBelow: submounts a tree walk must not enter", () => {
    expect([...mountPointsBelow("/tmp/t/o", entries)]).toEqual(["/tmp/t/o/proc"]);
    expect(mountPointsBelow("/tmp/t", entries).size).toBe(3);
  });
});

describe("ScopeFilter", () => {
  const bytes = (s: string): Uint8Array => Buffer.from(s, "latin1");
  const allows = (f: ScopeFilter, fsid: string, path: string): boolean => f.allows(fsid, bytes(path), path.length);

  test("inactive until a filesystem mark serves only part of its filesystem", () => {
    const f = new ScopeFilter();
    f.add("1:2", { kind: "all" }, true);
    expect(f.active).toBe(false);
    f.add("3:4", { kind: "tree", path: "/v" }, true);
    expect(f.active).toBe(true);
  });

  test("a mount's tree, a watched directory's children, and nothing else", () => {
    const f = new ScopeFilter();
    f.add("9:9", { kind: "tree", path: "/v/shown" }, true);
    f.add("9:9", { kind: "shallow", path: "/w" }, false);
    expect(allows(f, "9:9", "/v/shown")).toBe(true);
    expect(allows(f, "9:9", "/v/shown/a/b")).toBe(true);
    expect(allows(f, "9:9", "/v/shownot")).toBe(false);
    expect(allows(f, "9:9", "/w/child")).toBe(true);
    expect(allows(f, "9:9", "/w/.")).toBe(true);
    expect(allows(f, "9:9", "/w/sub/deeper")).toBe(false);
    expect(allows(f, "9:9", "/elsewhere")).toBe(false);
    expect(allows(f, "other", "/elsewhere")).toBe(true);
  });

  test("a --filesystem mark on the same filesystem lifts the filter; removing it restores it", () => {
    const f = new ScopeFilter();
    f.add("9:9", { kind: "tree", path: "/v" }, true);
    f.add("9:9", { kind: "all" }, true);
    expect(allows(f, "9:9", "/x")).toBe(true);
    expect(f.fsMarkUsers("9:9")).toBe(2);
    f.remove("9:9", { kind: "all" }, true);
    expect(allows(f, "9:9", "/x")).toBe(false);
    expect(f.fsMarkUsers("9:9")).toBe(1);
  });
});

describe("HandleTable", () => {
  const h = (...b: number[]): Uint8Array => new Uint8Array(b);
  const p = (s: string): Uint8Array => Buffer.from(s, "latin1");

  test("looks up by the handle's bytes inside a larger buffer", () => {
    const t = new HandleTable();
    t.set(h(8, 0, 0, 0, 1, 0, 0, 0, 0xaa, 0xbb), p("/a"));
    const buf = h(0xff, 0xff, 8, 0, 0, 0, 1, 0, 0, 0, 0xaa, 0xbb, 0xff);
    expect(Buffer.from(t.get(buf, 2, 10) ?? []).toString()).toBe("/a");
    expect(t.get(buf, 1, 10)).toBeNull();
    t.set(h(8, 0, 0, 0, 1, 0, 0, 0, 0xaa, 0xbb), p("/b"));
    expect(t.size).toBe(1);
    expect(Buffer.from(t.get(buf, 2, 10) ?? []).toString()).toBe("/b");
  });

  test("rewrite renames, keeps and drops entries", () => {
    const t = new HandleTable();
    for (let i = 0; i < 50; i++) t.set(h(i, i + 1), p(i % 2 === 0 ? `/even/${i}` : `/odd/${i}`));
    t.rewrite((path) => {
      const s = Buffer.from(path).toString();
      if (s.startsWith("/odd/")) return null;
      return p(s.replace("/even/", "/moved/"));
    });
    expect(t.size).toBe(25);
    expect(Buffer.from(t.get(h(4, 5), 0, 2) ?? []).toString()).toBe("/moved/4");
    expect(t.get(h(5, 6), 0, 2)).toBeNull();
  });
});

describe("previewPlan (fanotifyd check)", () => {
  test("a directory on this machine's temp filesystem gets a plan line; a missing path says why", async () => {
    const { previewPlan } = await import("../../src/reader/plan-preview.ts");
    const { tmpdir } = await import("node:os");
    const p = previewPlan("mount", tmpdir(), "fid");
    expect(p.mechanism === "fid-filesystem-scoped" || p.mechanism === "fid-inode-tree").toBe(true);
    expect(p.fsType).not.toBe("");
    expect(p.summary).toContain("delivers");
    expect(previewPlan("inode", tmpdir(), "fd").mechanism).toBe("fd");
    const missing = previewPlan("inode", "/nonexistent/fanotifyd-x", "fid");
    expect(missing.mechanism).toBeNull();
    expect(missing.summary).toContain("cannot be placed");
  });
});
