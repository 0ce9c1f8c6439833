/**
 * The frames of the `agora.v1` WebSocket protocol (docs/protocol.md, "Frames").
 *
 * Every frame, both ways, is one object with a string field `type`. Ids are UUID strings,
 * times RFC 3339 UTC strings, `seq` and counters non-negative integers. Server frames may
 * gain new optional fields within v1: the SDK passes unknown fields through untouched.
 */
import type { MessageAttachment } from "./types.js";

// ---------------------------------------------------------------------------------------
// Client -> server
// ---------------------------------------------------------------------------------------

/** Post a message. Answered by `ack` (and a `message` frame to every member). */
export interface SendFrame {
  type: "send";
  conversation_id: string;
  /** 1 to 64 printable ASCII characters without spaces, unique per sender and conversation. */
  client_msg_id: string;
  /** 1 to 4000 characters, not only whitespace, no NUL; may be `""` with `attachment_ids`. */
  body: string;
  /** Up to 10 of the sender's unattached uploads (`/api/uploads`). */
  attachment_ids?: string[];
}

/** Change one of your messages. Success is the `message_edited` frame. */
export interface EditFrame {
  type: "edit";
  message_id: string;
  body: string;
}

/** Delete one of your messages. Success is the `message_deleted` frame. */
export interface DeleteFrame {
  type: "delete";
  message_id: string;
}

/** Move the read cursor of a conversation forward. */
export interface ReadFrame {
  type: "read";
  conversation_id: string;
  seq: number;
}

/** Typing indicator (never stored, rate limited). */
export interface TypingFrame {
  type: "typing";
  conversation_id: string;
  active: boolean;
}

/** Catch up: replays messages after each `last_seq`, then notifications, then `synced`. */
export interface SyncFrame {
  type: "sync";
  /** conversation id -> last seq held (0 = the whole history). */
  conversations?: Record<string, number>;
  /** The id of the newest notification held. */
  notifications_after?: string;
}

/** Application-level ping, answered by `pong`. */
export interface PingFrame {
  type: "ping";
}

export type ClientFrame = SendFrame | EditFrame | DeleteFrame | ReadFrame | TypingFrame | SyncFrame | PingFrame;
export type ClientFrameType = ClientFrame["type"];

// ---------------------------------------------------------------------------------------
// Server -> client
// ---------------------------------------------------------------------------------------

/** Always the first frame of a connection. */
export interface HelloFrame {
  type: "hello";
  user_id: string;
  connection_id: number;
  heartbeat_ms: number;
  server_time: string;
}

/** A new message, live or replayed by `sync`. */
export interface MessageFrame {
  type: "message";
  conversation_id: string;
  message_id: string;
  seq: number;
  sender_id: string;
  body: string;
  sent_at: string;
  client_msg_id?: string;
  /** Only in `sync` replays of edited messages. */
  edited_at?: string;
  /** Only in `sync` replays of deleted messages (then `body` is empty). */
  deleted?: boolean;
  /** The files sent with it (absent when none, empty once deleted). */
  attachments?: MessageAttachment[];
}

export interface MessageEditedFrame {
  type: "message_edited";
  conversation_id: string;
  message_id: string;
  seq: number;
  body: string;
  edited_at: string;
}

export interface MessageDeletedFrame {
  type: "message_deleted";
  conversation_id: string;
  message_id: string;
  seq: number;
}

/** A member's read cursor moved. */
export interface ReadReceiptFrame {
  type: "read";
  conversation_id: string;
  user_id: string;
  seq: number;
}

/** Another member is (or stopped) typing. */
export interface TypingIndicatorFrame {
  type: "typing";
  conversation_id: string;
  user_id: string;
  active: boolean;
}

/** A contact came online or went offline. */
export interface PresenceFrame {
  type: "presence";
  user_id: string;
  online: boolean;
}

export type NotificationType =
  | "info"
  | "success"
  | "warning"
  | "error"
  | "proposal"
  | "contract"
  | "payment"
  | "review"
  | "message"
  | "booking";

/** A notification, as in `GET /api/notifications` and in the `notification` frame. */
export interface Notification {
  id: string;
  type: NotificationType;
  title: string;
  message: string;
  action_url: string | null;
  actor_id?: string;
  object_type?: string;
  object_id?: string;
  read: boolean;
  created_at: string;
  expires_at?: string;
}

export interface NotificationFrame {
  type: "notification";
  notification: Notification;
}

/** Badge counters. */
export interface UnreadFrame {
  type: "unread";
  notifications: number;
  conversations: number;
}

/** A `send` is durable. Only to the connection that sent it. */
export interface AckFrame {
  type: "ack";
  conversation_id: string;
  client_msg_id: string;
  message_id: string;
  seq: number;
  sent_at: string;
}

export type FrameErrorCode =
  | "invalid_frame"
  | "unknown_type"
  | "frame_too_large"
  | "not_found"
  | "forbidden"
  | "blocked"
  | "conflict"
  | "invalid"
  | "rate_limited"
  | "internal";

/** A client frame could not be used; the connection stays open. */
export interface ErrorFrame {
  type: "error";
  code: FrameErrorCode | (string & {});
  message: string;
  /** Which request it is about (see docs/protocol.md "Errors"). */
  ref?: string;
}

export interface PongFrame {
  type: "pong";
}

/** Ends a `sync` replay. */
export interface SyncedFrame {
  type: "synced";
}

export type ServerFrame =
  | HelloFrame
  | MessageFrame
  | MessageEditedFrame
  | MessageDeletedFrame
  | ReadReceiptFrame
  | TypingIndicatorFrame
  | PresenceFrame
  | NotificationFrame
  | UnreadFrame
  | AckFrame
  | ErrorFrame
  | PongFrame
  | SyncedFrame;
export type ServerFrameType = ServerFrame["type"];

/** The server frame of a given type. */
export type ServerFrameOf<T extends ServerFrameType> = Extract<ServerFrame, { type: T }>;
/** The client frame of a given type. */
export type ClientFrameOf<T extends ClientFrameType> = Extract<ClientFrame, { type: T }>;

// ---------------------------------------------------------------------------------------
// Runtime description (kept equal to the types above by the compile-time checks below, and
// to docs/protocol.md by the test suite)
// ---------------------------------------------------------------------------------------

export interface FrameFields {
  required: readonly string[];
  optional: readonly string[];
}

type FieldTable<F extends { type: string }> = {
  [T in F["type"]]: {
    required: readonly Exclude<keyof Extract<F, { type: T }>, "type">[];
    optional: readonly Exclude<keyof Extract<F, { type: T }>, "type">[];
  };
};

/** Fields of every client frame (besides `type`). */
export const CLIENT_FRAME_FIELDS = {
  send: { required: ["conversation_id", "client_msg_id", "body"], optional: ["attachment_ids"] },
  edit: { required: ["message_id", "body"], optional: [] },
  delete: { required: ["message_id"], optional: [] },
  read: { required: ["conversation_id", "seq"], optional: [] },
  typing: { required: ["conversation_id", "active"], optional: [] },
  sync: { required: [], optional: ["conversations", "notifications_after"] },
  ping: { required: [], optional: [] },
} as const satisfies FieldTable<ClientFrame>;

/** Fields of every server frame (besides `type`). */
export const SERVER_FRAME_FIELDS = {
  hello: { required: ["user_id", "connection_id", "heartbeat_ms", "server_time"], optional: [] },
  message: {
    required: ["conversation_id", "message_id", "seq", "sender_id", "body", "sent_at"],
    optional: ["client_msg_id", "edited_at", "deleted", "attachments"],
  },
  message_edited: { required: ["conversation_id", "message_id", "seq", "body", "edited_at"], optional: [] },
  message_deleted: { required: ["conversation_id", "message_id", "seq"], optional: [] },
  read: { required: ["conversation_id", "user_id", "seq"], optional: [] },
  typing: { required: ["conversation_id", "user_id", "active"], optional: [] },
  presence: { required: ["user_id", "online"], optional: [] },
  notification: { required: ["notification"], optional: [] },
  unread: { required: ["notifications", "conversations"], optional: [] },
  ack: { required: ["conversation_id", "client_msg_id", "message_id", "seq", "sent_at"], optional: [] },
  error: { required: ["code", "message"], optional: ["ref"] },
  pong: { required: [], optional: [] },
  synced: { required: [], optional: [] },
} as const satisfies FieldTable<ServerFrame>;

/** Every client frame type, in the order of docs/protocol.md. */
export const CLIENT_FRAME_TYPES = Object.keys(CLIENT_FRAME_FIELDS) as ClientFrameType[];
/** Every server frame type, in the order of docs/protocol.md. */
export const SERVER_FRAME_TYPES = Object.keys(SERVER_FRAME_FIELDS) as ServerFrameType[];

// Compile-time checks: each table lists every frame type, and every key of each frame type
// (required keys as required, optional keys as optional).
type RequiredKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? never : K }[keyof T];
type OptionalKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? K : never }[keyof T];
type Covers<F extends { type: string }, Table extends FieldTable<F>> = {
  [T in F["type"]]: [Exclude<RequiredKeys<Extract<F, { type: T }>>, "type" | Table[T]["required"][number]>] extends [never]
    ? [Exclude<OptionalKeys<Extract<F, { type: T }>>, Table[T]["optional"][number]>] extends [never]
      ? true
      : { missingOptional: Exclude<OptionalKeys<Extract<F, { type: T }>>, Table[T]["optional"][number]> }
    : { missingRequired: Exclude<RequiredKeys<Extract<F, { type: T }>>, "type" | Table[T]["required"][number]> };
};
type AllTrue<T> = { [K in keyof T]: T[K] extends true ? true : T[K] };
const clientTableComplete: AllTrue<Covers<ClientFrame, typeof CLIENT_FRAME_FIELDS>> = {
  send: true,
  edit: true,
  delete: true,
  read: true,
  typing: true,
  sync: true,
  ping: true,
};
const serverTableComplete: AllTrue<Covers<ServerFrame, typeof SERVER_FRAME_FIELDS>> = {
  hello: true,
  message: true,
  message_edited: true,
  message_deleted: true,
  read: true,
  typing: true,
  presence: true,
  notification: true,
  unread: true,
  ack: true,
  error: true,
  pong: true,
  synced: true,
};
void clientTableComplete;
void serverTableComplete;

/**
 * Checks a decoded server frame against {@link SERVER_FRAME_FIELDS}: a known `type` and
 * every required field present. Unknown types and fields are allowed by the protocol
 * (new optional fields may appear within v1); this answers the problems it sees.
 */
export function checkServerFrame(frame: unknown): string[] {
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) return ["not an object"];
  const type = (frame as { type?: unknown }).type;
  if (typeof type !== "string") return ["no string `type`"];
  const spec = (SERVER_FRAME_FIELDS as Record<string, FrameFields>)[type];
  if (!spec) return [`unknown type \`${type}\``];
  const problems: string[] = [];
  for (const f of spec.required) {
    if (!(f in frame)) problems.push(`${type}: missing \`${f}\``);
  }
  return problems;
}

/** Every `code` of an `error` frame (docs/protocol.md "Errors"). */
export const FRAME_ERROR_CODES = [
  "invalid_frame",
  "unknown_type",
  "frame_too_large",
  "not_found",
  "forbidden",
  "blocked",
  "conflict",
  "invalid",
  "rate_limited",
  "internal",
] as const satisfies readonly FrameErrorCode[];
type MissingErrorCode = Exclude<FrameErrorCode, (typeof FRAME_ERROR_CODES)[number]>;
const errorCodesComplete: [MissingErrorCode] extends [never] ? true : { missing: MissingErrorCode } = true;
void errorCodesComplete;

/** The WebSocket close codes the server uses (docs/protocol.md "Close codes"). */
export const CLOSE_CODES = {
  /** Normal closure. */
  NORMAL: 1000,
  /** Server shutting down: reconnect with backoff, then sync. */
  GOING_AWAY: 1001,
  /** WebSocket protocol error. */
  PROTOCOL_ERROR: 1002,
  /** A frame over 4x the frame cap. */
  MESSAGE_TOO_BIG: 1009,
  /** The server could not register the connection: reconnect with backoff. */
  INTERNAL_ERROR: 1011,
  /** Unauthorized: refresh the access token, then reconnect. */
  UNAUTHORIZED: 4001,
  /** Policy: frame rate, heartbeat timeout, or too many connections. */
  POLICY: 4008,
  /** Too slow: the outbound queue overflowed; reconnect at once and sync. */
  TOO_SLOW: 4009,
} as const;
