//! Services: offers owned by a provider profile. Listing and full-text search go through
//! the catalog index (filters category with subcategories, provider, price range;
//! orderings price, -created_at, rating, popularity). Likes are idempotent PUT/DELETE.

use actix_web::{web, HttpResponse};
use agora_actors::market::catalog::services::{
    CreateService, DeleteService, ServiceFields, SetGallery, SetLike, UpdateService,
};
use agora_engine::availability::BookingRules;
use agora_engine::catalog::duration;
use agora_engine::market::tags;
use agora_engine::{CategoryId, DomainError, FieldErrors, ProviderId, ServiceId, SlotPolicy};
use agora_storage::market::Service;
use agora_storage::search::{Kind, SearchRequest, Sort};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::catalog::ServiceView;
use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::market::{caller, required_money, run, search_offset, text_field, MoneyBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ServiceBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<String>,
    pub price: Option<MoneyBody>,
    pub duration_minutes: Option<u32>,
    pub tags: Option<Vec<String>>,
    /// Slot booking rules: `{buffer_before_minutes, buffer_after_minutes, min_notice_minutes
    /// (default 120), booking_window_days (default 60), slot_interval_minutes (default the
    /// duration), daily_cap}`; they apply once the provider has working hours.
    #[schema(value_type = Option<Object>)]
    pub booking_rules: Option<serde_json::Value>,
}

/// The body's fields, parsed; on create, title, description and price are required
/// (whether the category exists is the command's check).
fn parse(body: &ServiceBody, creating: bool) -> Result<ServiceFields, ApiError> {
    let mut f = FieldErrors::new();
    let title = text_field(&mut f, "title", body.title.as_deref(), creating, 3, 200);
    let description = text_field(&mut f, "description", body.description.as_deref(), creating, 1, 10_000);
    let price = match (&body.price, creating) {
        (None, false) => None,
        (raw, _) => required_money(&mut f, "price", raw.as_ref()),
    };
    let category_id = body.category_id.as_deref().and_then(|raw| {
        let id = CategoryId::parse(raw).ok();
        if id.is_none() {
            f.add("category_id", "no such category");
        }
        id
    });
    let duration_minutes = body.duration_minutes.and_then(|d| f.check("duration_minutes", duration(d)));
    let tags = match (&body.tags, creating) {
        (None, false) => None,
        (raw, _) => f.check("tags", tags(raw.as_deref().unwrap_or(&[]))),
    };
    let booking_rules = body.booking_rules.as_ref().and_then(|raw| booking_rules(&mut f, raw, duration_minutes));
    f.into_result()?;
    Ok(ServiceFields { title, description, category_id, price, duration_minutes, tags, booking_rules })
}

/// `booking_rules`, checked as the slot policy they make with the duration (field errors
/// under `booking_rules.<name>`).
fn booking_rules(f: &mut FieldErrors, raw: &serde_json::Value, duration: Option<u32>) -> Option<BookingRules> {
    let rules: BookingRules = match serde_json::from_value(raw.clone()) {
        Ok(r) => r,
        Err(e) => {
            f.add("booking_rules", format!("not a booking rules object: {e}"));
            return None;
        }
    };
    match SlotPolicy::for_service(duration, &rules) {
        Ok(_) => Some(rules),
        Err(DomainError::Invalid(inner)) => {
            for (field, problems) in inner.fields() {
                for p in problems {
                    f.add(format!("booking_rules.{field}"), p.clone());
                }
            }
            None
        }
        Err(other) => {
            f.add("booking_rules", other.to_string());
            None
        }
    }
}

/// Creates a service owned by the caller's provider profile.
#[utoipa::path(post, path = "/api/services", tag = "services", request_body = ServiceBody,
    responses((status = 201, description = "the service"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "the caller has no provider profile")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = parse(&body, true)?;
    let (Some(title), Some(description), Some(price)) =
        (fields.title.take(), fields.description.take(), fields.price.take())
    else {
        return Err(ApiError::invalid_field("title", "is required"));
    };
    let cmd = CreateService { by: caller(&user), title, description, price, fields, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(ServiceView::liked(run(&state, cmd).await?, false)))
}

fn service_id(raw: &str) -> Result<ServiceId, ApiError> {
    ServiceId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn live(state: &AppState, id: ServiceId) -> Result<agora_storage::Versioned<Service>, ApiError> {
    state.store.market().get::<Service>(id).await?.filter(|s| !s.value.deleted).ok_or(ApiError::NotFound)
}

/// One service, with `rating_avg`, `reviews_count`, `likes_count` and `liked`.
#[utoipa::path(get, path = "/api/services/{id}", tag = "services", params(("id" = String, Path)),
    responses((status = 200, description = "the service"), (status = 404, body = ErrorEnvelope)))]
pub async fn get(
    state: web::Data<AppState>,
    viewer: MaybeAuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = live(&state, service_id(&path)?).await?.value;
    let liked = match viewer.0 {
        Some(u) => state.store.market().likes(s.id, u.id).await?,
        None => false,
    };
    super::analytics::service_viewed(&state, &s, viewer.0.as_ref().map(|u| u.id));
    Ok(HttpResponse::Ok().json(ServiceView::liked(s, liked)))
}

/// Owner only: edits a service (absent fields stay).
#[utoipa::path(patch, path = "/api/services/{id}", tag = "services", params(("id" = String, Path)), request_body = ServiceBody,
    responses((status = 200, description = "the service"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, &path, &body, false).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct GalleryBody {
    /// Up to 10 of the owner's image attachments (`POST /api/uploads`), in display order;
    /// `[]` empties the gallery.
    #[serde(default, alias = "attachments")]
    pub attachment_ids: Vec<String>,
}

/// Owner only: sets the service's public gallery (ordered images). Images left out are let
/// go; other kinds of file are refused (415 `file_type_not_allowed`).
#[utoipa::path(put, path = "/api/services/{id}/gallery", tag = "services", params(("id" = String, Path)), request_body = GalleryBody,
    responses((status = 200, description = "the service with its gallery"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope),
        (status = 415, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn set_gallery(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<GalleryBody>,
) -> Result<HttpResponse, ApiError> {
    let id = service_id(&path)?;
    let mut f = FieldErrors::new();
    let mut attachment_ids = Vec::with_capacity(body.attachment_ids.len());
    for raw in &body.attachment_ids {
        if let Some(a) = f.check("attachment_ids", agora_engine::AttachmentId::parse(raw)) {
            attachment_ids.push(a);
        }
    }
    f.into_result()?;
    let cmd = SetGallery { by: caller(&user), id, attachment_ids, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ServiceView::liked(run(&state, cmd).await?, false)))
}

/// An owner's edit (`replace`: a full replacement, with create's required fields).
async fn change(
    state: &AppState,
    user: &AuthUser,
    raw_id: &str,
    body: &ServiceBody,
    replace: bool,
) -> Result<HttpResponse, ApiError> {
    let id = service_id(raw_id)?;
    let fields = parse(body, replace)?;
    let cmd = UpdateService { by: caller(user), id, fields, replace, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ServiceView::liked(run(state, cmd).await?, false)))
}

/// Owner only: replaces a service (the seeds' `PUT`): the fields and validation of creating
/// it; category, duration, tags and booking rules the body leaves out are cleared.
#[utoipa::path(put, path = "/api/services/{id}", tag = "services", params(("id" = String, Path)), request_body = ServiceBody,
    responses((status = 200, description = "the service"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ServiceBody>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, &path, &body, true).await
}

/// Owner only: withdraws a service (kept for existing bookings and reviews, hidden everywhere).
#[utoipa::path(delete, path = "/api/services/{id}", tag = "services", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = service_id(&path)?;
    run(&state, DeleteService { by: caller(&user), id, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Full-text search (ranked, tolerant of word forms).
    pub q: Option<String>,
    /// Includes subcategories.
    pub category: Option<String>,
    pub provider: Option<String>,
    /// Minor units.
    pub price_min: Option<i64>,
    pub price_max: Option<i64>,
    /// `price`, `-price`, `-created_at`, `created_at`, `rating`, `popularity` (default: relevance with `q`, else newest).
    pub ordering: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Lists and searches services.
#[utoipa::path(get, path = "/api/services", tag = "services", params(ListQuery),
    responses((status = 200, description = "{results: [Service], next_cursor}"), (status = 400, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    viewer: MaybeAuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let mut f = FieldErrors::new();
    let mut filters = Vec::new();
    if let Some(c) = &q.category {
        match CategoryId::parse(c) {
            Ok(id) => filters.push(("category", id.to_string())),
            Err(_) => f.add("category", "must be a category id"),
        }
    }
    if let Some(p) = &q.provider {
        match ProviderId::parse(p) {
            Ok(id) => filters.push(("owner", id.to_string())),
            Err(_) => f.add("provider", "must be a provider id"),
        }
    }
    if let (Some(lo), Some(hi)) = (q.price_min, q.price_max) {
        if lo > hi {
            f.add("price_min", "must not exceed price_max");
        }
    }
    let sort = match q.ordering.as_deref() {
        None => Sort::Relevance,
        Some("price") => Sort::PriceAsc,
        Some("-price") => Sort::PriceDesc,
        Some("-created_at") => Sort::Newest,
        Some("created_at") => Sort::Oldest,
        Some("rating" | "-rating") => Sort::Rating,
        Some("popularity" | "-popularity") => Sort::Popularity,
        Some(_) => {
            f.add("ordering", "must be price, -price, created_at, -created_at, rating or popularity");
            Sort::Relevance
        }
    };
    f.into_result()?;
    let request = SearchRequest {
        kind: Kind::Service,
        q: super::providers::search_text(q.q.as_deref())?,
        filters,
        price_min: q.price_min,
        price_max: q.price_max,
        sort,
        offset: search_offset(q.cursor.as_deref())?,
        limit,
    };
    let (results, next_cursor) = super::providers::search::<Service>(&state, request, viewer).await?;
    let results: Vec<Service> = results.into_iter().filter(|s| !s.deleted).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LikeView {
    pub liked: bool,
    pub likes_count: u64,
}

/// Likes a service (idempotent).
#[utoipa::path(put, path = "/api/services/{id}/like", tag = "services", params(("id" = String, Path)),
    responses((status = 200, body = LikeView), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn like(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_like(&state, user, &path, true).await
}

/// Likes or unlikes (the command refreshes the index only when something changed).
async fn set_like(state: &AppState, user: AuthUser, raw_id: &str, liked: bool) -> Result<HttpResponse, ApiError> {
    let cmd = SetLike { by: caller(&user), service_id: service_id(raw_id)?, liked, at: OffsetDateTime::now_utc() };
    let now = run(state, cmd).await?;
    Ok(HttpResponse::Ok().json(LikeView { liked: now.liked, likes_count: now.likes_count }))
}

/// Removes a like (idempotent).
#[utoipa::path(delete, path = "/api/services/{id}/like", tag = "services", params(("id" = String, Path)),
    responses((status = 200, body = LikeView), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn unlike(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    set_like(&state, user, &path, false).await
}

/// Reviews of a service (from its bookings), newest first.
#[utoipa::path(get, path = "/api/services/{id}/reviews", tag = "services", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "{results: [Review], next_cursor}"), (status = 404, body = ErrorEnvelope)))]
pub async fn reviews(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = service_id(&path)?;
    live(&state, id).await?;
    Ok(HttpResponse::Ok().json(super::reviews::list_for_service(&state, id, &q).await?))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/services").route(web::get().to(list)).route(web::post().to(create)))
        .service(
            web::resource("/api/services/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::put().to(replace))
                .route(web::delete().to(delete)),
        )
        .service(web::resource("/api/services/{id}/gallery").route(web::put().to(set_gallery)))
        .service(
            web::resource("/api/services/{id}/like")
                .route(web::put().to(like))
                .route(web::post().to(like))
                .route(web::delete().to(unlike)),
        );
    for path in super::paths("/api/services/{id}/reviews") {
        cfg.service(web::resource(path).route(web::get().to(reviews)));
    }
}
