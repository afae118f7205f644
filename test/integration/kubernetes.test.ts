// examples/kubernetes/: every document parses as a Kubernetes object of a known kind with the fields
// the API server would insist on (names, selectors, references between containers, volumes, ports and
// probes), and the fanotifyd container's args (with its ConfigMap) pass `fanotifyd check` — with each
// volume's mountPath mapped into a scratch directory, since check stats the mark paths.
import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { BIN, REPO, cleanupAll, makeTmpDir, requireIntegration } from "./harness.ts";

const RUN = requireIntegration();
const DIR = join(REPO, "examples", "kubernetes");

type Obj = Record<string, unknown>;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
const KINDS: Readonly<Record<string, string>> = { Namespace: "v1", ConfigMap: "v1", Pod: "v1", DaemonSet: "apps/v1" };

function obj(v: unknown, what: string): Obj {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new Error(`${what}: not an object`);
  return v as Obj;
}
function arr(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new Error(`${what}: not a list`);
  return v;
}
function str(v: unknown, what: string): string {
  if (typeof v !== "string" || v === "") throw new Error(`${what}: not a non-empty string`);
  return v;
}

function loadDocs(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(join(DIR, file), "utf8"));
  return docs.map((d, i) => {
    if (d.errors.length > 0) throw new Error(`${file}#${i}: ${d.errors[0]!.message}`);
    return obj(d.toJS(), `${file}#${i}`);
  });
}

/** Throws a message naming the first problem; returns the pod spec for workloads. */
function validatePodSpec(spec: Obj, where: string, configMaps: ReadonlySet<string>): void {
  const volumes = new Map<string, Obj>();
  for (const v of arr(spec.volumes ?? [], `${where}.volumes`)) {
    const vol = obj(v, `${where}.volumes[]`);
    const name = str(vol.name, `${where}.volumes[].name`);
    expect(name).toMatch(DNS_LABEL);
    const sources = ["configMap", "hostPath", "emptyDir", "secret", "persistentVolumeClaim"].filter((k) => k in vol);
    if (sources.length !== 1) throw new Error(`${where}.volumes.${name}: needs exactly one source, has ${sources.join(",")}`);
    if (vol.configMap !== undefined) {
      const cm = str(obj(vol.configMap, "configMap").name, `${where}.volumes.${name}.configMap.name`);
      if (!configMaps.has(cm)) throw new Error(`${where}.volumes.${name}: ConfigMap ${cm} is not defined`);
    }
    if (vol.hostPath !== undefined) expect(str(obj(vol.hostPath, "hostPath").path, "hostPath.path")).toStartWith("/");
    volumes.set(name, vol);
  }
  const containers = arr(spec.containers, `${where}.containers`);
  expect(containers.length).toBeGreaterThan(0);
  const names = new Set<string>();
  for (const c of containers) {
    const ct = obj(c, `${where}.containers[]`);
    const name = str(ct.name, `${where}.containers[].name`);
    expect(name).toMatch(DNS_LABEL);
    if (names.has(name)) throw new Error(`${where}: duplicate container ${name}`);
    names.add(name);
    str(ct.image, `${where}.${name}.image`);
    for (const k of ["command", "args"]) {
      if (ct[k] !== undefined) for (const a of arr(ct[k], k)) expect(typeof a).toBe("string");
    }
    const ports = new Map<string, number>();
    for (const p of arr(ct.ports ?? [], "ports")) {
      const port = obj(p, "port");
      const n = port.containerPort;
      if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > 65535) throw new Error(`${where}.${name}: bad containerPort`);
      if (port.name !== undefined) {
        const pn = str(port.name, "port name");
        expect(pn.length).toBeLessThanOrEqual(15);
        ports.set(pn, n);
      }
    }
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      if (ct[probe] === undefined) continue;
      const get = obj(obj(ct[probe], probe).httpGet, `${probe}.httpGet`);
      str(get.path, `${probe}.path`);
      if (typeof get.port === "string" && !ports.has(get.port)) throw new Error(`${where}.${name}.${probe}: no port named ${get.port}`);
    }
    for (const m of arr(ct.volumeMounts ?? [], "volumeMounts")) {
      const vm = obj(m, "volumeMount");
      const vn = str(vm.name, "volumeMount.name");
      if (!volumes.has(vn)) throw new Error(`${where}.${name}: volumeMount ${vn} names no volume`);
      expect(str(vm.mountPath, "mountPath")).toStartWith("/");
    }
    const caps = ct.securityContext === undefined ? undefined : obj(ct.securityContext, "securityContext").capabilities;
    if (caps !== undefined) {
      for (const k of ["add", "drop"]) {
        for (const cap of arr(obj(caps, "capabilities")[k] ?? [], k)) expect(cap).toMatch(/^(ALL|[A-Z_]+)$/);
      }
    }
  }
}

function validate(docs: readonly Obj[], file: string): void {
  const configMaps = new Set(docs.filter((d) => d.kind === "ConfigMap").map((d) => String(obj(d.metadata, "metadata").name)));
  for (const d of docs) {
    const kind = str(d.kind, `${file}.kind`);
    if (!(kind in KINDS)) throw new Error(`${file}: unexpected kind ${kind}`);
    expect(d.apiVersion).toBe(KINDS[kind]);
    const md = obj(d.metadata, `${file}.${kind}.metadata`);
    expect(str(md.name, "metadata.name")).toMatch(kind === "ConfigMap" ? DNS_SUBDOMAIN : DNS_LABEL);
    if (kind === "ConfigMap") for (const v of Object.values(obj(d.data, "data"))) expect(typeof v).toBe("string");
    if (kind === "Pod") validatePodSpec(obj(d.spec, "spec"), `${file}.Pod`, configMaps);
    if (kind === "DaemonSet") {
      const spec = obj(d.spec, "spec");
      const match = obj(obj(spec.selector, "selector").matchLabels, "matchLabels");
      const tmpl = obj(spec.template, "template");
      const labels = obj(obj(tmpl.metadata, "template.metadata").labels, "template labels");
      for (const [k, v] of Object.entries(match)) expect(labels[k]).toBe(v);
      validatePodSpec(obj(tmpl.spec, "template.spec"), `${file}.DaemonSet`, configMaps);
    }
  }
}

function podSpecs(docs: readonly Obj[]): Obj[] {
  return docs.flatMap((d) =>
    d.kind === "Pod" ? [obj(d.spec, "spec")] : d.kind === "DaemonSet" ? [obj(obj(obj(d.spec, "spec").template, "t").spec, "s")] : [],
  );
}

/** The fanotifyd container's args with every volume mountPath moved under `root` (ConfigMaps written there). */
function checkArgs(docs: readonly Obj[], root: string): string[] {
  const spec = podSpecs(docs)[0]!;
  const ct = arr(spec.containers, "containers").map((c) => obj(c, "c")).find((c) => c.name === "fanotifyd")!;
  const volumes = new Map(arr(spec.volumes, "volumes").map((v) => [String(obj(v, "v").name), obj(v, "v")]));
  const mounts = arr(ct.volumeMounts, "mounts").map((m) => obj(m, "m"));
  const mapPath = (text: string): string => {
    let out = text;
    for (const m of mounts) out = out.split(String(m.mountPath)).join(join(root, String(m.mountPath)));
    return out;
  };
  for (const m of mounts) {
    const dir = join(root, String(m.mountPath));
    mkdirSync(dir, { recursive: true });
    const vol = volumes.get(String(m.name))!;
    if (vol.configMap !== undefined) {
      const cmName = obj(vol.configMap, "cm").name;
      const cm = docs.find((d) => d.kind === "ConfigMap" && obj(d.metadata, "md").name === cmName)!;
      for (const [file, text] of Object.entries(obj(cm.data, "data"))) writeFileSync(join(dir, file), mapPath(String(text)));
    }
  }
  return arr(ct.args, "args").map((a) => mapPath(String(a)));
}

describe.skipIf(!RUN)("examples/kubernetes", () => {
  afterAll(cleanupAll);
  const files = readdirSync(DIR).filter((f) => f.endsWith(".yaml"));

  test("both examples exist", () => {
    expect(files.sort()).toEqual(["daemonset.yaml", "sidecar.yaml"]);
  });

  test.each(files)("%s parses as valid Kubernetes objects", (file) => {
    const docs = loadDocs(file);
    expect(docs.length).toBeGreaterThan(0);
    validate(docs, file);
  });

  test.each(files)("%s: the fanotifyd container's args pass `fanotifyd check`", (file) => {
    const root = makeTmpDir("fanotifyd-k8s-");
    const args = checkArgs(loadDocs(file), root);
    const r = Bun.spawnSync([BIN, "check", ...args], { stdout: "pipe", stderr: "pipe" });
    const out = r.stdout.toString();
    expect({ code: r.exitCode, stderr: r.stderr.toString() }).toEqual({ code: 0, stderr: "" });
    expect(out).toContain("configuration OK");
    expect(out).toMatch(/metrics: 0\.0\.0\.0:9464/);
    expect(out).toMatch(/filesystem \S+: notify group, fid-filesystem: /);
  });
});
