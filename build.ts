// Builds the single standalone executable ./fanotifyd (design.md) for this machine.
// FANOTIFYD_OUT builds elsewhere (e.g. while tests run the default binary).
import { compileBinary } from "./scripts/compile.ts";

const outfile = process.env.FANOTIFYD_OUT ?? "./fanotifyd";
const problem = await compileBinary(outfile);
if (problem !== null) {
  console.error(problem);
  process.exit(1);
}
console.log(`built ${outfile}`);
