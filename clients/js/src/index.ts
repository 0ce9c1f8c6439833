/**
 * `@agora/sdk`: Agora's WebSocket protocol (`agora.v1`, JSON or MessagePack) and REST API.
 *
 * ```ts
 * import { AgoraClient } from "@agora/sdk";
 * const agora = new AgoraClient({ baseUrl: "https://agora.example.com" });
 * await agora.auth.login({ email, password });
 * const rt = agora.realtime({ conversations: { [conversationId]: 0 } });
 * rt.on("message", (m) => render(m));
 * rt.connect();
 * await rt.send(conversationId, "Hi!");
 * ```
 */
import { HttpClient, type HttpOptions } from "./http.js";
import { AgoraRealtime, type RealtimeOptions, type WebSocketConstructor } from "./realtime.js";
import { AgoraRest } from "./rest.js";
import type { Encoding } from "./codec.js";

export interface AgoraClientOptions extends HttpOptions {
  /** The WebSocket constructor for `realtime()` (default: the global one; in Node 20 pass `ws`). */
  WebSocket?: WebSocketConstructor;
  /** The default encoding of `realtime()` connections. */
  encoding?: Encoding;
}

/** REST helpers plus a factory for realtime connections sharing the same tokens. */
export class AgoraClient extends AgoraRest {
  private readonly clientOpts: AgoraClientOptions;

  constructor(opts: AgoraClientOptions) {
    super(new HttpClient(opts));
    this.clientOpts = opts;
  }

  /**
   * A realtime connection authenticated with this client's tokens: a 4001 close refreshes
   * them through the same single in-flight refresh as REST's 401s. Call `connect()` on it.
   */
  realtime(opts: Partial<Omit<RealtimeOptions, "auth" | "baseUrl">> = {}): AgoraRealtime {
    const o: RealtimeOptions = { ...opts, baseUrl: this.http.baseUrl, auth: this.http };
    const ws = opts.WebSocket ?? this.clientOpts.WebSocket;
    if (ws) o.WebSocket = ws;
    const enc = opts.encoding ?? this.clientOpts.encoding;
    if (enc) o.encoding = enc;
    return new AgoraRealtime(o);
  }
}

export { AgoraError, isErrorEnvelope, type AgoraErrorInit, type FieldErrors } from "./errors.js";
export { HttpClient, buildQuery, fillPath, type FetchLike, type HttpOptions, type Query, type RequestOptions, type Tokens } from "./http.js";
export { AgoraRest, ROUTES, paginate, type RouteName } from "./rest.js";
export {
  AgoraRealtime,
  socketUrl,
  type CloseInfo,
  type ConnectionState,
  type GapInfo,
  type RealtimeEvents,
  type RealtimeOptions,
  type TokenProvider,
  type WebSocketConstructor,
  type WebSocketLike,
} from "./realtime.js";
export { decodeFrame, encodeFrame, FrameDecodeError, SUBPROTOCOLS, type Encoding, type WireData } from "./codec.js";
export { backoffDelay, resolveBackoff, type BackoffOptions } from "./backoff.js";
export { uploadFile, uploadMultipart, type UploadOptions } from "./uploads.js";
export { Emitter, type Listener } from "./emitter.js";
export * from "./frames.js";
export type * from "./types.js";
