// Mark mechanisms beyond the matrix (behavior.md B17): a container-shaped job over an overlayfs root,
// a tree created deep and fast under --mount on overlayfs, a mount showing part of its filesystem,
// and reload adding and removing an inode-marked tree.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeFs } from "./filesystems.ts";
import {
  assertSafeMarks,
  cleanupAll,
  hasEvent,
  makeTmpDir,
  makeTmpfs,
  readJsonl,
  requireIntegration,
  run,
  runDaemon,
  startDaemon,
  trackInnerMount,
  waitFor,
  waitForRecord,
} from "./harness.ts";

const RUN = requireIntegration();

function sh(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

/** Runs a script in one short-lived Bun process (one pid for many file operations). */
async function script(code: string): Promise<number> {
  const r = await run([process.execPath, "-e", code]);
  return r.pid;
}

describe.skipIf(!RUN)("inode-marked trees and scoped filesystem marks (B17)", () => {
  afterEach(cleanupAll);

  test("container-shaped job over an overlayfs root: job tags, canary deny, canary renamed, rename-spree burst", async () => {
    const root = makeFs("overlay").dir;
    mkdirSync(join(root, "etc"));
    writeFileSync(join(root, "etc", "shadow"), "root:*:\n");
    const ws = makeFs("tmpfs").dir;
    const out = join(makeTmpfs().dir, "out.jsonl");
    const conf = join(makeTmpDir(), "job.conf");
    writeFileSync(
      conf,
      [
        `output ${out}`,
        "perm 1",
        "deny_on_alert 1",
        "burst_threshold 10",
        "burst_window_ms 5000",
        "hook_cooldown_ms 0",
        "job J",
        `rootfs ${root}`,
        `workspace ${ws}`,
        `mount ${root}`,
        `mount ${ws}`,
        `canary ${root}/etc/shadow`,
        "",
      ].join("\n"),
    );
    // Everything this test process writes is made before the daemon starts: it would count towards
    // this process's own burst, and a burst deny would refuse its next writes.
    mkdirSync(join(root, "app", "data"), { recursive: true });
    const spree = join(root, "app", "spree");
    mkdirSync(spree);
    for (let i = 0; i < 20; i++) writeFileSync(join(spree, `f${i}`), "data\n");
    const d = await startDaemon(["--config", conf]);
    const w = { daemon: d };
    expect(d.stderr()).toContain(`mount mark on ${root} (overlay): FID inode marks on`);

    // job tags on a file made deep in the container's root and in the workspace
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(root, "app", "data", "f")]);
    const tagged = await waitForRecord(out, (r) => r.path === join(root, "app", "data", "f") && hasEvent(r, "CREATE"), 5000, w);
    expect(tagged.record.job_id).toBe("J");
    expect(tagged.record.path_role).toBe("rootfs");
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(ws, "w")]);
    const wsRec = await waitForRecord(out, (r) => r.path === join(ws, "w") && hasEvent(r, "CREATE"), 5000, w);
    expect(wsRec.record.path_role).toBe("workspace");

    // canary deny: cat gets EPERM, every time
    for (let i = 0; i < 2; i++) {
      const cat = Bun.spawnSync(["cat", join(root, "etc", "shadow")], { stderr: "pipe" });
      expect(cat.exitCode).not.toBe(0);
      expect(cat.stderr.toString()).toContain("Operation not permitted");
    }
    await waitForRecord(out, (r) => r.type === "event" && r.decision === "deny" && r.path === join(root, "etc", "shadow"), 5000, w);

    // canary renamed
    await run(["mv", join(root, "etc", "shadow"), join(root, "etc", "shadow.old")]);
    await waitForRecord(out, (r) => r.type === "alert" && r.reason === "canary renamed", 5000, w);

    // rename spree: one process renames 20 files in the container's root → one burst alert
    const pid = await script(
      `const fs=require("fs");for(let i=0;i<20;i++)fs.renameSync(${JSON.stringify(spree)}+"/f"+i,${JSON.stringify(spree)}+"/f"+i+".locked")`,
    );
    const burst = await waitForRecord(out, (r) => r.type === "alert" && r.kind === "burst" && r.pid === pid, 5000, w);
    expect(String(burst.record.path).startsWith(spree + "/")).toBe(true);
    const st = await d.stop();
    expect(st.code).toBe(0);
  }, 30_000);

  test("a tree created deep and fast under --mount on overlayfs: every file's CREATE is reported", async () => {
    const root = makeFs("overlay").dir;
    const out = join(makeTmpfs().dir, "out.jsonl");
    const d = await startDaemon(["--mount", root, "-o", out]);
    // 40 trees, 6 levels deep, 3 files per level, made as fast as one process can.
    const files: string[] = [];
    for (let t = 0; t < 40; t++) {
      let dir = join(root, `t${t}`);
      for (let l = 0; l < 6; l++) {
        dir = join(dir, `l${l}`);
        for (let f = 0; f < 3; f++) files.push(join(dir, `f${f}`));
      }
    }
    await script(
      `const fs=require("fs");const p=require("path");for(const f of ${JSON.stringify(files)}){fs.mkdirSync(p.dirname(f),{recursive:true});fs.writeFileSync(f,"x")}`,
    );
    const want = new Set(files);
    await waitFor(
      () => {
        for (const r of readJsonl(out, { strict: false })) if (hasEvent(r, "CREATE")) want.delete(r.path as string);
        return want.size === 0;
      },
      10_000,
      "a CREATE record for every file",
      d,
    );
    expect(want.size).toBe(0);
    expect((await d.stop()).code).toBe(0);
  }, 30_000);

  test("--mount of a bind mount showing part of a filesystem: events outside its tree are dropped", async () => {
    const base = makeTmpfs();
    const fsDir = join(base.dir, "fs");
    const view = join(base.dir, "view");
    mkdirSync(fsDir);
    mkdirSync(view);
    sh(["mount", "-t", "tmpfs", "tmpfs", fsDir]);
    trackInnerMount(fsDir);
    mkdirSync(join(fsDir, "shown"));
    mkdirSync(join(fsDir, "hidden"));
    sh(["mount", "--bind", join(fsDir, "shown"), view]);
    trackInnerMount(view);
    const out = join(makeTmpfs().dir, "out.jsonl");
    const d = await startDaemon(["--mount", view, "-o", out]);
    expect(d.stderr()).toContain("events outside the mount's tree are dropped");
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(fsDir, "hidden", "secret")]);
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(view, "inside")]);
    // The same file written through the other mount is reported under the marked mount's path.
    await run(["sh", "-c", 'echo y > "$1"', "sh", join(fsDir, "shown", "via-other-mount")]);
    await waitForRecord(out, (r) => r.path === join(view, "inside") && hasEvent(r, "CREATE"), 5000, { daemon: d });
    await waitForRecord(out, (r) => r.path === join(view, "via-other-mount") && hasEvent(r, "CREATE"), 5000, { daemon: d });
    expect((await d.stop()).code).toBe(0);
    const records = readJsonl(out);
    expect(records.filter((r) => String(r.path).includes("secret") || String(r.path).includes("hidden"))).toEqual([]);
    for (const r of records) if (r.type === "event") expect(String(r.path).startsWith(view)).toBe(true);
  }, 30_000);

  test("a marked directory swapped for a symlink before the reader marks what appeared in it: nothing outside the tree is marked or listed (ramfs)", async () => {
    const tree = makeFs("ramfs").dir;
    mkdirSync(join(tree, "n"));
    const outside = makeTmpfs().dir;
    mkdirSync(join(outside, "b"));
    writeFileSync(join(outside, "b", "secret-name"), "s\n");
    const out = join(makeTmpfs().dir, "out.jsonl");
    const d = await startDaemon(["--mount", tree, "-o", out], { env: { FANOTIFYD_TEST_HOOKS: "1" } });
    // With the reader stalled: b appears in the marked n (its CREATE waits in the queue, named by n's
    // handle), then n moves away and a symlink to a directory outside the tree takes its name. The
    // reader then marks and lists "n/b": by path, that went through the symlink to outside/b.
    d.signal("SIGWINCH");
    await waitFor(() => d.stderr().includes("test hook: reader stalled"), 5000, "the stall", d);
    mkdirSync(join(tree, "n", "b"));
    await run(["mv", join(tree, "n"), join(tree, "n2")]);
    await run(["ln", "-s", outside, join(tree, "n")]);
    d.signal("SIGWINCH");
    await waitFor(() => d.stderr().includes("test hook: reader released"), 5000, "the release", d);
    await waitForRecord(out, (r) => r.path === join(tree, "n2") && hasEvent(r, "MOVED_TO"), 5000, { daemon: d });
    // The directory itself stays watched at its new name.
    const probe = join(tree, "n2", "b", "probe");
    await waitFor(
      () => {
        writeFileSync(probe, "p\n");
        return readJsonl(out, { strict: false }).some((r) => r.path === probe && hasEvent(r, "CLOSE_WRITE"));
      },
      5000,
      "a write in n2/b to be reported",
      d,
    );
    // Outside the tree: not listed (no CREATE of secret-name) and not marked (a write there is not seen).
    writeFileSync(join(outside, "b", "after"), "a\n");
    expect((await d.stop()).code).toBe(0);
    const leaked = readJsonl(out).filter((r) => /secret-name|after/.test(String(r.path)));
    expect(leaked).toEqual([]);
  }, 30_000);

  test("SIGHUP adds and removes an inode-marked tree (ramfs)", async () => {
    const a = makeFs("ramfs").dir;
    const b = makeFs("ramfs").dir;
    mkdirSync(join(b, "deep", "er"), { recursive: true });
    const out = join(makeTmpfs().dir, "out.jsonl");
    const conf = join(makeTmpDir(), "reload.conf");
    writeFileSync(conf, `output ${out}\nmount ${a}\n`);
    const d = await startDaemon(["--config", conf]);
    const reloads = (): number => d.stderr().split("configuration reloaded").length - 1;
    writeFileSync(conf, `output ${out}\nmount ${b}\n`);
    assertSafeMarks(["--config", conf], d.cwd);
    d.signal("SIGHUP");
    await waitFor(() => reloads() === 1, 5000, "the reload", d);
    expect(d.stderr()).toContain(`mount mark on ${b} (ramfs): FID inode marks on 3 directories`);
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(a, "after-removal")]);
    await run(["sh", "-c", 'echo x > "$1"', "sh", join(b, "deep", "er", "added")]);
    await waitForRecord(out, (r) => r.path === join(b, "deep", "er", "added") && hasEvent(r, "CREATE"), 5000, { daemon: d });
    expect((await d.stop()).code).toBe(0);
    expect(readJsonl(out).some((r) => String(r.path).startsWith(a))).toBe(false);
  }, 30_000);

  test("--perm: SIGHUP adds marks inside an already permission-marked mount without waiting on itself", async () => {
    const a = makeFs("tmpfs").dir;
    const o = makeFs("overlay").dir;
    mkdirSync(join(a, "sub", "deeper"), { recursive: true });
    writeFileSync(join(a, "sub", "f"), "x\n");
    const out = join(makeTmpfs().dir, "out.jsonl");
    const conf = join(makeTmpDir(), "perm.conf");
    writeFileSync(conf, `output ${out}\nperm 1\nmount ${a}\nmount ${o}\n`);
    const d = await startDaemon(["--config", conf]);
    writeFileSync(conf, `output ${out}\nperm 1\nmount ${a}\nmount ${o}\nwatch ${a}/sub\nwatch ${o}\n`);
    assertSafeMarks(["--config", conf], d.cwd);
    d.signal("SIGHUP");
    await waitFor(() => d.stderr().includes("configuration reloaded"), 5000, "the reload", d);
    const cat = Bun.spawnSync(["cat", join(a, "sub", "f")], { stderr: "pipe" });
    expect(cat.stdout.toString()).toBe("x\n");
    expect((await d.stop()).code).toBe(0);
  }, 30_000);

  test("fanotifyd check prints each filesystem's plan without placing a mark", async () => {
    const o = makeFs("overlay").dir;
    const t = makeFs("tmpfs").dir;
    const r = await runDaemon(["check", "-f", "--mount", o, "--filesystem", t, "--perm"], 10_000);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain(`  mount ${o}: notify group, fid-inode-tree: (overlay) FID inode marks on every directory`);
    expect(r.stdout).toContain("FID filesystem mark refused: Operation not supported");
    expect(r.stdout).toContain("daemon's directory map");
    expect(r.stdout).toContain(`  mount ${o}: content group, fd-mount-mark:`);
    expect(r.stdout).toContain(`  filesystem ${t}: notify group, fid-filesystem: (tmpfs) FID filesystem mark`);
  }, 30_000);

  test("a tree larger than fs.fanotify.max_user_marks: the mark fails with a message naming the limit", async () => {
    const root = makeFs("ramfs").dir;
    for (let i = 0; i < 40; i++) mkdirSync(join(root, `d${i}`));
    const limitFile = "/proc/sys/fs/fanotify/max_user_marks";
    const saved = (await Bun.file(limitFile).text()).trim();
    // Marks held by other processes of this user count too: leave room for them plus 10 of ours.
    const inUse = Number(/\d+/.exec(Bun.spawnSync(["sh", "-c", "cat /proc/*/fdinfo/* 2>/dev/null | grep -c '^fanotify ino'"]).stdout.toString())?.[0] ?? 0);
    writeFileSync(limitFile, String(inUse + 10));
    try {
      const r = await runDaemon(["-f", "--mount", root, "-o", "/dev/null"], 10_000);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("max_user_marks");
      expect(r.stderr).toContain(`cannot mark every directory under '${root}'`);
    } finally {
      writeFileSync(limitFile, saved);
    }
  }, 30_000);
});
