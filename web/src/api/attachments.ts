// Attachments (docs/attachments.md): uploads through the SDK's tus uploader, and the
// short-lived signed links of `GET /api/attachments/{id}`. A link is kept only while it is
// valid (with a margin): once near its `url_expires_at` the next use asks for a fresh one,
// so an expired link is never handed out.
import { uploadFile } from "@agora/sdk/uploads.ts";
import type { Attachment, MessageAttachment } from "@agora/sdk/types.ts";
import { api, http } from "./http.ts";

export type { Attachment, MessageAttachment };

/** Most files per message (docs/protocol.md `send`). */
export const MAX_FILES = 10;
/** How long before its expiry a signed link is no longer handed out. */
const MARGIN_MS = 30_000;

const cache = new Map<string, { at: Attachment; until: number }>();
const inflight = new Map<string, Promise<Attachment>>();

/** The attachment with signed links valid for at least the margin. */
export function signed(id: string, fresh = false): Promise<Attachment> {
  const hit = cache.get(id);
  if (!fresh && hit && hit.until > Date.now()) return Promise.resolve(hit.at);
  const running = inflight.get(id);
  if (running && !fresh) return running;
  const p = api<Attachment>(`/api/attachments/${encodeURIComponent(id)}`)
    .then((at) => {
      remember(at);
      return at;
    })
    .finally(() => inflight.delete(id));
  inflight.set(id, p);
  return p;
}

function remember(at: Attachment): void {
  const exp = Date.parse(at.url_expires_at);
  if (Number.isFinite(exp)) cache.set(at.id, { at, until: exp - MARGIN_MS });
}

/** Whether the cached links of `id` are still good (false when there are none). */
export function linkValid(id: string): boolean {
  const hit = cache.get(id);
  return !!hit && hit.until > Date.now();
}

/** Forget a link (it was refused: expired early, or the clock is off). */
export function forget(id: string): void {
  cache.delete(id);
}

/** Uploads one file with tus; the answer's links are cached. */
export async function upload(file: Blob, name: string, onProgress: (sent: number, total: number) => void, signal: AbortSignal): Promise<Attachment> {
  const at = await uploadFile(http, file, { name, onProgress, signal, chunkSize: 2 * 1024 * 1024 });
  remember(at);
  return at;
}

/** The snapshot a message carries, from the upload's answer (for the sender's own draft). */
export function snapshot(a: Attachment): MessageAttachment {
  const m: MessageAttachment = { id: a.id, kind: a.kind, name: a.name, size: a.size, type: a.content_type };
  if (a.width !== undefined) m.width = a.width;
  if (a.height !== undefined) m.height = a.height;
  if (a.duration_ms !== undefined) m.duration_ms = a.duration_ms;
  if (a.peaks) m.peaks = a.peaks;
  if (a.pages !== undefined) m.pages = a.pages;
  if (a.thumbnail_url) m.thumbnail_url = `/api/attachments/${a.id}/thumbnail`;
  return m;
}

export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** A voice-note recorder's type this browser can write, or null (then no record button). */
export function recordingType(): string | null {
  if (typeof MediaRecorder === "undefined" || !navigator.mediaDevices?.getUserMedia) return null;
  for (const t of ["audio/ogg;codecs=opus", "audio/webm;codecs=opus", "audio/webm"]) {
    if (MediaRecorder.isTypeSupported(t)) return t;
  }
  return null;
}
