// REST calls to /api with the in-memory access token. A 401 triggers one cookie refresh
// (POST /api/auth/refresh with X-CSRF-Token) and one retry. Errors become AgoraError from
// the SDK, carrying the envelope's code, message and per-field problems.
import { AgoraError, isErrorEnvelope } from "@agora/sdk/errors.ts";

export { AgoraError };

let access: string | null = null;
let refreshing: Promise<string | null> | null = null;
let onSignedOut: () => void = () => {};

export function setAccess(token: string | null): void {
  access = token;
}
export function getAccess(): string | null {
  return access;
}
export function onSessionLost(f: () => void): void {
  onSignedOut = f;
}

export function csrfCookie(): string | null {
  const m = document.cookie.match(/(?:^|;\s*)agora_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : null;
}

async function toError(res: Response): Promise<AgoraError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    /* not JSON */
  }
  const retry = res.headers.get("retry-after");
  if (isErrorEnvelope(body)) {
    return new AgoraError({
      status: res.status,
      code: body.error.code,
      message: body.error.message,
      fields: body.error.fields ?? undefined,
      retryAfter: retry ? Number(retry) : undefined,
      requestId: res.headers.get("x-request-id") ?? undefined,
    });
  }
  return new AgoraError({ status: res.status, code: `http_${res.status}`, message: res.statusText || "request failed" });
}

/** Exchanges the refresh cookie for a new access token; one refresh at a time, across tabs too. */
export function refreshAccess(): Promise<string | null> {
  if (refreshing) return refreshing;
  const run = async (): Promise<string | null> => {
    const csrf = csrfCookie();
    if (!csrf) return null;
    const res = await fetch("/api/auth/refresh", {
      method: "POST",
      credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: "{}",
    });
    if (!res.ok) return null;
    const body = (await res.json()) as { access: string };
    access = body.access;
    return access;
  };
  const locks = (navigator as Navigator & { locks?: LockManager }).locks;
  refreshing = (locks ? locks.request("agora-refresh", run) : run()).finally(() => {
    refreshing = null;
  }) as Promise<string | null>;
  return refreshing;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  auth?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Answer the body as text instead of parsing JSON. */
  raw?: boolean;
}

function url(path: string, query?: RequestOptions["query"]): string {
  if (!query) return path;
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") qs.set(k, String(v));
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const send = () => {
    const headers: Record<string, string> = { accept: "application/json", ...opts.headers };
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (access && opts.auth !== false) headers.authorization = `Bearer ${access}`;
    return fetch(url(path, opts.query), {
      method: opts.method ?? "GET",
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      credentials: "same-origin",
      signal: opts.signal,
    });
  };
  let res: Response;
  try {
    res = await send();
    if (res.status === 401 && access && opts.auth !== false) {
      const fresh = await refreshAccess();
      if (fresh) res = await send();
      else {
        access = null;
        onSignedOut();
      }
    }
  } catch (e) {
    if ((e as Error).name === "AbortError") throw e;
    throw new AgoraError({ status: 0, code: "network_error", message: "The server could not be reached. Check your connection and try again.", cause: e });
  }
  if (!res.ok) throw await toError(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  if (opts.raw) return text as T;
  return (text ? JSON.parse(text) : undefined) as T;
}

export interface Page<T> {
  results: T[];
  next_cursor: string | null;
}

/** A human sentence for any thrown value. */
export function describe(e: unknown): string {
  if (e instanceof AgoraError) {
    if (e.status === 429) return `Too many attempts. Try again in ${e.retryAfter ?? 60} seconds.`;
    return e.message.charAt(0).toUpperCase() + e.message.slice(1);
  }
  return "Something went wrong. Please try again.";
}
