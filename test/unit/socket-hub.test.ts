import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { SocketHub, type SocketHubLogFn } from "../../src/sinks/socket-hub.ts";

let dir = "";
let seq = 0;
const hubs: SocketHub[] = [];
const clients: net.Socket[] = [];

beforeAll(() => {
  dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "fanotifyd-hub-")));
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  for (const h of hubs.splice(0)) await h.close();
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function sockPath(): string {
  return path.join(dir, `s${seq++}.sock`);
}

interface LogLine {
  level: string;
  msg: string;
}
function recorder(): { log: SocketHubLogFn; lines: LogLine[] } {
  const lines: LogLine[] = [];
  return { log: (level, msg) => lines.push({ level, msg }), lines };
}

async function listen(p: string, opts: Parameters<typeof SocketHub.listen>[1] = {}): Promise<SocketHub> {
  const hub = await SocketHub.listen(p, opts);
  hubs.push(hub);
  return hub;
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(2);
  }
}

interface Client {
  sock: net.Socket;
  data(): Buffer;
  /** Resolves when the client has read EOF (or the connection broke). */
  ended: Promise<void>;
  isEnded(): boolean;
}

/** A node:net client that records everything it reads. `paused` = connect but never read. */
function connect(p: string, paused = false): Client {
  const sock = net.createConnection(p);
  clients.push(sock);
  const chunks: Buffer[] = [];
  let ended = false;
  if (paused) sock.pause();
  sock.on("data", (d: Buffer) => chunks.push(Buffer.from(d)));
  const endedP = new Promise<void>((resolve) => {
    const done = (): void => {
      ended = true;
      resolve();
    };
    sock.on("end", done);
    sock.on("close", done);
    sock.on("error", done);
  });
  return { sock, data: () => Buffer.concat(chunks), ended: endedP, isEnded: () => ended };
}

async function connectAndWait(hub: SocketHub, p: string, paused = false): Promise<Client> {
  const before = hub.counters.subscribersConnected + hub.counters.subscribersRefused;
  const c = connect(p, paused);
  await waitFor(() => hub.counters.subscribersConnected + hub.counters.subscribersRefused > before, "accept");
  return c;
}

/** A line of exactly `len` bytes including the newline, carrying its index. */
function numbered(i: number, len: number): string {
  const head = `{"n":${i},"pad":"`;
  return head + "x".repeat(len - head.length - 3) + '"}\n';
}

describe("fan-out", () => {
  test("every subscriber gets identical bytes from the moment it connects", async () => {
    const p = sockPath();
    const hub = await listen(p);
    hub.write("before anyone\n", 1); // no subscribers: nothing to do

    const a = await connectAndWait(hub, p);
    const l1 = '{"type":"event","path":"/tmp/a"}\n';
    hub.write(l1, 1);
    const b = await connectAndWait(hub, p);
    expect(hub.subscriberCount).toBe(2);
    // Byte string: \xe9 and \xff are single bytes >= 0x80 (invalid UTF-8 on purpose).
    const l2 = '{"type":"event","path":"/tmp/caf\xe9\xff"}\n{"type":"alert","kind":"canary"}\n';
    hub.write(l2, 2);

    const expectA = Buffer.from(l1 + l2, "latin1");
    const expectB = Buffer.from(l2, "latin1");
    await waitFor(() => a.data().length >= expectA.length && b.data().length >= expectB.length, "data");
    await hub.close();
    await Promise.all([a.ended, b.ended]);
    expect(a.data().equals(expectA)).toBe(true);
    expect(b.data().equals(expectB)).toBe(true);
    expect(b.data().includes(0xff)).toBe(true);
    expect(hub.counters.subscribersConnected).toBe(2);
  });

  test("bytes a client sends are read and ignored", async () => {
    const p = sockPath();
    const hub = await listen(p);
    const a = await connectAndWait(hub, p);
    a.sock.write("hello daemon\n".repeat(1000));
    await Bun.sleep(20);
    hub.write("x\n", 1);
    await waitFor(() => a.data().length >= 2, "data");
    expect(a.data().toString()).toBe("x\n");
    expect(hub.subscriberCount).toBe(1);
  });

  test("a client that disconnects is removed", async () => {
    const p = sockPath();
    const hub = await listen(p);
    const a = await connectAndWait(hub, p);
    await connectAndWait(hub, p);
    expect(hub.subscriberCount).toBe(2);
    a.sock.destroy();
    await waitFor(() => hub.subscriberCount === 1, "disconnect");
    hub.write("still fine\n", 1);
    expect(hub.counters.subscribersDropped).toBe(0);
  });

  test("the socket file is mode 0660", async () => {
    const p = sockPath();
    await listen(p);
    const st = fs.lstatSync(p);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
    // No temporary name is left next to it.
    expect(fs.readdirSync(dir).filter((n) => n.startsWith(".fanotifyd-"))).toEqual([]);
  });
});

describe("slow subscribers", () => {
  test("what the kernel does not take is queued and delivered in order on drain", async () => {
    const p = sockPath();
    const hub = await listen(p, { queueBytes: 4 * 1024 * 1024 });
    const a = await connectAndWait(hub, p);
    const b = await connectAndWait(hub, p);
    let expected = "";
    for (let round = 0; round < 4; round++) {
      let batch = "";
      for (let k = 0; k < 700; k++) batch += numbered(round * 1000 + k, 997);
      hub.write(batch, 700); // ~700 KB at once: more than a socket buffer holds
      expected += batch;
    }
    const want = Buffer.from(expected, "latin1");
    await waitFor(() => a.data().length >= want.length && b.data().length >= want.length, "both readers");
    expect(a.data().equals(want)).toBe(true);
    expect(b.data().equals(want)).toBe(true);
    expect(hub.counters.subscribersDropped).toBe(0);
  });

  test("a lent chunk (write with done) is released at once: what a subscriber could not take is queued as a copy", async () => {
    const p = sockPath();
    // A bound below the default socket buffer (not raised): the kernel takes ~200 KB, the rest queues.
    const hub = await listen(p, { queueBytes: 200 * 1024 });
    const a = await connectAndWait(hub, p);
    let expected = "";
    for (let round = 0; round < 4; round++) {
      let text = "";
      for (let k = 0; k < 150; k++) text += numbered(round * 1000 + k, 997);
      expected += text;
      const lent = Buffer.from(text, "latin1");
      let released = 0;
      hub.write(lent, 150, () => released++);
      expect(released).toBe(1);
      lent.fill(0x21); // the pipeline reuses it for the next batch
    }
    const want = Buffer.from(expected, "latin1");
    await waitFor(() => a.data().length >= want.length, "the reader");
    expect(a.data().equals(want)).toBe(true);
    expect(hub.counters.subscribersDropped).toBe(0);
  });

  test("a non-reading subscriber is dropped at the queue bound; a reading one gets everything", async () => {
    const p = sockPath();
    const rec = recorder();
    const hub = await listen(p, { queueBytes: 64 * 1024, log: rec.log });
    const fast = await connectAndWait(hub, p);
    const slow = await connectAndWait(hub, p, true);

    let expected = "";
    const lineLen = 1000;
    let i = 0;
    while (expected.length < 1024 * 1024) {
      let batch = "";
      for (let k = 0; k < 16; k++) batch += numbered(i++, lineLen);
      hub.write(batch, 16);
      expected += batch;
      await Bun.sleep(0); // let the reading client read
    }
    const want = Buffer.from(expected, "latin1");
    await waitFor(() => fast.data().length >= want.length, "fast reader");
    expect(fast.data().equals(want)).toBe(true);

    expect(hub.counters.subscribersDropped).toBe(1);
    expect(hub.subscriberCount).toBe(1);
    const drop = rec.lines.find((l) => l.msg.startsWith("dropping slow subscriber"));
    expect(drop?.level).toBe("warn");
    expect(drop?.msg).toMatch(/^dropping slow subscriber fd=\d+ \(queue full: \d+ bytes\)$/);

    // The dropped client reads what the kernel held, then EOF: a prefix of the stream.
    slow.sock.resume();
    await slow.ended;
    const got = slow.data();
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(want.length);
    expect(got.equals(want.subarray(0, got.length))).toBe(true);
    await hub.close();
  });

  test("one write larger than the bound drops a stalled subscriber without hurting the others", async () => {
    const p = sockPath();
    const hub = await listen(p, { queueBytes: 4096 });
    const slow = await connectAndWait(hub, p, true);
    const fast = await connectAndWait(hub, p);
    // Fill the slow client's kernel buffer, a few KiB at a time (the fast one keeps up).
    let sent = "";
    for (let i = 0; hub.counters.subscribersDropped === 0 && i < 10000; i++) {
      const batch = numbered(i, 2000);
      hub.write(batch, 1);
      sent += batch;
      await Bun.sleep(0);
    }
    expect(hub.counters.subscribersDropped).toBe(1);
    await waitFor(() => fast.data().length >= sent.length, "fast reader");
    expect(fast.data().equals(Buffer.from(sent, "latin1"))).toBe(true);
    slow.sock.resume();
    await slow.ended;
  });
});

describe("subscriber cap", () => {
  test("past the cap a client is accepted and closed at once", async () => {
    const p = sockPath();
    const rec = recorder();
    const hub = await listen(p, { maxSubscribers: 3, log: rec.log });
    const ok = [await connectAndWait(hub, p), await connectAndWait(hub, p), await connectAndWait(hub, p)];
    const extra = await connectAndWait(hub, p);
    await extra.ended;
    expect(extra.data().length).toBe(0);
    expect(hub.subscriberCount).toBe(3);
    expect(hub.counters.subscribersRefused).toBe(1);
    expect(hub.counters.subscribersConnected).toBe(3);
    expect(rec.lines).toContainEqual({ level: "warn", msg: "refusing subscriber: cap 3 reached" });
    expect(rec.lines.filter((l) => l.level === "debug" && /^subscriber connected fd=\d+ \(\d total\)$/.test(l.msg)).length).toBe(3);

    hub.write("to the three\n", 1);
    await waitFor(() => ok.every((c) => c.data().length === 13), "data");
    // A slot freed is a slot usable again.
    ok[0].sock.destroy();
    await waitFor(() => hub.subscriberCount === 2, "disconnect");
    const again = await connectAndWait(hub, p);
    expect(hub.subscriberCount).toBe(3);
    expect(again.isEnded()).toBe(false);
  });

  test("the default cap is 64: the 65th subscriber reads EOF", async () => {
    const p = sockPath();
    const rec = recorder();
    const hub = await listen(p, { log: rec.log });
    const all: Client[] = [];
    for (let i = 0; i < 64; i++) all.push(connect(p));
    await waitFor(() => hub.subscriberCount === 64, "64 subscribers");
    const extra = await connectAndWait(hub, p);
    await extra.ended;
    expect(extra.data().length).toBe(0);
    expect(hub.counters.subscribersRefused).toBe(1);
    expect(rec.lines).toContainEqual({ level: "warn", msg: "refusing subscriber: cap 64 reached" });
    hub.write("hi\n", 1);
    await waitFor(() => all.every((c) => c.data().length === 3), "data to 64");
  });
});

describe("socket path", () => {
  test("a regular file at the path is an error and survives", async () => {
    const p = sockPath();
    fs.writeFileSync(p, "precious");
    await expect(SocketHub.listen(p)).rejects.toThrow(`refusing to replace '${p}': not a socket`);
    expect(fs.readFileSync(p, "utf8")).toBe("precious");
  });

  test("a directory at the path is an error and survives", async () => {
    const p = sockPath();
    fs.mkdirSync(p);
    await expect(SocketHub.listen(p)).rejects.toThrow(`refusing to replace '${p}': not a socket`);
    expect(fs.statSync(p).isDirectory()).toBe(true);
  });

  test("a symlink at the path is not followed or removed", async () => {
    const p = sockPath();
    fs.symlinkSync(path.join(dir, "nowhere"), p);
    await expect(SocketHub.listen(p)).rejects.toThrow("it is a symbolic link (not followed)");
    expect(fs.lstatSync(p).isSymbolicLink()).toBe(true);
  });

  test.skipIf(process.geteuid?.() !== 0)("a stale socket another user owns is refused (issue 14 item 2)", async () => {
    const p = sockPath();
    const child = Bun.spawnSync([process.execPath, "-e", `Bun.listen({unix: ${JSON.stringify(p)}, socket: {data() {}}}); process.exit(0)`]);
    expect(child.exitCode).toBe(0);
    fs.lchownSync(p, 65534, 65534);
    await expect(SocketHub.listen(p)).rejects.toThrow(/refusing socket path '.*': it is owned by uid 65534/);
    expect(fs.lstatSync(p).isSocket()).toBe(true);
  });

  test("a stale socket is replaced", async () => {
    const p = sockPath();
    // A process that bound the socket and exited without unlinking it.
    const child = Bun.spawnSync([
      process.execPath,
      "-e",
      `Bun.listen({ unix: ${JSON.stringify(p)}, socket: { data() {} } }); process.exit(0);`,
    ]);
    expect(child.exitCode).toBe(0);
    expect(fs.lstatSync(p).isSocket()).toBe(true);

    const hub = await listen(p);
    expect(fs.lstatSync(p).isSocket()).toBe(true);
    const c = await connectAndWait(hub, p);
    hub.write("fresh\n", 1);
    await waitFor(() => c.data().length === 6, "data");
  });

  test("a socket a live process listens on is an error", async () => {
    const p = sockPath();
    const first = await listen(p);
    await expect(SocketHub.listen(p)).rejects.toThrow(`socket path '${p}' is in use by a running process`);
    // The first one is untouched and still serving.
    expect(fs.lstatSync(p).isSocket()).toBe(true);
    const c = await connectAndWait(first, p);
    first.write("ok\n", 1);
    await waitFor(() => c.data().length === 3, "data");
  });

  test("bind failures name the path and the reason", async () => {
    const missing = path.join(dir, "no-such-dir", "s.sock");
    await expect(SocketHub.listen(missing)).rejects.toThrow(
      `failed to bind socket '${missing}': no such file or directory (ENOENT)`,
    );
    const long = path.join(dir, "x".repeat(120));
    await expect(SocketHub.listen(long)).rejects.toThrow(/^failed to bind socket '.*': file name too long \(ENAMETOOLONG\)$/);
    await expect(SocketHub.listen("")).rejects.toThrow("failed to bind socket '': invalid argument (EINVAL)");
  });

  test("a path near the sun_path limit still binds", async () => {
    const base = path.join(dir, "l");
    const p = base + "y".repeat(107 - Buffer.byteLength(base));
    expect(Buffer.byteLength(p)).toBe(107);
    const hub = await listen(p);
    const c = await connectAndWait(hub, p);
    hub.write("long\n", 1);
    await waitFor(() => c.data().length === 5, "data");
    await hub.close();
    expect(fs.existsSync(p)).toBe(false);
  });
});

describe("close", () => {
  test("a directory too long for a temporary name still works (bound in place)", async () => {
    let d = dir;
    while (Buffer.byteLength(d) < 96) {
      d = path.join(d, "d".repeat(Math.min(40, 96 - Buffer.byteLength(d))));
      fs.mkdirSync(d, { recursive: true });
    }
    const p = path.join(d, "s");
    expect(Buffer.byteLength(p)).toBeLessThanOrEqual(107);
    const hub = await listen(p);
    expect(fs.lstatSync(p).mode & 0o777).toBe(0o660);
    const c = await connectAndWait(hub, p);
    hub.write("ok\n", 1);
    await waitFor(() => c.data().length === 3, "data");
    await hub.close();
    await c.ended;
    expect(fs.existsSync(p)).toBe(false);
  });


  test("clients read EOF and the socket file is removed", async () => {
    const p = sockPath();
    const hub = await listen(p);
    const a = await connectAndWait(hub, p);
    const b = await connectAndWait(hub, p);
    hub.write("last\n", 1);
    await waitFor(() => a.data().length === 5 && b.data().length === 5, "data");
    await hub.close();
    await Promise.all([a.ended, b.ended]);
    expect(fs.existsSync(p)).toBe(false);
    expect(hub.subscriberCount).toBe(0);
    hub.write("after close\n", 1); // harmless
    await hub.close(); // idempotent
  });

  test("a file that replaced our socket is not removed", async () => {
    const p = sockPath();
    const hub = await listen(p);
    fs.unlinkSync(p);
    fs.writeFileSync(p, "someone else's");
    await hub.close();
    expect(fs.readFileSync(p, "utf8")).toBe("someone else's");
  });
});
