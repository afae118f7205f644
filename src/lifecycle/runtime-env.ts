// Permission mode asks two things of Bun's runtime that it reads only from the environment, once, as the
// process starts (issue 11; README "Performance", eighth pass):
//   MIMALLOC_PURGE_DELAY=-1  mimalloc keeps freed pages instead of returning them with madvise(2). JSC's
//                            compiler threads did 61-98 such calls per 30,000 opens, up to 4.4 ms each; on
//                            a CONFIG_PREEMPT_NONE kernel a thread is not preempted inside a syscall, even
//                            at the lowest priority, and each call's TLB-shootdown IPIs stop the other CPUs.
//   BUN_JSC_useFTLJIT=0      no top-tier (FTL) compilations: each took 20-85 ms of a compiler thread well
//                            after start (the first 50,000 opens); the DFG tier below stays.
// A variable the user set is left as it is: that is also how to opt out (e.g. MIMALLOC_PURGE_DELAY=10
// BUN_JSC_useFTLJIT=1, the runtime's defaults). A daemonizing parent puts the variables into its child's
// environment; a foreground daemon executes itself again, once, before it opens anything (execve(2)
// keeps the pid, the open files and the pending signals). RUNTIME_ENV_MARK lists the names added, so the
// daemon takes them out of its environment again before hooks inherit it.
import { readFileSync, writeFileSync } from "node:fs";
import { splitNulTerminated } from "../bytes.ts";
import { blockSignals, execProgram, unblockSignals } from "../../ffi/process.ts";
import { EARLY_SIGNAL_NUMBERS, earlySignalArrived } from "./early-signals.ts";

export const PERM_RUNTIME_ENV: ReadonlyArray<readonly [string, string]> = [
  ["MIMALLOC_PURGE_DELAY", "-1"],
  ["BUN_JSC_useFTLJIT", "0"],
];

/** Set by this program when it added variables: their names, comma-separated. */
export const RUNTIME_ENV_MARK = "FANOTIFYD_RUNTIME_ENV";

type Env = Record<string, string | undefined>;

/** The variables permission mode still has to add to `env` (none once this program added them). */
export function runtimeEnvToAdd(env: Env): Array<readonly [string, string]> {
  if (env[RUNTIME_ENV_MARK] !== undefined) return [];
  return PERM_RUNTIME_ENV.filter(([name]) => env[name] === undefined);
}

/** `add` and the mark that lists them, as environment entries. */
export function runtimeEnvEntries(add: ReadonlyArray<readonly [string, string]>): Array<[string, string]> {
  if (add.length === 0) return [];
  return [...add.map(([k, v]): [string, string] => [k, v]), [RUNTIME_ENV_MARK, add.map(([k]) => k).join(",")]];
}

/**
 * Removes from `env` the variables this program added (listed in the mark) and the mark; the names the
 * user set stay. Returns the entries removed (for the log), or null when there was no mark: only then
 * may the program add them (and execute itself again).
 */
export function forgetRuntimeEnv(env: Env): string[] | null {
  const mark = env[RUNTIME_ENV_MARK];
  if (mark === undefined) return null;
  delete env[RUNTIME_ENV_MARK];
  const removed: string[] = [];
  for (const name of mark.split(",")) {
    const value = env[name];
    if (value === undefined || !PERM_RUNTIME_ENV.some(([k]) => k === name)) continue;
    removed.push(`${name}=${value}`);
    delete env[name];
  }
  return removed;
}

/** Lets the event loop run: a signal caught by the runtime reaches its JavaScript handler only there. */
const eventLoopTurn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

/**
 * Executes this program again (process.execPath: /proc/self/exe would rename the process "exe", and
 * restoreProgramName gives a symlink's name back) with the same arguments and environment (as bytes,
 * from /proc/self) plus `add` and the mark. Resolves only when it did not happen, with the reason. The early signals are blocked in this thread first, then the event
 * loop turns so that a signal caught before is seen: one that arrived cancels the re-execution (the
 * daemon carries it out once started); one that arrives later stays pending into the new program
 * (early-signals.ts unblocks them once its handlers are in place). Left: a signal that one of the
 * runtime's other threads takes in the microseconds between the last look and execve(2) is lost.
 */
export async function reexecWithRuntimeEnv(add: ReadonlyArray<readonly [string, string]>): Promise<string> {
  let argv: Uint8Array[];
  let env: Uint8Array[];
  try {
    argv = splitNulTerminated(readFileSync("/proc/self/cmdline"));
    env = splitNulTerminated(readFileSync("/proc/self/environ"));
  } catch (err) {
    return `cannot read /proc/self: ${err instanceof Error ? err.message : String(err)}`;
  }
  for (const [k, v] of runtimeEnvEntries(add)) env.push(Buffer.from(`${k}=${v}`, "utf8"));
  blockSignals(EARLY_SIGNAL_NUMBERS);
  await eventLoopTurn();
  await eventLoopTurn();
  if (earlySignalArrived()) {
    unblockSignals(EARLY_SIGNAL_NUMBERS);
    return "a signal arrived during start-up";
  }
  const why = execProgram(Buffer.from(process.execPath), argv, env);
  unblockSignals(EARLY_SIGNAL_NUMBERS);
  return `execve ${process.execPath}: ${why}`;
}

/** The kernel keeps a thread name of at most 15 bytes (TASK_COMM_LEN - 1, proc(5) /proc/pid/comm). */
const COMM_MAX = 15;

/**
 * After the re-execution: the kernel named the process after the file executed (process.execPath,
 * the binary's real path); a symlink's name, as it was started (argv[0]), is given back to it, so
 * ps, top and pidof show the same name as before. Best effort: a failure changes nothing else.
 */
export function restoreProgramName(): void {
  try {
    const argv0 = splitNulTerminated(readFileSync("/proc/self/cmdline"))[0];
    if (argv0 === undefined) return;
    const slash = argv0.lastIndexOf(0x2f);
    const wanted = argv0.subarray(slash + 1, slash + 1 + COMM_MAX);
    const current = readFileSync("/proc/self/comm").subarray(0, -1);
    if (wanted.length > 0 && !wanted.equals(current)) writeFileSync("/proc/self/comm", wanted);
  } catch {
    // /proc not mounted or not writable: the name stays the binary's
  }
}
