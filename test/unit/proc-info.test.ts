// ProcInfoCache (B14): comm/exe of live processes from /proc, read once per pid per batch; a process
// that is gone costs one failed read per batch, not one per event.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

  test("a comm with spaces and parentheses is read whole; start time and ppid come from the fields after it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "procinfo-"));
    const odd = join(dir, "a) b (c");
    symlinkSync(Bun.which("sleep")!, odd);
    const child = Bun.spawn([odd, "5"]);
    try {
      const procs = new ProcInfoCache();
      const comm = (): string => Buffer.from(procs.comm).toString("latin1");
      // Until the child has exec'd (its comm is the runtime's before that).
      for (let i = 0; i < 100; i++) {
        procs.nextBatch();
        procs.lookup(child.pid);
        if (comm() === "a) b (c") break;
        await Bun.sleep(10);
      }
      expect(comm()).toBe("a) b (c");
      expect(procs.ppid).toBe(process.pid);
      const stat = readFileSync(`/proc/${child.pid}/stat`, "latin1");
      expect(procs.startTime).toBe(Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]));
      expect(Buffer.from(procs.exe).toString("latin1")).toBe(realpathSync(Bun.which("sleep")!));
    } finally {
      child.kill("SIGKILL");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a full batch posted from the permission drain re-reads the last four pids at once; their next lookups read nothing", () => {
    const kids = Array.from({ length: 5 }, () => Bun.spawn(["sleep", "5"]));
    try {
      const procs = new ProcInfoCache();
      for (const k of kids) procs.lookup(k.pid);
      expect(procs.statReads).toBe(5);
      procs.nextBatch();
      expect(procs.statReads).toBe(5); // an ordinary batch: read lazily
      procs.nextBatch(true);
      expect(procs.statReads).toBe(9); // the last four, most recent first; not the first
      for (const k of kids.slice(1)) procs.lookup(k.pid);
      expect(procs.statReads).toBe(9);
      procs.lookup(kids[0].pid);
      expect(procs.statReads).toBe(10);
      expect(procs.gone).toBe(false);
    } finally {
      for (const k of kids) k.kill("SIGKILL");
    }
  });
});

