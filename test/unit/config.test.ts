import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfigFile, parseCommandLine, parseU32, UsageError, type ConfigFileContents } from "../support/config.ts";

let dir = "";
let n = 0;

beforeAll(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), "fanotifyd-conf-")));
  mkdirSync(join(dir, "real"));
  writeFileSync(join(dir, "real", "shadow"), "x");
  writeFileSync(join(dir, "plain-file"), "x");
  symlinkSync(join(dir, "real"), join(dir, "link"));
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Write `text` to a fresh config file; returns its path. */
function conf(text: string): string {
  const p = join(dir, `c${++n}.conf`);
  writeFileSync(p, text);
  return p;
}

function load(text: string, cwd = dir): ConfigFileContents {
  return loadConfigFile(conf(text), cwd);
}

/** The error message for `text`, with the file path replaced by FILE. */
function loadError(text: string): string {
  const p = conf(text);
  try {
    loadConfigFile(p, dir);
  } catch (err) {
    expect(err).toBeInstanceOf(UsageError);
    expect((err as UsageError).message).not.toContain("\n");
    return (err as UsageError).message.split(p).join("FILE");
  }
  throw new Error(`no error for ${JSON.stringify(text)}`);
}

describe("syntax", () => {
  test("comments, blank lines, whitespace, no inline comments", () => {
    const c = load("# a comment\n\n   \t\n   # indented comment\n  output   /x # y  \n\thook /bin/sh -c  'echo hi'\t\nwatch /w\n");
    expect(c.settings.output).toBe("/x # y");
    expect(c.settings.hook).toBe("/bin/sh -c  'echo hi'");
    expect(c.marks).toEqual([{ type: "inode", path: "/w", source: `config:${c.file}:7` }]);
  });

  test("CRLF line ends and a last line without newline", () => {
    const c = load("watch /a\r\nmount /b");
    expect(c.marks.map((m) => m.path)).toEqual(["/a", "/b"]);
  });

  test("unknown keys (case sensitive)", () => {
    expect(loadError("watch /a\n\n# c\nwtach /x\n")).toBe("config:FILE:4: unknown key 'wtach'");
    expect(loadError("Output /x\n")).toBe("config:FILE:1: unknown key 'Output'");
    expect(loadError("output=/x\n")).toBe("config:FILE:1: unknown key 'output=/x'");
  });

  test("missing values", () => {
    expect(loadError("watch /a\noutput\n")).toBe("config:FILE:2: missing value for 'output'");
    expect(loadError("output   \t \n")).toBe("config:FILE:1: missing value for 'output'");
    expect(loadError("job\n")).toBe("config:FILE:1: missing value for 'job'");
    expect(loadError("watch\n")).toBe("config:FILE:1: missing value for 'watch'");
  });

  test("parsing stops at the first bad line", () => {
    expect(loadError("bogus 1\nalso-bogus 2\n")).toBe("config:FILE:1: unknown key 'bogus'");
  });

  test("unreadable files", () => {
    expect(() => loadConfigFile("/nonexistent-fanotifyd/x.conf", dir)).toThrow(
      new UsageError("config:/nonexistent-fanotifyd/x.conf: cannot read: No such file or directory"),
    );
    try {
      loadConfigFile("real", dir);
      throw new Error("no error");
    } catch (err) {
      expect((err as Error).message).toBe("config:real: cannot read: Is a directory");
    }
    try {
      loadConfigFile("plain-file/x.conf", dir);
      throw new Error("no error");
    } catch (err) {
      expect((err as Error).message).toBe("config:plain-file/x.conf: cannot read: Not a directory");
    }
  });

  test("file path as given in messages, absolute in absPath", () => {
    writeFileSync(join(dir, "relative.conf"), "watch /a\nnope 1\n");
    expect(() => loadConfigFile("relative.conf", dir)).toThrow("config:relative.conf:2: unknown key 'nope'");
    writeFileSync(join(dir, "relative-ok.conf"), "watch /a\n");
    const c = loadConfigFile("./relative-ok.conf", dir);
    expect(c.file).toBe("./relative-ok.conf");
    expect(c.absPath).toBe(join(dir, "relative-ok.conf"));
    expect(c.marks[0].source).toBe("config:./relative-ok.conf:1");
  });
});

describe("scalars", () => {
  test("all scalar keys and aliases", () => {
    const c = load(
      [
        "out /o",
        "socket /s",
        "hook h",
        "pidfile /p",
        "burst_threshold 32",
        "burst_window_ms 250",
        "hook_cooldown_ms 0",
        "hook_max_concurrent 2",
        "hook_timeout_ms 1500",
        "socket_queue_bytes 4096",
        "output_queue_bytes 65536",
        "foreground 1",
        "perm 0",
        "deny_on_alert 1",
        "fid 0",
        "verbose 3",
      ].join("\n"),
    );
    expect(c.settings).toEqual({
      output: "/o",
      socket: "/s",
      hook: "h",
      pidFile: "/p",
      burstThreshold: 32,
      burstWindowMs: 250,
      hookCooldownMs: 0,
      hookMaxConcurrent: 2,
      hookTimeoutMs: 1500,
      socketQueueBytes: 4096,
      outputQueueBytes: 65536,
      foreground: true,
      perm: false,
      denyOnAlert: true,
      fid: false,
      verbose: 3,
    });
  });

  test("unset keys are absent", () => {
    expect(load("watch /a\n").settings).toEqual({});
  });

  test("relative paths resolve against the start cwd, not the file's directory", () => {
    const c = load("output logs/x.jsonl\nsocket s.sock\npid_file ../p.pid\nwatch sub/dir/\n", "/start");
    expect(c.settings.output).toBe("/start/logs/x.jsonl");
    expect(c.settings.socket).toBe("/start/s.sock");
    expect(c.settings.pidFile).toBe("/p.pid");
    expect(c.marks[0].path).toBe("/start/sub/dir");
  });

  test("output - means stdout", () => {
    expect(load("output -\n").settings.output).toBeNull();
  });

  test("numbers reject non-u32 values", () => {
    for (const key of ["burst_threshold", "burst_window_ms", "hook_cooldown_ms", "hook_max_concurrent",
      "hook_timeout_ms", "socket_queue_bytes", "output_queue_bytes", "verbose"]) {
      for (const bad of ["abc", "12ms", "-1", "4294967296", "+5", "1 2", "0x1f", "1.0"]) {
        expect(loadError(`${key} ${bad}\n`)).toBe(`config:FILE:1: invalid ${key} value '${bad}'`);
      }
    }
    expect(load("burst_threshold 4294967295\n").settings.burstThreshold).toBe(4294967295);
  });

  test("zero values (B7, B8)", () => {
    expect(loadError("burst_window_ms 0\n")).toBe("config:FILE:1: invalid burst_window_ms value '0' (must be at least 1)");
    expect(loadError("hook_max_concurrent 0\n")).toBe(
      "config:FILE:1: invalid hook_max_concurrent value '0' (must be at least 1)",
    );
    expect(loadError("hook_timeout_ms 0\n")).toBe("config:FILE:1: invalid hook_timeout_ms value '0' (must be at least 1)");
    expect(loadError("socket_queue_bytes 0\n")).toBe(
      "config:FILE:1: invalid socket_queue_bytes value '0' (must be at least 1)",
    );
    expect(load("hook_cooldown_ms 0\n").settings.hookCooldownMs).toBe(0);
    expect(load("burst_threshold 0\n").settings.burstThreshold).toBe(0);
  });

  test("booleans take exactly 0 or 1", () => {
    for (const key of ["foreground", "perm", "deny_on_alert", "fid"]) {
      for (const bad of ["true", "false", "2", "-1", "1junk", "01", "yes", "1 0"]) {
        expect(loadError(`${key} ${bad}\n`)).toBe(`config:FILE:1: invalid ${key} value '${bad}' (want 0 or 1)`);
      }
    }
    expect(load("perm 1\nfid 0\n").settings).toEqual({ perm: true, fid: false });
  });

  test("duplicate scalar keys within one file", () => {
    expect(loadError("output /a\nwatch /w\noutput /b\n")).toBe("config:FILE:3: duplicate key 'output' (first set on line 1)");
    expect(loadError("output /a\nout /b\n")).toBe("config:FILE:2: duplicate key 'out' (first set on line 1 as 'output')");
    expect(loadError("pid_file /a\npidfile /b\n")).toBe(
      "config:FILE:2: duplicate key 'pidfile' (first set on line 1 as 'pid_file')",
    );
    expect(loadError("fid 1\nfid 1\n")).toBe("config:FILE:2: duplicate key 'fid' (first set on line 1)");
    expect(loadError("burst_threshold 1\n\nburst_threshold 1\n")).toBe(
      "config:FILE:3: duplicate key 'burst_threshold' (first set on line 1)",
    );
  });

  test("repeated marks, canaries and job lines are fine", () => {
    const c = load("watch /a\nwatch /a\ncanary /c\ncanary /c\njob J\njob J\nrootfs /r1\nrootfs /r2\n");
    expect(c.marks.length).toBe(2);
    expect(c.canaries).toEqual(["/c", "/c"]);
    expect(c.jobs).toEqual([{ id: "J", roots: { rootfs: "/r2" } }]);
  });
});

describe("marks and canaries", () => {
  test("mark types and realpath", () => {
    const c = load(`watch link/\nmount ${dir}/link\nfilesystem /nonexistent-fanotifyd//x/\n`);
    expect(c.marks.map((m) => [m.type, m.path])).toEqual([
      ["inode", `${dir}/real`],
      ["mount", `${dir}/real`],
      ["filesystem", "/nonexistent-fanotifyd/x"],
    ]);
  });

  test("mark paths that cannot be resolved", () => {
    expect(loadError("watch plain-file/x\n")).toBe("config:FILE:1: bad path 'plain-file/x' for watch: Not a directory");
  });

  test("canaries: globs verbatim, literals resolved", () => {
    const c = load("canary link/*\ncanary /a//b/[x]/\ncanary link/shadow\ncanary /nonexistent-fanotifyd/c/\n");
    expect(c.canaries).toEqual([`${dir}/link/*`, "/a//b/[x]/", `${dir}/real/shadow`, "/nonexistent-fanotifyd/c/"]);
  });
});

describe("jobs", () => {
  test("job blocks, role replace, reuse of ids, ids with spaces", () => {
    const c = load(
      [
        "job A",
        "rootfs /a/root/",
        "workspace /a/ws",
        "job my job",
        "export /b/export",
        "job A",
        "rootfs /a/root2",
        "cache /a/cache",
      ].join("\n"),
    );
    expect(c.jobs).toEqual([
      { id: "A", roots: { rootfs: "/a/root2", workspace: "/a/ws", cache: "/a/cache" } },
      { id: "my job", roots: { export: "/b/export" } },
    ]);
  });

  test("a job with no roles is kept", () => {
    expect(load("job lonely\n").jobs).toEqual([{ id: "lonely", roots: {} }]);
  });

  test("job_<role> lines create jobs without changing the current job", () => {
    const c = load(
      ["job A", "job_rootfs B /b/root", "workspace /a/ws", "job_cache A   /a/cache dir  ", "job_export B /b/e"].join("\n"),
    );
    expect(c.jobs).toEqual([
      { id: "A", roots: { workspace: "/a/ws", cache: "/a/cache dir" } },
      { id: "B", roots: { rootfs: "/b/root", export: "/b/e" } },
    ]);
  });

  test("job paths are realpath'd, absolutised and slash-stripped", () => {
    const c = load(`job J\nrootfs link/\nworkspace missing/ws//\njob_cache J ${dir}/link/shadow\n`);
    expect(c.jobs[0].roots).toEqual({
      rootfs: `${dir}/real`,
      workspace: `${dir}/missing/ws`,
      cache: `${dir}/real/shadow`,
    });
  });

  test("role keys need a preceding job", () => {
    for (const role of ["rootfs", "workspace", "export", "cache"]) {
      expect(loadError(`watch /a\n${role} /x\n`)).toBe(`config:FILE:2: ${role} requires a preceding job`);
    }
    // job_<role> does not open a block
    expect(loadError("job_rootfs A /x\nrootfs /y\n")).toBe("config:FILE:2: rootfs requires a preceding job");
  });

  test("malformed job_<role> entries", () => {
    for (const role of ["rootfs", "workspace", "export", "cache"]) {
      expect(loadError(`job_${role} only-id\n`)).toBe(
        `config:FILE:1: malformed job_${role} entry (want: job_${role} <job-id> <path>)`,
      );
    }
    expect(loadError("job_rootfs\n")).toBe("config:FILE:1: missing value for 'job_rootfs'");
  });

  test("bad job path", () => {
    expect(loadError("job J\nrootfs plain-file/x\n")).toBe("config:FILE:2: bad path 'plain-file/x' for rootfs: Not a directory");
    expect(loadError("job_export J plain-file/x\n")).toBe(
      "config:FILE:1: bad path 'plain-file/x' for job_export: Not a directory",
    );
  });
});

describe("seed README example", () => {
  test("loads without error (paths need not exist)", () => {
    const readme = readFileSync("/work/shared/spec/seed-README.txt", "utf8");
    const start = readme.indexOf("Example:\n");
    const end = readme.indexOf("Run it with:");
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const example = readme.slice(start + "Example:\n".length, end);
    const p = conf(example);
    const c = loadConfigFile(p, dir);
    expect(c.settings).toEqual({
      output: "/var/log/fanotifyd/J.jsonl",
      socket: "/run/fanotifyd/J.sock",
      foreground: true,
      perm: true,
      denyOnAlert: true,
      burstThreshold: 32,
      burstWindowMs: 1000,
      hookCooldownMs: 5000,
    });
    expect(c.jobs).toEqual([
      {
        id: "J",
        roots: {
          rootfs: "/run/jobs/J/root",
          workspace: "/run/jobs/J/workspace",
          export: "/run/jobs/J/export",
          cache: "/var/cache/job-platform",
        },
      },
    ]);
    expect(c.marks.map((m) => `${m.type}:${m.path}`)).toEqual([
      "mount:/run/jobs/J/root",
      "mount:/run/jobs/J/workspace",
      "mount:/run/jobs/J/export",
      "mount:/var/cache/job-platform",
    ]);
    expect(c.canaries).toEqual(["/run/jobs/J/root/etc/shadow"]);

    const r = parseCommandLine(["--config", p], { cwd: dir, version: "0.1.0" });
    expect(r.kind).toBe("run");
    if (r.kind === "run") {
      expect(r.config.perm).toBe(true);
      expect(r.config.marks.length).toBe(4);
      expect(r.config.configFiles).toEqual([p]);
    }
  });
});

describe("parseU32", () => {
  test("strict decimal u32", () => {
    expect(parseU32("0")).toBe(0);
    expect(parseU32("4294967295")).toBe(4294967295);
    expect(parseU32("00000000000000000000001")).toBe(1);
    for (const bad of ["", "abc", "12ms", "-1", "4294967296", "+5", " 5", "5 ", "1e3", "99999999999999999999"]) {
      expect(parseU32(bad)).toBeNull();
    }
  });
});

describe("config file trust (issue 14 item 3)", () => {
  const make = (name: string, mode: number): string => {
    const d = join(dir, `trust-${name}`);
    mkdirSync(d, { mode: 0o755 });
    const f = join(d, "f.conf");
    writeFileSync(f, "watch /x\n");
    chmodSync(f, mode);
    return f;
  };
  const message = (f: string): string => {
    try {
      loadConfigFile(f, dir);
    } catch (err) {
      return (err as Error).message;
    }
    return "accepted";
  };

  test("a file group or others can write is refused, naming the file and its mode", () => {
    expect(message(make("gw", 0o664))).toBe(`config:${dir}/trust-gw/f.conf: refusing '${dir}/trust-gw/f.conf': file mode 0664 lets group or others write it (chmod go-w)`);
    expect(message(make("ow", 0o602))).toMatch(/file mode 0602 lets group or others write it/);
  });

  test("default umask modes (0644, 0600) are accepted", () => {
    expect(message(make("ok", 0o644))).toBe("accepted");
    expect(message(make("ok2", 0o600))).toBe("accepted");
  });

  test("a directory others can write is refused (even with the sticky bit)", () => {
    const f = make("dirw", 0o644);
    chmodSync(dirname(f), 0o1777);
    expect(message(f)).toMatch(/refusing '.*f\.conf': directory '.*trust-dirw' mode 01777 lets group or others write it/);
  });

  test.skipIf(process.geteuid?.() !== 0)("a file another user owns is refused", () => {
    const f = make("own", 0o644);
    chownSync(f, 65534, 65534);
    expect(message(f)).toMatch(/file owned by uid 65534, not by root or the daemon's user \(uid 0\)/);
  });
});
