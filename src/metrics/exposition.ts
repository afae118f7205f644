// The Prometheus text exposition format (0.0.4) and OpenMetrics 1.0 text, written by hand: the values
// already live in counters the daemon keeps and in shared histograms, so a scrape is one pass over
// them and one string (see README "Operating fanotifyd" for why not prom-client).

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const OPENMETRICS_CONTENT_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8";

export type Labels = Readonly<Record<string, string>> | null;
export type Sample = readonly [labels: Labels, value: number];

function escapeLabel(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labelText(labels: Labels, extra?: string): string {
  const parts: string[] = [];
  if (labels !== null) for (const [k, v] of Object.entries(labels)) parts.push(`${k}="${escapeLabel(v)}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? "" : `{${parts.join(",")}}`;
}

function num(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

export class Exposition {
  private readonly out: string[] = [];

  constructor(readonly openMetrics: boolean) {}

  private header(family: string, type: string, help: string): void {
    this.out.push(`# HELP ${family} ${escapeHelp(help)}`, `# TYPE ${family} ${type}`);
  }

  /** `name` without the `_total` suffix; samples are written as `name_total`. */
  counter(name: string, help: string, samples: readonly Sample[]): void {
    // Prometheus text: the family is the sample name; OpenMetrics: the family drops `_total`.
    this.header(this.openMetrics ? name : `${name}_total`, "counter", help);
    for (const [labels, value] of samples) this.out.push(`${name}_total${labelText(labels)} ${num(value)}`);
  }

  gauge(name: string, help: string, samples: readonly Sample[]): void {
    this.header(name, "gauge", help);
    for (const [labels, value] of samples) this.out.push(`${name}${labelText(labels)} ${num(value)}`);
  }

  histogram(
    name: string,
    help: string,
    bounds: readonly number[],
    data: { readonly cumulative: readonly number[]; readonly sum: number; readonly count: number },
  ): void {
    this.header(name, "histogram", help);
    for (let i = 0; i < bounds.length; i++) {
      this.out.push(`${name}_bucket${labelText(null, `le="${num(bounds[i])}"`)} ${num(data.cumulative[i])}`);
    }
    this.out.push(`${name}_bucket{le="+Inf"} ${num(data.count)}`);
    this.out.push(`${name}_sum ${num(data.sum)}`, `${name}_count ${num(data.count)}`);
  }

  text(): string {
    if (this.openMetrics) this.out.push("# EOF");
    return `${this.out.join("\n")}\n`;
  }
}

/** True when the scraper asked for OpenMetrics (Accept: application/openmetrics-text). */
export function wantsOpenMetrics(accept: string | null): boolean {
  return accept !== null && accept.includes("application/openmetrics-text");
}
