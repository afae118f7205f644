// The metrics pieces that need no daemon: address rules, the exposition text, the shared histogram
// and the per-kind tallies.
import { describe, expect, test } from "bun:test";
import { formatMetricsAddress, parseMetricsAddress } from "../../src/metrics/address.ts";
import { Exposition, wantsOpenMetrics } from "../../src/metrics/exposition.ts";
import { SharedHistogram } from "../../src/metrics/histogram.ts";
import { MetricsTally } from "../../src/metrics/tally.ts";

describe("--metrics address", () => {
  test.each([
    ["127.0.0.1:9464", "127.0.0.1:9464"],
    ["[::1]:9464", "[::1]:9464"],
    ["localhost:1", "localhost:1"],
    ["0.0.0.0:9464", "0.0.0.0:9464"],
    ["[::]:9464", "[::]:9464"],
    ["/run/f.sock", "unix:/run/f.sock"],
    ["./f.sock", "unix:/start/f.sock"],
    ["unix:/run/f.sock", "unix:/run/f.sock"],
  ])("%s accepted as %s", (addr, want) => {
    expect(formatMetricsAddress(parseMetricsAddress(addr, "/start"))).toBe(want);
  });

  test.each([
    ["10.0.0.1:9464", /no authentication.*0\.0\.0\.0:PORT to expose it on every interface deliberately/],
    ["example.com:80", /no authentication/],
    ["127.0.0.1:0", /port must be 1-65535/],
    ["127.0.0.1:70000", /port must be 1-65535/],
    ["127.0.0.1", /want a Unix socket path/],
    ["", /empty/],
  ])("%s refused", (addr, why) => {
    expect(() => parseMetricsAddress(addr, "/")).toThrow(why);
    try {
      parseMetricsAddress(addr, "/");
    } catch (e) {
      expect((e as Error).message).toStartWith(`bad --metrics address '${addr}': `);
    }
  });

  test("canonical forms round-trip (SIGHUP re-parses them)", () => {
    for (const a of ["unix:/x/y.sock", "127.0.0.1:1", "[::1]:2"]) expect(formatMetricsAddress(parseMetricsAddress(a, "/"))).toBe(a);
  });
});

describe("exposition", () => {
  const fill = (e: Exposition) => {
    e.counter("x_events", 'help with \\ and\nnewline', [[{ kind: 'a"b\\c\nd' }, 3]]);
    e.gauge("x_up", "up", [[null, 1]]);
    const h = new SharedHistogram([0.1, 1]);
    h.observe(0.05);
    h.observe(0.5, 2);
    h.observe(5);
    e.histogram("x_lag_seconds", "lag", [0.1, 1], h.read());
  };

  test("Prometheus text 0.0.4", () => {
    const e = new Exposition(false);
    fill(e);
    expect(e.text()).toBe(
      [
        "# HELP x_events_total help with \\\\ and\\nnewline",
        "# TYPE x_events_total counter",
        'x_events_total{kind="a\\"b\\\\c\\nd"} 3',
        "# HELP x_up up",
        "# TYPE x_up gauge",
        "x_up 1",
        "# HELP x_lag_seconds lag",
        "# TYPE x_lag_seconds histogram",
        'x_lag_seconds_bucket{le="0.1"} 1',
        'x_lag_seconds_bucket{le="1"} 3',
        'x_lag_seconds_bucket{le="+Inf"} 4',
        "x_lag_seconds_sum 6.05",
        "x_lag_seconds_count 4",
        "",
      ].join("\n"),
    );
  });

  test("OpenMetrics: counter families without _total, # EOF at the end", () => {
    const e = new Exposition(true);
    fill(e);
    const t = e.text();
    expect(t).toContain("# TYPE x_events counter\n");
    expect(t).toContain('x_events_total{kind="a\\"b\\\\c\\nd"} 3\n');
    expect(t.endsWith("# EOF\n")).toBe(true);
  });

  test("content negotiation", () => {
    expect(wantsOpenMetrics("application/openmetrics-text; version=1.0.0,text/plain;q=0.5")).toBe(true);
    expect(wantsOpenMetrics("text/plain")).toBe(false);
    expect(wantsOpenMetrics(null)).toBe(false);
  });
});

describe("shared histogram", () => {
  test("two views of one buffer see the same counts (the Worker writes, the main thread reads)", () => {
    const w = new SharedHistogram([1, 2]);
    const r = new SharedHistogram([1, 2], w.buffer);
    w.observe(1); // le=1 is inclusive
    w.observe(1.5);
    w.observe(99);
    expect(r.read()).toEqual({ cumulative: [1, 2, 3], sum: 101.5, count: 3 });
  });
});

describe("tally", () => {
  test("events by kind expand merged masks; alerts by kind", () => {
    const t = new MetricsTally();
    t.event(0x2 | 0x8 | 0x20, 0); // MODIFY,CLOSE_WRITE,OPEN
    t.event(0x2, 0);
    t.event(0x100 | 0x40000000, 0); // CREATE,ONDIR
    t.event(0, 1);
    t.alert("canary");
    t.batch(4, 3);
    const k = t.eventsByKind();
    expect([k.get("MODIFY"), k.get("CLOSE_WRITE"), k.get("OPEN"), k.get("CREATE"), k.get("ONDIR"), k.get("OTHER"), k.get("DELETE")]).toEqual([2, 1, 1, 1, 1, 1, 0]);
    expect(t.alerts).toEqual({ canary: 1, burst: 0, overflow: 0 });
    expect(t.lag.read().count).toBe(4);
  });
});
