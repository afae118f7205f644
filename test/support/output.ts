// Test-only: write whole lines (no newline) to an OutputWriter as one chunk, one record each.
import type { OutputWriter } from "../../src/sinks/output.ts";

export function writeLines(w: Pick<OutputWriter, "write">, lines: readonly string[]): void {
  if (lines.length === 0) return;
  w.write(lines.join("\n") + "\n", lines.length);
}
