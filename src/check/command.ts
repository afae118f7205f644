// `fanotifyd check [OPTIONS]` (like `nginx -t`): parse the flags and config files exactly as the daemon
// would, print the effective configuration and the plan for each mark, place no mark.
// Exit 0 when the daemon would start, 2 with the daemon's own message for a usage/config error, 1 when a
// mark cannot be placed (what the daemon would exit with).
import { defineCommand } from "citty";
import { checkCombination } from "../config/combination.ts";
import { parseCommandLine } from "../config/cli.ts";
import { mainArgs } from "../config/help.ts";
import { detailsOn, UsageError, type Config } from "../config/types.ts";
import { plainError } from "../log.ts";
import { USAGE_HINT } from "../config/help.ts";
import { compileExcludes } from "../policy/exclude.ts";
import { PolicyEngine } from "../policy/engine.ts";
import { errText } from "../errors.ts";
import { describePlans, type PlanLine } from "./plan.ts";
import { MAX_CONTENT_GROUPS, contentGroupCount } from "../reader/content-groups.ts";

/** The `check` subcommand (citty metadata; it takes the daemon's own options). */
export const checkCommand = defineCommand({
  meta: { name: "check", description: "validate the configuration and print the plan for each mark; place no mark" },
  args: mainArgs,
});


export interface CheckResult {
  readonly exitCode: number;
  /** What goes to stdout (the report), possibly empty. */
  readonly stdout: string;
  /** One-line messages for stderr. */
  readonly stderr: readonly string[];
}

function show(v: string | null): string {
  return v === null ? "-" : v;
}

/** The report's text: the effective configuration, then one line per planned mark. */
export function renderReport(config: Config, plans: readonly PlanLine[]): string {
  const out: string[] = [];
  const mode = config.fid ? "fid" : "fd";
  // The reader gives each permission mark a content group of its own, up to MAX_CONTENT_GROUPS.
  const groups = contentGroupCount(plans.filter((p) => p.group === "content").length);
  const perm = `perm (${groups} content group${groups === 1 ? "" : "s"}, one per mark up to ${MAX_CONTENT_GROUPS}; notification group ${mode})`;
  out.push(`mode: ${config.perm ? perm : mode}`);
  out.push(`foreground: ${config.foreground ? 1 : 0}`);
  out.push(`output: ${config.output ?? "stdout"} (format ${config.format})`);
  out.push(`socket: ${show(config.socket)}`);
  out.push(`metrics: ${show(config.metrics)}`);
  out.push(`pid_file: ${show(config.pidFile)}`);
  out.push(`hook: ${show(config.hook)} (max ${config.hookMaxConcurrent} at once, timeout ${config.hookTimeoutMs} ms)`);
  out.push(`burst: threshold ${config.burstThreshold} window ${config.burstWindowMs} ms; cooldown ${config.hookCooldownMs} ms`);
  out.push(`deny_on_alert: ${config.denyOnAlert ? 1 : 0}`);
  if (config.perm) out.push(`perm_long_slice: ${config.permLongSlice ? 1 : 0}`);
  out.push(`burst_scope: ${config.burstScope}`);
  out.push(`process_details: ${detailsOn(config) ? `1 (check ${config.detailsCheck})` : 0}`);
  out.push(`queues: output ${config.outputQueueBytes} bytes, socket ${config.socketQueueBytes} bytes per subscriber`);
  for (const c of config.canaries) out.push(`canary: ${c}`);
  for (const e of config.exclude) out.push(`exclude: ${e}`);
  for (const j of config.jobs) {
    const roles = Object.entries(j.roots).map(([role, p]) => `${role}=${p}`);
    out.push(`job: ${j.id} ${roles.join(" ")}`.trimEnd());
  }
  for (const f of config.configFiles) out.push(`config: ${f}`);
  out.push(`marks: ${new Set(config.marks.map((m) => `${m.type}\0${m.path}`)).size}`);
  for (const p of plans) {
    let line = `  ${p.type} ${p.path}: ${p.group} group, ${p.mechanism}: ${p.detail}`;
    if (p.problem !== null) line += `; WILL FAIL: ${p.problem}`;
    out.push(line);
  }
  return `${out.join("\n")}\n`;
}

/** Pure apart from reading config files and stat-ing mark paths (for tests and the command). */
export function check(argv: readonly string[], cwd: string, version: string): CheckResult {
  const usage = (message: string): CheckResult => ({ exitCode: 2, stdout: "", stderr: [`fanotifyd: ${message}`, USAGE_HINT] });
  let config: Config;
  try {
    const req = parseCommandLine(argv, { cwd, version });
    if (req.kind === "help") return { exitCode: 0, stdout: req.text, stderr: [] };
    if (req.kind === "version") return { exitCode: 0, stdout: `${req.text}\n`, stderr: [] };
    config = req.config;
  } catch (err) {
    if (err instanceof UsageError) return usage(err.message);
    throw err;
  }
  const problem = checkCombination(config);
  if (problem !== null) return usage(problem);
  // The daemon compiles these at start-up (exit 2 when a pattern cannot be compiled).
  try {
    new PolicyEngine(config);
    compileExcludes(config.exclude);
  } catch (err) {
    return { exitCode: 2, stdout: "", stderr: [`invalid policy: ${errText(err)}`] };
  }
  const plans = describePlans(config);
  const report = renderReport(config, plans);
  const failing = plans.filter((p) => p.problem !== null);
  if (failing.length > 0) {
    const first = failing[0];
    return {
      exitCode: 1,
      stdout: report,
      stderr: [`fanotifyd check: cannot place ${first.type} mark on '${first.path}': ${first.problem}`],
    };
  }
  return { exitCode: 0, stdout: `${report}configuration OK\n`, stderr: [] };
}

export function runCheckCommand(argv: readonly string[], version: string): number {
  const r = check(argv, process.cwd(), version);
  if (r.stdout !== "") process.stdout.write(r.stdout);
  for (const line of r.stderr) plainError(line);
  return r.exitCode;
}
