import { HttpClient, fillPath, type HttpOptions, type Query, type Tokens } from "./http.js";
import type * as T from "./types.js";

/**
 * Every REST route the SDK calls, as `[method, path template]`. The test suite checks each
 * one against the running server's OpenAPI document (`GET /api/schema`).
 */
export const ROUTES = {
  register: ["POST", "/api/auth/register"],
  login: ["POST", "/api/auth/login"],
  session: ["POST", "/api/auth/session"],
  refresh: ["POST", "/api/auth/refresh"],
  logout: ["POST", "/api/auth/logout"],
  verifyToken: ["POST", "/api/auth/verify"],
  me: ["GET", "/api/auth/me"],
  updateMe: ["PATCH", "/api/auth/me"],
  passwordChange: ["POST", "/api/auth/password/change"],
  passwordReset: ["POST", "/api/auth/password-reset"],
  passwordResetConfirm: ["POST", "/api/auth/password-reset/confirm"],
  verifyEmail: ["POST", "/api/auth/verify-email"],
  verifyEmailResend: ["POST", "/api/auth/verify-email/resend"],
  user: ["GET", "/api/users/{id}"],

  services: ["GET", "/api/services"],
  service: ["GET", "/api/services/{id}"],
  serviceCreate: ["POST", "/api/services"],
  serviceUpdate: ["PATCH", "/api/services/{id}"],
  serviceDelete: ["DELETE", "/api/services/{id}"],
  serviceLike: ["PUT", "/api/services/{id}/like"],
  serviceUnlike: ["DELETE", "/api/services/{id}/like"],
  serviceReviews: ["GET", "/api/services/{id}/reviews"],

  providers: ["GET", "/api/providers"],
  provider: ["GET", "/api/providers/{id}"],
  providerCreate: ["POST", "/api/providers"],
  providerUpdate: ["PATCH", "/api/providers/{id}"],
  providerServices: ["GET", "/api/providers/{id}/services"],
  providerReviews: ["GET", "/api/providers/{id}/reviews"],

  jobs: ["GET", "/api/jobs"],
  jobsMine: ["GET", "/api/jobs/mine"],
  job: ["GET", "/api/jobs/{id}"],
  jobCreate: ["POST", "/api/jobs"],
  jobUpdate: ["PATCH", "/api/jobs/{id}"],
  jobWithdraw: ["DELETE", "/api/jobs/{id}"],
  jobProposals: ["GET", "/api/jobs/{id}/proposals"],
  jobHire: ["POST", "/api/jobs/{id}/hire"],

  proposals: ["GET", "/api/proposals"],
  proposal: ["GET", "/api/proposals/{id}"],
  proposalCreate: ["POST", "/api/proposals"],
  proposalWithdraw: ["POST", "/api/proposals/{id}/withdraw"],
  proposalAccept: ["POST", "/api/proposals/{id}/accept"],

  contracts: ["GET", "/api/contracts"],
  contract: ["GET", "/api/contracts/{id}"],
  contractStatus: ["POST", "/api/contracts/{id}/status"],
  contractEvents: ["GET", "/api/contracts/{id}/events"],

  bookings: ["GET", "/api/bookings"],
  booking: ["GET", "/api/bookings/{id}"],
  bookingCreate: ["POST", "/api/bookings"],
  bookingStatus: ["POST", "/api/bookings/{id}/status"],

  reviews: ["GET", "/api/reviews"],
  review: ["GET", "/api/reviews/{id}"],
  reviewCreate: ["POST", "/api/reviews"],
  reviewUpdate: ["PATCH", "/api/reviews/{id}"],
  reviewDelete: ["DELETE", "/api/reviews/{id}"],
  reviewReply: ["POST", "/api/reviews/{id}/reply"],

  conversations: ["GET", "/api/conversations"],
  conversation: ["GET", "/api/conversations/{id}"],
  conversationCreate: ["POST", "/api/conversations"],
  conversationMessages: ["GET", "/api/conversations/{id}/messages"],
  conversationSend: ["POST", "/api/conversations/{id}/messages"],
  conversationRead: ["POST", "/api/conversations/{id}/read"],
  messageEdit: ["PATCH", "/api/messages/{id}"],
  messageDelete: ["DELETE", "/api/messages/{id}"],

  notifications: ["GET", "/api/notifications"],
  notificationsUnreadCount: ["GET", "/api/notifications/unread-count"],
  notificationRead: ["POST", "/api/notifications/{id}/read"],
  notificationsReadAll: ["POST", "/api/notifications/read-all"],
  notificationDelete: ["DELETE", "/api/notifications/{id}"],
  notificationPreferences: ["GET", "/api/notifications/preferences"],
  notificationPreferencesUpdate: ["PUT", "/api/notifications/preferences"],
} as const satisfies Record<string, readonly [string, string]>;

export type RouteName = keyof typeof ROUTES;

interface CallOptions {
  path?: Record<string, string>;
  query?: Query | undefined;
  body?: unknown;
  auth?: boolean;
  headers?: Record<string, string>;
  withCredentials?: boolean;
}

/** Iterates every item of a cursor-paged list, fetching pages as needed. */
export async function* paginate<Item, P extends T.PageParams>(
  fetchPage: (params: P) => Promise<T.Page<Item>>,
  params: P = {} as P,
): AsyncGenerator<Item, void, undefined> {
  let cursor: string | null | undefined = params.cursor;
  for (;;) {
    const page = await fetchPage({ ...params, cursor: cursor ?? undefined });
    for (const item of page.results) yield item;
    if (!page.next_cursor) return;
    cursor = page.next_cursor;
  }
}

/** Typed helpers for Agora's REST API (see docs in `/api/schema`). */
export class AgoraRest {
  readonly http: HttpClient;

  constructor(opts: HttpOptions | HttpClient) {
    this.http = opts instanceof HttpClient ? opts : new HttpClient(opts);
  }

  /** Calls one route of {@link ROUTES}. */
  call<R>(name: RouteName, opts: CallOptions = {}): Promise<R> {
    const [method, template] = ROUTES[name];
    return this.http.request<R>(method, fillPath(template, opts.path), {
      query: opts.query,
      body: opts.body,
      auth: opts.auth ?? true,
      headers: opts.headers,
      withCredentials: opts.withCredentials ?? false,
    });
  }

  private q(params: object | undefined): Query | undefined {
    return params as Query | undefined;
  }

  // --- auth -------------------------------------------------------------------------------

  readonly auth = {
    /** Creates an account and logs in (stores the tokens). */
    register: async (body: T.RegisterBody): Promise<T.AuthResponse> => {
      const r = await this.call<T.AuthResponse>("register", { body, auth: false });
      this.http.setTokens({ access: r.access, refresh: r.refresh, csrf: null });
      return r;
    },
    /** Logs in with email or username (stores the tokens). */
    login: async (body: T.LoginBody): Promise<T.AuthResponse> => {
      const r = await this.call<T.AuthResponse>("login", { body, auth: false });
      this.http.setTokens({ access: r.access, refresh: r.refresh, csrf: null });
      return r;
    },
    /**
     * Browser login: the refresh token goes into an HttpOnly cookie, the access token stays
     * in memory, refreshes then use the cookie and the `X-CSRF-Token` header.
     */
    sessionLogin: async (body: T.LoginBody): Promise<T.SessionResponse> => {
      const r = await this.call<T.SessionResponse>("session", { body, auth: false, withCredentials: true });
      this.http.setTokens({ access: r.access, refresh: null, csrf: r.csrf });
      return r;
    },
    /** Rotates the tokens now (a refresh token works once). Shares an in-flight refresh. */
    refresh: async (): Promise<Tokens> => {
      await this.http.refreshAccess();
      return this.http.getTokens();
    },
    /** Ends the session (refresh family and access token) and forgets the tokens. */
    logout: async (): Promise<void> => {
      const { refresh, csrf } = this.http.getTokens();
      try {
        if (refresh !== null) {
          await this.call<void>("logout", { body: { refresh } });
        } else {
          await this.call<void>("logout", { body: {}, withCredentials: true, headers: csrf ? { "X-CSRF-Token": csrf } : {} });
        }
      } finally {
        this.http.clearTokens();
      }
    },
    /** `{}` when the token is valid and not revoked; throws a 401 `AgoraError` otherwise. */
    verifyToken: (token: string): Promise<Record<string, never>> => this.call("verifyToken", { body: { token }, auth: false }),
    me: (): Promise<T.User> => this.call("me"),
    updateMe: (body: T.PatchMeBody): Promise<T.User> => this.call("updateMe", { body }),
    changePassword: (old_password: string, new_password: string): Promise<void> =>
      this.call("passwordChange", { body: { old_password, new_password } }),
    /** Always resolves (202): no account enumeration. The token goes out by email. */
    requestPasswordReset: (email: string): Promise<void> =>
      this.call<unknown>("passwordReset", { body: { email }, auth: false }).then(() => undefined),
    confirmPasswordReset: (token: string, new_password: string): Promise<void> =>
      this.call("passwordResetConfirm", { body: { token, new_password }, auth: false }),
    verifyEmail: (token: string): Promise<void> => this.call("verifyEmail", { body: { token }, auth: false }),
    resendVerification: (): Promise<void> => this.call<unknown>("verifyEmailResend").then(() => undefined),
  };

  readonly users = {
    get: (id: string): Promise<T.User> => this.call("user", { path: { id } }),
  };

  // --- marketplace ------------------------------------------------------------------------

  readonly services = {
    list: (filters: T.ServiceFilters = {}): Promise<T.Page<T.Service>> => this.call("services", { query: this.q(filters) }),
    all: (filters: T.ServiceFilters = {}): AsyncGenerator<T.Service> => paginate(this.services.list, filters),
    get: (id: string): Promise<T.Service> => this.call("service", { path: { id } }),
    create: (body: T.ServiceBody): Promise<T.Service> => this.call("serviceCreate", { body }),
    update: (id: string, body: Partial<T.ServiceBody>): Promise<T.Service> => this.call("serviceUpdate", { path: { id }, body }),
    remove: (id: string): Promise<void> => this.call("serviceDelete", { path: { id } }),
    like: (id: string): Promise<T.LikeState> => this.call("serviceLike", { path: { id } }),
    unlike: (id: string): Promise<T.LikeState> => this.call("serviceUnlike", { path: { id } }),
    reviews: (id: string, page: T.PageParams = {}): Promise<T.Page<T.Review>> =>
      this.call("serviceReviews", { path: { id }, query: this.q(page) }),
  };

  readonly providers = {
    list: (filters: T.ProviderFilters = {}): Promise<T.Page<T.Provider>> => this.call("providers", { query: this.q(filters) }),
    all: (filters: T.ProviderFilters = {}): AsyncGenerator<T.Provider> => paginate(this.providers.list, filters),
    get: (id: string): Promise<T.Provider> => this.call("provider", { path: { id } }),
    create: (body: T.ProviderBody): Promise<T.Provider> => this.call("providerCreate", { body }),
    update: (id: string, body: Partial<T.ProviderBody>): Promise<T.Provider> => this.call("providerUpdate", { path: { id }, body }),
    services: (id: string, page: T.PageParams = {}): Promise<T.Page<T.Service>> =>
      this.call("providerServices", { path: { id }, query: this.q(page) }),
    reviews: (id: string, page: T.PageParams = {}): Promise<T.Page<T.Review>> =>
      this.call("providerReviews", { path: { id }, query: this.q(page) }),
  };

  readonly jobs = {
    /** Open jobs (providers, workers, admins). */
    list: (filters: T.JobFilters = {}): Promise<T.Page<T.Job>> => this.call("jobs", { query: this.q(filters) }),
    all: (filters: T.JobFilters = {}): AsyncGenerator<T.Job> => paginate(this.jobs.list, filters),
    /** The caller's own jobs. */
    mine: (filters: T.PageParams & { status?: T.JobStatus } = {}): Promise<T.Page<T.Job>> => this.call("jobsMine", { query: this.q(filters) }),
    get: (id: string): Promise<T.Job> => this.call("job", { path: { id } }),
    /** A client posts a job. */
    post: (body: T.JobBody): Promise<T.Job> => this.call("jobCreate", { body }),
    update: (id: string, body: T.JobPatch): Promise<T.Job> => this.call("jobUpdate", { path: { id }, body }),
    /** Withdraws an open job nobody was hired for. */
    withdraw: (id: string): Promise<void> => this.call("jobWithdraw", { path: { id } }),
    proposals: (id: string, page: T.PageParams = {}): Promise<T.Page<T.Proposal>> =>
      this.call("jobProposals", { path: { id }, query: this.q(page) }),
    /** Accepts a proposal of this job (alias of `proposals.accept`): the new contract. */
    hire: (id: string, proposal_id: string): Promise<T.Contract> => this.call("jobHire", { path: { id }, body: { proposal_id } }),
  };

  readonly proposals = {
    /** The proposals the caller sent. */
    list: (page: T.PageParams = {}): Promise<T.Page<T.Proposal>> => this.call("proposals", { query: this.q(page) }),
    get: (id: string): Promise<T.Proposal> => this.call("proposal", { path: { id } }),
    send: (body: T.ProposalBody): Promise<T.Proposal> => this.call("proposalCreate", { body }),
    withdraw: (id: string): Promise<T.Proposal> => this.call("proposalWithdraw", { path: { id } }),
    /** The job's client accepts: answers the contract, created exactly once (a second accept is 409). */
    accept: (id: string): Promise<T.Contract> => this.call("proposalAccept", { path: { id } }),
  };

  readonly contracts = {
    list: (filters: T.PageParams & { status?: T.ContractStatus } = {}): Promise<T.Page<T.Contract>> =>
      this.call("contracts", { query: this.q(filters) }),
    get: (id: string): Promise<T.Contract> => this.call("contract", { path: { id } }),
    setStatus: (id: string, status: T.ContractStatus, reason?: string): Promise<T.Contract> =>
      this.call("contractStatus", { path: { id }, body: reason === undefined ? { status } : { status, reason } }),
    events: (id: string, page: T.PageParams = {}): Promise<T.Page<T.ContractEvent>> =>
      this.call("contractEvents", { path: { id }, query: this.q(page) }),
  };

  readonly bookings = {
    list: (filters: T.BookingFilters = {}): Promise<T.Page<T.Booking>> => this.call("bookings", { query: this.q(filters) }),
    get: (id: string): Promise<T.Booking> => this.call("booking", { path: { id } }),
    create: (body: T.BookingBody): Promise<T.Booking> => this.call("bookingCreate", { body }),
    /** Confirming a priced booking charges the client: pass an `idempotencyKey` to retry safely. */
    setStatus: (id: string, status: T.BookingStatus, opts: { idempotencyKey?: string } = {}): Promise<T.Booking> =>
      this.call("bookingStatus", {
        path: { id },
        body: { status },
        headers: opts.idempotencyKey ? { "Idempotency-Key": opts.idempotencyKey } : {},
      }),
  };

  readonly reviews = {
    /** At least one filter is required. */
    list: (filters: T.ReviewFilters): Promise<T.Page<T.Review>> => this.call("reviews", { query: this.q(filters) }),
    get: (id: string): Promise<T.Review> => this.call("review", { path: { id } }),
    create: (body: T.ReviewBody): Promise<T.Review> => this.call("reviewCreate", { body }),
    update: (id: string, body: { rating?: number; comment?: string }): Promise<T.Review> => this.call("reviewUpdate", { path: { id }, body }),
    remove: (id: string): Promise<void> => this.call("reviewDelete", { path: { id } }),
    reply: (id: string, reply: string): Promise<T.Review> => this.call("reviewReply", { path: { id }, body: { reply } }),
  };

  /** Likes are on services: `services.like` / `services.unlike`; these are the same calls. */
  readonly likes = {
    like: (serviceId: string): Promise<T.LikeState> => this.services.like(serviceId),
    unlike: (serviceId: string): Promise<T.LikeState> => this.services.unlike(serviceId),
  };

  // --- messaging --------------------------------------------------------------------------

  readonly conversations = {
    /** Mine, newest activity first, each with its last message and unread count. */
    list: (page: T.PageParams = {}): Promise<T.Page<T.Conversation>> => this.call("conversations", { query: this.q(page) }),
    all: (page: T.PageParams = {}): AsyncGenerator<T.Conversation> => paginate(this.conversations.list, page),
    get: (id: string): Promise<T.Conversation> => this.call("conversation", { path: { id } }),
    /** A direct conversation between two users is unique: asking again answers the existing one. */
    create: (body: T.CreateConversationBody): Promise<T.Conversation> => this.call("conversationCreate", { body }),
    /** History, newest first; `next_cursor` is the `before_seq` of the next (older) page. */
    history: (id: string, params: T.HistoryParams = {}): Promise<T.Page<T.ChatMessage>> =>
      this.call("conversationMessages", { path: { id }, query: this.q(params) }),
    /** Every message, newest first, fetching older pages as needed. */
    allHistory: (id: string, params: T.HistoryParams = {}): AsyncGenerator<T.ChatMessage> =>
      paginate((p: T.HistoryParams) => this.conversations.history(id, p), params),
    /** Sends over REST (also delivered live). A repeated `client_msg_id` answers the original. */
    send: (id: string, body: string, client_msg_id?: string): Promise<T.ChatMessage> =>
      this.call("conversationSend", { path: { id }, body: client_msg_id === undefined ? { body } : { body, client_msg_id } }),
    markRead: (id: string, seq: number): Promise<T.ReadCursor> => this.call("conversationRead", { path: { id }, body: { seq } }),
  };

  readonly messages = {
    edit: (id: string, body: string): Promise<T.ChatMessage> => this.call("messageEdit", { path: { id }, body: { body } }),
    remove: (id: string): Promise<void> => this.call("messageDelete", { path: { id } }),
  };

  readonly notifications = {
    list: (filters: T.NotificationFilters = {}): Promise<T.Page<T.Notification>> => this.call("notifications", { query: this.q(filters) }),
    all: (filters: T.NotificationFilters = {}): AsyncGenerator<T.Notification> => paginate(this.notifications.list, filters),
    unreadCount: (): Promise<T.UnreadCount> => this.call("notificationsUnreadCount"),
    markRead: (id: string): Promise<T.Notification> => this.call("notificationRead", { path: { id } }),
    markAllRead: (): Promise<{ updated: number }> => this.call("notificationsReadAll"),
    remove: (id: string): Promise<void> => this.call("notificationDelete", { path: { id } }),
    preferences: (): Promise<T.Preferences> => this.call("notificationPreferences"),
    /** A partial document: what is absent stays as it was. */
    updatePreferences: (patch: T.PreferencesPatch): Promise<T.Preferences> => this.call("notificationPreferencesUpdate", { body: patch }),
  };
}
