// Realtime against a real agora process: reconnects, offline sends, sync, dedupe, order.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import WebSocket from "ws";
import { decode } from "@msgpack/msgpack";
import { AgoraClient, checkServerFrame } from "../dist/index.js";
import { newUser, nextEvent, recordingWebSocket, startAgora, waitUntil } from "./support/helpers.mjs";

const FAST = { initialMs: 100, maxMs: 800 };

/** Collects a realtime client's messages for one conversation, and frame problems. */
function collect(rt, conversationId) {
  const messages = [];
  const acks = [];
  const problems = [];
  rt.on("message", (m) => {
    if (m.conversation_id === conversationId) messages.push(m);
  });
  rt.on("ack", (a) => acks.push(a));
  rt.on("frame", (f) => problems.push(...checkServerFrame(f)));
  return { messages, acks, problems };
}

/** Every seq from 1 to n, once, in order; every message id once; the bodies as expected. */
function assertExactHistory(messages, expectedBodies, who) {
  const seqs = messages.map((m) => m.seq);
  assert.deepEqual(seqs, Array.from({ length: expectedBodies.length }, (_, i) => i + 1), `${who}: seqs 1..n in order, no gap, no duplicate`);
  assert.equal(new Set(messages.map((m) => m.message_id)).size, messages.length, `${who}: message ids unique`);
  assert.deepEqual([...messages.map((m) => m.body)].sort(), [...expectedBodies].sort(), `${who}: every sent body exactly once`);
}

async function twoUsers(baseUrl, opts = {}) {
  const aliceWs = recordingWebSocket();
  const alice = new AgoraClient({ baseUrl, WebSocket: aliceWs.WebSocket, ...opts });
  const bob = new AgoraClient({ baseUrl, WebSocket, ...opts });
  const a = await alice.auth.register(newUser("client"));
  const b = await bob.auth.register(newUser("provider"));
  const conv = await alice.conversations.create({ participant_ids: [b.user.id] });
  return { alice, bob, aliceUser: a.user, bobUser: b.user, conv, aliceWs };
}

describe("realtime (JSON)", () => {
  let server;
  before(async () => {
    server = await startAgora();
  });
  after(async () => {
    await server?.dispose();
  });

  test("socket killed, server crashed, offline sends, manual disconnect: nothing missing or duplicated, seq order holds", async () => {
    const { alice, bob, conv, aliceUser, aliceWs } = await twoUsers(server.baseUrl);
    const art = alice.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    const brt = bob.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    const A = collect(art, conv.id);
    const B = collect(brt, conv.id);
    const helloA = nextEvent(art, "hello");
    const helloB = nextEvent(brt, "hello");
    art.connect();
    brt.connect();
    assert.equal((await helloA).user_id, aliceUser.id);
    await helloB;
    assert.equal(art.state, "open");
    assert.equal(art.protocol, "agora.v1.json");

    const expected = [];
    const sendA = (body) => {
      expected.push(body);
      return art.send(conv.id, body);
    };
    const sendB = (body) => {
      expected.push(body);
      return brt.send(conv.id, body);
    };

    // 1. Online.
    const acks1 = await Promise.all([sendA("a1"), sendA("a2"), sendA("a3")]);
    assert.deepEqual(acks1.map((a) => a.seq).sort(), [1, 2, 3]);
    await waitUntil(() => B.messages.length === 3, () => `bob to get 3 messages (has ${B.messages.length})`);

    // 2. Alice's socket dies abruptly (TCP destroyed, no close frame); she sends while it is down.
    aliceWs.last().terminate();
    await waitUntil(() => art.state !== "open", "alice to notice the dead socket");
    const offline2 = [sendA("a4"), sendA("a5")];
    assert.equal(art.pendingCount >= 2, true, "sends are queued while offline");
    await Promise.all([sendB("b1"), sendB("b2")]);
    const acks2 = await Promise.all(offline2);
    assert.equal(new Set(acks2.map((a) => a.seq)).size, 2);
    await waitUntil(() => A.messages.length === 7 && B.messages.length === 7, () => `7 messages each (alice ${A.messages.length}, bob ${B.messages.length})`);
    assert.ok(art.stats.reconnects >= 1, "alice reconnected");

    // 3. The server crashes (SIGKILL); both send while it is down; it comes back on the same port and data dir.
    await server.stop("SIGKILL");
    await waitUntil(() => art.state !== "open" && brt.state !== "open", "both clients to notice the crash");
    const offline3 = [sendA("a6"), sendA("a7"), sendB("b3")];
    await server.restart();
    const acks3 = await Promise.all(offline3);
    assert.equal(new Set(acks3.map((a) => a.seq)).size, 3);
    await waitUntil(() => A.messages.length === 10 && B.messages.length === 10, () => `10 messages each (alice ${A.messages.length}, bob ${B.messages.length})`);

    // 4. Alice goes offline on purpose; messages arrive meanwhile (over REST and the socket); sync replays them.
    art.disconnect();
    assert.equal(art.state, "offline");
    expected.push("b4-rest", "b5-rest");
    await bob.conversations.send(conv.id, "b4-rest", "rest-b4");
    await bob.conversations.send(conv.id, "b5-rest");
    await sendB("b6");
    const offline4 = sendA("a8");
    const syncedAfterReconnect = nextEvent(art, "synced");
    art.connect();
    await syncedAfterReconnect;
    await offline4;
    await waitUntil(() => A.messages.length === 14 && B.messages.length === 14, () => `14 messages each (alice ${A.messages.length}, bob ${B.messages.length})`);

    // 5. A full replay of the conversation is deduplicated: no message is delivered twice.
    const droppedBefore = art.stats.duplicatesDropped;
    const replayDone = nextEvent(art, "synced");
    assert.equal(art.sendFrame({ type: "sync", conversations: { [conv.id]: 0 } }), true);
    await replayDone;
    assert.equal(A.messages.length, 14, "the replay delivered nothing new");
    assert.ok(art.stats.duplicatesDropped - droppedBefore >= 14, `the replay's 14 messages were dropped as duplicates (${art.stats.duplicatesDropped - droppedBefore})`);

    assertExactHistory(A.messages, expected, "alice");
    assertExactHistory(B.messages, expected, "bob");
    assert.deepEqual(A.messages.map((m) => m.message_id), B.messages.map((m) => m.message_id), "both see the same messages in the same order");
    assert.equal(art.cursor(conv.id), 14);

    // Every ack matches the delivered message with its client_msg_id.
    for (const ack of [...acks1, ...acks2, ...acks3]) {
      const m = A.messages.find((x) => x.client_msg_id === ack.client_msg_id);
      assert.ok(m, `a message for ack ${ack.client_msg_id}`);
      assert.equal(m.seq, ack.seq);
      assert.equal(m.message_id, ack.message_id);
    }
    // The server's history agrees (REST, paged newest first).
    const history = [];
    for await (const m of alice.conversations.allHistory(conv.id, { limit: 5 })) history.push(m);
    assert.deepEqual(history.map((m) => m.seq), Array.from({ length: 14 }, (_, i) => 14 - i));
    assert.deepEqual(history.reverse().map((m) => m.id), A.messages.map((m) => m.message_id));

    assert.deepEqual(A.problems, [], "alice's frames match the SDK's frame table");
    assert.deepEqual(B.problems, [], "bob's frames match the SDK's frame table");
    art.close();
    brt.close();
  });

  test("a send with a client_msg_id already used answers the original ack and delivers nothing new", async () => {
    const { alice, bob, conv } = await twoUsers(server.baseUrl);
    const art = alice.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    const brt = bob.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    const B = collect(brt, conv.id);
    art.connect();
    brt.connect();
    await Promise.all([nextEvent(art, "hello"), nextEvent(brt, "hello")]);
    const first = await art.send(conv.id, "only once", { clientMsgId: "fixed-id-1" });
    const again = await art.send(conv.id, "only once", { clientMsgId: "fixed-id-1" });
    assert.equal(again.message_id, first.message_id);
    assert.equal(again.seq, first.seq);
    const next = await art.send(conv.id, "second");
    assert.equal(next.seq, first.seq + 1);
    await waitUntil(() => B.messages.length === 2, "bob to get 2 messages");
    assert.deepEqual(B.messages.map((m) => m.body), ["only once", "second"]);
    art.close();
    brt.close();
  });

  test("errors reject the send with a typed AgoraError carrying the ref", async () => {
    const { alice, conv } = await twoUsers(server.baseUrl);
    const art = alice.realtime({ backoff: FAST });
    art.connect();
    await nextEvent(art, "hello");
    await assert.rejects(art.send("0193a8f4-5c1e-7d2a-9b3c-4e5f6a7b8c9d", "to nowhere", { clientMsgId: "nowhere-1" }), (e) => {
      assert.equal(e.name, "AgoraError");
      assert.equal(e.code, "not_found");
      assert.equal(e.ref, "nowhere-1");
      return true;
    });
    await assert.rejects(art.send(conv.id, "x".repeat(4001)), (e) => e.code === "invalid");
    assert.equal(art.pendingCount, 0);
    art.close();
  });

  test("a silent server (SIGSTOP) is detected by the heartbeat; the client reconnects and syncs when it is back", async () => {
    const hb = await startAgora({ AGORA_WS_HEARTBEAT_MS: "1000", AGORA_WS_TIMEOUT_MS: "10000" });
    try {
      const { alice, bob, conv } = await twoUsers(hb.baseUrl);
      const art = alice.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST, connectTimeoutMs: 2000 });
      const A = collect(art, conv.id);
      const closes = [];
      art.on("close", (c) => closes.push(c));
      art.connect();
      const hello = await nextEvent(art, "hello");
      assert.equal(hello.heartbeat_ms, 1000);
      await art.send(conv.id, "before pause");
      // Idle but alive: the server's pings keep the connection up.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(art.state, "open", "an idle connection with heartbeats stays open");
      assert.equal(closes.length, 0);

      hb.pause();
      await waitUntil(() => art.state !== "open", "the client to declare the silent connection dead", 10000);
      assert.match(closes[0].reason, /heartbeat/);
      const queued = art.send(conv.id, "while paused");
      hb.resume();
      await bob.conversations.send(conv.id, "from bob after resume");
      await queued;
      await waitUntil(() => A.messages.length === 3, () => `3 messages (has ${A.messages.length})`);
      assert.deepEqual(A.messages.map((m) => m.seq), [1, 2, 3]);
      art.close();
    } finally {
      await hb.dispose();
    }
  });
});

describe("realtime (MessagePack)", () => {
  let server;
  before(async () => {
    server = await startAgora();
  });
  after(async () => {
    await server?.dispose();
  });

  test("agora.v1.msgpack: binary frames both ways, ack, delivery, edit, read receipt, reconnect and sync", async () => {
    const { alice, bob, conv, aliceWs, bobUser } = await twoUsers(server.baseUrl, { encoding: "msgpack" });
    const art = alice.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    const brt = bob.realtime({ conversations: { [conv.id]: 0 }, backoff: FAST });
    assert.equal(art.encoding, "msgpack");
    const A = collect(art, conv.id);
    const B = collect(brt, conv.id);
    const rawKinds = new Set();
    art.connect();
    brt.connect();
    await Promise.all([nextEvent(art, "hello"), nextEvent(brt, "hello")]);
    aliceWs.last().on("message", (_data, isBinary) => rawKinds.add(isBinary ? "binary" : "text"));
    assert.equal(art.protocol, "agora.v1.msgpack", "the server chose MessagePack");

    const ack = await art.send(conv.id, "packed hello");
    assert.equal(ack.seq, 1);
    assert.equal(typeof ack.message_id, "string");
    await waitUntil(() => B.messages.length === 1, "bob to get the message");
    assert.equal(B.messages[0].body, "packed hello");
    assert.equal(B.messages[0].message_id, ack.message_id);

    // What alice wrote is MessagePack maps with string keys.
    const frames = aliceWs.sent.map((d) => {
      assert.ok(d instanceof Uint8Array, "a binary frame");
      return decode(d);
    });
    const sendFrame = frames.find((f) => f.type === "send");
    assert.deepEqual(Object.keys(sendFrame).sort(), ["body", "client_msg_id", "conversation_id", "type"]);
    assert.equal(sendFrame.body, "packed hello");

    // Edit over the socket; bob sees it.
    const bobEdited = nextEvent(brt, "message_edited");
    // The server acks a send before it writes the message's by-id row, and an edit looks the
    // message up by id outside the conversation's actor: right after the ack it can answer
    // `not_found` (a server race, reported). One retry after a pause covers it.
    const edited = await art.edit(ack.message_id, "packed hello, edited").catch(async (e) => {
      if (e.code !== "not_found") throw e;
      await new Promise((r) => setTimeout(r, 200));
      return art.edit(ack.message_id, "packed hello, edited");
    });
    assert.equal(edited.body, "packed hello, edited");
    assert.equal(edited.seq, 1);
    assert.equal((await bobEdited).message_id, ack.message_id);

    // Bob reads; alice gets the receipt.
    const receipt = nextEvent(art, "read", (r) => r.user_id === bobUser.id);
    assert.equal(brt.markRead(conv.id, 1), true);
    assert.equal((await receipt).seq, 1);

    // Kill alice's socket, send from both sides meanwhile; sync over MessagePack fills in.
    aliceWs.last().terminate();
    await waitUntil(() => art.state !== "open", "alice to notice");
    const offline = art.send(conv.id, "packed offline");
    await brt.send(conv.id, "bob while alice is away");
    await offline;
    await waitUntil(() => A.messages.length === 3 && B.messages.length === 3, () => `3 each (alice ${A.messages.length}, bob ${B.messages.length})`);
    assert.deepEqual(A.messages.map((m) => m.seq), [1, 2, 3]);
    assert.deepEqual(A.messages.map((m) => m.message_id), B.messages.map((m) => m.message_id));
    assert.equal(art.protocol, "agora.v1.msgpack");
    await art.ping();
    assert.deepEqual([...rawKinds], ["binary"], "the server answered in binary frames only");
    assert.deepEqual(A.problems, []);
    assert.deepEqual(B.problems, []);
    art.close();
    brt.close();
  });
});
