// Alert cooldown (behavior.md A10, B7): one last-alert time per pid, shared by canary and burst
// alerts. An alert is allowed if the pid never alerted or now − last ≥ cooldown; `hook_cooldown_ms 0`
// disables the cooldown (every alert allowed, no state kept).
//
// State: a Map kept in last-alert order (an alert re-inserts its pid), bounded in size (the pid whose
// last alert is oldest is evicted, which only lets its next alert through early) and swept from the
// front: entries whose cooldown has run out carry no information and are dropped. `now` is a monotonic
// millisecond clock; times must not go backwards.

import { MAX_TRACKED_PROCESSES } from "../limits.ts";
import { makeRoom } from "./bounded-map.ts";

/** Entries per table unless told otherwise. */
export const DEFAULT_MAX_PIDS = MAX_TRACKED_PROCESSES;

/**
 * What per-process state is keyed by: a process key (pid and start time, src/policy/process-key.ts;
 * tests use bare pids) or, for burst_scope container, a container id.
 */
export type StateKey = number | string;

export class Cooldown {
  private readonly lastAlert = new Map<StateKey, number>();

  constructor(
    readonly cooldownMs: number,
    readonly maxEntries: number = DEFAULT_MAX_PIDS,
  ) {
    if (!(cooldownMs >= 0)) throw new RangeError(`cooldown must be >= 0, got ${cooldownMs}`);
    if (!(maxEntries >= 1)) throw new RangeError(`maxEntries must be >= 1, got ${maxEntries}`);
  }

  /** Whether an alert by `pid` at `now` may be emitted. */
  allowed(pid: StateKey, now: number): boolean {
    if (this.cooldownMs === 0) return true;
    const last = this.lastAlert.get(pid);
    return last === undefined || now - last >= this.cooldownMs;
  }

  /** Record an emitted alert. */
  mark(pid: StateKey, now: number): void {
    if (this.cooldownMs === 0) return;
    const map = this.lastAlert;
    if (!map.delete(pid)) makeRoom(map, this.maxEntries);
    map.set(pid, now);
  }

  /** allowed() then mark(): true if the alert is to be emitted. */
  tryAlert(pid: StateKey, now: number): boolean {
    if (!this.allowed(pid, now)) return false;
    this.mark(pid, now);
    return true;
  }

  /** Take over the alert times of a Cooldown being replaced (config reload); the newest fit the bound. */
  adopt(old: Cooldown): void {
    if (this.cooldownMs === 0) return;
    const skip = Math.max(0, old.lastAlert.size - this.maxEntries);
    let i = 0;
    for (const [pid, last] of old.lastAlert) if (i++ >= skip) this.lastAlert.set(pid, last);
  }

  /** Drop entries whose cooldown has expired. Returns how many were dropped. */
  sweep(now: number): number {
    let dropped = 0;
    for (const [pid, last] of this.lastAlert) {
      if (now - last < this.cooldownMs) break; // ordered by last alert: the rest are newer
      this.lastAlert.delete(pid);
      dropped++;
    }
    return dropped;
  }

  get size(): number {
    return this.lastAlert.size;
  }
}
