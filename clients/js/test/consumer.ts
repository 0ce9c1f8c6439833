// Compiled (not run) by unit.test.mjs: the published types, as an app sees them.
import NodeWebSocket from "ws";
import { AgoraClient, AgoraError, AgoraRealtime, type ServerFrame, type AckFrame, type Page, type Service } from "@agora/sdk";

export async function example(ws: new (url: string, protocols?: string | string[]) => WebSocket): Promise<number> {
  const agora = new AgoraClient({ baseUrl: "https://agora.example.com", WebSocket: ws });
  const page: Page<Service> = await agora.services.list({ q: "plumbing", ordering: "price", price_max: 5000, limit: 10 });
  const rt = agora.realtime({ encoding: "msgpack", conversations: { c: 0 } });
  rt.on("frame", (f: ServerFrame) => {
    if (f.type === "message") {
      const seq: number = f.seq;
      void seq;
    } else if (f.type === "notification") {
      const kind: "info" | "success" | "warning" | "error" | "proposal" | "contract" | "payment" | "review" | "message" | "booking" = f.notification.type;
      void kind;
    }
  });
  try {
    const ack: AckFrame = await rt.send("c", "hi");
    return ack.seq + page.results.length;
  } catch (e) {
    if (e instanceof AgoraError) return e.status;
    throw e;
  }
}

// Both WebSocket implementations fit the constructor option.
export function both(auth: AgoraClient) {
  const inBrowser = new AgoraRealtime({ baseUrl: "https://h", auth: auth.http, WebSocket: globalThis.WebSocket });
  const inNode = new AgoraRealtime({ baseUrl: "https://h", auth: auth.http, WebSocket: NodeWebSocket });
  return [inBrowser, inNode];
}
