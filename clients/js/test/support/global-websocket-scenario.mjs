// Run by global-websocket.test.mjs in a Node with a global, browser-like WebSocket (Node 22+,
// or Node 20 with --experimental-websocket): the SDK without `ws`, as in a browser. Prints
// one JSON line with what it observed; the test asserts on it.
import { AgoraClient } from "../../dist/index.js";
import { newUser, nextEvent, startAgora, waitUntil } from "./helpers.mjs";

if (typeof globalThis.WebSocket !== "function") throw new Error("no global WebSocket in this Node");
const server = await startAgora();
const out = {};
try {
  for (const encoding of ["json", "msgpack"]) {
    // No WebSocket option: the SDK takes the global one, as in a browser.
    const alice = new AgoraClient({ baseUrl: server.baseUrl, encoding });
    const bob = new AgoraClient({ baseUrl: server.baseUrl, encoding });
    await alice.auth.register(newUser());
    const bobUser = (await bob.auth.register(newUser())).user;
    const conv = await alice.conversations.create({ participant_ids: [bobUser.id] });
    const art = alice.realtime({ conversations: { [conv.id]: 0 }, backoff: { initialMs: 100, maxMs: 800 } });
    const brt = bob.realtime({ conversations: { [conv.id]: 0 }, backoff: { initialMs: 100, maxMs: 800 } });
    const a = [];
    const b = [];
    art.on("message", (m) => a.push(m));
    brt.on("message", (m) => b.push(m));
    art.connect();
    brt.connect();
    await Promise.all([nextEvent(art, "hello"), nextEvent(brt, "hello")]);
    const protocol = art.protocol;
    await art.send(conv.id, `${encoding} 1`);
    await brt.send(conv.id, `${encoding} 2`);
    await server.stop("SIGKILL");
    await waitUntil(() => art.state !== "open" && brt.state !== "open", "both to notice the crash");
    const offline = [art.send(conv.id, `${encoding} 3`), brt.send(conv.id, `${encoding} 4`)];
    await server.restart();
    await Promise.all(offline);
    await waitUntil(() => a.length === 4 && b.length === 4, () => `4 messages each (${a.length}, ${b.length})`);
    const rtt = await art.ping();
    out[encoding] = {
      protocol,
      aliceSeqs: a.map((m) => m.seq),
      bobSeqs: b.map((m) => m.seq),
      sameIds: JSON.stringify(a.map((m) => m.message_id)) === JSON.stringify(b.map((m) => m.message_id)),
      bodies: a.map((m) => m.body).sort(),
      reconnects: art.stats.reconnects,
      rtt,
    };
    art.close();
    brt.close();
  }
} finally {
  await server.dispose();
}
console.log(JSON.stringify(out));
