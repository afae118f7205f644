// `--process-details` (issue 12, behavior.md B18): ppid, effective uid, cgroup, container id and pod
// uid of the process that caused an event, read by the Worker at read time and encoded once per
// process as the JSONL fragment that follows `"is_dir":B` in event records:
//
//   ,"ppid":N,"uid":N,"cgroup":"…","container_id":"<64 hex>"|null,"pod_uid":"…"|null
//
// Race-free identity: the event's pidfd (FAN_REPORT_PIDFD) is checked after /proc was read. A pidfd
// still naming a live (or zombie) process proves the pid was not yet free, so what /proc said belongs
// to the process that caused the event; a reaped one (FAN_NOPIDFD at read time, ESRCH afterwards)
// means the pid may name another process already: the fields are left out and the miss is counted.
// The check is done once per pid per batch, together with ProcInfoCache's /proc/PID/stat read.
//
// Cache: per pid, valid for one (start time, exec) identity from ProcInfoCache; uid and cgroup are
// re-read after DETAILS_MAX_AGE_MS (setuid, a move to another cgroup), ppid comes with every stat read.
import * as K from "../../ffi/constants.ts";
import { cpath, errno, sysClose, sysOpen, sysPidfdAlive, sysRead } from "../../ffi/libc.ts";
import { cgroupPathOf, containerOf } from "../policy/cgroup.ts";
import type { ProcInfoCache } from "./proc-info.ts";

const MAX_ENTRIES = 4096;
const DETAILS_MAX_AGE_MS = 1000;

interface DetailsEntry {
  version: number;
  ppid: number;
  uid: number;
  /** JSON text of `"cgroup":…,"container_id":…,"pod_uid":…` (latin1 bytes as a string). */
  rest: string;
  /** container id (64 hex) or "" */
  containerId: string;
  readAt: number;
  fragment: Uint8Array;
  /** Offset of the container id inside `fragment` (0 when none). */
  containerOff: number;
  /** Last batch in which the identity was checked against a pidfd. */
  verifiedBatch: number;
}

const EMPTY = new Uint8Array(0);
const enc = (s: string): Uint8Array => Buffer.from(s, "latin1");

export class ProcessDetails {
  private readonly entries = new Map<number, DetailsEntry>();
  private readonly buf = Buffer.alloc(4096);
  private batch = 0;
  private nowMs = 0;
  /** Events whose process was gone before its details could be read (fields omitted). */
  missed = 0;
  /** The looked-up event's fragment (empty when missed) and its container id's place in it. */
  fragment: Uint8Array = EMPTY;
  containerOff = 0;
  containerLen = 0;

  /** Call once per read batch with a monotonic clock in ms. */
  nextBatch(nowMs: number): void {
    this.batch++;
    this.nowMs = nowMs;
  }

  /**
   * Details of the process that caused an event. `procs` has just looked up `pid`; `pidfd` is the
   * event's pidfd info value (an fd, FAN_NOPIDFD, FAN_EPIDFD, or NO_PIDFD_INFO without FAN_REPORT_PIDFD);
   * the caller closes it afterwards. Sets `fragment` (empty when the process was gone: counted).
   */
  lookup(pid: number, procs: ProcInfoCache, pidfd: number): void {
    const nowMs = this.nowMs;
    this.fragment = EMPTY;
    this.containerOff = 0;
    this.containerLen = 0;
    if (pid <= 0) return;
    if (pidfd === K.FAN_NOPIDFD || procs.gone || procs.startTime === 0) {
      // Reaped before the event was read, or /proc/PID/stat was already gone.
      this.missed++;
      return;
    }
    let e = this.entries.get(pid);
    if (e !== undefined && (e.version !== procs.version || nowMs - e.readAt > DETAILS_MAX_AGE_MS)) {
      e = this.read(pid, procs, nowMs, e);
    } else if (e === undefined) {
      e = this.read(pid, procs, nowMs, undefined);
    }
    if (e === undefined) {
      this.missed++;
      return;
    }
    if (e.verifiedBatch !== this.batch || procs.fresh) {
      // Without a pidfd (FAN_EPIDFD, or a kernel before 5.15) the start-time check is all there is.
      if (pidfd >= 0 && sysPidfdAlive(pidfd) !== 0 && errno() === K.ESRCH) {
        this.entries.delete(pid);
        this.missed++;
        return;
      }
      e.verifiedBatch = this.batch;
    }
    if (e.ppid !== procs.ppid) this.encode(e, procs.ppid);
    this.fragment = e.fragment;
    this.containerOff = e.containerOff;
    this.containerLen = e.containerId.length;
  }

  private read(pid: number, procs: ProcInfoCache, nowMs: number, old: DetailsEntry | undefined): DetailsEntry | undefined {
    const status = this.readText(`/proc/${pid}/status`);
    const cgroupText = status === null ? null : this.readText(`/proc/${pid}/cgroup`);
    if (status === null || cgroupText === null) {
      if (old !== undefined) this.entries.delete(pid);
      return undefined;
    }
    const uid = effectiveUid(status);
    const cgroup = cgroupPathOf(cgroupText);
    const { containerId, podUid } = containerOf(cgroup);
    const rest =
      `,"cgroup":${JSON.stringify(cgroup)},"container_id":` +
      (containerId === null ? "null" : `"${containerId}"`) +
      `,"pod_uid":${podUid === null ? "null" : JSON.stringify(podUid)}`;
    const e: DetailsEntry = old ?? {
      version: 0,
      ppid: 0,
      uid: 0,
      rest: "",
      containerId: "",
      readAt: 0,
      fragment: EMPTY,
      containerOff: 0,
      verifiedBatch: -1,
    };
    e.version = procs.version;
    e.uid = uid;
    e.rest = rest;
    e.containerId = containerId ?? "";
    e.readAt = nowMs;
    e.verifiedBatch = -1;
    this.encode(e, procs.ppid);
    if (old === undefined) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(pid, e);
    }
    return e;
  }

  private encode(e: DetailsEntry, ppid: number): void {
    e.ppid = ppid;
    const head = `,"ppid":${ppid},"uid":${e.uid}`;
    const text = head + e.rest;
    e.fragment = enc(text);
    e.containerOff = e.containerId === "" ? 0 : text.indexOf(e.containerId);
  }

  /** The whole of a small /proc file as latin1 text, or null when it cannot be read. */
  private readText(path: string): string | null {
    const fd = sysOpen(cpath(path), K.O_RDONLY | K.O_CLOEXEC);
    if (fd < 0) return null;
    const n = sysRead(fd, this.buf, this.buf.length);
    sysClose(fd);
    if (n <= 0) return null;
    return this.buf.toString("latin1", 0, n);
  }
}

/** The effective uid from /proc/PID/status (`Uid:\treal\teffective\tsaved\tfs`); -1 when absent. */
export function effectiveUid(status: string): number {
  const at = status.indexOf("\nUid:");
  if (at < 0) return -1;
  const end = status.indexOf("\n", at + 1);
  const fields = status.slice(at + 5, end < 0 ? undefined : end).trim().split(/\s+/);
  const uid = Number(fields[1]);
  return Number.isInteger(uid) ? uid : -1;
}
