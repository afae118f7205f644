// Validation of the operations settings (issue 13) shared by the command line and config files:
// exclusion globs, the metrics address and the output format. Each returns a one-line problem that
// names the culprit, for the caller's UsageError.
import { formatMetricsAddress, parseMetricsAddress } from "../metrics/address.ts";
import { excludePatternProblem } from "../policy/exclude.ts";
import type { OutputFormat } from "./types.ts";

/** Null when the exclusion glob is accepted; otherwise the message. */
export function checkExcludePattern(pattern: string): string | null {
  const problem = excludePatternProblem(pattern);
  return problem === null ? null : `bad exclude pattern '${pattern.slice(0, 80)}': ${problem}`;
}

/** The canonical address (`unix:/abs/path`, `127.0.0.1:9464`), or the problem. */
export function checkMetricsAddress(
  addr: string,
  cwd: string,
): { readonly ok: true; readonly value: string } | { readonly ok: false; readonly problem: string } {
  try {
    return { ok: true, value: formatMetricsAddress(parseMetricsAddress(addr, cwd)) };
  } catch (err) {
    return { ok: false, problem: err instanceof Error ? err.message : String(err) };
  }
}

export function checkFormat(value: string): { readonly ok: true; readonly value: OutputFormat } | { readonly ok: false } {
  return value === "json" || value === "text" ? { ok: true, value } : { ok: false };
}
