// The strict getopt-style walk shared by the daemon's command line and `fanotifyd tail`:
// `--opt value`, `--opt=value`, bundled short options (`-fv`, `-wPATH`), `--` ends options, and no
// unique-prefix abbreviations (B13). Which options exist comes from each command's citty table.
import { UsageError } from "./types.ts";

export interface GetoptOption {
  readonly type: "string" | "boolean";
}

export type GetoptItem<O> =
  | { readonly kind: "option"; readonly opt: O; readonly value: string | undefined }
  | { readonly kind: "positional"; readonly arg: string; readonly afterDashDash: boolean };

/** Walks argv in order; throws a one-line UsageError naming the culprit. */
export function* getopt<O extends GetoptOption>(
  argv: readonly string[],
  byLong: ReadonlyMap<string, O>,
  byShort: ReadonlyMap<string, O>,
): Generator<GetoptItem<O>> {
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i++];
    if (arg === "--") {
      for (; i < argv.length; i++) yield { kind: "positional", arg: argv[i], afterDashDash: true };
      return;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const opt = byLong.get(name);
      if (opt === undefined) throw new UsageError(`unrecognized option '--${name}'`);
      let value: string | undefined;
      if (opt.type === "boolean") {
        if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
      } else if (eq >= 0) {
        value = arg.slice(eq + 1);
      } else {
        if (i >= argv.length) throw new UsageError(`option '--${name}' requires an argument`);
        value = argv[i++];
      }
      yield { kind: "option", opt, value };
      continue;
    }
    if (arg.startsWith("-") && arg !== "-") {
      for (let j = 1; j < arg.length; j++) {
        const ch = arg[j];
        const opt = byShort.get(ch);
        if (opt === undefined) throw new UsageError(`invalid option -- '${ch}'`);
        let value: string | undefined;
        if (opt.type === "string") {
          if (j + 1 < arg.length) value = arg.slice(j + 1);
          else if (i < argv.length) value = argv[i++];
          else throw new UsageError(`option requires an argument -- '${ch}'`);
          j = arg.length; // the rest of the cluster was the argument
        }
        yield { kind: "option", opt, value };
      }
      continue;
    }
    yield { kind: "positional", arg, afterDashDash: false };
  }
}
