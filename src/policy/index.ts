// src/policy/: pure, clock-injected policy logic (design.md). No I/O, no timers, no globals.

export { BurstTracker, MUTATING_MASK, type BurstOptions } from "./burst.ts";
export {
  CANARY_TRIGGER_MASK,
  canaryReason,
  compileCanaries,
  fnmatch,
  PatternError,
  type CanaryMatcher,
  type CanaryReason,
} from "./canary.ts";
export { Cooldown, DEFAULT_MAX_PIDS } from "./cooldown.ts";
export {
  BURST_REASON,
  PolicyEngine,
  compileSnapshot,
  verdict,
  type BurstDeny,
  type CompiledSnapshot,
  type PolicyCounters,
  type PolicyOptions,
  type PolicyResult,
  type PolicySnapshot,
  type Verdict,
} from "./engine.ts";
export { compileJobs, type JobTag, type JobTagger } from "./jobs.ts";
