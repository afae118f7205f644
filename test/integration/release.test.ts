// `npm run release` (scripts/release.ts): the three binaries and SHA256SUMS. The baseline binary runs
// here and under qemu-x86_64 with a CPU model that reports no AVX2; the arm64 binary runs under
// qemu-user-static with the Debian aarch64 libc (.ci/run installs qemu-user-static and
// libc6-arm64-cross). Each answers --version and `check`.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, openSync, readSync, closeSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { REPO, VERSION, commandPath, makeTmpDir, requireIntegration } from "./harness.ts";

const RUN = requireIntegration();
const REQUIRED = process.env.FANOTIFYD_REQUIRE_INTEGRATION === "1";
const ARM64_SYSROOT = "/usr/aarch64-linux-gnu";

/** ELF e_machine: 0x3e x86-64, 0xb7 aarch64. */
function elfMachine(file: string): number {
  const buf = Buffer.alloc(20);
  const fd = openSync(file, "r");
  readSync(fd, buf, 0, 20, 0);
  closeSync(fd);
  expect(buf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  return buf.readUInt16LE(18);
}

function run(cmd: string[]): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe", timeout: 60_000 });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe.skipIf(!RUN)("npm run release", () => {
  let dir = "";
  let scratch = "";
  const bin = (suffix: string): string => join(dir, `fanotifyd-${VERSION}-${suffix}`);

  beforeAll(() => {
    dir = makeTmpDir("fanotifyd-release-");
    scratch = makeTmpDir("fanotifyd-release-check-");
    const r = Bun.spawnSync([process.execPath, "scripts/release.ts"], {
      cwd: REPO,
      env: { ...process.env, RELEASE_DIR: dir },
      stdout: "pipe",
      stderr: "pipe",
    });
    if (r.exitCode !== 0) throw new Error(`release failed:\n${r.stderr.toString()}`);
  }, 180_000);

  afterAll(() => {
    // ~330 MB of binaries: do not leave them behind.
    if (dir !== "") rmSync(dir, { recursive: true, force: true });
  });

  test("three binaries for the right machines and a SHA256SUMS that checks", () => {
    expect(elfMachine(bin("linux-x64"))).toBe(0x3e);
    expect(elfMachine(bin("linux-x64-baseline"))).toBe(0x3e);
    expect(elfMachine(bin("linux-arm64"))).toBe(0xb7);
    const sums = readFileSync(join(dir, "SHA256SUMS"), "utf8");
    expect(sums.trimEnd().split("\n").map((l) => l.split("  ")[1])).toEqual(
      ["linux-x64", "linux-x64-baseline", "linux-arm64"].map((s) => `fanotifyd-${VERSION}-${s}`),
    );
    const c = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir, stdout: "pipe", stderr: "pipe" });
    expect({ code: c.exitCode, out: c.stdout.toString() }).toEqual({
      code: 0,
      out: ["linux-x64", "linux-x64-baseline", "linux-arm64"].map((s) => `fanotifyd-${VERSION}-${s}: OK\n`).join(""),
    });
  });

  const checkArgs = (): string[] => ["check", "-f", "-w", scratch, "--exclude", "**/node_modules/**"];

  test("the baseline binary: --version and check, natively and on a CPU without AVX2 (qemu -cpu Nehalem)", () => {
    expect(run([bin("linux-x64-baseline"), "--version"])).toEqual({ code: 0, stdout: `fanotifyd ${VERSION}\n`, stderr: "" });
    const c = run([bin("linux-x64-baseline"), ...checkArgs()]);
    expect(c.code).toBe(0);
    expect(c.stdout).toContain("configuration OK");
    const qemu = commandPath("qemu-x86_64-static") ?? commandPath("qemu-x86_64");
    if (qemu === null) {
      if (REQUIRED) throw new Error("qemu-user-static is not installed (.ci/run installs it)");
      return;
    }
    expect(run([qemu, "-cpu", "Nehalem", bin("linux-x64-baseline"), "--version"]).stdout).toBe(`fanotifyd ${VERSION}\n`);
  }, 60_000);

  test("the arm64 binary under qemu-user-static: --version and check", () => {
    const qemu = commandPath("qemu-aarch64-static") ?? commandPath("qemu-aarch64");
    if (qemu === null || !existsSync(join(ARM64_SYSROOT, "lib", "ld-linux-aarch64.so.1"))) {
      if (REQUIRED) throw new Error("qemu-user-static or libc6-arm64-cross is not installed (.ci/run installs both)");
      console.warn("skipped: no qemu-aarch64 / aarch64 libc");
      return;
    }
    const q = (args: string[]) => run([qemu, "-L", ARM64_SYSROOT, bin("linux-arm64"), ...args]);
    expect(q(["--version"])).toEqual({ code: 0, stdout: `fanotifyd ${VERSION}\n`, stderr: "" });
    const c = q(checkArgs());
    expect({ code: c.code, stderr: c.stderr }).toEqual({ code: 0, stderr: "" });
    expect(c.stdout).toContain(`  inode ${scratch}: notify group, fid-inode: `);
    expect(c.stdout).toContain("configuration OK");
    // And a bad flag gives the daemon's usage error, exit 2.
    expect(q(["check", "-f", "--bad-flag"]).code).toBe(2);
  }, 60_000);
});
