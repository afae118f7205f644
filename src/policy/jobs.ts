// Job tagging (behavior.md A9): the longest job role root that is the event path or a '/'-boundary
// prefix of it. Roots live in a Map keyed by root string; a path is looked up at each of its '/'
// boundaries from the longest prefix to the shortest, so the cost is O(path depth) whatever the number
// of jobs, and only prefix lengths that some root actually has are sliced and looked up.

import { toByteString } from "../bytes.ts";
import { JOB_ROLES, type JobRole, type JobSpec } from "../config/types.ts";

export interface JobTag {
  /** The job id as a byte string (src/bytes.ts), ready for the record. */
  readonly jobId: string;
  readonly role: JobRole;
}

export interface JobTagger {
  /**
   * The job and role of an event path (a byte string), or null. The returned objects are shared and
   * immutable: one per distinct root, built at compile time.
   */
  tag(path: string): JobTag | null;
  /** Number of distinct roots. */
  readonly rootCount: number;
}

const SLASH = 0x2f;

/**
 * Compile the job registry. Roots are config strings (absolute, realpath'd, trailing '/' stripped) and
 * are converted once to byte strings. Ties (the same root string under several jobs or roles) go to
 * the first one seen: jobs in definition order, roles in the order rootfs, workspace, export, cache.
 */
export function compileJobs(jobs: readonly JobSpec[]): JobTagger {
  const byRoot = new Map<string, JobTag>();
  let slashRoot: JobTag | null = null; // root "/" matches every absolute path
  let maxLen = 0;
  for (const job of jobs) {
    const jobId = toByteString(job.id);
    for (const role of JOB_ROLES) {
      const root = job.roots[role];
      if (root === undefined || root === "") continue;
      const key = toByteString(root);
      const tag: JobTag = Object.freeze({ jobId, role });
      if (key === "/") {
        slashRoot ??= tag;
        continue;
      }
      if (!byRoot.has(key)) byRoot.set(key, tag);
      if (key.length > maxLen) maxLen = key.length;
    }
  }
  // hasLen[k] !== 0 iff some root has length k: skips the slice + hash of most prefixes.
  const hasLen = new Uint8Array(maxLen + 1);
  for (const key of byRoot.keys()) hasLen[key.length] = 1;
  const rootCount = byRoot.size + (slashRoot === null ? 0 : 1);

  const tag = (path: string): JobTag | null => {
    if (byRoot.size === 0) return path.charCodeAt(0) === SLASH ? slashRoot : null;
    // Placeholders ("<overflow>", "<fid-unresolved>", "<fd:N>", "") are not absolute: never tagged.
    if (path.charCodeAt(0) !== SLASH) return null;
    let end = path.length;
    if (end <= maxLen && hasLen[end] !== 0) {
      const t = byRoot.get(path);
      if (t !== undefined) return t;
    }
    // Every '/' at index i > 0 makes path[0, i) a candidate: path = root + "/" + rest.
    for (;;) {
      end = path.lastIndexOf("/", end - 1);
      if (end <= 0) break;
      if (end <= maxLen && hasLen[end] !== 0) {
        const t = byRoot.get(path.slice(0, end));
        if (t !== undefined) return t;
      }
    }
    return slashRoot;
  };
  return { tag, rootCount };
}
