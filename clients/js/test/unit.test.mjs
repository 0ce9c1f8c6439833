// The realtime client's logic against a scripted fake WebSocket (no server): gaps, order,
// dedupe, resends, close codes, pacing; and the backoff and codecs.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decode } from "@msgpack/msgpack";
import { AgoraRealtime, backoffDelay, decodeFrame, encodeFrame, resolveBackoff, socketUrl } from "../dist/index.js";
import { sleep, waitUntil } from "./support/helpers.mjs";

const CONV = "0193a8f4-5c1e-7d2a-9b3c-4e5f6a7b8c9d";

/** A scripted WebSocket: the test plays the server. */
function fakeSockets() {
  const sockets = [];
  class FakeWebSocket {
    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.protocol = "";
      this.binaryType = "blob";
      this.sent = [];
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      sockets.push(this);
      queueMicrotask(() => {
        this.readyState = 1;
        this.protocol = protocols[0];
        this.onopen?.({});
      });
    }
    send(data) {
      this.sent.push(typeof data === "string" ? JSON.parse(data) : decode(data));
    }
    close(code = 1000, reason = "") {
      this.serverClose(code, reason);
    }
    frame(f) {
      this.onmessage?.({ data: JSON.stringify(f) });
    }
    hello(extra = {}) {
      this.frame({ type: "hello", user_id: "u1", connection_id: sockets.length, heartbeat_ms: 15000, server_time: new Date().toISOString(), ...extra });
    }
    serverClose(code, reason = "") {
      if (this.readyState === 3) return;
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: true });
    }
    sentOf(type) {
      return this.sent.filter((f) => f.type === type);
    }
  }
  return { FakeWebSocket, sockets, last: () => sockets[sockets.length - 1] };
}

const tokenAuth = (token = "tok") => ({
  accessToken: token,
  canRefresh: false,
  refreshAccess: () => Promise.reject(new Error("no refresh in this test")),
});

function client(fake, extra = {}) {
  return new AgoraRealtime({
    baseUrl: "https://agora.example.com",
    auth: tokenAuth(),
    WebSocket: fake.FakeWebSocket,
    backoff: { initialMs: 20, maxMs: 40 },
    ...extra,
  });
}

const msg = (seq, extra = {}) => ({
  type: "message",
  conversation_id: CONV,
  message_id: `m-${seq}`,
  seq,
  sender_id: "u2",
  body: `body ${seq}`,
  sent_at: "2026-11-23T21:40:07.5Z",
  ...extra,
});

describe("realtime client logic", () => {
  test("the socket URL carries the token and the subprotocol is offered", async () => {
    assert.equal(socketUrl("https://h.example/", "a b"), "wss://h.example/ws?token=a+b");
    assert.equal(socketUrl("http://127.0.0.1:8080", "t"), "ws://127.0.0.1:8080/ws?token=t");
    const fake = fakeSockets();
    const rt = client(fake, { encoding: "msgpack" });
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    assert.deepEqual(fake.last().protocols, ["agora.v1.msgpack"]);
    assert.equal(fake.last().binaryType, "arraybuffer");
    rt.close();
  });

  test("after hello: sync from the cursors; messages after a gap wait, one gap sync at a time; duplicates are dropped", async () => {
    const fake = fakeSockets();
    const rt = client(fake, { conversations: { [CONV]: 0 } });
    const got = [];
    rt.on("message", (m) => got.push(m.seq));
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws = fake.last();
    ws.hello();
    assert.deepEqual(ws.sentOf("sync"), [{ type: "sync", conversations: { [CONV]: 0 } }]);
    ws.frame(msg(1));
    ws.frame(msg(3));
    assert.equal(ws.sentOf("sync").length, 1, "no second sync while the first one (which covers the gap) runs");
    ws.frame({ type: "synced" });
    assert.equal(ws.sentOf("sync").length, 2, "the gap outlived the sync: ask again");
    ws.frame({ type: "synced" });
    ws.frame(msg(4));
    assert.deepEqual(got, [1], "3 and 4 wait for 2");
    assert.deepEqual(ws.sentOf("sync").slice(1), [
      { type: "sync", conversations: { [CONV]: 1 } },
      { type: "sync", conversations: { [CONV]: 1 } },
    ], "gap syncs from the contiguous seq, one at a time");
    ws.frame(msg(2));
    assert.deepEqual(got, [1, 2, 3, 4]);
    ws.frame(msg(3));
    ws.frame(msg(1));
    assert.deepEqual(got, [1, 2, 3, 4]);
    assert.equal(rt.stats.duplicatesDropped, 2);
    assert.equal(rt.cursor(CONV), 4);
    rt.close();
  });

  test("a gap that sync cannot fill is reported and the rest delivered", async () => {
    const fake = fakeSockets();
    const rt = client(fake, { conversations: { [CONV]: 2 } });
    const got = [];
    const gaps = [];
    rt.on("message", (m) => got.push(m.seq));
    rt.on("gap", (g) => gaps.push(g));
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws = fake.last();
    ws.hello();
    ws.frame({ type: "synced" });
    ws.frame(msg(5));
    for (let i = 0; i < 3; i++) ws.frame({ type: "synced" });
    assert.deepEqual(gaps, [{ conversation_id: CONV, from: 3, to: 5 }]);
    assert.deepEqual(got, [5]);
    assert.equal(ws.sentOf("sync").length, 4, "the reconnect sync and three gap syncs");
    rt.close();
  });

  test("sends queue offline, go out after hello, are rewritten with the same client_msg_id after a drop, and resolve on ack", async () => {
    const fake = fakeSockets();
    const rt = client(fake, { conversations: { [CONV]: 0 } });
    const p = rt.send(CONV, "hello there", { clientMsgId: "c-1" });
    assert.equal(rt.pendingCount, 1);
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws1 = fake.last();
    assert.deepEqual(ws1.sentOf("send"), [], "nothing before hello");
    ws1.hello();
    assert.deepEqual(ws1.sentOf("send"), [{ type: "send", conversation_id: CONV, client_msg_id: "c-1", body: "hello there" }]);
    ws1.serverClose(1006);
    assert.notEqual(rt.state, "open");
    await waitUntil(() => fake.sockets.length === 2 && fake.last().readyState === 1, "a reconnect");
    const ws2 = fake.last();
    ws2.hello();
    assert.deepEqual(ws2.sentOf("send").map((f) => f.client_msg_id), ["c-1"]);
    assert.equal(rt.stats.sendsRetried, 1);
    const ack = { type: "ack", conversation_id: CONV, client_msg_id: "c-1", message_id: "m-1", seq: 1, sent_at: "2026-11-23T21:40:07.5Z" };
    ws2.frame(ack);
    assert.deepEqual(await p, ack);
    assert.equal(rt.pendingCount, 0);
    rt.close();
  });

  test("an `internal` error retries the send; other errors reject it", async () => {
    const fake = fakeSockets();
    const rt = client(fake);
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws = fake.last();
    ws.hello();
    const ok = rt.send(CONV, "x", { clientMsgId: "c-int" });
    const bad = rt.send(CONV, "y", { clientMsgId: "c-blk" });
    ws.frame({ type: "error", code: "internal", message: "try later", ref: "c-int" });
    ws.frame({ type: "error", code: "blocked", message: "blocked", ref: "c-blk" });
    await assert.rejects(bad, (e) => e.code === "blocked" && e.ref === "c-blk" && e.status === 0);
    await waitUntil(() => ws.sentOf("send").filter((f) => f.client_msg_id === "c-int").length === 2, "the retry", 3000);
    ws.frame({ type: "ack", conversation_id: CONV, client_msg_id: "c-int", message_id: "m", seq: 1, sent_at: "t" });
    assert.equal((await ok).seq, 1);
    rt.close();
  });

  test("close codes: 4009 reconnects at once, `too many connections` stops, a normal close reconnects with backoff", async () => {
    const fake = fakeSockets();
    const rt = client(fake, { backoff: { initialMs: 2000, maxMs: 2000 } });
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    fake.last().hello();
    const t0 = Date.now();
    fake.last().serverClose(4009, "too slow");
    await waitUntil(() => fake.sockets.length === 2, "an immediate reconnect");
    assert.ok(Date.now() - t0 < 600, `4009: no backoff (${Date.now() - t0} ms)`);
    await waitUntil(() => fake.last().readyState === 1, "open");
    fake.last().hello();
    const t1 = Date.now();
    fake.last().serverClose(1001, "shutting down");
    await waitUntil(() => fake.sockets.length === 3, "a reconnect after backoff");
    assert.ok(Date.now() - t1 >= 990, `1001: backoff (${Date.now() - t1} ms)`);
    await waitUntil(() => fake.last().readyState === 1, "open");
    fake.last().serverClose(4008, "too many connections");
    assert.equal(rt.state, "rejected");
    await sleep(500);
    assert.equal(fake.sockets.length, 3, "no retry loop");
    rt.close();
  });

  test("sends are paced under the server's inbound rate limit", async () => {
    const fake = fakeSockets();
    const rt = client(fake, { maxFramesPerSecond: 50, maxBurst: 10 });
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws = fake.last();
    ws.hello();
    for (let i = 0; i < 30; i++) void rt.send(CONV, `m${i}`).catch(() => {});
    const immediately = ws.sent.length;
    assert.ok(immediately <= 10, `at most the burst at once (${immediately})`);
    await waitUntil(() => ws.sentOf("send").length === 30, "all sends written", 3000);
    assert.deepEqual(ws.sentOf("send").map((f) => f.body), Array.from({ length: 30 }, (_, i) => `m${i}`), "in order");
    rt.close();
  });

  test("notifications are deduplicated by id and the next sync asks only for newer ones", async () => {
    const fake = fakeSockets();
    const rt = client(fake);
    const seen = [];
    rt.on("notification", (n) => seen.push(n.notification.id));
    rt.connect();
    await waitUntil(() => fake.last()?.readyState === 1, "socket open");
    const ws = fake.last();
    ws.hello();
    assert.deepEqual(ws.sentOf("sync"), [{ type: "sync", conversations: {} }]);
    const note = (id) => ({ type: "notification", notification: { id, type: "info", title: "t", message: "m", action_url: null, read: false, created_at: "t" } });
    ws.frame(note("0193a8f7-0000-7000-8000-000000000002"));
    ws.frame(note("0193a8f7-0000-7000-8000-000000000001"));
    ws.frame(note("0193a8f7-0000-7000-8000-000000000002"));
    assert.deepEqual(seen, ["0193a8f7-0000-7000-8000-000000000002", "0193a8f7-0000-7000-8000-000000000001"]);
    ws.serverClose(1006);
    await waitUntil(() => fake.sockets.length === 2 && fake.last().readyState === 1, "a reconnect");
    fake.last().hello();
    assert.equal(fake.last().sentOf("sync")[0].notifications_after, "0193a8f7-0000-7000-8000-000000000002");
    rt.close();
  });

  test("close() rejects what is pending; edit needs a connection", async () => {
    const fake = fakeSockets();
    const rt = client(fake);
    const p = rt.send(CONV, "never sent");
    await assert.rejects(rt.edit("m-1", "x"), (e) => e.code === "offline");
    rt.close();
    await assert.rejects(p, (e) => e.code === "closed");
    assert.equal(rt.state, "closed");
  });
});

describe("backoff and codecs", () => {
  test("backoff grows exponentially, is capped, and is jittered in the upper half", () => {
    const o = resolveBackoff({ initialMs: 500, maxMs: 30_000 });
    assert.equal(backoffDelay(0, o, () => 0), 250);
    assert.equal(backoffDelay(0, o, () => 1), 500);
    assert.equal(backoffDelay(3, o, () => 1), 4000);
    assert.equal(backoffDelay(20, o, () => 1), 30_000);
    assert.equal(backoffDelay(20, o, () => 0), 15_000);
    const samples = Array.from({ length: 200 }, () => backoffDelay(2, o));
    assert.ok(samples.every((d) => d >= 1000 && d <= 2000));
    assert.ok(new Set(samples).size > 20, "jittered");
  });

  test("frames round-trip through JSON text and MessagePack binary", () => {
    const frame = { type: "sync", conversations: { [CONV]: 41 }, notifications_after: "n1" };
    const text = encodeFrame(frame, "json");
    assert.equal(typeof text, "string");
    assert.deepEqual(JSON.parse(text), frame);
    const bin = encodeFrame(frame, "msgpack");
    assert.ok(bin instanceof Uint8Array);
    assert.deepEqual(decode(bin), frame);
    assert.deepEqual(decodeFrame(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength)), frame);
    assert.deepEqual(decodeFrame(text), frame);
    assert.throws(() => decodeFrame("[1,2]"), /string `type`/);
  });
});

describe("package shape", () => {
  test("the package imports by its name through `exports`", async () => {
    const byName = await import("@agora/sdk");
    const byPath = await import("../dist/index.js");
    assert.equal(byName.AgoraClient, byPath.AgoraClient);
    assert.equal(typeof byName.AgoraRealtime, "function");
    assert.equal(typeof byName.AgoraError, "function");
  });

  test("the published .d.ts type-check an app (test/consumer.ts: DOM and ws sockets, frame narrowing, REST pages)", async () => {
    const { execFileSync } = await import("node:child_process");
    const { fileURLToPath } = await import("node:url");
    const tsc = fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url));
    const project = fileURLToPath(new URL("./tsconfig.json", import.meta.url));
    let out = "";
    try {
      out = execFileSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
    } catch (e) {
      out = `${e.stdout ?? ""}${e.stderr ?? ""}`;
      assert.fail(`tsc refused test/consumer.ts:\n${out}`);
    }
    assert.equal(out.trim(), "");
  });
});
