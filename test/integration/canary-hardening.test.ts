// Hostile canary patterns, canaries made of bytes that are not UTF-8, and burst denies beside many
// canaries (issue 14 items 1, 9 and 10), against real fanotify marks on private tmpfs mounts.
//
// SAFETY: every mark is on a tmpfs this file mounts. While a permission daemon runs, this process never
// touches the marked file system: every access goes through a child with a hard deadline (runTimed).

import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  cleanupAll,
  hasEvent,
  makeTmpDir,
  makeTmpfs,
  requireIntegration,
  runDaemon,
  runDaemonMode,
  runTimed,
  startDaemon,
  waitFor,
  waitForRecord,
  type JsonRecord,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();

/** Backtracks without bound in a RegExp translation (issue 14 item 1). */
const HOSTILE = "*a*a*a*a*a*a*a*a*a*a*a*b";
const LONG_NAME = "a".repeat(255);

/**
 * The lines of a JSONL file, parsed from its bytes as byte strings (paths may hold any byte, A7).
 * strict: the file must end in a newline; otherwise (polling) a cut last line is left out.
 */
function readByteRecords(file: string, strict = true): JsonRecord[] {
  const text = existsSync(file) ? readFileSync(file).toString("latin1") : "";
  if (strict) expect(text.endsWith("\n")).toBe(true);
  const whole = text.slice(0, text.lastIndexOf("\n") + 1);
  return whole === "" ? [] : whole.slice(0, -1).split("\n").map((l) => JSON.parse(l) as JsonRecord);
}

/** A byte string as a path argument for fs calls. */
const bpath = (s: string): Buffer => Buffer.from(s, "latin1");

/** `printf` format for a byte string (octal escapes for everything outside printable ASCII). */
function printfFormat(s: string): string {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c >= 0x20 && c < 0x7f && c !== 0x25 && c !== 0x5c && c !== 0x27 ? s[i] : `\\${c.toString(8).padStart(3, "0")}`;
  }
  return out;
}

/**
 * Runs the daemon through `sh -c` so that `--canary` gets raw bytes (Bun.spawn would encode a string
 * argument as UTF-8): the prefix for StartOptions.prefix.
 */
function rawCanary(canaryBytes: string): string[] {
  return ["sh", "-c", `exec "$0" "$@" --canary "$(printf '${printfFormat(canaryBytes)}')"`];
}

describe.skipIf(!RUN)("hostile canary patterns (issue 14 item 1)", () => {
  afterEach(cleanupAll);

  test("--perm --deny-on-alert: opens on the mount are answered at once; the pattern still denies its match", async () => {
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.jsonl");
    const LONG = join(fs.dir, LONG_NAME);
    const MATCH = join(fs.dir, `${LONG_NAME.slice(0, 200)}b`);
    const OTHER = join(fs.dir, "other");
    writeFileSync(LONG, "long\n");
    writeFileSync(MATCH, "match\n");
    writeFileSync(OTHER, "other\n");
    const d = await startDaemon(["--perm", "--deny-on-alert", "--filesystem", fs.dir, "--canary", join(fs.dir, HOSTILE), "-o", out]);
    for (const [file, content] of [
      [LONG, "long\n"],
      [OTHER, "other\n"],
      [LONG, "long\n"],
    ] as const) {
      const r = await runTimed(["cat", file], 5000);
      expect({ code: r.code, timedOut: r.timedOut, out: r.stdout }).toEqual({ code: 0, timedOut: false, out: content });
      expect(r.elapsedMs).toBeLessThan(2000);
    }
    const denied = await runTimed(["cat", MATCH], 5000);
    expect(denied.timedOut).toBe(false);
    expect(denied.stderr).toContain("Operation not permitted");
    expect(denied.elapsedMs).toBeLessThan(2000);
    await waitForRecord(out, (r) => r.pid === denied.pid && hasEvent(r, "OPEN_PERM") && r.decision === "deny", 5000, { daemon: d });
    await stopClean(d, 1500);
  }, 30_000);

  test("observe mode: the record of a 255-byte name is written and SIGTERM stops the daemon", async () => {
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.jsonl");
    const d = await startDaemon(["--watch", fs.dir, "--canary", join(fs.dir, HOSTILE), "-o", out]);
    const LONG = join(fs.dir, LONG_NAME);
    writeFileSync(LONG, "x\n");
    readFileSync(LONG);
    const rec = await waitForRecord(out, (r) => r.path === LONG && hasEvent(r, "OPEN"), 5000, { daemon: d });
    expect(rec.record.name).toBe(LONG_NAME);
    const HIT = join(fs.dir, `${"a".repeat(11)}b`);
    writeFileSync(HIT, "");
    await waitFor(() => readFileSync(out, "utf8").includes('"kind":"canary"'), 5000, "no canary alert for the matching name", d);
    await stopClean(d, 1500);
  }, 30_000);

  test("a pattern too costly to compile is refused at start-up with one line naming it (exit 2)", async () => {
    const fs = makeTmpfs();
    const pattern = join(fs.dir, "[".repeat(16000));
    const cfg = join(makeTmpDir(), "f.conf");
    writeFileSync(cfg, `watch ${fs.dir}\ncanary ${pattern}\n`);
    const r = await runDaemon(["-f", "-c", cfg, "-o", "/dev/null"], 10_000);
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split("\n");
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain("invalid policy: canary pattern too complex");
    expect(lines[0]).toContain(JSON.stringify(pattern.slice(0, 80) + "…"));
  }, 20_000);
});

describe.skipIf(!RUN)("canaries are bytes (issue 14 item 9)", () => {
  afterEach(cleanupAll);

  const CAFE_LATIN1 = "caf\xe9"; // not UTF-8
  const CAFE_UTF8 = Buffer.from("café", "utf8").toString("latin1");

  function files(dir: string): { latin: string; utf8: string } {
    const latin = `${dir}/${CAFE_LATIN1}`;
    const utf8 = `${dir}/${CAFE_UTF8}`;
    writeFileSync(bpath(latin), "latin\n");
    writeFileSync(bpath(utf8), "utf8\n");
    return { latin, utf8 };
  }

  async function expectDenied(file: string): Promise<number> {
    const r = await runTimed(["sh", "-c", `exec cat "$(printf '${printfFormat(file)}')"`], 5000);
    expect(r.timedOut).toBe(false);
    expect(r.stderr).toContain("Operation not permitted");
    expect(r.stdout).toBe("");
    return r.pid;
  }

  async function expectAllowed(file: string, content: string): Promise<void> {
    const r = await runTimed(["sh", "-c", `exec cat "$(printf '${printfFormat(file)}')"`], 5000);
    expect({ code: r.code, out: r.stdout, timedOut: r.timedOut }).toEqual({ code: 0, out: content, timedOut: false });
  }

  test("config file: canary /m/caf\\xe9 under --perm --deny-on-alert denies that file only; records keep the raw byte", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const out = join(aux, "out.jsonl");
    const { latin, utf8 } = files(fs.dir);
    const cfg = join(aux, "f.conf");
    writeFileSync(cfg, Buffer.from(`filesystem ${fs.dir}\ncanary ${latin}\n`, "latin1"));
    const d = await startDaemon(["--perm", "--deny-on-alert", "-c", cfg, "-o", out]);
    const pid = await expectDenied(latin);
    await expectAllowed(utf8, "utf8\n");
    await waitFor(() => readByteRecords(out, false).some((r) => r.type === "alert" && r.pid === pid), 5000, "the canary alert", d);
    await stopClean(d, 1500);
    const recs = readByteRecords(out);
    const deny = recs.find((r) => r.pid === pid && r.type === "event" && r.decision === "deny");
    expect(deny?.path).toBe(latin); // the raw byte 0xe9, not U+FFFD (A7)
    const alert = recs.find((r) => r.pid === pid && r.type === "alert");
    expect(alert).toMatchObject({ kind: "canary", path: latin, reason: "canary opened" });
    expect(readFileSync(out).includes(Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x22]))).toBe(true);
  }, 30_000);

  test("argv: --canary with a raw \\xe9 byte (and a glob of such bytes) denies under --perm --deny-on-alert", async () => {
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.jsonl");
    const { latin, utf8 } = files(fs.dir);
    const d = await startDaemon(["--perm", "--deny-on-alert", "--filesystem", fs.dir, "-o", out], { prefix: rawCanary(`${fs.dir}/*\xe9`) });
    await expectDenied(latin);
    await expectAllowed(utf8, "utf8\n");
    await stopClean(d, 1500);
  }, 30_000);

  test("marks on a non-UTF-8 path: the directory named caf\\xe9 itself is marked (watch, and a symlink to it), not a re-encoded name", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const out = join(aux, "out.jsonl");
    const dir = `${fs.dir}/${CAFE_LATIN1}`;
    mkdirSync(bpath(dir));
    // The UTF-8 re-encoding of the lone-surrogate text (U+FFFD) must not be what gets marked.
    mkdirSync(bpath(`${fs.dir}/caf\xef\xbf\xbd`));
    symlinkSync(bpath(dir), bpath(`${fs.dir}/link`));
    const cfg = join(aux, "f.conf");
    writeFileSync(cfg, Buffer.from(`watch ${fs.dir}/link\nperm 1\n`, "latin1"));
    const d = await startDaemon(["-c", cfg, "-o", out]);
    writeFileSync(bpath(`${dir}/f`), "x\n");
    writeFileSync(bpath(`${fs.dir}/caf\xef\xbf\xbd/g`), "x\n");
    await waitFor(() => readByteRecords(out, false).some((r) => r.path === `${dir}/f` && hasEvent(r, "CREATE")), 5000, "the CREATE in caf\\xe9", d);
    await waitFor(() => readByteRecords(out, false).some((r) => r.path === `${dir}/f` && hasEvent(r, "OPEN_PERM")), 5000, "the OPEN_PERM in caf\\xe9", d);
    await stopClean(d, 1500);
    expect(readByteRecords(out).filter((r) => String(r.path).includes("\xef\xbf\xbd"))).toEqual([]);
  }, 30_000);

  test("argv in daemon mode: the detached child gets the same raw bytes", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const out = join(aux, "out.jsonl");
    const pidFile = join(aux, "d.pid");
    const { latin, utf8 } = files(fs.dir);
    const r = await runDaemonMode(["--perm", "--deny-on-alert", "--filesystem", fs.dir, "-o", out, "--pid-file", pidFile], {
      cwd: aux,
      prefix: rawCanary(latin),
    });
    expect(r.code).toBe(0);
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    try {
      await expectDenied(latin);
      await expectAllowed(utf8, "utf8\n");
    } finally {
      process.kill(pid, "SIGTERM");
      const alive = (): boolean => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      const t0 = Date.now();
      while (alive() && Date.now() - t0 < 3000) await Bun.sleep(20);
      if (alive()) process.kill(pid, "SIGKILL");
    }
  }, 30_000);
});

describe.skipIf(!RUN)("burst deny with 10,000 canaries (issue 14 item 10)", () => {
  afterEach(cleanupAll);

  test("a bursting shell is denied its next open; other processes are not; canaries still deny", async () => {
    const fs = makeTmpfs();
    const aux = makeTmpDir();
    const out = join(aux, "out.jsonl");
    const FILE = join(fs.dir, "file");
    const CANARY = join(fs.dir, "decoy-4242.docx");
    writeFileSync(FILE, "ok\n");
    writeFileSync(CANARY, "decoy\n");
    const lines = [`filesystem ${fs.dir}`, "perm 1", "deny_on_alert 1", "burst_threshold 5", "burst_window_ms 2000", "hook_cooldown_ms 0"];
    for (let i = 0; i < 5000; i++) lines.push(`canary ${fs.dir}/decoy-${i}.docx`);
    for (let i = 0; i < 5000; i++) lines.push(`canary ${fs.dir}/home${i}/*.key`);
    const cfg = join(aux, "many.conf");
    writeFileSync(cfg, lines.join("\n") + "\n");
    const d = await startDaemon(["-c", cfg, "-o", out]);

    // Six writes raise a burst alert; the shell then opens FILE until the deny reaches the reader
    // (bounded: 200 tries, 10 ms apart).
    const sh = await runTimed(
      [
        "sh",
        "-c",
        'for i in 1 2 3 4 5 6; do echo x >"$1/w$i"; done; k=0; while [ $k -lt 200 ]; do if true <"$2" 2>/dev/null; then sleep 0.01; k=$((k+1)); else echo denied; exit 0; fi; done; echo never',
        "sh",
        fs.dir,
        FILE,
      ],
      10_000,
    );
    expect(sh.timedOut).toBe(false);
    expect(sh.stdout).toBe("denied\n");
    const burst = await waitForRecord(out, (r) => r.type === "alert" && r.kind === "burst" && r.pid === sh.pid, 5000, { daemon: d });
    expect(burst.record.count).toBe(5);
    const deny = await waitForRecord(out, (r) => r.pid === sh.pid && r.path === FILE && r.decision === "deny", 5000, { daemon: d });
    expect(deny.index).toBeGreaterThan(burst.index);

    // another process: allowed; a canary: denied
    const cat = await runTimed(["cat", FILE], 5000);
    expect({ code: cat.code, out: cat.stdout, timedOut: cat.timedOut }).toEqual({ code: 0, out: "ok\n", timedOut: false });
    const decoy = await runTimed(["cat", CANARY], 5000);
    expect(decoy.stderr).toContain("Operation not permitted");
    await stopClean(d, 1500);
  }, 30_000);
});
