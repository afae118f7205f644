// Permission-mode scheduling (issue 11, src/reader/bulk-threads.ts, content-first.ts): the reader
// waits for permission events at SCHED_FIFO and the daemon's other threads run at SCHED_IDLE, unless
// --no-perm-realtime; notification mode changes nothing. Checked from /proc/PID/task/*/stat.
//
// SAFETY: marks only on private tmpfs mounts (harness.ts checks); file accesses on the permission-
// marked mount go through children with a deadline (runTimed).
import { afterEach, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cleanupAll, makeTmpfs, requireIntegration, runTimed, startDaemon, type Daemon } from "./harness.ts";

const RUN = requireIntegration();
const SCHED_OTHER = 0;
const SCHED_FIFO = 1;
const SCHED_IDLE = 5;

/** [tid, comm, policy] of every thread of pid (stat field 41; comm may hold spaces). */
function threads(pid: number): Array<[number, string, number]> {
  const out: Array<[number, string, number]> = [];
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "latin1");
    } catch {
      continue;
    }
    const close = stat.lastIndexOf(")");
    const comm = stat.slice(stat.indexOf("(") + 1, close);
    const rest = stat.slice(close + 2).split(" "); // rest[0] is field 3
    out.push([Number(t), comm, Number(rest[41 - 3])]);
  }
  return out;
}

/** Polls until `ok` holds for the daemon's threads (the reader is FIFO only while it waits). */
async function settle(d: Daemon, ok: (ts: Array<[number, string, number]>) => boolean): Promise<Array<[number, string, number]>> {
  const deadline = Date.now() + 3000;
  let ts = threads(d.pid);
  while (!ok(ts) && Date.now() < deadline) {
    await Bun.sleep(20);
    ts = threads(d.pid);
  }
  return ts;
}

async function catAllowed(path: string): Promise<void> {
  const r = await runTimed(["cat", path], 5000);
  expect(r.timedOut).toBe(false);
  expect(r.code).toBe(0);
  expect(r.stdout).toBe("x\n");
}

describe.skipIf(!RUN)("permission-mode scheduling", () => {
  afterEach(cleanupAll);

  test("--perm: the reader waits at SCHED_FIFO, the main thread runs at SCHED_IDLE; answers still flow", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    writeFileSync(join(fs.dir, "f"), "x\n");
    const d = await startDaemon(["--perm", "--filesystem", fs.dir, "-o", join(outFs.dir, "out.jsonl")]);
    const want = (ts: Array<[number, string, number]>) =>
      ts.some(([, comm, pol]) => comm === "Worker" && pol === SCHED_FIFO) &&
      ts.some(([tid, , pol]) => tid === d.pid && pol === SCHED_IDLE);
    const ts = await settle(d, want);
    expect(want(ts)).toBe(true);
    // JSC's GC helpers, which a collection on the reader's thread may wait for, are never idle.
    for (const [, comm, pol] of ts) if (comm.startsWith("HeapHelper")) expect(pol).toBe(SCHED_OTHER);
    for (let i = 0; i < 20; i++) await catAllowed(join(fs.dir, "f"));
    expect((await d.stop()).code).toBe(0);
  });

  test("--no-perm-realtime and notification mode leave every thread at SCHED_OTHER", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    writeFileSync(join(fs.dir, "f"), "x\n");
    for (const args of [["--perm", "--no-perm-realtime"], []]) {
      const d = await startDaemon([...args, "--filesystem", fs.dir, "-o", join(outFs.dir, `out${args.length}.jsonl`)]);
      await catAllowed(join(fs.dir, "f"));
      const ts = threads(d.pid);
      expect(ts.length).toBeGreaterThan(1);
      for (const [tid, comm, pol] of ts) expect({ tid, comm, pol }).toEqual({ tid, comm, pol: SCHED_OTHER });
      expect((await d.stop()).code).toBe(0);
    }
  });
});
