// Test hooks, honoured only when the daemon starts with FANOTIFYD_TEST_HOOKS=1 (the integration tests set
// it; nothing else should): SIGWINCH stalls the reader thread (it blocks in Atomics.wait instead of
// polling, like a stuck thread) and a second SIGWINCH releases it. /healthz must then turn 503.
export interface StallableReader {
  setStalled(stalled: boolean): void;
}

export function installTestHooks(reader: StallableReader, log: (msg: string) => void): void {
  if (process.env.FANOTIFYD_TEST_HOOKS !== "1") return;
  let stalled = false;
  process.on("SIGWINCH", () => {
    stalled = !stalled;
    log(`test hook: reader ${stalled ? "stalled" : "released"}`);
    reader.setStalled(stalled);
  });
}
