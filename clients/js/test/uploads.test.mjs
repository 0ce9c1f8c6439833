// uploadFile (tus) and uploadMultipart against a real agora process: chunked uploads with
// progress, a resume after a lost chunk, the refusals as AgoraErrors from the envelope, and
// a message sent with the files over the socket.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { AgoraClient, AgoraError, uploadFile, uploadMultipart } from "../dist/index.js";
import WebSocket from "ws";
import { newUser, startAgora } from "./support/helpers.mjs";

const text = (n) => new Blob([Buffer.from("A line of plain notes.\n".repeat(n))], { type: "text/plain" });

describe("uploads", () => {
  let server;
  before(async () => {
    server = await startAgora();
  });
  after(async () => {
    await server?.dispose();
  });

  test("a file in several tus chunks, with progress, becomes an attachment with signed links", async () => {
    const agora = new AgoraClient({ baseUrl: server.baseUrl });
    await agora.auth.register(newUser());
    const blob = text(3000); // 69 000 bytes
    const seen = [];
    const at = await uploadFile(agora.http, blob, { name: "notes.txt", chunkSize: 16_000, onProgress: (sent, total) => seen.push([sent, total]) });
    assert.equal(at.kind, "document");
    assert.equal(at.name, "notes.txt");
    assert.equal(at.size, blob.size);
    assert.match(at.url, /\/api\/attachments\/[0-9a-f-]+\/content\?v=original&exp=\d+&sig=[0-9a-f]+$/);
    assert.ok(seen.length >= 5, `progress reported per chunk (${seen.length})`);
    assert.deepEqual(seen.at(-1), [blob.size, blob.size]);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i][0] >= seen[i - 1][0], "progress never goes back");
    const res = await fetch(server.baseUrl + at.url);
    assert.equal(res.status, 200);
    assert.equal((await res.arrayBuffer()).byteLength, blob.size);
  });

  test("a chunk lost on the network is resumed from the server's offset", async () => {
    const realFetch = globalThis.fetch;
    let failed = false;
    let heads = 0;
    const flaky = async (input, init) => {
      if (init?.method === "HEAD") heads += 1;
      if (init?.method === "PATCH" && init.headers["Upload-Offset"] === "20000" && !failed) {
        failed = true;
        throw new TypeError("connection reset");
      }
      return realFetch(input, init);
    };
    globalThis.fetch = flaky;
    try {
      const agora = new AgoraClient({ baseUrl: server.baseUrl, fetch: realFetch });
      await agora.auth.register(newUser());
      const at = await uploadFile(agora.http, text(2000), { name: "resumed.txt", chunkSize: 10_000 });
      assert.equal(at.size, 46_000);
      assert.ok(failed, "a chunk was lost");
      assert.equal(heads, 1, "one HEAD asked where to go on");
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  test("refusals come from the envelope: HTML named .jpg is 415, a truncated PNG 422; abort rejects", async () => {
    const agora = new AgoraClient({ baseUrl: server.baseUrl });
    await agora.auth.register(newUser());
    await assert.rejects(
      uploadFile(agora.http, new Blob(["<!DOCTYPE html><html><script>alert(1)</script></html>"]), { name: "photo.jpg" }),
      (e) => e instanceof AgoraError && e.status === 415 && e.code === "unsupported_file_type" && e.message.length > 0,
    );
    const png = Buffer.from("89504e470d0a1a0a0000000d49484452000000100000001008020000009091683600000010", "hex");
    await assert.rejects(uploadMultipart(agora.http, new Blob([png]), { name: "broken.png" }), (e) => e instanceof AgoraError && e.status === 422 && e.code === "unreadable_file");
    const ac = new AbortController();
    ac.abort();
    await assert.rejects(uploadFile(agora.http, text(10), { signal: ac.signal }), (e) => e instanceof AgoraError && e.code === "aborted");
  });

  test("files go with a message over the socket, with an empty body, and come back in its frame", async () => {
    const a = new AgoraClient({ baseUrl: server.baseUrl, WebSocket });
    const b = new AgoraClient({ baseUrl: server.baseUrl });
    await a.auth.register(newUser());
    const bMe = (await b.auth.register(newUser())).user;
    const conv = await a.conversations.create({ participant_ids: [bMe.id] });
    const at = await uploadMultipart(a.http, text(50), { name: "brief.txt" });
    const rt = a.realtime({ conversations: { [conv.id]: 0 } });
    const frame = new Promise((resolve) => rt.on("message", (m) => resolve(m)));
    rt.connect();
    await assert.rejects(rt.send(conv.id, " "), (e) => e.code === "invalid", "an empty body needs files");
    const ack = await rt.send(conv.id, "", { attachmentIds: [at.id] });
    const m = await frame;
    rt.close();
    assert.equal(m.seq, ack.seq);
    assert.equal(m.body, "");
    assert.deepEqual(
      m.attachments.map((x) => [x.id, x.kind, x.name, x.size]),
      [[at.id, "document", "brief.txt", at.size]],
    );
  });
});
