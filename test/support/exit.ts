// One process "exit" hook for the test helpers, run in phases: 0 stops processes, 1 removes the
// mounts and directories they may have used (so a daemon never outlives the tmpfs it marks).

const phases: Array<Array<() => void>> = [[], []];
let installed = false;

export function atExit(phase: 0 | 1, fn: () => void): void {
  phases[phase].push(fn);
  if (installed) return;
  installed = true;
  process.on("exit", () => {
    for (const list of phases) {
      for (const f of list) {
        try {
          f();
        } catch {
          // keep cleaning up
        }
      }
    }
  });
}
