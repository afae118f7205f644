// Job tagging (behavior.md A9).

import { describe, expect, test } from "bun:test";
import { toByteString } from "../../src/bytes.ts";
import type { JobSpec } from "../../src/config/types.ts";
import { compileJobs } from "../../src/policy/jobs.ts";

const job = (id: string, roots: JobSpec["roots"]): JobSpec => ({ id, roots });

describe("compileJobs / tag", () => {
  const tagger = compileJobs([
    job("j1", { rootfs: "/tmp/job/root", workspace: "/tmp/job/root/work", export: "/srv/out", cache: "/var/cache/j1" }),
    job("j2", { rootfs: "/srv/j2" }),
  ]);
  const tag = (p: string): string | null => {
    const t = tagger.tag(p);
    return t === null ? null : `${t.jobId}:${t.role}`;
  };

  test("root itself and paths below it", () => {
    expect(tag("/tmp/job/root")).toBe("j1:rootfs");
    expect(tag("/tmp/job/root/etc/passwd")).toBe("j1:rootfs");
    expect(tag("/srv/out/a")).toBe("j1:export");
    expect(tag("/var/cache/j1/x/y/z")).toBe("j1:cache");
    expect(tag("/srv/j2")).toBe("j2:rootfs");
  });

  test("nested workspace inside rootfs tags as workspace (longest root wins)", () => {
    expect(tag("/tmp/job/root/work")).toBe("j1:workspace");
    expect(tag("/tmp/job/root/work/src/main.c")).toBe("j1:workspace");
    expect(tag("/tmp/job/root/workshop")).toBe("j1:rootfs");
  });

  test("component boundary: root2 and rootish do not match root", () => {
    expect(tag("/tmp/job/root2")).toBeNull();
    expect(tag("/tmp/job/rootish/x")).toBeNull();
    expect(tag("/tmp/job")).toBeNull();
    expect(tag("/tmp")).toBeNull();
    expect(tag("/srv/j22/a")).toBeNull();
  });

  test("untagged and placeholder paths", () => {
    expect(tag("/etc/passwd")).toBeNull();
    expect(tag("<overflow>")).toBeNull();
    expect(tag("<fid-unresolved>")).toBeNull();
    expect(tag("<unknown>")).toBeNull();
    expect(tag("<fd:12>")).toBeNull();
    expect(tag("")).toBeNull();
    expect(tag("tmp/job/root")).toBeNull();
  });

  test("trailing slash and doubled slashes in paths", () => {
    expect(tag("/tmp/job/root/")).toBe("j1:rootfs");
    expect(tag("/tmp/job/root//x")).toBe("j1:rootfs");
  });

  test("results are shared objects (no allocation per tag)", () => {
    const a = tagger.tag("/tmp/job/root/a");
    const c = tagger.tag("/tmp/job/root/b/c");
    expect(a).not.toBeNull();
    expect(a).toBe(c);
    expect(Object.isFrozen(a)).toBe(true);
  });
});

describe("root '/' and ties", () => {
  test("root '/' matches every absolute path, but never placeholders", () => {
    const t = compileJobs([job("all", { rootfs: "/" }), job("deep", { workspace: "/w" })]);
    expect(t.tag("/")?.jobId).toBe("all");
    expect(t.tag("/etc/passwd")?.jobId).toBe("all");
    expect(t.tag("/w/x")?.role).toBe("workspace"); // longer root wins
    expect(t.tag("/wx")?.jobId).toBe("all");
    expect(t.tag("<overflow>")).toBeNull();
  });

  test("equal roots: first job in definition order wins", () => {
    const t = compileJobs([job("first", { cache: "/shared" }), job("second", { rootfs: "/shared" })]);
    expect(t.tag("/shared/a")).toEqual({ jobId: "first", role: "cache" });
  });

  test("equal roots within a job: role order rootfs, workspace, export, cache", () => {
    const t = compileJobs([job("j", { cache: "/same", export: "/same", workspace: "/same" })]);
    expect(t.tag("/same/a")).toEqual({ jobId: "j", role: "workspace" });
    const u = compileJobs([job("j", { cache: "/same", export: "/same" })]);
    expect(u.tag("/same")).toEqual({ jobId: "j", role: "export" });
  });

  test("no jobs: everything untagged", () => {
    const t = compileJobs([]);
    expect(t.rootCount).toBe(0);
    expect(t.tag("/a/b")).toBeNull();
  });

  test("ids and roots are converted to byte strings; matching is bytewise", () => {
    const t = compileJobs([job("tâche", { rootfs: "/srv/données" })]);
    const hit = t.tag(toByteString("/srv/données/f"));
    expect(hit?.jobId).toBe(toByteString("tâche"));
    expect(t.tag("/srv/données/f")).toBeNull(); // not a byte string: different bytes
  });

  test("hundreds of jobs: correct tags", () => {
    const jobs: JobSpec[] = [];
    for (let i = 0; i < 500; i++) {
      jobs.push(job(`job${i}`, { rootfs: `/jobs/${i}/rootfs`, workspace: `/jobs/${i}/rootfs/work`, export: `/exports/${i}`, cache: `/cache/${i}` }));
    }
    const t = compileJobs(jobs);
    expect(t.rootCount).toBe(2000);
    expect(t.tag("/jobs/417/rootfs/usr/bin/sh")).toEqual({ jobId: "job417", role: "rootfs" });
    expect(t.tag("/jobs/417/rootfs/work/a/b/c/d/e")).toEqual({ jobId: "job417", role: "workspace" });
    expect(t.tag("/exports/3/x")).toEqual({ jobId: "job3", role: "export" });
    expect(t.tag("/jobs/4170/rootfs")).toBeNull();
  });
});
