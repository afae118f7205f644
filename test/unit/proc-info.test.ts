// ProcInfoCache (B14): comm/exe of live processes from /proc, read once per pid per batch; a process
// that is gone costs one failed read per batch, not one per event.
import { describe, expect, test } from "bun:test";
import { ProcInfoCache } from "../../src/reader/proc-info.ts";
import { procHead } from "../../src/reader/batch-builder.ts";

/** The pid of a process that has exited (and been reaped). */
function exitedPid(): number {
  const p = Bun.spawnSync(["true"]);
  expect(p.exitCode).toBe(0);
  return p.pid;
}

describe("ProcInfoCache", () => {
  test("a live process: names and start time, /proc read once per batch", () => {
    const procs = new ProcInfoCache();
    procs.lookup(process.pid);
    expect(procs.gone).toBe(false);
    expect(procs.comm.length).toBeGreaterThan(0);
    expect(procs.startTime).toBeGreaterThan(0);
    for (let i = 0; i < 50; i++) procs.lookup(process.pid);
    expect(procs.statReads).toBe(1);
    procs.nextBatch();
    procs.lookup(process.pid);
    expect(procs.statReads).toBe(2);
  });

  test("a process that is gone: no names, and one failed read per batch however many events it has", () => {
    const pid = exitedPid();
    const procs = new ProcInfoCache();
    for (let i = 0; i < 100; i++) {
      procs.lookup(pid);
      expect(procs.gone).toBe(true);
      expect(procs.comm.length + procs.exe.length).toBe(0);
      expect(procs.fresh).toBe(i === 0);
    }
    expect(procs.statReads).toBe(1);
    procs.nextBatch();
    procs.lookup(pid);
    procs.lookup(pid);
    expect(procs.statReads).toBe(2);
  });

  test("a gone pid keeps the start time last seen for it (policy state stays keyed by it)", () => {
    const child = Bun.spawn(["sleep", "5"]);
    const procs = new ProcInfoCache();
    procs.lookup(child.pid);
    const start = procs.startTime;
    expect(start).toBeGreaterThan(0);
    child.kill("SIGKILL");
    return child.exited.then(() => {
      procs.nextBatch();
      procs.lookup(child.pid);
      procs.lookup(child.pid);
      expect({ gone: procs.gone, startTime: procs.startTime, reads: procs.statReads }).toEqual({ gone: true, startTime: start, reads: 2 });
    });
  });

  test("a live process's row head is encoded once and kept with it; a gone one has none", () => {
    const procs = new ProcInfoCache();
    procs.lookup(process.pid);
    const head = procs.rowHead();
    expect(head).not.toBeNull();
    expect(Buffer.from(head!.bytes).toString("latin1")).toBe(Buffer.from(procHead(process.pid, procs.comm, procs.exe)!.bytes).toString("latin1"));
    procs.nextBatch();
    procs.lookup(process.pid);
    expect(procs.rowHead()).toBe(head!);
    procs.lookup(exitedPid());
    expect(procs.rowHead()).toBeNull();
  });
});
