import { describe, expect, test } from "bun:test";
import { ReloadGate } from "../../src/lifecycle/reload-gate.ts";

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve = (): void => {};
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe("ReloadGate (issue 14 item 6)", () => {
  test("a request during a reload runs the reload once more after it", async () => {
    const gates = [deferred(), deferred()];
    const seen: number[] = [];
    let config = 1;
    let runs = 0;
    const gate = new ReloadGate(async () => {
      const mine = runs++;
      await gates[mine]?.promise;
      seen.push(config); // reads "the file" at the end of the reload
    });
    const first = gate.request();
    config = 2; // the file changes and a second SIGHUP arrives mid-reload
    const second = gate.request();
    const third = gate.request(); // several requests meanwhile make ONE more run
    gates[0].resolve();
    gates[1].resolve();
    await Promise.all([first, second, third]);
    expect(runs).toBe(2);
    expect(seen).toEqual([2, 2]);
    expect(gate.busy).toBe(false);
  });

  test("requests after a finished reload start a fresh one; a throwing run does not wedge the gate", async () => {
    let runs = 0;
    const gate = new ReloadGate(async () => {
      runs++;
      if (runs === 1) throw new Error("boom");
    });
    await gate.request();
    await gate.request();
    expect(runs).toBe(2);
  });

  test("no reload starts or repeats once shutdown began", async () => {
    let stopping = false;
    let runs = 0;
    const d = deferred();
    const gate = new ReloadGate(async () => {
      runs++;
      await d.promise;
    }, () => !stopping);
    const p = gate.request();
    gate.request();
    stopping = true;
    d.resolve();
    await p;
    await gate.request();
    expect(runs).toBe(1);
  });
});
