// Test-only barrel of src/config (the daemon imports each module directly): command line + config files → one frozen Config.
export * from "../../src/config/types.ts";
export { DEFAULTS, mainCommand, parseCommandLine, type ParseOptions } from "../../src/config/cli.ts";
export {
  CONFIG_KEYS,
  loadConfigFile,
  parseConfigText,
  parseU32,
  type ConfigFileContents,
  type ConfigKeyDef,
  type ConfigKeyKind,
  type ScalarSettings,
} from "../../src/config/file.ts";
export { mainArgs, renderHelp, type OptionName } from "../../src/config/help.ts";
export { isGlobPattern, resolveCanaryPattern, resolveFilePath, resolveMarkPath, stripTrailingSlashes } from "../../src/config/paths.ts";
