import { backoffDelay, resolveBackoff, type BackoffOptions, type ResolvedBackoff } from "./backoff.js";
import { decodeFrame, encodeFrame, SUBPROTOCOLS, type Encoding, type WireData } from "./codec.js";
import { Emitter } from "./emitter.js";
import { AgoraError } from "./errors.js";
import { CLOSE_CODES } from "./frames.js";
import type {
  AckFrame,
  ClientFrame,
  ErrorFrame,
  HelloFrame,
  MessageDeletedFrame,
  MessageEditedFrame,
  MessageFrame,
  NotificationFrame,
  PongFrame,
  PresenceFrame,
  ReadReceiptFrame,
  SendFrame,
  ServerFrame,
  SyncedFrame,
  TypingIndicatorFrame,
  UnreadFrame,
} from "./frames.js";

/**
 * The part of the W3C WebSocket interface the SDK uses (browsers, `ws`, Node 22+). The
 * handlers take `any` so that the DOM's and `ws`'s own event types both fit.
 */
export interface WebSocketLike {
  readonly readyState: number;
  readonly protocol: string;
  binaryType: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: any) => void) | null;
  onmessage: ((ev: any) => void) | null;
  onclose: ((ev: any) => void) | null;
  onerror: ((ev: any) => void) | null;
  /** `ws` only: drop the TCP connection at once. */
  terminate?(): void;
  /** `ws` only: protocol-level events (the server's pings count as traffic). */
  on?(event: string, fn: (...args: any[]) => void): unknown;
}

export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Where the realtime client gets its access token, and how it refreshes it. */
export interface TokenProvider {
  readonly accessToken: string | null;
  readonly canRefresh: boolean;
  /** A new access token; `stale` is the one the server refused. Concurrent calls share one refresh. */
  refreshAccess(stale?: string | null): Promise<string>;
}

export type ConnectionState =
  /** Not started, or `disconnect()`ed: sends are queued. */
  | "offline"
  /** Opening a socket, waiting for `hello`. */
  | "connecting"
  /** `hello` received: live. */
  | "open"
  /** Lost; a reconnect is scheduled. */
  | "reconnecting"
  /** The session cannot be refreshed: log in again, then `connect()`. */
  | "unauthorized"
  /** Closed with `too many connections`: no automatic retry (close another tab first). */
  | "rejected"
  /** `close()`d for good. */
  | "closed";

export interface CloseInfo {
  code: number;
  reason: string;
}

export interface GapInfo {
  conversation_id: string;
  /** The first missing seq. */
  from: number;
  /** The seq after the gap (the lowest buffered). */
  to: number;
}

export interface RealtimeEvents {
  /** The connection state changed. */
  state: ConnectionState;
  /** Every decoded server frame, before the SDK handles it. */
  frame: ServerFrame;
  hello: HelloFrame;
  /** New messages, each exactly once, in `seq` order within each conversation. */
  message: MessageFrame;
  message_edited: MessageEditedFrame;
  message_deleted: MessageDeletedFrame;
  read: ReadReceiptFrame;
  typing: TypingIndicatorFrame;
  presence: PresenceFrame;
  /** Each notification once (deduplicated by id). */
  notification: NotificationFrame;
  unread: UnreadFrame;
  ack: AckFrame;
  /** Every `error` frame (those about a pending send also reject that send). */
  error: ErrorFrame;
  pong: PongFrame;
  synced: SyncedFrame;
  close: CloseInfo;
  /** A gap that `sync` could not fill; the buffered messages after it are delivered anyway. */
  gap: GapInfo;
}

export interface RealtimeOptions {
  /** The server's base URL (`https://host` or `wss://host`); the socket goes to `<base>/ws`. */
  baseUrl: string;
  /** The access token source; an {@link HttpClient} (or `AgoraClient.http`) fits. */
  auth: TokenProvider;
  /** `json` (default) or `msgpack`. */
  encoding?: Encoding;
  /** The WebSocket constructor (default: the global one; in Node 20 pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** Conversations to follow, with the last seq the app holds (0 = replay the whole history). */
  conversations?: Record<string, number>;
  /** The newest notification id the app holds. */
  notificationsAfter?: string;
  backoff?: BackoffOptions;
  /** No `hello` within this many ms after opening: give up on that socket (default 10000). */
  connectTimeoutMs?: number;
  /** This many heartbeat intervals without any frame: the connection is dead (default 3). */
  deadAfterHeartbeats?: number;
  /** Outgoing frames per second, average (default 20; the server allows 50). */
  maxFramesPerSecond?: number;
  /** Outgoing burst (default 40; the server allows 100). */
  maxBurst?: number;
  /** A prefix for generated `client_msg_id`s (default: random per client). */
  clientMsgIdPrefix?: string;
  /** Randomness for the backoff jitter (tests). */
  random?: () => number;
}

interface PendingSend {
  frame: SendFrame;
  resolve: (ack: AckFrame) => void;
  reject: (e: AgoraError) => void;
  promise: Promise<AckFrame>;
  /** The connection it was last written on (null: not yet on the current one). */
  writtenOn: number | null;
  retryTimer: ReturnType<typeof setTimeout> | null;
}

interface Waiter<F> {
  resolve: (f: F) => void;
  reject: (e: AgoraError) => void;
}

interface ConversationCursor {
  /** The highest seq delivered such that every seq up to it was delivered. */
  contiguous: number;
  /** Messages received past a gap, by seq, waiting for the gap to close. */
  buffered: Map<number, MessageFrame>;
  /** Syncs that did not close the gap. */
  gapAttempts: number;
}

const OPEN = 1;
const MAX_SYNC_CONVERSATIONS = 1000;
const MAX_SEEN_NOTIFICATIONS = 2000;
const GAP_SYNC_ATTEMPTS = 3;

function randomId(n: number): string {
  const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  const bytes = new Uint8Array(n);
  const c = (globalThis as { crypto?: { getRandomValues?: (a: Uint8Array) => Uint8Array } }).crypto;
  if (c?.getRandomValues) c.getRandomValues(bytes);
  else for (let i = 0; i < n; i++) bytes[i] = Math.floor(Math.random() * 256);
  let s = "";
  for (const b of bytes) s += alphabet[b % alphabet.length];
  return s;
}

/** The `ws(s)://` URL of the socket endpoint for a base URL. */
export function socketUrl(baseUrl: string, token: string): string {
  const u = new URL(baseUrl);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  u.pathname = u.pathname.replace(/\/+$/, "") + "/ws";
  u.search = "";
  u.searchParams.set("token", token);
  return u.toString();
}

/**
 * The realtime connection of one user: connects with the access token, keeps the socket
 * alive, reconnects with jittered exponential backoff, `sync`s from the last seq it holds
 * per conversation after every (re)connect, delivers each message once and in seq order,
 * and queues sends while offline, retrying them with the same `client_msg_id` until acked.
 */
export class AgoraRealtime extends Emitter<RealtimeEvents> {
  readonly encoding: Encoding;
  private readonly opts: RealtimeOptions;
  private readonly WS: WebSocketConstructor;
  private readonly backoff: ResolvedBackoff;
  private readonly random: () => number;
  private readonly idPrefix: string;
  private idCounter = 0;

  private ws: WebSocketLike | null = null;
  private connectionNo = 0;
  private stateValue: ConnectionState = "offline";
  private wantOpen = false;
  private attempt = 0;
  private openedAt = 0;
  private lastHeard = 0;
  private heartbeatMs = 15_000;
  private authRetries = 0;
  private tokenUsed: string | null = null;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null = null;
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;

  private readonly cursors = new Map<string, ConversationCursor>();
  private readonly pending = new Map<string, PendingSend>();
  /** client_msg_ids of pending sends written at least once (a later write is a retry). */
  private readonly sentBefore = new Set<string>();
  private readonly editWaiters = new Map<string, Waiter<MessageEditedFrame>[]>();
  private readonly deleteWaiters = new Map<string, Waiter<MessageDeletedFrame>[]>();
  /** Pings in flight, oldest first: the app's (with a waiter) and the heartbeat's (without). */
  private pings: { at: number; waiter: Waiter<number> | null }[] = [];
  /** Conversation ids of each sync in flight on this connection, oldest first. */
  private syncsInFlight: Set<string>[] = [];
  private newestNotification: string | undefined;
  private readonly seenNotifications = new Set<string>();
  private readonly seenNotificationOrder: string[] = [];

  private outbox: ClientFrame[] = [];
  private tokens: number;
  private lastRefill = Date.now();
  private drainTimer: ReturnType<typeof setTimeout> | null = null;

  /** The last `hello`, while open. */
  hello: HelloFrame | null = null;
  /** Counters, for monitoring and tests. */
  readonly stats = { connects: 0, reconnects: 0, duplicatesDropped: 0, gapsDetected: 0, syncsSent: 0, sendsRetried: 0 };

  constructor(opts: RealtimeOptions) {
    super();
    this.opts = opts;
    this.encoding = opts.encoding ?? "json";
    const ctor = opts.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!ctor) {
      throw new TypeError("no WebSocket available: pass `WebSocket` in the options (in Node 20: `import WebSocket from \"ws\"`)");
    }
    this.WS = ctor;
    this.backoff = resolveBackoff(opts.backoff);
    this.random = opts.random ?? Math.random;
    this.idPrefix = opts.clientMsgIdPrefix ?? `js-${randomId(10)}`;
    this.tokens = opts.maxBurst ?? 40;
    for (const [id, seq] of Object.entries(opts.conversations ?? {})) this.track(id, seq);
    this.newestNotification = opts.notificationsAfter;
  }

  // --- public API -------------------------------------------------------------------------

  get state(): ConnectionState {
    return this.stateValue;
  }

  /** The subprotocol the server chose, while connected. */
  get protocol(): string | null {
    return this.ws?.protocol || null;
  }

  /** Opens the connection (and keeps it open until `disconnect()` or `close()`). */
  connect(): void {
    if (this.stateValue === "closed") throw new Error("this client was closed; make a new one");
    this.wantOpen = true;
    this.authRetries = 0;
    if (this.ws || this.reconnectTimer) return;
    this.open();
  }

  /** Goes offline: closes the socket, stops reconnecting, keeps pending sends queued. */
  disconnect(): void {
    this.wantOpen = false;
    this.clearReconnect();
    this.dropSocket(1000, "client disconnect");
    this.setState("offline");
  }

  /** Closes for good: pending sends are rejected with code `closed`. */
  close(): void {
    this.disconnect();
    const err = new AgoraError({ status: 0, code: "closed", message: "the realtime client was closed" });
    for (const p of this.pending.values()) {
      if (p.retryTimer) clearTimeout(p.retryTimer);
      p.reject(err);
    }
    this.pending.clear();
    this.sentBefore.clear();
    this.failWaiters(err);
    this.setState("closed");
  }

  /**
   * Follows a conversation from `lastSeq` (0 = its whole history). When connected, syncs it
   * at once; after every reconnect it is synced from the highest contiguous seq delivered.
   */
  track(conversationId: string, lastSeq = 0): void {
    if (this.cursors.has(conversationId)) return;
    this.cursors.set(conversationId, { contiguous: lastSeq, buffered: new Map(), gapAttempts: 0 });
    if (this.stateValue === "open") this.sendSync([conversationId]);
  }

  /** Stops following a conversation (its messages are still delivered while live). */
  untrack(conversationId: string): void {
    this.cursors.delete(conversationId);
  }

  /** The highest seq delivered without gaps for a conversation (undefined when not followed). */
  cursor(conversationId: string): number | undefined {
    return this.cursors.get(conversationId)?.contiguous;
  }

  /** Every followed conversation with its cursor. */
  cursorsSnapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [id, c] of this.cursors) out[id] = c.contiguous;
    return out;
  }

  /** The number of sends not yet acked. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /** A fresh `client_msg_id` (printable ASCII, no spaces, at most 64 characters). */
  newClientMsgId(): string {
    this.idCounter += 1;
    return `${this.idPrefix}-${Date.now().toString(36)}-${this.idCounter.toString(36)}`;
  }

  /**
   * Sends a message. Resolves with the `ack` once the server stored it durably; queued while
   * offline and written again with the same `client_msg_id` after every reconnect until
   * acked (the server deduplicates). Rejects with an {@link AgoraError} for `not_found`,
   * `blocked` and `invalid`; an `internal` error is retried.
   */
  send(conversationId: string, body: string, opts: { clientMsgId?: string; attachmentIds?: string[] } = {}): Promise<AckFrame> {
    const clientMsgId = opts.clientMsgId ?? this.newClientMsgId();
    const existing = this.pending.get(clientMsgId);
    if (existing) return existing.promise;
    if (this.stateValue === "closed") {
      return Promise.reject(new AgoraError({ status: 0, code: "closed", message: "the realtime client was closed", ref: clientMsgId }));
    }
    if (!/^[\x21-\x7e]{1,64}$/.test(clientMsgId)) {
      return Promise.reject(
        new AgoraError({ status: 0, code: "invalid", message: "client_msg_id: 1 to 64 printable ASCII characters without spaces", ref: clientMsgId }),
      );
    }
    const attachmentIds = opts.attachmentIds ?? [];
    if (body.trim() === "" && attachmentIds.length === 0) {
      return Promise.reject(new AgoraError({ status: 0, code: "invalid", message: "body: must not be empty", ref: clientMsgId }));
    }
    let resolve!: (ack: AckFrame) => void;
    let reject!: (e: AgoraError) => void;
    const promise = new Promise<AckFrame>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const entry: PendingSend = {
      frame: attachmentIds.length
        ? { type: "send", conversation_id: conversationId, client_msg_id: clientMsgId, body, attachment_ids: attachmentIds }
        : { type: "send", conversation_id: conversationId, client_msg_id: clientMsgId, body },
      resolve,
      reject,
      promise,
      writtenOn: null,
      retryTimer: null,
    };
    this.pending.set(clientMsgId, entry);
    if (this.stateValue === "open") this.writePending(entry);
    return promise;
  }

  /** Edits one of your messages; resolves with the `message_edited` frame. Needs an open connection. */
  edit(messageId: string, body: string): Promise<MessageEditedFrame> {
    return this.request(this.editWaiters, messageId, { type: "edit", message_id: messageId, body });
  }

  /** Deletes one of your messages; resolves with the `message_deleted` frame. Needs an open connection. */
  delete(messageId: string): Promise<MessageDeletedFrame> {
    return this.request(this.deleteWaiters, messageId, { type: "delete", message_id: messageId });
  }

  /** Marks a conversation read up to `seq`. Answers false when not connected (nothing sent). */
  markRead(conversationId: string, seq: number): boolean {
    return this.sendFrame({ type: "read", conversation_id: conversationId, seq });
  }

  /** Typing indicator. Answers false when not connected (nothing sent). */
  typing(conversationId: string, active: boolean): boolean {
    return this.sendFrame({ type: "typing", conversation_id: conversationId, active });
  }

  /** Sends `ping` and resolves with the round trip in ms. */
  ping(): Promise<number> {
    if (this.stateValue !== "open") {
      return Promise.reject(new AgoraError({ status: 0, code: "offline", message: "not connected" }));
    }
    return new Promise<number>((resolve, reject) => {
      this.pings.push({ at: Date.now(), waiter: { resolve, reject } });
      this.write({ type: "ping" });
    });
  }

  /**
   * Writes any client frame as is while connected (answers false, sending nothing,
   * otherwise). A `sync` written here is accounted like the SDK's own, and its replay is
   * deduplicated like any other.
   */
  sendFrame(frame: ClientFrame): boolean {
    if (this.stateValue !== "open") return false;
    if (frame.type === "sync") {
      this.syncsInFlight.push(new Set(Object.keys(frame.conversations ?? {})));
      this.stats.syncsSent += 1;
    }
    if (frame.type === "ping") this.pings.push({ at: Date.now(), waiter: null });
    this.write(frame);
    return true;
  }

  // --- connection lifecycle -----------------------------------------------------------------

  private setState(s: ConnectionState): void {
    if (this.stateValue === s) return;
    this.stateValue = s;
    this.emit("state", s);
  }

  private open(): void {
    this.reconnectTimer = null;
    if (!this.wantOpen) return;
    const token = this.opts.auth.accessToken;
    if (!token) {
      if (this.opts.auth.canRefresh) {
        void this.refreshThenReconnect(null);
        return;
      }
      this.wantOpen = false;
      this.setState("unauthorized");
      return;
    }
    this.tokenUsed = token;
    this.connectionNo += 1;
    const no = this.connectionNo;
    let sock: WebSocketLike;
    try {
      sock = new this.WS(socketUrl(this.opts.baseUrl, token), [SUBPROTOCOLS[this.encoding]]);
    } catch {
      // A malformed URL or a refused subprotocol list: retry later like any failed connect.
      this.setState("reconnecting");
      this.scheduleReconnect(1006);
      return;
    }
    this.ws = sock;
    this.hello = null;
    this.stats.connects += 1;
    if (this.stateValue !== "reconnecting") this.setState("connecting");
    sock.binaryType = "arraybuffer";
    sock.onmessage = (ev: { data: unknown }) => {
      if (this.ws !== sock || no !== this.connectionNo) return;
      this.lastHeard = Date.now();
      let frame: ServerFrame;
      try {
        frame = decodeFrame(ev.data as WireData);
      } catch {
        return;
      }
      this.handleFrame(frame);
    };
    sock.onclose = (ev: { code: number; reason?: string }) => {
      if (this.ws !== sock) return;
      this.handleClose(ev.code, ev.reason ?? "");
    };
    sock.onerror = () => {
      // Browsers follow an error with a close event, but some implementations (Node 20's
      // built-in WebSocket on a refused connection) never do: treat the error as the end.
      if (this.ws === sock) this.handleClose(1006, "socket error", true);
    };
    if (typeof sock.on === "function") {
      // `ws` exposes the server's protocol pings: they prove the connection is alive.
      sock.on("ping", () => {
        if (this.ws === sock) this.lastHeard = Date.now();
      });
    }
    const timeout = this.opts.connectTimeoutMs ?? 10_000;
    this.connectTimer = setTimeout(() => {
      if (this.ws === sock && !this.hello) this.handleClose(4000, "no hello in time", true);
    }, timeout);
  }

  private handleFrame(frame: ServerFrame): void {
    this.emit("frame", frame);
    switch (frame.type) {
      case "hello":
        this.onHello(frame);
        return;
      case "message":
        this.onMessage(frame);
        return;
      case "ack":
        this.onAck(frame);
        return;
      case "error":
        this.onError(frame);
        return;
      case "synced":
        this.onSynced(frame);
        return;
      case "notification": {
        const id = frame.notification.id;
        if (this.seenNotifications.has(id)) {
          this.stats.duplicatesDropped += 1;
          return;
        }
        this.rememberNotification(id);
        this.emit("notification", frame);
        return;
      }
      case "message_edited":
        this.settle(this.editWaiters, frame.message_id, frame);
        this.emit("message_edited", frame);
        return;
      case "message_deleted":
        this.settle(this.deleteWaiters, frame.message_id, frame);
        this.emit("message_deleted", frame);
        return;
      case "pong": {
        const p = this.pings.shift();
        p?.waiter?.resolve(Date.now() - p.at);
        this.emit("pong", frame);
        return;
      }
      case "read":
        this.emit("read", frame);
        return;
      case "typing":
        this.emit("typing", frame);
        return;
      case "presence":
        this.emit("presence", frame);
        return;
      case "unread":
        this.emit("unread", frame);
        return;
      default:
        return;
    }
  }

  private onHello(hello: HelloFrame): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.hello = hello;
    this.openedAt = Date.now();
    this.lastHeard = this.openedAt;
    this.authRetries = 0;
    this.heartbeatMs = hello.heartbeat_ms > 0 ? hello.heartbeat_ms : 15_000;
    this.syncsInFlight = [];
    this.outbox = [];
    if (this.stats.connects > 1) this.stats.reconnects += 1;
    this.startHeartbeat();
    this.setState("open");
    this.emit("hello", hello);
    // Catch up first, then resend what was not acked (same client_msg_id: no duplicates).
    this.sendSync([...this.cursors.keys()], true);
    for (const p of this.pending.values()) this.writePending(p);
  }

  private startHeartbeat(): void {
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    const every = Math.max(50, Math.floor(this.heartbeatMs / 2));
    const dead = (this.opts.deadAfterHeartbeats ?? 3) * this.heartbeatMs;
    this.heartbeatTimer = setInterval(() => {
      if (!this.ws || this.stateValue !== "open") return;
      const silence = Date.now() - this.lastHeard;
      if (silence >= dead) {
        this.handleClose(4000, "server silent: heartbeat missed", true);
      } else if (silence >= this.heartbeatMs) {
        // Browsers hide protocol pings: ask for a pong so silence means a dead link.
        this.pings.push({ at: Date.now(), waiter: null });
        this.write({ type: "ping" });
      }
    }, every);
  }

  private handleClose(code: number, reason: string, local = false): void {
    const sock = this.ws;
    this.ws = null;
    if (sock) {
      sock.onmessage = null;
      sock.onclose = null;
      sock.onerror = null;
      if (local) {
        try {
          if (sock.terminate) sock.terminate();
          else sock.close(1000, reason);
        } catch {
          // already closing
        }
      }
    }
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.outbox = [];
    this.syncsInFlight = [];
    const wasOpen = this.hello !== null;
    this.hello = null;
    for (const p of this.pending.values()) p.writtenOn = null;
    this.failWaiters(new AgoraError({ status: 0, code: "connection_lost", message: `connection closed (${code}) before an answer` }));
    if (wasOpen && Date.now() - this.openedAt >= this.backoff.resetAfterMs) this.attempt = 0;
    this.emit("close", { code, reason });
    if (!this.wantOpen) return;

    if (code === CLOSE_CODES.UNAUTHORIZED) {
      void this.refreshThenReconnect(this.tokenUsed);
      return;
    }
    if (code === CLOSE_CODES.POLICY && /too many connections/i.test(reason)) {
      this.wantOpen = false;
      this.setState("rejected");
      return;
    }
    this.setState("reconnecting");
    this.scheduleReconnect(code);
  }

  private async refreshThenReconnect(stale: string | null): Promise<void> {
    this.setState("reconnecting");
    this.authRetries += 1;
    if (!this.opts.auth.canRefresh || this.authRetries > 3) {
      this.wantOpen = false;
      this.setState("unauthorized");
      return;
    }
    try {
      await this.opts.auth.refreshAccess(stale);
    } catch (e) {
      if (e instanceof AgoraError && (e.status === 401 || e.status === 403)) {
        this.wantOpen = false;
        this.setState("unauthorized");
        return;
      }
      // The refresh itself failed on the network: back off and try again.
      this.scheduleReconnect(1006);
      return;
    }
    if (!this.wantOpen) return;
    this.clearReconnect();
    this.open();
  }

  private scheduleReconnect(code: number): void {
    this.clearReconnect();
    const delay = code === CLOSE_CODES.TOO_SLOW && this.attempt === 0 ? 0 : backoffDelay(this.attempt, this.backoff, this.random);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.open(), delay);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  private dropSocket(code: number, reason: string): void {
    const sock = this.ws;
    if (!sock) return;
    const wanted = this.wantOpen;
    this.wantOpen = false;
    this.handleClose(code, reason, false);
    this.wantOpen = wanted;
    try {
      sock.close(code, reason);
    } catch {
      // already closed
    }
  }

  // --- messages, acks, sync -----------------------------------------------------------------

  private onMessage(m: MessageFrame): void {
    let c = this.cursors.get(m.conversation_id);
    if (!c) {
      // A conversation nobody asked to follow: follow it from this message on.
      c = { contiguous: m.seq - 1, buffered: new Map(), gapAttempts: 0 };
      this.cursors.set(m.conversation_id, c);
    }
    if (m.seq <= c.contiguous || c.buffered.has(m.seq)) {
      this.stats.duplicatesDropped += 1;
      return;
    }
    if (m.seq === c.contiguous + 1) {
      c.contiguous = m.seq;
      this.emit("message", m);
      this.drainBuffered(c);
      return;
    }
    // A gap: hold this message until the missing ones arrive, and ask for them once.
    c.buffered.set(m.seq, m);
    this.stats.gapsDetected += 1;
    if (!this.syncing(m.conversation_id)) this.sendSync([m.conversation_id]);
  }

  private drainBuffered(c: ConversationCursor): void {
    for (;;) {
      const next = c.buffered.get(c.contiguous + 1);
      if (!next) break;
      c.buffered.delete(next.seq);
      c.contiguous = next.seq;
      this.emit("message", next);
    }
    if (c.buffered.size === 0) c.gapAttempts = 0;
  }

  private syncing(conversationId: string): boolean {
    return this.syncsInFlight.some((s) => s.has(conversationId));
  }

  private sendSync(ids: string[], initial = false): void {
    if (this.stateValue !== "open") return;
    if (ids.length === 0) {
      // Nothing to replay but the notifications missed meanwhile.
      if (initial) this.sendFrame(this.syncFrame([]));
      return;
    }
    for (let i = 0; i < ids.length; i += MAX_SYNC_CONVERSATIONS) {
      this.sendFrame(this.syncFrame(ids.slice(i, i + MAX_SYNC_CONVERSATIONS)));
    }
  }

  private syncFrame(ids: string[]): ClientFrame {
    const conversations: Record<string, number> = {};
    for (const id of ids) {
      const c = this.cursors.get(id);
      if (c) conversations[id] = c.contiguous;
    }
    const frame: { type: "sync"; conversations: Record<string, number>; notifications_after?: string } = { type: "sync", conversations };
    if (this.newestNotification) frame.notifications_after = this.newestNotification;
    return frame;
  }

  private onSynced(frame: SyncedFrame): void {
    const done = this.syncsInFlight.shift() ?? new Set<string>();
    this.emit("synced", frame);
    for (const id of done) {
      const c = this.cursors.get(id);
      if (!c || c.buffered.size === 0 || this.syncing(id)) continue;
      c.gapAttempts += 1;
      if (c.gapAttempts < GAP_SYNC_ATTEMPTS) {
        this.sendSync([id]);
        continue;
      }
      // The server has nothing to fill this gap with: deliver what follows it.
      const lowest = Math.min(...c.buffered.keys());
      this.emit("gap", { conversation_id: id, from: c.contiguous + 1, to: lowest });
      c.contiguous = lowest - 1;
      this.drainBuffered(c);
    }
  }

  private onAck(ack: AckFrame): void {
    const p = this.pending.get(ack.client_msg_id);
    if (p && p.frame.conversation_id === ack.conversation_id) {
      this.pending.delete(ack.client_msg_id);
      this.sentBefore.delete(ack.client_msg_id);
      if (p.retryTimer) clearTimeout(p.retryTimer);
      p.resolve(ack);
    }
    this.emit("ack", ack);
  }

  private onError(frame: ErrorFrame): void {
    this.emit("error", frame);
    const ref = frame.ref;
    if (ref === undefined) return;
    const p = this.pending.get(ref);
    if (p) {
      if (frame.code === "internal") {
        // Safe to retry with the same client_msg_id.
        p.writtenOn = null;
        if (p.retryTimer) clearTimeout(p.retryTimer);
        p.retryTimer = setTimeout(() => {
          p.retryTimer = null;
          if (this.pending.get(ref) === p && this.stateValue === "open") this.writePending(p);
        }, 1000);
        return;
      }
      this.pending.delete(ref);
      this.sentBefore.delete(ref);
      p.reject(new AgoraError({ status: 0, code: frame.code, message: frame.message, ref }));
      return;
    }
    const err = new AgoraError({ status: 0, code: frame.code, message: frame.message, ref });
    if (this.rejectWaiter(this.editWaiters, ref, err) || this.rejectWaiter(this.deleteWaiters, ref, err)) return;
    if (frame.code === "not_found" && this.cursors.has(ref)) {
      // A sync named a conversation that is gone or that we left: stop following it.
      this.cursors.delete(ref);
    }
  }

  private writePending(p: PendingSend): void {
    if (p.writtenOn === this.connectionNo) return;
    const id = p.frame.client_msg_id;
    if (this.sentBefore.has(id)) this.stats.sendsRetried += 1;
    else this.sentBefore.add(id);
    p.writtenOn = this.connectionNo;
    this.write(p.frame);
  }

  private request<F>(waiters: Map<string, Waiter<F>[]>, messageId: string, frame: ClientFrame): Promise<F> {
    if (this.stateValue !== "open") {
      return Promise.reject(new AgoraError({ status: 0, code: "offline", message: "not connected", ref: messageId }));
    }
    return new Promise<F>((resolve, reject) => {
      const list = waiters.get(messageId) ?? [];
      list.push({ resolve, reject });
      waiters.set(messageId, list);
      this.write(frame);
    });
  }

  private settle<F>(waiters: Map<string, Waiter<F>[]>, messageId: string, frame: F): void {
    const list = waiters.get(messageId);
    if (!list) return;
    waiters.delete(messageId);
    for (const w of list) w.resolve(frame);
  }

  private rejectWaiter<F>(waiters: Map<string, Waiter<F>[]>, messageId: string, err: AgoraError): boolean {
    const list = waiters.get(messageId);
    if (!list) return false;
    const w = list.shift();
    if (list.length === 0) waiters.delete(messageId);
    w?.reject(err);
    return true;
  }

  private failWaiters(err: AgoraError): void {
    for (const list of this.editWaiters.values()) for (const w of list) w.reject(err);
    for (const list of this.deleteWaiters.values()) for (const w of list) w.reject(err);
    this.editWaiters.clear();
    this.deleteWaiters.clear();
    for (const p of this.pings.splice(0)) p.waiter?.reject(err);
  }

  private rememberNotification(id: string): void {
    this.seenNotifications.add(id);
    this.seenNotificationOrder.push(id);
    if (this.seenNotificationOrder.length > MAX_SEEN_NOTIFICATIONS) {
      const old = this.seenNotificationOrder.shift();
      if (old !== undefined) this.seenNotifications.delete(old);
    }
    // Notification ids are UUID v7: their string order is their creation order.
    if (this.newestNotification === undefined || id > this.newestNotification) this.newestNotification = id;
  }

  // --- writing, paced under the server's inbound rate limit -------------------------------------

  private write(frame: ClientFrame): void {
    this.outbox.push(frame);
    this.drain();
  }

  private drain(): void {
    this.drainTimer = null;
    const sock = this.ws;
    if (!sock || sock.readyState !== OPEN) return;
    const rate = this.opts.maxFramesPerSecond ?? 20;
    const burst = this.opts.maxBurst ?? 40;
    const now = Date.now();
    this.tokens = Math.min(burst, this.tokens + ((now - this.lastRefill) / 1000) * rate);
    this.lastRefill = now;
    while (this.outbox.length > 0 && this.tokens >= 1) {
      const frame = this.outbox.shift() as ClientFrame;
      this.tokens -= 1;
      try {
        sock.send(encodeFrame(frame, this.encoding));
      } catch {
        // The socket is going away; its close event triggers the reconnect and resend.
        return;
      }
    }
    if (this.outbox.length > 0 && !this.drainTimer) {
      this.drainTimer = setTimeout(() => this.drain(), Math.ceil(1000 / rate));
    }
  }
}
