import { useEffect, useState } from "preact/hooks";
import type { ByIdCache } from "../api/byId.ts";
import { services } from "../api/catalog.ts";
import { displayName, users } from "../api/users.ts";

/** A cached resource by id: what is already known at the first render, then the answer. */
export function useById<T>(cache: ByIdCache<T>, id: string): T | null {
  const [v, setV] = useState<T | null>(() => cache.known(id));
  useEffect(() => {
    setV(cache.known(id));
    cache.get(id).then(setV, () => {});
  }, [id]);
  return v;
}

/** A user's display name; `fallback` while (or if) the profile does not load. */
export function UserName({ id, fallback }: { id: string; fallback?: string }) {
  const u = useById(users, id);
  return <>{u || !fallback ? displayName(u) : fallback}</>;
}

export function ServiceName({ id }: { id: string }) {
  const s = useById(services, id);
  return <>{s?.title ?? "Service"}</>;
}
