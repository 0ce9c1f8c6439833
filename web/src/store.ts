// A tiny observable value with a Preact hook.
import { useEffect, useState } from "preact/hooks";

export interface Store<T> {
  get(): T;
  set(v: T): void;
  update(f: (v: T) => T): void;
  subscribe(f: (v: T) => void): () => void;
}

export function store<T>(initial: T): Store<T> {
  let value = initial;
  const subs = new Set<(v: T) => void>();
  return {
    get: () => value,
    set(v) {
      value = v;
      subs.forEach((f) => f(v));
    },
    update(f) {
      this.set(f(value));
    },
    subscribe(f) {
      subs.add(f);
      return () => subs.delete(f);
    },
  };
}

export function useStore<T>(s: Store<T>): T {
  const [v, setV] = useState(s.get());
  useEffect(() => {
    setV(s.get());
    return s.subscribe(setV);
  }, [s]);
  return v;
}
