import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCommandLine, type Config } from "../support/config.ts";
import { planReload, readerMarks } from "../../src/daemon/reload-plan.ts";

const dir = realpathSync(mkdtempSync(join(tmpdir(), "fanotifyd-plan-")));
const A = join(dir, "a");
const B = join(dir, "b");
mkdirSync(A);
mkdirSync(B);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(...argv: string[]): Config {
  const r = parseCommandLine(argv, { cwd: dir, version: "9.9.9" });
  if (r.kind !== "run") throw new Error(`not a run: ${argv.join(" ")}`);
  return r.config;
}

describe("planReload", () => {
  test("the same config changes nothing", () => {
    const c = config("-w", A, "-o", join(dir, "out"));
    const p = planReload(c, c);
    expect(p).toMatchObject({ fixed: [], addMarks: [], removeMarks: [], markCount: 1, outputChanged: false, hooksChanged: false });
    expect(p.config).toEqual(c);
  });

  test("marks added and removed by (type, path); a mark named twice counts once", () => {
    const p = planReload(config("-w", A, "--mount", B), config("-w", B, "-w", B, "--mount", B));
    expect(p.addMarks).toEqual([{ type: "inode", path: B }]);
    expect(p.removeMarks).toEqual([{ type: "inode", path: A }]);
    expect(p.markCount).toBe(2);
  });

  test("a new output path and new hook settings are flagged", () => {
    const p = planReload(config("-w", A, "-o", join(dir, "one")), config("-w", A, "-o", join(dir, "two"), "--hook", "true"));
    expect(p.outputChanged).toBe(true);
    expect(p.hooksChanged).toBe(true);
    expect(p.config.output).toBe(join(dir, "two"));
  });

  test("keys that cannot change while running are named and keep their running values", () => {
    const cur = config("-w", A);
    const next = config("-w", A, "--perm", "--no-fid", "--socket", join(dir, "s"), "--pid-file", join(dir, "pid"));
    const p = planReload(cur, next);
    expect(p.fixed).toEqual(["perm", "fid", "socket", "pid_file"]);
    const details = planReload(cur, config("-w", A, "--process-details", "--process-details-check", "start-time", "--no-perm-long-slice"));
    expect(details.fixed).toEqual(["process_details", "process_details_check", "perm_long_slice"]);
    expect(details.config).toMatchObject({ processDetails: false, detailsCheck: "pidfd", permLongSlice: true });
    expect({ perm: p.config.perm, fid: p.config.fid, socket: p.config.socket, pidFile: p.config.pidFile }).toEqual({
      perm: cur.perm,
      fid: cur.fid,
      socket: cur.socket,
      pidFile: cur.pidFile,
    });
  });

  test("readerMarks keeps the first of each (type, path) in order", () => {
    const c = config("-w", B, "-w", A, "-w", B);
    expect(readerMarks(c.marks)).toEqual([
      { type: "inode", path: B },
      { type: "inode", path: A },
    ]);
  });
});
