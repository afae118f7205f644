// Reads bun's JUnit report and prints, for CI's log tail: each failing test with its message (the
// runner's own failure text scrolls out of a truncated log), then the plain "N passed, N failed" line.
"use strict";
const xml = require("fs").readFileSync(process.argv[2], "utf8");
const unescape = (s) =>
  s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(+n))
    .replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const attr = (tag, name) => { const m = tag.match(new RegExp(` ${name}="([^"]*)"`)); return m ? unescape(m[1]) : ""; };

const MAX_FAILURES = 10, MAX_LINES = 60;
const failing = [];
for (const m of xml.matchAll(/<testcase\b([^>]*?)>([\s\S]*?)<\/testcase>/g)) {
  const body = m[2].match(/<(failure|error)\b[^>]*>([\s\S]*?)<\/\1>/);
  if (body) failing.push({ tag: m[1], text: unescape(body[2]) });
}
for (const f of failing.slice(0, MAX_FAILURES)) {
  console.log(`== FAILED ${attr(f.tag, "file")}:${attr(f.tag, "line")} ${attr(f.tag, "name")}`);
  const lines = f.text.trimEnd().split("\n");
  console.log(lines.slice(0, MAX_LINES).join("\n") + (lines.length > MAX_LINES ? `\n… (${lines.length - MAX_LINES} more lines)` : ""));
}
if (failing.length > MAX_FAILURES) console.log(`== … and ${failing.length - MAX_FAILURES} more failing tests`);

const top = xml.match(/<testsuites[^>]*>/);
const count = (n) => { const r = top && top[0].match(new RegExp(` ${n}="(\\d+)"`)); return r ? +r[1] : 0; };
const tests = count("tests"), failures = count("failures") + count("errors"), skipped = count("skipped");
console.log(`${tests - failures - skipped} passed, ${failures} failed, ${skipped} skipped`);
