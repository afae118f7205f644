// The daemon log: one line per message on stderr, `2026-11-24T12:00:00.000Z INFO  message`
// (behavior.md A3), through consola with a reporter of our own. consola/core keeps start-up fast.
import { writeSync } from "node:fs";
import { createConsola, type ConsolaInstance, type LogObject } from "consola/core";

const LEVEL_NAMES: Record<number, string> = { 0: "ERROR", 1: "WARN ", 2: "INFO ", 3: "INFO ", 4: "DEBUG", 5: "DEBUG" };

function formatArgs(args: unknown[]): string {
  return args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
}

function emit(line: string): void {
  try {
    writeSync(2, line);
  } catch {
    // stderr gone: nothing sensible left to do with a log line.
  }
}

export const logger: ConsolaInstance = createConsola({
  level: 3,
  throttle: 0,
  reporters: [
    {
      log(obj: LogObject) {
        const level = LEVEL_NAMES[obj.level] ?? "INFO ";
        emit(`${obj.date.toISOString()} ${level} ${formatArgs(obj.args)}\n`);
      },
    },
  ],
});

/** verbose 0 → INFO, ≥1 → DEBUG. */
export function setVerbosity(verbose: number): void {
  logger.level = verbose > 0 ? 4 : 3;
}

/** A plain line on stderr, without the timestamp prefix (usage errors, A1). */
export function plainError(message: string): void {
  emit(message.endsWith("\n") ? message : `${message}\n`);
}
