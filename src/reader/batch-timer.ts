// The batch age timer: a one-shot timerfd the Worker polls next to the fanotify groups.
// Why not poll()'s timeout: a poll() with a timeout arms and cancels an hrtimer on every call, so
// at a trickle (one wake-up per event) that is a timer reprogramming per event; on the 2-vCPU VM
// this was measured at ~13 µs of CPU per wake-up, more than the rest of the read. A timerfd is
// armed once per batch and poll() then sleeps without a timeout (timerfd_create(2)).
import * as K from "../../ffi/constants.ts";
import { errno, SysError, sysClose, sysRead, sysTimerfdCreate, sysTimerfdSettime } from "../../ffi/libc.ts";

export class BatchTimer {
  readonly fd: number;
  private armed = false;
  // struct itimerspec: it_interval {sec, nsec} stays 0 (one-shot), it_value {sec, nsec}.
  private readonly armSpec = new Uint8Array(32);
  private readonly disarmSpec = new Uint8Array(32);
  private readonly expirations = new Uint8Array(8);

  constructor(ageMs: number) {
    const value = new BigInt64Array(this.armSpec.buffer);
    value[2] = BigInt(Math.floor(ageMs / 1000));
    value[3] = BigInt(Math.round((ageMs % 1000) * 1_000_000));
    this.fd = sysTimerfdCreate(K.CLOCK_MONOTONIC, K.TFD_CLOEXEC | K.TFD_NONBLOCK);
    if (this.fd < 0) throw new SysError("timerfd_create", errno());
  }

  /** True from arm() until the timer fires or is disarmed. */
  get pending(): boolean {
    return this.armed;
  }

  /** Fires once, the age given to the constructor from now (a no-op while armed). */
  arm(): void {
    if (this.armed) return;
    this.set(this.armSpec);
    this.armed = true;
  }

  disarm(): void {
    if (!this.armed) return;
    this.set(this.disarmSpec);
    this.armed = false;
  }

  /** Call when poll() reports the fd readable: clears the expiration. */
  fired(): void {
    sysRead(this.fd, this.expirations, 8);
    this.armed = false;
  }

  close(): void {
    sysClose(this.fd);
  }

  private set(spec: Uint8Array): void {
    if (sysTimerfdSettime(this.fd, spec) !== 0) throw new SysError("timerfd_settime", errno());
  }
}
