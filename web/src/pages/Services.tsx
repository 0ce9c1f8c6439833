import { Gallery } from "../ui/Gallery.tsx";
import { useState } from "preact/hooks";
import { useStore } from "../store.ts";
import { location } from "../router.ts";
import { api } from "../api/http.ts";
import { session } from "../api/session.ts";
import type { Provider, Review, Service, User } from "../api/types.ts";
import { displayName } from "../api/users.ts";
import { Empty, ErrorBox, Field, Loading, Pager, Select, Stars, money, useList, useLoad, useTitle } from "../ui/kit.tsx";
import { FilterForm, useCategoryOptions } from "../ui/Filters.tsx";
import { Reviews } from "./Reviews.tsx";
import { BookForm } from "./Bookings.tsx";
import { SlotPicker, defaultSlotRange, loadSlots } from "./Availability.tsx";

const orderings: [string, string][] = [
  ["", "Best match / newest"],
  ["-created_at", "Newest"],
  ["price", "Price: low to high"],
  ["-price", "Price: high to low"],
  ["rating", "Top rated"],
  ["popularity", "Most liked"],
];

function dollarsToMinor(v: string | null): string | undefined {
  if (!v) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n >= 0 ? String(Math.round(n * 100)) : undefined;
}

export function ServiceList() {
  useTitle("Services");
  const q = useStore(location).query;
  const values = Object.fromEntries(["q", "category", "price_min", "price_max", "ordering"].map((k) => [k, q.get(k) ?? ""]));
  const cats = useCategoryOptions();
  const list = useList<Service>("/api/services", {
    q: values.q || undefined,
    category: values.category || undefined,
    price_min: dollarsToMinor(values.price_min),
    price_max: dollarsToMinor(values.price_max),
    ordering: values.ordering || undefined,
    limit: 20,
  });
  return (
    <section class="page">
      <h1>Services</h1>
      <FilterForm values={values} label="Search services">
        {(v, set) => (
          <>
            <Field label="Search" name="q" type="search" value={v.q} onValue={(x) => set("q", x)} placeholder="e.g. garden design" />
            <Select label="Category" name="category" value={v.category} onValue={(x) => set("category", x)} options={[["", "All categories"], ...cats]} />
            <Field label="Min price ($)" name="price_min" type="number" min={0} step="1" inputMode="decimal" value={v.price_min} onValue={(x) => set("price_min", x)} />
            <Field label="Max price ($)" name="price_max" type="number" min={0} step="1" inputMode="decimal" value={v.price_max} onValue={(x) => set("price_max", x)} />
            <Select label="Order by" name="ordering" value={v.ordering} onValue={(x) => set("ordering", x)} options={orderings} />
          </>
        )}
      </FilterForm>
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading services" />
      ) : list.items.length === 0 ? (
        <Empty>No services match. Try fewer words or another category.</Empty>
      ) : (
        <ul class="grid" aria-label="Services">
          {list.items.map((s) => (
            <li key={s.id} class="card item">
              <h2 class="item-title">
                <a href={`/services/${s.id}`}>{s.title}</a>
              </h2>
              <p class="clamp">{s.description}</p>
              <p class="meta">
                <strong>{money(s.price)}</strong> · <Stars value={s.rating_avg} count={s.reviews_count} /> · ♥ {s.likes_count}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

function duration(min: number | null): string {
  if (!min) return "—";
  if (min % 1440 === 0) return `${min / 1440} day${min === 1440 ? "" : "s"}`;
  if (min % 60 === 0) return `${min / 60} h`;
  return `${min} min`;
}

export function ServiceDetail({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  // The service and its first week of free times load together: the page renders once.
  const [slotRange] = useState(defaultSlotRange);
  const [loaded, error, , setLoaded] = useLoad(async (signal) => {
    const [service, slots] = await Promise.all([api<Service>(`/api/services/${params.id}`, { signal }), loadSlots(params.id, slotRange, signal).catch((e) => e as Error)]);
    return { service, slots };
  }, [params.id, s.status]);
  const service = loaded?.service;
  const setService = (v: Service) => loaded && setLoaded({ ...loaded, service: v });
  const [provider] = useLoad((signal) => (service ? api<Provider>(`/api/providers/${service.provider_id}`, { signal }) : Promise.resolve(undefined)), [service?.provider_id]);
  const [owner] = useLoad((signal) => (service ? api<User>(`/api/users/${service.owner_id}`, { signal }) : Promise.resolve(undefined)), [service?.owner_id]);
  const [likeError, setLikeError] = useState<unknown>(null);
  useTitle(service?.title ?? "Service");
  if (error) return <section class="page"><ErrorBox error={error} /></section>;
  if (!service || !loaded) return <section class="page" key="loading"><Loading /></section>;
  const me = s.status === "signed-in" ? s.user : null;
  const toggleLike = async () => {
    setLikeError(null);
    try {
      const r = await api<{ liked: boolean; likes_count: number }>(`/api/services/${service.id}/like`, { method: service.liked ? "DELETE" : "PUT" });
      setService({ ...service, liked: r.liked, likes_count: r.likes_count });
    } catch (e) {
      setLikeError(e);
    }
  };
  return (
    <section class="page">
      <p class="crumbs">
        <a href="/services">Services</a>
      </p>
      <h1>{service.title}</h1>
      <div class="cols">
        <article class="card">
          <Gallery service={service} />
          <p class="pre">{service.description}</p>
          {service.tags.length > 0 && (
            <ul class="tags" aria-label="Tags">
              {service.tags.map((t) => (
                <li key={t}>{t}</li>
              ))}
            </ul>
          )}
        </article>
        <aside class="card">
          <dl class="facts">
            <dt>Price</dt>
            <dd>{money(service.price)}</dd>
            <dt>Duration</dt>
            <dd>{duration(service.duration_minutes)}</dd>
            <dt>Rating</dt>
            <dd>
              <Stars value={service.rating_avg} count={service.reviews_count} />
            </dd>
            <dt>Likes</dt>
            <dd data-testid="likes">{service.likes_count}</dd>
            <dt>Provider</dt>
            <dd>{provider ? <a href={`/providers/${provider.id}`}>{owner ? displayName(owner) : "Profile"}</a> : "…"}{provider?.city ? ` · ${provider.city}` : ""}</dd>
          </dl>
          <ErrorBox error={likeError} />
          {me ? (
            me.id !== service.owner_id && (
              <button type="button" class="secondary" aria-pressed={!!service.liked} onClick={() => void toggleLike()}>
                {service.liked ? "♥ Liked" : "♡ Like"}
              </button>
            )
          ) : (
            <p class="muted">
              <a href={`/login?next=/services/${service.id}`}>Log in</a> to like or book this service.
            </p>
          )}
        </aside>
      </div>
      {loaded.slots instanceof Error ? (
        <ErrorBox error={loaded.slots} />
      ) : loaded.slots.available ? (
        me?.id !== service.owner_id && <SlotPicker service={service} initial={loaded.slots} range={slotRange} signedIn={!!me} />
      ) : (
        me && me.id !== service.owner_id && <BookForm service={service} />
      )}
      <h2>Reviews</h2>
      <Reviews query={{ service_id: service.id }} />
    </section>
  );
}

export type { Review };
