/**
 * Resumable uploads to `/api/uploads` with the tus 1.0 core protocol (creation extension),
 * as docs/attachments.md describes: `POST` with `Upload-Length` and `Upload-Metadata`
 * (`filename <base64>`), then `PATCH`es of `chunkSize` bytes from `Upload-Offset`. A chunk
 * that fails on the network (or answers 409, the offset moved) is followed by a `HEAD` and
 * the rest is sent from the offset the server holds. The `PATCH` with the last byte answers
 * `Agora-Attachment-Id` or the file's refusal (415, 413, 422), which becomes an
 * {@link AgoraError} from the error envelope. In browsers the bytes go through
 * `XMLHttpRequest`, so progress is reported within a chunk; elsewhere through `fetch`.
 * No dependency.
 */
import { AgoraError, isErrorEnvelope } from "./errors.js";
import type { HttpClient } from "./http.js";
import type { Attachment } from "./types.js";

export interface UploadOptions {
  /** The file name sent in `Upload-Metadata` (default: the `File`'s name, else `file`). */
  name?: string;
  /** Called with (bytes the server holds, total bytes). */
  onProgress?: (sent: number, total: number) => void;
  /** Aborts the upload (the partial upload expires on the server). */
  signal?: AbortSignal;
  /** Bytes per PATCH (default 4 MiB). */
  chunkSize?: number;
  /** How many times a failed chunk is resumed before giving up (default 3). */
  retries?: number;
}

interface Answer {
  status: number;
  header: (name: string) => string | null;
  text: string;
}

const TUS = "1.0.0";

function base64Utf8(s: string): string {
  const bytes = new TextEncoder().encode(s);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

function refusal(method: string, path: string, a: Answer): AgoraError {
  let data: unknown;
  try {
    data = a.text ? JSON.parse(a.text) : undefined;
  } catch {
    data = undefined;
  }
  if (isErrorEnvelope(data)) {
    return new AgoraError({ status: a.status, code: data.error.code, message: data.error.message, fields: data.error.fields ?? undefined });
  }
  return new AgoraError({ status: a.status, code: `http_${a.status}`, message: `${method} ${path} answered ${a.status}` });
}

function aborted(): AgoraError {
  return new AgoraError({ status: 0, code: "aborted", message: "the upload was cancelled" });
}

/** One request with the bearer token; `body` progress through XHR when there is one. */
function send(http: HttpClient, method: string, path: string, headers: Record<string, string>, body: Blob | null, signal: AbortSignal | undefined, onSent?: (n: number) => void): Promise<Answer> {
  const url = http.baseUrl + path;
  const all: Record<string, string> = { "Tus-Resumable": TUS, ...headers };
  if (http.accessToken) all["authorization"] = `Bearer ${http.accessToken}`;
  if (signal?.aborted) return Promise.reject(aborted());
  const XHR = (globalThis as { XMLHttpRequest?: typeof XMLHttpRequest }).XMLHttpRequest;
  if (XHR) {
    return new Promise((resolve, reject) => {
      const xhr = new XHR();
      xhr.open(method, url);
      for (const [k, v] of Object.entries(all)) xhr.setRequestHeader(k, v);
      if (onSent) xhr.upload.onprogress = (e) => onSent(e.loaded);
      const onAbort = () => xhr.abort();
      signal?.addEventListener("abort", onAbort, { once: true });
      const done = () => signal?.removeEventListener("abort", onAbort);
      xhr.onload = () => {
        done();
        resolve({ status: xhr.status, header: (n) => xhr.getResponseHeader(n), text: xhr.responseText });
      };
      xhr.onerror = () => {
        done();
        reject(new AgoraError({ status: 0, code: "network_error", message: `${method} ${path}: the connection failed` }));
      };
      xhr.onabort = () => {
        done();
        reject(aborted());
      };
      xhr.send(body);
    });
  }
  const init: RequestInit = { method, headers: all };
  if (body) init.body = body;
  if (signal) init.signal = signal;
  return fetch(url, init).then(
    async (res) => {
      const text = res.status === 204 ? "" : await res.text();
      if (body && onSent) onSent(body.size);
      return { status: res.status, header: (n: string) => res.headers.get(n), text };
    },
    (e: unknown) => {
      throw signal?.aborted ? aborted() : new AgoraError({ status: 0, code: "network_error", message: `${method} ${path}: ${(e as Error).message}`, cause: e });
    },
  );
}

/** As {@link send}, refreshing the access token once on a 401. */
async function authed(http: HttpClient, method: string, path: string, headers: Record<string, string>, body: Blob | null, signal: AbortSignal | undefined, onSent?: (n: number) => void): Promise<Answer> {
  const stale = http.accessToken;
  const a = await send(http, method, path, headers, body, signal, onSent);
  if (a.status !== 401 || !http.canRefresh) return a;
  await http.refreshAccess(stale);
  return send(http, method, path, headers, body, signal, onSent);
}

/**
 * Uploads `file` with tus and answers the accepted attachment (with fresh signed links).
 * Rejects with an {@link AgoraError}: the server's refusal (`unsupported_file_type` 415,
 * `file_too_large` / `quota_exceeded` / `media_too_long` 413, `unreadable_file` /
 * `hostile_file` 422, ...), `aborted` when `signal` fired, `network_error` when resuming
 * failed `retries` times.
 */
export async function uploadFile(http: HttpClient, file: Blob, opts: UploadOptions = {}): Promise<Attachment> {
  const name = opts.name ?? ((file as File).name || "file");
  const total = file.size;
  const chunkSize = Math.max(1, opts.chunkSize ?? 4 * 1024 * 1024);
  const signal = opts.signal;
  const created = await authed(http, "POST", "/api/uploads", { "Upload-Length": String(total), "Upload-Metadata": `filename ${base64Utf8(name)}` }, null, signal);
  if (created.status !== 201) throw refusal("POST", "/api/uploads", created);
  const location = created.header("location");
  if (!location) throw new AgoraError({ status: created.status, code: "invalid_answer", message: "the upload was created without a Location" });
  const path = location.startsWith("http") ? new URL(location).pathname : location;
  let offset = Number(created.header("upload-offset") ?? 0);
  let attachmentId: string | null = null;
  let failures = 0;
  opts.onProgress?.(offset, total);
  while (attachmentId === null) {
    if (signal?.aborted) throw aborted();
    const end = Math.min(total, offset + chunkSize);
    let a: Answer;
    try {
      const start = offset;
      a = await authed(http, "PATCH", path, { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" }, file.slice(offset, end), signal, (n) => opts.onProgress?.(Math.min(total, start + n), total));
    } catch (e) {
      if (!(e instanceof AgoraError) || e.code !== "network_error" || ++failures > (opts.retries ?? 3)) throw e;
      offset = await where(http, path, signal);
      continue;
    }
    if (a.status === 409 || a.status === 460) {
      if (++failures > (opts.retries ?? 3)) throw refusal("PATCH", path, a);
      offset = await where(http, path, signal);
      continue;
    }
    if (a.status !== 204 && a.status !== 200) throw refusal("PATCH", path, a);
    offset = Number(a.header("upload-offset") ?? end);
    opts.onProgress?.(offset, total);
    attachmentId = a.header("agora-attachment-id");
    if (attachmentId === null && offset >= total) {
      // Complete but the id header was not readable: ask for the upload.
      const view = await http.request<{ attachment: Attachment | null }>("GET", path, signal ? { signal } : {});
      if (view.attachment) return view.attachment;
      throw new AgoraError({ status: 0, code: "invalid_answer", message: "the upload completed without an attachment" });
    }
  }
  return http.request<Attachment>("GET", `/api/attachments/${encodeURIComponent(attachmentId)}`, signal ? { signal } : {});
}

async function where(http: HttpClient, path: string, signal: AbortSignal | undefined): Promise<number> {
  const h = await authed(http, "HEAD", path, {}, null, signal);
  if (h.status !== 200) throw refusal("HEAD", path, h);
  return Number(h.header("upload-offset") ?? 0);
}

/**
 * Uploads a small file (at most 16 MB) in one `multipart/form-data` POST and answers the
 * attachment; refusals as {@link uploadFile}.
 */
export async function uploadMultipart(http: HttpClient, file: Blob, opts: { name?: string; signal?: AbortSignal } = {}): Promise<Attachment> {
  const form = new FormData();
  form.append("file", file, opts.name ?? ((file as File).name || "file"));
  const go = async (): Promise<Response> => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (http.accessToken) headers["authorization"] = `Bearer ${http.accessToken}`;
    const init: RequestInit = { method: "POST", headers, body: form };
    if (opts.signal) init.signal = opts.signal;
    return fetch(http.baseUrl + "/api/uploads", init);
  };
  let res = await go();
  if (res.status === 401 && http.canRefresh) {
    await http.refreshAccess();
    res = await go();
  }
  const text = await res.text();
  if (res.status !== 201) throw refusal("POST", "/api/uploads", { status: res.status, header: (n) => res.headers.get(n), text });
  return JSON.parse(text) as Attachment;
}
