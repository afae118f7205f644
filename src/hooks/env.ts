// The environment a hook runs with (README "Hooks"): the daemon's, plus FAN_* describing the alert.
import { fromByteString } from "../bytes.ts";
import type { AlertRecord } from "../output-records.ts";
import type { HookExit } from "./runner.ts";

function envValue(s: string): string {
  const text = fromByteString(s);
  // An environment string cannot hold NUL; paths and comm never do, but stay total.
  return text.includes("\0") ? text.replaceAll("\0", "") : text;
}

/** FAN_* for `alert` over `base`; FAN_PPID, FAN_UID, FAN_CONTAINER_ID, FAN_POD_UID with process details. */
export function hookEnv(
  base: Readonly<Record<string, string>>,
  alert: AlertRecord,
  alertJsonLine: string,
  processDetails: boolean,
): Record<string, string> {
  const json = alertJsonLine.endsWith("\n") ? alertJsonLine.slice(0, -1) : alertJsonLine;
  const env: Record<string, string> = {
    ...base,
    FAN_KIND: alert.kind,
    FAN_PID: String(alert.pid),
    FAN_COMM: envValue(alert.comm),
    FAN_EXE: envValue(alert.exe),
    FAN_PATH: envValue(alert.path),
    FAN_REASON: envValue(alert.reason),
    FAN_ALERT_JSON: envValue(json),
  };
  if (processDetails) {
    const d = alert.details ?? null;
    env.FAN_PPID = d === null ? "" : String(d.ppid);
    env.FAN_UID = d === null ? "" : String(d.uid);
    env.FAN_CONTAINER_ID = envValue(d?.container_id ?? alert.containerId ?? "");
    env.FAN_POD_UID = envValue(d?.pod_uid ?? "");
  }
  return env;
}

/** "exit status N", "killed by SIG…" or "status unknown", for the log. */
export function describeExit(status: HookExit | null): string {
  if (status === null) return "status unknown";
  return status.signal !== null ? `killed by ${status.signal}` : `exit status ${status.code ?? "unknown"}`;
}
