// `fanotifyd tail`: a subscriber client for the daemon's socket (behavior.md A12). Connects, splits the
// stream into lines, filters them, and prints them — raw (byte-identical to the daemon's lines) or, with
// --pretty, one human line per record.
//
// Lines are handled as bytes: a JSON line decoded as latin1 parses fine (every structural character is
// ASCII) and yields byte strings (one char per byte, like the daemon's own strings), so paths with
// invalid UTF-8 are matched and printed with their original bytes. Output respects stdout's
// backpressure (the socket is paused until stdout drains); a reader that goes away (`| head`) ends the
// run quietly with status 0, as does the daemon closing the connection.
//
// The parts: args.ts (flags), filter.ts (which records), format.ts (--pretty), this file (the client).

import type { Writable } from "node:stream";
import type { Socket } from "bun";
import { UsageError } from "../config/types.ts";
import { errCode, errReason } from "../errors.ts";
import { plainError } from "../log.ts";
import { parseTailArgs, renderTailHelp, type TailOptions } from "./args.ts";
import { makeRecordFilter, parseRecordLine, type TailRecord } from "./filter.ts";
import { formatPretty } from "./format.ts";

export interface TailIO {
  /** Where records go (default process.stdout). */
  readonly stdout: Writable & { readonly isTTY?: boolean };
  /** One-line error messages (default: stderr). */
  readonly stderr: (line: string) => void;
  /** Environment, for NO_COLOR (default process.env). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

function defaultIO(): TailIO {
  return { stdout: process.stdout, stderr: plainError, env: process.env };
}

/** Bun sockets can pause reading at run time; the type declarations do not say so. */
interface Pausable {
  pause?: () => void;
  resume?: () => void;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * What to print for the whole lines `buf[0, last]` (last is the index of their final "\n"): filtered,
 * raw (the bytes as they came) or --pretty; null when nothing is to be printed.
 */
function lineRenderer(
  filter: ((rec: TailRecord) => boolean) | null,
  pretty: boolean,
  color: boolean,
): (buf: Buffer, last: number) => Buffer | null {
  return (buf, last) => {
    if (filter === null && !pretty) return Buffer.from(buf.subarray(0, last + 1)); // raw and unfiltered
    const parts: Buffer[] = [];
    let start = 0;
    while (start <= last) {
      const nl = buf.indexOf(NL, start);
      const line = buf.subarray(start, nl + 1);
      start = nl + 1;
      const rec = parseRecordLine(line);
      if (rec === null) {
        if (filter === null) parts.push(line); // not a record: shown only when nothing is filtered
        continue;
      }
      if (filter !== null && !filter(rec)) continue;
      if (!pretty) {
        parts.push(line);
        continue;
      }
      const text = formatPretty(rec, color);
      parts.push(text === null ? line : Buffer.from(`${text}\n`, "latin1"));
    }
    return parts.length > 0 ? Buffer.concat(parts) : null;
  };
}

interface ConnectionHandlers {
  readonly data: (chunk: Buffer) => void;
  readonly close: () => void;
  readonly error: (e: Error) => void;
}

function connect(path: string, h: ConnectionHandlers): Promise<Socket<undefined>> {
  return Bun.connect({
    unix: path,
    socket: {
      data: (_s, chunk) => h.data(chunk),
      close: () => h.close(),
      error: (_s, e) => h.error(e),
    },
  });
}

/**
 * Connect and print until the daemon closes the connection. Resolves with the exit status: 0 on EOF
 * or when stdout's reader has gone away (EPIPE), 1 when the socket cannot be reached.
 */
export async function runTail(opts: TailOptions, io: TailIO = defaultIO()): Promise<number> {
  const out = io.stdout;
  if (opts.help) return new Promise<number>((resolve) => out.write(renderTailHelp(), () => resolve(0)));
  const color = opts.pretty && out.isTTY === true && (io.env.NO_COLOR ?? "") === "";
  const render = lineRenderer(makeRecordFilter(opts), opts.pretty, color);

  const { promise: done, resolve: resolveDone } = Promise.withResolvers<number>();
  let finished = false;
  let sock: Socket<undefined> | null = null;
  let carry: Buffer = EMPTY;

  const onDrain = (): void => (sock as Pausable | null)?.resume?.();
  const finish = (code: number): void => {
    if (finished) return;
    finished = true;
    out.off("error", onStdoutError);
    out.off("drain", onDrain);
    resolveDone(code);
  };
  function onStdoutError(e: unknown): void {
    if (errCode(e) !== "EPIPE") io.stderr(`fanotifyd tail: cannot write to stdout: ${errReason(e)}`);
    const s = sock;
    sock = null;
    s?.terminate();
    finish(errCode(e) === "EPIPE" ? 0 : 1);
  }
  out.on("error", onStdoutError);
  out.on("drain", onDrain);

  /** Print what is left in stdout's buffer, then finish (a pending write never blocks EOF forever: EPIPE ends it). */
  const flushAndFinish = (code: number): void => {
    if (finished) return;
    if (out.writableLength === 0) finish(code);
    else out.write(EMPTY, () => finish(code));
  };

  const emit = (chunk: Buffer): void => {
    if (finished || chunk.length === 0) return;
    if (!out.write(chunk) && sock !== null) (sock as Pausable).pause?.();
  };

  const handleLines = (buf: Buffer): void => {
    const last = buf.lastIndexOf(NL);
    if (last < 0) {
      carry = Buffer.from(buf);
      return;
    }
    carry = last + 1 < buf.length ? Buffer.from(buf.subarray(last + 1)) : EMPTY;
    const shown = render(buf, last);
    if (shown !== null) emit(shown);
  };

  try {
    sock = await connect(opts.socket, {
      data: (chunk) => {
        if (!finished) handleLines(carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk);
      },
      // The daemon closed the connection (or dropped us): a partial last line is not printed.
      close: () => {
        sock = null;
        flushAndFinish(0);
      },
      error: (e) => {
        if (!finished) io.stderr(`fanotifyd tail: connection to '${opts.socket}' failed: ${errReason(e)}`);
        sock = null;
        finish(1);
      },
    });
  } catch (e) {
    if (!finished) io.stderr(`fanotifyd tail: cannot connect to '${opts.socket}': ${errReason(e)}`);
    finish(1);
  }
  if (finished) sock?.terminate();
  return done;
}

/** `fanotifyd tail ARGS…` as the entry point runs it: parse, report usage errors, run. */
export async function runTailCommand(argv: readonly string[], io: TailIO = defaultIO()): Promise<number> {
  let opts: TailOptions;
  try {
    opts = parseTailArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`fanotifyd tail: ${e.message}`);
      io.stderr("Try 'fanotifyd tail --help' for more information.");
      return e.exitCode;
    }
    throw e;
  }
  return runTail(opts, io);
}
