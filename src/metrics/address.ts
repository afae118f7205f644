// `--metrics ADDR`: a Unix socket path, or a loopback TCP address. The endpoint has no authentication,
// so an address reachable from other hosts is refused unless it is the explicit all-interfaces form.
import { isAbsolute, resolve } from "node:path";

export type MetricsAddress =
  | { readonly kind: "unix"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number };

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);
const ALL_INTERFACES = new Set(["0.0.0.0", "::"]);

/**
 * Parses ADDR (relative Unix paths against `cwd`). Throws an Error with a one-line reason that names
 * the address.
 */
export function parseMetricsAddress(addr: string, cwd: string): MetricsAddress {
  const refuse = (why: string): never => {
    throw new Error(`bad --metrics address '${addr}': ${why}`);
  };
  if (addr === "") refuse("empty");
  if (addr.startsWith("/") || addr.startsWith("./") || addr.startsWith("../") || addr.startsWith("unix:")) {
    const p = addr.startsWith("unix:") ? addr.slice(5) : addr;
    if (p === "") refuse("empty socket path");
    return { kind: "unix", path: isAbsolute(p) ? p : resolve(cwd, p) };
  }
  const m = /^(?:\[([0-9a-fA-F:]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(addr);
  if (m === null) refuse("want a Unix socket path, 127.0.0.1:PORT, [::1]:PORT or 0.0.0.0:PORT");
  const host = (m as RegExpExecArray)[1] ?? (m as RegExpExecArray)[2];
  const port = Number((m as RegExpExecArray)[3]);
  if (port < 1 || port > 65535) refuse("port must be 1-65535");
  if (LOOPBACK.has(host) || ALL_INTERFACES.has(host)) return { kind: "tcp", host, port };
  return refuse(
    "the endpoint has no authentication, so only loopback (127.0.0.1:PORT, [::1]:PORT) or a Unix socket is " +
      "accepted; give 0.0.0.0:PORT to expose it on every interface deliberately",
  );
}

/** For log lines and `check`: `unix:/run/f.sock`, `127.0.0.1:9464`, `[::1]:9464`. */
export function formatMetricsAddress(a: MetricsAddress): string {
  if (a.kind === "unix") return `unix:${a.path}`;
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
