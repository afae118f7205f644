// `--format text`: the output file/stdout gets one readable line per record, exactly as
// `fanotifyd tail --pretty` prints it (the same formatPretty). Subscribers still get JSONL.
import type { LineSink } from "./line-sink.ts";
import { parseRecordLine } from "../tail/filter.ts";
import { formatPretty } from "../tail/format.ts";

export class TextLineSink implements LineSink {
  constructor(private readonly inner: LineSink) {}

  write(chunk: Buffer, records: number, done?: () => void): void {
    const out: string[] = [];
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      if (nl < 0) break;
      const rec = parseRecordLine(chunk.subarray(start, nl));
      const text = rec === null ? null : formatPretty(rec);
      out.push(text ?? chunk.toString("latin1", start, nl));
      start = nl + 1;
    }
    done?.();
    if (out.length > 0) this.inner.write(Buffer.from(`${out.join("\n")}\n`, "latin1"), records);
  }
}
