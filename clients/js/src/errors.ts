/**
 * Errors raised by the SDK.
 *
 * Every REST failure that carries Agora's error envelope
 * (`{"error": {"code", "message", "fields?"}}`) becomes an {@link AgoraError} with the HTTP
 * status. A WebSocket `error` frame that answers one of the client's requests (for example a
 * `send` refused as `blocked`) becomes an `AgoraError` with `status` 0 and the frame's `ref`.
 * Network failures (no answer at all) are `AgoraError`s with status 0 and code
 * `network_error`.
 */
export type FieldErrors = Record<string, string[]>;

export interface AgoraErrorInit {
  status: number;
  code: string;
  message: string;
  fields?: FieldErrors | undefined;
  ref?: string | undefined;
  retryAfter?: number | undefined;
  requestId?: string | undefined;
  cause?: unknown;
}

export class AgoraError extends Error {
  /** HTTP status; 0 for WebSocket error frames and network failures. */
  readonly status: number;
  /** The envelope's snake_case code (`validation_failed`, `token_expired`, `not_found`, ...). */
  readonly code: string;
  /** Per-field problems, for validation errors. */
  readonly fields: FieldErrors | undefined;
  /** For WebSocket errors: the `ref` of the frame (the `client_msg_id` of a send, ...). */
  readonly ref: string | undefined;
  /** Seconds from `Retry-After` (429 answers). */
  readonly retryAfter: number | undefined;
  /** The server's `x-request-id`, for support. */
  readonly requestId: string | undefined;

  constructor(init: AgoraErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "AgoraError";
    this.status = init.status;
    this.code = init.code;
    this.fields = init.fields;
    this.ref = init.ref;
    this.retryAfter = init.retryAfter;
    this.requestId = init.requestId;
  }

  /** True for the 401 codes that a token refresh can cure. */
  get isAuthError(): boolean {
    return this.status === 401;
  }
}

/** Is this value Agora's error envelope? */
export function isErrorEnvelope(v: unknown): v is { error: { code: string; message: string; fields?: FieldErrors | null } } {
  if (typeof v !== "object" || v === null) return false;
  const e = (v as { error?: unknown }).error;
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { code?: unknown }).code === "string" &&
    typeof (e as { message?: unknown }).message === "string"
  );
}
