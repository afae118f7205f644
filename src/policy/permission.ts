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
  /** Deny permission events of this pid while now < untilMono (the clock both threads share). */
  readonly untilMono: number;
}

export class PermissionPolicy {
  private canaries: CanaryMatcher;
  private deny: boolean;
  private readonly denyUntil = new Map<number, number>();
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
    if (!rules.denyOnAlert) this.denyUntil.clear();
  }

  /** Puts pids under a burst deny (a newer deadline replaces an older one); drops expired ones. */
  addBurstDenies(denies: readonly BurstDeny[], nowMono: number): void {
    // Kept in arrival order, which is deadline order while window + cooldown do not change.
    for (const [pid, until] of this.denyUntil) {
      if (nowMono < until) break;
      this.denyUntil.delete(pid);
    }
    if (!this.deny) return;
    for (const d of denies) {
      if (!this.denyUntil.delete(d.pid) && this.denyUntil.size >= this.maxPids) {
        const oldest = this.denyUntil.keys().next();
        if (oldest.done !== true) this.denyUntil.delete(oldest.value);
      }
      this.denyUntil.set(d.pid, d.untilMono);
    }
  }

  /** Pids currently held (tests, diagnostics). */
  get burstDenied(): number {
    return this.denyUntil.size;
  }

  /** The verdict for an event (`path` a byte string, " (deleted)" handled by the matcher). */
  decide(maskLo: number, pid: number, path: string, nowMono: number): Verdict {
    if (!this.deny || (maskLo & FAN_PERM_EVENTS) === 0) return "allow";
    const until = this.denyUntil.get(pid);
    if (until !== undefined) {
      if (nowMono < until) return "deny";
      this.denyUntil.delete(pid);
    }
    return this.canaries.matchesEvent(path) ? "deny" : "allow";
  }

  private compile(rules: PermissionRules): CanaryMatcher {
    const m = compileCanaries(rules.canaries);
    this.compilations++;
    return m;
  }
}
