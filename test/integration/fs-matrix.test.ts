// Every filesystem, every mark (behavior.md B17): on tmpfs, ext4, xfs, btrfs, overlayfs, ramfs and FUSE,
// each of --watch DIR / --mount / --filesystem, in observe and permission mode, reports every event kind
// of a plain file and a directory with full paths and names, and raises the four canary alerts.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { FILESYSTEMS, makeFs, missingTool, type FsKind } from "./filesystems.ts";
import {
  cleanupAll,
  eventsOf,
  hasEvent,
  makeTmpfs,
  readJsonl,
  requireIntegration,
  run,
  startDaemon,
  waitForRecord,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();
/** CI (FANOTIFYD_REQUIRE_INTEGRATION=1) fails on a missing tool; elsewhere the cell passes with a note. */
const REQUIRED = process.env.FANOTIFYD_REQUIRE_INTEGRATION === "1";

type MarkKind = "watch" | "mount" | "filesystem";
const MARKS: readonly MarkKind[] = ["watch", "mount", "filesystem"];
/** Filesystems where no FID filesystem mark exists: the tree of inode marks serves --mount/--filesystem. */
const TREE_FS = new Set<FsKind>(["overlay", "ramfs", "fuse"]);
/**
 * Filesystems whose file handles cannot be opened (overlay, ramfs) or are never opened (FUSE: a
 * removed directory's handle crashed bindfs): the daemon's own directory map gives the paths.
 */
const OWN_MAP_FS = new Set<FsKind>(["overlay", "ramfs", "fuse"]);

function expectedPlan(fs: FsKind, mark: MarkKind): string {
  if (mark === "watch") return "FID inode mark";
  if (TREE_FS.has(fs)) return "FID inode marks on";
  return mark === "mount" ? "FID filesystem mark kept to the mount's tree" : "FID filesystem mark;";
}

describe.skipIf(!RUN)("filesystem matrix (B17)", () => {
  afterEach(cleanupAll);

  for (const kind of FILESYSTEMS) {
    for (const mark of MARKS) {
      for (const perm of [false, true]) {
        const name = `${kind} --${mark}${perm ? " --perm" : ""}: every event kind, full paths, four canary reasons`;
        test(name, async () => {
          const missing = missingTool(kind);
          if (missing !== null) {
            if (REQUIRED) throw new Error(`${missing} is not installed (.ci/run installs it)`);
            console.warn(`skipping ${kind}: ${missing} is not installed (apt-get install it, or run .ci/run)`);
            return;
          }
          const fs = makeFs(kind);
          const out = join(makeTmpfs().dir, "out.jsonl");
          // --watch sees the directory and its direct children; the tree marks see a deep directory.
          const D = mark === "watch" ? join(fs.dir, "w") : join(fs.dir, "deep", "er", "w");
          mkdirSync(D, { recursive: true });
          writeFileSync(join(D, "canary"), "bait\n");
          const markPath = mark === "watch" ? D : fs.dir;
          const d = await startDaemon([`--${mark}`, markPath, "--canary", `${D}/canary*`, "--hook-cooldown-ms", "0", "-o", out, ...(perm ? ["--perm"] : [])]);
          expect(d.stderr()).toContain(expectedPlan(kind, mark));
          if (OWN_MAP_FS.has(kind)) expect(d.stderr()).toContain("directory map");

          const P = join(D, "plain");
          const P2 = join(D, "plain2");
          const S = join(D, "sub");
          const S2 = join(D, "sub2");
          const C = join(D, "canary");
          // One process per step (and no cooldown), so one alert never hides another reason.
          await run(["sh", "-c", 'echo one > "$1"', "sh", P]);
          await run(["chmod", "600", P]);
          await run(["mv", P, P2]);
          await run(["rm", P2]);
          await run(["mkdir", S]);
          await waitForRecord(out, (r) => r.path === S && hasEvent(r, "CREATE"), 5000, { daemon: d });
          await run(["mv", S, S2]);
          await waitForRecord(out, (r) => r.path === S2 && hasEvent(r, "MOVED_TO"), 5000, { daemon: d });
          await run(["rmdir", S2]);
          await run(["cat", C]);
          await run(["sh", "-c", 'echo x >> "$1"', "sh", C]);
          await run(["mv", C, join(D, "canary.moved")]);
          await run(["rm", join(D, "canary.moved")]);

          const expected: Array<[string, string]> = [
            [P, "CREATE"],
            [P, "OPEN"],
            [P, "MODIFY"],
            [P, "CLOSE_WRITE"],
            [P, "ATTRIB"],
            [P2, "RENAME"],
            [P, "MOVED_FROM"],
            [P2, "MOVED_TO"],
            [P2, "DELETE"],
            [S, "CREATE"],
            [S, "MOVED_FROM"],
            [S2, "MOVED_TO"],
            [S2, "DELETE"],
          ];
          if (perm) expected.push([P, "OPEN_PERM"]);
          for (const [path, ev] of expected) {
            await waitForRecord(out, (r) => r.type === "event" && r.path === path && hasEvent(r, ev), 5000, { daemon: d });
          }
          for (const reason of ["canary opened", "canary modified", "canary renamed", "canary deleted"]) {
            await waitForRecord(out, (r) => r.type === "alert" && r.kind === "canary" && r.reason === reason, 5000, { daemon: d });
          }
          if (mark !== "watch") {
            // A tree mark also sees the sub-directory's own events (it is marked itself).
            await waitForRecord(out, (r) => r.is_dir === true && hasEvent(r, "MOVE_SELF"), 5000, { daemon: d });
            await waitForRecord(out, (r) => r.is_dir === true && hasEvent(r, "DELETE_SELF"), 5000, { daemon: d });
          }
          await stopClean(d);

          const events = readJsonl(out).filter((r): r is JsonRecord => r.type === "event");
          for (const r of events) {
            const path = r.path as string;
            const selfOnly = eventsOf(r).every((e) => ["ATTRIB", "DELETE_SELF", "MOVE_SELF", "ONDIR", "OPEN"].includes(e));
            // B17: <fid-unresolved> only for self events of an object already gone.
            if (path === "<fid-unresolved>") expect({ events: r.events, gone: selfOnly && hasEvent(r, "ATTRIB", "DELETE_SELF", "MOVE_SELF") }).toEqual({ events: r.events, gone: true });
            else expect({ record: r, under: path.startsWith(fs.dir + "/") || path === fs.dir }).toEqual({ record: r, under: true });
            if (typeof r.name === "string" && r.name !== ".") expect({ record: r, endsWithName: path.endsWith("/" + r.name) }).toEqual({ record: r, endsWithName: true });
          }
        }, 30_000);
      }
    }
  }
});
