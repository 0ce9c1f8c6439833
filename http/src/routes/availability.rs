//! Provider availability: working hours (owner writes, anyone reads), free slots of a
//! service in the caller's time zone, and each user's private calendar feed. The rules
//! (time zones, daylight saving, buffers, notice, window, daily cap) live in
//! `agora_engine::availability`; requests hold their slot in `agora_actors::market::bookings`.

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use agora_actors::market::availability::{SetCalendarFeed, SetWorkingHours};
use agora_actors::market::bookings::busy;
use agora_engine::availability::{self, SlotView, WorkingHoursInput};
use agora_engine::{FieldErrors, ProviderId, ServiceId, SlotPolicy, TimeZoneName, WorkingHours};
use agora_storage::market::{Provider, Service};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ErrorEnvelope;
use crate::auth::{hash_token, one_time_token, AuthUser};
use crate::error::ApiError;
use crate::market::{caller, run};
use crate::state::AppState;

/// How far ahead `GET /api/services/{id}/slots` looks when `to` is left out.
const DEFAULT_SPAN_DAYS: i64 = 7;

/// A provider's working hours as answered: the wire shape of `PUT`, plus `provider_id` and
/// `set` (`false`: no hours yet, so the calendar is open and bookings are not slot-checked).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailabilityView {
    pub provider_id: String,
    pub set: bool,
    /// IANA zone name (`Europe/Paris`); `UTC` while unset.
    pub time_zone: String,
    /// `{"mon": [["09:00","17:00"]], ...}`; days left out are closed.
    #[schema(value_type = Object)]
    pub weekly: serde_json::Value,
    /// `[{"date": "2026-12-24", "ranges": []}]`: an empty list is a day off.
    #[schema(value_type = Vec<Object>)]
    pub overrides: serde_json::Value,
}

impl AvailabilityView {
    fn new(provider: ProviderId, hours: Option<&WorkingHours>) -> Self {
        let input = hours.map(WorkingHours::to_input);
        let (weekly, overrides) = match &input {
            Some(i) => (serde_json::to_value(&i.weekly), serde_json::to_value(&i.overrides)),
            None => (Ok(serde_json::json!({})), Ok(serde_json::json!([]))),
        };
        AvailabilityView {
            provider_id: provider.to_string(),
            set: hours.is_some(),
            time_zone: hours.map_or("UTC", |h| h.time_zone().as_str()).to_string(),
            weekly: weekly.unwrap_or_default(),
            overrides: overrides.unwrap_or_default(),
        }
    }
}

fn provider_id(raw: &str) -> Result<ProviderId, ApiError> {
    ProviderId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn provider(state: &AppState, id: ProviderId) -> Result<Provider, ApiError> {
    Ok(state.store.market().get::<Provider>(id).await?.ok_or(ApiError::NotFound)?.value)
}

/// A provider's working hours.
#[utoipa::path(get, path = "/api/providers/{id}/availability", tag = "availability", params(("id" = String, Path)),
    responses((status = 200, body = AvailabilityView), (status = 404, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(provider = %path.as_str()))]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let p = provider(&state, provider_id(&path)?).await?;
    let hours = state.store.availability().hours(p.user_id).await?;
    Ok(HttpResponse::Ok().json(AvailabilityView::new(p.id, hours.as_ref())))
}

/// Sets a provider's working hours (owner only): weekly ranges and date overrides in the
/// provider's IANA time zone.
#[utoipa::path(put, path = "/api/providers/{id}/availability", tag = "availability", params(("id" = String, Path)),
    request_body(content = Object, description = "{time_zone, weekly: {mon: [[\"09:00\",\"17:00\"]], ...}, overrides: [{date, ranges}]}"),
    responses((status = 200, body = AvailabilityView), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, provider = %path.as_str()))]
pub async fn put(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<serde_json::Value>,
) -> Result<HttpResponse, ApiError> {
    let id = provider_id(&path)?;
    provider(&state, id).await?;
    let input: WorkingHoursInput = serde_json::from_value(body.into_inner())
        .map_err(|e| ApiError::invalid_field("body", &format!("not a working-hours object: {e}")))?;
    let hours = WorkingHours::parse(&input)?;
    let cmd = SetWorkingHours { by: caller(&user), provider_id: id, hours: Some(hours), at: OffsetDateTime::now_utc() };
    let now = run(&state, cmd).await?;
    Ok(HttpResponse::Ok().json(AvailabilityView::new(id, now.as_ref())))
}

/// Clears a provider's working hours (owner only): the calendar is open again.
#[utoipa::path(delete, path = "/api/providers/{id}/availability", tag = "availability", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, provider = %path.as_str()))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = provider_id(&path)?;
    provider(&state, id).await?;
    run(&state, SetWorkingHours { by: caller(&user), provider_id: id, hours: None, at: OffsetDateTime::now_utc() })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SlotsQuery {
    /// RFC 3339; default now.
    pub from: Option<String>,
    /// RFC 3339, after `from`, at most 90 days later; default `from` + 7 days.
    pub to: Option<String>,
    /// IANA zone to show the slots in; default the provider's.
    pub tz: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SlotsView {
    pub service_id: String,
    /// Whether the provider has working hours (without them there are no slots: the
    /// calendar is open and a booking may ask for any time).
    pub available: bool,
    /// The zone `start` is shown in.
    pub time_zone: String,
    pub provider_time_zone: Option<String>,
    pub duration_minutes: i64,
    /// Free start times, earliest first: `{start (in time_zone), start_utc}`.
    #[schema(value_type = Vec<Object>)]
    pub results: Vec<SlotView>,
}

fn instant(f: &mut FieldErrors, field: &str, raw: Option<&str>) -> Option<OffsetDateTime> {
    let raw = raw?;
    match OffsetDateTime::parse(raw, &Rfc3339) {
        Ok(t) => Some(t),
        Err(_) => {
            f.add(field, "must be an RFC 3339 date-time, e.g. 2026-12-24T09:00:00+01:00");
            None
        }
    }
}

/// The free start times of a service, after the provider's working hours, overrides, the
/// service's buffers, notice, window and daily cap, and the provider's confirmed and held
/// bookings; in the caller's time zone and UTC.
#[utoipa::path(get, path = "/api/services/{id}/slots", tag = "availability", params(("id" = String, Path), SlotsQuery),
    responses((status = 200, body = SlotsView), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(service = %path.as_str()))]
pub async fn slots(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<SlotsQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = ServiceId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let now = OffsetDateTime::now_utc();
    let mut f = FieldErrors::new();
    let from = instant(&mut f, "from", q.from.as_deref()).unwrap_or(now);
    let to = instant(&mut f, "to", q.to.as_deref());
    let tz = q.tz.as_deref().and_then(|raw| f.check("tz", TimeZoneName::parse(raw)));
    f.into_result()?;
    let to = to.unwrap_or(from + time::Duration::days(DEFAULT_SPAN_DAYS));
    availability::check_span(from, to)?;
    let service = state
        .store
        .market()
        .get::<Service>(id)
        .await?
        .map(|s| s.value)
        .filter(|s| !s.deleted)
        .ok_or(ApiError::NotFound)?;
    let policy = SlotPolicy::for_service(service.duration_minutes, &service.booking_rules.unwrap_or_default())?;
    let hours = state.store.availability().hours(service.owner_id).await?;
    let Some(hours) = hours else {
        let tz = tz.unwrap_or(TimeZoneName::UTC);
        return Ok(HttpResponse::Ok().json(SlotsView {
            service_id: id.to_string(),
            available: false,
            time_zone: tz.as_str().into(),
            provider_time_zone: None,
            duration_minutes: policy.duration().whole_minutes(),
            results: Vec::new(),
        }));
    };
    let schedule = state.store.market().schedule(service.owner_id).await?.map(|s| s.value).unwrap_or_default();
    let busy = busy(&schedule, now, None);
    let free = availability::free_slots(&hours, &policy, &busy, from, to, now)?;
    let shown = tz.unwrap_or(hours.time_zone());
    metrics::histogram!("agora_slot_search_results").record(free.len() as f64);
    Ok(HttpResponse::Ok().json(SlotsView {
        service_id: id.to_string(),
        available: true,
        time_zone: shown.as_str().into(),
        provider_time_zone: Some(hours.time_zone().as_str().into()),
        duration_minutes: policy.duration().whole_minutes(),
        results: free.into_iter().map(|s| SlotView::new(s, shown)).collect(),
    }))
}

/// A new private calendar feed URL.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CalendarFeedView {
    /// `https://…/api/calendar/feed/<token>.ics`: subscribe to it in a calendar app.
    pub url: String,
    /// The same feed as `webcal://…` (opens the subscribe dialog of most calendar apps).
    pub webcal_url: String,
}

/// Issues a private calendar feed URL for the caller's bookings; any earlier one stops
/// working. The token is shown once (only its hash is stored).
#[utoipa::path(post, path = "/api/calendar/feed", tag = "availability",
    responses((status = 201, body = CalendarFeedView), (status = 401, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn issue_feed(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (token, hash) = one_time_token();
    run(&state, SetCalendarFeed { by: caller(&user), token_hash: Some(hash), at: OffsetDateTime::now_utc() }).await?;
    let base = state.settings.public_url.trim_end_matches('/');
    let url = format!("{base}/api/calendar/feed/{token}.ics");
    let webcal_url = match url.split_once("://") {
        Some((_, rest)) => format!("webcal://{rest}"),
        None => url.clone(),
    };
    Ok(HttpResponse::Created().json(CalendarFeedView { url, webcal_url }))
}

/// Revokes the caller's calendar feed URL.
#[utoipa::path(delete, path = "/api/calendar/feed", tag = "availability",
    responses((status = 204), (status = 404, body = ErrorEnvelope, description = "no feed was issued")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn revoke_feed(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let existed =
        run(&state, SetCalendarFeed { by: caller(&user), token_hash: None, at: OffsetDateTime::now_utc() }).await?;
    if !existed {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

/// The calendar feed itself (no login: the secret token in the path is the credential;
/// an unknown or revoked token is 404). Calendar apps poll it.
#[utoipa::path(get, path = "/api/calendar/feed/{token}", tag = "availability", params(("token" = String, Path, description = "the token, with or without `.ics`")),
    responses((status = 200, content_type = "text/calendar", description = "VCALENDAR with one VEVENT per booking"),
        (status = 404, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn feed(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let raw = req.match_info().get("token").unwrap_or_default();
    let token = raw.strip_suffix(".ics").unwrap_or(raw);
    if token.is_empty() || token.len() > 128 {
        return Err(ApiError::NotFound);
    }
    let user = state.store.availability().feed_owner(&hash_token(token)).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        .body(super::bookings::calendar_of(&state, user).await?))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/providers/{id}/availability")
            .route(web::get().to(get))
            .route(web::put().to(put))
            .route(web::delete().to(delete)),
    )
    .service(web::resource("/api/services/{id}/slots").route(web::get().to(slots)))
    .service(web::resource("/api/calendar/feed").route(web::post().to(issue_feed)).route(web::delete().to(revoke_feed)))
    .service(web::resource("/api/calendar/feed/{token}").route(web::get().to(feed)));
}
