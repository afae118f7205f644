// Public surface of src/config: command line + config files → one frozen Config.
export * from "./types.ts";
export { DEFAULTS, mainCommand, parseCommandLine, type ParseOptions } from "./cli.ts";
export {
  CONFIG_KEYS,
  loadConfigFile,
  parseConfigText,
  parseU32,
  type ConfigFileContents,
  type ConfigKeyDef,
  type ConfigKeyKind,
  type ScalarSettings,
} from "./file.ts";
export { mainArgs, renderHelp, type OptionName } from "./help.ts";
export { isGlobPattern, resolveCanaryPattern, resolveFilePath, resolveMarkPath, stripTrailingSlashes } from "./paths.ts";
