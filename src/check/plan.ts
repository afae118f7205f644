// The per-mark plan, as `fanotifyd check` prints it and as the metrics count "marks by mechanism":
// the reader's planner (src/reader/mark-plan.ts) previewed without placing a mark (plan-preview.ts).
import { statSync } from "node:fs";
import { fsPath } from "../bytes.ts";
import type { Config, MarkType } from "../config/types.ts";
import type { GroupKind } from "../reader/groups.ts";
import { previewPlan } from "../reader/plan-preview.ts";

export interface PlanLine {
  readonly type: MarkType;
  readonly path: string;
  /** Which fanotify group carries it: "notify" (records) or "content" (permission answers). */
  readonly group: GroupKind;
  /** How it is delivered, e.g. "fid-filesystem-scoped", "fid-inode-tree", "fd-mount-mark" (a metrics label). */
  readonly mechanism: string;
  /** What it delivers and what it cannot, as the daemon's start-up line says. */
  readonly detail: string;
  /** Why it will fail to be placed, when that can be told without placing it; else null. */
  readonly problem: string | null;
}

function problemOf(path: string): string | null {
  try {
    statSync(fsPath(path));
    return null;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return code === "ENOENT" ? "the path does not exist; create it first" : `cannot stat the path (${String(code)})`;
  }
}

/** One line per (mark, group), in the order the daemon places them. Duplicate marks are planned once. */
export function describePlans(config: Config): PlanLine[] {
  const mode = config.fid ? "fid" : "fd";
  const seen = new Set<string>();
  const out: PlanLine[] = [];
  for (const m of config.marks) {
    const key = `${m.type}\0${m.path}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const problem = problemOf(m.path);
    const preview = previewPlan(m.type, m.path, mode);
    out.push({
      type: m.type,
      path: m.path,
      group: "notify",
      mechanism: preview.mechanism ?? "none",
      detail: preview.fsType === "" ? preview.summary : `(${preview.fsType}) ${preview.summary}`,
      problem,
    });
    if (config.perm) {
      out.push({
        type: m.type,
        path: m.path,
        group: "content",
        mechanism: `fd-${m.type}-mark`,
        detail: "FD permission events; delivers OPEN_PERM,ACCESS_PERM, answered by the reader (every filesystem)",
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
