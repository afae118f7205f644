// A hook's stdout and stderr, read to EOF: whole lines go to the log (each cut at HOOK_LINE_MAX),
// and past HOOK_OUTPUT_MAX bytes per hook the rest is drained and discarded.
import { HOOK_LINE_MAX, HOOK_OUTPUT_MAX } from "../limits.ts";

/** The part of a stream reader the pump uses. */
export interface ByteReader {
  read(): Promise<{ done: boolean; value?: Uint8Array }>;
  cancel(): Promise<void>;
  releaseLock(): void;
}

/** Bytes a hook may still write (shared by its two pipes), and whether the excess was reported. */
export interface OutputBudget {
  left: number;
  warned: boolean;
}

export function newOutputBudget(): OutputBudget {
  return { left: HOOK_OUTPUT_MAX, warned: false };
}

type LineLog = (level: "info" | "warn", msg: string) => void;

const decoder = new TextDecoder("utf-8", { fatal: false });

function emitLine(log: LineLog, pid: number, parts: Uint8Array[], len: number, truncated: boolean): void {
  let bytes: Uint8Array;
  if (parts.length === 1) bytes = parts[0];
  else {
    bytes = new Uint8Array(len);
    let off = 0;
    for (const p of parts) {
      bytes.set(p, off);
      off += p.length;
    }
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0d) end--; // CRLF output
  const text = decoder.decode(end === bytes.length ? bytes : bytes.subarray(0, end));
  log("info", `hook[${pid}]: ${text}${truncated ? " [truncated]" : ""}`);
}

function warnBudget(log: LineLog, pid: number, budget: OutputBudget): void {
  if (budget.warned) return;
  budget.warned = true;
  log("warn", `hook[${pid}]: more than ${HOOK_OUTPUT_MAX} bytes of output, the rest is discarded`);
}

/** Read one pipe to EOF, logging whole lines; beyond the per-hook budget, drain and discard. */
export async function pumpHookOutput(reader: ByteReader, pid: number, budget: OutputBudget, log: LineLog): Promise<void> {
  let parts: Uint8Array[] = [];
  let len = 0; // bytes kept for the current line (≤ HOOK_LINE_MAX)
  let truncated = false;
  const append = (seg: Uint8Array): void => {
    if (seg.length === 0) return;
    const room = HOOK_LINE_MAX - len;
    if (seg.length > room) {
      truncated = true;
      if (room > 0) {
        parts.push(seg.slice(0, room));
        len += room;
      }
      return;
    }
    // Copy: the chunk's buffer may be reused by the stream.
    parts.push(seg.slice());
    len += seg.length;
  };
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value === undefined || value.length === 0) continue;
      if (budget.left <= 0) {
        // Drain and discard (the other pipe of this hook may have used up the budget).
        warnBudget(log, pid, budget);
        continue;
      }
      const cut = value.length > budget.left;
      const chunk = cut ? value.subarray(0, budget.left) : value;
      budget.left -= chunk.length;
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl < 0) break;
        append(chunk.subarray(start, nl));
        emitLine(log, pid, parts, len, truncated);
        parts = [];
        len = 0;
        truncated = false;
        start = nl + 1;
      }
      append(chunk.subarray(start));
      if (cut) {
        if (len > 0 || truncated) {
          emitLine(log, pid, parts, len, true);
          parts = [];
          len = 0;
          truncated = false;
        }
        warnBudget(log, pid, budget);
      }
    }
  } catch {
    // cancelled or pipe error: stop reading
  } finally {
    if (len > 0 || truncated) emitLine(log, pid, parts, len, truncated);
    try {
      reader.releaseLock();
    } catch {
      // still pending after cancel: fine
    }
  }
}
