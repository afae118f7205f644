// Lossless text ↔ bytes (src/bytes.ts): user text may hold bytes that are not UTF-8 (issue 14 item 9).
import { describe, expect, test } from "bun:test";
import { decodeLossless, fromByteString, toByteString } from "../../src/bytes.ts";
import { parseConfigText } from "../../src/config/file.ts";
import { compileCanaries } from "../../src/policy/canary.ts";

const latin1 = (s: string): Buffer => Buffer.from(s, "latin1");

describe("decodeLossless / toByteString", () => {
  const SAMPLES = [
    "/m/caf\xe9",
    "/m/café", // valid UTF-8 (as bytes: c3 a9)
    "\xff\xfe\x80",
    "/x/\xed\xa0\x80", // an encoded UTF-16 surrogate: not UTF-8
    "/x/\xc0\xaf", // overlong '/'
    "/x/\xf4\x90\x80\x80", // above U+10FFFF
    "/x/\xe2\x82", // truncated sequence
    "/x/\xf0\x9f\x98\x80 \xe9 \xf0\x90\x82\x80", // valid 4-byte chars around an invalid byte
    "",
    "plain ascii",
  ].map((s) => (s === "/m/café" ? Buffer.from(s, "utf8").toString("latin1") : s));

  for (const bytes of SAMPLES) {
    test(`round trip of ${JSON.stringify(bytes)}`, () => {
      const text = decodeLossless(latin1(bytes));
      expect(toByteString(text)).toBe(bytes);
    });
  }

  test("valid UTF-8 decodes to its characters; invalid bytes to U+DC80..U+DCFF", () => {
    expect(decodeLossless(Buffer.from("/m/café", "utf8"))).toBe("/m/café");
    expect(decodeLossless(latin1("/m/caf\xe9"))).toBe("/m/caf\udce9");
    expect(toByteString("/m/café")).toBe(Buffer.from("/m/café", "utf8").toString("latin1"));
    // a real surrogate pair whose second half lies in the escape range stays a character
    expect(toByteString("\ud800\udc80")).toBe(Buffer.from("\ud800\udc80", "utf8").toString("latin1"));
    expect(fromByteString("abc")).toBe("abc");
  });

  test("a config file canary with a non-UTF-8 byte matches exactly that byte path", () => {
    const text = decodeLossless(latin1("canary /m/caf\xe9\ncanary /m/*\xe9*.txt\n"));
    const cfg = parseConfigText(text, "t.conf", "/");
    const m = compileCanaries(cfg.canaries);
    expect(m.matches("/m/caf\xe9")).toBe(true);
    expect(m.matches("/m/x\xe9y.txt")).toBe(true);
    expect(m.matches(Buffer.from("/m/café", "utf8").toString("latin1"))).toBe(false);
    expect(m.matches("/m/caf\xef\xbf\xbd")).toBe(false); // not U+FFFD
  });
});
