// The main thread's side of the reader Worker: start it, receive its batches, stop it.
import * as K from "../../ffi/constants.ts";
import { SysError, errno, sysClose, sysEventfd, sysWrite } from "../../ffi/libc.ts";
import type { BurstDeny, PermissionRules } from "../policy/permission.ts";
import {
  CTRL_BEAT,
  CTRL_INFLIGHT,
  CTRL_MESSAGES,
  CTRL_STALL,
  MAX_INFLIGHT,
  CTRL_SLOTS,
  CTRL_STOP,
  COUNTER_NAMES,
  type ReaderCounters,
  type ReaderMark,
  type ReaderMode,
  type BurstDenyMessage,
  type MarksMessage,
  type PermissionRulesMessage,
  type StartMessage,
  type WorkerMessage,
} from "./protocol.ts";
import { OPENER_BYTES, type OpenerChannel } from "./handle-opener.ts";
import { BatchSlots, createBatchSlots, returnBatch } from "./batch-recycle.ts";

export interface ReaderCallbacks {
  onBatch(count: number, ints: Int32Array, bytes: Uint8Array, readAt: number): void;
  /**
   * True while a sink is too far behind (the output queue): batches are then acknowledged only once
   * it has caught up, so the Worker stops reading and the kernel queue absorbs the backlog (a
   * counted overflow if it fills) instead of our memory.
   */
  holdBack(): boolean;
  onLog(level: "warn" | "info" | "debug" | "error", message: string): void;
  /** The Worker died or hit an unrecoverable error after start-up. */
  onFatal(message: string): void;
}

export class ReaderStartError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = "ReaderStartError";
  }
}

function workerUrl(name = "worker"): string {
  // In the compiled binary everything is bundled into the executable's root module, and each Worker
  // is an entrypoint of its own under reader/ (scripts/compile.ts); from source it sits beside this file.
  const compiled = import.meta.url.includes("/$bunfs/");
  return new URL(compiled ? `./reader/${name}.ts` : `./${name}.ts`, import.meta.url).href;
}

export class ReaderHandle {
  private readonly control = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * 4));
  private readonly sharedCounters = new Float64Array(new SharedArrayBuffer(COUNTER_NAMES.length * 8));
  private readonly wakeFd: number;
  private worker: Worker | null = null;
  /** Processed batches' buffers go back to the Worker on port1 (batch-recycle.ts). */
  private recycle: MessageChannel | null = null;
  /** Permission mode with FID reporting: the Worker that opens file handles (handle-opener.ts). */
  private opener: { worker: Worker; channel: OpenerChannel } | null = null;
  private stopped: Promise<ReaderCounters> | null = null;
  private resolveStopped: ((c: ReaderCounters) => void) | null = null;
  private readonly one = new Uint8Array(8);
  private nextMarksId = 1;
  private heldAcks = 0;
  private holdTimer: ReturnType<typeof setInterval> | null = null;
  private readonly pendingMarks = new Map<number, (r: { error: string | null; notes: readonly string[] }) => void>();

  constructor(private readonly cb: ReaderCallbacks) {
    this.wakeFd = sysEventfd(0, K.EFD_CLOEXEC | K.EFD_NONBLOCK);
    if (this.wakeFd < 0) throw new SysError("eventfd", errno());
    this.one[0] = 1;
  }

  /** Resolves once every mark is in place, with the Worker's start-up notes. */
  start(opts: {
    mode: ReaderMode;
    perm: boolean;
    marks: readonly ReaderMark[];
    extraDirs: readonly string[];
    permission: PermissionRules;
    permHistogram?: SharedArrayBuffer | null;
    /** Read process details (FAN_REPORT_PIDFD); see StartMessage.details. */
    details?: boolean;
    /** With details: ask the kernel for a pidfd per event (default true); see StartMessage.detailsPidfd. */
    detailsPidfd?: boolean;
  }): Promise<readonly string[]> {
    return new Promise((resolve, reject) => {
      let started = false;
      const worker = new Worker(workerUrl());
      this.worker = worker;
      const recycle = new MessageChannel();
      this.recycle = recycle;
      const slotsBuffer = createBatchSlots();
      const slots = new BatchSlots(slotsBuffer);
      worker.onmessage = (e: MessageEvent<WorkerMessage>) => {
        const m = e.data;
        switch (m.type) {
          case "batch":
            this.cb.onBatch(m.count, m.ints, m.bytes, m.readAt);
            returnBatch(recycle.port1, m.ints, m.bytes);
            this.processed();
            break;
          case "slot-batch":
            this.cb.onBatch(m.count, slots.ints(m.slot, m.intsLen), slots.bytes(m.slot, m.bytesLen), m.readAt);
            slots.release(m.slot);
            this.processed();
            break;
          case "log":
            this.cb.onLog(m.level, m.message);
            break;
          case "ready":
            started = true;
            resolve(m.notes);
            break;
          case "fatal":
            if (!started) reject(new ReaderStartError(m.message, m.exitCode));
            else this.cb.onFatal(m.message);
            break;
          case "stopped":
            this.resolveStopped?.(m.counters);
            break;
          case "marks-done":
            this.pendingMarks.get(m.id)?.({ error: m.error, notes: m.notes });
            this.pendingMarks.delete(m.id);
            break;
        }
      };
      worker.addEventListener("error", (e: ErrorEvent) => {
        const msg = `reader worker failed: ${e.message}`;
        if (!started) reject(new ReaderStartError(msg, 1));
        else this.cb.onFatal(msg);
      });
      const start: StartMessage = {
        type: "start",
        ...opts,
        opener: opts.perm && opts.mode === "fid" ? this.startOpener() : null,
        permHistogram: opts.permHistogram ?? null,
        details: opts.details ?? false,
        detailsPidfd: opts.detailsPidfd ?? true,
        wakeFd: this.wakeFd,
        recycle: recycle.port2,
        slots: slotsBuffer,
        control: this.control.buffer as SharedArrayBuffer,
        counters: this.sharedCounters.buffer as SharedArrayBuffer,
      };
      worker.postMessage(start, [recycle.port2]);
    });
  }

  /** A batch is processed: acknowledged now, or later while the output holds the main thread back. */
  private processed(): void {
    if (this.cb.holdBack()) this.holdAck();
    else this.ack(1);
  }

  private ack(n: number): void {
    // The Worker skips the notification group while it is MAX_INFLIGHT ahead: wake it when we
    // catch up so it resumes at once.
    if (Atomics.sub(this.control, CTRL_INFLIGHT, n) >= MAX_INFLIGHT) this.wake();
  }

  private holdAck(): void {
    this.heldAcks++;
    if (this.holdTimer !== null) return;
    this.holdTimer = setInterval(() => {
      if (this.cb.holdBack() && this.stopped === null) return;
      if (this.holdTimer !== null) clearInterval(this.holdTimer);
      this.holdTimer = null;
      const n = this.heldAcks;
      this.heldAcks = 0;
      this.ack(n);
    }, 2);
  }

  /** Wakes the Worker so it notices control changes and pending messages. */
  wake(): void {
    sysWrite(this.wakeFd, this.one, 8);
  }

  /** Posts a control message and wakes the Worker so that it yields to receive it. */
  private post(msg: PermissionRulesMessage | BurstDenyMessage | MarksMessage): void {
    Atomics.add(this.control, CTRL_MESSAGES, 1);
    this.worker?.postMessage(msg);
    this.wake();
  }

  /** Hands the Worker new permission rules (reload). */
  sendPermissionRules(rules: PermissionRules): void {
    if (this.worker === null) return;
    const msg: PermissionRulesMessage = { type: "permission-rules", rules };
    this.post(msg);
  }

  /** Tells the Worker which pids a burst alert has put under a deny. */
  sendBurstDenies(add: readonly BurstDeny[]): void {
    if (this.worker === null || add.length === 0) return;
    const msg: BurstDenyMessage = { type: "burst-deny", add };
    this.post(msg);
  }

  /** Loop turns of the Worker so far (health: it moves whenever the Worker polls). */
  beats(): number {
    return Atomics.load(this.control, CTRL_BEAT);
  }

  /** Batches posted by the Worker and not yet processed here. */
  inflight(): number {
    return Atomics.load(this.control, CTRL_INFLIGHT);
  }

  /** Test hook (FANOTIFYD_TEST_HOOKS): stall the Worker's loop, or release it. */
  setStalled(stalled: boolean): void {
    Atomics.store(this.control, CTRL_STALL, stalled ? 1 : 0);
    Atomics.notify(this.control, CTRL_STALL);
    this.wake();
  }

  /** The Worker's counters as of its last posted batch. */
  liveCounters(): ReaderCounters {
    const c = {} as Record<(typeof COUNTER_NAMES)[number], number>;
    COUNTER_NAMES.forEach((name, i) => (c[name] = this.sharedCounters[i]));
    return c;
  }

  /** Adds then removes marks on every group (additions are all-or-nothing). */
  changeMarks(add: readonly ReaderMark[], remove: readonly ReaderMark[]): Promise<{ error: string | null; notes: readonly string[] }> {
    if (this.worker === null) return Promise.resolve({ error: "reader is not running", notes: [] });
    const id = this.nextMarksId++;
    const msg: MarksMessage = { type: "marks", id, add, remove };
    return new Promise((resolve) => {
      this.pendingMarks.set(id, resolve);
      this.post(msg);
    });
  }

  /** Stops reading; resolves with the Worker's counters once it has closed the fanotify fds. */
  stop(): Promise<ReaderCounters> {
    if (this.stopped) return this.stopped;
    this.stopped = new Promise((resolve) => {
      this.resolveStopped = resolve;
    });
    Atomics.store(this.control, CTRL_STOP, 1);
    Atomics.store(this.control, CTRL_STALL, 0);
    Atomics.notify(this.control, CTRL_STALL);
    this.wake();
    return this.stopped;
  }

  terminate(): void {
    if (this.holdTimer !== null) clearInterval(this.holdTimer);
    this.worker?.terminate();
    this.worker = null;
    this.recycle?.port1.close();
    this.recycle = null;
    sysClose(this.wakeFd);
    if (this.opener !== null) {
      this.opener.worker.terminate();
      sysClose(this.opener.channel.doneFd);
      this.opener = null;
    }
  }

  private startOpener(): OpenerChannel {
    const doneFd = sysEventfd(0, K.EFD_CLOEXEC | K.EFD_NONBLOCK);
    if (doneFd < 0) throw new SysError("eventfd", errno());
    const channel: OpenerChannel = { shared: new SharedArrayBuffer(OPENER_BYTES), doneFd };
    const worker = new Worker(workerUrl("handle-opener-worker"));
    worker.addEventListener("error", (e: ErrorEvent) => this.cb.onFatal(`handle opener worker failed: ${e.message}`));
    worker.postMessage(channel);
    this.opener = { worker, channel };
    return channel;
  }
}
