import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { acquirePidFile, isRunningFanotifyd, parsePid } from "../../src/lifecycle/pidfile.ts";

let dir = "";
const children: { kill(sig?: number | NodeJS.Signals): void; exited: Promise<number> }[] = [];
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-pidfile-"));
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    c.kill("SIGKILL");
    await c.exited;
  }
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let n = 0;
const fresh = () => path.join(dir, `p${++n}.pid`);
const leftovers = () => fs.readdirSync(dir).filter((f) => f.endsWith(".tmp"));

/** A live process whose argv[0] is "fanotifyd" (as a running daemon would look in /proc). */
async function fakeDaemon(): Promise<number> {
  const p = Bun.spawn(["bash", "-c", "exec -a fanotifyd sleep 30"], { stdio: ["ignore", "ignore", "ignore"] });
  children.push(p);
  // wait until the exec happened (cmdline shows the new argv[0])
  for (let i = 0; i < 100; i++) {
    const cmd = fs.readFileSync(`/proc/${p.pid}/cmdline`, "latin1");
    if (cmd.startsWith("fanotifyd\0")) return p.pid;
    await Bun.sleep(10);
  }
  throw new Error("fake daemon did not exec");
}

/** A pid that certainly names no process now. */
async function deadPid(): Promise<number> {
  const p = Bun.spawn(["true"], { stdio: ["ignore", "ignore", "ignore"] });
  await p.exited;
  return p.pid;
}

describe("parsePid", () => {
  test("accepts one decimal number with surrounding whitespace only", () => {
    expect(parsePid("123\n")).toBe(123);
    expect(parsePid("  42 ")).toBe(42);
    expect(parsePid("")).toBeNull();
    expect(parsePid("0\n")).toBeNull();
    expect(parsePid("12ab\n")).toBeNull();
    expect(parsePid("-5")).toBeNull();
    expect(parsePid("1 2")).toBeNull();
  });
});

describe("acquirePidFile", () => {
  test("creates the file with '<pid>\\n' and no temp file left behind", () => {
    const p = fresh();
    const pf = acquirePidFile(p);
    expect(fs.readFileSync(p, "utf8")).toBe(`${process.pid}\n`);
    expect(pf.pid).toBe(process.pid);
    expect(pf.replacedStale).toBe(false);
    expect(pf.previousPid).toBeNull();
    expect(leftovers()).toEqual([]);
    expect(pf.remove()).toBe(true);
    expect(fs.existsSync(p)).toBe(false);
  });

  test("refuses a file naming a live fanotifyd, and leaves it alone", async () => {
    const p = fresh();
    const other = await fakeDaemon();
    expect(isRunningFanotifyd(other)).toBe(true);
    fs.writeFileSync(p, `${other}\n`);
    expect(() => acquirePidFile(p)).toThrow(`pid file '${p}' names a running fanotifyd (pid ${other})`);
    expect(fs.readFileSync(p, "utf8")).toBe(`${other}\n`);
    expect(leftovers()).toEqual([]);
  });

  test("replaces a file naming a dead process", async () => {
    const p = fresh();
    const dead = await deadPid();
    fs.writeFileSync(p, `${dead}\n`);
    const pf = acquirePidFile(p);
    expect(pf.replacedStale).toBe(true);
    expect(pf.previousPid).toBe(dead);
    expect(fs.readFileSync(p, "utf8")).toBe(`${process.pid}\n`);
    expect(leftovers()).toEqual([]);
    pf.remove();
  });

  test("replaces a file naming a live process that is not a fanotifyd (reused pid)", async () => {
    const p = fresh();
    const sleeper = Bun.spawn(["sleep", "30"], { stdio: ["ignore", "ignore", "ignore"] });
    children.push(sleeper);
    expect(isRunningFanotifyd(sleeper.pid)).toBe(false);
    fs.writeFileSync(p, `${sleeper.pid}\n`);
    const pf = acquirePidFile(p);
    expect(pf.replacedStale).toBe(true);
    expect(pf.previousPid).toBe(sleeper.pid);
    expect(fs.readFileSync(p, "utf8")).toBe(`${process.pid}\n`);
    pf.remove();
  });

  test("replaces a garbage or empty file", () => {
    for (const junk of ["not a pid\n", "", "123abc"]) {
      const p = fresh();
      fs.writeFileSync(p, junk);
      const pf = acquirePidFile(p);
      expect(pf.replacedStale).toBe(true);
      expect(pf.previousPid).toBeNull();
      expect(fs.readFileSync(p, "utf8")).toBe(`${process.pid}\n`);
      pf.remove();
    }
    expect(leftovers()).toEqual([]);
  });

  test("a file naming ourselves is simply rewritten", () => {
    const p = fresh();
    fs.writeFileSync(p, `${process.pid}`);
    const pf = acquirePidFile(p);
    expect(pf.replacedStale).toBe(false);
    expect(fs.readFileSync(p, "utf8")).toBe(`${process.pid}\n`);
    pf.remove();
  });

  test("remove() leaves a file that no longer names us", async () => {
    const p = fresh();
    const pf = acquirePidFile(p);
    const other = await fakeDaemon();
    fs.writeFileSync(p, `${other}\n`);
    expect(pf.remove()).toBe(false);
    expect(fs.readFileSync(p, "utf8")).toBe(`${other}\n`);
    fs.unlinkSync(p);
    expect(pf.remove()).toBe(false); // already gone: no throw
  });

  test("an unwritable directory is a clear error", () => {
    expect(() => acquirePidFile(path.join(dir, "missing-dir", "x.pid"))).toThrow(/cannot create pid file '.*x\.pid': /);
  });
});

describe("acquirePidFile: planted files (issue 14 item 2)", () => {
  test("a symlink at the pid file path is refused, not followed nor replaced", () => {
    const p = fresh();
    const target = path.join(dir, "pid-target");
    fs.writeFileSync(target, "garbage");
    fs.symlinkSync(target, p);
    expect(() => acquirePidFile(p)).toThrow(/refusing pid file '.*': it is a symbolic link/);
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
    expect(fs.readFileSync(target, "utf8")).toBe("garbage");
    expect(leftovers()).toEqual([]);
  });

  test.skipIf(process.geteuid?.() !== 0)("a pid file another user owns is refused", () => {
    const p = fresh();
    fs.writeFileSync(p, "garbage");
    fs.chownSync(p, 65534, 65534);
    expect(() => acquirePidFile(p)).toThrow(/refusing pid file '.*': it is owned by uid 65534/);
    expect(fs.readFileSync(p, "utf8")).toBe("garbage");
  });
});
