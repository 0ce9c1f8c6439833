import { AgoraError, isErrorEnvelope } from "./errors.js";

/** The tokens a client holds. */
export interface Tokens {
  /** The JWT access token (15 minutes by default). */
  access: string | null;
  /** The refresh token (token clients); `null` for browser sessions, which keep it in a cookie. */
  refresh: string | null;
  /** The CSRF token of a browser session (`POST /api/auth/session`), sent as `X-CSRF-Token`. */
  csrf: string | null;
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface HttpOptions {
  /** The server's base URL, e.g. `https://agora.example.com` (no `/api`). */
  baseUrl: string;
  /** Initial tokens (e.g. restored from storage). */
  tokens?: Partial<Tokens>;
  /** A fetch implementation (default: the global `fetch`). */
  fetch?: FetchLike;
  /** Called whenever the tokens change (login, refresh rotation, logout), to persist them. */
  onTokens?: (tokens: Tokens) => void;
  /**
   * Called once when the session cannot be refreshed any more (refresh token spent, revoked
   * or expired): the user has to log in again.
   */
  onSessionExpired?: (error: AgoraError) => void;
  /** `credentials` for fetch; browser sessions on another origin need `include` (default). */
  credentials?: RequestCredentials;
  /** Per-request timeout in milliseconds (default 30000; 0 = none). */
  timeoutMs?: number;
}

export type QueryValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];
export type Query = Record<string, QueryValue>;

export interface RequestOptions {
  query?: Query | undefined;
  body?: unknown;
  headers?: Record<string, string> | undefined;
  /** Send the access token (default true). */
  auth?: boolean;
  /** On a 401, refresh the access token once and retry (default: same as `auth`). */
  refreshOn401?: boolean;
  /** Send cookies (browser-session auth routes). */
  withCredentials?: boolean;
  signal?: AbortSignal | undefined;
}

/** Builds `?a=1&b=x` from a query object, leaving out `undefined` and `null`. */
export function buildQuery(query: Query | undefined): string {
  if (!query) return "";
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const v of value) params.append(key, String(v));
    } else {
      params.append(key, String(value));
    }
  }
  const s = params.toString();
  return s ? `?${s}` : "";
}

/** Fills `{name}` placeholders of a route template with URL-encoded values. */
export function fillPath(template: string, params: Record<string, string> = {}): string {
  return template.replace(/\{([a-z_]+)\}/g, (_, name: string) => {
    const v = params[name];
    if (v === undefined || v === "") throw new TypeError(`missing path parameter ${name} for ${template}`);
    return encodeURIComponent(v);
  });
}

/**
 * The HTTP side: JSON requests under `/api/`, the error envelope turned into
 * {@link AgoraError}, and the token lifecycle: a 401 on an authenticated request refreshes
 * the access token once (rotation: the new refresh token replaces the old one) and retries.
 * Concurrent refreshes share one in-flight request, because a refresh token works exactly
 * once and presenting a spent one revokes the whole session.
 */
export class HttpClient {
  readonly baseUrl: string;
  private readonly fetchImpl: FetchLike;
  private readonly onTokens: ((tokens: Tokens) => void) | undefined;
  private readonly onSessionExpired: ((error: AgoraError) => void) | undefined;
  private readonly credentials: RequestCredentials;
  private readonly timeoutMs: number;
  private tokens: Tokens;
  private inflightRefresh: Promise<string> | null = null;
  /** How many refreshes went to the server (for metrics and tests). */
  refreshCount = 0;

  constructor(opts: HttpOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, "");
    const f = opts.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (!f) throw new TypeError("no fetch available: pass `fetch` in the options");
    this.fetchImpl = (input, init) => f(input, init);
    this.onTokens = opts.onTokens;
    this.onSessionExpired = opts.onSessionExpired;
    this.credentials = opts.credentials ?? "include";
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.tokens = { access: opts.tokens?.access ?? null, refresh: opts.tokens?.refresh ?? null, csrf: opts.tokens?.csrf ?? null };
  }

  /** The current tokens (a copy). */
  getTokens(): Tokens {
    return { ...this.tokens };
  }

  /** The current access token, if any. */
  get accessToken(): string | null {
    return this.tokens.access;
  }

  /** Replaces (part of) the tokens, e.g. after a login. */
  setTokens(tokens: Partial<Tokens>): void {
    this.tokens = { ...this.tokens, ...tokens };
    this.onTokens?.(this.getTokens());
  }

  /** Forgets every token (after a logout). */
  clearTokens(): void {
    this.tokens = { access: null, refresh: null, csrf: null };
    this.onTokens?.(this.getTokens());
  }

  /** Whether a refresh is possible (a refresh token, or a browser session's CSRF token). */
  get canRefresh(): boolean {
    return this.tokens.refresh !== null || this.tokens.csrf !== null;
  }

  /**
   * Gets a new access token. Concurrent callers share one request. With `staleAccess`, the
   * token the caller saw refused: when another caller already replaced it, the current one
   * is answered without a new refresh.
   */
  refreshAccess(staleAccess?: string | null): Promise<string> {
    if (this.inflightRefresh) return this.inflightRefresh;
    if (staleAccess !== undefined && this.tokens.access !== null && this.tokens.access !== staleAccess) {
      return Promise.resolve(this.tokens.access);
    }
    const p = this.doRefresh().finally(() => {
      if (this.inflightRefresh === p) this.inflightRefresh = null;
    });
    this.inflightRefresh = p;
    return p;
  }

  private async doRefresh(): Promise<string> {
    const { refresh, csrf } = this.tokens;
    if (refresh === null && csrf === null) {
      const err = new AgoraError({ status: 401, code: "no_refresh_token", message: "no refresh token or session cookie to refresh with" });
      this.onSessionExpired?.(err);
      throw err;
    }
    this.refreshCount += 1;
    try {
      if (refresh !== null) {
        const pair = await this.request<{ access: string; refresh: string }>("POST", "/api/auth/refresh", {
          body: { refresh },
          auth: false,
          refreshOn401: false,
        });
        this.setTokens({ access: pair.access, refresh: pair.refresh });
        return pair.access;
      }
      const answer = await this.request<{ access: string }>("POST", "/api/auth/refresh", {
        body: {},
        auth: false,
        refreshOn401: false,
        withCredentials: true,
        headers: { "X-CSRF-Token": csrf as string },
      });
      this.setTokens({ access: answer.access });
      return answer.access;
    } catch (e) {
      if (e instanceof AgoraError && (e.status === 401 || e.status === 403)) {
        this.clearTokens();
        this.onSessionExpired?.(e);
      }
      throw e;
    }
  }

  /** One JSON request. Answers the parsed body (`undefined` for 204). */
  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.raw(method, path, opts);
    return res.data as T;
  }

  /** As {@link request}, also answering the status and headers. */
  async raw(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; headers: Headers; data: unknown }> {
    const auth = opts.auth ?? true;
    const refreshOn401 = opts.refreshOn401 ?? auth;
    const usedAccess = auth ? this.tokens.access : null;
    try {
      return await this.once(method, path, opts, usedAccess);
    } catch (e) {
      if (e instanceof AgoraError && e.status === 401 && auth && refreshOn401 && this.canRefresh) {
        const fresh = await this.refreshAccess(usedAccess);
        return await this.once(method, path, opts, fresh);
      }
      throw e;
    }
  }

  private async once(method: string, path: string, opts: RequestOptions, access: string | null): Promise<{ status: number; headers: Headers; data: unknown }> {
    const headers: Record<string, string> = { accept: "application/json", ...(opts.headers ?? {}) };
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    if (access) headers["authorization"] = `Bearer ${access}`;
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (opts.withCredentials) init.credentials = this.credentials;
    const signals: AbortSignal[] = [];
    if (opts.signal) signals.push(opts.signal);
    if (this.timeoutMs > 0) signals.push(AbortSignal.timeout(this.timeoutMs));
    if (signals.length === 1) init.signal = signals[0] as AbortSignal;
    else if (signals.length > 1) init.signal = anySignal(signals);

    let res: Response;
    try {
      res = await this.fetchImpl(this.baseUrl + path + buildQuery(opts.query), init);
    } catch (e) {
      throw new AgoraError({ status: 0, code: "network_error", message: `${method} ${path}: ${(e as Error).message}`, cause: e });
    }
    const requestId = res.headers.get("x-request-id") ?? undefined;
    const text = res.status === 204 ? "" : await res.text();
    let data: unknown = undefined;
    if (text) {
      const type = res.headers.get("content-type") ?? "";
      if (type.includes("json")) {
        try {
          data = JSON.parse(text);
        } catch {
          data = text;
        }
      } else {
        data = text;
      }
    }
    if (res.ok) return { status: res.status, headers: res.headers, data };
    const retryHeader = res.headers.get("retry-after");
    const retryAfter = retryHeader !== null && retryHeader !== "" && !Number.isNaN(Number(retryHeader)) ? Number(retryHeader) : undefined;
    if (isErrorEnvelope(data)) {
      throw new AgoraError({
        status: res.status,
        code: data.error.code,
        message: data.error.message,
        fields: data.error.fields ?? undefined,
        retryAfter,
        requestId,
      });
    }
    throw new AgoraError({
      status: res.status,
      code: `http_${res.status}`,
      message: typeof data === "string" && data ? data.slice(0, 200) : `${method} ${path} answered ${res.status}`,
      retryAfter,
      requestId,
    });
  }
}

function anySignal(signals: AbortSignal[]): AbortSignal {
  const any = (AbortSignal as unknown as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(signals);
  const ctrl = new AbortController();
  for (const s of signals) {
    if (s.aborted) {
      ctrl.abort(s.reason);
      break;
    }
    s.addEventListener("abort", () => ctrl.abort(s.reason), { once: true });
  }
  return ctrl.signal;
}
