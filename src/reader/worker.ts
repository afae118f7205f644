// The reader Worker (design.md): owns the fanotify fds and every event fd, waits in poll() on the
// groups and a wake eventfd, reads batches, resolves paths and process names, answers permission
// events itself from its PermissionPolicy, and posts ONE message per batch to the main thread.
// This file is the Worker's entry: the start message builds the Reader (reader-loop.ts), later
// control messages reach it.
import type { PermissionRules } from "../policy/permission.ts";
import { sharedMonoNow, type ControlMessage, type WorkerMessage } from "./protocol.ts";
import { Reader } from "./reader-loop.ts";

declare const self: Worker;

function post(msg: WorkerMessage): void {
  self.postMessage(msg);
}

let reader: Reader | null = null;

/** Reload: the main thread has compiled the same patterns already, so this only fails on a bug. */
function setPermissionRules(rules: PermissionRules): void {
  try {
    reader?.policy.setRules(rules);
  } catch (err) {
    post({ type: "log", level: "error", message: `keeping the previous permission rules: ${err instanceof Error ? err.message : String(err)}` });
  }
}

self.onmessage = (e: MessageEvent<ControlMessage>) => {
  const msg = e.data;
  if (msg.type !== "start") {
    if (msg.type === "permission-rules") setPermissionRules(msg.rules);
    else if (msg.type === "burst-deny") reader?.policy.addBurstDenies(msg.add, sharedMonoNow());
    else void reader?.changeMarks(msg);
    reader?.messageHandled();
    return;
  }
  if (reader !== null) return;
  let r: Reader;
  try {
    r = new Reader(msg);
  } catch (err) {
    post({ type: "fatal", message: err instanceof Error ? err.message : String(err), exitCode: 1 });
    return;
  }
  r.setUp().then(
    (notes) => {
      reader = r;
      post({ type: "ready", notes });
      r.run().catch((err: unknown) => {
        post({ type: "fatal", message: `reader failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`, exitCode: 1 });
      });
    },
    (err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      post({ type: "fatal", message, exitCode: 1 });
    },
  );
};
