// What the pipeline writes to: the output file (OutputWriter), its text form (TextLineSink) and the
// socket's subscribers (SocketHub).

export interface LineSink {
  /** `chunk` is whole lines, each ending in "\n"; the sink may keep it (it is never modified). */
  write(chunk: Buffer, records: number): void;
}
