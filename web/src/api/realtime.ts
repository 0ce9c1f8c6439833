// The agora.v1 WebSocket (docs/protocol.md): connect with the access token, reconnect with
// backoff and jitter (4001 refreshes the token first), `sync` after every (re)connect from the
// last seq seen per conversation, and fan frames out to subscribers.
import { getAccess, refreshAccess } from "./http.ts";
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

/** Highest seq seen per conversation the UI shows, for `sync`. */
const seen = new Map<string, number>();
let lastNotification: string | undefined;
export function track(conversationId: string, seq: number): void {
  if ((seen.get(conversationId) ?? -1) < seq) seen.set(conversationId, seq);
}
export function noteNotification(id: string): void {
  if (!lastNotification || id > lastNotification) lastNotification = id;
}

let ws: WebSocket | null = null;
let wanted = false;
let attempt = 0;
let timer: number | undefined;
let upSince = 0;
let watchdog: number | undefined;
let heartbeat = 15000;

export function start(): void {
  if (wanted) return;
  wanted = true;
  attempt = 0;
  connect();
}

export function stop(): void {
  wanted = false;
  clearTimeout(timer);
  clearTimeout(watchdog);
  seen.clear();
  lastNotification = undefined;
  ws?.close(1000);
  ws = null;
  status.set("offline");
  online.set(new Set());
  unread.set({ notifications: 0, conversations: 0 });
}

function schedule(delay?: number): void {
  if (!wanted) return;
  const base = Math.min(30000, 500 * 2 ** attempt);
  attempt += 1;
  clearTimeout(timer);
  timer = window.setTimeout(connect, delay ?? base / 2 + Math.random() * (base / 2));
}

function feed(): void {
  clearTimeout(watchdog);
  watchdog = window.setTimeout(() => ws?.close(4000, "silent"), heartbeat * 3);
}

function connect(): void {
  const token = getAccess();
  if (!wanted) return;
  if (!token) {
    refreshAccess().then((t) => (t ? connect() : stop()));
    return;
  }
  status.set("connecting");
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const sock = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`, ["agora.v1.json"]);
  ws = sock;
  sock.onmessage = (ev) => {
    if (ws !== sock) return;
    feed();
    let f: Frame;
    try {
      f = JSON.parse(String(ev.data)) as Frame;
    } catch {
      return;
    }
    handle(f);
  };
  sock.onclose = (ev) => {
    if (ws !== sock) return;
    ws = null;
    clearTimeout(watchdog);
    status.set(wanted ? "connecting" : "offline");
    online.set(new Set());
    if (Date.now() - upSince > 60000) attempt = 0;
    if (!wanted) return;
    if (ev.code === 4001) {
      refreshAccess().then((t) => (t ? schedule(0) : stop()));
    } else if (ev.code === 4009) {
      schedule(0);
    } else {
      schedule();
    }
  };
}

function handle(f: Frame): void {
  switch (f.type) {
    case "hello":
      heartbeat = f.heartbeat_ms || 15000;
      upSince = Date.now();
      status.set("online");
      sendFrame({
        type: "sync",
        conversations: Object.fromEntries(seen),
        ...(lastNotification ? { notifications_after: lastNotification } : {}),
      });
      break;
    case "message":
      track(f.conversation_id, f.seq);
      break;
    case "notification":
      noteNotification(f.notification.id);
      break;
    case "unread":
      unread.set({ notifications: f.notifications, conversations: f.conversations });
      break;
    case "presence": {
      const next = new Set(online.get());
      if (f.online) next.add(f.user_id);
      else next.delete(f.user_id);
      online.set(next);
      break;
    }
  }
  listeners.forEach((l) => l(f));
}

export function sendFrame(frame: Record<string, unknown>): boolean {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify(frame));
    return true;
  }
  return false;
}

export function isOpen(): boolean {
  return !!ws && ws.readyState === WebSocket.OPEN && status.get() === "online";
}
