// The policy loop for one event (behavior.md A9, A10, B3, B7, B12): job tag → canary → burst → alerts,
// plus the permission verdict. Pure and clock-injected: `nowMono` is a monotonic millisecond clock
// passed in by the caller; no I/O, no timers, no globals.
//
// The same verdict code runs in the reader Worker (design.md: the Worker answers permission events
// itself): the main thread sends it a small serialisable PolicySnapshot (canary patterns, deny-on-alert,
// the pids under a burst deny), the Worker compiles it with compileSnapshot() and calls decide().

import { FAN_PERM_EVENTS } from "../../ffi/constants.ts";
import type { JobRole, JobSpec } from "../config/types.ts";
import type { AlertRecord, FsEvent } from "../records.ts";
import { BurstTracker, MUTATING_MASK } from "./burst.ts";
import { canaryReason, compileCanaries, type CanaryMatcher } from "./canary.ts";
import { Cooldown, DEFAULT_MAX_PIDS } from "./cooldown.ts";
import { compileJobs, type JobTagger } from "./jobs.ts";
import { keyPid } from "./process-key.ts";

export const BURST_REASON = "mutating-event burst exceeded threshold";

/** The policy part of Config (a Config is accepted as is). */
export interface PolicyOptions {
  /** Canary patterns as configured (normal JS strings). */
  readonly canaries: readonly string[];
  readonly jobs: readonly JobSpec[];
  /** 0 = burst detection off. */
  readonly burstThreshold: number;
  /** > 0. */
  readonly burstWindowMs: number;
  /** 0 = no cooldown (B7). */
  readonly hookCooldownMs: number;
  readonly denyOnAlert: boolean;
  /** Bound of each per-pid map (burst windows, cooldowns, burst denies). Default 65536. */
  readonly maxPids?: number;
  /** "container": one burst window per container (processes in no container keep their own). */
  readonly burstScope?: BurstScope;
}

export type BurstScope = "process" | "container";

/** What evaluate() decided. One object per engine, overwritten by every call. */
export interface PolicyResult {
  /** job_id (byte string) and path_role, both null when untagged. */
  readonly jobId: string | null;
  readonly role: JobRole | null;
  /**
   * Alerts to emit for this event, canary first then burst. The array is reused: copy what you keep
   * before the next evaluate() (the alert objects themselves are fresh and may be kept).
   */
  readonly alerts: readonly AlertRecord[];
  /** Alerts this event raised that the cooldown suppressed (counted, not emitted; B12). */
  readonly suppressed: number;
  /** Permission events only (OPEN_PERM, ACCESS_PERM, OPEN_EXEC_PERM): deny (B3). Else false. */
  readonly deny: boolean;
  /** The path matched a canary (tested when the mask can alert, and for permission events with deny-on-alert). */
  readonly canaryMatch: boolean;
  /** This event put its pid under a burst deny (or extended it): send the reader a new snapshot. */
  readonly burstDenyChanged: boolean;
}

export interface PolicyCounters {
  readonly alertsEmitted: number;
  readonly alertsSuppressed: number;
}

export interface BurstDeny {
  readonly pid: number;
  /** processKey(pid, start time): the deny is for that process only, not a later one with the pid. Absent: the bare pid. */
  readonly key?: number;
  /** Deny permission events of this pid while nowMono < untilMono. */
  readonly untilMono: number;
}

/** What the reader Worker needs to answer permission events. Plain data: structured-clone safe. */
export interface PolicySnapshot {
  readonly canaries: readonly string[];
  readonly denyOnAlert: boolean;
  readonly burstDenied: readonly BurstDeny[];
  /** The main thread's nowMono when the snapshot was taken (to rebase deadlines to another clock). */
  readonly takenAtMono: number;
}

export type Verdict = "allow" | "deny";

/**
 * B3: with deny-on-alert, a permission event is denied when its path matches a canary (every time,
 * whatever the cooldown) or its pid is under a burst deny. Everything else is allowed; non-permission
 * events are never denied (their record decision is "observe").
 */
export function verdict(
  maskLo: number,
  canaryMatch: boolean,
  burstDenied: boolean,
  denyOnAlert: boolean,
): Verdict {
  if (!denyOnAlert || (maskLo & FAN_PERM_EVENTS) === 0) return "allow";
  return canaryMatch || burstDenied ? "deny" : "allow";
}

interface MutableResult {
  jobId: string | null;
  role: JobRole | null;
  alerts: AlertRecord[];
  suppressed: number;
  deny: boolean;
  canaryMatch: boolean;
  burstDenyChanged: boolean;
}

export class PolicyEngine {
  private canaries!: CanaryMatcher;
  private canarySources!: readonly string[];
  private jobs!: JobTagger;
  private burst!: BurstTracker;
  private cooldown!: Cooldown;
  private denyOnAlert = false;
  private configured = false;
  private maxPids = DEFAULT_MAX_PIDS;
  private containerScope = false;
  /** process key → deny deadline, kept in deadline order (window + cooldown is the same for every entry). */
  private readonly denyUntil = new Map<number, number>();
  private readonly result: MutableResult = {
    jobId: null,
    role: null,
    alerts: [],
    suppressed: 0,
    deny: false,
    canaryMatch: false,
    burstDenyChanged: false,
  };
  private readonly stats = { alertsEmitted: 0, alertsSuppressed: 0 };

  constructor(opts: PolicyOptions) {
    this.reconfigure(opts);
  }

  /**
   * Apply new options (SIGHUP reload). Canaries and jobs are recompiled; per-pid state (cooldowns,
   * burst windows, burst denies) is kept, so a reload does not re-arm alerts. Throws (leaving the engine
   * unchanged) on invalid options.
   */
  reconfigure(opts: PolicyOptions): void {
    const maxPids = opts.maxPids ?? DEFAULT_MAX_PIDS;
    const canaries = compileCanaries(opts.canaries);
    const jobs = compileJobs(opts.jobs);
    const burst = new BurstTracker({
      threshold: opts.burstThreshold,
      windowMs: opts.burstWindowMs,
      expireMs: opts.burstWindowMs + opts.hookCooldownMs,
      maxEntries: maxPids,
    });
    const cooldown = new Cooldown(opts.hookCooldownMs, maxPids);
    if (this.configured) {
      burst.adopt(this.burst);
      cooldown.adopt(this.cooldown);
    }
    this.configured = true;
    this.canaries = canaries;
    this.canarySources = [...opts.canaries];
    this.jobs = jobs;
    this.burst = burst;
    this.cooldown = cooldown;
    this.denyOnAlert = opts.denyOnAlert;
    this.maxPids = maxPids;
    this.containerScope = opts.burstScope === "container";
    if (!this.denyOnAlert) this.denyUntil.clear();
  }

  get counters(): PolicyCounters {
    return this.stats;
  }

  /** Run the policy for one event. The result object is reused (see PolicyResult). */
  evaluate(ev: FsEvent, nowMono: number): PolicyResult {
    const r = this.result;
    r.alerts.length = 0;
    r.suppressed = 0;
    r.deny = false;
    r.canaryMatch = false;
    r.burstDenyChanged = false;

    // ev.path is read only when something needs it: the pipeline decodes it on demand.
    const tag = this.jobs.rootCount === 0 ? null : this.jobs.tag(ev.path);
    if (tag === null) {
      r.jobId = null;
      r.role = null;
    } else {
      r.jobId = tag.jobId;
      r.role = tag.role;
    }

    const mask = ev.maskLo;
    const perm = (mask & FAN_PERM_EVENTS) !== 0;
    // Per-process state is keyed by pid and start time (a reused pid starts afresh).
    const key = ev.processKey ?? ev.pid;
    const reason = canaryReason(mask);
    if (this.canarySources.length > 0 && (reason !== null || (perm && this.denyOnAlert))) {
      r.canaryMatch = this.canaries.matchesEvent(ev.path);
      if (r.canaryMatch && reason !== null) {
        if (this.cooldown.tryAlert(key, nowMono)) {
          r.alerts.push({ kind: "canary", pid: ev.pid, comm: ev.comm, exe: ev.exe, path: ev.path, reason, details: ev.details ?? undefined });
          this.stats.alertsEmitted++;
        } else {
          r.suppressed++;
          this.stats.alertsSuppressed++;
        }
      }
    }

    if ((mask & MUTATING_MASK) !== 0) {
      // burst_scope container: every process of one container shares one window (and its cooldown).
      const container = this.containerScope ? (ev.containerId ?? "") : "";
      const burstKey = container === "" ? key : container;
      const count = this.burst.hit(burstKey, nowMono);
      if (count > 0) {
        if (this.cooldown.tryAlert(burstKey, nowMono)) {
          const alert: AlertRecord = {
            kind: "burst",
            pid: ev.pid,
            comm: ev.comm,
            exe: ev.exe,
            path: ev.path,
            reason: BURST_REASON,
            count,
            windowMs: this.burst.windowMs,
            details: ev.details ?? undefined,
          };
          if (container !== "") alert.containerId = container;
          r.alerts.push(alert);
          this.burst.reset(burstKey, nowMono);
          this.stats.alertsEmitted++;
          if (this.denyOnAlert) {
            this.addBurstDeny(key, nowMono + this.burst.windowMs + this.cooldown.cooldownMs);
            r.burstDenyChanged = true;
          }
        } else {
          r.suppressed++;
          this.stats.alertsSuppressed++;
        }
      }
    }

    if (perm) {
      r.deny = verdict(mask, r.canaryMatch, this.isBurstDenied(key, nowMono), this.denyOnAlert) === "deny";
    }
    return r;
  }

  /** Whether permission events of a process (its key, or bare pid) are denied for a burst it raised (deny-on-alert only). */
  isBurstDenied(key: number, nowMono: number): boolean {
    const until = this.denyUntil.get(key);
    return until !== undefined && nowMono < until;
  }

  /** The processes currently under a burst deny, for the reader's snapshot. */
  burstDenied(nowMono: number): BurstDeny[] {
    const out: BurstDeny[] = [];
    for (const [key, untilMono] of this.denyUntil) {
      if (nowMono >= untilMono) continue;
      const pid = keyPid(key);
      out.push(pid === key ? { pid, untilMono } : { pid, key, untilMono });
    }
    return out;
  }

  /** A serialisable snapshot for the reader Worker (see compileSnapshot). */
  snapshot(nowMono: number): PolicySnapshot {
    return {
      canaries: this.canarySources,
      denyOnAlert: this.denyOnAlert,
      burstDenied: this.burstDenied(nowMono),
      takenAtMono: nowMono,
    };
  }

  /** Expire per-pid state; call about once a second. */
  sweep(nowMono: number): void {
    this.burst.sweep(nowMono);
    this.cooldown.sweep(nowMono);
    for (const [pid, until] of this.denyUntil) {
      if (nowMono < until) break; // deadline order
      this.denyUntil.delete(pid);
    }
  }

  /** Sizes of the per-pid maps (diagnostics, tests). */
  get stateSizes(): { burst: number; cooldown: number; burstDenied: number } {
    return { burst: this.burst.size, cooldown: this.cooldown.size, burstDenied: this.denyUntil.size };
  }

  private addBurstDeny(key: number, until: number): void {
    const map = this.denyUntil;
    if (!map.delete(key) && map.size >= this.maxPids) {
      const oldest = map.keys().next();
      if (oldest.done !== true) map.delete(oldest.value);
    }
    map.set(key, until);
  }
}

// ---------------------------------------------------------------------------------------------
// The reader Worker's side.

export interface CompiledSnapshot {
  readonly denyOnAlert: boolean;
  /**
   * The verdict for a permission event (non-permission masks always get "allow"). `keyOf` gives the
   * process key of `pid`'s current process; it is called only when that pid is under a burst deny.
   */
  decide(maskLo: number, pid: number, path: string, nowMono: number, keyOf?: (pid: number) => number): Verdict;
  /** Replace the burst deny set from a newer snapshot (canaries unchanged). */
  updateBurstDenied(snapshot: Pick<PolicySnapshot, "burstDenied" | "takenAtMono">, localNowMono?: number): void;
}

/**
 * Compile a snapshot for decide(). Deny deadlines are in the main thread's clock; if the Worker's clock
 * differs (e.g. performance.now() has a per-thread origin), pass the Worker's current time as
 * `localNowMono` when the snapshot arrives and deadlines are rebased by (localNowMono − takenAtMono).
 */
export function compileSnapshot(snapshot: PolicySnapshot, localNowMono?: number): CompiledSnapshot {
  const canaries = compileCanaries(snapshot.canaries);
  const denyOnAlert = snapshot.denyOnAlert;
  // key → deadline, and the pids those keys belong to (a cheap first test on the hot path).
  let denyUntil = new Map<number, number>();
  let denyPids = new Set<number>();
  const update = (s: Pick<PolicySnapshot, "burstDenied" | "takenAtMono">, localNow?: number): void => {
    const shift = localNow === undefined ? 0 : localNow - s.takenAtMono;
    const next = new Map<number, number>();
    const pids = new Set<number>();
    for (const d of s.burstDenied) {
      next.set(d.key ?? d.pid, d.untilMono + shift);
      pids.add(d.pid);
    }
    denyUntil = next;
    denyPids = pids;
  };
  update(snapshot, localNowMono);
  return {
    denyOnAlert,
    decide(maskLo: number, pid: number, path: string, nowMono: number, keyOf?: (pid: number) => number): Verdict {
      if (!denyOnAlert || (maskLo & FAN_PERM_EVENTS) === 0) return "allow";
      if (denyPids.has(pid)) {
        const until = denyUntil.get(keyOf === undefined ? pid : keyOf(pid)) ?? denyUntil.get(pid);
        if (until !== undefined && nowMono < until) return "deny";
      }
      return canaries.matchesEvent(path) ? "deny" : "allow";
    },
    updateBurstDenied: update,
  };
}
