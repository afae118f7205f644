export {};
// Builds the single standalone executable ./fanotifyd (design.md): the reader Worker must be a
// second entrypoint or it is missing from the binary at run time.
// FANOTIFYD_OUT builds elsewhere (e.g. while tests run the default binary).
const outfile = process.env.FANOTIFYD_OUT ?? "./fanotifyd";
const result = await Bun.build({
  entrypoints: ["./src/main.ts", "./src/reader/worker.ts"],
  compile: { outfile },
  target: "bun",
  format: "esm",
  minify: true,
  bytecode: true,
  sourcemap: "none",
});
if (!result.success) {
  for (const log of result.logs) console.error(log);
  process.exit(1);
}
console.log(`built ${outfile}`);
