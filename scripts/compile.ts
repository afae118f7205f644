// The one `bun build --compile` recipe, used by build.ts (./fanotifyd for this machine) and by
// scripts/release.ts (one binary per target). Each Worker (the reader, the handle opener) must be an entrypoint or it is
// missing from the binary at run time (design.md).
export type ReleaseTarget = "bun-linux-x64" | "bun-linux-x64-baseline" | "bun-linux-arm64";

/** Builds `outfile`; returns null on success or a one-line reason. */
export async function compileBinary(outfile: string, target?: ReleaseTarget): Promise<string | null> {
  try {
    const result = await Bun.build({
      entrypoints: ["./src/main.ts", "./src/reader/worker.ts", "./src/reader/handle-opener-worker.ts"],
      compile: target === undefined ? { outfile } : { outfile, target },
      target: "bun",
      format: "esm",
      minify: true,
      bytecode: true,
      sourcemap: "none",
    });
    if (result.success) return null;
    return result.logs.map((l) => String(l)).join("; ") || "bun build failed";
  } catch (err) {
    return err instanceof Error ? err.message.split("\n")[0]! : String(err);
  }
}
