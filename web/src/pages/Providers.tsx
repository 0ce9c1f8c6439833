import { useStore } from "../store.ts";
import { location } from "../router.ts";
import { api } from "../api/http.ts";
import type { Provider, Service } from "../api/types.ts";
import { displayName, getUser, preloadUsers } from "../api/users.ts";
import { UserName } from "../ui/Names.tsx";
import { Empty, ErrorBox, Field, Loading, Pager, Select, Stars, label, money, useList, useLoad, useTitle } from "../ui/kit.tsx";
import { FilterForm, useCategoryOptions } from "../ui/Filters.tsx";
import { Reviews } from "./Reviews.tsx";
import { StartChat } from "./Chat.tsx";

const orderings: [string, string][] = [
  ["", "Best match"],
  ["rating", "Top rated"],
  ["hourly_rate", "Rate: low to high"],
  ["-hourly_rate", "Rate: high to low"],
  ["completed_jobs", "Most completed jobs"],
  ["-created_at", "Newest"],
];

export function ProviderList() {
  useTitle("Providers");
  const q = useStore(location).query;
  const values = Object.fromEntries(["q", "category", "city", "verified", "availability", "ordering"].map((k) => [k, q.get(k) ?? ""]));
  const cats = useCategoryOptions();
  const list = useList<Provider>(
    "/api/providers",
    {
    q: values.q || undefined,
    category: values.category || undefined,
    city: values.city || undefined,
    verified: values.verified || undefined,
    availability: values.availability || undefined,
    ordering: values.ordering || undefined,
    limit: 20,
    },
    (ps) => preloadUsers(ps.map((p) => p.user_id)),
  );
  return (
    <section class="page">
      <h1>Providers</h1>
      <FilterForm values={values} label="Search providers">
        {(v, set) => (
          <>
            <Field label="Search" name="q" type="search" value={v.q} onValue={(x) => set("q", x)} placeholder="e.g. electrician" />
            <Select label="Category" name="category" value={v.category} onValue={(x) => set("category", x)} options={[["", "All categories"], ...cats]} />
            <Field label="City" name="city" value={v.city} onValue={(x) => set("city", x)} />
            <Select label="Availability" name="availability" value={v.availability} onValue={(x) => set("availability", x)} options={[["", "Any"], ["available", "Available"], ["busy", "Busy"], ["unavailable", "Unavailable"]]} />
            <Select label="Verified" name="verified" value={v.verified} onValue={(x) => set("verified", x)} options={[["", "Any"], ["true", "Verified only"]]} />
            <Select label="Order by" name="ordering" value={v.ordering} onValue={(x) => set("ordering", x)} options={orderings} />
          </>
        )}
      </FilterForm>
      <ErrorBox error={list.error} />
      {!list.items ? (
        <Loading what="Loading providers" />
      ) : list.items.length === 0 ? (
        <Empty>No providers match these filters.</Empty>
      ) : (
        <ul class="grid" aria-label="Providers">
          {list.items.map((p) => (
            <li key={p.id} class="card item">
              <h2 class="item-title">
                <a href={`/providers/${p.id}`}>
                  <UserName id={p.user_id} fallback="Provider" />
                </a>
                {p.is_verified && <span class="badge badge-active">Verified</span>}
              </h2>
              <p class="clamp">{p.bio}</p>
              <p class="meta">
                {[p.city, p.country].filter(Boolean).join(", ") || "Anywhere"} · <strong>{money(p.hourly_rate)}/h</strong> · <Stars value={p.rating_avg} count={p.reviews_count} /> · {p.completed_jobs} jobs done · {label(p.availability)}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={list.next} onMore={list.more} busy={list.busy} />
    </section>
  );
}

export function ProviderDetail({ params }: { params: Record<string, string> }) {
  const [loaded, error] = useLoad(async (signal) => {
    const prof = await api<Provider>(`/api/providers/${params.id}`, { signal });
    return { prof, user: await getUser(prof.user_id).catch(() => undefined) };
  }, [params.id]);
  const p = loaded?.prof;
  const user = loaded?.user;
  const services = useList<Service>(p ? `/api/providers/${p.id}/services` : null, { limit: 20 });
  useTitle(user ? displayName(user) : "Provider");
  if (error) return <section class="page"><ErrorBox error={error} /></section>;
  if (!p) return <section class="page" key="loading"><Loading /></section>;
  return (
    <section class="page">
      <p class="crumbs">
        <a href="/providers">Providers</a>
      </p>
      <h1>
        {user ? displayName(user) : "Provider"} {p.is_verified && <span class="badge badge-active">Verified</span>}
      </h1>
      <div class="cols">
        <article class="card">
          <p class="pre">{p.bio}</p>
        </article>
        <aside class="card">
          <dl class="facts">
            <dt>Hourly rate</dt>
            <dd>{money(p.hourly_rate)}</dd>
            <dt>Location</dt>
            <dd>{[p.city, p.country].filter(Boolean).join(", ") || "—"}</dd>
            <dt>Rating</dt>
            <dd>
              <Stars value={p.rating_avg} count={p.reviews_count} />
            </dd>
            <dt>Completed jobs</dt>
            <dd>{p.completed_jobs}</dd>
            <dt>Availability</dt>
            <dd>{label(p.availability)}</dd>
          </dl>
          <StartChat userId={p.user_id} />
        </aside>
      </div>
      <h2>Services</h2>
      {!services.items ? (
        <Loading what="Loading services" />
      ) : services.items.length === 0 ? (
        <Empty>This provider offers no services yet.</Empty>
      ) : (
        <ul class="grid">
          {services.items.map((s) => (
            <li key={s.id} class="card item">
              <h3 class="item-title">
                <a href={`/services/${s.id}`}>{s.title}</a>
              </h3>
              <p class="meta">
                <strong>{money(s.price)}</strong> · <Stars value={s.rating_avg} count={s.reviews_count} /> · ♥ {s.likes_count}
              </p>
            </li>
          ))}
        </ul>
      )}
      <Pager next={services.next} onMore={services.more} busy={services.busy} />
      <h2>Reviews</h2>
      <Reviews query={{ reviewee_id: p.user_id }} />
    </section>
  );
}
