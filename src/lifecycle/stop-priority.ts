// At shutdown the daemon must finish within its deadline even when the CPUs are saturated — e.g. by
// the very openers whose permission events it stops answering, which then run unthrottled (measured:
// 100 openers on 2 vCPUs stretched a stop past 1 s). Every thread of the process gets the highest
// priority for the few hundred milliseconds that are left (root only; otherwise nothing changes).
import { readdirSync } from "node:fs";
import { setThreadNice } from "../../ffi/process.ts";

export function raiseStopPriority(): void {
  let tids: string[];
  try {
    tids = readdirSync("/proc/self/task");
  } catch {
    return;
  }
  for (const tid of tids) setThreadNice(Number(tid), -20);
}
