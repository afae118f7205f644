// The stats record (SIGUSR2, shutdown, /metrics): its documented keys from the parts' counters.
import type { PipelineCounters } from "../pipeline.ts";
import type { PolicyCounters } from "../policy/engine.ts";
import type { ReaderCounters } from "../reader/protocol.ts";
import type { HookCounters } from "../hooks/runner.ts";
import type { SocketHubCounters } from "../sinks/socket-hub.ts";

export interface StatsSources {
  readonly reader: ReaderCounters | undefined;
  readonly pipeline: PipelineCounters;
  readonly policy: PolicyCounters;
  readonly hooks: HookCounters | undefined;
  readonly hub: { readonly subscriberCount: number; readonly counters: SocketHubCounters } | null;
  readonly output: { readonly droppedRecords: number; readonly unwrittenRecords: number; readonly writeErrors: number };
  /** At exit, after the final flush: what the output's close gives up counts as dropped. */
  readonly final: boolean;
}

export function collectStats(s: StatsSources): Record<string, number> {
  const rc = s.reader;
  const { output, hub, hooks } = s;
  return {
    events_read: rc?.eventsRead ?? 0,
    events_written: s.pipeline.eventsWritten,
    events_excluded: s.pipeline.eventsExcluded,
    own_events_ignored: rc?.ownEvents ?? 0,
    unknown_records_skipped: rc?.unknownRecords ?? 0,
    paths_unresolved: rc?.pathsUnresolved ?? 0,
    tree_marks_refused: rc?.treeMarkFailures ?? 0,
    kernel_overflows: rc?.overflows ?? s.pipeline.overflows,
    perm_allowed: rc?.permAllowed ?? 0,
    perm_denied: rc?.permDenied ?? 0,
    // Answers never wait on anything but the Worker's own verdict, so none can time out.
    perm_timeouts: 0,
    perm_unreported: rc?.permUnreported ?? 0,
    alerts_emitted: s.policy.alertsEmitted,
    alerts_suppressed: s.policy.alertsSuppressed,
    hooks_run: hooks?.run ?? 0,
    hooks_skipped: hooks?.skipped ?? 0,
    hooks_killed: hooks?.killed ?? 0,
    hooks_failed: hooks?.failed ?? 0,
    subscribers: hub?.subscriberCount ?? 0,
    subscribers_dropped: hub?.counters.subscribersDropped ?? 0,
    subscribers_refused: hub?.counters.subscribersRefused ?? 0,
    // At exit: what the output's close will give up counts as dropped (issue 14 item 8)
    // (plus this stats record itself, which is queued behind them).
    output_records_dropped:
      output.droppedRecords + (s.final && output.unwrittenRecords > 0 ? output.unwrittenRecords + 1 : 0),
    output_write_errors: output.writeErrors,
    // Events the kernel could not hand over for want of an fd (item 5); those that were permission
    // events were denied by the kernel itself.
    events_lost_no_fd: rc?.fdLost ?? 0,
    perm_denied_by_kernel: rc?.permKernelDenied ?? 0,
    // Still in the kernel queue when the reader stopped (read at exit, counted, not reported).
    events_unread_at_exit: rc?.unreadAtExit ?? 0,
    attribution_missed: rc?.attributionMissed ?? 0,
  };
}
