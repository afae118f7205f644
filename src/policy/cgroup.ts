// Which container and pod a process belongs to, from its cgroup (issue 12). Pure: the reader reads
// /proc/PID/cgroup and hands the text here.
//
// The cgroup path: the cgroup v2 line (`0::/path`); on a hybrid host whose v2 hierarchy is not used
// (the process sits at its root), the v1 `name=systemd` line instead, which is where systemd and the
// container runtimes put processes there.
//
// Container ids are the 64-hex ids the runtimes name their cgroups after. Recognised path components
// (the innermost match wins, so a container nested in another container reports the inner one):
//   docker-<id>.scope              Docker, systemd driver        /system.slice/docker-<id>.scope
//   <id>                           Docker, cgroupfs driver       /docker/<id>
//                                  containerd/CRI-O, cgroupfs    /kubepods/burstable/pod<uid>/<id>
//   cri-containerd-<id>.scope      containerd, systemd driver    /kubepods.slice/…-pod<uid>.slice/cri-containerd-<id>.scope
//   crio-<id>.scope, crio-<id>     CRI-O, systemd / cgroupfs     …/crio-<id>.scope, /kubepods/…/pod<uid>/crio-<id>
//   libpod-<id>.scope, libpod-<id> Podman, systemd / cgroupfs    /machine.slice/libpod-<id>.scope, /libpod_parent/libpod-<id>
//   nerdctl-<id>.scope             nerdctl (containerd), systemd
// Runtime monitors (`crio-conmon-<id>.scope`, `libpod-conmon-<id>.scope`) are not in the container
// and get no id. Pod uids (Kubernetes) come from a `pod<uid>` component under kubepods (cgroupfs:
// `pod1b2c…-…`, systemd: `kubepods-burstable-pod1b2c…_….slice`, also under a `kubelet.slice`;
// underscores become dashes).

export interface ContainerInfo {
  /** 64 lowercase hex digits, or null when the process is in no container. */
  readonly containerId: string | null;
  /** Kubernetes pod uid (dashed), or null. */
  readonly podUid: string | null;
}

const HEX64 = "[0-9a-f]{64}";
const CONTAINER_COMPONENT = new RegExp(
  `^(?:(?:docker|cri-containerd|crio|libpod|nerdctl)-(${HEX64})(?:\\.scope)?|(${HEX64}))$`,
);
/** cgroupfs `pod<uid>`, systemd `kubepods[-<qos>]-pod<uid>.slice`; uids are uuids or 32-hex hashes. */
const POD_COMPONENT = /^(?:(?:kubelet-)?kubepods(?:-[a-z]+)?-)?pod([0-9a-f][0-9a-f_-]{30,35}[0-9a-f])(?:\.slice)?$/;

/** The cgroup path of a process from the text of /proc/PID/cgroup; "" when none is listed. */
export function cgroupPathOf(procCgroup: string): string {
  let v2: string | null = null;
  let systemd: string | null = null;
  let start = 0;
  while (start < procCgroup.length) {
    let end = procCgroup.indexOf("\n", start);
    if (end < 0) end = procCgroup.length;
    const line = procCgroup.slice(start, end);
    start = end + 1;
    const c1 = line.indexOf(":");
    const c2 = c1 < 0 ? -1 : line.indexOf(":", c1 + 1);
    if (c2 < 0) continue;
    const id = line.slice(0, c1);
    const controllers = line.slice(c1 + 1, c2);
    const path = line.slice(c2 + 1);
    if (id === "0" && controllers === "") v2 = path;
    else if (controllers.split(",").includes("name=systemd")) systemd = path;
  }
  if (v2 !== null && (v2 !== "/" || systemd === null)) return v2;
  return systemd ?? v2 ?? "";
}

/** Container id and pod uid parsed from a cgroup path (see the layouts above). */
export function containerOf(cgroupPath: string): ContainerInfo {
  let containerId: string | null = null;
  let podUid: string | null = null;
  let underKubepods = false;
  for (const part of cgroupPath.split("/")) {
    if (part === "") continue;
    if (part.includes("kubepods")) underKubepods = true;
    const c = CONTAINER_COMPONENT.exec(part);
    if (c !== null) {
      containerId = c[1] ?? c[2] ?? null;
      continue;
    }
    if (underKubepods) {
      const p = POD_COMPONENT.exec(part);
      if (p !== null) podUid = p[1].replaceAll("_", "-");
    }
  }
  return { containerId, podUid };
}
