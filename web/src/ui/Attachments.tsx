// A message's files: image thumbnails (opening the large image), audio and voice notes with
// their duration and waveform, video with a player, documents as a download link with
// name, size and page count. Every link is a short-lived signed one from
// `GET /api/attachments/{id}`, asked for again when near its expiry or refused.
import { useEffect, useRef, useState } from "preact/hooks";
import { bytes, duration, forget, linkValid, signed, type Attachment, type MessageAttachment } from "../api/attachments.ts";
import { describe } from "../api/http.ts";

export function Attachments({ items, mine }: { items: MessageAttachment[]; mine: boolean }) {
  return (
    <ul class={`files${mine ? " mine" : ""}`} aria-label="Attachments">
      {items.map((a) => {
        const kind = shownKind(a);
        return (
          <li key={a.id} class={`file file-${kind}`} data-testid="attachment" data-kind={kind}>
            {kind === "image" ? <ImageFile a={a} /> : kind === "audio" ? <MediaFile a={a} audio /> : kind === "video" ? <MediaFile a={a} /> : <DocumentFile a={a} />}
          </li>
        );
      })}
    </ul>
  );
}

/** How a file is shown: a WebM the server filed as video but with no picture (no width or
 * height; what MediaRecorder writes for a voice note) gets the audio player. */
function shownKind(a: MessageAttachment): string {
  if (a.kind === "video" && a.width === undefined && a.height === undefined && /webm|^audio\//.test(a.type)) return "audio";
  return a.kind;
}

/** The signed metadata of `id`, loaded on mount; `refresh` asks for new links. */
function useSigned(id: string): [Attachment | undefined, unknown, () => Promise<Attachment>] {
  const [at, setAt] = useState<Attachment | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const alive = useRef(true);
  useEffect(() => {
    alive.current = true;
    signed(id).then((v) => alive.current && setAt(v), (e) => alive.current && setError(e));
    return () => {
      alive.current = false;
    };
  }, [id]);
  const refresh = async () => {
    const v = await signed(id, !linkValid(id));
    if (alive.current) {
      setAt(v);
      setError(null);
    }
    return v;
  };
  return [at, error, refresh];
}

function Unavailable({ a, error }: { a: MessageAttachment; error: unknown }) {
  return (
    <p class="file-error" role="status">
      {a.name}: {describe(error)}
    </p>
  );
}

function ImageFile({ a }: { a: MessageAttachment }) {
  const [at, error, refresh] = useSigned(a.id);
  const [open, setOpen] = useState<Attachment | null>(null);
  const [openError, setOpenError] = useState<unknown>(null);
  const retried = useRef(false);
  const w = a.width ?? 320;
  const h = a.height ?? 240;
  // The thumbnail's box, known before it loads (no layout shift): at most 240 x 200.
  const scale = Math.min(1, 240 / w, 200 / h);
  const tw = Math.max(1, Math.round(w * scale));
  const th = Math.max(1, Math.round(h * scale));
  if (error) return <Unavailable a={a} error={error} />;
  const show = async () => {
    try {
      setOpenError(null);
      setOpen(await refresh());
    } catch (e) {
      setOpenError(e);
    }
  };
  return (
    <>
      <button type="button" class="thumb" onClick={() => void show()} aria-label={`Open image ${a.name}`}>
        {at?.thumbnail_url ? (
          <img
            src={at.thumbnail_url}
            alt={a.name}
            width={tw}
            height={th}
            data-testid="thumbnail"
            onError={() => {
              // A refused link (expired): ask once for a fresh one.
              if (retried.current) return;
              retried.current = true;
              forget(a.id);
              void refresh();
            }}
          />
        ) : (
          <span
            class="thumb-wait"
            ref={(el) => {
              if (el) sizeBox(el, tw, th);
            }}
            aria-hidden="true"
          />
        )}
      </button>
      {openError ? <Unavailable a={a} error={openError} /> : null}
      {open && <Lightbox at={open} onClose={() => setOpen(null)} />}
    </>
  );
}

/** Sizes a placeholder through the CSSOM (the CSP allows no inline style attributes). */
function sizeBox(el: HTMLElement, w: number, h: number) {
  el.style.width = `${w}px`;
  el.style.height = `${h}px`;
}

function Lightbox({ at, onClose }: { at: Attachment; onClose: () => void }) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog ref={ref} class="lightbox" aria-label={at.name} onClose={onClose} onClick={(e) => e.target === ref.current && ref.current?.close()}>
      <img src={at.preview_url ?? at.url} alt={at.name} width={at.width} height={at.height} data-testid="full-image" />
      <div class="lightbox-bar">
        <a href={at.url} target="_blank" rel="noopener">
          Open the original ({bytes(at.size)})
        </a>
        <button type="button" class="secondary" onClick={() => ref.current?.close()}>
          Close
        </button>
      </div>
    </dialog>
  );
}

function Waveform({ peaks }: { peaks: number[] }) {
  const n = peaks.length;
  return (
    <svg class="wave" viewBox={`0 0 ${n * 3} 32`} preserveAspectRatio="none" aria-hidden="true" data-testid="waveform">
      {peaks.map((p, i) => {
        const h = Math.max(2, Math.round((p / 255) * 30));
        return <rect key={i} x={i * 3} y={(32 - h) / 2} width="2" height={h} rx="1" />;
      })}
    </svg>
  );
}

function MediaFile({ a, audio = false }: { a: MessageAttachment; audio?: boolean }) {
  const [at, error, refresh] = useSigned(a.id);
  const el = useRef<HTMLMediaElement>(null);
  const retried = useRef(0);
  if (error) return <Unavailable a={a} error={error} />;
  // Before playing, a link near its expiry is replaced (the player asks for byte ranges as it goes).
  const beforePlay = async () => {
    const m = el.current;
    if (!m || linkValid(a.id)) return;
    const at2 = await refresh();
    const t = m.currentTime;
    m.src = at2.url;
    m.currentTime = t;
    void m.play().catch(() => {});
  };
  const onError = async () => {
    const m = el.current;
    if (!m || retried.current >= 2) return;
    retried.current += 1;
    forget(a.id);
    const t = m.currentTime;
    const at2 = await refresh();
    m.src = at2.url;
    m.currentTime = t;
  };
  const label = `${audio ? (a.peaks || /voice/i.test(a.name) ? "Voice note" : "Audio") : "Video"} ${a.name}`;
  const [played, setPlayed] = useState<number | null>(null);
  // The length from the server, else what the player finds once it has loaded the file.
  const length = a.duration_ms ?? played;
  const meta = [length !== null ? duration(length) : "", bytes(a.size)].filter(Boolean).join(" · ");
  return (
    <figure class="media">
      {audio && a.peaks && a.peaks.length > 0 && <Waveform peaks={a.peaks} />}
      {audio ? (
        <audio ref={el as preact.RefObject<HTMLAudioElement>} controls preload="none" src={at?.url} aria-label={label} onPlay={() => void beforePlay()} onError={() => void onError()} onDurationChange={(e) => {
            const d = (e.currentTarget as HTMLMediaElement).duration;
            if (Number.isFinite(d) && d > 0) setPlayed(d * 1000);
          }} data-testid="audio" />
      ) : (
        <video ref={el as preact.RefObject<HTMLVideoElement>} controls preload="metadata" src={at?.url} aria-label={label} width={a.width ?? 320} height={a.height ?? 180} onPlay={() => void beforePlay()} onError={() => void onError()} data-testid="video" />
      )}
      <figcaption>
        <span class="file-name">{a.name}</span> <span class="file-meta" data-testid="duration">{meta}</span>
      </figcaption>
    </figure>
  );
}

function DocumentFile({ a }: { a: MessageAttachment }) {
  const [at, , refresh] = useSigned(a.id);
  const [error, setError] = useState<unknown>(null);
  const following = useRef(false);
  const meta = [bytes(a.size), a.pages ? `${a.pages} ${a.pages === 1 ? "page" : "pages"}` : "", kindLabel(a.type)].filter(Boolean).join(" · ");
  return (
    <>
      <a
        class="doc"
        href={at?.url ?? `#file-${a.id}`}
        download={a.name}
        data-testid="download"
        onClick={async (e) => {
          if (following.current || (at && linkValid(a.id))) return;
          // No link yet, or it is about to expire: ask for a fresh one, then follow it.
          e.preventDefault();
          const link = e.currentTarget as HTMLAnchorElement;
          try {
            const fresh = await refresh();
            link.href = fresh.url;
            following.current = true;
            link.click();
            following.current = false;
          } catch (err) {
            setError(err);
          }
        }}
      >
        <span class="doc-icon" aria-hidden="true">
          {docIcon(a.type)}
        </span>
        <span class="doc-text">
          <span class="file-name">{a.name}</span>
          <span class="file-meta">{meta}</span>
        </span>
      </a>
      {error ? <Unavailable a={a} error={error} /> : null}
    </>
  );
}

function kindLabel(type: string): string {
  if (type.includes("pdf")) return "PDF";
  if (type.startsWith("text/")) return "Text";
  if (/word|opendocument\.text|msword/.test(type)) return "Document";
  if (/sheet|excel/.test(type)) return "Spreadsheet";
  if (/presentation|powerpoint/.test(type)) return "Slides";
  return "";
}

function docIcon(type: string): string {
  if (type.includes("pdf")) return "PDF";
  if (type.startsWith("text/")) return "TXT";
  return "DOC";
}
