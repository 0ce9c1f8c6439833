//! Service bookings: a client books a provider's service for a time slot; the provider
//! confirms or declines; either party cancels before the start; the provider completes it
//! once it has started. A priced booking is paid when the provider confirms it (the
//! client's chosen card, or their newest saved one, is charged into the booking's escrow),
//! released to the provider when it completes and refunded when a paid booking ends
//! otherwise. Parties only: a booking the caller is not a party to is a 404.
//! Every path also answers under `/api/service-bookings` and `/api/appointments`.
//!
//! The rules (the state machine, "no two overlapping confirmed bookings" on the provider's
//! schedule, the crash-safe confirm) live in `agora_engine::booking` and
//! `agora_actors::market::bookings`; these handlers parse, send the command and answer the view.

use agora_actors::protocol::rfc3339;
use std::collections::HashMap;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};
use agora_actors::market::bookings::{ChangeBookingStatus, RequestBooking};
use agora_engine::market::{self, BookingStatus};
use agora_engine::{Booking, BookingId, FieldErrors, PaymentMethodId, ServiceId, UserId};
use agora_storage::market::List;
use agora_storage::market::Service;
use agora_storage::Order;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{optional, required, ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, optional_text, run};
use crate::state::AppState;

/// How many bookings the calendar export holds at most (newest first).
const ICS_MAX: usize = 1000;
/// How many index rows one list request reads at most while filtering.
const LIST_SCAN_PAGES: usize = 10;

/// A booking as its parties see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BookingView {
    pub id: String,
    pub service_id: String,
    pub client_id: String,
    /// The provider's user id (the service's owner).
    pub provider_id: String,
    pub start_at: String,
    pub end_at: String,
    pub note: Option<String>,
    /// `requested`, `confirmed`, `completed`, `declined` or `cancelled`.
    pub status: String,
    /// Copied from the service when booked.
    #[schema(value_type = Object)]
    pub price: agora_engine::Money,
    /// The card chosen to pay with, if one was.
    pub payment_method_id: Option<String>,
    /// The charge made on confirmation (`GET /api/payments/{id}`), once there is one.
    pub payment_id: Option<String>,
    /// Whether the price is held in escrow (until completion releases it, or a refund).
    pub paid: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Booking> for BookingView {
    fn from(b: &Booking) -> Self {
        BookingView {
            id: b.id.to_string(),
            service_id: b.service_id.to_string(),
            client_id: b.client_id.to_string(),
            provider_id: b.provider_id.to_string(),
            start_at: rfc3339(b.start_at),
            end_at: rfc3339(b.end_at),
            note: b.note.clone(),
            status: b.status.as_str().to_string(),
            price: b.price,
            payment_method_id: b.payment_method_id.map(|m| m.to_string()),
            payment_id: b.payment_id.map(|p| p.to_string()),
            paid: b.paid,
            created_at: rfc3339(b.created_at),
            updated_at: rfc3339(b.updated_at),
        }
    }
}

fn booking_id(raw: &str) -> Result<BookingId, ApiError> {
    BookingId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// An RFC 3339 instant, in UTC, truncated to whole seconds (the schedule's resolution).
fn instant(raw: &str) -> Result<OffsetDateTime, agora_engine::DomainError> {
    let at = OffsetDateTime::parse(raw.trim(), &Rfc3339)
        .map_err(|_| agora_engine::DomainError::invalid("must be an RFC 3339 timestamp"))?;
    let at = at.to_offset(time::UtcOffset::UTC);
    at.replace_nanosecond(0).map_err(|_| agora_engine::DomainError::invalid("must be an RFC 3339 timestamp"))
}

/// The booking, if the caller is one of its parties; 404 otherwise.
async fn party_booking(state: &AppState, user: UserId, id: BookingId) -> Result<Booking, ApiError> {
    let b = state.store.market().get::<Booking>(id).await?.map(|b| b.value);
    b.filter(|b| b.party(user).is_some()).ok_or(ApiError::NotFound)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BookingBody {
    pub service_id: Option<String>,
    /// RFC 3339; not in the past.
    pub start_at: Option<String>,
    /// RFC 3339; after `start_at`, at most 30 days later.
    pub end_at: Option<String>,
    /// Up to 2000 characters.
    pub note: Option<String>,
    /// One of the caller's saved cards, to pay with when the provider confirms (default:
    /// the newest saved card at that time).
    pub payment_method_id: Option<String>,
}

/// Books a service (anyone but the service's owner). The price is the service's current
/// price; the booking starts `requested` and the provider is notified. It is paid when
/// the provider confirms it.
#[utoipa::path(post, path = "/api/bookings", tag = "bookings", request_body = BookingBody,
    responses((status = 201, body = BookingView), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "your own service"), (status = 404, body = ErrorEnvelope, description = "no such service")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<BookingBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let service_id = required(&mut f, "service_id", body.service_id.as_deref(), ServiceId::parse);
    let start = required(&mut f, "start_at", body.start_at.as_deref(), instant);
    let end = required(&mut f, "end_at", body.end_at.as_deref(), instant);
    let note = optional_text(&mut f, "note", body.note.as_deref(), 2000);
    let payment_method_id = optional(&mut f, "payment_method_id", body.payment_method_id.as_deref(), |raw| {
        PaymentMethodId::parse(raw).map_err(|_| agora_engine::DomainError::invalid("must be a UUID"))
    });
    let now = OffsetDateTime::now_utc();
    if let (Some(start), Some(end)) = (start, end) {
        f.check("", market::slot(start, end, now));
    }
    f.into_result()?;
    let (Some(service_id), Some(start_at), Some(end_at)) = (service_id, start, end) else {
        return Err(ApiError::invalid_field("service_id", "is required"));
    };
    let cmd = RequestBooking { by: caller(&user), service_id, start_at, end_at, note, payment_method_id, at: now };
    Ok(HttpResponse::Created().json(BookingView::from(&run(&state, cmd).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only bookings in this status.
    pub status: Option<String>,
    /// `client`: bookings I made; `provider`: bookings of my services.
    pub role: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Client,
    Provider,
}

/// My bookings, as client and as provider, newest first.
#[utoipa::path(get, path = "/api/bookings", tag = "bookings", params(ListQuery),
    responses((status = 200, description = "{results: [BookingView], next_cursor}"), (status = 400, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let (limit, cursor) = (page.limit()?, page.cursor()?.map(str::to_string));
    let mut f = FieldErrors::new();
    let status = optional(&mut f, "status", q.status.as_deref(), BookingStatus::parse);
    let role = optional(&mut f, "role", q.role.as_deref(), |r| match r {
        "client" => Ok(Role::Client),
        "provider" => Ok(Role::Provider),
        _ => Err(agora_engine::DomainError::invalid("must be client or provider")),
    });
    f.into_result()?;
    let keep = |b: &Booking| {
        status.is_none_or(|s| b.status == s)
            && match role {
                None => true,
                Some(Role::Client) => b.client_id == user.id,
                Some(Role::Provider) => b.provider_id == user.id,
            }
    };
    let (items, next_cursor) = state
        .store
        .market()
        .page_where(&List::bookings_of_party(user.id), Order::Desc, limit, cursor.as_deref(), LIST_SCAN_PAGES, keep)
        .await?;
    Ok(HttpResponse::Ok().json(Paged { results: items.iter().map(BookingView::from).collect(), next_cursor }))
}

/// One booking (parties only).
#[utoipa::path(get, path = "/api/bookings/{id}", tag = "bookings", params(("id" = String, Path)),
    responses((status = 200, body = BookingView), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, booking = %path.as_str()))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let b = party_booking(&state, user.id, booking_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(BookingView::from(&b)))
}

#[derive(Debug, Deserialize, Serialize, utoipa::ToSchema)]
pub struct BookingStatusBody {
    /// `confirmed`, `declined` (provider, before the start), `cancelled` (either party,
    /// before the start), `completed` (provider, after the start).
    pub status: Option<String>,
}

/// Changes a booking's status through the booking state machine (`Idempotency-Key`, as
/// confirming a priced booking charges the client's card). Confirming a priced booking is
/// 402 `payment_declined` when the card is declined (the booking stays requested), 409
/// `payment_method_required` when the client has no saved card, and 202 with the booking
/// still requested when the charge's outcome comes later (the charge webhook confirms it).
#[utoipa::path(post, path = "/api/bookings/{id}/status", tag = "bookings", params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body = BookingStatusBody,
    responses((status = 200, body = BookingView), (status = 202, body = BookingView, description = "the confirmation's charge is pending"),
        (status = 400, body = ErrorEnvelope), (status = 402, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "the other party makes this change"),
        (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "`invalid_transition`, `payment_method_required`, or `booking_overlap` when confirming over another confirmed booking")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, booking = %path.as_str()))]
pub async fn set_status(
    state: web::Data<AppState>,
    user: AuthUser,
    req: actix_web::HttpRequest,
    path: web::Path<String>,
    body: web::Json<BookingStatusBody>,
) -> Result<HttpResponse, ApiError> {
    let id = booking_id(&path)?;
    let mut f = FieldErrors::new();
    let to = required(&mut f, "status", body.status.as_deref(), BookingStatus::parse);
    f.into_result()?;
    let Some(to) = to else { return Err(ApiError::invalid_field("status", "is required")) };
    party_booking(&state, user.id, id).await?;
    let raw = serde_json::to_vec(&*body).map_err(ApiError::internal)?;
    crate::idempotency::once(&state, &user, &req, &raw, || async {
        let cmd = ChangeBookingStatus { by: caller(&user), booking_id: id, to, at: OffsetDateTime::now_utc() };
        let b = run(&state, cmd).await?;
        let status = if b.status == to { StatusCode::OK } else { StatusCode::ACCEPTED };
        Ok((status, serde_json::to_value(BookingView::from(&b)).map_err(ApiError::internal)?))
    })
    .await
}

/// My bookings (not declined or cancelled, newest 1000) as an RFC 5545 iCalendar feed.
#[utoipa::path(get, path = "/api/bookings.ics", tag = "bookings",
    responses((status = 200, content_type = "text/calendar", description = "VCALENDAR with one VEVENT per booking"),
        (status = 401, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn calendar(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, "attachment; filename=\"agora-bookings.ics\""))
        .body(calendar_of(&state, user.id).await?))
}

/// A user's bookings (not declined or cancelled, newest [`ICS_MAX`]) as an iCalendar
/// document: for the `.ics` export and the private calendar feed.
pub async fn calendar_of(state: &AppState, user: UserId) -> Result<String, ApiError> {
    let m = state.store.market();
    let live = |b: &Booking| !matches!(b.status, BookingStatus::Declined | BookingStatus::Cancelled);
    let pages = ICS_MAX / 100;
    let (bookings, _) = m.page_where(&List::bookings_of_party(user), Order::Desc, ICS_MAX, None, pages, live).await?;
    let mut ids: Vec<ServiceId> = bookings.iter().map(|b| b.service_id).collect();
    ids.sort();
    ids.dedup();
    let titles: HashMap<ServiceId, String> =
        m.get_many::<Service>(&ids).await?.into_iter().map(|s| (s.id, s.title)).collect();
    Ok(ics(&bookings, &titles))
}

/// UTC "basic" form: `YYYYMMDDTHHMMSSZ`.
fn ics_time(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// TEXT value escaping (RFC 5545 §3.3.11).
fn ics_escape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            '\t' => out.push('\t'),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded so no physical line exceeds 75 octets (RFC 5545
/// §3.1): continuation lines start with a space; UTF-8 sequences are never split.
fn ics_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if width + n > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += n;
    }
    out.push_str("\r\n");
}

fn ics(bookings: &[Booking], titles: &HashMap<ServiceId, String>) -> String {
    let mut out = String::new();
    for line in ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Agora//Bookings//EN", "CALSCALE:GREGORIAN"] {
        ics_line(&mut out, line);
    }
    for b in bookings {
        let title = titles.get(&b.service_id).map_or("Booking", String::as_str);
        let status = if b.status == BookingStatus::Requested { "TENTATIVE" } else { "CONFIRMED" };
        ics_line(&mut out, "BEGIN:VEVENT");
        ics_line(&mut out, &format!("UID:{}@agora", b.id));
        ics_line(&mut out, &format!("DTSTAMP:{}", ics_time(b.updated_at)));
        ics_line(&mut out, &format!("DTSTART:{}", ics_time(b.start_at)));
        ics_line(&mut out, &format!("DTEND:{}", ics_time(b.end_at)));
        ics_line(&mut out, &format!("SUMMARY:{}", ics_escape(title)));
        if let Some(note) = &b.note {
            ics_line(&mut out, &format!("DESCRIPTION:{}", ics_escape(note)));
        }
        ics_line(&mut out, &format!("STATUS:{status}"));
        ics_line(&mut out, &format!("CREATED:{}", ics_time(b.created_at)));
        ics_line(&mut out, &format!("LAST-MODIFIED:{}", ics_time(b.updated_at)));
        ics_line(&mut out, "END:VEVENT");
    }
    ics_line(&mut out, "END:VCALENDAR");
    out
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in super::names("/api/bookings") {
        cfg.service(web::resource(format!("{base}.ics")).route(web::get().to(calendar)))
            .service(web::resource(base).route(web::get().to(list)).route(web::post().to(create)))
            .service(web::resource(format!("{base}/{{id}}")).route(web::get().to(get)))
            .service(web::resource(format!("{base}/{{id}}/status")).route(web::post().to(set_status)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn escapes_text() {
        assert_eq!(ics_escape("a,b;c\\d\r\ne\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
    }

    #[test]
    fn folds_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "é".repeat(100));
        ics_line(&mut out, &long);
        assert!(out.ends_with("\r\n"));
        let lines: Vec<&str> = out.trim_end_matches("\r\n").split("\r\n").collect();
        assert!(lines.len() > 1);
        for (i, l) in lines.iter().enumerate() {
            assert!(l.len() <= 75, "line {i} has {} octets", l.len());
            if i > 0 {
                assert!(l.starts_with(' '));
            }
        }
        let unfolded: String = lines.iter().enumerate().map(|(i, l)| if i == 0 { *l } else { &l[1..] }).collect();
        assert_eq!(unfolded, long);
    }

    #[test]
    fn openapi_paths_and_schemas() {
        use utoipa::OpenApi;
        #[derive(OpenApi)]
        #[openapi(paths(create, list, get, set_status, calendar))]
        struct Doc;
        let doc = serde_json::to_value(Doc::openapi()).expect("json");
        for path in ["/api/bookings", "/api/bookings/{id}", "/api/bookings/{id}/status", "/api/bookings.ics"] {
            assert!(doc["paths"][path].is_object(), "{path} documented");
        }
        for schema in ["BookingBody", "BookingStatusBody", "BookingView"] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema} collected: {doc}");
        }
    }

    #[test]
    fn utc_basic_format() {
        assert_eq!(ics_time(datetime!(2026-03-04 05:06:07 +02:00)), "20260304T030607Z");
    }
}
