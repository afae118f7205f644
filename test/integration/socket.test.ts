// The subscriber socket against a running daemon (behavior.md A12 socket part as amended by B9): byte
// identity with the output file, slow subscribers dropped, the subscriber cap, a non-socket at the path,
// and `fanotifyd tail --type alert`.

import { afterEach, describe, expect, test } from "bun:test";
import net from "node:net";
import { lstatSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { errno, strerror, sysClose, sysPoll } from "../../ffi/libc.ts";
import { AF_UNIX, MSG_DONTWAIT, SOCK_CLOEXEC, sockaddrUn, sysConnect, sysRecv, sysSocket } from "../../ffi/socket.ts";
import {
  BIN,
  cleanupAll,
  createFilesCommand,
  hasEvent,
  makeTmpDir,
  makeTmpfs,
  parseJsonl,
  readJsonl,
  requestStats,
  requireIntegration,
  run,
  runDaemon,
  spawnProcess,
  startDaemon,
  waitFor,
  waitForRecord,
  waitSubscribers,
  type Daemon,
  stopClean,
} from "./harness.ts";

const RUN = requireIntegration();
const SOCK_STREAM = 1;

interface Client {
  /** Everything received so far, as bytes. */
  bytes(): Buffer;
  /** The last (up to) n bytes received, cheaply. */
  tailText(n: number): string;
  isClosed(): boolean;
  /** Resolves once the daemon closed the connection (EOF or error). */
  closed: Promise<void>;
  end(): void;
}

const liveClients = new Set<Client>();

/** A reading subscriber (Bun.connect): collects every byte until the daemon closes the connection. */
async function connectClient(path: string): Promise<Client> {
  const chunks: Buffer[] = [];
  let isClosed = false;
  let resolveClosed: () => void = () => {};
  const closed = new Promise<void>((r) => {
    resolveClosed = r;
  });
  const done = () => {
    isClosed = true;
    resolveClosed();
  };
  const sock = await Bun.connect({
    unix: path,
    socket: {
      data(_s, chunk) {
        chunks.push(Buffer.from(chunk));
      },
      close: done,
      end: done,
      error: done,
    },
  });
  const c: Client = {
    bytes: () => Buffer.concat(chunks),
    tailText: (n) => {
      const parts: Buffer[] = [];
      let len = 0;
      for (let i = chunks.length - 1; i >= 0 && len < n; i--) {
        parts.unshift(chunks[i]!);
        len += chunks[i]!.length;
      }
      return Buffer.concat(parts).toString("latin1");
    },
    isClosed: () => isClosed,
    closed,
    end: () => {
      liveClients.delete(c);
      sock.terminate();
    },
  };
  liveClients.add(c);
  return c;
}

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * connect() a plain AF_UNIX stream socket (through ffi/socket.ts), send nothing, and read until EOF or an
 * error (polling, never blocking the event loop), at most timeoutMs.
 */
async function rawConnectAndRead(path: string, timeoutMs: number): Promise<{ bytes: number; eof: boolean; error: string | null }> {
  const sa = sockaddrUn(path);
  if (sa === null) throw new Error(`socket path too long: ${path}`);
  const fd = sysSocket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error(`socket: ${strerror(errno())}`);
  try {
    if (sysConnect(fd, sa.addr, sa.len) !== 0) return { bytes: 0, eof: false, error: `connect: ${strerror(errno())}` };
    const pfd = new Uint8Array(8);
    const dv = new DataView(pfd.buffer);
    dv.setInt32(0, fd, true);
    dv.setInt16(4, 1 /* POLLIN */, true);
    const buf = new Uint8Array(65536);
    let bytes = 0;
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (sysPoll(pfd, 1, 0) > 0) {
        const n = sysRecv(fd, buf, buf.length, MSG_DONTWAIT);
        if (n === 0) return { bytes, eof: true, error: null };
        if (n < 0) return { bytes, eof: false, error: `recv: ${strerror(errno())}` };
        bytes += n;
        continue;
      }
      await Bun.sleep(5);
    }
    return { bytes, eof: false, error: `no EOF within ${timeoutMs} ms` };
  } finally {
    sysClose(fd);
  }
}

async function cleanup(): Promise<void> {
  for (const c of [...liveClients]) c.end();
  await cleanupAll();
}

/** `sub` (what a subscriber received) is exactly the output file's text from some line start to its end. */
function expectFileSuffix(fileText: string, sub: string): void {
  expect(sub.length).toBeGreaterThan(0);
  expect(sub.endsWith("\n")).toBe(true);
  expect(fileText.endsWith(sub)).toBe(true);
  const start = fileText.length - sub.length;
  expect(start === 0 || fileText[start - 1] === "\n").toBe(true);
}

describe.skipIf(!RUN)("subscribers receive the file's lines", () => {
  afterEach(cleanup);

  test("two subscribers get the same bytes as the output file from their connection on, final stats line included", async () => {
    const fs = makeTmpfs();
    const runFs = makeTmpfs();
    const out = join(runFs.dir, "out.jsonl");
    const sock = join(runFs.dir, "s.sock");
    const d = await startDaemon(["-w", fs.dir, "-o", out, "--socket", sock]);
    expect(lstatSync(sock).isSocket()).toBe(true);
    const c1 = await connectClient(sock);
    const c2 = await connectClient(sock);
    await waitSubscribers(d, out, 2);

    await run(["sh", "-c", 'for i in $(seq 0 49); do echo "line $i" > "$1/f$i"; done', "sh", fs.dir]);
    await waitForRecord(out, (r) => r.path === join(fs.dir, "f49") && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    await stopClean(d);
    await withTimeout(Promise.all([c1.closed, c2.closed]), 3000, "both subscribers to see EOF");

    const fileText = readFileSync(out, "latin1");
    const lastLine = fileText.slice(fileText.lastIndexOf("\n", fileText.length - 2) + 1);
    expect(JSON.parse(lastLine).type).toBe("stats");
    for (const c of [c1, c2]) {
      const sub = c.bytes().toString("latin1");
      expectFileSuffix(fileText, sub);
      const recs = parseJsonl(sub);
      expect(recs[recs.length - 1]!.type).toBe("stats"); // the final stats line reaches subscribers too
      for (let i = 0; i < 50; i++) {
        expect(recs.some((r) => r.path === join(fs.dir, `f${i}`) && hasEvent(r, "CLOSE_WRITE"))).toBe(true);
      }
    }
    // both were connected before the writes: they got the same 50 files' records, byte for byte
    const tail = (b: Buffer) => {
      const s = b.toString("latin1");
      return s.slice(s.indexOf(`"path":"${join(fs.dir, "f0")}"`));
    };
    expect(tail(c1.bytes())).toBe(tail(c2.bytes()));
  }, 20_000);
});

/** A connected node:net client that never reads (paused from the start): the slow subscriber. */
async function connectNonReading(path: string) {
  const chunks: Buffer[] = [];
  let ended = false;
  const slow = net.createConnection({ path });
  slow.pause();
  slow.on("data", (b: Buffer) => chunks.push(b));
  const closed = new Promise<void>((r) => {
    slow.on("end", () => {
      ended = true;
      r();
    });
    slow.on("close", () => r());
    slow.on("error", () => r());
  });
  await new Promise<void>((r, j) => {
    slow.once("connect", () => r());
    slow.once("error", j);
  });
  return {
    /** Start reading: what the kernel held, then EOF if the daemon closed us. */
    resume: () => slow.resume(),
    closed,
    ended: () => ended,
    text: () => Buffer.concat(chunks).toString("latin1"),
    destroy: () => slow.destroy(),
  };
}

/**
 * Waits until the reading subscriber has the record of `path`; fails at once (with the daemon's drop
 * lines) if the daemon closed it instead.
 */
async function waitAtReader(fast: Client, path: string, d: Daemon, timeoutMs: number): Promise<void> {
  const needle = `"path":"${path}"`;
  await waitFor(
    () => {
      if (fast.tailText(8192).includes(needle)) return true;
      if (fast.isClosed()) {
        const drops = d.stderr().split("\n").filter((l) => l.includes("dropping slow subscriber"));
        throw new Error(`the reading subscriber was dropped (it had read everything sent to it); daemon log:\n${drops.join("\n")}`);
      }
      return false;
    },
    timeoutMs,
    `the record of ${path} at the reading subscriber`,
    d,
  );
}

async function slowSubscriberScenario(
  writer: (dir: string) => string[],
  lastName: string,
  minEvents: number,
  queueBytes = 65536,
): Promise<void> {
  const fs = makeTmpfs(128);
  const runFs = makeTmpfs(256);
  const out = join(runFs.dir, "out.jsonl");
  const sock = join(runFs.dir, "s.sock");
  const conf = join(makeTmpDir(), "socket.conf");
  writeFileSync(conf, `socket_queue_bytes ${queueBytes}\n`);
  const d = await startDaemon(["--config", conf, "-w", fs.dir, "-o", out, "--socket", sock]);
  const slow = await connectNonReading(sock);
  const fast = await connectClient(sock);
  await waitSubscribers(d, out, 2);

  // Keep this process light while the stream flows (no parsing of the growing output file): the
  // reading subscriber lives in this event loop.
  await run(writer(fs.dir));
  await waitAtReader(fast, join(fs.dir, lastName), d, 20_000);
  await waitFor(() => d.stderr().includes("dropping slow subscriber"), 5000, "the slow subscriber to be dropped", d);
  const st = await requestStats(d, out);
  expect(st.subscribers_dropped).toBe(1);
  expect(st.subscribers).toBe(1);
  // The dropped one resumes while the daemon still runs: it gets the rest of the line the kernel
  // held the start of, then EOF.
  slow.resume();
  await withTimeout(slow.closed, 15_000, "the dropped subscriber to see EOF");
  await stopClean(d);
  await withTimeout(fast.closed, 3000, "the reading subscriber to see EOF");

  const fileText = readFileSync(out, "latin1");
  const fastText = fast.bytes().toString("latin1");
  expectFileSuffix(fileText, fastText); // every line since it connected, byte for byte
  const fastRecs = parseJsonl(fastText);
  expect(fastRecs.filter((r) => r.type === "event").length).toBeGreaterThanOrEqual(minEvents);
  expect(fastRecs[fastRecs.length - 1]!.type).toBe("stats");

  // the slow one read what the kernel held for it, then EOF
  expect(slow.ended()).toBe(true);
  const slowText = slow.text();
  expect(slowText.length).toBeLessThan(fileText.length / 2);
  // whole lines only, a contiguous piece of the output
  expect(slowText.endsWith("\n")).toBe(true);
  expect(() => parseJsonl(slowText)).not.toThrow();
  expect(fileText.includes(slowText)).toBe(true);
  slow.destroy();
}

describe.skipIf(!RUN)("slow subscriber", () => {
  afterEach(cleanup);

  test("paced writer (100 bursts of 30 files, socket_queue_bytes 65536): a non-reading subscriber is dropped (EOF, log line), a reading one gets every line", async () => {
    // Each burst is ~25 KB of records, well under the queue bound, so a subscriber that reads keeps up;
    // the non-reading one falls ~2 MB behind.
    const script = 'cd "$1" && j=0; while [ $j -lt 100 ]; do i=0; while [ $i -lt 30 ]; do echo $i > f$j-$i; i=$((i+1)); done; j=$((j+1)); sleep 0.005; done';
    await slowSubscriberScenario((dir) => ["sh", "-c", script, "sh", dir], "f99-29", 3000);
  }, 30_000);

  test("fast writer (~80k records, socket_queue_bytes 4 MiB): a non-reading subscriber is dropped, a reading `fanotifyd tail` gets every line", async () => {
    // The reading subscriber is a separate process (tail into a file), so that it reads while the
    // burst flows, as a real consumer does; this test process only watches. The burst (~20 MB) is
    // more than the kernel buffer (sized to the bound) plus the bound, but under the hard cap: the
    // non-reading subscriber is dropped by the hub's one-second rule, while the reader, even if the
    // CPU is busy for a moment, is never that far behind for long.
    const N = 40_000; // CREATE + OPEN,CLOSE_WRITE per file: about 80k records, ~20 MB
    const fs = makeTmpfs(128);
    const runFs = makeTmpfs(256);
    const out = join(runFs.dir, "out.jsonl");
    const sock = join(runFs.dir, "s.sock");
    const tailOut = join(runFs.dir, "tail.jsonl");
    const conf = join(makeTmpDir(), "socket.conf");
    writeFileSync(conf, "socket_queue_bytes 4194304\n");
    const d = await startDaemon(["-c", conf, "-w", fs.dir, "-o", out, "--socket", sock]);
    const slow = await connectNonReading(sock);
    const reader = spawnProcess(["sh", "-c", 'exec "$0" tail --socket "$1" > "$2"', BIN, sock, tailOut]);
    await waitSubscribers(d, out, 2);
    await run(createFilesCommand(fs.dir, N));
    await waitFor(() => d.stderr().includes("dropping slow subscriber"), 10_000, "the slow subscriber to be dropped", d);
    const st = await requestStats(d, out);
    expect(st.subscribers_dropped).toBe(1);
    expect(st.subscribers).toBe(1);
    await stopClean(d);
    const done = await reader.wait(5000);
    expect(done.code).toBe(0); // tail exits 0 when the daemon goes away
    const fileText = readFileSync(out, "latin1");
    const tailText = readFileSync(tailOut, "latin1");
    expectFileSuffix(fileText, tailText); // every line since it connected, byte for byte
    const recs = parseJsonl(tailText);
    expect(recs.filter((r) => r.type === "event").length).toBeGreaterThanOrEqual(N);
    expect(recs[recs.length - 1]!.type).toBe("stats");
    slow.destroy();
  }, 30_000);
});

describe.skipIf(!RUN)("subscriber cap", () => {
  afterEach(cleanup);

  test("the 65th subscriber reads EOF at once; the 64 others keep receiving", async () => {
    const fs = makeTmpfs();
    const runFs = makeTmpfs();
    const out = join(runFs.dir, "out.jsonl");
    const sock = join(runFs.dir, "s.sock");
    const d = await startDaemon(["-w", fs.dir, "-o", out, "--socket", sock]);
    const clients: Client[] = [];
    for (let i = 0; i < 64; i++) clients.push(await connectClient(sock));
    await waitSubscribers(d, out, 64);

    // the 65th: a plain blocking connect() (it completes once queued), then read: EOF, no data
    expect(await rawConnectAndRead(sock, 3000)).toEqual({ bytes: 0, eof: true, error: null });
    await waitFor(() => d.stderr().includes("refusing subscriber: cap 64 reached"), 3000, "the refusal log line", d);
    const st = await requestStats(d, out);
    expect(st.subscribers).toBe(64);
    expect(st.subscribers_refused).toBe(1);

    writeFileSync(join(fs.dir, "after-cap"), "x\n");
    const marker = `"path":"${join(fs.dir, "after-cap")}"`;
    await waitFor(() => clients.every((c) => c.bytes().toString("latin1").includes(marker)), 5000, "all 64 subscribers to get a record", d);
    expect(clients.filter((c) => c.isClosed()).length).toBe(0);
    await stopClean(d);
    await withTimeout(Promise.all(clients.map((c) => c.closed)), 3000, "all 64 subscribers to see EOF");
  }, 20_000);
});

describe.skipIf(!RUN)("socket path", () => {
  afterEach(cleanup);

  test("a regular file at the socket path is left alone and start-up fails with exit 1 naming the path", async () => {
    const fs = makeTmpfs();
    const runFs = makeTmpfs();
    const out = join(runFs.dir, "out.jsonl");
    const sock = join(runFs.dir, "not-a-socket");
    writeFileSync(sock, "precious data\n");
    const r = await runDaemon(["-f", "-w", fs.dir, "-o", out, "--socket", sock], 10_000);
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(sock);
    expect(r.stderr).not.toContain("fanotifyd started");
    expect(lstatSync(sock).isFile()).toBe(true);
    expect(readFileSync(sock, "utf8")).toBe("precious data\n");
  }, 20_000);
});

describe.skipIf(!RUN)("fanotifyd tail", () => {
  afterEach(cleanup);

  test("--type alert prints only the alert lines, byte-identical, and exits 0 when the daemon stops", async () => {
    const fs = makeTmpfs();
    const runFs = makeTmpfs();
    const out = join(runFs.dir, "out.jsonl");
    const sock = join(runFs.dir, "s.sock");
    const CANARY = join(fs.dir, "canary");
    writeFileSync(CANARY, "secret\n");
    const d = await startDaemon(["-w", fs.dir, "--canary", CANARY, "--hook-cooldown-ms", "0", "-o", out, "--socket", sock]);
    const tail = spawnProcess([BIN, "tail", "--socket", sock, "--type", "alert"]);
    await waitSubscribers(d, out, 1);

    const cat1 = await run(["cat", CANARY]);
    await run(["sh", "-c", 'for i in 1 2 3 4 5; do echo $i > "$1/n$i"; done', "sh", fs.dir]);
    const cat2 = await run(["cat", CANARY]);
    await waitForRecord(out, (r) => r.type === "alert" && r.pid === cat2.pid, 5000, { daemon: d });
    await waitForRecord(out, (r) => r.path === join(fs.dir, "n5") && hasEvent(r, "CLOSE_WRITE"), 5000, { daemon: d });
    await tail.waitFor("stdout", (t) => t.includes(`"pid":${cat2.pid},`), 5000, "the second alert on tail's stdout");
    await stopClean(d);
    const res = await tail.wait(5000);
    expect({ code: res.code, timedOut: res.timedOut }).toEqual({ code: 0, timedOut: false });

    const fileLines = readFileSync(out, "latin1").split("\n").filter((l) => l !== "");
    const alertLines = fileLines.filter((l) => (JSON.parse(l) as { type: string }).type === "alert");
    expect(alertLines.length).toBe(2);
    expect(fileLines.length).toBeGreaterThan(alertLines.length + 5); // events and stats were there too
    expect(tail.stdout()).toBe(alertLines.join("\n") + "\n");
    const recs = parseJsonl(tail.stdout());
    expect(recs.map((r) => [r.type, r.kind, r.pid])).toEqual([
      ["alert", "canary", cat1.pid],
      ["alert", "canary", cat2.pid],
    ]);
    expect(readJsonl(out).some((r) => r.type === "stats")).toBe(true);
  }, 20_000);
});
