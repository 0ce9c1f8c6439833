// Public profiles by id, cached for display names.
import { api } from "./http.ts";
import type { User } from "./types.ts";

const cache = new Map<string, Promise<User>>();
const known = new Map<string, User>();

export function getUser(id: string): Promise<User> {
  let p = cache.get(id);
  if (!p) {
    p = api<User>(`/api/users/${id}`);
    p.then((u) => known.set(id, u), () => cache.delete(id));
    cache.set(id, p);
  }
  return p;
}

/** A profile already fetched, so a name renders at once (no text growing after the first paint). */
export function knownUser(id: string): User | null {
  return known.get(id) ?? null;
}

/** Fetches these profiles before a list renders; failures are left to the list. */
export function preloadUsers(ids: string[]): Promise<void> {
  return Promise.all([...new Set(ids)].map((id) => getUser(id).catch(() => null))).then(() => {});
}

export function displayName(u: User | undefined | null): string {
  if (!u) return "…";
  const full = `${u.first_name ?? ""} ${u.last_name ?? ""}`.trim();
  return full || u.username || "Agora user";
}
