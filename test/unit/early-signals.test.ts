// Issue 14 item 11: signals that arrive while the daemon starts are caught from the first line of
// JavaScript on and handed to the daemon, instead of killing it by their default action.
import { expect, test } from "bun:test";
import path from "node:path";

const mod = path.resolve(import.meta.dir, "../../src/lifecycle/early-signals.ts");

function runChild(body: string): { code: number | null; signal: string | null; out: string } {
  const script = `import { takeEarlySignals, releaseEarlySignals } from ${JSON.stringify(mod)};\n${body}`;
  const r = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  return { code: r.exitCode, signal: r.signalCode === undefined || r.signalCode === null ? null : String(r.signalCode), out: r.stdout.toString() + r.stderr.toString() };
}

test("SIGTERM, SIGHUP and SIGUSR1/2 during start-up are kept, not fatal", () => {
  const r = runChild(`
    for (const s of ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGTERM", "SIGINT"]) process.kill(process.pid, s);
    await Bun.sleep(50); // the "start-up"
    console.log(JSON.stringify(takeEarlySignals()));
  `);
  expect(r.signal).toBeNull();
  expect(r.code).toBe(0);
  expect(JSON.parse(r.out.trim())).toEqual({ stop: 15, reload: true });
});

test("after release, a signal takes its default action again", () => {
  const r = runChild(`
    releaseEarlySignals();
    process.kill(process.pid, "SIGTERM");
    await Bun.sleep(200);
    console.log("survived");
  `);
  expect(r.signal).toBe("SIGTERM");
  expect(r.out).not.toContain("survived");
});
