// Permission mode's runtime settings (src/lifecycle/runtime-env.ts): what is added, what the user's own
// values keep, and that the daemon takes out again exactly what it added.
import { describe, expect, test } from "bun:test";
import { forgetRuntimeEnv, PERM_RUNTIME_ENV, RUNTIME_ENV_MARK, runtimeEnvEntries, runtimeEnvToAdd } from "../../src/lifecycle/runtime-env.ts";

describe("permission mode runtime environment", () => {
  test("adds mimalloc's purge delay -1 and JSC's FTL tier off, each only where the user set nothing", () => {
    expect(PERM_RUNTIME_ENV.map(([k, v]) => `${k}=${v}`)).toEqual(["MIMALLOC_PURGE_DELAY=-1", "BUN_JSC_useFTLJIT=0"]);
    expect(runtimeEnvToAdd({ PATH: "/bin" })).toEqual([...PERM_RUNTIME_ENV]);
    expect(runtimeEnvToAdd({ MIMALLOC_PURGE_DELAY: "10" })).toEqual([["BUN_JSC_useFTLJIT", "0"]]);
    expect(runtimeEnvToAdd({ MIMALLOC_PURGE_DELAY: "", BUN_JSC_useFTLJIT: "1" })).toEqual([]);
    // Once added (the mark is there), never again: no second re-execution.
    expect(runtimeEnvToAdd({ [RUNTIME_ENV_MARK]: "" })).toEqual([]);
  });

  test("the entries carry the mark listing the names added; nothing to add, no mark", () => {
    expect(runtimeEnvEntries([["BUN_JSC_useFTLJIT", "0"]])).toEqual([
      ["BUN_JSC_useFTLJIT", "0"],
      [RUNTIME_ENV_MARK, "BUN_JSC_useFTLJIT"],
    ]);
    expect(Object.fromEntries(runtimeEnvEntries(PERM_RUNTIME_ENV))[RUNTIME_ENV_MARK]).toBe("MIMALLOC_PURGE_DELAY,BUN_JSC_useFTLJIT");
    expect(runtimeEnvEntries([])).toEqual([]);
  });

  test("forgetting removes what the mark lists and the mark; the user's values and other names stay", () => {
    const env: Record<string, string | undefined> = {
      MIMALLOC_PURGE_DELAY: "10",
      BUN_JSC_useFTLJIT: "0",
      PATH: "/bin",
      [RUNTIME_ENV_MARK]: "BUN_JSC_useFTLJIT,PATH",
    };
    expect(forgetRuntimeEnv(env)).toEqual(["BUN_JSC_useFTLJIT=0"]);
    // PATH is not one of ours even though the mark names it.
    expect(env).toEqual({ MIMALLOC_PURGE_DELAY: "10", PATH: "/bin" });
    // No mark: null, and the program may add the settings.
    expect(forgetRuntimeEnv(env)).toBeNull();
    expect(forgetRuntimeEnv({ [RUNTIME_ENV_MARK]: "" })).toEqual([]);
  });
});
