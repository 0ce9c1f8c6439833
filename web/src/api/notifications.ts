// The bell's state: the newest notifications (REST first page, then live frames), deduped by id.
import { api, type Page } from "./http.ts";
import { noteNotification, onFrame, unread } from "./realtime.ts";
import type { Notification } from "./types.ts";
import { store } from "../store.ts";

export const recent = store<Notification[]>([]);

export async function loadRecent(): Promise<void> {
  const page = await api<Page<Notification>>("/api/notifications", { query: { limit: 20 } });
  recent.set(page.results);
  if (page.results[0]) noteNotification(page.results[0].id);
  const count = await api<{ count: number; conversations: number }>("/api/notifications/unread-count");
  unread.set({ notifications: count.count, conversations: count.conversations });
}

onFrame((f) => {
  if (f.type !== "notification") return;
  const n = f.notification;
  recent.update((list) => (list.some((x) => x.id === n.id) ? list : [n, ...list].sort((a, b) => (a.id < b.id ? 1 : -1)).slice(0, 50)));
});

export async function markRead(id: string): Promise<void> {
  await api(`/api/notifications/${id}/read`, { method: "POST" });
  recent.update((list) => list.map((n) => (n.id === id ? { ...n, read: true } : n)));
  const count = await api<{ count: number; conversations: number }>("/api/notifications/unread-count");
  unread.set({ notifications: count.count, conversations: count.conversations });
}

export async function markAllRead(): Promise<void> {
  await api("/api/notifications/read-all", { method: "POST" });
  recent.update((list) => list.map((n) => ({ ...n, read: true })));
  unread.update((u) => ({ ...u, notifications: 0 }));
}

export function clear(): void {
  recent.set([]);
}
