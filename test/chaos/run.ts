// npm run chaos [-- --cycles N --load-ms MS --scenario-ms MS --budget-s S --only reload,cycles]
// The full form by default: 200 start/load/stop cycles per mode (600), bounded by --budget-s (1800).
// Prints the figures; exits 1 on any hang, invalid line, wrongful denial or uncounted loss.
import { formatReport, runChaos } from "./chaos.ts";

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`chaos: bad value for ${name}: ${process.argv[i + 1]}`);
    process.exit(2);
  }
  return v;
}

if (process.geteuid?.() !== 0) {
  console.error("chaos: needs root (fanotify marks on private tmpfs mounts)");
  process.exit(2);
}
const t0 = performance.now();
const report = await runChaos({
  cyclesPerMode: arg("--cycles", 200),
  cycleLoadMs: arg("--load-ms", 200),
  scenarioMs: arg("--scenario-ms", 2000),
  budgetMs: arg("--budget-s", 1800) * 1000,
  log: (l) => console.error(l),
  only: process.argv.includes("--only") ? (process.argv[process.argv.indexOf("--only") + 1] ?? "").split(",") : undefined,
});
console.log(formatReport(report));
console.log(`chaos: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
process.exit(report.failures.length === 0 ? 0 : 1);
