// sd_notify(3) without libsystemd: one datagram on an AF_UNIX socket named by $NOTIFY_SOCKET.
// States the daemon sends: "READY=1\nMAINPID=<pid>" once the marks are placed, "RELOADING=1" (with
// "MONOTONIC_USEC=<µs>" for Type=notify-reload) at the start of a SIGHUP reload and "READY=1" after it,
// "STOPPING=1" when shutdown begins. Without $NOTIFY_SOCKET (not under systemd) nothing is sent.
import { errno, strerror, sysClose } from "../../ffi/libc.ts";
import {
  AF_UNIX,
  MSG_NOSIGNAL,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  sockaddrUn,
  sysSendto,
  sysSocket,
} from "../../ffi/socket.ts";

export interface SdNotifyResult {
  readonly sent: boolean;
  /** Why nothing was sent: "NOTIFY_SOCKET is not set", or the failing call and its error. */
  readonly reason: string | null;
}

/**
 * Sends `state` (newline-separated KEY=VALUE assignments) to the service manager. Returns whether the
 * datagram was sent, with the reason when it was not. Never throws and never blocks (non-blocking socket:
 * a full receiver queue is a failure, not a wait).
 */
export function sdNotifyDetailed(state: string, socketName: string | undefined = process.env.NOTIFY_SOCKET): SdNotifyResult {
  try {
    if (socketName === undefined || socketName === "") return { sent: false, reason: "NOTIFY_SOCKET is not set" };
    if (!socketName.startsWith("/") && !socketName.startsWith("@")) {
      // e.g. systemd's "vsock:" form, or a relative path we must not guess about.
      return { sent: false, reason: `unsupported NOTIFY_SOCKET '${socketName}'` };
    }
    const sa = sockaddrUn(socketName);
    if (sa === null) return { sent: false, reason: `NOTIFY_SOCKET '${socketName}' is too long` };
    const body = new Uint8Array(Buffer.from(state, "utf8"));
    if (body.length === 0) return { sent: false, reason: "empty state" };
    const fd = sysSocket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return { sent: false, reason: `socket: ${strerror(errno())}` };
    try {
      const n = sysSendto(fd, body, body.length, MSG_NOSIGNAL, sa.addr, sa.len);
      if (n < 0) return { sent: false, reason: `sendto(${socketName}): ${strerror(errno())}` };
      if (n !== body.length) return { sent: false, reason: `sendto(${socketName}): short send (${n} of ${body.length})` };
      return { sent: true, reason: null };
    } finally {
      sysClose(fd);
    }
  } catch (err) {
    return { sent: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** sd_notify(0, state): true when the datagram was sent; false (never a throw) otherwise. */
export function sdNotify(state: string): boolean {
  return sdNotifyDetailed(state).sent;
}
