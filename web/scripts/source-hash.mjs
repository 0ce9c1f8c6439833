#!/usr/bin/env node
// Source hash of the web app, written by the build to web/dist/source-hash.txt so a stale
// committed build can be detected (here with --check, and by a Rust test that recomputes it).
//
// The algorithm, exactly:
//   1. Take every file under web/ except those inside folders named node_modules, dist,
//      test-results or screenshots, and except any file whose name starts with '.'; plus every
//      file under clients/js/src/ (again without files whose name starts with '.').
//   2. Name each by its path relative to the repository root, with '/' separators
//      (e.g. "web/src/main.tsx", "clients/js/src/errors.ts").
//   3. Sort the paths by byte order (UTF-8 bytes, plain ascending comparison).
//   4. Feed into one SHA-256, for each file in that order: the path, "\n", the file's bytes, "\n".
//   5. The hash is the lowercase hex digest (64 characters).
// Details that make two implementations agree: the folder names are excluded at any depth
// under web/ (not under clients/js/src/); a folder whose name starts with '.' is skipped too,
// with everything in it; symbolic links are followed.
//
// Usage: node web/scripts/source-hash.mjs          prints the hash
//        node web/scripts/source-hash.mjs --write  writes web/dist/source-hash.txt
//        node web/scripts/source-hash.mjs --check  exits 1 when web/dist/source-hash.txt differs
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync, existsSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const EXCLUDED = ["node_modules", "dist", "test-results", "screenshots"];

function walk(rel, skip, out) {
  const abs = join(root, rel);
  if (!existsSync(abs)) return;
  for (const name of readdirSync(abs)) {
    if (name.startsWith(".")) continue;
    const p = `${rel}/${name}`;
    if (statSync(join(root, p)).isDirectory()) {
      if (!skip.includes(name)) walk(p, skip, out);
    } else {
      out.push(p);
    }
  }
}

export function sourceHash() {
  const files = [];
  walk("web", EXCLUDED, files);
  walk("clients/js/src", [], files);
  files.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  const h = createHash("sha256");
  for (const f of files) {
    h.update(`${f}\n`);
    h.update(readFileSync(join(root, f)));
    h.update("\n");
  }
  return h.digest("hex");
}

const target = join(root, "web", "dist", "source-hash.txt");
const arg = process.argv[2];
if (arg === "--write") {
  writeFileSync(target, `${sourceHash()}\n`);
} else if (arg === "--check") {
  const want = sourceHash();
  const have = existsSync(target) ? readFileSync(target, "utf8").trim() : "(missing)";
  if (have !== want) {
    console.error(`web/dist is stale: source hash ${want}, web/dist/source-hash.txt has ${have}. Run: cd web && npm run build`);
    process.exit(1);
  }
  console.log(`web/dist is up to date (source hash ${want})`);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(sourceHash());
}
