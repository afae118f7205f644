// The chaos suite's short form (test/chaos; `npm run chaos` is the full one): every scenario once,
// a few start/load/stop cycles per mode. Fails on any hang, invalid line, wrongful denial or
// uncounted loss. Bounded: ~30 s here.
import { expect, test } from "bun:test";
import { formatReport, runChaos } from "../chaos/chaos.ts";
import { requireIntegration } from "./harness.ts";

const RUN = requireIntegration();

test.skipIf(!RUN)("chaos suite, short form", async () => {
  const report = await runChaos({ cyclesPerMode: 5, cycleLoadMs: 150, scenarioMs: 800, budgetMs: 90_000 });
  console.log(formatReport(report));
  expect(report.failures).toEqual([]);
  expect(report.hangs).toBe(0);
  expect(report.invalidLines).toBe(0);
  expect(report.uncountedLoss).toBe(0);
  expect(report.wrongfulDenials).toBe(0);
}, 120_000);
