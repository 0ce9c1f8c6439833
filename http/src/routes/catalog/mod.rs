//! Categories (a tree, admin-written), skills (admin-written) and companies (any user
//! creates one and owns it). Reads are public; writes are the commands of
//! `agora_actors::market::catalog`, which decide who may do what.

mod views;

use actix_web::{web, HttpResponse};
use agora_actors::market::catalog::companies::{CreateCompany, DeleteCompany, UpdateCompany};
use agora_actors::market::catalog::{
    CreateCategory, CreateSkill, DeleteCategory, DeleteSkill, RenameSkill, UpdateCategory,
};
use agora_engine::catalog::{website, CATEGORY_NAME_MAX, SKILL_NAME_MAX};
use agora_engine::{CategoryId, CompanyId, FieldErrors, SkillId};
use agora_storage::market::List;
use agora_storage::market::{Category, Company, Skill};
use agora_storage::Order;
use serde::Deserialize;
use time::OffsetDateTime;

pub(crate) use views::{CategoryView, CompanyView, ProviderView, ServiceView, SkillView};

use super::jobs::views as all_views;
use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, optional_text, required_text, run};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CategoryQuery {
    /// Only the direct children of this category (`root` for top-level ones).
    pub parent_id: Option<String>,
}

/// The category tree as a flat list (each with `parent_id`), sorted by name.
#[utoipa::path(get, path = "/api/categories", tag = "catalog", params(CategoryQuery),
    responses((status = 200, description = "{results: [Category], next_cursor: null}")))]
#[tracing::instrument(skip_all)]
pub async fn list_categories(
    state: web::Data<AppState>,
    q: web::Query<CategoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let mut all: Vec<Category> = state.store.market().categories().await?.into_iter().map(|v| v.value).collect();
    match q.parent_id.as_deref() {
        None => {}
        Some("root") => all.retain(|c| c.parent_id.is_none()),
        Some(raw) => {
            let parent = CategoryId::parse(raw)
                .map_err(|_| ApiError::invalid_field("parent_id", "must be a category id or root"))?;
            all.retain(|c| c.parent_id == Some(parent));
        }
    }
    all.sort_by_key(|c| c.name.to_lowercase());
    Ok(HttpResponse::Ok().json(Paged { results: all_views::<_, CategoryView>(all), next_cursor: None }))
}

#[utoipa::path(get, path = "/api/categories/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the category"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_category(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let c = state.store.market().category(id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(CategoryView::from(c.value)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CategoryBody {
    pub name: Option<String>,
    /// Parent category; `null` makes it top-level.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub parent_id: Option<Option<String>>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

/// A parent id from the body: `None` for absent or `null` (existence and cycles are the
/// command's checks).
fn parent_id(f: &mut FieldErrors, raw: Option<&str>) -> Option<CategoryId> {
    let raw = raw?;
    let id = CategoryId::parse(raw).ok();
    if id.is_none() {
        f.add("parent_id", "must be a category id");
    }
    id
}

/// Admin: creates a category.
#[utoipa::path(post, path = "/api/categories", tag = "catalog", request_body = CategoryBody,
    responses((status = 201, description = "the category"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create_category(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CategoryBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, CATEGORY_NAME_MAX);
    let parent_id = parent_id(&mut f, body.parent_id.clone().flatten().as_deref());
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let cmd = CreateCategory { by: caller(&user), name, parent_id, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(CategoryView::from(run(&state, cmd).await?)))
}

/// Admin: renames or moves a category.
#[utoipa::path(patch, path = "/api/categories/{id}", tag = "catalog", params(("id" = String, Path)), request_body = CategoryBody,
    responses((status = 200, description = "the category"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update_category(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<CategoryBody>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let mut f = FieldErrors::new();
    let name = body.name.as_deref().and_then(|n| required_text(&mut f, "name", Some(n), 1, CATEGORY_NAME_MAX));
    let parent = body.parent_id.as_ref().map(|p| parent_id(&mut f, p.as_deref()));
    f.into_result()?;
    let cmd = UpdateCategory { by: caller(&user), id, name, parent_id: parent, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(CategoryView::from(run(&state, cmd).await?)))
}

/// Admin: deletes a category that has no subcategories.
#[utoipa::path(delete, path = "/api/categories/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_category(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    run(&state, DeleteCategory { by: caller(&user), id, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Skills, sorted by name.
#[utoipa::path(get, path = "/api/skills", tag = "catalog", responses((status = 200, description = "{results: [Skill], next_cursor: null}")))]
pub async fn list_skills(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut all: Vec<Skill> = state.store.market().skills().await?.into_iter().map(|v| v.value).collect();
    all.sort_by_key(|c| c.name.to_lowercase());
    Ok(HttpResponse::Ok().json(Paged { results: all_views::<_, SkillView>(all), next_cursor: None }))
}

#[utoipa::path(get, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the skill"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_skill(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let s = state.store.market().skill(id).await?.ok_or(ApiError::NotFound)?.value;
    Ok(HttpResponse::Ok().json(SkillView::from(s)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SkillBody {
    pub name: Option<String>,
}

#[utoipa::path(post, path = "/api/skills", tag = "catalog", request_body = SkillBody,
    responses((status = 201, description = "the skill"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create_skill(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<SkillBody>,
) -> Result<HttpResponse, ApiError> {
    let name = skill_name(&body)?;
    let cmd = CreateSkill { by: caller(&user), name, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(SkillView::from(run(&state, cmd).await?)))
}

/// The required name of a skill body.
fn skill_name(body: &SkillBody) -> Result<String, ApiError> {
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, SKILL_NAME_MAX);
    f.into_result()?;
    name.ok_or_else(|| ApiError::invalid_field("name", "is required"))
}

#[utoipa::path(patch, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)), request_body = SkillBody,
    responses((status = 200, description = "the skill"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update_skill(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SkillBody>,
) -> Result<HttpResponse, ApiError> {
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let name = skill_name(&body)?;
    let cmd = RenameSkill { by: caller(&user), id, name, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(SkillView::from(run(&state, cmd).await?)))
}

#[utoipa::path(delete, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_skill(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    run(&state, DeleteSkill { by: caller(&user), id, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Companies, oldest first.
#[utoipa::path(get, path = "/api/companies", tag = "catalog", params(PageQuery),
    responses((status = 200, description = "{results: [Company], next_cursor}")))]
pub async fn list_companies(state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (results, next_cursor) =
        state.store.market().page(&List::companies(), Order::Asc, q.limit()?, q.cursor()?).await?;
    Ok(HttpResponse::Ok().json(Paged { results: all_views::<_, CompanyView>(results), next_cursor }))
}

#[utoipa::path(get, path = "/api/companies/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the company"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_company(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = CompanyId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let c = state.store.market().get::<Company>(id).await?.ok_or(ApiError::NotFound)?.value;
    Ok(HttpResponse::Ok().json(CompanyView::from(c)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompanyBody {
    pub name: Option<String>,
    pub description: Option<String>,
    pub website: Option<String>,
}

/// An optional website: absent or empty is `None`.
fn website_field(f: &mut FieldErrors, raw: Option<&str>) -> Option<String> {
    let w = raw.map(str::trim).filter(|w| !w.is_empty())?;
    f.check("website", website(w))
}

/// Creates a company owned by the caller.
#[utoipa::path(post, path = "/api/companies", tag = "catalog", request_body = CompanyBody,
    responses((status = 201, description = "the company"), (status = 400, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create_company(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CompanyBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, 200);
    let description = optional_text(&mut f, "description", body.description.as_deref(), 5000);
    let website = website_field(&mut f, body.website.as_deref());
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let cmd = CreateCompany { by: caller(&user), name, description, website, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(CompanyView::from(run(&state, cmd).await?)))
}

/// Owner only: edits a company (absent fields stay).
#[utoipa::path(patch, path = "/api/companies/{id}", tag = "catalog", params(("id" = String, Path)), request_body = CompanyBody,
    responses((status = 200, description = "the company"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update_company(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<CompanyBody>,
) -> Result<HttpResponse, ApiError> {
    let id = CompanyId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let mut f = FieldErrors::new();
    let name = body.name.as_deref().and_then(|n| required_text(&mut f, "name", Some(n), 1, 200));
    let description = optional_text(&mut f, "description", body.description.as_deref(), 5000);
    let website = website_field(&mut f, body.website.as_deref());
    f.into_result()?;
    let cmd = UpdateCompany {
        by: caller(&user),
        id,
        name,
        description: body.description.as_ref().map(|_| description),
        website: body.website.as_ref().map(|_| website),
        at: OffsetDateTime::now_utc(),
    };
    Ok(HttpResponse::Ok().json(CompanyView::from(run(&state, cmd).await?)))
}

/// Owner only.
#[utoipa::path(delete, path = "/api/companies/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_company(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = CompanyId::parse(&path).map_err(|_| ApiError::NotFound)?;
    run(&state, DeleteCompany { by: caller(&user), id, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in super::names("/api/categories") {
        cfg.service(web::resource(base).route(web::get().to(list_categories)).route(web::post().to(create_category)))
            .service(
                web::resource(format!("{base}/{{id}}"))
                    .route(web::get().to(get_category))
                    .route(web::patch().to(update_category))
                    .route(web::delete().to(delete_category)),
            );
    }
    cfg.service(web::resource("/api/skills").route(web::get().to(list_skills)).route(web::post().to(create_skill)))
        .service(
            web::resource("/api/skills/{id}")
                .route(web::get().to(get_skill))
                .route(web::patch().to(update_skill))
                .route(web::delete().to(delete_skill)),
        )
        .service(
            web::resource("/api/companies").route(web::get().to(list_companies)).route(web::post().to(create_company)),
        )
        .service(
            web::resource("/api/companies/{id}")
                .route(web::get().to(get_company))
                .route(web::patch().to(update_company))
                .route(web::delete().to(delete_company)),
        );
}
