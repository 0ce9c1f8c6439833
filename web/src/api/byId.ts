// A by-id cache of REST resources: one request per id, and what came back kept for a synchronous first render.
import { api } from "./http.ts";

export interface ByIdCache<T> {
  get(id: string): Promise<T>;
  /** What an earlier `get` answered, so a name renders at once (no text growing after the first paint). */
  known(id: string): T | null;
  /** Fetches these before a list renders; failures are left to the list. */
  preload(ids: string[]): Promise<void>;
}

export function byIdCache<T>(path: (id: string) => string): ByIdCache<T> {
  const pending = new Map<string, Promise<T>>();
  const done = new Map<string, T>();
  const get = (id: string): Promise<T> => {
    let p = pending.get(id);
    if (!p) {
      p = api<T>(path(id));
      p.then((v) => done.set(id, v), () => pending.delete(id));
      pending.set(id, p);
    }
    return p;
  };
  return {
    get,
    known: (id) => done.get(id) ?? null,
    preload: (ids) => Promise.all([...new Set(ids)].map((id) => get(id).catch(() => null))).then(() => {}),
  };
}
