// Service galleries (docs/attachments.md "Service galleries"): shown on the service page,
// set by the owner on /profile with `PUT /api/services/{id}/gallery` (up to 10 images in
// display order). Gallery links answer anyone with a redirect to a fresh signed link, so the
// page never holds an expiring URL of its own.
import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Page } from "../api/http.ts";
import { MAX_FILES, bytes, upload } from "../api/attachments.ts";
import type { Service } from "../api/types.ts";
import type { GalleryImage } from "@agora/sdk/types.ts";
import { ErrorBox, Loading } from "./kit.tsx";

function box(g: GalleryImage, max: number): [number, number] {
  const w = g.width ?? max;
  const h = g.height ?? Math.round(max * 0.75);
  const s = Math.min(1, max / w, max / h);
  return [Math.max(1, Math.round(w * s)), Math.max(1, Math.round(h * s))];
}

export function Gallery({ service }: { service: Service }) {
  const images = service.gallery ?? [];
  const [open, setOpen] = useState<GalleryImage | null>(null);
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    if (open && dialog.current && !dialog.current.open) dialog.current.showModal();
  }, [open]);
  if (!images.length) return null;
  return (
    <div class="gallery">
      <h2 class="sr-only">Gallery</h2>
      <ul aria-label="Gallery">
        {images.map((g, i) => {
          const [w, h] = box(g, 220);
          return (
            <li key={g.id}>
              <button type="button" class="thumb" onClick={() => setOpen(g)} aria-label={`Open image ${i + 1} of ${images.length}`}>
                <img src={g.thumbnail_url} alt={`${service.title}, image ${i + 1}`} width={w} height={h} loading={i > 3 ? "lazy" : undefined} data-testid="gallery-image" />
              </button>
            </li>
          );
        })}
      </ul>
      {open && (
        <dialog ref={dialog} class="lightbox" aria-label={`${service.title}, image ${images.indexOf(open) + 1}`} onClose={() => setOpen(null)} onClick={(e) => e.target === dialog.current && dialog.current?.close()}>
          <img src={open.preview_url} alt={`${service.title}, image ${images.indexOf(open) + 1}`} width={open.width ?? undefined} height={open.height ?? undefined} data-testid="gallery-full" />
          <div class="lightbox-bar">
            <span>
              {images.indexOf(open) + 1} of {images.length}
            </span>
            <button type="button" class="secondary" onClick={() => dialog.current?.close()}>
              Close
            </button>
          </div>
        </dialog>
      )}
    </div>
  );
}

/** The owner's services on /profile, each with its gallery editor. */
export function GalleryEditors({ providerId }: { providerId: string }) {
  const [services, setServices] = useState<Service[] | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    api<Page<Service>>("/api/services", { query: { provider: providerId, limit: 50 } }).then((p) => setServices(p.results), setError);
  }, [providerId]);
  return (
    <section class="card" aria-labelledby="galleries-h">
      <h2 id="galleries-h">Service galleries</h2>
      <p class="muted">Up to {MAX_FILES} images per service (JPEG, PNG or WebP), shown in this order on the service's page.</p>
      <ErrorBox error={error} />
      {!services ? (
        !error && <Loading what="Loading your services" />
      ) : services.length === 0 ? (
        <p class="muted">No services yet: offer one below, then add its images here.</p>
      ) : (
        services.map((s) => <GalleryEditor key={s.id} service={s} onSaved={(v) => setServices((l) => l?.map((x) => (x.id === v.id ? v : x)))} />)
      )}
    </section>
  );
}

interface Adding {
  key: number;
  name: string;
  size: number;
  sent: number;
}

function GalleryEditor({ service, onSaved }: { service: Service; onSaved: (s: Service) => void }) {
  const images = service.gallery ?? [];
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [adding, setAdding] = useState<Adding[]>([]);
  const [status, setStatus] = useState("");
  const input = useRef<HTMLInputElement>(null);
  const key = useRef(0);
  const id = `gal-${service.id}`;

  const save = async (ids: string[], done: string) => {
    setBusy(true);
    setError(null);
    setStatus("");
    try {
      const v = await api<Service>(`/api/services/${service.id}/gallery`, { method: "PUT", body: { attachment_ids: ids } });
      onSaved(v);
      setStatus(done);
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  const move = (i: number, by: number) => {
    const ids = images.map((g) => g.id);
    const [x] = ids.splice(i, 1);
    ids.splice(i + by, 0, x);
    void save(ids, `Image ${i + 1} moved to place ${i + by + 1}.`);
  };

  const add = async (files: File[]) => {
    const room = MAX_FILES - images.length;
    if (files.length > room) {
      setStatus(`At most ${MAX_FILES} images: ${files.length - room} left out.`);
      files = files.slice(0, room);
    }
    if (!files.length) return;
    setError(null);
    if (files.length <= room) setStatus("");
    const rows = files.map((f) => ({ key: ++key.current, name: f.name, size: f.size, sent: 0 }));
    setAdding(rows);
    const ids: string[] = [];
    try {
      for (const [i, f] of files.entries()) {
        const at = await upload(f, f.name, (sent) => setAdding((a) => a.map((r) => (r.key === rows[i].key ? { ...r, sent } : r))), new AbortController().signal);
        ids.push(at.id);
      }
    } catch (e) {
      setError(e);
    }
    setAdding([]);
    if (ids.length) await save([...images.map((g) => g.id), ...ids], `${ids.length} ${ids.length === 1 ? "image" : "images"} added.`);
  };

  return (
    <div class="gallery-edit" aria-labelledby={`${id}-h`} role="group" data-testid="gallery-editor">
      <h3 id={`${id}-h`}>{service.title}</h3>
      <ErrorBox error={error} />
      {images.length === 0 ? (
        <p class="muted">No images yet.</p>
      ) : (
        <ol class="gallery-order">
          {images.map((g, i) => {
            const [w, h] = box(g, 96);
            return (
              <li key={g.id} data-testid="gallery-item">
                <img src={g.thumbnail_url} alt={`Image ${i + 1}`} width={w} height={h} />
                <span class="gallery-pos">{i + 1}</span>
                <span class="gallery-btns">
                  <button type="button" class="secondary small-btn" disabled={busy || i === 0} onClick={() => move(i, -1)}>
                    Up<span class="sr-only"> (image {i + 1})</span>
                  </button>
                  <button type="button" class="secondary small-btn" disabled={busy || i === images.length - 1} onClick={() => move(i, 1)}>
                    Down<span class="sr-only"> (image {i + 1})</span>
                  </button>
                  <button type="button" class="secondary danger small-btn" disabled={busy} onClick={() => void save(images.filter((x) => x.id !== g.id).map((x) => x.id), `Image ${i + 1} removed.`)}>
                    Remove<span class="sr-only"> (image {i + 1})</span>
                  </button>
                </span>
              </li>
            );
          })}
        </ol>
      )}
      {adding.length > 0 && (
        <ul class="gallery-adding" aria-label="Uploading images">
          {adding.map((r) => (
            <li key={r.key}>
              {r.name} ({bytes(r.size)}) <progress max={r.size || 1} value={r.sent} aria-label={`Uploading ${r.name}`} />
            </li>
          ))}
        </ul>
      )}
      <p class="muted small" role="status">
        {status}
      </p>
      <button type="button" class="secondary" disabled={busy || adding.length > 0 || images.length >= MAX_FILES} onClick={() => input.current?.click()}>
        Add images<span class="sr-only"> to {service.title}</span>
      </button>
      <input
        ref={input}
        id={`${id}-add`}
        class="sr-only"
        type="file"
        tabIndex={-1}
        aria-hidden="true"
        accept="image/jpeg,image/png,image/webp"
        multiple
        data-testid="gallery-add"
        onChange={(e) => {
          const el = e.target as HTMLInputElement;
          const files = [...(el.files ?? [])];
          el.value = "";
          void add(files);
        }}
      />
    </div>
  );
}
