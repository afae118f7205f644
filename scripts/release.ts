// `npm run release`: one standalone binary per supported host, plus SHA256SUMS, in dist/ (or
// $RELEASE_DIR):
//   fanotifyd-<version>-linux-x64           x86-64 with AVX2 (Haswell, 2013, and later)
//   fanotifyd-<version>-linux-x64-baseline  any x86-64 (no AVX2 needed: older or emulated CPUs)
//   fanotifyd-<version>-linux-arm64         aarch64 (ARMv8, e.g. Graviton, Ampere)
// Bun fetches each target's runtime from the npm registry (@oven/bun-linux-*) the first time; if a
// target cannot be fetched or built, the script names it and exits 1 (nothing partial is checksummed).
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import pkg from "../package.json" with { type: "json" };
import { compileBinary, type ReleaseTarget } from "./compile.ts";

export const RELEASE_TARGETS: ReadonlyArray<readonly [suffix: string, target: ReleaseTarget]> = [
  ["linux-x64", "bun-linux-x64"],
  ["linux-x64-baseline", "bun-linux-x64-baseline"],
  ["linux-arm64", "bun-linux-arm64"],
];

const dir = resolve(process.env.RELEASE_DIR ?? "dist");
mkdirSync(dir, { recursive: true });
rmSync(join(dir, "SHA256SUMS"), { force: true });
const sums: string[] = [];
for (const [suffix, target] of RELEASE_TARGETS) {
  const outfile = join(dir, `fanotifyd-${pkg.version}-${suffix}`);
  const t0 = performance.now();
  const problem = await compileBinary(outfile, target);
  if (problem !== null) {
    console.error(
      `release: cannot build ${basename(outfile)} (bun target ${target}): ${problem}\n` +
        `release: Bun fetches the ${target} runtime from the npm registry; check that it is reachable.`,
    );
    process.exit(1);
  }
  const hash = createHash("sha256").update(readFileSync(outfile)).digest("hex");
  sums.push(`${hash}  ${basename(outfile)}`);
  console.log(`built ${outfile} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
}
writeFileSync(join(dir, "SHA256SUMS"), `${sums.join("\n")}\n`);
console.log(`wrote ${join(dir, "SHA256SUMS")}`);
