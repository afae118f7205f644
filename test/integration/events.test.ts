// Event records from real fanotify marks on private tmpfs mounts (behavior.md A4, A5, A7, A8, B2).

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  SELF_COMM,
  cleanupAll,
  eventKeyProblem,
  eventsOf,
  formatEvents,
  hasEvent,
  makeTmpfs,
  readJsonl,
  requireIntegration,
  run,
  startDaemon,
  track,
  waitForRecord,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();

/** Shape every observe-mode event record must have. */
function expectEventShape(r: JsonRecord): void {
  expect(eventKeyProblem(r)).toBeNull();
  expect(r.schema_version).toBe(1);
  expect(r.type).toBe("event");
  expect(typeof r.ts_ms).toBe("number");
  expect(Math.abs((r.ts_ms as number) - Date.now())).toBeLessThan(60_000);
  expect(typeof r.mask).toBe("number");
  expect(r.events).toBe(formatEvents(r.mask as number));
  expect(r.decision).toBe("observe");
  expect(r.job_id).toBeNull();
  expect(r.path_role).toBeNull();
  expect(typeof r.pid).toBe("number");
  expect(typeof r.path).toBe("string");
  expect(typeof r.is_dir).toBe("boolean");
}

/** A shell that performs `script` (args $1..) and then blocks on stdin until released, so it is alive
 *  (attributable: comm/exe readable) while the daemon handles its events. */
function heldShell(script: string, ...args: string[]) {
  const p = track(
    Bun.spawn(["sh", "-c", `${script}\nread _x`, "sh", ...args], { stdin: "pipe", stdout: "ignore", stderr: "inherit" }),
  );
  return {
    pid: p.pid,
    release: async () => {
      p.stdin.end();
      await p.exited;
    },
  };
}

describe.skipIf(!RUN)("FID mode, --watch DIR", () => {
  afterEach(cleanupAll);

  test("create, modify, rename, delete, mkdir give the right records", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs(); // unmarked
    const out = join(outFs.dir, "out.jsonl");
    const A = join(fs.dir, "a");
    const B = join(fs.dir, "b");
    const D = join(fs.dir, "d");
    const d = await startDaemon(["--watch", fs.dir, "-o", out]);
    const w = { daemon: d };

    // create + write, by an external shell
    const sh1 = heldShell('echo hi > "$1"', A);
    const created = await waitForRecord(out, (r) => r.name === "a" && hasEvent(r, "CREATE"), 5000, w);
    const modified1 = await waitForRecord(out, (r) => r.name === "a" && hasEvent(r, "MODIFY"), 5000, w);
    const closed1 = await waitForRecord(out, (r) => r.name === "a" && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    await sh1.release();
    for (const r of [created.record, modified1.record, closed1.record]) {
      expectEventShape(r);
      expect(r.path).toBe(A);
      expect(r.name).toBe("a");
      expect(r.is_dir).toBe(false);
      expect(r.pid).toBe(sh1.pid);
      expect(r.comm).toBe("sh");
      if ("exe" in r) expect(String(r.exe)).toStartWith("/");
    }

    // modify (append) by another shell
    const from2 = closed1.index + 1;
    const sh2 = heldShell('echo more >> "$1"', A);
    const modified2 = await waitForRecord(out, (r) => r.name === "a" && hasEvent(r, "MODIFY"), 5000, { ...w, from: from2 });
    await sh2.release();
    expectEventShape(modified2.record);
    expect(modified2.record.path).toBe(A);
    expect(modified2.record.pid).toBe(sh2.pid);
    expect(modified2.record.comm).toBe("sh");
    expect(modified2.record.is_dir).toBe(false);

    // rename a -> b, by this process: RENAME, MOVED_FROM, MOVED_TO, consecutively
    const lastClose = await waitForRecord(out, (r) => r.name === "a" && hasEvent(r, "CLOSE_WRITE"), 5000, { ...w, from: from2 });
    const from3 = Math.max(modified2.index, lastClose.index) + 1;
    renameSync(A, B);
    const movedTo = await waitForRecord(out, (r) => hasEvent(r, "MOVED_TO"), 5000, { ...w, from: from3 });
    const recs = movedTo.records;
    const iRename = recs.findIndex((r, i) => i >= from3 && hasEvent(r, "RENAME"));
    const iFrom = recs.findIndex((r, i) => i >= from3 && hasEvent(r, "MOVED_FROM"));
    expect(iRename).toBeGreaterThanOrEqual(from3);
    expect(iFrom).toBe(iRename + 1);
    expect(movedTo.index).toBe(iFrom + 1);
    const rename = recs[iRename]!;
    const movedFrom = recs[iFrom]!;
    expect(rename.events).toBe("RENAME");
    expect(rename.path).toBe(B);
    expect(rename.name).toBe("b");
    expect(movedFrom.events).toBe("MOVED_FROM");
    expect(movedFrom.path).toBe(A);
    expect(movedFrom.name).toBe("a");
    expect(movedTo.record.events).toBe("MOVED_TO");
    expect(movedTo.record.path).toBe(B);
    expect(movedTo.record.name).toBe("b");
    for (const r of [rename, movedFrom, movedTo.record]) {
      expectEventShape(r);
      expect(r.is_dir).toBe(false);
      expect(r.pid).toBe(process.pid);
      expect(r.comm).toBe(SELF_COMM);
    }

    // delete
    unlinkSync(B);
    const del = await waitForRecord(out, (r) => hasEvent(r, "DELETE"), 5000, { ...w, from: movedTo.index + 1 });
    expectEventShape(del.record);
    expect(del.record.events).toBe("DELETE");
    expect(del.record.path).toBe(B);
    expect(del.record.name).toBe("b");
    expect(del.record.is_dir).toBe(false);
    expect(del.record.pid).toBe(process.pid);
    expect(del.record.comm).toBe(SELF_COMM);

    // mkdir
    mkdirSync(D);
    const mk = await waitForRecord(out, (r) => hasEvent(r, "CREATE"), 5000, { ...w, from: del.index + 1 });
    expectEventShape(mk.record);
    expect(mk.record.events).toBe("CREATE,ONDIR");
    expect(mk.record.mask).toBe(0x40000100);
    expect(mk.record.path).toBe(D);
    expect(mk.record.name).toBe("d");
    expect(mk.record.is_dir).toBe(true);
    expect(mk.record.pid).toBe(process.pid);

    await stopClean(d);
    // the whole file: whole lines, every event record well-formed
    for (const r of readJsonl(out)) if (r.type === "event") expectEventShape(r);
  }, 30_000);
});

describe.skipIf(!RUN)("FD mode (--no-fid)", () => {
  afterEach(cleanupAll);

  test("a write gives a record with the path and no name", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const X = join(fs.dir, "x");
    const d = await startDaemon(["--no-fid", "--watch", fs.dir, "-o", out]);
    await run(["sh", "-c", 'echo hi > "$1"', "sh", X]);
    const { record } = await waitForRecord(out, (r) => r.path === X && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    expectEventShape(record);
    expect("name" in record).toBe(false);
    expect(record.is_dir).toBe(false);
    await stopClean(d);
    const all = readJsonl(out).filter((r) => r.type === "event");
    expect(all.length).toBeGreaterThan(0);
    for (const r of all) {
      expectEventShape(r);
      expect("name" in r).toBe(false);
      for (const e of eventsOf(r)) expect(["OPEN", "MODIFY", "CLOSE_WRITE", "ONDIR"]).toContain(e);
    }
  }, 20_000);
});

describe.skipIf(!RUN)("attribution (B14)", () => {
  afterEach(cleanupAll);

  test("after an execve in the same process, comm and exe are the new program's", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    const A = join(fs.dir, "before");
    const B = join(fs.dir, "after");
    const bash = realpathSync(Bun.which("bash") ?? "/bin/bash");
    const d = await startDaemon(["--watch", fs.dir, "-o", out]);
    const w = { daemon: d };
    // One pid: sh writes A, waits for a line on stdin, then execs bash, which writes B and waits.
    const p = track(
      Bun.spawn(["sh", "-c", ': > "$1"; read _x; exec bash -c \': > "$1"; read _y\' bash "$2"', "sh", A, B], {
        stdin: "pipe",
        stdout: "ignore",
        stderr: "inherit",
      }),
    );
    const before = await waitForRecord(out, (r) => r.name === "before" && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(before.record.pid).toBe(p.pid);
    expect(before.record.comm).toBe("sh");
    p.stdin.write("\n");
    p.stdin.flush();
    const after = await waitForRecord(out, (r) => r.name === "after" && hasEvent(r, "CLOSE_WRITE"), 5000, w);
    expect(after.record.pid).toBe(p.pid);
    expect(after.record.comm).toBe("bash");
    expect(after.record.exe).toBe(bash);
    p.stdin.end();
    await p.exited;
    await stopClean(d);
  });
});

describe.skipIf(!RUN)("--mount", () => {
  afterEach(cleanupAll);

  for (const mode of ["fid", "fd"] as const) {
    test(`mount mark in ${mode.toUpperCase()} mode reports deep writes (${mode === "fid" ? "CREATE/OPEN/MODIFY/CLOSE_WRITE, with names (B17)" : "OPEN/MODIFY/CLOSE_WRITE, no names"})`, async () => {
      const fs = makeTmpfs();
      const outFs = makeTmpfs();
      const out = join(outFs.dir, "out.jsonl");
      mkdirSync(join(fs.dir, "sub"));
      const F = join(fs.dir, "sub", "f");
      const d = await startDaemon([...(mode === "fd" ? ["--no-fid"] : []), "--mount", fs.dir, "-o", out]);
      await run(["sh", "-c", 'echo hi > "$1"', "sh", F]);
      const closed = await waitForRecord(out, (r) => r.path === F && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
      await waitForRecord(out, (r) => r.path === F && hasEvent(r, "MODIFY"), 5000, { daemon: d });
      await waitForRecord(out, (r) => r.path === F && hasEvent(r, "OPEN"), 5000, { daemon: d });
      if (mode === "fid") {
        expect(closed.record.name).toBe("f");
        await waitForRecord(out, (r) => r.path === F && hasEvent(r, "CREATE"), 5000, { daemon: d });
      } else expect("name" in closed.record).toBe(false);
      await stopClean(d);
      const all = readJsonl(out).filter((r) => r.type === "event");
      for (const r of all) {
        expectEventShape(r);
        if (mode === "fd") for (const e of eventsOf(r)) expect(["OPEN", "MODIFY", "CLOSE_WRITE", "ONDIR"]).toContain(e);
        if (mode === "fd") expect("name" in r).toBe(false);
        else if (r.path === F) expect(r.name).toBe("f");
      }
    }, 20_000);
  }
});

describe.skipIf(!RUN)("--filesystem", () => {
  afterEach(cleanupAll);

  test("sees a write made through a bind mount in another mount namespace", async () => {
    const fs = makeTmpfs();
    const outFs = makeTmpfs();
    const out = join(outFs.dir, "out.jsonl");
    mkdirSync(join(fs.dir, "a"));
    mkdirSync(join(fs.dir, "b"));
    const d = await startDaemon(["--filesystem", fs.dir, "-o", out]);
    // In a private mount namespace, bind a over b and write through b: only the namespace sees the
    // bind mount, and no mount the daemon could have marked is involved.
    const { pid } = await run([
      "unshare",
      "-m",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount --bind "$1/a" "$1/b" && echo ns > "$1/b/nsfile"',
      "sh",
      fs.dir,
    ]);
    expect(existsSync(join(fs.dir, "a", "nsfile"))).toBe(true);
    expect(existsSync(join(fs.dir, "b", "nsfile"))).toBe(false);
    const { record } = await waitForRecord(out, (r) => r.name === "nsfile" && hasEvent(r, "CREATE"), 5000, { daemon: d });
    expectEventShape(record);
    expect(record.path).toBe(join(fs.dir, "a", "nsfile"));
    expect(record.pid).toBe(pid);
    await waitForRecord(out, (r) => r.name === "nsfile" && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    await stopClean(d);
  }, 20_000);
});

describe.skipIf(!RUN)("hostile file names", () => {
  afterEach(cleanupAll);

  const NAME = 'we"ird\nna\\me\tx\x1fz';

  for (const mode of ["fid", "fd"] as const) {
    test(`a name with newline, quote, backslash, tab and a control byte (${mode.toUpperCase()} mode)`, async () => {
      const fs = makeTmpfs();
      const outFs = makeTmpfs();
      const out = join(outFs.dir, "out.jsonl");
      const P = join(fs.dir, NAME);
      const d = await startDaemon([...(mode === "fd" ? ["--no-fid"] : []), "--watch", fs.dir, "-o", out]);
      writeFileSync(P, "x");
      const { record } = await waitForRecord(out, (r) => r.path === P && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
      if (mode === "fid") expect(record.name).toBe(NAME);
      else expect("name" in record).toBe(false);
      await stopClean(d);
      const text = readFileSync(out, "utf8");
      const recs = readJsonl(out); // throws on any line that is not whole JSON
      expect(text.split("\n").length - 1).toBe(recs.length);
      const mine = recs.filter((r) => r.path === P);
      expect(mine.length).toBeGreaterThan(0);
      for (const r of mine) {
        expectEventShape(r);
        if (mode === "fid") expect(r.name).toBe(NAME);
      }
      // A7 escaping: control bytes as lowercase \u00XX, newline/tab/quote/backslash short escapes
      expect(text).toContain(String.raw`we\"ird\nna\\me\tx\u001fz`);
      rmSync(P);
    }, 20_000);
  }
});
