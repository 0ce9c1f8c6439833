//! Provider profiles: one per user (providers and workers), written by the owner;
//! `is_verified` by admins only. Listing and search go through the catalog index.

use actix_web::{web, HttpResponse};
use agora_actors::market::catalog::providers::{CreateProvider, ProfileFields, UpdateProvider};
use agora_engine::catalog::{unique, MAX_PROFILE_CATEGORIES, MAX_PROFILE_SKILLS};
use agora_engine::market::{Availability, SkillLevel};
use agora_engine::{CategoryId, FieldErrors, ProviderId, SkillId};
use agora_storage::market::List;
use agora_storage::market::{Provider, ProviderSkill};
use agora_storage::search::{Budget, Kind, SearchRequest, SearchText, Sort};
use agora_storage::Order;
use serde::Deserialize;
use time::OffsetDateTime;

use super::catalog::{ProviderView, ServiceView};
use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::market::{caller, optional_text, required_money, run, search_offset, MoneyBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProviderSkillBody {
    pub skill_id: Option<String>,
    pub level: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProviderBody {
    pub bio: Option<String>,
    pub hourly_rate: Option<MoneyBody>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub category_ids: Option<Vec<String>>,
    pub skills: Option<Vec<ProviderSkillBody>>,
    /// `available`, `busy` or `unavailable`.
    pub availability: Option<String>,
    /// Admins only.
    pub is_verified: Option<bool>,
}

/// The body's fields, parsed (absent = unchanged on PATCH; whether the categories and
/// skills exist is the command's check).
fn parse(body: &ProviderBody, creating: bool) -> Result<ProfileFields, ApiError> {
    let mut f = FieldErrors::new();
    let bio = match (&body.bio, creating) {
        (None, true) => {
            f.add("bio", "is required");
            None
        }
        (None, false) => None,
        (Some(b), _) => f.check("bio", agora_engine::market::text(b, 1, 5000)),
    };
    let hourly_rate = match (&body.hourly_rate, creating) {
        (None, false) => None,
        (raw, _) => required_money(&mut f, "hourly_rate", raw.as_ref()),
    };
    let city = body.city.as_ref().map(|c| optional_text(&mut f, "city", Some(c), 100));
    let country = body.country.as_ref().map(|c| optional_text(&mut f, "country", Some(c), 100));
    let category_ids = body.category_ids.as_ref().map(|raw| {
        let ids = unique(raw.iter().filter_map(|r| {
            let id = CategoryId::parse(r).ok();
            if id.is_none() {
                f.add("category_ids", format!("no category {r:?}"));
            }
            id
        }));
        if ids.len() > MAX_PROFILE_CATEGORIES {
            f.add("category_ids", format!("at most {MAX_PROFILE_CATEGORIES}"));
        }
        ids
    });
    let skills = body.skills.as_ref().map(|raw| {
        let mut out: Vec<ProviderSkill> = Vec::new();
        for s in raw {
            let id = s.skill_id.as_deref().and_then(|r| SkillId::parse(r).ok());
            let level = f.check("skills.level", SkillLevel::parse(s.level.as_deref().unwrap_or("intermediate")));
            match (id, level) {
                (Some(skill_id), Some(level)) if !out.iter().any(|x| x.skill_id == skill_id) => {
                    out.push(ProviderSkill { skill_id, level })
                }
                (None, _) => f.add("skills.skill_id", format!("no skill {:?}", s.skill_id.as_deref().unwrap_or(""))),
                _ => {}
            }
        }
        if out.len() > MAX_PROFILE_SKILLS {
            f.add("skills", format!("at most {MAX_PROFILE_SKILLS}"));
        }
        out
    });
    let availability = body.availability.as_deref().and_then(|a| f.check("availability", Availability::parse(a)));
    f.into_result()?;
    Ok(ProfileFields { bio, hourly_rate, city, country, category_ids, skills, availability })
}

/// Creates the caller's provider profile (providers and workers; one per user).
#[utoipa::path(post, path = "/api/providers", tag = "providers", request_body = ProviderBody,
    responses((status = 201, description = "the profile"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "the caller already has a profile")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProviderBody>,
) -> Result<HttpResponse, ApiError> {
    let mut fields = parse(&body, true)?;
    let (Some(bio), Some(hourly_rate)) = (fields.bio.take(), fields.hourly_rate.take()) else {
        return Err(ApiError::invalid_field("bio", "is required"));
    };
    let cmd = CreateProvider {
        by: caller(&user),
        bio,
        hourly_rate,
        fields,
        is_verified: body.is_verified,
        at: OffsetDateTime::now_utc(),
    };
    Ok(HttpResponse::Created().json(ProviderView::from(run(&state, cmd).await?)))
}

fn provider_id(raw: &str) -> Result<ProviderId, ApiError> {
    ProviderId::parse(raw).map_err(|_| ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/providers/{id}", tag = "providers", params(("id" = String, Path)),
    responses((status = 200, description = "the profile"), (status = 404, body = ErrorEnvelope)))]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = provider_id(&path)?;
    let p = state.store.market().get::<Provider>(id).await?.ok_or(ApiError::NotFound)?.value;
    Ok(HttpResponse::Ok().json(ProviderView::from(p)))
}

/// The caller's own provider profile: 404 when the caller has none yet.
#[utoipa::path(get, path = "/api/providers/me", tag = "providers",
    responses((status = 200, description = "the caller's profile"), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn mine(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let p = state.store.market().provider_of(user.id).await?.ok_or(ApiError::NotFound)?.value;
    Ok(HttpResponse::Ok().json(ProviderView::from(p)))
}

/// Owner edits the profile; admins may set only `is_verified`.
#[utoipa::path(patch, path = "/api/providers/{id}", tag = "providers", params(("id" = String, Path)), request_body = ProviderBody,
    responses((status = 200, description = "the profile"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ProviderBody>,
) -> Result<HttpResponse, ApiError> {
    let fields = parse(&body, false)?;
    change(&state, &user, &path, fields, body.is_verified).await
}

/// An edit of the profile `raw_id` by its owner (or an admin's verification).
async fn change(
    state: &AppState,
    user: &AuthUser,
    raw_id: &str,
    fields: ProfileFields,
    is_verified: Option<bool>,
) -> Result<HttpResponse, ApiError> {
    let id = provider_id(raw_id)?;
    let cmd = UpdateProvider { by: caller(user), id, fields, is_verified, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ProviderView::from(run(state, cmd).await?)))
}

/// The owner replaces the profile (the seeds' `PUT`): the fields and validation of creating
/// it; city, country, categories and skills it leaves out are cleared, availability goes
/// back to `available`. (`is_verified` stays an admin's `PATCH`.)
#[utoipa::path(put, path = "/api/providers/{id}", tag = "providers", params(("id" = String, Path)), request_body = ProviderBody,
    responses((status = 200, description = "the profile"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ProviderBody>,
) -> Result<HttpResponse, ApiError> {
    if body.is_verified.is_some() {
        return Err(ApiError::invalid_field("is_verified", "is changed by an admin with PATCH"));
    }
    change(&state, &user, &path, parse(&body, true)?.replacing(), None).await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Full-text search over skills and bio (ranked).
    pub q: Option<String>,
    pub availability: Option<String>,
    /// Includes subcategories.
    pub category: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
    pub verified: Option<bool>,
    /// `rating`, `hourly_rate`, `-hourly_rate`, `completed_jobs`, `-created_at` (default: relevance with `q`, else newest).
    pub ordering: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Lists and searches provider profiles.
#[utoipa::path(get, path = "/api/providers", tag = "providers", params(ListQuery),
    responses((status = 200, description = "{results: [Provider], next_cursor}"), (status = 400, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn list(
    state: web::Data<AppState>,
    viewer: MaybeAuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let mut filters = Vec::new();
    if let Some(a) = &q.availability {
        Availability::parse(a)
            .map_err(|_| ApiError::invalid_field("availability", "must be available, busy or unavailable"))?;
        filters.push(("availability", a.clone()));
    }
    if let Some(c) = &q.category {
        CategoryId::parse(c).map_err(|_| ApiError::invalid_field("category", "must be a category id"))?;
        filters.push(("category", c.clone()));
    }
    for (name, v) in [("city", &q.city), ("country", &q.country)] {
        if let Some(v) = v {
            filters.push((name, v.trim().to_string()));
        }
    }
    if let Some(v) = q.verified {
        filters.push(("verified", v.to_string()));
    }
    let sort = match q.ordering.as_deref() {
        None => Sort::Relevance,
        Some("rating" | "-rating") => Sort::Rating,
        Some("hourly_rate") => Sort::PriceAsc,
        Some("-hourly_rate") => Sort::PriceDesc,
        Some("completed_jobs" | "-completed_jobs") => Sort::CompletedJobs,
        Some("-created_at") => Sort::Newest,
        Some("created_at") => Sort::Oldest,
        Some(_) => {
            return Err(ApiError::invalid_field(
                "ordering",
                "must be rating, hourly_rate, -hourly_rate, completed_jobs, created_at or -created_at",
            ))
        }
    };
    let request = SearchRequest {
        kind: Kind::Provider,
        q: search_text(q.q.as_deref())?,
        filters,
        price_min: None,
        price_max: None,
        sort,
        offset: search_offset(q.cursor.as_deref())?,
        limit,
    };
    let (results, next_cursor) = search::<Provider>(&state, request, viewer).await?;
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// `?q=` in the search syntax of docs/security.md (words and slop-free phrases, at most 200
/// characters and 16 words); over a cap: 400 `validation_failed` on `q`.
pub fn search_text(raw: Option<&str>) -> Result<Option<SearchText>, ApiError> {
    let mut f = agora_engine::FieldErrors::new();
    let text = raw.and_then(|raw| f.check("q", SearchText::parse(raw))).flatten();
    f.into_result()?;
    Ok(text)
}

/// Runs a catalog search, loads the hits from storage and records the query (when `q` is set).
/// The search runs on the blocking pool within the `search_budget_ms` budget, and stops
/// early when this future is dropped (the client hung up).
pub async fn search<T: agora_storage::market::Entity>(
    state: &AppState,
    request: SearchRequest,
    viewer: MaybeAuthUser,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let index = std::sync::Arc::clone(&state.search);
    let r = request.clone();
    let budget = Budget::new(std::time::Duration::from_millis(state.settings.search_budget_ms));
    let _cancel = budget.cancel_on_drop();
    let hits = web::block(move || index.search_within(&r, &budget)).await.map_err(ApiError::internal)?;
    let hits = hits.inspect_err(|e| {
        if matches!(e, agora_storage::StoreError::Aborted(_)) {
            metrics::counter!("agora_search_aborted_total").increment(1);
        }
    })?;
    // Index ids are written from typed ids, so every one parses.
    let ids: Vec<T::Id> = hits.ids.iter().filter_map(|id| id.parse().ok()).collect();
    let results = state.store.market().get_many::<T>(&ids).await?;
    if let Some(text) = request.q.as_ref().map(SearchText::as_str) {
        let kind = match request.kind {
            Kind::Service => "services",
            Kind::Job => "jobs",
            Kind::Provider => "providers",
        };
        let at = OffsetDateTime::now_utc();
        let event = agora_engine::DomainEvent::SearchPerformed {
            q: agora_engine::notification::clip(text, 200),
            kind: kind.into(),
            user_id: viewer.0.map(|u| u.id),
            results: hits.total as u64,
            filters: used_filters(&request),
            at,
        };
        // Analytics (a bus subscriber records it) never delay the answer.
        let bus = state.hub.cx.bus.clone();
        actix_web::rt::spawn(async move { bus.publish([event], at).await });
        metrics::counter!("agora_search_queries_total", "kind" => kind).increment(1);
    }
    Ok((results, hits.next_offset.map(agora_storage::search::encode_offset)))
}

/// The names of the filters a search used, for analytics (never their values).
fn used_filters(r: &SearchRequest) -> Vec<String> {
    let mut names: Vec<String> = r.filters.iter().map(|(name, _)| (*name).to_owned()).collect();
    names.extend(r.price_min.map(|_| "price_min".to_owned()));
    names.extend(r.price_max.map(|_| "price_max".to_owned()));
    names.sort();
    names.dedup();
    names
}

/// A provider's services, oldest first.
#[utoipa::path(get, path = "/api/providers/{id}/services", tag = "providers", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "{results: [Service], next_cursor}"), (status = 404, body = ErrorEnvelope)))]
pub async fn services(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = provider_id(&path)?;
    state.store.market().get::<Provider>(id).await?.ok_or(ApiError::NotFound)?;
    let (items, next_cursor) =
        state.store.market().page(&List::services_of_provider(id), Order::Asc, q.limit()?, q.cursor()?).await?;
    let results: Vec<ServiceView> = items.into_iter().filter(|s| !s.deleted).map(ServiceView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// Reviews of the provider (as reviewee), newest first.
#[utoipa::path(get, path = "/api/providers/{id}/reviews", tag = "providers", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "{results: [Review], next_cursor}"), (status = 404, body = ErrorEnvelope)))]
pub async fn reviews(
    state: web::Data<AppState>,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = provider_id(&path)?;
    let p = state.store.market().get::<Provider>(id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(super::reviews::list_for_reviewee(&state, p.value.user_id, &q).await?))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/providers").route(web::get().to(list)).route(web::post().to(create)))
        .service(web::resource("/api/providers/me").route(web::get().to(mine)))
        .service(
            web::resource("/api/providers/{id}")
                .route(web::get().to(get))
                .route(web::patch().to(update))
                .route(web::put().to(replace)),
        )
        .service(web::resource("/api/providers/{id}/services").route(web::get().to(services)))
        .service(web::resource("/api/providers/{id}/reviews").route(web::get().to(reviews)));
}
