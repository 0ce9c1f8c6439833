//! Categories (a tree, admin-written), skills (admin-written) and companies (any user
//! creates one and owns it). Reads are public.

use actix_web::{web, HttpResponse};
use agora_engine::{CategoryId, CompanyId, FieldErrors, SkillId};
use agora_storage::market::{Category, Company, Skill};
use agora_storage::{Order, Table};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{optional_text, required_text};
use crate::state::AppState;

fn admin(user: &AuthUser) -> Result<(), ApiError> {
    if user.role.is_admin() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("admins only"))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    Ok(HttpResponse::Ok().json(Paged { results: all, next_cursor: None }))
}

#[utoipa::path(get, path = "/api/categories/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the category"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_category(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let c = state.store.market().category(id).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(c.value))
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

async fn parent(
    state: &AppState,
    f: &mut FieldErrors,
    raw: Option<&str>,
    me: Option<CategoryId>,
) -> Result<Option<CategoryId>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let Ok(id) = CategoryId::parse(raw) else {
        f.add("parent_id", "must be a category id");
        return Ok(None);
    };
    let all = state.store.market().categories().await?;
    if !all.iter().any(|c| c.value.id == id) {
        f.add("parent_id", "no such category");
        return Ok(None);
    }
    // Moving a category under itself or one of its descendants would make a cycle.
    if let Some(me) = me {
        let mut next = Some(id);
        while let Some(cur) = next {
            if cur == me {
                f.add("parent_id", "would make a cycle");
                return Ok(None);
            }
            next = all.iter().find(|c| c.value.id == cur).and_then(|c| c.value.parent_id);
        }
    }
    Ok(Some(id))
}

/// Category lineage is part of every catalog document: the index is rebuilt.
async fn rebuild_search(state: &AppState, id: CategoryId) {
    crate::market::catalog_changed(state, agora_engine::event::CatalogItem::Category(id)).await;
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
    admin(&user)?;
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, 100);
    let parent_id = parent(&state, &mut f, body.parent_id.clone().flatten().as_deref(), None).await?;
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let c = Category {
        id: CategoryId::from_uuid(uuid::Uuid::now_v7()),
        name,
        parent_id,
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.market().save_category(&c, None).await.map_err(name_taken)?;
    Ok(HttpResponse::Created().json(c))
}

fn name_taken(e: agora_storage::StoreError) -> ApiError {
    match e {
        agora_storage::StoreError::Duplicate(what) => {
            ApiError::Conflict { code: "name_taken", message: format!("that {what} is already taken") }
        }
        other => other.into(),
    }
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
    admin(&user)?;
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let current = state.store.market().category(id).await?.ok_or(ApiError::NotFound)?;
    let mut f = FieldErrors::new();
    let mut next = current.value.clone();
    if let Some(name) = body.name.as_deref() {
        if let Some(n) = required_text(&mut f, "name", Some(name), 1, 100) {
            next.name = n;
        }
    }
    if let Some(p) = &body.parent_id {
        next.parent_id = parent(&state, &mut f, p.as_deref(), Some(id)).await?;
    }
    f.into_result()?;
    state.store.market().save_category(&next, Some(&current)).await.map_err(name_taken)?;
    if next.parent_id != current.value.parent_id {
        rebuild_search(&state, id).await;
    }
    Ok(HttpResponse::Ok().json(next))
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
    admin(&user)?;
    let id = CategoryId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let all = state.store.market().categories().await?;
    let c = all.iter().find(|c| c.value.id == id).ok_or(ApiError::NotFound)?;
    if all.iter().any(|x| x.value.parent_id == Some(id)) {
        return Err(ApiError::Conflict {
            code: "has_children",
            message: "delete or move its subcategories first".into(),
        });
    }
    state.store.market().delete_category(&c.value).await?;
    rebuild_search(&state, id).await;
    Ok(HttpResponse::NoContent().finish())
}

/// Skills, sorted by name.
#[utoipa::path(get, path = "/api/skills", tag = "catalog", responses((status = 200, description = "{results: [Skill], next_cursor: null}")))]
pub async fn list_skills(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let mut all: Vec<Skill> = state.store.market().skills().await?.into_iter().map(|v| v.value).collect();
    all.sort_by_key(|c| c.name.to_lowercase());
    Ok(HttpResponse::Ok().json(Paged { results: all, next_cursor: None }))
}

#[utoipa::path(get, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the skill"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_skill(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(state.store.market().skill(id).await?.ok_or(ApiError::NotFound)?.value))
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
    admin(&user)?;
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, 60);
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let s = Skill { id: SkillId::from_uuid(uuid::Uuid::now_v7()), name, created_at: OffsetDateTime::now_utc() };
    state.store.market().save_skill(&s, None).await.map_err(name_taken)?;
    Ok(HttpResponse::Created().json(s))
}

#[utoipa::path(patch, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)), request_body = SkillBody,
    responses((status = 200, description = "the skill"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update_skill(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SkillBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&user)?;
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let current = state.store.market().skill(id).await?.ok_or(ApiError::NotFound)?;
    let mut f = FieldErrors::new();
    let name = required_text(&mut f, "name", body.name.as_deref(), 1, 60);
    f.into_result()?;
    let mut next = current.value.clone();
    if let Some(n) = name {
        next.name = n;
    }
    state.store.market().save_skill(&next, Some(&current)).await.map_err(name_taken)?;
    Ok(HttpResponse::Ok().json(next))
}

#[utoipa::path(delete, path = "/api/skills/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_skill(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&user)?;
    let id = SkillId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let s = state.store.market().skill(id).await?.ok_or(ApiError::NotFound)?;
    state.store.market().delete_skill(&s.value).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Companies, oldest first.
#[utoipa::path(get, path = "/api/companies", tag = "catalog", params(PageQuery),
    responses((status = 200, description = "{results: [Company], next_cursor}")))]
pub async fn list_companies(state: web::Data<AppState>, q: web::Query<PageQuery>) -> Result<HttpResponse, ApiError> {
    let (results, next_cursor) = state
        .store
        .market()
        .page::<Company>(Table::CompaniesByCreation, "all", Order::Asc, q.limit()?, q.cursor()?)
        .await?;
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[utoipa::path(get, path = "/api/companies/{id}", tag = "catalog", params(("id" = String, Path)),
    responses((status = 200, description = "the company"), (status = 404, body = ErrorEnvelope)))]
pub async fn get_company(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let id = CompanyId::parse(&path).map_err(|_| ApiError::NotFound)?;
    Ok(HttpResponse::Ok()
        .json(state.store.market().get::<Company>(&id.to_string()).await?.ok_or(ApiError::NotFound)?.value))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompanyBody {
    pub name: Option<String>,
    pub description: Option<String>,
    pub website: Option<String>,
}

fn website(f: &mut FieldErrors, raw: Option<&str>) -> Option<String> {
    let w = optional_text(f, "website", raw, 300)?;
    if w.starts_with("https://") || w.starts_with("http://") {
        Some(w)
    } else {
        f.add("website", "must start with http:// or https://");
        None
    }
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
    let website = website(&mut f, body.website.as_deref());
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::invalid_field("name", "is required")) };
    let now = OffsetDateTime::now_utc();
    let c = Company {
        id: CompanyId::from_uuid(uuid::Uuid::now_v7()),
        owner_id: user.id,
        name,
        description,
        website,
        created_at: now,
        updated_at: now,
    };
    state.store.market().insert(&c).await?;
    Ok(HttpResponse::Created().json(c))
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
    let website = website(&mut f, body.website.as_deref());
    f.into_result()?;
    let updated = state
        .store
        .market()
        .update::<Company, ApiError>(&id.to_string(), |c| {
            if c.owner_id != user.id {
                return Err(ApiError::Forbidden("only the owner may edit this company"));
            }
            if let Some(n) = &name {
                c.name = n.clone();
            }
            if body.description.is_some() {
                c.description = description.clone();
            }
            if body.website.is_some() {
                c.website = website.clone();
            }
            c.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(updated.value))
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
    let c = state.store.market().get::<Company>(&id.to_string()).await?.ok_or(ApiError::NotFound)?;
    if c.value.owner_id != user.id {
        return Err(ApiError::Forbidden("only the owner may delete this company"));
    }
    state.store.market().remove(&c.value).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/categories").route(web::get().to(list_categories)).route(web::post().to(create_category)),
    )
    .service(
        web::resource("/api/categories/{id}")
            .route(web::get().to(get_category))
            .route(web::patch().to(update_category))
            .route(web::delete().to(delete_category)),
    )
    .service(web::resource("/api/skills").route(web::get().to(list_skills)).route(web::post().to(create_skill)))
    .service(
        web::resource("/api/skills/{id}")
            .route(web::get().to(get_skill))
            .route(web::patch().to(update_skill))
            .route(web::delete().to(delete_skill)),
    )
    .service(web::resource("/api/companies").route(web::get().to(list_companies)).route(web::post().to(create_company)))
    .service(
        web::resource("/api/companies/{id}")
            .route(web::get().to(get_company))
            .route(web::patch().to(update_company))
            .route(web::delete().to(delete_company)),
    );
}
