// `--metrics ADDR`: GET /metrics (Prometheus text, OpenMetrics when asked for) and GET /healthz.
//
// Never blocks the main loop or the reader: a scrape reads counters the daemon keeps anyway, the
// Worker's shared counters and two shared histograms, and writes one string. Health is a heartbeat:
// once a second the reader is woken (one eventfd write) and its loop counter must have moved since the
// previous tick; a reader that has not polled for HEALTH_STALE_MS, or has stopped, makes /healthz 503.
import { chmodSync, lstatSync, unlinkSync } from "node:fs";
import type { Server } from "bun";
import type { PlanLine } from "../check/plan.ts";
import { marksByMechanism } from "../check/plan.ts";
import { errReason } from "../errors.ts";
import { parseMetricsAddress, formatMetricsAddress, type MetricsAddress } from "./address.ts";
import {
  Exposition,
  OPENMETRICS_CONTENT_TYPE,
  PROMETHEUS_CONTENT_TYPE,
  wantsOpenMetrics,
  type Sample,
} from "./exposition.ts";
import { EVENT_LAG_BOUNDS_S, PERM_ANSWER_BOUNDS_S, SharedHistogram } from "./histogram.ts";
import { MetricsTally } from "./tally.ts";

export const HEALTH_TICK_MS = 1000;
export const HEALTH_STALE_MS = 3000;

/** What the daemon exposes to the endpoint (read at scrape time only). */
export interface MetricsSources {
  /** The stats record's counters (B12), as written on SIGUSR2. */
  stats(): Readonly<Record<string, number>>;
  /** Queue depths right now. */
  queues(): { readonly outputBytes: number; readonly socketBytes: number; readonly readerBatches: number };
  /** The current mark plans (src/check/plan.ts). */
  plans(): readonly PlanLine[];
  /** Reader heartbeat: its loop counter, and whether it is still meant to run. */
  readerBeats(): number;
  readerRunning(): boolean;
  /** Wakes the reader so that an idle one beats too. */
  wakeReader(): void;
  readonly version: string;
}

/** HELP text per stats counter; `subscribers` is the one gauge of the stats record. */
export const STATS_HELP: Readonly<Record<string, string>> = {
  events_read: "Kernel records read, overflow records included.",
  events_written: "Event records written.",
  events_excluded: "Events that matched an exclusion: no record (the policy still saw them).",
  own_events_ignored: "Events caused by the daemon itself, not reported.",
  unknown_records_skipped: "Kernel records of an unknown layout, skipped by their length.",
  kernel_overflows: "Kernel queue overflows.",
  perm_allowed: "Permission events answered ALLOW.",
  perm_denied: "Permission events answered DENY.",
  perm_timeouts: "Permission events that timed out (always 0: the reader answers itself).",
  perm_unreported: "Permission events answered but not reported (main thread far behind).",
  alerts_emitted: "Alerts written.",
  alerts_suppressed: "Alerts suppressed by the per-process cooldown.",
  hooks_run: "Hooks started.",
  hooks_skipped: "Hooks skipped: no free slot.",
  hooks_killed: "Hooks killed after the timeout.",
  hooks_failed: "Hooks that could not be started.",
  subscribers: "Socket subscribers connected.",
  subscribers_dropped: "Socket subscribers dropped for falling behind.",
  subscribers_refused: "Socket subscribers refused at the cap.",
  output_records_dropped: "Output records dropped because the output queue was full.",
  output_write_errors: "Output write errors.",
};

export type Health = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export class MetricsEndpoint {
  readonly tally = new MetricsTally();
  /** Filled by the reader Worker (pass `permHistogram.buffer` in its start message). */
  readonly permHistogram = new SharedHistogram(PERM_ANSWER_BOUNDS_S);
  private server: Server<undefined> | null = null;
  private lastBeats = -1;
  private lastBeatAt = performance.now();

  private ticker: ReturnType<typeof setInterval> | null = null;
  readonly address: MetricsAddress;

  /** `addr` in the config's canonical form. Nothing is bound until listen(). */
  constructor(
    addr: string,
    private readonly src: MetricsSources,
  ) {
    this.address = parseMetricsAddress(addr, "/");
  }

  /** Binds the address. Throws an Error whose message names the address. */
  listen(): void {
    const address = this.address;
    const fetch = (req: Request): Response => this.respond(req);
    try {
      if (address.kind === "unix") {
        clearStaleSocket(address.path);
        this.server = Bun.serve({ unix: address.path, fetch });
        chmodSync(address.path, 0o660); // like the subscriber socket: owner and group only
      } else {
        this.server = Bun.serve({ hostname: address.host, port: address.port, fetch, reusePort: false });
      }
    } catch (err) {
      throw new Error(`cannot serve metrics on ${formatMetricsAddress(address)}: ${errReason(err)}`);
    }
    this.ticker = setInterval(() => this.tick(), HEALTH_TICK_MS);
    this.ticker.unref();
  }

  private tick(): void {
    const beats = this.src.readerBeats();
    if (beats !== this.lastBeats) {
      this.lastBeats = beats;
      this.lastBeatAt = performance.now();
    }
    this.src.wakeReader();
  }

  health(): Health {
    if (!this.src.readerRunning()) return { ok: false, reason: "the reader thread has stopped" };
    const idle = performance.now() - this.lastBeatAt;
    if (idle > HEALTH_STALE_MS) {
      return { ok: false, reason: `the reader thread has not polled for ${(idle / 1000).toFixed(1)} s` };
    }
    return { ok: true };
  }

  private respond(req: Request): Response {
    const path = new URL(req.url).pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return new Response("method not allowed\n", { status: 405 });
    if (path === "/healthz") {
      const h = this.health();
      return h.ok
        ? new Response("ok\n", { status: 200, headers: { "content-type": "text/plain" } })
        : new Response(`unhealthy: ${h.reason}\n`, { status: 503, headers: { "content-type": "text/plain" } });
    }
    if (path === "/metrics") {
      const om = wantsOpenMetrics(req.headers.get("accept"));
      return new Response(this.render(om), {
        headers: { "content-type": om ? OPENMETRICS_CONTENT_TYPE : PROMETHEUS_CONTENT_TYPE },
      });
    }
    return new Response("not found: try /metrics or /healthz\n", { status: 404 });
  }

  /** The whole exposition. */
  render(openMetrics: boolean): string {
    const e = new Exposition(openMetrics);
    const stats = this.src.stats();
    for (const [key, value] of Object.entries(stats)) {
      const help = STATS_HELP[key] ?? `Stats record counter ${key}.`;
      if (key === "subscribers") e.gauge("fanotifyd_subscribers", help, [[null, value]]);
      else e.counter(`fanotifyd_${key}`, help, [[null, value]]);
    }
    const byKind: Sample[] = [...this.tally.eventsByKind()].map(([kind, n]) => [{ kind }, n]);
    e.counter("fanotifyd_events", "Event records written, by event kind (a merged record counts for each kind).", byKind);
    e.counter(
      "fanotifyd_alerts",
      "Alert records written, by kind.",
      Object.entries(this.tally.alerts).map(([kind, n]): Sample => [{ kind }, n]),
    );
    e.counter("fanotifyd_permission_decisions", "Permission events answered, by verdict.", [
      [{ verdict: "allow" }, stats.perm_allowed ?? 0],
      [{ verdict: "deny" }, stats.perm_denied ?? 0],
    ]);
    e.counter("fanotifyd_sink_drops", "Losses per sink: output records dropped (queue full), socket subscribers dropped.", [
      [{ sink: "output" }, stats.output_records_dropped ?? 0],
      [{ sink: "socket" }, stats.subscribers_dropped ?? 0],
    ]);
    const q = this.src.queues();
    e.gauge("fanotifyd_queue_depth", "Queue depths: output and socket bytes queued, reader batches in flight.", [
      [{ queue: "output_bytes" }, q.outputBytes],
      [{ queue: "socket_bytes" }, q.socketBytes],
      [{ queue: "reader_batches" }, q.readerBatches],
    ]);
    const mech: Sample[] = [...marksByMechanism(this.src.plans())].map(([mechanism, n]) => [{ mechanism }, n]);
    e.gauge("fanotifyd_marks", "Marks placed, by mechanism (group mode and mark type).", mech);
    e.histogram(
      "fanotifyd_permission_answer_seconds",
      "Permission answer time, from the reader's read() to its response write.",
      PERM_ANSWER_BOUNDS_S,
      this.permHistogram.read(),
    );
    e.histogram(
      "fanotifyd_event_lag_seconds",
      "Event lag, from the read() that brought the event to its line handed to the sinks.",
      EVENT_LAG_BOUNDS_S,
      this.tally.lag.read(),
    );
    e.gauge("fanotifyd_reader_up", "1 while the reader thread is alive and polling (as /healthz).", [
      [null, this.health().ok ? 1 : 0],
    ]);
    e.gauge("fanotifyd_build_info", "The daemon's version.", [[{ version: this.src.version }, 1]]);
    return e.text();
  }

  close(): void {
    if (this.ticker !== null) clearInterval(this.ticker);
    this.server?.stop(true);
    this.server = null;
    if (this.address.kind === "unix") {
      try {
        clearStaleSocket(this.address.path);
      } catch {
        // not ours any more
      }
    }
  }
}

/** Removes a socket left at `path`; anything else there is an error (never deleted). */
function clearStaleSocket(path: string): void {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error("a file that is not a socket is in the way");
  unlinkSync(path);
}
