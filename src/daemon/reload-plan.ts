// The pure half of a reload (B6): the running config and the freshly parsed one in, what changes
// out. Nothing here touches the kernel, a file or a timer; src/daemon/reload.ts applies the plan.
import type { Config, MarkSpec } from "../config/types.ts";
import type { ReaderMark } from "../reader/protocol.ts";

export interface ReloadPlan {
  /** Keys the new config changes that cannot change while running (kept as they are). */
  readonly fixed: readonly string[];
  readonly addMarks: readonly ReaderMark[];
  readonly removeMarks: readonly ReaderMark[];
  /** Distinct marks once the reload is applied. */
  readonly markCount: number;
  /** The output path changes: a new output must be opened (before anything else changes). */
  readonly outputChanged: boolean;
  /** The hook command or its limits change: a new hook runner replaces the old one. */
  readonly hooksChanged: boolean;
  /** The configuration in force after the reload (the fixed keys keep their running values). */
  readonly config: Config;
}

function markKey(m: { type: string; path: string }): string {
  return `${m.type}\0${m.path}`;
}

/** The marks to place: the same mark named twice (flag and config) is placed once. */
export function readerMarks(marks: readonly MarkSpec[]): ReaderMark[] {
  const seen = new Set<string>();
  const out: ReaderMark[] = [];
  for (const m of marks) {
    if (seen.has(markKey(m))) continue;
    seen.add(markKey(m));
    out.push({ type: m.type, path: m.path });
  }
  return out;
}

const FIXED_KEYS = [
  ["perm", "perm"],
  ["fid", "fid"],
  ["processDetails", "process_details"],
  ["detailsCheck", "process_details_check"],
  ["permLongSlice", "perm_long_slice"],
  ["socket", "socket"],
  ["pidFile", "pid_file"],
  ["metrics", "metrics"],
] as const satisfies ReadonlyArray<readonly [keyof Config, string]>;

export function planReload(current: Config, next: Config): ReloadPlan {
  const fixed = FIXED_KEYS.filter(([key]) => next[key] !== current[key]).map(([, name]) => name);
  const oldMarks = new Map(readerMarks(current.marks).map((m) => [markKey(m), m]));
  const newMarks = new Map(readerMarks(next.marks).map((m) => [markKey(m), m]));
  return {
    fixed,
    addMarks: [...newMarks.entries()].filter(([k]) => !oldMarks.has(k)).map(([, m]) => m),
    removeMarks: [...oldMarks.entries()].filter(([k]) => !newMarks.has(k)).map(([, m]) => m),
    markCount: newMarks.size,
    outputChanged: next.output !== current.output,
    hooksChanged:
      next.hook !== current.hook ||
      next.hookMaxConcurrent !== current.hookMaxConcurrent ||
      next.hookTimeoutMs !== current.hookTimeoutMs,
    config: {
      ...next,
      perm: current.perm,
      fid: current.fid,
      processDetails: current.processDetails,
      detailsCheck: current.detailsCheck,
      permLongSlice: current.permLongSlice,
      socket: current.socket,
      pidFile: current.pidFile,
      metrics: current.metrics,
    },
  };
}
