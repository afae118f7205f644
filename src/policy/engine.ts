// The policy loop for one event (behavior.md A9, A10, B7, B12): job tag → canary → burst → alerts.
// Pure and clock-injected: `nowMono` is a monotonic millisecond clock passed in by the caller; no I/O,
// no timers, no globals.
//
// Permission verdicts are not made here: the reader Worker answers them from its PermissionPolicy
// (permission.ts). This engine only tells it, through takeBurstDenies(), which pids a burst alert has
// put under a deny (B3), and hands it the rules (permissionRules()) at start and on reload.

import type { JobRole, JobSpec } from "../config/types.ts";
import type { AlertRecord, FsEvent } from "../output-records.ts";
import { BurstTracker, MUTATING_MASK } from "./burst.ts";
import { canaryReason, compileCanaries, type CanaryMatcher } from "./canary.ts";
import { Cooldown, DEFAULT_MAX_PIDS } from "./cooldown.ts";
import { compileJobs, type JobTagger } from "./jobs.ts";
import type { BurstDeny, PermissionRules } from "./permission.ts";

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
  /** The path matched a canary (tested when the mask can alert). */
  readonly canaryMatch: boolean;
  /** This event put its pid under a burst deny: hand takeBurstDenies() to the reader. */
  readonly burstDenyChanged: boolean;
}

export interface PolicyCounters {
  readonly alertsEmitted: number;
  readonly alertsSuppressed: number;
}

interface MutableResult {
  jobId: string | null;
  role: JobRole | null;
  alerts: AlertRecord[];
  suppressed: number;
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
  /** Burst denies made since the last takeBurstDenies(). */
  private pendingDenies: BurstDeny[] = [];
  private containerScope = false;
  private readonly result: MutableResult = {
    jobId: null,
    role: null,
    alerts: [],
    suppressed: 0,
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
    this.containerScope = opts.burstScope === "container";
    if (!this.denyOnAlert) this.pendingDenies = [];
  }

  /** What the reader's PermissionPolicy needs (start, reload). */
  permissionRules(): PermissionRules {
    return { canaries: this.canarySources, denyOnAlert: this.denyOnAlert };
  }

  /** The burst denies made since the last call, for the reader (a deny lasts until its deadline). */
  takeBurstDenies(): BurstDeny[] {
    const out = this.pendingDenies;
    this.pendingDenies = [];
    return out;
  }

  get counters(): PolicyCounters {
    return this.stats;
  }

  /** Run the policy for one event. The result object is reused (see PolicyResult). */
  evaluate(ev: FsEvent, nowMono: number): PolicyResult {
    const r = this.result;
    r.alerts.length = 0;
    r.suppressed = 0;
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
    // Per-process state is keyed by pid and start time (a reused pid starts afresh).
    const key = ev.processKey ?? ev.pid;
    const reason = canaryReason(mask);
    if (this.canarySources.length > 0 && reason !== null) {
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
            // B3: denied while its burst state lasts (window + cooldown); for this process only.
            const untilMono = nowMono + this.burst.windowMs + this.cooldown.cooldownMs;
            this.pendingDenies.push(key === ev.pid ? { pid: ev.pid, untilMono } : { pid: ev.pid, key, untilMono });
            r.burstDenyChanged = true;
          }
        } else {
          r.suppressed++;
          this.stats.alertsSuppressed++;
        }
      }
    }

    return r;
  }

  /** Expire per-pid state; call about once a second. */
  sweep(nowMono: number): void {
    this.burst.sweep(nowMono);
    this.cooldown.sweep(nowMono);
  }

  /** Sizes of the per-pid maps (diagnostics, tests). */
  get stateSizes(): { burst: number; cooldown: number } {
    return { burst: this.burst.size, cooldown: this.cooldown.size };
  }
}
