// The per-mark plan, as `fanotifyd check` prints it and as the metrics count "marks by mechanism".
// This is the ONE adapter over the mark planner (today planMark in src/reader/groups.ts): switching to
// another planner changes this file only. It places no mark and opens no fanotify group.
import { statSync } from "node:fs";
import type { Config, MarkType } from "../config/types.ts";
import { planMark, type GroupKind } from "../reader/groups.ts";
import { FAN_EVENT_ON_CHILD, FAN_ONDIR } from "../../ffi/constants.ts";
import { maskNames } from "../sinks/mask-names.ts";

export interface PlanLine {
  readonly type: MarkType;
  readonly path: string;
  /** Which fanotify group carries it: "notify" (records) or "content" (permission answers). */
  readonly group: GroupKind;
  /** How it is delivered, e.g. "fid-filesystem-mark", "fd-inode-mark" (a metrics label). */
  readonly mechanism: string;
  /** The event kinds it asks the kernel for (A8 names). */
  readonly events: string;
  /** Event kinds the mark type could have but this mechanism cannot deliver. */
  readonly missing: readonly string[];
  /** Why it will fail to be placed, when that can be told without placing it; else null. */
  readonly problem: string | null;
}

function inspect(path: string): { isDir: boolean; problem: string | null } {
  try {
    return { isDir: statSync(path).isDirectory(), problem: null };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return {
      isDir: true,
      problem: code === "ENOENT" ? "the path does not exist; create it first" : `cannot stat the path (${String(code)})`,
    };
  }
}

/** One line per (mark, group), in the order the daemon places them. Duplicate marks are planned once. */
export function describePlans(config: Config): PlanLine[] {
  const mode = config.fid ? "fid" : "fd";
  const groups: GroupKind[] = config.perm ? ["content", "notify"] : ["notify"];
  const seen = new Set<string>();
  const out: PlanLine[] = [];
  for (const m of config.marks) {
    const key = `${m.type}\0${m.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const { isDir, problem } = inspect(m.path);
    for (const group of groups) {
      const groupMode = group === "content" ? "fd" : mode;
      const plan = planMark(group, groupMode, m.type, isDir);
      out.push({
        type: m.type,
        path: m.path,
        group,
        mechanism: `${groupMode}-${m.type}-mark`,
        events: maskNames((plan.mask & ~(FAN_EVENT_ON_CHILD | FAN_ONDIR)) >>> 0, 0) + (plan.mask & FAN_ONDIR ? " (directories too)" : ""),
        missing: plan.missing,
        problem,
      });
    }
  }
  return out;
}

/** Count of planned marks per mechanism (the metrics' "marks by mechanism"). */
export function marksByMechanism(plans: readonly PlanLine[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of plans) counts.set(p.mechanism, (counts.get(p.mechanism) ?? 0) + 1);
  return counts;
}
