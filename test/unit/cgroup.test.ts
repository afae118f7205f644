// The cgroup path parser (issue 12): which container and pod a cgroup path names, over paths as the
// runtimes create them, and which line of /proc/PID/cgroup is the process's cgroup.

import { describe, expect, test } from "bun:test";
import { cgroupPathOf, containerOf } from "../../src/policy/cgroup.ts";

const ID = "4f8d1c3b2a1908f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d5c4b3a2918f7e6d";
const ID2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const POD = "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b";
const POD_SD = POD.replaceAll("-", "_");

// [cgroup path, container id, pod uid]
const TABLE: ReadonlyArray<readonly [string, string | null, string | null]> = [
  // Docker
  [`/docker/${ID}`, ID, null],
  [`/system.slice/docker-${ID}.scope`, ID, null],
  [`/system.slice/docker-${ID}.scope/init.scope`, ID, null],
  [`/user.slice/user-1000.slice/user@1000.service/app.slice/docker-${ID}.scope`, ID, null],
  // Docker in Docker: the inner container
  [`/system.slice/docker-${ID}.scope/docker/${ID2}`, ID2, null],
  // containerd (Kubernetes), cgroupfs and systemd drivers, every QoS class
  [`/kubepods/burstable/pod${POD}/${ID}`, ID, POD],
  [`/kubepods/besteffort/pod${POD}/${ID}`, ID, POD],
  [`/kubepods/pod${POD}/${ID}`, ID, POD],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_SD}.slice/cri-containerd-${ID}.scope`, ID, POD],
  [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_SD}.slice/cri-containerd-${ID}.scope`, ID, POD],
  [`/kubepods.slice/kubepods-pod${POD_SD}.slice/cri-containerd-${ID}.scope`, ID, POD],
  // CRI-O
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_SD}.slice/crio-${ID}.scope`, ID, POD],
  [`/kubepods/burstable/pod${POD}/crio-${ID}`, ID, POD],
  [`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_SD}.slice/crio-conmon-${ID}.scope`, null, POD],
  // kubelet under a systemd slice of its own (kind, k3s in a container)
  [`/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${POD_SD}.slice/cri-containerd-${ID}.scope`, ID, POD],
  // static pod: the uid is a 32-hex hash
  [`/kubepods/burstable/pod0f1e2d3c4b5a69788796a5b4c3d2e1f0/${ID}`, ID, "0f1e2d3c4b5a69788796a5b4c3d2e1f0"],
  // the pod's own cgroup (pause process not yet placed)
  [`/kubepods/burstable/pod${POD}`, null, POD],
  // Podman
  [`/machine.slice/libpod-${ID}.scope`, ID, null],
  [`/machine.slice/libpod-${ID}.scope/container`, ID, null],
  [`/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-${ID}.scope`, ID, null],
  [`/libpod_parent/libpod-${ID}`, ID, null],
  [`/machine.slice/libpod-conmon-${ID}.scope`, null, null],
  // nerdctl
  [`/system.slice/nerdctl-${ID}.scope`, ID, null],
  // no container
  ["/", null, null],
  ["/user.slice/user-0.slice/session-3.scope", null, null],
  ["/system.slice/sshd.service", null, null],
  ["/init.scope", null, null],
  // near misses: wrong length, upper case, pod outside kubepods
  [`/docker/${ID.slice(1)}`, null, null],
  [`/docker/${ID.toUpperCase()}`, null, null],
  [`/system.slice/docker-${ID}x.scope`, null, null],
  [`/pods/pod${POD}/x`, null, null],
  ["", null, null],
];

describe("containerOf", () => {
  for (const [path, id, pod] of TABLE) {
    test(path === "" ? "(empty)" : path, () => {
      expect(containerOf(path)).toEqual({ containerId: id, podUid: pod });
    });
  }
});

describe("cgroupPathOf", () => {
  test("pure cgroup v2: the 0:: line", () => {
    expect(cgroupPathOf(`0::/system.slice/docker-${ID}.scope\n`)).toBe(`/system.slice/docker-${ID}.scope`);
  });

  test("hybrid host, v2 in use: the 0:: line", () => {
    const text = `12:memory:/docker/${ID}\n1:name=systemd:/docker/${ID}\n0::/docker/${ID}\n`;
    expect(cgroupPathOf(text)).toBe(`/docker/${ID}`);
  });

  test("hybrid host, v2 unused (root): the name=systemd line", () => {
    const text = `9:name=systemd:/system.slice/docker-${ID}.scope\n4:memory:/system.slice/docker-${ID}.scope\n0::/\n`;
    expect(cgroupPathOf(text)).toBe(`/system.slice/docker-${ID}.scope`);
  });

  test("v1 only: the name=systemd line", () => {
    expect(cgroupPathOf(`3:cpu,cpuacct:/x\n1:name=systemd:/user.slice\n`)).toBe("/user.slice");
  });

  test("v2 root without a systemd line stays /", () => {
    expect(cgroupPathOf("0::/\n")).toBe("/");
  });

  test("a path with a colon is kept whole; junk lines are skipped", () => {
    expect(cgroupPathOf("garbage\n0::/a:b\n")).toBe("/a:b");
  });

  test("nothing listed: empty", () => {
    expect(cgroupPathOf("")).toBe("");
    expect(cgroupPathOf("2:cpu:/x\n")).toBe("");
  });
});
