//! Analytics: `POST /api/analytics/events` (page views and client actions, batched) and
//! the three dashboards, read from the rollups only (docs/analytics.md):
//! `GET /api/analytics/dashboard` (admins), `GET /api/analytics/provider` and
//! `GET /api/analytics/client` (the caller's own figures). Each takes `?from=&to=`
//! (UTC days, inclusive; default the 30 days ending today; at most 366) and answers JSON,
//! or with `?format=csv` one of its series (`&series=daily`, the default, or `monthly`).

use std::collections::BTreeSet;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_actors::analytics::RecordFacts;
use agora_engine::analytics::{
    client_facts, top, visitor_id, ClientEvent, Counters, Period, Range, Rank, Scope, Sender, MAX_BATCH,
};
use agora_engine::{Currency, FieldErrors, Money, ServiceId, UserId};
use agora_storage::market::{List, Provider, Service};
use agora_storage::search::{Kind, SearchRequest, Sort};
use agora_storage::Order;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use super::ErrorEnvelope;
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::market::run;
use crate::state::AppState;

/// The largest events request, in bytes (100 events of the longest path and referrer fit).
pub const MAX_EVENTS_BYTES: usize = 192 * 1024;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventsBody {
    /// 1 to 100 events: `{kind, path?, referrer?, target?, at?}`; `kind` is one of
    /// page_view, click, share, form_submit, outbound_link; a page view needs `path`.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<ClientEvent>,
    /// Required without a token: a random id (8 to 64 of `A-Za-z0-9-_`) the client keeps.
    pub visitor_id: Option<String>,
    /// The same id on a retry of the same batch: it then counts once.
    pub batch_id: Option<String>,
}

/// Records a batch of page views and client actions. Anonymous visitors send their
/// `visitor_id`; signed-in users their token. Query strings are cut off paths and
/// referrers; the client address is kept only as a hash with a salt that changes daily.
#[utoipa::path(post, path = "/api/analytics/events", tag = "analytics", request_body = EventsBody,
    responses((status = 202, description = "{accepted: n}: durable"), (status = 400, body = ErrorEnvelope),
        (status = 413, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
pub async fn ingest(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: MaybeAuthUser,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if body.len() > MAX_EVENTS_BYTES {
        return Err(ApiError::PayloadTooLarge);
    }
    // Any content type: `navigator.sendBeacon` sends text/plain.
    let body: EventsBody = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest { code: "invalid_json", message: format!("invalid JSON body: {e}") })?;
    let now = OffsetDateTime::now_utc();
    let mut f = FieldErrors::new();
    let visitor = body.visitor_id.as_deref().and_then(|v| f.check("visitor_id", visitor_id(v)));
    if viewer.0.is_none() && body.visitor_id.is_none() {
        f.add("visitor_id", "is required without a token");
    }
    let batch = body.batch_id.as_deref().and_then(|b| f.check("batch_id", visitor_id(b)));
    if body.events.len() > MAX_BATCH {
        f.add("events", format!("at most {MAX_BATCH} events a request"));
    }
    f.into_result()?;
    let user = viewer.0.as_ref().map(|u| u.id);
    let sender = Sender { user, visitor: visitor.clone(), ip: Some(ip_hash(&state, &req, now)) };
    let facts = client_facts(body.events, &sender, now)?;
    let who = user.map(|u| u.to_string()).or(visitor).unwrap_or_default();
    let key = match batch {
        Some(b) => format!("c:{who}:{b}"),
        None => format!("c:{who}:{}", uuid::Uuid::now_v7().simple()),
    };
    let accepted = facts.len();
    run(&state, RecordFacts { key, facts, at: now }).await?;
    Ok(HttpResponse::Accepted().json(json!({ "accepted": accepted })))
}

/// The client address, hashed with the day and a secret kept in the data dir: the same
/// address gives another hash tomorrow, and nothing gives the address back.
fn ip_hash(state: &AppState, req: &HttpRequest, now: OffsetDateTime) -> String {
    let ip = crate::client_ip::client_ip(req).to_string();
    let mut h = Sha256::new();
    h.update(state.analytics_salt.bytes());
    h.update(agora_engine::analytics::ymd(now.date()).as_bytes());
    h.update(ip.as_bytes());
    h.finalize().iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Records that `service` was viewed (by `viewer`, when signed in), after the answer.
pub fn service_viewed(state: &web::Data<AppState>, service: &Service, viewer: Option<UserId>) {
    let now = OffsetDateTime::now_utc();
    let mut fact = agora_engine::analytics::Fact::new(agora_engine::analytics::Kind::ServiceViewed, now).by(viewer);
    (fact.service, fact.provider) = (Some(service.id), Some(service.owner_id));
    record_later(state, RecordFacts::once(vec![fact], now), "service view");
}

/// Records a registration (its key repeats, so it counts once), after the answer.
pub fn user_registered(state: &web::Data<AppState>, user: UserId, at: OffsetDateTime) {
    let fact = agora_engine::analytics::Fact::new(agora_engine::analytics::Kind::UserRegistered, at).by(Some(user));
    record_later(
        state,
        RecordFacts { key: format!("d:user_registered:{user}"), facts: vec![fact], at },
        "registration",
    );
}

fn record_later(state: &web::Data<AppState>, cmd: RecordFacts, what: &'static str) {
    let state = state.clone();
    actix_web::rt::spawn(async move {
        if let Err(e) = run(&state, cmd).await {
            metrics::counter!("agora_analytics_unrecorded_total").increment(1);
            tracing::warn!(what, error = %e, "analytics fact not recorded");
        }
    });
}

// ---------------------------------------------------------------------------------------
// Dashboards

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DashboardQuery {
    /// `YYYY-MM-DD`; default 29 days before `to`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`; default today (UTC).
    pub to: Option<String>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
    /// With `format=csv`: `daily` (default) or `monthly`.
    pub series: Option<String>,
}

impl DashboardQuery {
    fn range(&self) -> Result<Range, ApiError> {
        Ok(Range::parse(self.from.as_deref(), self.to.as_deref(), OffsetDateTime::now_utc().date())?)
    }

    fn csv(&self) -> Result<Option<bool>, ApiError> {
        match (self.format.as_deref(), self.series.as_deref()) {
            (None | Some("json"), _) => Ok(None),
            (Some("csv"), None | Some("daily")) => Ok(Some(false)),
            (Some("csv"), Some("monthly")) => Ok(Some(true)),
            (Some("csv"), Some(_)) => Err(ApiError::invalid_field("series", "must be daily or monthly")),
            (Some(_), _) => Err(ApiError::invalid_field("format", "must be json or csv")),
        }
    }
}

/// One scope's counters over a range: each day, and each month the range touches.
struct Figures {
    days: Vec<(String, Counters)>,
    months: Vec<(String, Counters)>,
}

/// What a dashboard starts with: the CSV answer, or the range, its figures and the series columns.
enum Start {
    Csv(HttpResponse),
    Json(Range, Figures, Vec<String>),
}

impl Figures {
    /// The range and figures of `scope`; with `format=csv` the whole answer.
    async fn start(
        state: &AppState,
        q: &DashboardQuery,
        scope: Scope,
        fixed: &[&str],
        money: &[&str],
    ) -> Result<Start, ApiError> {
        let (r, csv) = (q.range()?, q.csv()?);
        let fig = Figures::load(state, scope, &r).await?;
        let cols = fig.columns(fixed, money);
        Ok(match csv {
            Some(monthly) => Start::Csv(fig.csv(&cols, monthly)),
            None => Start::Json(r, fig, cols),
        })
    }

    async fn load(state: &AppState, scope: Scope, r: &Range) -> Result<Figures, ApiError> {
        let a = state.store.analytics();
        let days: Vec<Period> = r.days().map(Period::Day).collect();
        let months = r.months();
        let key = scope.key();
        let (d, m) = futures_util::try_join!(a.counters(&key, &days), a.counters(&key, &months))?;
        let label = |p: &Period| p.key().split_once(':').map(|(_, l)| l.to_owned()).unwrap_or_default();
        Ok(Figures { days: days.iter().map(label).zip(d).collect(), months: months.iter().map(label).zip(m).collect() })
    }

    /// The sum of `metric` over the range's days.
    fn total(&self, metric: &str) -> i64 {
        self.days.iter().map(|(_, c)| c.get(metric).copied().unwrap_or(0)).sum()
    }

    /// Per-currency sums of `<prefix>:<currency>` counters.
    fn money(&self, prefix: &str) -> Vec<Money> {
        let mut by: std::collections::BTreeMap<String, i64> = Default::default();
        for (_, c) in &self.days {
            for (k, v) in c {
                if let Some(cur) = k.strip_prefix(prefix).and_then(|k| k.strip_prefix(':')) {
                    *by.entry(cur.to_owned()).or_default() += v;
                }
            }
        }
        by.into_iter().filter_map(|(cur, n)| Currency::parse(&cur).ok().and_then(|c| Money::of(n, c).ok())).collect()
    }

    /// The metrics of the series: `fixed`, then every money counter the range holds.
    fn columns(&self, fixed: &[&str], money: &[&str]) -> Vec<String> {
        let mut cols: Vec<String> = fixed.iter().map(|s| (*s).to_owned()).collect();
        let found: BTreeSet<&String> = self
            .days
            .iter()
            .chain(&self.months)
            .flat_map(|(_, c)| c.keys())
            .filter(|k| money.iter().any(|m| k.starts_with(&format!("{m}:"))))
            .collect();
        cols.extend(found.into_iter().cloned());
        cols
    }

    fn series(&self, cols: &[String]) -> Value {
        let rows = |rows: &[(String, Counters)], label: &str| -> Vec<Value> {
            rows.iter()
                .map(|(l, c)| {
                    let mut row = Map::new();
                    row.insert(label.into(), json!(l));
                    for col in cols {
                        row.insert(col.clone(), json!(c.get(col).copied().unwrap_or(0)));
                    }
                    Value::Object(row)
                })
                .collect()
        };
        json!({ "daily": rows(&self.days, "date"), "monthly": rows(&self.months, "month") })
    }

    fn csv(&self, cols: &[String], monthly: bool) -> HttpResponse {
        let (label, rows) = if monthly { ("month", &self.months) } else { ("date", &self.days) };
        let mut out = String::from(label);
        for c in cols {
            out.push(',');
            out.push_str(c);
        }
        out.push('\n');
        for (l, c) in rows {
            out.push_str(l);
            for col in cols {
                out.push(',');
                out.push_str(&c.get(col).copied().unwrap_or(0).to_string());
            }
            out.push('\n');
        }
        HttpResponse::Ok().content_type("text/csv; charset=utf-8").body(out)
    }
}

/// A ranked list over exactly the range (whole months as months, the rest as days).
async fn ranked(state: &AppState, rank: Rank, scope: Scope, r: &Range) -> Result<Counters, ApiError> {
    let lists = state.store.analytics().ranks(&rank.key(scope), &r.rank_periods()).await?;
    let mut sum = Counters::new();
    for l in &lists {
        agora_engine::analytics::merge(&mut sum, l, false);
    }
    Ok(sum)
}

/// Sums of several scopes' counters over exactly the range.
async fn range_sums(state: &AppState, scopes: &[Scope], r: &Range) -> Result<Vec<Counters>, ApiError> {
    let keys: Vec<String> = scopes.iter().map(Scope::key).collect();
    let all = state.store.analytics().counters_of_each(&keys, &r.rank_periods()).await?;
    Ok(all
        .into_iter()
        .map(|lists| {
            let mut sum = Counters::new();
            for l in &lists {
                agora_engine::analytics::merge(&mut sum, l, false);
            }
            sum
        })
        .collect())
}

fn n(c: &Counters, k: &str) -> i64 {
    c.get(k).copied().unwrap_or(0)
}

fn ratio(num: i64, den: i64) -> f64 {
    if den <= 0 {
        0.0
    } else {
        ((num as f64 / den as f64) * 10_000.0).round() / 10_000.0
    }
}

fn counted(list: Vec<(String, i64)>, key: &str) -> Vec<Value> {
    list.into_iter().map(|(k, c)| json!({ key: k, "count": c })).collect()
}

/// What the admin dashboard reads from the search index, in one trip to the blocking pool:
/// services, jobs and open jobs in all, and the ten best-rated providers' ids.
struct IndexFigures {
    services: usize,
    jobs: usize,
    open_jobs: usize,
    best_rated: Vec<agora_engine::ProviderId>,
}

async fn index_figures(state: &AppState) -> Result<IndexFigures, ApiError> {
    let ask = |kind, filters, sort, limit| SearchRequest {
        kind,
        q: None,
        filters,
        price_min: None,
        price_max: None,
        sort,
        offset: 0,
        limit,
    };
    let index = std::sync::Arc::clone(&state.search);
    let found = web::block(move || -> Result<IndexFigures, agora_storage::StoreError> {
        let total = |r: SearchRequest| index.search(&r).map(|h| h.total);
        let rated = index.search(&ask(Kind::Provider, Vec::new(), Sort::Rating, 10))?;
        Ok(IndexFigures {
            services: total(ask(Kind::Service, Vec::new(), Sort::Newest, 1))?,
            jobs: total(ask(Kind::Job, Vec::new(), Sort::Newest, 1))?,
            open_jobs: total(ask(Kind::Job, vec![("status", "open".to_owned())], Sort::Newest, 1))?,
            best_rated: rated.ids.iter().filter_map(|id| id.parse().ok()).collect(),
        })
    });
    Ok(found.await.map_err(ApiError::internal)??)
}

const ADMIN_SERIES: &[&str] = &[
    "page_views",
    "users_new",
    "active_users",
    "services_new",
    "jobs_posted",
    "proposals",
    "contracts_new",
    "contracts_completed",
    "bookings",
    "reviews",
    "likes",
    "service_views",
    "messages",
    "searches",
    "searches_zero",
];

/// The platform's figures, for admins (404 for anyone else).
#[utoipa::path(get, path = "/api/analytics/dashboard", tag = "analytics", params(DashboardQuery),
    responses((status = 200, description = "users, services, jobs, contracts, money (GMV, fees), top providers, popular services, search trends, page views, and series {daily, monthly}; text/csv with format=csv"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn dashboard(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    if !user.role.is_admin() {
        return Err(ApiError::Forbidden("the dashboard is for admins"));
    }
    let (r, fig, cols) = match Figures::start(&state, &q, Scope::Platform, ADMIN_SERIES, &["gmv", "fees"]).await? {
        Start::Csv(csv) => return Ok(csv),
        Start::Json(r, fig, cols) => (r, fig, cols),
    };
    let a = state.store.analytics();
    let today = OffsetDateTime::now_utc().date();
    let last30: Vec<Period> = (0..30).map(|i| Period::Day(today - time::Duration::days(i))).collect();
    let platform = Scope::Platform.key();
    let (recent, all) = futures_util::try_join!(a.counters(&platform, &last30), a.counters(&platform, &[Period::All]))?;
    let active = |days: usize| recent.iter().take(days).map(|c| n(c, "last_seen")).sum::<i64>();
    let all = all.into_iter().next().unwrap_or_default();
    let index = index_figures(&state).await?;
    let by_status: Map<String, Value> =
        all.iter().filter_map(|(k, v)| k.strip_prefix("contracts:").map(|s| (s.to_owned(), json!(v)))).collect();
    let contracts = |s: &str| all.get(&format!("contracts:{s}")).copied().unwrap_or(0);
    let (services_rank, providers_rank, queries, zero) = futures_util::try_join!(
        ranked(&state, Rank::Services, Scope::Platform, &r),
        ranked(&state, Rank::Providers, Scope::Platform, &r),
        ranked(&state, Rank::Queries, Scope::Platform, &r),
        ranked(&state, Rank::ZeroResults, Scope::Platform, &r),
    )?;
    let popular = top(&services_rank, 10);
    let ids: Vec<ServiceId> = popular.iter().filter_map(|(id, _)| id.parse().ok()).collect();
    let services = state.store.market().get_many::<Service>(&ids).await?;
    let popular: Vec<Value> = popular
        .iter()
        .map(|(id, views)| {
            let title = services.iter().find(|s| s.id.to_string() == *id).map(|s| s.title.clone());
            json!({"service_id": id, "title": title, "views": views})
        })
        .collect();
    let by_rating = top_rated_providers(&state, &index.best_rated).await?;
    let by_volume: Vec<Value> = top(&providers_rank, 10)
        .into_iter()
        .map(|(user_id, done)| json!({"user_id": user_id, "completed": done}))
        .collect();
    let money: Vec<Value> = {
        let (gmv, fees) = (fig.money("gmv"), fig.money("fees"));
        let curs: BTreeSet<String> = gmv.iter().chain(&fees).map(|m| m.currency().as_str().to_owned()).collect();
        curs.into_iter()
            .filter_map(|c| Currency::parse(&c).ok())
            .map(|c| {
                let pick = |v: &[Money]| v.iter().find(|m| m.currency() == c).map_or(0, Money::minor);
                json!({"currency": c.as_str(), "gmv": Money::of(pick(&gmv), c).ok(), "fees": Money::of(pick(&fees), c).ok()})
            })
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({
        "from": agora_engine::analytics::ymd(r.from),
        "to": agora_engine::analytics::ymd(r.to),
        "users": {
            "total": n(&all, "users_new"),
            "new": fig.total("users_new"),
            "active_1d": active(1),
            "active_7d": active(7),
            "active_30d": active(30),
        },
        "services": {"total": index.services, "new": fig.total("services_new"), "removed": fig.total("services_removed")},
        "jobs": {"total": index.jobs, "open": index.open_jobs, "posted": fig.total("jobs_posted")},
        "contracts": {
            "active": contracts("active"),
            "completed": contracts("completed"),
            "by_status": by_status,
            "created": fig.total("contracts_new"),
            "completed_in_range": fig.total("contracts_completed"),
            "cancelled_in_range": fig.total("contracts_cancelled"),
        },
        "money": money,
        "top_providers_by_rating": by_rating,
        "top_providers_by_volume": by_volume,
        "popular_services": popular,
        "search": {
            "total": fig.total("searches"),
            "zero_results": fig.total("searches_zero"),
            "trends": counted(top(&queries, 10), "q"),
            "zero_result_queries": counted(top(&zero, 10), "q"),
        },
        "page_views": fig.total("page_views"),
        "series": fig.series(&cols),
    })))
}

/// The best-rated providers with reviews: their profiles, best first.
async fn top_rated_providers(state: &AppState, ids: &[agora_engine::ProviderId]) -> Result<Vec<Value>, ApiError> {
    let providers = state.store.market().get_many::<Provider>(ids).await?;
    Ok(providers
        .into_iter()
        .filter(|p| p.reviews_count > 0)
        .map(|p| {
            json!({"provider_id": p.id, "user_id": p.user_id, "rating_avg": p.rating_avg, "reviews_count": p.reviews_count})
        })
        .collect())
}

const PROVIDER_SERIES: &[&str] = &[
    "service_views",
    "likes",
    "bookings",
    "proposals",
    "proposals_won",
    "contracts_new",
    "contracts_completed",
    "reviews",
    "rating_sum",
];

/// At most this many of a provider's services are listed with their figures.
const MAX_SERVICES: usize = 50;

/// The caller's figures as a provider: own services (views, likes, bookings, conversion),
/// proposals won, contracts, earnings, rating trend, series.
#[utoipa::path(get, path = "/api/analytics/provider", tag = "analytics", params(DashboardQuery),
    responses((status = 200, description = "services, proposals, contracts, earnings, rating, series {daily, monthly}; text/csv with format=csv"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn provider(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let (r, fig, cols) =
        match Figures::start(&state, &q, Scope::Provider(user.id), PROVIDER_SERIES, &["earnings"]).await? {
            Start::Csv(csv) => return Ok(csv),
            Start::Json(r, fig, cols) => (r, fig, cols),
        };
    let m = state.store.market();
    let profile = m.provider_of(user.id).await?.map(|v| v.value);
    let services: Vec<Service> = match &profile {
        Some(p) => {
            let (items, _) = m.page(&List::services_of_provider(p.id), Order::Asc, MAX_SERVICES, None).await?;
            items.into_iter().filter(|s| !s.deleted).collect()
        }
        None => Vec::new(),
    };
    let scopes: Vec<Scope> = services.iter().map(|s| Scope::Service(s.id)).collect();
    let sums = range_sums(&state, &scopes, &r).await?;
    let services: Vec<Value> = services
        .iter()
        .zip(&sums)
        .map(|(s, c)| {
            json!({
                "service_id": s.id, "title": s.title, "views": n(c, "views"), "likes": n(c, "likes"),
                "bookings": n(c, "bookings"), "conversion": ratio(n(c, "bookings"), n(c, "views")),
            })
        })
        .collect();
    let (submitted, won) = (fig.total("proposals"), fig.total("proposals_won"));
    let trend = |rows: &[(String, Counters)], label: &str| -> Vec<Value> {
        rows.iter()
            .filter(|(_, c)| n(c, "reviews") > 0)
            .map(|(l, c)| json!({label: l, "reviews": n(c, "reviews"), "average": ratio(n(c, "rating_sum"), n(c, "reviews"))}))
            .collect()
    };
    Ok(HttpResponse::Ok().json(json!({
        "from": agora_engine::analytics::ymd(r.from),
        "to": agora_engine::analytics::ymd(r.to),
        "services": services,
        "service_views": fig.total("service_views"),
        "likes": fig.total("likes"),
        "bookings": fig.total("bookings"),
        "proposals": {"submitted": submitted, "won": won, "win_rate": ratio(won, submitted)},
        "contracts": {
            "created": fig.total("contracts_new"),
            "completed": fig.total("contracts_completed"),
            "cancelled": fig.total("contracts_cancelled"),
        },
        "earnings": fig.money("earnings"),
        "rating": {
            "average": profile.as_ref().map(|p| p.rating_avg),
            "reviews_count": profile.as_ref().map(|p| p.reviews_count),
            "reviews_in_range": fig.total("reviews"),
            "daily": trend(&fig.days, "date"),
            "monthly": trend(&fig.months, "month"),
        },
        "series": fig.series(&cols),
    })))
}

const CLIENT_SERIES: &[&str] =
    &["jobs_posted", "contracts_new", "contracts_completed", "bookings", "searches", "likes"];

/// The caller's figures as a client: own jobs, spend, contracts, favourite (liked)
/// services, search history, series.
#[utoipa::path(get, path = "/api/analytics/client", tag = "analytics", params(DashboardQuery),
    responses((status = 200, description = "jobs, spend, contracts, bookings, favourite services, search history, series {daily, monthly}; text/csv with format=csv"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn client(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<DashboardQuery>,
) -> Result<HttpResponse, ApiError> {
    let scope = Scope::Client(user.id);
    let (r, fig, cols) = match Figures::start(&state, &q, scope, CLIENT_SERIES, &["spend"]).await? {
        Start::Csv(csv) => return Ok(csv),
        Start::Json(r, fig, cols) => (r, fig, cols),
    };
    let (liked, queries) =
        futures_util::try_join!(ranked(&state, Rank::Liked, scope, &r), ranked(&state, Rank::Queries, scope, &r))?;
    let favourites = top(&liked, 10);
    let ids: Vec<ServiceId> = favourites.iter().filter_map(|(id, _)| id.parse().ok()).collect();
    let services = state.store.market().get_many::<Service>(&ids).await?;
    let favourites: Vec<Value> = favourites
        .iter()
        .filter_map(|(id, _)| services.iter().find(|s| s.id.to_string() == *id && !s.deleted))
        .map(|s| json!({"service_id": s.id, "title": s.title, "likes_count": s.likes_count}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "from": agora_engine::analytics::ymd(r.from),
        "to": agora_engine::analytics::ymd(r.to),
        "jobs": {"posted": fig.total("jobs_posted")},
        "spend": fig.money("spend"),
        "contracts": {
            "created": fig.total("contracts_new"),
            "completed": fig.total("contracts_completed"),
            "cancelled": fig.total("contracts_cancelled"),
        },
        "bookings": fig.total("bookings"),
        "favourite_services": favourites,
        "search_history": counted(top(&queries, 20), "q"),
        "series": fig.series(&cols),
    })))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for p in super::paths("/api/analytics/events") {
        cfg.service(web::resource(p).route(web::post().to(ingest)));
    }
    for p in super::paths("/api/analytics/dashboard") {
        cfg.service(web::resource(p).route(web::get().to(dashboard)));
    }
    for p in super::paths("/api/analytics/provider") {
        cfg.service(web::resource(p).route(web::get().to(provider)));
    }
    for p in super::paths("/api/analytics/client") {
        cfg.service(web::resource(p).route(web::get().to(client)));
    }
}
