// The SDK with a global, browser-like WebSocket (no `ws`): what a browser bundle runs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { agoraBin } from "./support/helpers.mjs";

test("with the global WebSocket (no ws): JSON and MessagePack, crash, offline sends, reconnect and sync", () => {
  agoraBin();
  const scenario = fileURLToPath(new URL("./support/global-websocket-scenario.mjs", import.meta.url));
  const major = Number(process.versions.node.split(".")[0]);
  const flags = major < 22 ? ["--experimental-websocket"] : [];
  const run = spawnSync(process.execPath, [...flags, scenario], { encoding: "utf8", timeout: 120_000 });
  assert.equal(run.status, 0, `the scenario failed:\n${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.trim().split("\n");
  const result = JSON.parse(lines[lines.length - 1]);
  for (const encoding of ["json", "msgpack"]) {
    const r = result[encoding];
    assert.ok(r, `a result for ${encoding}`);
    assert.equal(r.protocol, `agora.v1.${encoding}`);
    assert.deepEqual(r.aliceSeqs, [1, 2, 3, 4]);
    assert.deepEqual(r.bobSeqs, [1, 2, 3, 4]);
    assert.equal(r.sameIds, true);
    assert.deepEqual(r.bodies, [1, 2, 3, 4].map((i) => `${encoding} ${i}`));
    assert.ok(r.reconnects >= 1);
    assert.equal(typeof r.rtt, "number");
  }
});
