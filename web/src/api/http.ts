// REST calls to /api through the SDK's HttpClient (clients/js/src/http.ts): the in-memory
// access token, the browser session's cookie refresh with X-CSRF-Token on a 401 (one
// in-flight refresh), and the error envelope as AgoraError. This module adds what the app
// needs on top: one refresh at a time across tabs too (a spent refresh cookie revokes the
// whole session, so two tabs must never present the same one), and restoring the session
// after a reload from the agora_csrf cookie.
import { HttpClient } from "@agora/sdk/http.ts";
import { AgoraError } from "@agora/sdk/errors.ts";

export { AgoraError };

let onSignedOut: () => void = () => {};
export function onSessionLost(f: () => void): void {
  onSignedOut = f;
}

class BrowserHttp extends HttpClient {
  override refreshAccess(staleAccess?: string | null): Promise<string> {
    const locks = (navigator as Navigator & { locks?: LockManager }).locks;
    if (!locks) return super.refreshAccess(staleAccess);
    return locks.request("agora-refresh", () => {
      // Another tab may have rotated the cookie meanwhile: present the current CSRF token.
      const csrf = csrfCookie();
      if (csrf) this.setTokens({ csrf });
      return super.refreshAccess(staleAccess);
    }) as unknown as Promise<string>;
  }
}

export const http = new BrowserHttp({
  baseUrl: "",
  credentials: "same-origin",
  onSessionExpired: () => onSignedOut(),
});

export function setSession(access: string | null, csrf: string | null): void {
  if (access === null && csrf === null) http.clearTokens();
  else http.setTokens({ access, csrf, refresh: null });
}
export function getAccess(): string | null {
  return http.accessToken;
}

export function csrfCookie(): string | null {
  const m = document.cookie.match(/(?:^|;\s*)agora_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : null;
}

/** A new access token from the refresh cookie, or null when there is no session any more. */
export async function refreshAccess(): Promise<string | null> {
  const csrf = csrfCookie();
  if (!csrf) return null;
  if (!http.canRefresh) http.setTokens({ csrf });
  try {
    return await http.refreshAccess();
  } catch {
    return null;
  }
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  query?: Record<string, string | number | boolean | undefined | null>;
  auth?: boolean;
  signal?: AbortSignal;
  headers?: Record<string, string>;
  /** Answer the body as text instead of parsed JSON. */
  raw?: boolean;
  /** Send cookies (the browser-session auth routes). */
  withCredentials?: boolean;
}

export async function api<T = unknown>(path: string, opts: RequestOptions = {}): Promise<T> {
  const auth = opts.auth ?? true;
  try {
    const data = await http.request<unknown>(opts.method ?? "GET", path, {
      query: opts.query,
      body: opts.body,
      headers: opts.headers,
      auth: auth && http.accessToken !== null,
      refreshOn401: auth && http.accessToken !== null,
      withCredentials: opts.withCredentials ?? path.startsWith("/api/auth/"),
      signal: opts.signal,
    });
    if (opts.raw && typeof data !== "string") return JSON.stringify(data) as T;
    return data as T;
  } catch (e) {
    if (e instanceof AgoraError && e.code === "network_error" && opts.signal?.aborted) {
      throw new DOMException("aborted", "AbortError");
    }
    throw e;
  }
}

export interface Page<T> {
  results: T[];
  next_cursor: string | null;
}

/** A human sentence for any thrown value. */
export function describe(e: unknown): string {
  if (e instanceof AgoraError) {
    if (e.status === 429) return `Too many attempts. Try again in ${e.retryAfter ?? 60} seconds.`;
    if (e.code === "network_error") return "The server could not be reached. Check your connection and try again.";
    return e.message.charAt(0).toUpperCase() + e.message.slice(1);
  }
  return "Something went wrong. Please try again.";
}
