// Named limits and defaults, in one place. The CLI's defaults (src/config/cli.ts DEFAULTS, and so the
// config file's), the sinks, the hooks, the socket hub, the policy tables and the daemon read them here.

// ---- settings a user can change (behavior.md; --help names the same numbers) ----
export const DEFAULT_BURST_THRESHOLD = 0;
export const DEFAULT_BURST_WINDOW_MS = 1000;
export const DEFAULT_HOOK_COOLDOWN_MS = 5000;
export const DEFAULT_HOOK_MAX_CONCURRENT = 8;
export const DEFAULT_HOOK_TIMEOUT_MS = 30_000;
/** Per-subscriber queue of the socket hub (B9). */
export const DEFAULT_SOCKET_QUEUE_BYTES = 1024 * 1024;
/** The output's queue before records are dropped (B10). */
export const DEFAULT_OUTPUT_QUEUE_BYTES = 16 * 1024 * 1024;

// ---- fixed limits ----
/** Socket subscribers at once; more are refused. */
export const MAX_SUBSCRIBERS = 64;
/** Output backlog beyond which the reader's batches stop being acknowledged (the kernel queue takes over). */
export const OUTPUT_HOLD_BYTES = 4 * 1024 * 1024;
/** Entries of each per-process policy table (cooldowns, burst windows, burst denies). */
export const MAX_TRACKED_PROCESSES = 65536;
/** A hook's output line kept in the log (longer lines are truncated). */
export const HOOK_LINE_MAX = 4096;
/** A hook's output read in all; the rest is discarded. */
export const HOOK_OUTPUT_MAX = 64 * 1024;
