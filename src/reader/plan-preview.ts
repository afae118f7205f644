// What each mark would deliver and how, without placing it (for `fanotifyd check`): the same steps
// as the reader's planner (mark-plan.ts), with the kernel's refusals predicted from the filesystem
// type, as measured on Linux 6.18.
import { statfsSync, statSync } from "node:fs";
import type { MarkType } from "../config/types.ts";
import { fsPath, toByteString } from "../bytes.ts";
import { NEVER_OPEN_HANDLES, UNOPENABLE_HANDLES, markSteps, planSummary, predictedRefusal, type Mechanism } from "./mark-plan.ts";
import { mountOf } from "./mountinfo.ts";
import type { ReaderMode } from "./protocol.ts";

export interface PlanPreview {
  readonly type: MarkType;
  readonly path: string;
  /** Null when the path cannot be read (the daemon would refuse the mark: see `line`). */
  readonly mechanism: Mechanism | null;
  /** Filesystem type as mountinfo names it ("" when unknown). */
  readonly fsType: string;
  /** What the mechanism delivers and what it cannot (planSummary), or why the mark cannot be placed. */
  readonly summary: string;
}

export function previewPlan(type: MarkType, path: string, mode: ReaderMode): PlanPreview {
  let isDir: boolean;
  let magic: number;
  try {
    isDir = statSync(fsPath(path)).isDirectory();
    magic = Number(statfsSync(fsPath(path)).type) >>> 0;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { type, path, mechanism: null, fsType: "", summary: `cannot be placed: ${why}` };
  }
  const mount = mountOf(toByteString(path));
  const fallbacks: string[] = [];
  for (const step of markSteps(mode, type, isDir)) {
    const refusal = predictedRefusal(step, magic);
    if (refusal !== null) {
      fallbacks.push(`FID filesystem mark refused: ${refusal}`);
      continue;
    }
    const summary = planSummary({
      mechanism: step.mechanism,
      isDir,
      fsType: mount.fsType,
      handlesOpen: !UNOPENABLE_HANDLES.has(magic) && !NEVER_OPEN_HANDLES.has(magic),
      fallback: fallbacks.join("; "),
      scoped: step.mechanism === "fid-filesystem-scoped" && mount.root !== "/",
    });
    return { type, path, mechanism: step.mechanism, fsType: mount.fsType, summary };
  }
  return { type, path, mechanism: null, fsType: mount.fsType, summary: "no mechanism is available" };
}
