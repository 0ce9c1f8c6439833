// The agora.v1 WebSocket through the SDK's AgoraRealtime (clients/js/src/realtime.ts):
// token from the shared HttpClient (a 4001 close refreshes it), reconnect with backoff and
// jitter, `sync` after every (re)connect from the last seq held per conversation, sends
// queued while offline and retried with the same client_msg_id until acked. This module
// keeps the app's view of it: connection status, unread badges, who is online, and every
// frame for the pages (which dedupe by seq and notification id).
import { AgoraRealtime } from "@agora/sdk/realtime.ts";
import type { ServerFrame } from "@agora/sdk/frames.ts";
import { http } from "./http.ts";
import type { Message, Notification } from "./types.ts";
import { store } from "../store.ts";

export type Frame =
  | { type: "hello"; user_id: string; heartbeat_ms: number }
  | ({ type: "message" } & Message)
  | { type: "message_edited"; conversation_id: string; message_id: string; seq: number; body: string; edited_at: string }
  | { type: "message_deleted"; conversation_id: string; message_id: string; seq: number }
  | { type: "read"; conversation_id: string; user_id: string; seq: number }
  | { type: "typing"; conversation_id: string; user_id: string; active: boolean }
  | { type: "presence"; user_id: string; online: boolean }
  | { type: "notification"; notification: Notification }
  | { type: "unread"; notifications: number; conversations: number }
  | { type: "ack"; conversation_id: string; client_msg_id: string; message_id: string; seq: number; sent_at: string }
  | { type: "error"; code: string; message: string; ref?: string }
  | { type: "pong" }
  | { type: "synced" };

export type Status = "offline" | "connecting" | "online";
export const status = store<Status>("offline");
export const unread = store<{ notifications: number; conversations: number }>({ notifications: 0, conversations: 0 });
export const online = store<Set<string>>(new Set());

type Listener = (f: Frame) => void;
const listeners = new Set<Listener>();
export function onFrame(f: Listener): () => void {
  listeners.add(f);
  return () => listeners.delete(f);
}

let rt: AgoraRealtime | null = null;
let newestNotification: string | undefined;

/** Follow a conversation from `seq` (for `sync` after reconnects). */
export function track(conversationId: string, seq: number): void {
  rt?.track(conversationId, seq);
}
/** The newest notification the app holds, so the first `sync` does not replay older ones. */
export function noteNotification(id: string): void {
  if (!newestNotification || id > newestNotification) newestNotification = id;
}

export function start(): void {
  if (rt) return;
  const client = new AgoraRealtime({ baseUrl: location.origin, auth: http, notificationsAfter: newestNotification });
  rt = client;
  client.on("state", (s) => {
    status.set(s === "open" ? "online" : s === "offline" || s === "closed" || s === "unauthorized" || s === "rejected" ? "offline" : "connecting");
    if (s !== "open") online.set(new Set());
  });
  client.on("frame", (raw: ServerFrame) => {
    const f = raw as unknown as Frame;
    if (f.type === "unread") unread.set({ notifications: f.notifications, conversations: f.conversations });
    else if (f.type === "notification") noteNotification(f.notification.id);
    else if (f.type === "presence") {
      const next = new Set(online.get());
      if (f.online) next.add(f.user_id);
      else next.delete(f.user_id);
      online.set(next);
    }
    listeners.forEach((l) => l(f));
  });
  client.connect();
}

export function stop(): void {
  rt?.close();
  rt = null;
  newestNotification = undefined;
  status.set("offline");
  online.set(new Set());
  unread.set({ notifications: 0, conversations: 0 });
}

export function isOpen(): boolean {
  return status.get() === "online";
}

/** Sends a message: resolves with its ack (queued while offline, retried until acked). */
export function send(conversationId: string, body: string, clientMsgId: string, attachmentIds: string[] = []): Promise<{ message_id: string; seq: number; sent_at: string }> {
  if (!rt) return Promise.reject(new Error("not connected"));
  return rt.send(conversationId, body, attachmentIds.length ? { clientMsgId, attachmentIds } : { clientMsgId });
}

export function markRead(conversationId: string, seq: number): boolean {
  return rt?.markRead(conversationId, seq) ?? false;
}

export function typing(conversationId: string, active: boolean): boolean {
  return rt?.typing(conversationId, active) ?? false;
}
