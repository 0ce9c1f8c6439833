// Public profiles by id, cached for display names.
import { byIdCache } from "./byId.ts";
import type { User } from "./types.ts";

export const users = byIdCache<User>((id) => `/api/users/${id}`);

export const getUser = users.get;
export const knownUser = users.known;
export const preloadUsers = users.preload;

export function displayName(u: User | undefined | null): string {
  if (!u) return "…";
  const full = `${u.first_name ?? ""} ${u.last_name ?? ""}`.trim();
  return full || u.username || "Agora user";
}
