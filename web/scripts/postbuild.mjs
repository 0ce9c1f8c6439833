// After `vite build`: gzip and brotli copies of every asset (served precompressed by agora),
// then web/dist/source-hash.txt.
import { readdirSync, readFileSync, writeFileSync, statSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";
import { execFileSync } from "node:child_process";

const here = dirname(fileURLToPath(import.meta.url));
const assets = join(here, "..", "dist", "assets");
let total = 0;
for (const name of readdirSync(assets)) {
  if (name.endsWith(".gz") || name.endsWith(".br")) continue;
  const file = join(assets, name);
  if (!statSync(file).isFile()) continue;
  const data = readFileSync(file);
  const gz = gzipSync(data, { level: 9 });
  writeFileSync(`${file}.gz`, gz);
  writeFileSync(`${file}.br`, brotliCompressSync(data, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: data.length } }));
  total += gz.length;
  console.log(`${name}: ${data.length} B, gzip ${gz.length} B`);
}
console.log(`assets gzipped: ${(total / 1024).toFixed(1)} KB`);
execFileSync(process.execPath, [join(here, "source-hash.mjs"), "--write"], { stdio: "inherit" });
