// SIGHUP reload of the marks (design.md): the new marks go on every group first (all or nothing), then
// the old ones are removed; the Worker answers with one "marks-done" message.
import { statSync } from "node:fs";
import * as K from "../../ffi/constants.ts";
import { strerror } from "../../ffi/libc.ts";
import { fsPath } from "../bytes.ts";
import type { ContentMarks } from "./content-groups.ts";
import { markFailure } from "./groups.ts";
import type { NotifyMarks } from "./notify-marks.ts";
import type { MarksMessage, ReaderMark, WorkerMessage } from "./protocol.ts";

/** Applies `msg` to the notification group (and the content groups, when permission mode is on). */
export async function changeMarks(notify: NotifyMarks, content: ContentMarks | null, msg: MarksMessage): Promise<WorkerMessage> {
  const notes: string[] = [];
  const placed: ReaderMark[] = [];
  const contentPlaced: ReaderMark[] = [];
  try {
    for (const mark of msg.add) {
      notes.push(...(await notify.add(mark)));
      placed.push(mark);
      if (content !== null) {
        const code = content.add(mark);
        if (code !== 0) throw markFailure(mark, code, "fd");
        contentPlaced.push(mark);
      }
    }
  } catch (err) {
    for (const mark of placed) notify.remove(mark);
    if (content !== null) for (const mark of contentPlaced) content.remove(mark);
    return { type: "marks-done", id: msg.id, error: err instanceof Error ? err.message : String(err), notes: [] };
  }
  for (const mark of msg.remove) {
    const problem = notify.remove(mark);
    if (problem !== null) notes.push(problem);
    if (content !== null) {
      const code = content.remove(mark);
      if (code !== 0 && code !== K.ENOENT) notes.push(`cannot remove ${mark.type} permission mark on '${mark.path}': ${strerror(code)}`);
    }
    notes.push(`stopped watching ${mark.path}`);
  }
  return { type: "marks-done", id: msg.id, error: null, notes };
}

export function isDirectory(path: string): boolean {
  try {
    return statSync(fsPath(path)).isDirectory();
  } catch {
    return true; // fanotify_mark reports the real reason
  }
}
