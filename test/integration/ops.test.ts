// Operations (issue 13), against the compiled daemon on private tmpfs marks: the metrics endpoint
// scraped by a real Prometheus server (Debian's `prometheus`; .ci/run installs it) and checked by
// `promtool check metrics`; /healthz turning 503 when the reader thread is stalled (test hook); the
// metrics endpoint on a Unix socket; exclusions; --format text; and every record the daemon wrote
// validated against schema/records.schema.json with ajv.
import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import {
  REPO,
  cleanupAll,
  commandPath,
  makeTmpDir,
  makeTmpfs,
  parseJsonl,
  readJsonl,
  requestStats,
  requireIntegration,
  startDaemon,
  track,
  waitFor,
  waitForRecord,
  type JsonRecord,
  stopClean,
} from "./harness.ts";
import { OVERFLOW_ALERT } from "../../src/pipeline.ts";
import { encodeAlert } from "../../src/output-encode.ts";
import { formatPretty } from "../../src/tail/format.ts";

const RUN = requireIntegration();
const REQUIRED = process.env.FANOTIFYD_REQUIRE_INTEGRATION === "1";

const schema = JSON.parse(readFileSync(join(REPO, "schema", "records.schema.json"), "utf8")) as object;
const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validateRecord = ajv.compile(schema);

function expectValid(records: readonly JsonRecord[]): void {
  for (const r of records) {
    const ok = validateRecord(r);
    if (!ok) throw new Error(`${JSON.stringify(r)} does not match the schema: ${ajv.errorsText(validateRecord.errors)}`);
  }
}

/** A TCP port nobody listens on right now. */
function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

async function get(url: string, init?: RequestInit & { unix?: string }): Promise<{ status: number; text: string; type: string }> {
  const r = await fetch(url, init);
  return { status: r.status, text: await r.text(), type: r.headers.get("content-type") ?? "" };
}

function metricValue(exposition: string, sample: string): number {
  const line = exposition.split("\n").find((l) => l.startsWith(`${sample} `));
  if (line === undefined) throw new Error(`no sample ${sample} in:\n${exposition}`);
  return Number(line.slice(sample.length + 1));
}

describe.skipIf(!RUN)("metrics and health", () => {
  afterEach(cleanupAll);

  test("a real Prometheus scrapes the daemon; promtool accepts the exposition; OpenMetrics on request", async () => {
    const prometheus = commandPath("prometheus");
    const promtool = commandPath("promtool");
    if (prometheus === null || promtool === null) {
      if (REQUIRED) throw new Error("prometheus/promtool not installed (.ci/run installs Debian's prometheus)");
      console.warn("skipped: prometheus not installed");
      return;
    }
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.jsonl");
    const port = freePort();
    const d = await startDaemon(["-w", fs.dir, "-o", out, "--metrics", `127.0.0.1:${port}`]);
    for (let i = 0; i < 20; i++) writeFileSync(join(fs.dir, `f${i}`), "x");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "f19"), 5000, { daemon: d });

    const m = await get(`http://127.0.0.1:${port}/metrics`);
    expect(m.status).toBe(200);
    expect(m.type).toStartWith("text/plain; version=0.0.4");
    expect(metricValue(m.text, "fanotifyd_events_written_total")).toBeGreaterThanOrEqual(20);
    expect(metricValue(m.text, 'fanotifyd_events_total{kind="CREATE"}')).toBeGreaterThanOrEqual(20);
    expect(metricValue(m.text, 'fanotifyd_marks{mechanism="fid-inode"}')).toBe(1);
    expect(metricValue(m.text, "fanotifyd_event_lag_seconds_count")).toBeGreaterThanOrEqual(20);
    const check = Bun.spawnSync([promtool, "check", "metrics"], { stdin: Buffer.from(m.text), stdout: "pipe", stderr: "pipe" });
    expect({ code: check.exitCode, out: check.stdout.toString() + check.stderr.toString() }).toEqual({ code: 0, out: "" });

    const om = await get(`http://127.0.0.1:${port}/metrics`, { headers: { accept: "application/openmetrics-text; version=1.0.0" } });
    expect(om.type).toStartWith("application/openmetrics-text");
    expect(om.text.endsWith("# EOF\n")).toBe(true);
    expect(om.text).toContain("# TYPE fanotifyd_events_written counter\n");

    // Prometheus itself, scraping every second.
    const dir = makeTmpDir("fanotifyd-prom-");
    const promPort = freePort();
    writeFileSync(
      join(dir, "prometheus.yml"),
      `global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fanotifyd\n    static_configs:\n      - targets: ["127.0.0.1:${port}"]\n`,
    );
    mkdirSync(join(dir, "data"));
    const prom = track(
      Bun.spawn(
        [prometheus, `--config.file=${join(dir, "prometheus.yml")}`, `--storage.tsdb.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${promPort}`, "--log.level=warn"],
        { stdout: "ignore", stderr: "pipe" },
      ),
    );
    const query = async (q: string): Promise<number | null> => {
      try {
        const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
        const body = (await r.json()) as { data?: { result?: Array<{ value: [number, string] }> } };
        const v = body.data?.result?.[0]?.value[1];
        return v === undefined ? null : Number(v);
      } catch {
        return null; // not up yet
      }
    };
    let events: number | null = null;
    let lagCount: number | null = null;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(events !== null && events >= 20 && lagCount !== null && lagCount >= 20)) {
      events = await query("fanotifyd_events_written_total");
      lagCount = await query('fanotifyd_event_lag_seconds_bucket{le="+Inf"}');
      await Bun.sleep(250);
    }
    prom.kill("SIGTERM");
    await prom.exited;
    expect({ events: (events ?? 0) >= 20, lagCount: (lagCount ?? 0) >= 20 }).toEqual({ events: true, lagCount: true });
    await stopClean(d);
  }, 60_000);

  test("/healthz is 200, then 503 with a reason while the reader thread is stalled, then 200 again", async () => {
    const fs = makeTmpfs();
    const sock = join(makeTmpDir(), "metrics.sock");
    const d = await startDaemon(["-w", fs.dir, "-o", "/dev/null", "--metrics", sock], { env: { FANOTIFYD_TEST_HOOKS: "1" } });
    const health = () => get("http://localhost/healthz", { unix: sock });
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    expect(await health()).toMatchObject({ status: 200, text: "ok\n" });
    d.signal("SIGWINCH"); // test hook: the reader blocks in Atomics.wait instead of polling
    let h = await health();
    const deadline = Date.now() + 10_000;
    while (h.status === 200 && Date.now() < deadline) {
      await Bun.sleep(200);
      h = await health();
    }
    expect(h.status).toBe(503);
    expect(h.text).toMatch(/^unhealthy: the reader thread has not polled for \d+\.\d s\n$/);
    const m = await get("http://localhost/metrics", { unix: sock });
    expect(metricValue(m.text, "fanotifyd_reader_up")).toBe(0);
    d.signal("SIGWINCH");
    const back = Date.now() + 10_000;
    while (h.status !== 200 && Date.now() < back) {
      await Bun.sleep(200);
      h = await health();
    }
    expect(h.status).toBe(200);
    await stopClean(d);
  }, 30_000);

  test("the stall hook is ignored without FANOTIFYD_TEST_HOOKS=1", async () => {
    const fs = makeTmpfs();
    const sock = join(makeTmpDir(), "metrics.sock");
    const out = join(makeTmpDir(), "out.jsonl");
    const d = await startDaemon(["-w", fs.dir, "-o", out, "--metrics", sock]);
    d.signal("SIGWINCH");
    await requestStats(d, out); // the main loop has handled the signals sent so far
    // A stalled reader would deliver nothing more.
    writeFileSync(join(fs.dir, "after"), "x");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "after"), 5000, { daemon: d });
    expect((await get("http://localhost/healthz", { unix: sock })).status).toBe(200);
    expect(d.stderr()).not.toContain("test hook");
    await stopClean(d);
  }, 20_000);

  test("an address off loopback is refused (exit 2) unless it is 0.0.0.0 explicitly", async () => {
    const r = Bun.spawnSync([join(REPO, "fanotifyd"), "-f", "-w", "/nonexistent", "--metrics", "192.0.2.1:9464"], { stderr: "pipe" });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.toString()).toStartWith("fanotifyd: bad --metrics address '192.0.2.1:9464': the endpoint has no authentication");
  });
});

describe.skipIf(!RUN)("exclusions, text output and the record schema", () => {
  afterAll(cleanupAll);

  test("excluded records are gone, a canary under an excluded tree still alerts, the count is in stats; all records match the schema", async () => {
    const fs = makeTmpfs();
    mkdirSync(join(fs.dir, "cache"));
    writeFileSync(join(fs.dir, "cache", "canary"), "secret");
    const out = join(makeTmpDir(), "out.jsonl");
    const d = await startDaemon([
      "--filesystem", fs.dir, "-o", out,
      "--exclude", `${fs.dir}/cache/**`, "--exclude", "*.tmp",
      "--canary", join(fs.dir, "cache", "canary"),
      "--burst-threshold", "5", "--hook-cooldown-ms", "0",
    ]);
    for (let i = 0; i < 5; i++) writeFileSync(join(fs.dir, "cache", `c${i}`), "x");
    writeFileSync(join(fs.dir, "x.tmp"), "x");
    readFileSync(join(fs.dir, "cache", "canary"));
    writeFileSync(join(fs.dir, "kept"), "x");
    await waitForRecord(out, (r) => r.type === "event" && r.path === join(fs.dir, "kept"), 5000, { daemon: d });
    const stats = await requestStats(d, out);
    await stopClean(d);
    const recs = readJsonl(out);
    expectValid(recs);
    const events = recs.filter((r) => r.type === "event");
    expect(events.filter((r) => String(r.path).startsWith(join(fs.dir, "cache")) || String(r.path).endsWith(".tmp"))).toEqual([]);
    const alerts = recs.filter((r) => r.type === "alert");
    expect(alerts.some((a) => a.kind === "canary" && a.path === join(fs.dir, "cache", "canary"))).toBe(true);
    // The burst counts the excluded writes too.
    expect(alerts.some((a) => a.kind === "burst")).toBe(true);
    expect(stats.events_excluded as number).toBeGreaterThanOrEqual(6);
    expect(recs.filter((r) => r.type === "stats").length).toBeGreaterThanOrEqual(2);
  });

  test("SIGHUP applies a changed exclusion list; a hostile one is refused and the running list kept", async () => {
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.jsonl");
    const conf = join(makeTmpDir(), "f.conf");
    writeFileSync(conf, `watch ${fs.dir}\nexclude *.log\n`);
    const d = await startDaemon(["-c", conf, "-o", out]);
    writeFileSync(join(fs.dir, "a.log"), "x");
    writeFileSync(join(fs.dir, "mark1"), "x");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "mark1"), 5000, { daemon: d });
    writeFileSync(conf, `watch ${fs.dir}\nexclude **/a*a*b\n`);
    d.signal("SIGHUP");
    await waitFor(() => d.stderr().includes("reload failed"), 5000, "the refused reload", d);
    expect(d.stderr()).toContain("bad exclude pattern '**/a*a*b'");
    writeFileSync(join(fs.dir, "b.log"), "x");
    writeFileSync(join(fs.dir, "mark2"), "x");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "mark2"), 5000, { daemon: d });
    writeFileSync(conf, `watch ${fs.dir}\n`);
    d.signal("SIGHUP");
    await waitFor(() => d.stderr().includes("configuration reloaded"), 5000, "the reload", d);
    writeFileSync(join(fs.dir, "c.log"), "x");
    await waitForRecord(out, (r) => r.path === join(fs.dir, "c.log"), 5000, { daemon: d });
    await stopClean(d);
    const paths = readJsonl(out).map((r) => r.path);
    expect(paths).not.toContain(join(fs.dir, "a.log"));
    expect(paths).not.toContain(join(fs.dir, "b.log"));
  });

  test("permission-mode records and the overflow alert match the schema too", async () => {
    const fs = makeTmpfs();
    writeFileSync(join(fs.dir, "blocked"), "x");
    writeFileSync(join(fs.dir, "open"), "x");
    const out = join(makeTmpDir(), "out.jsonl");
    const sock = join(makeTmpDir(), "metrics.sock");
    const d = await startDaemon(["--mount", fs.dir, "-o", out, "--perm", "--deny-on-alert", "--canary", join(fs.dir, "blocked"), "--metrics", sock]);
    readFileSync(join(fs.dir, "open"));
    expect(() => readFileSync(join(fs.dir, "blocked"))).toThrow();
    await waitForRecord(out, (r) => r.decision === "deny", 5000, { daemon: d });
    // The reader timed every answer (read() to response write) into the shared histogram.
    const m = (await get("http://localhost/metrics", { unix: sock })).text;
    const allowed = metricValue(m, 'fanotifyd_permission_decisions_total{verdict="allow"}');
    expect(metricValue(m, 'fanotifyd_permission_decisions_total{verdict="deny"}')).toBe(1);
    expect(allowed).toBeGreaterThanOrEqual(2); // OPEN_PERM + ACCESS_PERM of "open"
    expect(metricValue(m, "fanotifyd_permission_answer_seconds_count")).toBeGreaterThanOrEqual(allowed + 1);
    expect(metricValue(m, "fanotifyd_permission_answer_seconds_sum")).toBeGreaterThan(0);
    expect(metricValue(m, 'fanotifyd_permission_answer_seconds_bucket{le="0.05"}')).toBeGreaterThanOrEqual(allowed + 1);
    expect(metricValue(m, 'fanotifyd_marks{mechanism="fd-mount-mark"}')).toBe(1);
    expect(metricValue(m, 'fanotifyd_marks{mechanism="fid-filesystem-scoped"}')).toBe(1);
    await stopClean(d);
    const recs = readJsonl(out);
    expect(recs.some((r) => r.decision === "allow")).toBe(true);
    expectValid([...recs, ...parseJsonl(encodeAlert(OVERFLOW_ALERT, Date.now()) + "\n")]);
  });

  test("the schema rejects what the daemon never writes", () => {
    const ev = { schema_version: 1, type: "event", ts_ms: 1, mask: 2, events: "MODIFY", decision: "observe", job_id: null, path_role: null, pid: 1, path: "/x", is_dir: false };
    expect(validateRecord(ev)).toBe(true);
    expect(validateRecord({ ...ev, extra: 1 })).toBe(false);
    expect(validateRecord({ ...ev, events: "MODIFY,,OPEN" })).toBe(false);
    expect(validateRecord({ ...ev, decision: "maybe" })).toBe(false);
    expect(validateRecord({ type: "alert", ts_ms: 1, kind: "canary", pid: 1, count: 3 })).toBe(false);
    expect(validateRecord({ type: "alert", ts_ms: 1, kind: "burst", pid: 1 })).toBe(false);
  });

  test("--format text writes one readable line per record, as tail --pretty prints it", async () => {
    const fs = makeTmpfs();
    const out = join(makeTmpDir(), "out.txt");
    const sock = join(makeTmpDir(), "s.sock");
    const C = join(fs.dir, "canary");
    // One daemon: the output file gets text, a subscriber gets the same records as JSONL, so the text
    // lines are exactly those records pretty-printed (no second daemon whose kernel merging differs).
    const dt = await startDaemon(["-v", "-w", fs.dir, "-o", out, "--format", "text", "--socket", sock, "--canary", C]);
    let jsonl = "";
    const client = await Bun.connect({
      unix: sock,
      socket: {
        data(_s, d) {
          jsonl += Buffer.from(d).toString("latin1");
        },
      },
    });
    await waitFor(() => dt.stderr().includes("subscriber connected"), 5000, "the subscriber", dt);
    writeFileSync(C, "x");
    await waitFor(() => readFileSync(out, "utf8").includes("ALERT canary"), 5000, "a text alert line", dt);
    await stopClean(dt);
    await waitFor(() => jsonl.includes('"type":"stats"'), 5000, "the final stats line on the socket");
    client.end();
    const text = readFileSync(out, "latin1").trimEnd().split("\n");
    const untimed = (l: string): string => l.replace(/^\d\d:\d\d:\d\d\.\d{3} /, "");
    const about = (l: string): boolean => l.includes(C);
    const want = parseJsonl(jsonl, false).filter((r) => r.type !== "stats").map((r) => formatPretty(r) as string);
    expect(text.filter(about).map(untimed)).toEqual(want.filter(about).map(untimed));
    expect(text.filter(about).length).toBeGreaterThanOrEqual(2);
    expect(text.some((l) => / STATS events_read=/.test(l))).toBe(true);
    expect(() => JSON.parse(text[0]!)).toThrow();
  });
});
