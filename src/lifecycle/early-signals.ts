// Imported first by src/main.ts: from the first moment JavaScript runs, SIGTERM/SIGINT/SIGHUP/SIGUSR1/
// SIGUSR2 no longer take their default action (terminate) while the daemon starts. A stop request is
// remembered and carried out by the daemon, cleanly, once start-up is complete; a SIGHUP makes one
// reload then (issue 14 item 11).
import { constants as osConstants } from "node:os";
import { unblockSignals } from "../../ffi/process.ts";

const STOPS = { SIGTERM: 15, SIGINT: 2 } as const;
const OTHERS = ["SIGHUP", "SIGUSR1", "SIGUSR2"] as const;
/** The numbers of every signal handled here. */
export const EARLY_SIGNAL_NUMBERS: readonly number[] = [...Object.values(STOPS), ...OTHERS.map((n) => osConstants.signals[n])];

export interface EarlySignals {
  /** The first stop signal's number, or null. */
  stop: number | null;
  /** A SIGHUP arrived. */
  reload: boolean;
}

const seen: EarlySignals = { stop: null, reload: false };
const listeners: Array<[NodeJS.Signals, () => void]> = [];

function install(): void {
  for (const [name, num] of Object.entries(STOPS) as Array<[NodeJS.Signals, number]>) {
    const fn = (): void => {
      if (seen.stop === null) seen.stop = num;
    };
    process.on(name, fn);
    listeners.push([name, fn]);
  }
  for (const name of OTHERS) {
    const fn = (): void => {
      if (name === "SIGHUP") seen.reload = true;
    };
    process.on(name, fn);
    listeners.push([name, fn]);
  }
}

install();
// A program that re-executes itself (runtime-env.ts) blocks these signals first; from here they are
// handled, so pending ones are delivered now.
unblockSignals(EARLY_SIGNAL_NUMBERS);

/** True once a stop signal or SIGHUP arrived (SIGUSR1/SIGUSR2 are dropped while starting anyway). */
export function earlySignalArrived(): boolean {
  return seen.stop !== null || seen.reload;
}

/** Removes the early handlers (default actions again, unless the caller installed its own). */
export function releaseEarlySignals(): void {
  for (const [name, fn] of listeners.splice(0)) process.off(name, fn);
}

/** What arrived so far; removes the early handlers. Call after installing the real ones. */
export function takeEarlySignals(): EarlySignals {
  releaseEarlySignals();
  return { ...seen };
}
