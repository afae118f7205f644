// What the metrics endpoint costs: the daemon's CPU (all threads, /proc/PID/stat utime+stime) over the
// same run with and without `--metrics` scraped once a second (GET /metrics + GET /healthz, as Prometheus
// and a kubelet probe would), idle and under a steady file-write load. Runs on a private tmpfs
// (test/support/mounts.ts: checked before each start, unmounted after each run and at exit).
//
//   sudo bun test/bench/metrics-cost.ts [--seconds 20] [--rate 1000] [--rounds 2]
//
// Prints one line per run and the added CPU as a percentage of one CPU.
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { assertSafeMarks, makeTmpfs } from "../support/mounts.ts";
import { cpuSeconds } from "../support/procfs.ts";
import { spawnChild } from "../support/process.ts";

const arg = (name: string, def: number): number => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const SECONDS = arg("seconds", 20);
const RATE = arg("rate", 1000);
const ROUNDS = arg("rounds", 2);
const BIN = resolve(import.meta.dir, "../../fanotifyd");

async function runOnce(metrics: boolean, load: boolean): Promise<number> {
  const fs = makeTmpfs(64);
  const dir = fs.dir;
  const port = 20000 + Math.floor(Math.random() * 20000);
  const args = ["-f", "-w", dir, "-o", "/dev/null", ...(metrics ? ["--metrics", `127.0.0.1:${port}`] : [])];
  assertSafeMarks(args, dir);
  const d = spawnChild([BIN, ...args], { cwd: dir, stdout: "ignore" });
  await d.waitFor("stderr", "fanotifyd started", 30_000, "ready");
  await Bun.sleep(1000); // start-up (JIT) is not what we measure
  const c0 = cpuSeconds(d.pid);
  const t0 = performance.now();
  let n = 0;
  const end = t0 + SECONDS * 1000;
  let nextScrape = t0;
  while (performance.now() < end) {
    if (load) {
      // RATE writes per second in 10 ms slices
      for (let i = 0; i < RATE / 100; i++) writeFileSync(join(dir, `f${n++ % 512}`), "x");
    }
    if (metrics && performance.now() >= nextScrape) {
      nextScrape += 1000;
      const m = await fetch(`http://127.0.0.1:${port}/metrics`);
      await m.text();
      await (await fetch(`http://127.0.0.1:${port}/healthz`)).text();
    }
    await Bun.sleep(10);
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(d.pid) - c0;
  await d.stop("SIGTERM", 10_000);
  fs.cleanup();
  return (cpu / wall) * 100;
}

for (const load of [false, true]) {
  const off: number[] = [];
  const on: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    off.push(await runOnce(false, load));
    on.push(await runOnce(true, load));
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const what = load ? `${RATE} writes/s` : "idle";
  console.log(
    `${what}: without --metrics ${med(off).toFixed(2)}% CPU, with --metrics scraped every 1 s ${med(on).toFixed(2)}% ` +
      `(added ${(med(on) - med(off)).toFixed(2)} points of one CPU; ${ROUNDS} rounds of ${SECONDS} s, median; runs ${off.map((x) => x.toFixed(2)).join("/")} vs ${on.map((x) => x.toFixed(2)).join("/")})`,
  );
}
