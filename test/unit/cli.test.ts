import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULTS, mainArgs, mainCommand, parseCommandLine, renderHelp, UsageError, type Config } from "../support/config.ts";

let dir = "";

beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "fanotifyd-cli-")));
  mkdirSync(join(dir, "real"));
  mkdirSync(join(dir, "real", "sub"));
  writeFileSync(join(dir, "real", "canary.txt"), "x");
  writeFileSync(join(dir, "plain-file"), "x");
  symlinkSync(join(dir, "real"), join(dir, "link"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function parse(argv: string[], cwd = dir): Config {
  const r = parseCommandLine(argv, { cwd, version: "9.9.9" });
  if (r.kind !== "run") throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}

function usageError(argv: string[], cwd = dir): string {
  try {
    parseCommandLine(argv, { cwd, version: "9.9.9" });
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    const e = err as UsageError;
    expect(e.exitCode).toBe(2);
    expect(e.message).not.toContain("\n");
    return e.message;
  }
  throw new Error(`no error for ${JSON.stringify(argv)}`);
}

function conf(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe("defaults and basics", () => {
  test("defaults with a single watch", () => {
    const c = parse(["-w", "/nonexistent-fanotifyd/x"]);
    expect(c).toEqual({
      marks: [{ type: "inode", path: "/nonexistent-fanotifyd/x", source: "--watch" }],
      canaries: [],
      exclude: [],
      jobs: [],
      output: null,
      socket: null,
      hook: null,
      pidFile: null,
      metrics: null,
      format: "json",
      burstThreshold: 0,
      burstWindowMs: 1000,
      hookCooldownMs: 5000,
      hookMaxConcurrent: 8,
      hookTimeoutMs: 30000,
      socketQueueBytes: 1048576,
      outputQueueBytes: 16777216,
      foreground: false,
      perm: false,
      denyOnAlert: false,
      fid: true,
      processDetails: false,
      permLongSlice: true,
      burstScope: "process",
      detailsCheck: "pidfd",
      verbose: 0,
      configFiles: [],
    });
    expect(DEFAULTS.fid).toBe(true);
  });

  test("result is frozen and re-parsing is deterministic", () => {
    const f = conf("det.conf", "watch /a\njob J\nrootfs /r\n");
    const argv = ["-c", f, "-w", "link", "--canary", "c*"];
    const a = parse(argv);
    const b = parse(argv);
    expect(a).toEqual(b);
    expect(Object.isFrozen(a)).toBe(true);
    expect(Object.isFrozen(a.marks)).toBe(true);
    expect(Object.isFrozen(a.marks[0])).toBe(true);
    expect(Object.isFrozen(a.jobs[0].roots)).toBe(true);
    expect(a.configFiles).toEqual([f]);
  });

  test("all flags", () => {
    const c = parse([
      "--watch", "/w", "--mount", "/m", "--filesystem", "/fs", "--canary", "/c", "--output", "/o",
      "--socket", "/s", "--hook", "echo hi there", "--pid-file", "/p", "--burst-threshold", "7",
      "--burst-window-ms", "2000", "--hook-cooldown-ms", "0", "--hook-max-concurrent", "3",
      "--hook-timeout-ms", "100", "--foreground", "--perm", "--deny-on-alert", "--no-fid", "--verbose",
    ]);
    expect(c.marks.map((m) => [m.type, m.path, m.source])).toEqual([
      ["inode", "/w", "--watch"],
      ["mount", "/m", "--mount"],
      ["filesystem", "/fs", "--filesystem"],
    ]);
    expect(c.canaries).toEqual(["/c"]);
    expect([c.output, c.socket, c.hook, c.pidFile]).toEqual(["/o", "/s", "echo hi there", "/p"]);
    expect([c.burstThreshold, c.burstWindowMs, c.hookCooldownMs, c.hookMaxConcurrent, c.hookTimeoutMs]).toEqual([
      7, 2000, 0, 3, 100,
    ]);
    expect([c.foreground, c.perm, c.denyOnAlert, c.fid, c.verbose]).toEqual([true, true, true, false, 1]);
  });

  test("scalar flags: last one wins", () => {
    const c = parse(["-w", "/x", "-o", "/a", "-o", "/b", "--burst-threshold", "1", "--burst-threshold", "2"]);
    expect(c.output).toBe("/b");
    expect(c.burstThreshold).toBe(2);
  });

  test("mainCommand exposes the option table", () => {
    expect(mainCommand.args).toBe(mainArgs);
    expect(mainArgs.watch.alias).toBe("w");
  });
});

describe("option syntax", () => {
  test("short options bundle", () => {
    const c = parse(["-fvw/x"]);
    expect(c.foreground).toBe(true);
    expect(c.verbose).toBe(1);
    expect(c.marks[0].path).toBe("/x");
    const d = parse(["-fv", "-vv", "-w", "/y"]);
    expect(d.verbose).toBe(3);
    expect(d.marks[0].path).toBe("/y");
  });

  test("-wPATH and -w/tmp attached values", () => {
    expect(parse(["-w/x/y"]).marks[0].path).toBe("/x/y");
    expect(parse(["-wrel"]).marks[0].path).toBe(`${dir}/rel`);
    expect(parse(["-w/x", "-o/out"]).output).toBe("/out");
  });

  test("a required argument is taken verbatim from the next word", () => {
    expect(parse(["-w", "/x", "-o", "-"]).output).toBeNull();
    expect(parse(["-w", "/x", "--hook", "--perm"]).hook).toBe("--perm");
  });

  test("--opt=value", () => {
    const c = parse(["--watch=/x", "--burst-threshold=5", "--hook=a=b c", "--output=/o"]);
    expect(c.marks[0].path).toBe("/x");
    expect(c.burstThreshold).toBe(5);
    expect(c.hook).toBe("a=b c");
    expect(c.output).toBe("/o");
    expect(parse(["--watch=/x", "--output="]).output).toBeNull();
  });

  test("unique-prefix abbreviations are unknown options", () => {
    expect(usageError(["-w", "/x", "--fore"])).toBe("unrecognized option '--fore'");
    expect(usageError(["--vers"])).toBe("unrecognized option '--vers'");
    expect(usageError(["--wat", "/x"])).toBe("unrecognized option '--wat'");
  });

  test("unknown options", () => {
    expect(usageError(["-w", "/x", "--bad-flag"])).toBe("unrecognized option '--bad-flag'");
    expect(usageError(["-w", "/x", "--bad-flag=3"])).toBe("unrecognized option '--bad-flag'");
    expect(usageError(["-w", "/x", "-x"])).toBe("invalid option -- 'x'");
    expect(usageError(["-fx"])).toBe("invalid option -- 'x'");
    expect(usageError(["--fid"])).toBe("unrecognized option '--fid'");
  });

  test("missing option arguments", () => {
    expect(usageError(["--watch"])).toBe("option '--watch' requires an argument");
    expect(usageError(["-w", "/x", "--burst-threshold"])).toBe("option '--burst-threshold' requires an argument");
    expect(usageError(["-w"])).toBe("option requires an argument -- 'w'");
    expect(usageError(["-fw"])).toBe("option requires an argument -- 'w'");
    expect(usageError(["-w", "/x", "-c"])).toBe("option requires an argument -- 'c'");
  });

  test("flags reject =value", () => {
    expect(usageError(["-w", "/x", "--foreground=1"])).toBe("option '--foreground' doesn't allow an argument");
  });

  test("leftover positionals", () => {
    expect(usageError(["-w", "/x", "foo"])).toBe("unexpected argument 'foo'");
    expect(usageError(["foo", "-w", "/x", "bar"])).toBe("unexpected argument 'foo'");
    expect(usageError(["-w", "/x", "-"])).toBe("unexpected argument '-'");
    expect(usageError(["-w", "/x", "--", "-f"])).toBe("unexpected argument '-f'");
  });

  test("-- ends options", () => {
    expect(parse(["-w", "/x", "--"]).marks.length).toBe(1);
  });

  test("no marks at all", () => {
    const msg = "no watch paths configured. Use --watch or a config file.";
    expect(usageError([])).toBe(msg);
    expect(usageError(["--canary", "/x*", "-f"])).toBe(msg);
    expect(usageError(["-c", conf("nomarks.conf", "output /x\n")])).toBe(msg);
  });
});

describe("choices", () => {
  test("--burst-scope and --process-details-check, and their config keys", () => {
    const c = parse(["-w", "/a", "--burst-scope", "container", "--process-details-check", "start-time", "--no-perm-long-slice"]);
    expect({ scope: c.burstScope, check: c.detailsCheck, rt: c.permLongSlice }).toEqual({ scope: "container", check: "start-time", rt: false });
    const f = conf("choices.conf", "watch /w\nburst_scope container\nprocess_details_check start-time\nperm_long_slice 0\n");
    const fc = parse(["-c", f]);
    expect({ scope: fc.burstScope, check: fc.detailsCheck, rt: fc.permLongSlice }).toEqual({ scope: "container", check: "start-time", rt: false });
    expect(parse(["-c", f, "--process-details-check", "pidfd"]).detailsCheck).toBe("pidfd");
  });

  test("a value outside the choices is a one-line usage error naming it", () => {
    expect(usageError(["-w", "/a", "--process-details-check", "fast"])).toContain("invalid --process-details-check value 'fast' (want pidfd or start-time)");
    expect(usageError(["-w", "/a", "--burst-scope", "pod"])).toContain("invalid --burst-scope value 'pod' (want process or container)");
    expect(usageError(["-c", conf("badcheck.conf", "watch /w\nprocess_details_check fast\n")])).toContain(
      "invalid process_details_check value 'fast' (want pidfd or start-time)",
    );
    expect(usageError(["-c", conf("badrt.conf", "watch /w\nperm_long_slice yes\n")])).toContain("invalid perm_long_slice value 'yes' (want 0 or 1)");
  });
});

describe("numbers", () => {
  const flags = ["--burst-threshold", "--burst-window-ms", "--hook-cooldown-ms", "--hook-max-concurrent", "--hook-timeout-ms"];

  for (const flag of flags) {
    test(`${flag} rejects non-u32 values`, () => {
      for (const bad of ["abc", "12ms", "-1", "4294967296", "+5", " 5", "5 ", "", "0x10", "1e3", "1.5"]) {
        expect(usageError(["-w", "/x", flag, bad])).toBe(`invalid ${flag} value '${bad}'`);
      }
      expect(usageError(["-w", "/x", `${flag}=abc`])).toBe(`invalid ${flag} value 'abc'`);
    });
  }

  test("u32 bounds accepted", () => {
    const c = parse(["-w", "/x", "--burst-threshold", "4294967295", "--hook-timeout-ms", "007"]);
    expect(c.burstThreshold).toBe(4294967295);
    expect(c.hookTimeoutMs).toBe(7);
  });

  test("zero values (B7, B8)", () => {
    expect(usageError(["-w", "/x", "--burst-window-ms", "0"])).toBe(
      "invalid --burst-window-ms value '0' (must be at least 1)",
    );
    expect(usageError(["-w", "/x", "--hook-max-concurrent", "0"])).toBe(
      "invalid --hook-max-concurrent value '0' (must be at least 1)",
    );
    expect(usageError(["-w", "/x", "--hook-timeout-ms", "0"])).toBe(
      "invalid --hook-timeout-ms value '0' (must be at least 1)",
    );
    const c = parse(["-w", "/x", "--hook-cooldown-ms", "0", "--burst-threshold", "0"]);
    expect(c.hookCooldownMs).toBe(0);
    expect(c.burstThreshold).toBe(0);
  });
});

describe("--help and --version", () => {
  test("--help returns the help text and ignores what follows", () => {
    const r = parseCommandLine(["--help", "--bad-flag", "foo", "-c", "/nonexistent"], { cwd: dir, version: "1.2.3" });
    expect(r.kind).toBe("help");
    if (r.kind !== "help") return;
    expect(r.text.split("\n")[0]).toBe("Usage: fanotifyd [OPTIONS]");
    expect(r.text.split("\n")[1]).toBe("");
  });

  test("-h inside a bundle, and argv0", () => {
    const r = parseCommandLine(["-fh", "-x"], { cwd: dir, version: "1", argv0: "/usr/sbin/fanotifyd" });
    expect(r.kind).toBe("help");
    if (r.kind === "help") expect(r.text.startsWith("Usage: /usr/sbin/fanotifyd [OPTIONS]\n\n")).toBe(true);
  });

  test("--version", () => {
    expect(parseCommandLine(["--version", "--nope"], { cwd: dir, version: "1.2.3" })).toEqual({
      kind: "version",
      text: "fanotifyd 1.2.3",
    });
    // No marks needed.
    expect(parseCommandLine(["-f", "--version"], { cwd: dir, version: "0.1.0" }).kind).toBe("version");
  });

  test("options before --help have run", () => {
    expect(usageError(["--bad-flag", "--help"])).toBe("unrecognized option '--bad-flag'");
    expect(usageError(["--burst-threshold", "abc", "--help"])).toBe("invalid --burst-threshold value 'abc'");
    const bad = conf("bad-before-help.conf", "wtach /x\n");
    expect(usageError(["-c", bad, "--help"])).toBe(`config:${bad}:1: unknown key 'wtach'`);
    expect(usageError(["-c", bad, "--version"])).toBe(`config:${bad}:1: unknown key 'wtach'`);
  });

  test("--help after a positional still shows help (positionals are checked at the end)", () => {
    expect(parseCommandLine(["foo", "--help"], { cwd: dir, version: "1" }).kind).toBe("help");
  });

  test("help text lists every option and the config keys", () => {
    const text = renderHelp("fanotifyd");
    expect(text.endsWith("\n")).toBe(true);
    for (const name of Object.keys(mainArgs)) expect(text).toContain(`--${name}`);
    for (const line of ["-c, --config FILE", "-w, --watch PATH", "-o, --output PATH", "--burst-threshold N",
      "--hook-timeout-ms MS", "-f, --foreground", "-v, --verbose", "-h, --help", "--canary PATTERN"]) {
      expect(text).toContain(line);
    }
    expect(text).toContain("(config) job ID");
    expect(text).toContain("job_<role>");
    const flat = text.replace(/\n/g, " ");
    for (const key of ["watch", "mount", "filesystem", "canary", "output", "socket", "hook", "pid_file",
      "burst_threshold", "burst_window_ms", "hook_cooldown_ms", "hook_max_concurrent", "hook_timeout_ms",
      "socket_queue_bytes", "output_queue_bytes", "foreground", "perm", "deny_on_alert", "fid", "job",
      "rootfs", "workspace", "export", "cache", "job_rootfs", "job_workspace", "job_export", "job_cache"]) {
      expect(flat).toMatch(new RegExp(` ${key}[,.] `));
    }
    expect(flat).toContain("The boolean keys foreground, perm, deny_on_alert, fid, process_details and perm_long_slice take only 0 or 1.");
    expect(flat).not.toContain(" out,");
    expect(flat).not.toContain("pidfile");
    for (const line of text.split("\n")) expect(line.length).toBeLessThanOrEqual(110);
  });
});

describe("repeatables", () => {
  test("marks and canaries accumulate in order", () => {
    const c = parse(["-w", "/a", "--mount", "/b", "--filesystem", "/c", "-w", "/d", "--canary", "/x*", "--canary", "/y?"]);
    expect(c.marks.map((m) => `${m.type}:${m.path}`)).toEqual(["inode:/a", "mount:/b", "filesystem:/c", "inode:/d"]);
    expect(c.canaries).toEqual(["/x*", "/y?"]);
  });

  test("marks from config files keep their place in the argument order", () => {
    const f = conf("order.conf", "watch /f1\nmount /f2\ncanary /fc\n");
    const c = parse(["-w", "/a", "-c", f, "-w", "/b", "--canary", "/cc"]);
    expect(c.marks.map((m) => m.path)).toEqual(["/a", "/f1", "/f2", "/b"]);
    expect(c.marks[1].source).toBe(`config:${f}:1`);
    expect(c.marks[2].source).toBe(`config:${f}:2`);
    expect(c.canaries).toEqual(["/fc", "/cc"]);
  });
});

describe("paths", () => {
  test("watch through a symlink is realpath'd", () => {
    expect(parse(["-w", join(dir, "link")]).marks[0].path).toBe(join(dir, "real"));
    expect(parse(["-w", "link/sub/"]).marks[0].path).toBe(join(dir, "real", "sub"));
    expect(parse(["--mount", "link/sub/.."]).marks[0].path).toBe(join(dir, "real"));
  });

  test("trailing slashes stripped, / stays /", () => {
    expect(parse(["-w", "/nonexistent-fanotifyd/dir///"]).marks[0].path).toBe("/nonexistent-fanotifyd/dir");
    expect(parse(["-w", `${dir}/real/`]).marks[0].path).toBe(`${dir}/real`);
    expect(parse(["-w", "/"]).marks[0].path).toBe("/");
    expect(parse(["-w", "///"]).marks[0].path).toBe("/");
  });

  test("missing relative path is made absolute against cwd and normalised", () => {
    expect(parse(["-w", "missing/./x/../y/"]).marks[0].path).toBe(`${dir}/missing/y`);
    expect(parse(["--filesystem", "nope"], "/nonexistent-cwd").marks[0].path).toBe("/nonexistent-cwd/nope");
  });

  test("other realpath failures are errors", () => {
    const p = join(dir, "plain-file", "x");
    expect(usageError(["-w", p])).toBe(`bad path '${p}' for --watch: Not a directory`);
    expect(usageError(["--mount", p])).toBe(`bad path '${p}' for --mount: Not a directory`);
    expect(usageError(["--filesystem", "plain-file/x"])).toBe(`bad path 'plain-file/x' for --filesystem: Not a directory`);
    expect(usageError(["-w", ""])).toBe("bad path '' for --watch: empty path");
    expect(usageError(["--watch="])).toBe("bad path '' for --watch: empty path");
  });

  test("canary globs kept verbatim, only made absolute", () => {
    const c = parse(["-w", "/x", "--canary", `${dir}/link/*.txt`, "--canary", "link/c[a]nary?", "--canary", "/a//b/*/"]);
    expect(c.canaries).toEqual([`${dir}/link/*.txt`, `${dir}/link/c[a]nary?`, "/a//b/*/"]);
  });

  test("literal canaries: existing ones symlink-resolved, missing ones absolutised, no slash strip", () => {
    const c = parse(["-w", "/x", "--canary", "link/canary.txt", "--canary", "/nonexistent-fanotifyd/dir/", "--canary", "gone"]);
    expect(c.canaries).toEqual([`${dir}/real/canary.txt`, "/nonexistent-fanotifyd/dir/", `${dir}/gone`]);
    expect(usageError(["-w", "/x", "--canary", ""])).toBe("bad pattern '' for --canary: empty pattern");
  });

  test("output, socket and pid file made absolute; '-' and '' mean stdout", () => {
    const c = parse(["-w", "/x", "-o", "out/events.jsonl", "--socket", "./s.sock", "--pid-file", "../p.pid"]);
    expect(c.output).toBe(`${dir}/out/events.jsonl`);
    expect(c.socket).toBe(`${dir}/s.sock`);
    const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
    expect(c.pidFile).toBe(`${parent}/p.pid`);
    expect(parse(["-w", "/x", "-o", "-"]).output).toBeNull();
    expect(parse(["-w", "/x", "-o", ""]).output).toBeNull();
  });

  test("hook kept raw", () => {
    expect(parse(["-w", "/x", "--hook", "  ./notify.sh  $FAN_PATH "]).hook).toBe("  ./notify.sh  $FAN_PATH ");
  });

  test("config files recorded as absolute paths", () => {
    conf("rel.conf", "watch /r\n");
    expect(parse(["-c", "rel.conf", "--config", "./rel.conf"]).configFiles).toEqual([`${dir}/rel.conf`, `${dir}/rel.conf`]);
  });
});

describe("precedence (B13)", () => {
  test("command-line scalars override config files in both orders", () => {
    const f = conf("prec.conf", "watch /w\noutput /from-file\nburst_threshold 9\nhook file-hook\nsocket /fs.sock\n");
    for (const argv of [
      ["-o", "/x", "--burst-threshold", "3", "-c", f],
      ["-c", f, "-o", "/x", "--burst-threshold", "3"],
    ]) {
      const c = parse(argv);
      expect(c.output).toBe("/x");
      expect(c.burstThreshold).toBe(3);
      expect(c.hook).toBe("file-hook");
      expect(c.socket).toBe("/fs.sock");
    }
  });

  test("'-o -' on the command line overrides a file's output", () => {
    const f = conf("prec2.conf", "watch /w\noutput /from-file\n");
    expect(parse(["-o", "-", "-c", f]).output).toBeNull();
  });

  test("empty --socket/--hook/--pid-file unset a file's value", () => {
    const f = conf("prec3.conf", "watch /w\nsocket /s\nhook h\npid_file /p\n");
    const c = parse(["-c", f, "--socket", "", "--hook=", "--pid-file", ""]);
    expect([c.socket, c.hook, c.pidFile]).toEqual([null, null, null]);
  });

  test("a later config file overrides an earlier one", () => {
    const a = conf("a.conf", "watch /a\noutput /a.out\nperm 1\n");
    const b = conf("b.conf", "watch /b\noutput /b.out\nperm 0\n");
    const c = parse(["-c", a, "-c", b]);
    expect(c.output).toBe("/b.out");
    expect(c.perm).toBe(false);
    expect(c.marks.map((m) => m.path)).toEqual(["/a", "/b"]);
    expect(c.configFiles).toEqual([a, b]);
  });

  test("booleans: the file sets 0 or 1, the command line can only turn on", () => {
    const off = conf("off.conf", "watch /w\nforeground 0\nperm 0\ndeny_on_alert 0\nfid 1\n");
    const on = conf("on.conf", "watch /w\nforeground 1\nperm 1\ndeny_on_alert 1\nfid 0\n");
    const c1 = parse(["-f", "--perm", "--deny-on-alert", "--no-fid", "-c", off]);
    expect([c1.foreground, c1.perm, c1.denyOnAlert, c1.fid]).toEqual([true, true, true, false]);
    const c2 = parse(["-c", on]);
    expect([c2.foreground, c2.perm, c2.denyOnAlert, c2.fid]).toEqual([true, true, true, false]);
    const c3 = parse(["-c", off]);
    expect([c3.foreground, c3.perm, c3.denyOnAlert, c3.fid]).toEqual([false, false, false, true]);
  });

  test("verbose: -v count overrides the file", () => {
    const f = conf("verbose.conf", "watch /w\nverbose 2\n");
    expect(parse(["-c", f]).verbose).toBe(2);
    expect(parse(["-v", "-c", f]).verbose).toBe(1);
  });

  test("jobs accumulate across files and are reused by id", () => {
    const a = conf("ja.conf", "watch /w\njob A\nrootfs /a/root\n");
    const b = conf("jb.conf", "job_workspace A /a/ws\njob B\ncache /b/cache\njob A\nrootfs /a/root2\n");
    const c = parse(["-c", a, "-c", b]);
    expect(c.jobs).toEqual([
      { id: "A", roots: { rootfs: "/a/root2", workspace: "/a/ws" } },
      { id: "B", roots: { cache: "/b/cache" } },
    ]);
  });

  test("the current job does not carry over to the next file", () => {
    const a = conf("cur-a.conf", "watch /w\njob A\n");
    const b = conf("cur-b.conf", "\nrootfs /x\n");
    expect(usageError(["-c", a, "-c", b])).toBe(`config:${b}:2: rootfs requires a preceding job`);
  });

  test("config load errors propagate", () => {
    expect(usageError(["-w", "/x", "-c", "/nonexistent-fanotifyd.conf"])).toBe(
      "config:/nonexistent-fanotifyd.conf: cannot read: No such file or directory",
    );
    expect(usageError(["-w", "/x", "-c", "missing.conf"])).toBe("config:missing.conf: cannot read: No such file or directory");
  });
});
