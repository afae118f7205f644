// The harness's safety check itself: relative mark paths are judged where the daemon will resolve them.
import { afterEach, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertSafeMarks, BIN, cleanupAll, makeTmpDir, makeTmpfs, requireIntegration, spawnDaemon, spawnProcess, startDaemon } from "./harness.ts";

const RUN = requireIntegration();

describe.skipIf(!RUN)("assertSafeMarks", () => {
  afterEach(cleanupAll);

  test("a relative mark path is resolved against the daemon's cwd, not the runner's", () => {
    const fs = makeTmpfs();
    const plain = makeTmpDir();
    expect(() => assertSafeMarks(["-w", "."], fs.dir)).not.toThrow();
    expect(() => assertSafeMarks(["--watch", "."], plain)).toThrow(/SAFETY/);
    const conf = join(plain, "rel.conf");
    writeFileSync(conf, "watch .\n");
    expect(() => assertSafeMarks(["--config", "rel.conf"], plain)).toThrow(/SAFETY/);
    writeFileSync(join(fs.dir, "rel.conf"), "watch .\n");
    expect(() => assertSafeMarks(["--config", "rel.conf"], fs.dir)).not.toThrow();
  });

  test("the spawn helpers check marks against the cwd they start the daemon in", async () => {
    const fs = makeTmpfs();
    const plain = makeTmpDir();
    expect(() => spawnDaemon(["-f", "-w", "."], { cwd: plain })).toThrow(/SAFETY/);
    expect(() => spawnProcess([BIN, "-f", "--watch", "."], { cwd: plain })).toThrow(/SAFETY/);
    const out = join(plain, "out.jsonl");
    const d = await startDaemon(["-w", ".", "-o", out], { cwd: fs.dir });
    expect(d.cwd).toBe(fs.dir);
    expect((await d.stop()).code).toBe(0);
  });
});
