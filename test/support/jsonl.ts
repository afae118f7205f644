// Reading what a daemon writes: JSONL files parsed strictly, and followed until a record appears.
import { existsSync, readFileSync, statSync } from "node:fs";

/** What the waits need of a running daemon (test/integration/harness.ts Daemon). */
export interface Watched {
  exited(): boolean;
  stderr(): string;
}

export type JsonRecord = Record<string, unknown>;

export interface ReadOptions {
  /** Require the file to end with a newline and every line to be valid JSON (default true). */
  strict?: boolean;
}

/**
 * Parses a JSONL file. strict (default): the file must end with "\n" and every line must parse.
 * Non-strict (for polling a file being written): an unterminated last line is ignored.
 */
export function readJsonl(file: string, opts: ReadOptions = {}): JsonRecord[] {
  const strict = opts.strict ?? true;
  if (!existsSync(file)) {
    if (strict) throw new Error(`output file ${file} does not exist`);
    return [];
  }
  return parseJsonl(readFileSync(file, "utf8"), strict, file);
}

export function parseJsonl(text: string, strict = true, what = "output"): JsonRecord[] {
  if (text === "") return [];
  const parts = text.split("\n");
  const last = parts.pop()!;
  if (last !== "") {
    if (strict) throw new Error(`${what} does not end with a newline; last bytes: ${JSON.stringify(last.slice(-200))}`);
  }
  return parts.map((line, i) => {
    try {
      const v: unknown = JSON.parse(line);
      if (v === null || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
      return v as JsonRecord;
    } catch (e) {
      throw new Error(`${what}: line ${i + 1} is not a JSON object (${String(e)}): ${JSON.stringify(line.slice(0, 300))}`);
    }
  });
}

/** Raw lines of a file (without the trailing empty element). */
export function readLines(file: string): string[] {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  const parts = text.split("\n");
  if (parts[parts.length - 1] === "") parts.pop();
  return parts;
}

export function eventsOf(r: JsonRecord): string[] {
  return typeof r.events === "string" && r.events !== "" ? r.events.split(",") : [];
}

export function hasEvent(r: JsonRecord, ...names: string[]): boolean {
  const ev = eventsOf(r);
  return names.some((n) => ev.includes(n));
}

export interface WaitResult {
  record: JsonRecord;
  index: number;
  records: JsonRecord[];
}

export interface WaitOptions {
  /** If given, fail fast (with its stderr) when the daemon exits, and include its stderr on timeout. */
  daemon?: Watched;
  /** Only consider records at index >= from. */
  from?: number;
  intervalMs?: number;
}

/** Polls `file` until a record satisfies `pred`, or fails after timeoutMs. */
export async function waitForRecord(
  file: string,
  pred: (r: JsonRecord, index: number) => boolean,
  timeoutMs = 5000,
  opts: WaitOptions = {},
): Promise<WaitResult> {
  const deadline = Date.now() + timeoutMs;
  const from = opts.from ?? 0;
  let records: JsonRecord[] = [];
  let offset = 0; // bytes of complete lines already parsed
  let checked = from;
  for (;;) {
    if (existsSync(file)) {
      const size = statSync(file).size;
      if (size > offset) {
        const fd = Bun.file(file).slice(offset, size);
        const chunk = Buffer.from(await fd.arrayBuffer());
        const lastNl = chunk.lastIndexOf(0x0a);
        if (lastNl >= 0) {
          records = records.concat(parseJsonl(chunk.subarray(0, lastNl + 1).toString("utf8"), true, file));
          offset += lastNl + 1;
        }
      }
    }
    for (; checked < records.length; checked++) {
      if (pred(records[checked]!, checked)) return { record: records[checked]!, index: checked, records };
    }
    const d = opts.daemon;
    if (d?.exited()) {
      throw new Error(`daemon exited while waiting for a record in ${file}; stderr:\n${d.stderr()}`);
    }
    if (Date.now() >= deadline) {
      const tail = records.slice(-10).map((r) => JSON.stringify(r)).join("\n");
      throw new Error(
        `no matching record in ${file} after ${timeoutMs} ms (${records.length} records; last ones:\n${tail})` +
          (d ? `\ndaemon stderr:\n${d.stderr()}` : ""),
      );
    }
    await Bun.sleep(opts.intervalMs ?? 20);
  }
}

/** Polls `cond` until true, or throws `what` after timeoutMs. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string, daemon?: Watched): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (daemon?.exited()) throw new Error(`daemon exited while waiting for ${what}; stderr:\n${daemon.stderr()}`);
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}` + (daemon ? `\nstderr:\n${daemon.stderr()}` : ""));
    }
    await Bun.sleep(20);
  }
}

export interface QuietOptions {
  /** How long the file must not grow (ms). */
  quietMs: number;
  /** Give up after this long (ms). */
  maxMs: number;
  /** Epoch ms to report as the last growth if the file never grows (default: now). */
  sinceMs?: number;
  /** Poll interval (ms, default 5). */
  intervalMs?: number;
}

/**
 * Polls the size of `file` (a daemon's output being written) until it has not grown for quietMs.
 * Returns the epoch ms of its last growth, and whether maxMs passed first.
 */
export async function waitQuiet(file: string, opts: QuietOptions): Promise<{ lastGrowthMs: number; timedOut: boolean }> {
  const now = (): number => performance.timeOrigin + performance.now();
  let size = -1;
  const t0 = now();
  let last = opts.sinceMs ?? t0;
  for (;;) {
    let s = 0;
    try {
      s = statSync(file).size;
    } catch {
      s = 0;
    }
    const t = now();
    if (s !== size) {
      if (size >= 0) last = t;
      size = s;
    }
    if (t - last >= opts.quietMs && t - t0 >= opts.quietMs) return { lastGrowthMs: last, timedOut: false };
    if (t - t0 > opts.maxMs) return { lastGrowthMs: last, timedOut: true };
    await Bun.sleep(opts.intervalMs ?? 5);
  }
}
