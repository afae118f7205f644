// What the pipeline writes to: the output file (OutputWriter), its text form (TextLineSink) and the
// socket's subscribers (SocketHub).

export interface LineSink {
  /**
   * `chunk` is whole lines, each ending in "\n"; the sink may keep it (it is not modified while
   * kept). With `done`, the sink calls it exactly once when it no longer needs the bytes (written,
   * copied or dropped), and the caller may then reuse them (issue 11: the pipeline's line buffers
   * go round); a sink that never calls it leaves them to the garbage collector.
   */
  write(chunk: Buffer, records: number, done?: () => void): void;
}
