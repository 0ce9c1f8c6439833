// Public profiles by id, cached for display names.
import { api } from "./http.ts";
import type { User } from "./types.ts";

const cache = new Map<string, Promise<User>>();

export function getUser(id: string): Promise<User> {
  let p = cache.get(id);
  if (!p) {
    p = api<User>(`/api/users/${id}`);
    p.catch(() => cache.delete(id));
    cache.set(id, p);
  }
  return p;
}

export function displayName(u: User | undefined | null): string {
  if (!u) return "…";
  const full = `${u.first_name ?? ""} ${u.last_name ?? ""}`.trim();
  return full || u.username || "Agora user";
}
