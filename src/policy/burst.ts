// Burst detection (behavior.md A10): per process (keyed by pid and start time, or a container's id with
// burst_scope container; the parameter is still called `pid` below), a window that starts at the first mutating record (not a
// sliding window). Each record whose mask intersects the mutating set counts once. If the count is 0
// or more than `window` ms have passed since the window start, a new window starts (start = now,
// count = 1); otherwise count + 1. At count >= threshold the caller asks the cooldown: when the alert
// is emitted it calls reset() (count 0, start = now); when suppressed the count is NOT reset.
//
// State: a Map pid → entry, O(1) per record. The Map is kept in window-start order (a pid is re-inserted
// whenever its window (re)starts), which makes both bounds cheap:
//  * size: at maxEntries, inserting a new pid evicts the entry with the oldest window start;
//  * expiry: sweep(now), called about once a second, drops entries idle for more than `expireMs`
//    (window + cooldown by default in the engine). It walks from the front and stops at the first entry
//    whose window started within `expireMs` (its last event, and every later entry's, is at least that
//    recent), so it never scans the live set.
// `now` is a monotonic millisecond clock; times must not go backwards.

import {
  FAN_ATTRIB,
  FAN_CLOSE_WRITE,
  FAN_CREATE,
  FAN_DELETE,
  FAN_DELETE_SELF,
  FAN_MODIFY,
  FAN_MOVED_FROM,
  FAN_MOVED_TO,
} from "../../ffi/constants.ts";
import { makeRoom } from "./bounded-map.ts";
import { DEFAULT_MAX_PIDS, type StateKey } from "./cooldown.ts";

/** Records that feed burst detection. RENAME, MOVE_SELF and OPEN do not. */
export const MUTATING_MASK =
  FAN_MODIFY |
  FAN_CLOSE_WRITE |
  FAN_DELETE |
  FAN_DELETE_SELF |
  FAN_MOVED_FROM |
  FAN_MOVED_TO |
  FAN_CREATE |
  FAN_ATTRIB;

export interface BurstOptions {
  /** 0 disables burst detection. */
  readonly threshold: number;
  /** > 0 (B7: a zero window is rejected by the config layer). */
  readonly windowMs: number;
  /** Entries idle longer than this are dropped by sweep(); default windowMs. */
  readonly expireMs?: number;
  /** Size bound; default 65536 pids. */
  readonly maxEntries?: number;
}

interface Entry {
  count: number;
  start: number;
  last: number;
}

export class BurstTracker {
  readonly threshold: number;
  readonly windowMs: number;
  readonly expireMs: number;
  readonly maxEntries: number;
  private readonly entries = new Map<StateKey, Entry>();

  constructor(opts: BurstOptions) {
    if (!(opts.threshold >= 0)) throw new RangeError(`burst threshold must be >= 0`);
    if (!(opts.windowMs > 0)) throw new RangeError(`burst window must be > 0 ms`);
    this.threshold = opts.threshold;
    this.windowMs = opts.windowMs;
    this.expireMs = Math.max(opts.expireMs ?? opts.windowMs, opts.windowMs);
    this.maxEntries = opts.maxEntries ?? DEFAULT_MAX_PIDS;
    if (!(this.maxEntries >= 1)) throw new RangeError(`maxEntries must be >= 1`);
  }

  get enabled(): boolean {
    return this.threshold > 0;
  }

  /**
   * Count one mutating record of `pid` (the caller checks the mask against MUTATING_MASK). Returns the
   * count when it has reached the threshold (a burst: alert unless in cooldown), else 0. Always 0 when
   * disabled.
   */
  hit(pid: StateKey, now: number): number {
    if (this.threshold <= 0) return 0;
    const map = this.entries;
    let e = map.get(pid);
    if (e === undefined) {
      makeRoom(map, this.maxEntries);
      e = { count: 1, start: now, last: now };
      map.set(pid, e);
    } else if (e.count === 0 || now - e.start > this.windowMs) {
      e.count = 1;
      e.start = now;
      e.last = now;
      map.delete(pid); // keep the Map in window-start order
      map.set(pid, e);
    } else {
      e.count++;
      e.last = now;
    }
    return e.count >= this.threshold ? e.count : 0;
  }

  /** The burst alert was emitted: count 0, start = now. */
  reset(pid: StateKey, now: number): void {
    const e = this.entries.get(pid);
    if (e === undefined) return;
    e.count = 0;
    e.start = now;
    e.last = now;
    this.entries.delete(pid);
    this.entries.set(pid, e);
  }

  /** Take over the windows of a tracker being replaced (config reload); the newest fit the bound. */
  adopt(old: BurstTracker): void {
    if (this.threshold <= 0) return;
    const skip = Math.max(0, old.entries.size - this.maxEntries);
    let i = 0;
    for (const [pid, e] of old.entries) {
      if (i++ < skip) continue;
      this.entries.set(pid, { count: e.count, start: e.start, last: e.last });
    }
  }

  /** The current count of `pid` (0 if unknown); for tests and diagnostics. */
  count(pid: StateKey): number {
    return this.entries.get(pid)?.count ?? 0;
  }

  /** Drop entries idle for more than expireMs. Returns how many were dropped. */
  sweep(now: number): number {
    let dropped = 0;
    for (const [pid, e] of this.entries) {
      if (now - e.start <= this.expireMs) break; // this and every later window started recently
      if (now - e.last > this.expireMs) {
        this.entries.delete(pid);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }
}
