// Policy cost per event: `bun test/bench/policy-bench.ts` (not part of `npm test`).
//
// Setup: 100 canary patterns (50 literals, 50 globs), 200 jobs × 4 roles (800 roots), 2 000 pids,
// burst detection on, 65 536 realistic paths (fresh strings each run, so no cached string hashes).
// Median of 7 runs.
//
// Measured (Bun 1.4.5, 2 vCPU shared with other jobs, load ~2; 5 runs, best–worst median):
//   engine.evaluate (tag + canary + burst + cooldown)      0.25–0.54 µs/event
//   jobs.tag, Map + prefix walk (800 roots)                0.13–0.24 µs/event
//   jobs: linear scan of 800 roots (baseline)              7.4–10.7  µs/event
//   picomatch.isMatch(path, patterns[]) per event          140–300   µs/event
// Canary matching, before/after the automaton (issue 14 item 1; same run conditions, load ~10,
// one run each: `bun test/bench/policy-bench.ts` on 407e08f and on this tree):
//                                               backtracking RegExp   lazy DFA
//   matches(): exact Set + globs (100 canaries)       0.099            0.097–0.100 µs/event
//     exact Set only (50 literals)                    0.031            0.029–0.032
//     globs only (50)                                 0.085            0.078–0.084
//     picomatch combined RegExp (same 50 globs)       0.139            0.091–0.111
//     10,000 canaries (5,000 globs)                     –              0.069
//     /m/*a*a…*b (11 a) vs 255-byte names         never finishes       0.61
// (re-run to refresh; the spread above is machine load.)

import picomatch from "picomatch";
import { FAN_CLOSE_WRITE, FAN_CREATE, FAN_MODIFY, FAN_OPEN, FAN_OPEN_PERM } from "../../ffi/constants.ts";
import type { JobSpec } from "../../src/config/types.ts";
import { compileCanaries } from "../../src/policy/canary.ts";
import { PolicyEngine } from "../../src/policy/engine.ts";
import { compileJobs } from "../../src/policy/jobs.ts";
import type { FsEvent } from "../../src/output-records.ts";

const RUNS = 7;
const N = 65536;

// --- deterministic data ---------------------------------------------------------------------------
let seed = 12345;
const rnd = (): number => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const ri = (n: number): number => Math.floor(rnd() * n);

const jobs: JobSpec[] = [];
for (let i = 0; i < 200; i++) {
  jobs.push({
    id: `build-${i}`,
    roots: {
      rootfs: `/var/lib/jobs/${i}/rootfs`,
      workspace: `/var/lib/jobs/${i}/rootfs/workspace`,
      export: `/srv/exports/job-${i}`,
      cache: `/var/cache/jobs/${i}`,
    },
  });
}

const literals: string[] = [];
for (let i = 0; i < 25; i++) literals.push(`/var/lib/jobs/${i * 8}/rootfs/etc/shadow.canary`);
for (let i = 0; i < 25; i++) literals.push(`/srv/canary/decoy-${i}.docx`);
const globs: string[] = [];
for (let i = 0; i < 10; i++) globs.push(`/home/user${i}/.ssh/id_*`);
for (let i = 0; i < 10; i++) globs.push(`/var/lib/jobs/*/rootfs/root/.canary-${i}*`);
for (let i = 0; i < 10; i++) globs.push(`/srv/secrets/team${i}/[a-f]*.key`);
for (let i = 0; i < 10; i++) globs.push(`/data/*/finance-${i}-?.xlsx`);
for (let i = 0; i < 10; i++) globs.push(`/srv/exports/job-${i}/[!.]*.pem`);
const canaries = [...literals, ...globs];

function makePath(): string {
  const r = rnd();
  const j = ri(200);
  if (r < 0.35) return `/var/lib/jobs/${j}/rootfs/workspace/src/module${ri(40)}/file${ri(500)}.ts`;
  if (r < 0.55) return `/var/lib/jobs/${j}/rootfs/usr/lib/x86_64-linux-gnu/lib${ri(300)}.so.${ri(9)}`;
  if (r < 0.65) return `/var/cache/jobs/${j}/objects/${ri(256).toString(16)}/${ri(1e6).toString(16)}`;
  if (r < 0.72) return `/srv/exports/job-${j}/artifact-${ri(100)}.tar.gz`;
  if (r < 0.85) return `/home/user${ri(20)}/.cache/thumbnails/large/${ri(1e6).toString(16)}.png`;
  if (r < 0.95) return `/tmp/build-${ri(1000)}/obj/${ri(5000)}.o`;
  if (r < 0.97) return `/srv/canary/decoy-${ri(40)}.docx`; // some canary hits
  if (r < 0.99) return `/home/user${ri(20)}/.ssh/id_ed25519`;
  return `/srv/secrets/team${ri(20)}/${"abcdefgh"[ri(8)]}${ri(100)}.key`;
}
const masks = [FAN_MODIFY | FAN_CLOSE_WRITE, FAN_OPEN, FAN_CREATE, FAN_MODIFY, FAN_OPEN_PERM];
const templates = Array.from({ length: N }, makePath);
const eventMasks = Array.from({ length: N }, () => masks[ri(masks.length)]);
const eventPids = Array.from({ length: N }, () => 1000 + ri(2000));

/** Fresh (unhashed, unatomized) copies of the paths for one run. */
const freshPaths = (): string[] => templates.map((p) => (" " + p).slice(1));

// --- timing ---------------------------------------------------------------------------------------
let sink = 0;
function measure(name: string, perEvent: (paths: string[], i: number) => number): [string, number] {
  const results: number[] = [];
  for (let run = 0; run < RUNS + 1; run++) {
    const paths = freshPaths();
    for (const p of paths) sink += p.length; // resolve ropes outside the timed loop
    const t0 = Bun.nanoseconds();
    for (let i = 0; i < N; i++) sink += perEvent(paths, i);
    const dt = Bun.nanoseconds() - t0;
    if (run > 0) results.push(dt / N / 1000); // run 0 is warm-up
  }
  results.sort((a, b) => a - b);
  return [name, results[results.length >> 1]];
}

const engine = new PolicyEngine({
  canaries,
  jobs,
  burstThreshold: 50,
  burstWindowMs: 1000,
  hookCooldownMs: 5000,
  denyOnAlert: true,
});
const ev: FsEvent = { maskLo: 0, maskHi: 0, pid: 0, comm: "cc1", exe: "/usr/bin/cc1", path: "", name: "", isDir: false, decision: "observe" };
let clock = 0;

const tagger = compileJobs(jobs);
const matcher = compileCanaries(canaries);
const literalOnly = compileCanaries(literals);
const globOnly = compileCanaries(globs);
const many: string[] = [];
for (let i = 0; i < 5000; i++) many.push(`/srv/canary/c${i}/decoy.docx`);
for (let i = 0; i < 5000; i++) many.push(`/home/user${i}/.ssh/id_${i}*`);
const manyMatcher = compileCanaries(many);
const hostile = compileCanaries(["/m/*a*a*a*a*a*a*a*a*a*a*a*b"]);
const hostileNames = Array.from({ length: 256 }, (_, i) => `/m/${"a".repeat(200 + (i % 52))}${"cdefghij"[i & 7]}`);
const pmOpts = { dot: true, nobrace: true, noextglob: true, nonegate: true, noglobstar: true, posix: true };
const pmCombined = new RegExp(globs.map((g) => `(?:${picomatch.makeRe(g, pmOpts).source})`).join("|"));
const linearRoots: Array<[string, string]> = [];
for (const j of jobs) for (const r of Object.values(j.roots)) if (r !== undefined) linearRoots.push([r, j.id]);

const rows: Array<[string, number]> = [
  measure("engine.evaluate (tag + canary + burst + cooldown)", (paths, i) => {
    ev.path = paths[i];
    ev.maskLo = eventMasks[i];
    ev.pid = eventPids[i];
    clock += 0.01;
    const r = engine.evaluate(ev, clock);
    if ((i & 4095) === 0) engine.sweep(clock);
    return r.alerts.length;
  }),
  measure("jobs.tag, Map + prefix walk (800 roots)", (paths, i) => (tagger.tag(paths[i]) === null ? 0 : 1)),
  measure("jobs: linear scan of 800 roots (baseline)", (paths, i) => {
    const p = paths[i];
    let best = -1;
    for (const [root] of linearRoots) {
      if (root.length > best && (p === root || (p.startsWith(root) && p.charCodeAt(root.length) === 0x2f))) best = root.length;
    }
    return best;
  }),
  measure("canary matches(): exact Set + one lazy DFA", (paths, i) => (matcher.matches(paths[i]) ? 1 : 0)),
  measure("  exact Set only (50 literals)", (paths, i) => (literalOnly.matches(paths[i]) ? 1 : 0)),
  measure("  our DFA only (50 globs)", (paths, i) => (globOnly.matches(paths[i]) ? 1 : 0)),
  measure("  10,000 canaries (5,000 globs), same paths", (paths, i) => (manyMatcher.matches(paths[i]) ? 1 : 0)),
  measure("  hostile /m/*a*a…*b (11 a), 255-byte names", (_paths, i) => (hostile.matches(hostileNames[i & 255]) ? 1 : 0)),
  measure("  picomatch combined RegExp (same 50 globs)", (paths, i) => (pmCombined.test(paths[i]) ? 1 : 0)),
];
// isMatch is ~1000× slower: fewer events so the bench stays short.
{
  const paths = freshPaths().slice(0, 4096);
  const t0 = Bun.nanoseconds();
  for (const p of paths) sink += picomatch.isMatch(p, globs, pmOpts) ? 1 : 0;
  rows.push(["  picomatch.isMatch(path, patterns[]) per event", (Bun.nanoseconds() - t0) / paths.length / 1000]);
}

const w = Math.max(...rows.map(([n]) => n.length));
console.log(`${"case".padEnd(w)}  µs/event (median of ${RUNS})`);
for (const [name, us] of rows) console.log(`${name.padEnd(w)}  ${us.toFixed(3)}`);
const st = engine.stateSizes;
console.log(`(engine: ${engine.counters.alertsEmitted} alerts, ${engine.counters.alertsSuppressed} suppressed; maps ${st.burst}/${st.cooldown}; sink ${sink % 10})`);
