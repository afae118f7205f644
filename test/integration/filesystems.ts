// Real filesystems for the integration tests (issue: every filesystem, every mark): each one is built
// inside a private tmpfs from makeTmpfs(), so the harness's safety check (marks only below our own
// tmpfs mounts) still holds, and is unmounted by cleanupAll() before that tmpfs.
import { mkdirSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { makeTmpfs, trackInnerMount } from "./harness.ts";

export const FILESYSTEMS = ["tmpfs", "ext4", "xfs", "btrfs", "overlay", "ramfs", "fuse"] as const;
export type FsKind = (typeof FILESYSTEMS)[number];

export interface TestFs {
  /** The mount point to mark (a real path). */
  readonly dir: string;
  /** mountinfo's type name, as the daemon's plan line prints it. */
  readonly fsType: string;
}

function sh(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed (${r.exitCode}): ${r.stderr.toString().trim()}`);
}

/** What a filesystem kind needs that a fresh machine may lack (`.ci/run` installs it). */
const TOOL: Partial<Record<FsKind, string>> = { ext4: "mkfs.ext4", xfs: "mkfs.xfs", btrfs: "mkfs.btrfs", fuse: "bindfs" };

/** Null when everything a kind needs is installed, else the missing program. */
export function missingTool(kind: FsKind): string | null {
  const tool = TOOL[kind];
  if (tool === undefined) return null;
  return Bun.which(tool, { PATH: `${process.env.PATH ?? ""}:/usr/sbin:/sbin` }) === null ? tool : null;
}

/** Builds a fresh filesystem of `kind` inside a new private tmpfs and mounts it. */
export function makeFs(kind: FsKind): TestFs {
  // xfs needs a 300 MiB image; the image is sparse, so the tmpfs only holds what is written.
  const base = makeTmpfs(kind === "xfs" || kind === "btrfs" ? 512 : 96);
  const mnt = join(base.dir, "mnt");
  mkdirSync(mnt);
  switch (kind) {
    case "tmpfs":
      sh(["mount", "-t", "tmpfs", "-o", "size=32m", "tmpfs", mnt]);
      break;
    case "ramfs":
      sh(["mount", "-t", "ramfs", "ramfs", mnt]);
      break;
    case "ext4":
    case "xfs":
    case "btrfs": {
      const img = join(base.dir, `${kind}.img`);
      sh(["truncate", "-s", kind === "ext4" ? "64M" : "320M", img]);
      const mkfs = kind === "ext4" ? ["mkfs.ext4", "-q", "-F", img] : kind === "xfs" ? ["mkfs.xfs", "-q", "-f", img] : ["mkfs.btrfs", "-q", "-f", img];
      sh(mkfs);
      sh(["mount", "-o", "loop", img, mnt]);
      break;
    }
    case "overlay": {
      for (const d of ["lower", "upper", "work"]) mkdirSync(join(base.dir, d));
      mkdirSync(join(base.dir, "lower", "from-image"));
      const opts = `lowerdir=${base.dir}/lower,upperdir=${base.dir}/upper,workdir=${base.dir}/work`;
      sh(["mount", "-t", "overlay", "overlay", "-o", opts, mnt]);
      break;
    }
    case "fuse": {
      const src = join(base.dir, "src");
      mkdirSync(src);
      sh(["bindfs", src, mnt]);
      break;
    }
  }
  trackInnerMount(mnt);
  const fsType = kind === "fuse" ? "fuse.bindfs" : kind;
  return { dir: realpathSync(mnt), fsType };
}
