// Analytics (docs/analytics.md): the provider's and the client's own figures, and the
// admin dashboard, each over a range of UTC days, with charts (ui/Chart.tsx) and tables.
// The pages live under /insights: the server keeps /analytics/* for the seed's JSON
// dashboards (http/src/web.rs NOT_APP), so the app is never served there.
import type { ComponentChildren } from "preact";
import { useStore } from "../store.ts";
import { location, setQuery } from "../router.ts";
import { api } from "../api/http.ts";
import { session } from "../api/session.ts";
import type { Money } from "../api/types.ts";
import { UserName } from "../ui/Names.tsx";
import { Chart, type ChartSpec } from "../ui/Chart.tsx";
import { Empty, ErrorBox, Field, Loading, label, money, useLoad, useTitle } from "../ui/kit.tsx";
import { useState, useEffect } from "preact/hooks";
import { minorFactor } from "./Payments.tsx";

type Row = Record<string, number | string>;
interface Series {
  daily: Row[];
  monthly: Row[];
}

interface ProviderFigures {
  from: string;
  to: string;
  services: { service_id: string; title: string; views: number; likes: number; bookings: number; conversion: number }[];
  service_views: number;
  likes: number;
  bookings: number;
  proposals: { submitted: number; won: number; win_rate: number };
  contracts: { created: number; completed: number; cancelled: number };
  earnings: Money[];
  rating: { average: number | null; reviews_count: number | null; reviews_in_range: number; daily: { date: string; reviews: number; average: number }[]; monthly: { month: string; reviews: number; average: number }[] };
  series: Series;
}

interface ClientFigures {
  from: string;
  to: string;
  jobs: { posted: number };
  spend: Money[];
  contracts: { created: number; completed: number; cancelled: number };
  bookings: number;
  favourite_services: { service_id: string; title: string; likes_count: number }[];
  search_history: { q: string; count: number }[];
  series: Series;
}

interface Dashboard {
  from: string;
  to: string;
  users: { total: number; new: number; active_1d: number; active_7d: number; active_30d: number };
  services: { total: number; new: number; removed: number };
  jobs: { total: number; open: number; posted: number };
  contracts: { active: number; completed: number; by_status: Record<string, number>; created: number; completed_in_range: number; cancelled_in_range: number };
  money: { currency: string; gmv: Money; fees: Money }[];
  top_providers_by_rating: { provider_id: string; user_id: string; rating_avg: number; reviews_count: number }[];
  top_providers_by_volume: { user_id: string; completed: number }[];
  popular_services: { service_id: string; title: string | null; views: number }[];
  search: { total: number; zero_results: number; trends: { q: string; count: number }[]; zero_result_queries: { q: string; count: number }[] };
  page_views: number;
  series: Series;
}

const COLORS = ["#1d4ed8", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490"];

function ymd(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function defaultRange(days: number): { from: string; to: string } {
  const to = new Date();
  const from = new Date(to.getTime() - (days - 1) * 86400000);
  return { from: ymd(from), to: ymd(to) };
}

function dayLabel(s: string): string {
  return new Date(`${s}T00:00:00Z`).toLocaleDateString("en-GB", { day: "numeric", month: "short", timeZone: "UTC" });
}

/** A chart of some columns of the daily (or, over long ranges, monthly) series. */
function seriesChart(series: Series, cols: [string, string][], kind: "line" | "bars", format?: (v: number) => string): { spec: ChartSpec; labels: string[]; totals: string } {
  const monthly = series.daily.length > 92;
  const rows = monthly ? series.monthly : series.daily;
  const at = (r: Row) => Date.parse(monthly ? `${r.month}-01T00:00:00Z` : `${r.date}T00:00:00Z`) / 1000;
  const spec: ChartSpec = {
    xs: rows.map(at),
    kind,
    monthly,
    format,
    series: cols.map(([k, l], i) => ({ label: l, color: COLORS[i % COLORS.length], values: rows.map((r) => Number(r[k] ?? 0)) })),
  };
  const labels = rows.map((r) => (monthly ? String(r.month) : dayLabel(String(r.date))));
  const fmt = format ?? String;
  const totals = spec.series.map((s) => `${s.label} ${fmt(s.values.reduce((a, b) => a + b, 0))} in all`).join(", ");
  return { spec, labels, totals };
}

/** The money columns (`earnings:USD`) of a series, one chart a currency. */
function moneyCharts(series: Series, prefix: string, title: string, id: string) {
  const cols = new Set<string>();
  for (const r of series.daily) for (const k of Object.keys(r)) if (k.startsWith(`${prefix}:`)) cols.add(k);
  return [...cols].map((k) => {
    const cur = k.slice(prefix.length + 1);
    const c = seriesChart(series, [[k, `${title} (${cur})`]], "bars", (v) => money({ amount: Math.round(v), currency: cur }).replace(/\.00$/, ""));
    c.spec.minor = minorFactor(cur);
    return <Chart key={k} id={`${id}-${cur}`} title={`${title} per ${c.spec.monthly ? "month" : "day"} (${cur})`} spec={c.spec} labels={c.labels} summary={c.totals} />;
  });
}

/** `?format=csv` of a dashboard, fetched with the bearer token and handed over as a file. */
async function downloadCsv(path: string, range: { from: string; to: string }, series: "daily" | "monthly", name: string): Promise<void> {
  const text = await api<string>(path, { raw: true, query: { ...range, format: "csv", series }, headers: { accept: "text/csv" } });
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv" }));
  const a = document.createElement("a");
  a.href = url;
  a.download = `agora-${name}-${series}-${range.from}-${range.to}.csv`;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function CsvLinks({ path, range, name }: { path: string; range: { from: string; to: string }; name: string }) {
  const [error, setError] = useState<unknown>(null);
  return (
    <div class="card">
      <h2>Export</h2>
      <ErrorBox error={error} />
      <div class="actions">
        {(["daily", "monthly"] as const).map((s) => (
          <button key={s} type="button" class="secondary" onClick={() => void downloadCsv(path, range, s, name).catch(setError)}>
            Download the {s} figures (CSV)
          </button>
        ))}
      </div>
    </div>
  );
}

function Stat({ name, value, testid }: { name: string; value: ComponentChildren; testid?: string }) {
  return (
    <div class="stat">
      <dt>{name}</dt>
      <dd data-testid={testid}>{value}</dd>
    </div>
  );
}

function moneyList(ms: Money[]): string {
  return ms.length ? ms.map(money).join(" · ") : money({ amount: 0, currency: "USD" });
}

function RangeForm({ from, to }: { from: string; to: string }) {
  const [v, setV] = useState({ from, to });
  useEffect(() => setV({ from, to }), [from, to]);
  return (
    <form
      class="filters card range"
      aria-label="Date range"
      onSubmit={(e) => {
        e.preventDefault();
        setQuery({ from: v.from, to: v.to });
      }}
    >
      <Field label="From" name="from" type="date" value={v.from} onValue={(x) => setV({ ...v, from: x })} />
      <Field label="To" name="to" type="date" value={v.to} onValue={(x) => setV({ ...v, to: x })} />
      <div class="filter-actions">
        <button type="submit">Show</button>
      </div>
      <div class="presets actions">
        {[7, 30, 90].map((d) => (
          <button key={d} type="button" class="secondary small" onClick={() => setQuery(defaultRange(d))}>
            Last {d} days
          </button>
        ))}
      </div>
    </form>
  );
}

export function AnalyticsPage({ params }: { params: Record<string, string> }) {
  const s = useStore(session);
  const q = useStore(location).query;
  const role = s.status === "signed-in" ? s.user.role : "";
  // `/insights` is the caller's own view (by role); `/insights/admin` the platform's.
  const own = role === "provider" || role === "worker" ? "provider" : role === "client" ? "client" : role === "admin" ? "admin" : "";
  const views: [string, string][] = own ? [[own, own === "admin" ? "Platform dashboard" : "Your figures"]] : [];
  const view = params.view ?? own;
  const range = { ...defaultRange(30), ...(q.get("from") ? { from: q.get("from")! } : {}), ...(q.get("to") ? { to: q.get("to")! } : {}) };
  const title = view === "admin" ? "Platform dashboard" : view === "provider" ? "Analytics: provider" : "Analytics: client";
  useTitle(title);
  const allowed = views.some(([v]) => v === view);
  return (
    <section class="page analytics">
      <h1>{title}</h1>
      {views.length > 1 && (
        <nav class="tabs" aria-label="Analytics views">
          {views.map(([v, t]) => (
            <a key={v} href={v === own ? "/insights" : `/insights/${v}`} aria-current={v === view ? "page" : undefined}>
              {t}
            </a>
          ))}
        </nav>
      )}
      {!allowed ? (
        <Empty>{view === "admin" ? "The platform dashboard is for admins." : "There is no such analytics view."}</Empty>
      ) : (
        <>
          <RangeForm from={range.from} to={range.to} />
          {view === "provider" ? <ProviderView range={range} /> : view === "client" ? <ClientView range={range} /> : <AdminView range={range} />}
        </>
      )}
    </section>
  );
}

function useFigures<T>(path: string, range: { from: string; to: string }) {
  return useLoad((signal) => api<T>(path, { signal, query: range }), [path, range.from, range.to]);
}

function ProviderView({ range }: { range: { from: string; to: string } }) {
  const [d, error] = useFigures<ProviderFigures>("/api/analytics/provider", range);
  if (error) return <ErrorBox error={error} />;
  if (!d) return <Loading what="Loading your figures" />;
  const activity = seriesChart(d.series, [["service_views", "Service views"], ["likes", "Likes"], ["bookings", "Bookings"]], "line");
  const work = seriesChart(d.series, [["proposals", "Proposals sent"], ["proposals_won", "Proposals won"], ["contracts_completed", "Contracts completed"]], "line");
  return (
    <>
      <dl class="stats">
        <Stat name="Service views" value={d.service_views} testid="stat-service-views" />
        <Stat name="Likes" value={d.likes} />
        <Stat name="Bookings" value={d.bookings} />
        <Stat name="Proposals won" value={`${d.proposals.won} of ${d.proposals.submitted} (${Math.round(d.proposals.win_rate * 100)}%)`} />
        <Stat name="Contracts completed" value={d.contracts.completed} />
        <Stat name="Earnings" value={moneyList(d.earnings)} testid="stat-earnings" />
        <Stat name="Rating" value={d.rating.reviews_count ? `★ ${d.rating.average?.toFixed(1)} (${d.rating.reviews_count})` : "No reviews yet"} />
      </dl>
      <div class="charts">
        <Chart id="activity" title={`Views, likes and bookings per ${activity.spec.monthly ? "month" : "day"}`} spec={activity.spec} labels={activity.labels} summary={activity.totals} />
        <Chart id="work" title={`Proposals and contracts per ${work.spec.monthly ? "month" : "day"}`} spec={work.spec} labels={work.labels} summary={work.totals} />
        {moneyCharts(d.series, "earnings", "Earnings", "earnings")}
      </div>
      <div class="card">
        <h2>Your services</h2>
        {d.services.length === 0 ? (
          <p class="muted">No services yet.</p>
        ) : (
          <div class="table-wrap" tabIndex={0} role="region" aria-label="Your services: views, likes, bookings">
            <table class="table" data-testid="services-table">
              <thead>
                <tr>
                  <th scope="col">Service</th>
                  <th scope="col" class="num">Views</th>
                  <th scope="col" class="num">Likes</th>
                  <th scope="col" class="num">Bookings</th>
                  <th scope="col" class="num">Conversion</th>
                </tr>
              </thead>
              <tbody>
                {d.services.map((s) => (
                  <tr key={s.service_id}>
                    <th scope="row">
                      <a href={`/services/${s.service_id}`}>{s.title}</a>
                    </th>
                    <td class="num">{s.views}</td>
                    <td class="num">{s.likes}</td>
                    <td class="num">{s.bookings}</td>
                    <td class="num">{(s.conversion * 100).toFixed(1)}%</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </div>
      {d.rating.daily.length > 0 && (
        <div class="card">
          <h2>Reviews in this range</h2>
          <ul class="plain">
            {d.rating.daily.map((r) => (
              <li key={r.date}>
                {dayLabel(r.date)}: {r.reviews} {r.reviews === 1 ? "review" : "reviews"}, average {r.average.toFixed(1)}
              </li>
            ))}
          </ul>
        </div>
      )}
      <CsvLinks path="/api/analytics/provider" range={range} name="provider" />
    </>
  );
}

function ClientView({ range }: { range: { from: string; to: string } }) {
  const [d, error] = useFigures<ClientFigures>("/api/analytics/client", range);
  if (error) return <ErrorBox error={error} />;
  if (!d) return <Loading what="Loading your figures" />;
  const activity = seriesChart(d.series, [["jobs_posted", "Jobs posted"], ["contracts_new", "Contracts started"], ["bookings", "Bookings"], ["searches", "Searches"]], "line");
  return (
    <>
      <dl class="stats">
        <Stat name="Jobs posted" value={d.jobs.posted} testid="stat-jobs" />
        <Stat name="Contracts started" value={d.contracts.created} />
        <Stat name="Contracts completed" value={d.contracts.completed} />
        <Stat name="Bookings" value={d.bookings} />
        <Stat name="Spent" value={moneyList(d.spend)} testid="stat-spend" />
      </dl>
      <div class="charts">
        <Chart id="activity" title={`Your activity per ${activity.spec.monthly ? "month" : "day"}`} spec={activity.spec} labels={activity.labels} summary={activity.totals} />
        {moneyCharts(d.series, "spend", "Spending", "spend")}
      </div>
      <div class="cols2">
        <div class="card">
          <h2>Favourite services</h2>
          {d.favourite_services.length === 0 ? (
            <p class="muted">No liked services in this range.</p>
          ) : (
            <ul class="plain">
              {d.favourite_services.map((s) => (
                <li key={s.service_id}>
                  <a href={`/services/${s.service_id}`}>{s.title}</a> · ♥ {s.likes_count}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Your searches</h2>
          <Counted list={d.search_history} empty="No searches in this range." />
        </div>
      </div>
      <CsvLinks path="/api/analytics/client" range={range} name="client" />
    </>
  );
}

function Counted({ list, empty }: { list: { q: string; count: number }[]; empty: string }) {
  if (list.length === 0) return <p class="muted">{empty}</p>;
  return (
    <ol class="plain">
      {list.map((x) => (
        <li key={x.q}>
          “{x.q}” · {x.count}
        </li>
      ))}
    </ol>
  );
}

interface FeeReport {
  from: string;
  to: string;
  totals: { currency: string; amount: Money; releases: number }[];
  days: { date: string; amount: Money; releases: number }[];
}

function AdminView({ range }: { range: { from: string; to: string } }) {
  // The dashboard and the ledger's fee report (GET /api/admin/payments/fees) load together.
  const [both, error] = useLoad(
    (signal) => Promise.all([api<Dashboard>("/api/analytics/dashboard", { signal, query: range }), api<FeeReport>("/api/admin/payments/fees", { signal, query: range })]),
    [range.from, range.to],
  );
  if (error) return <ErrorBox error={error} />;
  if (!both) return <Loading what="Loading the dashboard" />;
  const [d, fees] = both;
  const traffic = seriesChart(d.series, [["page_views", "Page views"], ["service_views", "Service views"], ["searches", "Searches"]], "line");
  const people = seriesChart(d.series, [["users_new", "New users"], ["active_users", "Active users"]], "line");
  const market = seriesChart(d.series, [["jobs_posted", "Jobs posted"], ["contracts_new", "Contracts started"], ["contracts_completed", "Contracts completed"], ["bookings", "Bookings"]], "line");
  return (
    <>
      <dl class="stats">
        <Stat name="Users" value={`${d.users.total} (${d.users.new} new)`} testid="stat-users" />
        <Stat name="Active today / 7 days / 30 days" value={`${d.users.active_1d} / ${d.users.active_7d} / ${d.users.active_30d}`} />
        <Stat name="Services" value={`${d.services.total} (${d.services.new} new)`} />
        <Stat name="Jobs open" value={`${d.jobs.open} of ${d.jobs.total}`} />
        <Stat name="Contracts active" value={d.contracts.active} />
        <Stat name="Contracts completed" value={d.contracts.completed} />
        <Stat name="Page views" value={d.page_views} testid="stat-page-views" />
        <Stat name="Searches (no results)" value={`${d.search.total} (${d.search.zero_results})`} />
        {d.money.map((m) => (
          <Stat key={m.currency} name={`GMV / fees (${m.currency})`} value={`${money(m.gmv)} / ${money(m.fees)}`} />
        ))}
      </dl>
      <div class="charts">
        <Chart id="traffic" title={`Traffic per ${traffic.spec.monthly ? "month" : "day"}`} spec={traffic.spec} labels={traffic.labels} summary={traffic.totals} />
        <Chart id="people" title={`New and active users per ${people.spec.monthly ? "month" : "day"}`} spec={people.spec} labels={people.labels} summary={people.totals} />
        <Chart id="market" title={`Jobs, contracts and bookings per ${market.spec.monthly ? "month" : "day"}`} spec={market.spec} labels={market.labels} summary={market.totals} />
        {moneyCharts(d.series, "gmv", "GMV", "gmv")}
        {moneyCharts(d.series, "fees", "Platform fees", "fees")}
      </div>
      <div class="cols2">
        <div class="card">
          <h2>Platform fees (from the ledger)</h2>
          {fees.totals.length === 0 ? (
            <p class="muted">No fees in this range.</p>
          ) : (
            <ul class="plain" data-testid="fee-totals">
              {fees.totals.map((t) => (
                <li key={t.currency}>
                  <strong>{money(t.amount)}</strong> from {t.releases} {t.releases === 1 ? "release" : "releases"}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Contracts by status</h2>
          {Object.keys(d.contracts.by_status).length === 0 ? (
            <p class="muted">No contracts yet.</p>
          ) : (
            <ul class="plain">
              {Object.entries(d.contracts.by_status).map(([k, v]) => (
                <li key={k}>
                  {label(k)}: {v}
                </li>
              ))}
            </ul>
          )}
        </div>
        <div class="card">
          <h2>Popular services</h2>
          {d.popular_services.length === 0 ? (
            <p class="muted">No service views in this range.</p>
          ) : (
            <ol class="plain">
              {d.popular_services.map((s) => (
                <li key={s.service_id}>
                  <a href={`/services/${s.service_id}`}>{s.title ?? "Removed service"}</a> · {s.views} views
                </li>
              ))}
            </ol>
          )}
        </div>
        <div class="card">
          <h2>Best-rated providers</h2>
          {d.top_providers_by_rating.length === 0 ? (
            <p class="muted">No reviewed providers yet.</p>
          ) : (
            <ol class="plain">
              {d.top_providers_by_rating.map((p) => (
                <li key={p.provider_id}>
                  <a href={`/providers/${p.provider_id}`}>
                    <UserName id={p.user_id} />
                  </a>{" "}
                  · ★ {p.rating_avg.toFixed(1)} ({p.reviews_count})
                </li>
              ))}
            </ol>
          )}
        </div>
        <div class="card">
          <h2>Providers by completed work</h2>
          {d.top_providers_by_volume.length === 0 ? (
            <p class="muted">Nothing completed in this range.</p>
          ) : (
            <ol class="plain">
              {d.top_providers_by_volume.map((p) => (
                <li key={p.user_id}>
                  <UserName id={p.user_id} /> · {p.completed}
                </li>
              ))}
            </ol>
          )}
        </div>
        <div class="card">
          <h2>Top searches</h2>
          <Counted list={d.search.trends} empty="No searches in this range." />
        </div>
        <div class="card">
          <h2>Searches with no results</h2>
          <Counted list={d.search.zero_result_queries} empty="None in this range." />
        </div>
      </div>
      <CsvLinks path="/api/analytics/dashboard" range={range} name="platform" />
    </>
  );
}
