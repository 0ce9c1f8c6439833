import type { ComponentChildren } from "preact";
import { useEffect, useRef, useState } from "preact/hooks";
import { AgoraError, api, describe } from "../api/http.ts";
import type { Money } from "../api/types.ts";

export function money(m: Money | null | undefined): string {
  if (!m) return "—";
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: m.currency }).format(m.amount / 100);
  } catch {
    return `${(m.amount / 100).toFixed(2)} ${m.currency}`;
  }
}

export function date(s: string | null | undefined, withTime = false): string {
  if (!s) return "—";
  const d = new Date(s.length === 10 ? `${s}T00:00:00` : s);
  return withTime
    ? d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" })
    : d.toLocaleDateString("en-GB", { dateStyle: "medium" });
}

export function label(s: string): string {
  return (s.charAt(0).toUpperCase() + s.slice(1)).replace(/_/g, " ");
}

/** The error envelope as a sentence plus each field's problems. */
export function ErrorBox({ error }: { error: unknown }) {
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (error) ref.current?.focus();
  }, [error]);
  if (!error) return null;
  const fields = error instanceof AgoraError && error.fields ? Object.entries(error.fields) : [];
  return (
    <div class="error" role="alert" tabIndex={-1} ref={ref}>
      <p>{describe(error)}</p>
      {fields.length > 0 && (
        <ul>
          {fields.map(([k, v]) => (
            <li key={k}>
              <strong>{label(k)}</strong>: {v.join(", ")}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

export function fieldError(error: unknown, name: string): string | undefined {
  return error instanceof AgoraError ? error.fields?.[name]?.join(", ") : undefined;
}

type InputProps = {
  placeholder?: string;
  inputMode?: "decimal" | "numeric" | "text" | "email";
  label: string;
  name: string;
  error?: unknown;
  hint?: string;
  value?: string;
  type?: string;
  required?: boolean;
  autocomplete?: string;
  min?: string | number;
  step?: string | number;
  onValue?: (v: string) => void;
};

export function Field({ label: text, name, error, hint, onValue, ...rest }: InputProps) {
  const id = `f-${name}`;
  const problem = fieldError(error, name);
  const described = [hint ? `${id}-hint` : "", problem ? `${id}-err` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div class="field">
      <label for={id}>{text}</label>
      <input
        id={id}
        name={name}
        aria-invalid={problem ? "true" : undefined}
        aria-describedby={described}
        onInput={(e) => onValue?.((e.target as HTMLInputElement).value)}
        {...(rest as Record<string, unknown>)}
      />
      {hint && (
        <small id={`${id}-hint`} class="hint">
          {hint}
        </small>
      )}
      {problem && (
        <small id={`${id}-err`} class="field-error">
          {problem}
        </small>
      )}
    </div>
  );
}

export function TextArea({ label: text, name, error, value, onValue, rows = 4, required, maxLength }: { label: string; name: string; error?: unknown; value: string; onValue: (v: string) => void; rows?: number; required?: boolean; maxLength?: number }) {
  const id = `f-${name}`;
  const problem = fieldError(error, name);
  return (
    <div class="field">
      <label for={id}>{text}</label>
      <textarea id={id} name={name} rows={rows} value={value} required={required} maxLength={maxLength} aria-invalid={problem ? "true" : undefined} aria-describedby={problem ? `${id}-err` : undefined} onInput={(e) => onValue((e.target as HTMLTextAreaElement).value)} />
      {problem && (
        <small id={`${id}-err`} class="field-error">
          {problem}
        </small>
      )}
    </div>
  );
}

export function Select({ label: text, name, value, onValue, options }: { label: string; name: string; value: string; onValue: (v: string) => void; options: [string, string][] }) {
  const id = `f-${name}`;
  return (
    <div class="field">
      <label for={id}>{text}</label>
      <select id={id} name={name} value={value} onChange={(e) => onValue((e.target as HTMLSelectElement).value)}>
        {options.map(([v, t]) => (
          <option key={v} value={v}>
            {t}
          </option>
        ))}
      </select>
    </div>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div class="loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" />
      {what}…
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <div class="empty">{children}</div>;
}

export function Badge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{label(status)}</span>;
}

export function Stars({ value, count }: { value: number; count: number }) {
  return (
    <span class="stars" aria-label={count ? `Rated ${value.toFixed(1)} out of 5 from ${count} reviews` : "No reviews yet"}>
      {count ? `★ ${value.toFixed(1)} (${count})` : "No reviews yet"}
    </span>
  );
}

/** Loads data for a page: answers [data, error, reload]. */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): [T | undefined, unknown, () => void, (v: T) => void] {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    const ac = new AbortController();
    setError(null);
    load(ac.signal).then(
      (v) => !ac.signal.aborted && setData(v),
      (e) => !ac.signal.aborted && (e as Error).name !== "AbortError" && setError(e),
    );
    return () => ac.abort();
  }, [...deps, n]);
  return [data, error, () => setN((x) => x + 1), setData];
}

export function useTitle(t: string): void {
  useEffect(() => {
    document.title = t ? `${t} · Agora` : "Agora";
  }, [t]);
}

/** A submit handler with a busy flag and the last error. */
export function useSubmit(run: () => Promise<void>): [(e?: Event) => void, boolean, unknown, (e: unknown) => void] {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = (e?: Event) => {
    e?.preventDefault();
    if (busy) return;
    setBusy(true);
    setError(null);
    run().then(
      () => setBusy(false),
      (err) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return [submit, busy, error, setError];
}

export function Pager({ next, onMore, busy }: { next: string | null | undefined; onMore: () => void; busy?: boolean }) {
  if (!next) return null;
  return (
    <div class="pager">
      <button type="button" class="secondary" onClick={onMore} disabled={busy}>
        {busy ? "Loading…" : "Load more"}
      </button>
    </div>
  );
}

/** A cursor-paged list: the first page on load (and when `key` changes), more on demand. */
export function useList<T>(path: string | null, query: Record<string, string | number | boolean | undefined>, prepare?: (items: T[]) => Promise<unknown>) {
  const key = JSON.stringify([path, query]);
  const [items, setItems] = useState<T[] | undefined>(undefined);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [n, setN] = useState(0);
  useEffect(() => {
    if (!path) return;
    const ac = new AbortController();
    setError(null);
    setBusy(true);
    void (
      api<{ results: T[]; next_cursor: string | null }>(path, { query, signal: ac.signal })
        .then(async (page) => {
          if (prepare) await prepare(page.results).catch(() => {});
          return page;
        })
        .then(
        (page) => {
          if (ac.signal.aborted) return;
          setItems(page.results);
          setNext(page.next_cursor);
          setBusy(false);
        },
        (e) => {
          if (ac.signal.aborted) return;
          setError(e);
          setItems((x) => x ?? []);
          setBusy(false);
        },
      )
    );
    return () => ac.abort();
  }, [key, n]);
  const more = () => {
    if (!path || !next || busy) return;
    setBusy(true);
    void (
      api<{ results: T[]; next_cursor: string | null }>(path, { query: { ...query, cursor: next } })
        .then(async (page) => {
          if (prepare) await prepare(page.results).catch(() => {});
          return page;
        })
        .then(
        (page) => {
          setItems((x) => [...(x ?? []), ...page.results]);
          setNext(page.next_cursor);
          setBusy(false);
        },
        (e) => {
          setError(e);
          setBusy(false);
        },
      )
    );
  };
  return { items, next, more, error, busy, reload: () => setN((x) => x + 1), setItems };
}

/** A list page's status filter: one link a status (`""` is All), the current one marked. */
export function StatusTabs({ path, current, values }: { path: string; current: string; values: string[] }) {
  return (
    <nav class="tabs" aria-label="Filter by status">
      {["", ...values].map((v) => (
        <a key={v} href={v ? `${path}?status=${v}` : path} aria-current={current === v ? "page" : undefined}>
          {v ? label(v) : "All"}
        </a>
      ))}
    </nav>
  );
}
