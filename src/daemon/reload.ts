// SIGHUP (B6): re-read the command line and config file(s) and apply the change all-or-nothing.
// Order: parse and validate, plan (pure, reload-plan.ts), then whatever can fail — the new output,
// then the marks — and only when both succeeded change the policy, exclusions, hooks and sinks.
// Any failure logs `reload failed, keeping the running configuration: …` and changes nothing
// (the running output is still reopened, as logrotate expects).
import pkg from "../../package.json" with { type: "json" };
import { describePlans } from "../check/plan.ts";
import { parseCommandLine } from "../config/cli.ts";
import type { Config } from "../config/types.ts";
import { errText } from "../errors.ts";
import { logger, setVerbosity } from "../log.ts";
import { PolicyEngine } from "../policy/engine.ts";
import { compileExcludes, type ExcludeMatcher } from "../policy/exclude.ts";
import type { OutputWriter } from "../sinks/output.ts";
import type { DaemonContext } from "./index.ts";
import { planReload, type ReloadPlan } from "./reload-plan.ts";
import { makeHooks, openOutput, type DaemonRuntime } from "./runtime.ts";

/** How long the replaced output may take to write what it still holds. */
const OLD_OUTPUT_CLOSE_MS = 1000;

class ReloadRefused extends Error {}

function parseNext(ctx: DaemonContext): { next: Config; excluder: ExcludeMatcher | null } {
  const req = parseCommandLine([...ctx.argv], { cwd: ctx.cwd, version: pkg.version });
  if (req.kind !== "run") throw new Error("the command line no longer describes a daemon");
  new PolicyEngine(req.config); // validates the patterns before anything changes
  return { next: req.config, excluder: compileExcludes(req.config.exclude) };
}

export async function applyReload(rt: DaemonRuntime, ctx: DaemonContext): Promise<void> {
  let fresh: OutputWriter | null = null;
  try {
    const { next, excluder } = parseNext(ctx);
    const plan = planReload(rt.config, next);
    if (plan.fixed.length > 0) logger.warn(`reload: ${plan.fixed.join(", ")} cannot change while running; restart to apply`);
    // What can fail comes first: the new output, then the marks.
    if (plan.outputChanged) fresh = openOutput(plan.config);
    await changeMarks(rt, plan);
    commit(rt, plan, excluder, fresh);
  } catch (err) {
    logger.error(`reload failed, keeping the running configuration: ${err instanceof ReloadRefused ? err.message : errText(err)}`);
    if (fresh !== null) void fresh.close(0);
    rt.output.reopen();
  }
}

async function changeMarks(rt: DaemonRuntime, plan: ReloadPlan): Promise<void> {
  if (plan.addMarks.length === 0 && plan.removeMarks.length === 0) return;
  const result = await rt.reader!.changeMarks(plan.addMarks, plan.removeMarks);
  if (result.error !== null) throw new ReloadRefused(result.error);
  for (const note of result.notes) logger.info(note);
}

/** Nothing below can fail: the reload takes effect as a whole. */
function commit(rt: DaemonRuntime, plan: ReloadPlan, excluder: ExcludeMatcher | null, fresh: OutputWriter | null): void {
  const next = plan.config;
  rt.policy.reconfigure(next);
  rt.pipeline.setExcluder(excluder);
  rt.reader!.sendPermissionRules(rt.policy.permissionRules());
  const replaced = fresh === null ? null : rt.output;
  if (fresh !== null) rt.output = fresh;
  else rt.output.reopen();
  if (plan.hooksChanged) {
    const old = rt.hooks;
    rt.hooks = makeHooks(next);
    // Hooks already running finish under the old runner's limits.
    void old?.close(next.hookTimeoutMs);
  }
  setVerbosity(next.verbose);
  rt.config = next;
  rt.plans = describePlans(next);
  rt.pipeline.setSinks(rt.sinks());
  void replaced?.close(OLD_OUTPUT_CLOSE_MS);
  logger.info(
    `configuration reloaded -- ${plan.markCount} mark(s), canaries=${next.canaries.length}, jobs=${next.jobs.length}, burst=${next.burstThreshold}/${next.burstWindowMs}ms`,
  );
}
