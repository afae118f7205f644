// Per-process policy state (burst windows, cooldowns, burst denies) is keyed by pid AND process start
// time (issue 12, behavior.md B18), so a reused pid never inherits another process's state. The key is
// one number, so the maps stay Map<number, …> with no allocation per event:
//
//   key = (start time mod 2^31) × 2^22 + pid
//
// pid < 2^22 (PID_MAX_LIMIT) and the product stays below 2^53 (exact). Start times are clock ticks
// since boot (/proc/PID/stat field 22); two processes with one pid whose start times differ by exactly
// 2^31 ticks (248 days at 100 Hz) would share a key. Start time 0 (unknown) gives the bare pid.

const PID_SPACE = 4194304; // 2^22
const START_SPACE = 2147483648; // 2^31

export function processKey(pid: number, startTime: number): number {
  return (startTime % START_SPACE) * PID_SPACE + pid;
}

/** The pid part of a key. */
export function keyPid(key: number): number {
  return key % PID_SPACE;
}
