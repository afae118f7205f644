// Per-record tallies for the metrics endpoint, fed by the pipeline (src/pipeline.ts RecordTally):
// events by mask (expanded into event kinds only at scrape time), alerts by kind, and the event-lag
// histogram (one observation per batch, weighted by its records: the batch's oldest event's lag).
import type { RecordTally } from "../pipeline.ts";
import type { AlertKind } from "../output-records.ts";
import { MASK_NAME_TABLE } from "../sinks/mask-names.ts";
import { EVENT_LAG_BOUNDS_S, SharedHistogram } from "./histogram.ts";

export class MetricsTally implements RecordTally {
  /** Low 32 bits of the mask → records written with it (a few dozen distinct masks in practice). */
  private readonly byMask = new Map<number, number>();
  private highBits = 0;
  readonly alerts: Record<AlertKind, number> = { canary: 0, burst: 0, overflow: 0 };
  readonly lag = new SharedHistogram(EVENT_LAG_BOUNDS_S);

  event(maskLo: number, maskHi: number): void {
    this.byMask.set(maskLo, (this.byMask.get(maskLo) ?? 0) + 1);
    if (maskHi !== 0) this.highBits++;
  }

  alert(kind: AlertKind): void {
    this.alerts[kind]++;
  }

  batch(records: number, lagMs: number): void {
    this.lag.observe(lagMs / 1000, records);
  }

  /** Records written per event kind (A8 names; a merged record counts once for each of its kinds). */
  eventsByKind(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [, name] of MASK_NAME_TABLE) out.set(name, 0);
    for (const [mask, n] of this.byMask) {
      for (const [bit, name] of MASK_NAME_TABLE) {
        if (bit <= 0xffffffff && (mask & bit) >>> 0 === bit) out.set(name, (out.get(name) ?? 0) + n);
      }
    }
    if (this.highBits > 0) out.set("OTHER", this.highBits);
    return out;
  }
}
