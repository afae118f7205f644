// Permission mode and the scheduler (issue 11, src/lifecycle/thread-slices.ts): every daemon thread asks
// for a long time slice (100 ms; /proc/PID/task/TID/sched "se.slice") and keeps SCHED_OTHER and its
// nice value — JSC's compilers and the scavenger run at nice 19 with the default slice — unless
// --no-perm-long-slice;
// notification mode changes nothing.
//
// SAFETY: marks only on private tmpfs mounts (harness.ts checks); file accesses on the permission-
// marked mount go through children with a deadline (runTimed).
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, makeTmpfs, requireIntegration, runTimed, startDaemon } from "./harness.ts";

const RUN = requireIntegration();
const LONG_SLICE_NS = 100_000_000;

interface ThreadSched {
  tid: number;
  comm: string;
  slice: number;
  policy: number;
  nice: number;
}

/** Every thread of pid: comm, se.slice (ns), policy and nice (stat fields 41 and 19). */
function threads(pid: number): ThreadSched[] {
  const out: ThreadSched[] = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const sched = readFileSync(`/proc/${pid}/task/${t}/sched`, "latin1");
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "latin1");
      const close = stat.lastIndexOf(")");
      const f = stat.slice(close + 2).split(" "); // f[0] is field 3
      const m = /^se\.slice\s*:\s*(\d+)/m.exec(sched);
      out.push({ tid: Number(t), comm: stat.slice(stat.indexOf("(") + 1, close), slice: m === null ? -1 : Number(m[1]), policy: Number(f[41 - 3]), nice: Number(f[19 - 3]) });
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

const kernelHasSlices = threads(process.pid).every((t) => t.slice > 0);

async function catAllowed(path: string): Promise<void> {
  const r = await runTimed(["cat", path], 5000);
  expect({ timedOut: r.timedOut, code: r.code, out: r.stdout }).toEqual({ timedOut: false, code: 0, out: "x\n" });
}

describe.skipIf(!RUN || !kernelHasSlices)("permission mode and the scheduler", () => {
  afterEach(cleanupAll);

  test("--perm: every thread has the 100 ms slice (threads started later too) and its nice value or, for background work, nice 19 and the default slice", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    writeFileSync(join(fs.dir, "f"), "x\n");
    const d = await startDaemon(["--perm", "--filesystem", fs.dir, "-o", join(outFs.dir, "out.jsonl")]);
    // Opens until every thread has it: threads that start late (Bun's I/O pool) get it at the next
    // rescan (at most once a second, while batches are posted).
    // JSC's compilers and the allocator's scavenger: nice 19, the default slice; all SCHED_OTHER. A
    // compiler thread started late inherits its creator's long slice until the next rescan.
    const background = /^(JITWorker|JSCWarmUp|mi-scavenger)/;
    const defaultSlice = threads(process.pid)[0].slice;
    const until = Date.now() + 5000;
    let ts = threads(d.pid);
    const treated = (t: ThreadSched) => (background.test(t.comm) ? t.nice === 19 && t.slice === defaultSlice : t.slice === LONG_SLICE_NS);
    while (Date.now() < until && !ts.every(treated)) {
      await catAllowed(join(fs.dir, "f"));
      ts = threads(d.pid);
    }
    expect(ts.length).toBeGreaterThan(3);
    expect(ts.some((t) => t.comm === "JITWorker")).toBe(true);
    for (const t of ts) {
      expect({ comm: t.comm, slice: t.slice, policy: t.policy, nice: t.nice }).toEqual({
        comm: t.comm,
        slice: background.test(t.comm) ? defaultSlice : LONG_SLICE_NS,
        policy: 0,
        nice: background.test(t.comm) ? 19 : 0,
      });
    }
    expect((await d.stop()).code).toBe(0);
  });

  test("--no-perm-long-slice and notification mode keep the kernel's default slice and SCHED_OTHER", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    writeFileSync(join(fs.dir, "f"), "x\n");
    const defaultSlice = threads(process.pid)[0].slice;
    for (const args of [["--perm", "--no-perm-long-slice"], []]) {
      const d = await startDaemon([...args, "--filesystem", fs.dir, "-o", join(outFs.dir, `out${args.length}.jsonl`)]);
      await catAllowed(join(fs.dir, "f"));
      for (const t of threads(d.pid)) expect({ comm: t.comm, slice: t.slice, policy: t.policy }).toEqual({ comm: t.comm, slice: defaultSlice, policy: 0 });
      expect((await d.stop()).code).toBe(0);
    }
  });
});
