//! Jobs (alias requests) and proposals (alias job-applications), and accepting a proposal
//! (alias hire), which creates the contract exactly once.
//!
//! Accept is a sequence of compare-and-sets, each the arbiter of one rule, so it holds
//! across threads and processes: (1) the proposal moves pending → accepted carrying the
//! new contract id (a repeated accept loses here, before touching the job); (2) the job
//! takes one more hire only while open and below `max_hires`, moving to in_progress when
//! full (if it cannot, the proposal goes back to pending); (3) the contract is inserted
//! with that id.

pub mod proposals;
mod views;

use actix_web::{web, HttpResponse};
use agora_actors::market::jobs::{EditJob, PostJob, WithdrawJob};
use agora_engine::job::{JobEdit, NewJob};
use agora_engine::market::{deadline, JobStatus, MAX_HIRES};
use agora_engine::{CategoryId, FieldErrors, Job, JobId, Role, SkillId};
use agora_storage::market::List;
use agora_storage::search::{Kind, SearchRequest, Sort};
use agora_storage::Order;
use serde::Deserialize;
use time::OffsetDateTime;

pub(crate) use views::{views, ContractEventView, ContractView, JobView};

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::market::{caller, money, run, search_offset, text_field, MoneyBody};
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct JobBody {
    pub title: Option<String>,
    pub description: Option<String>,
    pub budget_min: Option<MoneyBody>,
    pub budget_max: Option<MoneyBody>,
    /// `YYYY-MM-DD`, not in the past.
    pub deadline: Option<String>,
    pub category_id: Option<String>,
    pub skill_ids: Option<Vec<String>>,
    /// Default 1.
    pub max_hires: Option<u32>,
    /// PATCH only: `cancelled`, or `completed` for an in-progress job.
    pub status: Option<String>,
}

/// The body's fields, parsed (existence of the category and skills is the command's check).
fn parse_job(body: &JobBody, creating: bool) -> Result<JobEdit, ApiError> {
    let mut f = FieldErrors::new();
    let title = text_field(&mut f, "title", body.title.as_deref(), creating, 3, 200);
    let description = text_field(&mut f, "description", body.description.as_deref(), creating, 1, 10_000);
    let budget_min = money(&mut f, "budget_min", body.budget_min.as_ref());
    let budget_max = money(&mut f, "budget_max", body.budget_max.as_ref());
    if let Err(agora_engine::DomainError::Invalid(e)) = agora_engine::market::budget(budget_min, budget_max) {
        for (field, problems) in e.fields() {
            for p in problems {
                f.add(field.clone(), p.clone());
            }
        }
    }
    let today = OffsetDateTime::now_utc().date();
    let deadline = match body.deadline.as_deref() {
        None => None,
        Some(raw) => match time::Date::parse(raw, time::macros::format_description!("[year]-[month]-[day]")) {
            Ok(d) => f.check("deadline", deadline(d, today)),
            Err(_) => {
                f.add("deadline", "must be a date YYYY-MM-DD");
                None
            }
        },
    };
    let category_id = match body.category_id.as_deref() {
        None => None,
        Some(raw) => match CategoryId::parse(raw) {
            Ok(id) => Some(id),
            Err(_) => {
                f.add("category_id", "no such category");
                None
            }
        },
    };
    let skill_ids = body.skill_ids.as_ref().map(|raw| {
        let mut ids = Vec::new();
        for r in raw {
            match SkillId::parse(r) {
                Ok(id) if !ids.contains(&id) => ids.push(id),
                Ok(_) => {}
                Err(_) => f.add("skill_ids", format!("no skill {r:?}")),
            }
        }
        ids
    });
    let max_hires = match body.max_hires {
        Some(n) if n == 0 || n > MAX_HIRES => {
            f.add("max_hires", format!("must be between 1 and {MAX_HIRES}"));
            None
        }
        other => other,
    };
    let status = match body.status.as_deref() {
        None => None,
        Some(raw) => {
            let parsed =
                JobStatus::parse(raw).map_err(|_| agora_engine::DomainError::invalid("must be cancelled or completed"));
            f.check("status", parsed)
        }
    };
    f.into_result()?;
    Ok(JobEdit {
        title,
        description,
        budget_min,
        budget_max,
        deadline,
        category_id,
        skill_ids,
        max_hires,
        status,
        replace: false,
    })
}

/// A client posts a job.
#[utoipa::path(post, path = "/api/jobs", tag = "jobs", request_body = JobBody,
    responses((status = 201, description = "the job"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<JobBody>,
) -> Result<HttpResponse, ApiError> {
    if body.status.is_some() {
        return Err(ApiError::invalid_field("status", "a new job is always open"));
    }
    let new = new_job(&body)?;
    let job = run(&state, PostJob { by: caller(&user), new, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::Created().json(JobView::from(job)))
}

/// A whole job as posted (create, and the replacement of `PUT`), validated.
fn new_job(body: &JobBody) -> Result<NewJob, ApiError> {
    let v = parse_job(body, true)?;
    let (Some(title), Some(description)) = (v.title, v.description) else {
        return Err(ApiError::invalid_field("title", "is required"));
    };
    Ok(NewJob {
        title,
        description,
        budget_min: v.budget_min,
        budget_max: v.budget_max,
        deadline: v.deadline,
        category_id: v.category_id,
        skill_ids: v.skill_ids.unwrap_or_default(),
        max_hires: v.max_hires,
    })
}

/// The job's client withdraws an open job nobody was hired for (the seeds' `DELETE`): it is
/// cancelled (and kept, for its history), and each pending proposal on it is closed, its
/// proposer notified. 409 `job_not_open` for a job that is not open or has a hire.
#[utoipa::path(delete, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(&path)?;
    load_job(&state, &user, id).await?;
    run(&state, WithdrawJob { by: caller(&user), job_id: id, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The job's client replaces the whole job while it is open (the seeds' `PUT`): the same
/// fields and validation as posting it; what the body leaves out is cleared.
#[utoipa::path(put, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path)), request_body = JobBody,
    responses((status = 200, description = "the job"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn replace(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<JobBody>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, &path, || {
        if body.status.is_some() {
            return Err(ApiError::invalid_field("status", "is changed with PATCH, not in a replacement"));
        }
        Ok(JobEdit::replacing(new_job(&body)?))
    })
    .await
}

/// A client's change to the job `raw_id` (seen first, so a stranger gets 404 before any
/// validation answer), with the edit `parse` makes of the body.
async fn change(
    state: &AppState,
    user: &AuthUser,
    raw_id: &str,
    parse: impl FnOnce() -> Result<JobEdit, ApiError>,
) -> Result<HttpResponse, ApiError> {
    let id = job_id(raw_id)?;
    load_job(state, user, id).await?;
    let edit = parse()?;
    let job = run(state, EditJob { by: caller(user), job_id: id, edit, at: OffsetDateTime::now_utc() }).await?;
    Ok(HttpResponse::Ok().json(JobView::from(job)))
}

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// The job, if the caller may see it (the engine's rule); 404 otherwise.
async fn load_job(state: &AppState, user: &AuthUser, id: JobId) -> Result<Job, ApiError> {
    let m = state.store.market();
    let job = m.get::<Job>(id).await?.ok_or(ApiError::NotFound)?.value;
    let proposed = job.client_id != user.id && m.has_proposed(id, user.id).await?;
    if !job.visible_to(user.id, user.role, proposed) {
        return Err(ApiError::NotFound);
    }
    Ok(job)
}

#[utoipa::path(get, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "the job"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(JobView::from(load_job(&state, &user, job_id(&path)?).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Full-text search (ranked).
    pub q: Option<String>,
    /// Includes subcategories.
    pub category: Option<String>,
    /// `-created_at` (default without `q`), `created_at`, `budget`, `-budget`.
    pub ordering: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// Open jobs, for providers, workers and admins (clients see theirs at /api/jobs/mine).
#[utoipa::path(get, path = "/api/jobs", tag = "jobs", params(ListQuery),
    responses((status = 200, description = "{results: [Job], next_cursor}"), (status = 403, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if !matches!(user.role, Role::Provider | Role::Worker | Role::Admin) {
        return Err(ApiError::Forbidden("clients see their own jobs at /api/jobs/mine"));
    }
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let mut filters = vec![("status", JobStatus::Open.as_str().to_string())];
    if let Some(c) = &q.category {
        let id = CategoryId::parse(c).map_err(|_| ApiError::invalid_field("category", "must be a category id"))?;
        filters.push(("category", id.to_string()));
    }
    let sort = match q.ordering.as_deref() {
        None => Sort::Relevance,
        Some("-created_at") => Sort::Newest,
        Some("created_at") => Sort::Oldest,
        Some("budget") => Sort::PriceAsc,
        Some("-budget") => Sort::PriceDesc,
        Some(_) => {
            return Err(ApiError::invalid_field("ordering", "must be created_at, -created_at, budget or -budget"))
        }
    };
    let request = SearchRequest {
        kind: Kind::Job,
        q: super::providers::search_text(q.q.as_deref())?,
        filters,
        price_min: None,
        price_max: None,
        sort,
        offset: search_offset(q.cursor.as_deref())?,
        limit,
    };
    let (results, next_cursor) = super::providers::search::<Job>(&state, request, MaybeAuthUser(Some(user))).await?;
    let results: Vec<JobView> = views(results.into_iter().filter(|j| j.status == JobStatus::Open).collect());
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MineQuery {
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The caller's own jobs, newest first (`?status=` filters the page).
#[utoipa::path(get, path = "/api/jobs/mine", tag = "jobs", params(MineQuery),
    responses((status = 200, description = "{results: [Job], next_cursor}")), security(("bearer" = [])))]
pub async fn mine(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<MineQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let status = q
        .status
        .as_deref()
        .map(JobStatus::parse)
        .transpose()
        .map_err(|_| ApiError::invalid_field("status", "must be open, in_progress, completed or cancelled"))?;
    let (items, next_cursor) =
        state.store.market().page(&List::jobs_of_client(user.id), Order::Desc, page.limit()?, page.cursor()?).await?;
    let results: Vec<JobView> = views(items.into_iter().filter(|j| status.is_none_or(|s| j.status == s)).collect());
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// The job's client edits it while open, or cancels / completes it through `status`.
#[utoipa::path(patch, path = "/api/jobs/{id}", tag = "jobs", params(("id" = String, Path)), request_body = JobBody,
    responses((status = 200, description = "the job"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<JobBody>,
) -> Result<HttpResponse, ApiError> {
    change(&state, &user, &path, || parse_job(&body, false)).await
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in super::names("/api/jobs") {
        cfg.service(web::resource(base).route(web::get().to(list)).route(web::post().to(create)))
            .service(web::resource(format!("{base}/mine")).route(web::get().to(mine)))
            .service(
                web::resource(format!("{base}/{{id}}"))
                    .route(web::get().to(get))
                    .route(web::patch().to(update))
                    .route(web::put().to(replace))
                    .route(web::delete().to(withdraw)),
            )
            .service(web::resource(format!("{base}/{{id}}/proposals")).route(web::get().to(proposals::job_proposals)))
            .service(web::resource(format!("{base}/{{id}}/hire")).route(web::post().to(proposals::hire)));
    }
    proposals::config(cfg);
}
