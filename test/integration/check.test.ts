// `fanotifyd check`: the daemon's parsing, the daemon's messages and exit codes, no mark placed.
// Each usage/config error of the existing CLI tests gives check the same message and exit status as the
// daemon; every example config and the systemd unit's command line pass; a mark that cannot be placed is
// reported (exit 1, as the daemon would exit).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BIN, REPO, cleanupAll, makeTmpDir, makeTmpfs, requireIntegration, runDaemon, type Tmpfs } from "./harness.ts";

const RUN = requireIntegration();

function check(args: readonly string[], cwd = REPO): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([BIN, "check", ...args], { stdout: "pipe", stderr: "pipe", cwd });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** The daemon's stderr without log timestamps (its ERROR lines carry them; check prints plain lines). */
function plain(stderr: string): string {
  return stderr.replace(/^\d{4}-\d\d-\d\dT[\d:.]+Z ERROR /gm, "");
}

describe.skipIf(!RUN)("fanotifyd check", () => {
  let fs: Tmpfs;
  let dir: string;
  beforeAll(() => {
    fs = makeTmpfs();
    dir = makeTmpDir();
  });
  afterAll(cleanupAll);

  test("a good configuration: the effective settings and one plan line per mark, exit 0, nothing placed", () => {
    mkdirSync(join(fs.dir, "sub"));
    const conf = join(dir, "good.conf");
    writeFileSync(conf, `filesystem ${fs.dir}\nexclude **/node_modules/**\njob J\nrootfs ${fs.dir}/sub\n`);
    const r = check(["-c", conf, "-w", fs.dir, "--mount", fs.dir, "-o", join(dir, "o.jsonl"), "--metrics", "127.0.0.1:9464", "--perm"]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("mode: perm (3 content groups, one per mark up to 8; notification group fid)");
    expect(r.stdout).toContain("metrics: 127.0.0.1:9464");
    expect(r.stdout).toContain("exclude: **/node_modules/**");
    expect(r.stdout).toContain(`job: J rootfs=${fs.dir}/sub`);
    expect(r.stdout).toContain("marks: 3");
    expect(r.stdout).toContain("perm_long_slice: 1\nburst_scope: process\nprocess_details: 0\n");
    const details = check(["-w", fs.dir, "-o", join(dir, "o.jsonl"), "--burst-scope", "container", "--process-details-check", "start-time"]);
    expect(details.code).toBe(0);
    // burst_scope container implies the details; no perm_long_slice line without --perm
    expect(details.stdout).toContain("deny_on_alert: 0\nburst_scope: container\nprocess_details: 1 (check start-time)\n");
    // perm: a content and a notification line per mark
    expect(r.stdout).toContain(`  filesystem ${fs.dir}: content group, fd-filesystem-mark: FD permission events; delivers OPEN_PERM,ACCESS_PERM`);
    expect(r.stdout).toContain(`  filesystem ${fs.dir}: notify group, fid-filesystem: (tmpfs) FID filesystem mark; delivers every event kind`);
    expect(r.stdout).toMatch(/ {2}mount \S+: notify group, fid-filesystem-scoped: \(tmpfs\) FID filesystem mark kept to the mount's tree; delivers every event kind/);
    expect(r.stdout.endsWith("configuration OK\n")).toBe(true);
    // Nothing was marked: fanotifyd check holds no fanotify fd (it has exited), and no output was created.
    expect(() => readFileSync(join(dir, "o.jsonl"))).toThrow();
  });

  const errorCases: Array<[string, (fsDir: string, d: string) => string[]]> = [
    ["unknown option", (f) => ["-f", "--watch", f, "--bad-flag"]],
    ["bad number", (f) => ["-f", "--watch", f, "--burst-threshold", "abc"]],
    ["no marks", () => ["-f"]],
    ["missing option argument", (f) => ["-f", "-w", f, "--socket"]],
    ["leftover positional", (f) => ["-f", "-w", f, "foo"]],
    ["unknown config key", (f, d) => {
      const c = join(d, "bad.conf");
      writeFileSync(c, `# test config\nwatch ${f}\nwtach ${f}\n`);
      return ["-f", "-c", c];
    }],
    ["duplicate config key", (f, d) => {
      const c = join(d, "dup.conf");
      writeFileSync(c, `watch ${f}\noutput /dev/null\noutput /dev/null\n`);
      return ["-f", "-c", c];
    }],
    ["missing config file", (f) => ["-f", "-w", f, "-c", "/nonexistent/x.conf"]],
    ["burst window 0", (f) => ["-f", "-w", f, "--burst-window-ms", "0"]],
    ["daemon mode with stdout output", (f) => ["-w", f]],
    ["deny-on-alert without perm", (f) => ["-f", "-w", f, "--deny-on-alert"]],
    ["canary too complex", (f) => ["-f", "--watch", f, "--canary", join(f, "[ab]".repeat(20_000)), "-o", "/dev/null"]],
    ["hostile exclusion", (f) => ["-f", "-w", f, "--exclude", "**/a*a*b"]],
    ["metrics off loopback", (f) => ["-f", "-w", f, "--metrics", "10.0.0.1:9464"]],
    ["bad format", (f) => ["-f", "-w", f, "--format", "yaml"]],
  ];
  test.each(errorCases)("%s: same message and exit status 2 as the daemon", async (_name, make) => {
    const args = make(fs.dir, dir);
    const daemon = await runDaemon(args);
    const c = check(args);
    expect(daemon.code).toBe(2);
    expect({ code: c.code, stderr: c.stderr, stdout: c.stdout }).toEqual({ code: 2, stderr: plain(daemon.stderr), stdout: "" });
  });

  test("a mark that cannot be placed: reported with its plan, exit 1 like the daemon", async () => {
    const missing = join(fs.dir, "does-not-exist");
    const r = check(["-f", "-w", fs.dir, "--filesystem", missing]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`  filesystem ${missing}: notify group, none: cannot be placed: `);
    expect(r.stdout).toContain("WILL FAIL: the path does not exist; create it first");
    expect(r.stderr).toBe(`fanotifyd check: cannot place filesystem mark on '${missing}': the path does not exist; create it first\n`);
    expect((await runDaemon(["-f", "-w", fs.dir, "--filesystem", missing])).code).toBe(1);
  });

  test("every example config and the systemd unit's command line pass (paths moved to a scratch tree)", () => {
    // examples/cgroupd-landlockd.conf names /run/jobs/J/... and /var/cache/job-platform: create them
    // under a scratch root and point the config there.
    const root = makeTmpDir("fanotifyd-check-ex-");
    const text = readFileSync(join(REPO, "examples", "cgroupd-landlockd.conf"), "utf8").replace(/(^|\s)\/(run|var)\//g, `$1${root}/$2/`);
    for (const line of text.split("\n")) {
      const m = /^(?:mount|watch|filesystem|rootfs|workspace|export|cache)\s+(\S+)/.exec(line.trim());
      if (m) mkdirSync(m[1]!, { recursive: true });
    }
    const conf = join(root, "example.conf");
    writeFileSync(conf, text);
    const r = check(["-c", conf]);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: "" });
    expect(r.stdout).toContain("configuration OK");

    const unit = readFileSync(join(REPO, "examples", "fanotifyd.service"), "utf8");
    const exec = /^ExecStart=\S+ (.*)$/m.exec(unit)![1]!.split(/\s+/).map((a) => (a === "/etc/fanotifyd/fanotifyd.conf" ? conf : a));
    const u = check(exec);
    expect({ code: u.code, stderr: u.stderr }).toEqual({ code: 0, stderr: "" });
  });

  test("--help and --version work under check", () => {
    expect(check(["--version"]).stdout).toMatch(/^fanotifyd \d+\.\d+\.\d+\n$/);
    expect(check(["--help"]).stdout).toStartWith("Usage:");
  });
});
