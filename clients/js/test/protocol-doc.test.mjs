// The SDK's frame types against docs/protocol.md: a protocol change without an SDK change
// (or the reverse) fails here.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import {
  CLIENT_FRAME_FIELDS,
  CLIENT_FRAME_TYPES,
  CLOSE_CODES,
  FRAME_ERROR_CODES,
  SERVER_FRAME_FIELDS,
  SERVER_FRAME_TYPES,
} from "../dist/index.js";

const here = dirname(fileURLToPath(import.meta.url));
const doc = readFileSync(process.env.AGORA_PROTOCOL_MD ?? join(here, "..", "..", "..", "docs", "protocol.md"), "utf8");

/** The text of the `## <title>` section (up to the next `## `). */
function section(text, title) {
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === `## ${title}`);
  assert.notEqual(start, -1, `docs/protocol.md has a "## ${title}" section`);
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end === -1) end = lines.length;
  return lines.slice(start + 1, end).join("\n");
}

/** Splits a section at `### ` headings: [{heading, body}]. */
function subsections(text, level) {
  const marker = "#".repeat(level) + " ";
  const out = [];
  let cur = null;
  for (const line of text.split("\n")) {
    if (line.startsWith(marker)) {
      cur = { heading: line.slice(marker.length).trim(), body: "" };
      out.push(cur);
    } else if (cur) {
      cur.body += line + "\n";
    }
  }
  return out;
}

const backticked = (s) => [...s.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]);
// Whole frames only: a block that is a fragment (`"attachments": [...]`) shows one field.
const jsonBlocks = (s) =>
  [...s.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => m[1]).filter((b) => b.trimStart().startsWith("{")).map((b) => JSON.parse(b));

const frames = section(doc, "Frames");
const directions = subsections(frames, 3);
const clientSide = directions.find((d) => /Client\s*→\s*server/i.test(d.heading));
const serverSide = directions.find((d) => /Server\s*→\s*client/i.test(d.heading));

/** Frame type names in the `#### ` headings of one direction, in order. */
function documentedTypes(side) {
  return subsections(side.body, 4).flatMap((s) => backticked(s.heading.split(":")[0]));
}

test("docs/protocol.md has a Client → server and a Server → client part in its Frames section", () => {
  assert.ok(clientSide, "### Client → server");
  assert.ok(serverSide, "### Server → client");
});

test("client frame types in docs/protocol.md's Frames headings equal the SDK's list", () => {
  assert.deepEqual(documentedTypes(clientSide), CLIENT_FRAME_TYPES);
});

test("server frame types in docs/protocol.md's Frames headings equal the SDK's list", () => {
  assert.deepEqual(documentedTypes(serverSide), SERVER_FRAME_TYPES);
});

/** Every JSON example of one direction: its type is in the table and its fields are known. */
function checkExamples(side, table) {
  let checked = 0;
  for (const sub of subsections(side.body, 4)) {
    for (const example of jsonBlocks(sub.body)) {
      const spec = table[example.type];
      assert.ok(spec, `example of unknown frame type ${example.type} under "${sub.heading}"`);
      const keys = Object.keys(example).filter((k) => k !== "type");
      for (const k of keys) {
        assert.ok(spec.required.includes(k) || spec.optional.includes(k), `${example.type}: the docs show field \`${k}\`, unknown to the SDK`);
      }
      for (const k of spec.required) {
        assert.ok(keys.includes(k), `${example.type}: the SDK requires \`${k}\`, absent from the docs' example`);
      }
      checked += 1;
    }
  }
  return checked;
}

test("every client frame example in the docs has exactly the SDK's fields", () => {
  const n = checkExamples(clientSide, CLIENT_FRAME_FIELDS);
  assert.ok(n >= CLIENT_FRAME_TYPES.length, `checked ${n} examples`);
});

test("every server frame example in the docs has exactly the SDK's fields", () => {
  const n = checkExamples(serverSide, SERVER_FRAME_FIELDS);
  assert.ok(n >= SERVER_FRAME_TYPES.length, `checked ${n} examples`);
});

test("the error codes table equals the SDK's FRAME_ERROR_CODES", () => {
  const rows = section(doc, "Errors")
    .split("\n")
    .filter((l) => /^\| `[a-z_]+` \|/.test(l))
    .map((l) => backticked(l.split("|")[1])[0]);
  // The first table lists codes; the second (`ref`) lists frame types: keep the first.
  const firstTable = [];
  for (const code of rows) {
    if (firstTable.includes(code)) break;
    if (CLIENT_FRAME_TYPES.includes(code) && !FRAME_ERROR_CODES.includes(code)) break;
    firstTable.push(code);
  }
  assert.deepEqual(firstTable, [...FRAME_ERROR_CODES]);
  // And `unknown_type`'s row names exactly the client frame types.
  const unknownRow = section(doc, "Errors").split("\n").find((l) => l.startsWith("| `unknown_type`"));
  assert.deepEqual(backticked(unknownRow.split("|")[2].split("one of")[1] ?? ""), CLIENT_FRAME_TYPES);
});

test("the close codes table equals the SDK's CLOSE_CODES", () => {
  const codes = section(doc, "Close codes")
    .split("\n")
    .map((l) => /^\| (\d{4}) \|/.exec(l)?.[1])
    .filter(Boolean)
    .map(Number);
  assert.deepEqual(codes, Object.values(CLOSE_CODES));
});
