// Permission mode and file handles (B5, B17): resolving a FID record's directory handle can make the
// kernel open that directory's parent (exportfs reconnect of an evicted or removed directory:
// get_name() reads the parent), and that open is a permission event on a permission-marked
// filesystem. The thread that answers permission events must never be the one waiting in that
// open: before this was fixed, the reader deadlocked on its own event and every opener on the
// filesystem hung behind it.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeFs } from "./filesystems.ts";
import { cleanupAll, hasEvent, makeTmpfs, requestStats, requireIntegration, runTimed, startDaemon, stopClean, waitFor, waitForRecord } from "./harness.ts";

const RUN = requireIntegration();

describe.skipIf(!RUN)("permission mode: the reader never waits on its own permission event (handle resolution)", () => {
  afterEach(cleanupAll);

  for (const kind of ["ext4", "xfs"] as const) {
    test(`${kind} --filesystem --perm: a record in an evicted directory is resolved, opens on the filesystem are answered throughout`, async () => {
      const fs = makeFs(kind);
      const X = join(fs.dir, "x");
      const Y = join(X, "y");
      mkdirSync(Y, { recursive: true });
      writeFileSync(join(fs.dir, "probe"), "p\n");
      const out = join(makeTmpfs().dir, "out.jsonl");
      const d = await startDaemon(["--filesystem", fs.dir, "--perm", "-o", out], { env: { FANOTIFYD_TEST_HOOKS: "1" } });
      // Stall the reader, make a record whose directory handle is y's (mkdir opens nothing, so no
      // permission event waits meanwhile), evict y's dentry and inode, then let the reader go on.
      d.signal("SIGWINCH");
      await waitFor(() => d.stderr().includes("test hook: reader stalled"), 5000, "the stall", d);
      mkdirSync(join(Y, "z"));
      writeFileSync("/proc/sys/vm/drop_caches", "2");
      d.signal("SIGWINCH");
      await waitFor(() => d.stderr().includes("test hook: reader released"), 5000, "the release", d);
      await waitForRecord(out, (r) => r.path === join(Y, "z") && hasEvent(r, "CREATE"), 5000, { daemon: d });
      // The kernel's open of x (to find y's name) was the daemon's own permission event, allowed at once.
      const stats = await requestStats(d, out);
      expect(stats.own_events_ignored as number).toBeGreaterThanOrEqual(1);
      const cat = await runTimed(["cat", join(fs.dir, "probe")], 5000);
      expect({ code: cat.code, out: cat.stdout, timedOut: cat.timedOut }).toEqual({ code: 0, out: "p\n", timedOut: false });
      await stopClean(d, 1500);
    }, 30_000);
  }
});
