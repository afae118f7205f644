// The permission policy (behavior.md B3, B5), owned by the reader Worker, which answers every
// permission event from it. It holds the only permission verdict in the daemon:
//   * with deny-on-alert, a permission event whose path matches a canary is denied, every time;
//   * with deny-on-alert, every permission event of a pid under a burst deny is denied until its deadline;
//   * everything else is allowed (and non-permission events are never denied).
// Two messages keep it current (src/reader/protocol.ts): the rules (canaries + deny-on-alert) at start
// and on reload — the only time patterns are compiled — and burst denies (pid + deadline) as the main
// thread's burst detection makes them. A burst deny never touches the canary matcher. A deny ends at its
// deadline (window + cooldown after the alert), so the policy drops expired pids itself: no removal
// message, and no copy of the set on the main thread.

import { FAN_PERM_EVENTS } from "../../ffi/constants.ts";
import { compileCanaries, type CanaryMatcher } from "./canary.ts";
import { makeRoom } from "./bounded-map.ts";
import { DEFAULT_MAX_PIDS } from "./cooldown.ts";

export type Verdict = "allow" | "deny";

/** Start/reload message: what the verdict depends on besides burst denies. Plain data. */
export interface PermissionRules {
  /** Canary patterns as configured. */
  readonly canaries: readonly string[];
  readonly denyOnAlert: boolean;
}

export interface BurstDeny {
  readonly pid: number;
  /** processKey(pid, start time): the deny is for that process only, not a later one with the pid. Absent: the bare pid. */
  readonly key?: number;
  /** Deny permission events of this process while now < untilMono (the clock both threads share). */
  readonly untilMono: number;
}

interface Held {
  readonly pid: number;
  readonly untilMono: number;
}

export class PermissionPolicy {
  private canaries: CanaryMatcher;
  private deny: boolean;
  /** process key → the deny; and how many held keys each pid has (a cheap first test per event). */
  private readonly denyUntil = new Map<number, Held>();
  private readonly heldPids = new Map<number, number>();
  /** Canary compilations so far (one per setRules; tests check bursts cause none). */
  compilations = 0;

  constructor(
    rules: PermissionRules,
    private readonly maxPids = DEFAULT_MAX_PIDS,
  ) {
    this.canaries = this.compile(rules);
    this.deny = rules.denyOnAlert;
  }

  get denyOnAlert(): boolean {
    return this.deny;
  }

  /** Start/reload: compile the canaries. Throws (PatternError) and keeps the old rules on a bad pattern. */
  setRules(rules: PermissionRules): void {
    this.canaries = this.compile(rules);
    this.deny = rules.denyOnAlert;
    if (!rules.denyOnAlert) {
      this.denyUntil.clear();
      this.heldPids.clear();
    }
  }

  /** Puts processes under a burst deny (a newer deadline replaces an older one); drops expired ones. */
  addBurstDenies(denies: readonly BurstDeny[], nowMono: number): void {
    // Kept in arrival order, which is deadline order while window + cooldown do not change.
    for (const [key, held] of this.denyUntil) {
      if (nowMono < held.untilMono) break;
      this.release(key, held);
    }
    if (!this.deny) return;
    for (const d of denies) {
      const key = d.key ?? d.pid;
      const old = this.denyUntil.get(key);
      if (old !== undefined) this.release(key, old);
      else makeRoom(this.denyUntil, this.maxPids, (k, h) => this.release(k, h));
      this.denyUntil.set(key, { pid: d.pid, untilMono: d.untilMono });
      this.heldPids.set(d.pid, (this.heldPids.get(d.pid) ?? 0) + 1);
    }
  }

  private release(key: number, held: Held): void {
    this.denyUntil.delete(key);
    const n = (this.heldPids.get(held.pid) ?? 1) - 1;
    if (n <= 0) this.heldPids.delete(held.pid);
    else this.heldPids.set(held.pid, n);
  }

  /** Processes currently held (tests, diagnostics). */
  get burstDenied(): number {
    return this.denyUntil.size;
  }

  /**
   * The verdict for an event whose path is the bytes path[0..pathLen) (readlink's buffer; none when
   * pathLen ≤ 0; " (deleted)" handled by the matcher; no string is made). `keyOf` gives the process
   * key of `pid`'s current process; it is called only for a pid under a deny.
   */
  decide(maskLo: number, pid: number, path: Uint8Array, pathLen: number, nowMono: number, keyOf?: (pid: number) => number): Verdict {
    if (!this.deny || (maskLo & FAN_PERM_EVENTS) === 0) return "allow";
    if (this.heldPids.has(pid)) {
      const key = keyOf === undefined ? pid : keyOf(pid);
      const held = this.denyUntil.get(key) ?? this.denyUntil.get(pid);
      if (held !== undefined) {
        if (nowMono < held.untilMono) return "deny";
        this.release(this.denyUntil.get(key) === held ? key : pid, held);
      }
    }
    return this.canaries.matchesEventBytes(path, pathLen) ? "deny" : "allow";
  }

  private compile(rules: PermissionRules): CanaryMatcher {
    const m = compileCanaries(rules.canaries);
    this.compilations++;
    return m;
  }
}
