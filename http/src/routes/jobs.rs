//! Jobs (alias requests) and proposals (alias job-applications), and accepting a proposal
//! (alias hire), which creates the contract exactly once.
//!
//! Accept is a sequence of compare-and-sets, each the arbiter of one rule, so it holds
//! across threads and processes: (1) the proposal moves pending → accepted carrying the
//! new contract id (a repeated accept loses here, before touching the job); (2) the job
//! takes one more hire only while open and below `max_hires`, moving to in_progress when
//! full (if it cannot, the proposal goes back to pending); (3) the contract is inserted
//! with that id.

use actix_web::{web, HttpResponse};
use agora_engine::market::{budget, deadline, may_propose, JobStatus, ProposalStatus, MAX_HIRES};
use agora_engine::{
    CategoryId, ContractId, ContractStatus, FieldErrors, JobId, NotificationType, ProposalId, Role, SkillId,
};
use agora_storage::market::{Contract, ContractEvent, Job, Proposal};
use agora_storage::search::{Kind, SearchRequest, Sort};
use agora_storage::{Order, Table, Versioned};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::market::{
    index_job, money, notify, optional_text, required_money, required_text, search_offset, Event, MoneyBody,
};
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

struct JobFields {
    title: Option<String>,
    description: Option<String>,
    budget_min: Option<agora_engine::Money>,
    budget_max: Option<agora_engine::Money>,
    deadline: Option<time::Date>,
    category_id: Option<CategoryId>,
    skill_ids: Option<Vec<SkillId>>,
    max_hires: Option<u32>,
}

async fn parse_job(state: &AppState, body: &JobBody, creating: bool) -> Result<JobFields, ApiError> {
    let mut f = FieldErrors::new();
    let title = match (&body.title, creating) {
        (None, false) => None,
        (raw, _) => required_text(&mut f, "title", raw.as_deref(), 3, 200),
    };
    let description = match (&body.description, creating) {
        (None, false) => None,
        (raw, _) => required_text(&mut f, "description", raw.as_deref(), 1, 10_000),
    };
    let budget_min = money(&mut f, "budget_min", body.budget_min.as_ref());
    let budget_max = money(&mut f, "budget_max", body.budget_max.as_ref());
    if let Err(agora_engine::DomainError::Invalid(e)) = budget(budget_min, budget_max) {
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
            Ok(id) if state.store.market().category(id).await?.is_some() => Some(id),
            _ => {
                f.add("category_id", "no such category");
                None
            }
        },
    };
    let skill_ids = match &body.skill_ids {
        None => None,
        Some(raw) => {
            let known = state.store.market().skills().await?;
            let mut ids = Vec::new();
            for r in raw {
                match SkillId::parse(r) {
                    Ok(id) if known.iter().any(|k| k.value.id == id) => {
                        if !ids.contains(&id) {
                            ids.push(id)
                        }
                    }
                    _ => f.add("skill_ids", format!("no skill {r:?}")),
                }
            }
            Some(ids)
        }
    };
    let max_hires = match body.max_hires {
        Some(n) if n == 0 || n > MAX_HIRES => {
            f.add("max_hires", format!("must be between 1 and {MAX_HIRES}"));
            None
        }
        other => other,
    };
    f.into_result()?;
    Ok(JobFields { title, description, budget_min, budget_max, deadline, category_id, skill_ids, max_hires })
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
    if user.role != Role::Client {
        return Err(ApiError::Forbidden("only clients post jobs"));
    }
    if body.status.is_some() {
        return Err(ApiError::invalid_field("status", "a new job is always open"));
    }
    let v = parse_job(&state, &body, true).await?;
    let (Some(title), Some(description)) = (v.title, v.description) else {
        return Err(ApiError::invalid_field("title", "is required"));
    };
    let now = OffsetDateTime::now_utc();
    let job = Job {
        id: JobId::from_uuid(uuid::Uuid::now_v7()),
        client_id: user.id,
        title,
        description,
        budget_min: v.budget_min,
        budget_max: v.budget_max,
        deadline: v.deadline,
        category_id: v.category_id,
        skill_ids: v.skill_ids.unwrap_or_default(),
        max_hires: v.max_hires.unwrap_or(1),
        hires: 0,
        status: JobStatus::Open,
        proposals_count: 0,
        created_at: now,
        updated_at: now,
    };
    state.store.market().insert(&job).await?;
    index_job(&state, &job).await?;
    Ok(HttpResponse::Created().json(job))
}

fn job_id(raw: &str) -> Result<JobId, ApiError> {
    JobId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// Whether `user` may see `job`: its client, admins, and providers/workers while it is
/// open or when they have proposed on it.
async fn visible(state: &AppState, user: &AuthUser, job: &Job) -> Result<bool, ApiError> {
    if job.client_id == user.id || user.role.is_admin() {
        return Ok(true);
    }
    if !matches!(user.role, Role::Provider | Role::Worker) {
        return Ok(false);
    }
    if job.status == JobStatus::Open {
        return Ok(true);
    }
    let claim = format!("{}:{}", job.id, user.id);
    Ok(state.store.market().backend().get(Table::ProposalsUnique, &claim, "").await?.is_some())
}

async fn load_job(state: &AppState, user: &AuthUser, id: JobId) -> Result<Versioned<Job>, ApiError> {
    let job = state.store.market().get::<Job>(&id.to_string()).await?.ok_or(ApiError::NotFound)?;
    if !visible(state, user, &job.value).await? {
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
    Ok(HttpResponse::Ok().json(load_job(&state, &user, job_id(&path)?).await?.value))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    let results: Vec<Job> = results.into_iter().filter(|j| j.status == JobStatus::Open).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
    let (items, next_cursor) = state
        .store
        .market()
        .page::<Job>(Table::JobsByClient, &user.id.to_string(), Order::Desc, page.limit()?, page.cursor()?)
        .await?;
    let results: Vec<Job> = items.into_iter().filter(|j| status.is_none_or(|s| j.status == s)).collect();
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
    let id = job_id(&path)?;
    load_job(&state, &user, id).await?;
    let v = parse_job(&state, &body, false).await?;
    let to = body
        .status
        .as_deref()
        .map(JobStatus::parse)
        .transpose()
        .map_err(|_| ApiError::invalid_field("status", "must be cancelled or completed"))?;
    let edits = v.title.is_some()
        || v.description.is_some()
        || v.budget_min.is_some()
        || v.budget_max.is_some()
        || v.deadline.is_some()
        || v.category_id.is_some()
        || v.skill_ids.is_some()
        || v.max_hires.is_some();
    let updated = state
        .store
        .market()
        .update::<Job, ApiError>(&id.to_string(), |j| {
            if j.client_id != user.id {
                return Err(ApiError::Forbidden("only the job's client may change it"));
            }
            if edits && j.status != JobStatus::Open {
                return Err(ApiError::Conflict {
                    code: "job_not_open",
                    message: "only an open job can be edited".into(),
                });
            }
            if let Some(t) = &v.title {
                j.title = t.clone();
            }
            if let Some(d) = &v.description {
                j.description = d.clone();
            }
            if v.budget_min.is_some() || v.budget_max.is_some() {
                let (lo, hi) = (v.budget_min.or(j.budget_min), v.budget_max.or(j.budget_max));
                budget(lo, hi)?;
                j.budget_min = lo;
                j.budget_max = hi;
            }
            if v.deadline.is_some() {
                j.deadline = v.deadline;
            }
            if v.category_id.is_some() {
                j.category_id = v.category_id;
            }
            if let Some(s) = &v.skill_ids {
                j.skill_ids = s.clone();
            }
            if let Some(m) = v.max_hires {
                if m < j.hires {
                    return Err(ApiError::invalid_field("max_hires", "must not be below the hires already made"));
                }
                j.max_hires = m;
            }
            if let Some(to) = to {
                j.status = j.status.client_transition(to)?;
            }
            j.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    index_job(&state, &updated.value).await?;
    Ok(HttpResponse::Ok().json(updated.value))
}

// ---- proposals

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ProposalBody {
    pub job_id: Option<String>,
    pub rate: Option<MoneyBody>,
    pub message: Option<String>,
}

/// A provider or worker proposes on an open job (one proposal per job).
#[utoipa::path(post, path = "/api/proposals", tag = "jobs", request_body = ProposalBody,
    responses((status = 201, description = "the proposal"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn propose(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ProposalBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let job_id = match body.job_id.as_deref() {
        None => {
            f.add("job_id", "is required");
            None
        }
        Some(raw) => f.check("job_id", JobId::parse(raw)),
    };
    let rate = required_money(&mut f, "rate", body.rate.as_ref());
    let message = optional_text(&mut f, "message", body.message.as_deref(), 5000);
    f.into_result()?;
    let (Some(job_id), Some(rate)) = (job_id, rate) else {
        return Err(ApiError::invalid_field("job_id", "is required"));
    };
    let job = load_job(&state, &user, job_id).await?.value;
    may_propose(user.id, user.role, job.client_id, job.status).map_err(|e| match e {
        agora_engine::DomainError::Transition { .. } => {
            ApiError::Conflict { code: "job_not_open", message: "the job is not open for proposals".into() }
        }
        other => other.into(),
    })?;
    let id = ProposalId::from_uuid(uuid::Uuid::now_v7());
    if !state.store.market().claim_proposal(job.id, user.id, id).await? {
        return Err(ApiError::Conflict {
            code: "duplicate_proposal",
            message: "you already proposed on this job".into(),
        });
    }
    let now = OffsetDateTime::now_utc();
    let p = Proposal {
        id,
        job_id: job.id,
        job_client_id: job.client_id,
        provider_id: user.id,
        rate,
        message,
        status: ProposalStatus::Pending,
        contract_id: None,
        created_at: now,
        updated_at: now,
    };
    state.store.market().insert(&p).await?;
    let job = state
        .store
        .market()
        .update::<Job, ApiError>(&job.id.to_string(), |j| {
            j.proposals_count += 1;
            Ok(())
        })
        .await?;
    if let Some(job) = job {
        notify(
            &state,
            Event {
                to: job.value.client_id,
                kind: NotificationType::Proposal,
                title: "New proposal".into(),
                message: format!("A new proposal arrived for \"{}\".", job.value.title),
                action_url: format!("/jobs/{}/proposals/{}", job.value.id, p.id),
                actor: Some(user.id),
                object_type: "proposal",
                object_id: p.id.to_string(),
            },
        );
    }
    Ok(HttpResponse::Created().json(p))
}

fn proposal_id(raw: &str) -> Result<ProposalId, ApiError> {
    ProposalId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// The proposal, if the caller is its proposer, the job's client, or an admin.
async fn load_proposal(state: &AppState, user: &AuthUser, id: ProposalId) -> Result<Versioned<Proposal>, ApiError> {
    let p = state.store.market().get::<Proposal>(&id.to_string()).await?.ok_or(ApiError::NotFound)?;
    if p.value.provider_id != user.id && p.value.job_client_id != user.id && !user.role.is_admin() {
        return Err(ApiError::NotFound);
    }
    Ok(p)
}

#[utoipa::path(get, path = "/api/proposals/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "the proposal"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_proposal(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load_proposal(&state, &user, proposal_id(&path)?).await?.value))
}

/// The proposals the caller sent, newest first.
#[utoipa::path(get, path = "/api/proposals", tag = "jobs", params(PageQuery),
    responses((status = 200, description = "{results: [Proposal], next_cursor}")), security(("bearer" = [])))]
pub async fn my_proposals(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (results, next_cursor) = state
        .store
        .market()
        .page::<Proposal>(Table::ProposalsByProvider, &user.id.to_string(), Order::Desc, q.limit()?, q.cursor()?)
        .await?;
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// A job's proposals: all of them for its client, one's own for a proposer.
#[utoipa::path(get, path = "/api/jobs/{id}/proposals", tag = "jobs", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "{results: [Proposal], next_cursor}"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn job_proposals(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let job = load_job(&state, &user, job_id(&path)?).await?.value;
    let (items, next_cursor) = state
        .store
        .market()
        .page::<Proposal>(Table::ProposalsByJob, &job.id.to_string(), Order::Asc, q.limit()?, q.cursor()?)
        .await?;
    let everyone = job.client_id == user.id || user.role.is_admin();
    let results: Vec<Proposal> = items.into_iter().filter(|p| everyone || p.provider_id == user.id).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// The proposer withdraws a pending proposal.
#[utoipa::path(post, path = "/api/proposals/{id}/withdraw", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "the proposal"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn withdraw(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = proposal_id(&path)?;
    load_proposal(&state, &user, id).await?;
    let updated = state
        .store
        .market()
        .update::<Proposal, ApiError>(&id.to_string(), |p| {
            if p.provider_id != user.id {
                return Err(ApiError::Forbidden("only the proposer may withdraw"));
            }
            if p.status != ProposalStatus::Pending {
                return Err(ApiError::Conflict {
                    code: "proposal_not_pending",
                    message: format!("the proposal is {}", p.status.as_str()),
                });
            }
            p.status = ProposalStatus::Withdrawn;
            p.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(updated.value))
}

/// The job's client accepts a proposal: 201 with the new contract, exactly once.
#[utoipa::path(post, path = "/api/proposals/{id}/accept", tag = "jobs", params(("id" = String, Path)),
    responses((status = 201, description = "the contract"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "already accepted, withdrawn, or the job is full")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn accept(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    accept_proposal(&state, &user, proposal_id(&path)?, None).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct HireBody {
    pub proposal_id: Option<String>,
}

/// Alias of accept: `POST /api/jobs/{id}/hire {proposal_id}`.
#[utoipa::path(post, path = "/api/jobs/{id}/hire", tag = "jobs", params(("id" = String, Path)), request_body = HireBody,
    responses((status = 201, description = "the contract"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn hire(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<HireBody>,
) -> Result<HttpResponse, ApiError> {
    let job = job_id(&path)?;
    let raw = body.proposal_id.as_deref().ok_or_else(|| ApiError::invalid_field("proposal_id", "is required"))?;
    let proposal =
        ProposalId::parse(raw).map_err(|_| ApiError::invalid_field("proposal_id", "must be a proposal id"))?;
    accept_proposal(&state, &user, proposal, Some(job)).await
}

fn conflict(code: &'static str, message: &str) -> ApiError {
    ApiError::Conflict { code, message: message.to_string() }
}

async fn accept_proposal(
    state: &AppState,
    user: &AuthUser,
    id: ProposalId,
    job: Option<JobId>,
) -> Result<HttpResponse, ApiError> {
    let p = load_proposal(state, user, id).await?.value;
    if job.is_some_and(|j| j != p.job_id) {
        return Err(ApiError::NotFound);
    }
    if p.job_client_id != user.id {
        return Err(ApiError::Forbidden("only the job's client accepts proposals"));
    }
    match p.status {
        ProposalStatus::Pending => {}
        ProposalStatus::Accepted => return Err(conflict("already_accepted", "the proposal is already accepted")),
        other => return Err(conflict("proposal_not_pending", &format!("the proposal is {}", other.as_str()))),
    }
    let m = state.store.market();
    // (1) The proposal is accepted exactly once: repeats stop here and never touch the job.
    let contract_id = ContractId::from_uuid(uuid::Uuid::now_v7());
    let proposal = m
        .update::<Proposal, ApiError>(&p.id.to_string(), |p| {
            if p.status != ProposalStatus::Pending {
                return Err(if p.status == ProposalStatus::Accepted {
                    conflict("already_accepted", "the proposal is already accepted")
                } else {
                    conflict("proposal_not_pending", "the proposal is no longer pending")
                });
            }
            p.status = ProposalStatus::Accepted;
            p.contract_id = Some(contract_id);
            p.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await?
        .ok_or(ApiError::NotFound)?
        .value;
    // (2) The job takes one more hire, only while open and below max_hires.
    let hired = m
        .update::<Job, ApiError>(&p.job_id.to_string(), |j| {
            if j.status != JobStatus::Open || j.hires >= j.max_hires {
                return Err(conflict("job_not_open", "the job is not open for hiring"));
            }
            j.hires += 1;
            if j.hires >= j.max_hires {
                j.status = JobStatus::InProgress;
            }
            j.updated_at = OffsetDateTime::now_utc();
            Ok(())
        })
        .await;
    let job = match hired {
        Ok(Some(v)) => v.value,
        Ok(None) | Err(_) => {
            // The job is full or closed: the proposal goes back to pending.
            m.update::<Proposal, ApiError>(&p.id.to_string(), |p| {
                if p.contract_id == Some(contract_id) {
                    p.status = ProposalStatus::Pending;
                    p.contract_id = None;
                }
                Ok(())
            })
            .await?;
            return Err(hired.err().unwrap_or(ApiError::NotFound));
        }
    };
    // (3) The contract.
    let now = OffsetDateTime::now_utc();
    let contract = Contract {
        id: contract_id,
        job_id: job.id,
        proposal_id: proposal.id,
        client_id: job.client_id,
        provider_id: proposal.provider_id,
        title: job.title.clone(),
        agreed_rate: proposal.rate,
        deadline: job.deadline,
        status: ContractStatus::Pending,
        created_at: now,
        updated_at: now,
    };
    m.insert(&contract).await?;
    m.contract_event(&ContractEvent {
        contract_id,
        from: None,
        to: ContractStatus::Pending,
        actor_id: user.id,
        actor_role: "client".into(),
        reason: Some("proposal accepted".into()),
        at: now,
        version: 1,
    })
    .await?;
    index_job(state, &job).await?;
    tracing::info!(proposal = %proposal.id, contract = %contract_id, "proposal accepted");
    for (kind, title, message, url, object_type, object_id) in [
        (
            NotificationType::Proposal,
            "Proposal accepted",
            format!("Your proposal for \"{}\" was accepted.", job.title),
            format!("/proposals/{}", proposal.id),
            "proposal",
            proposal.id.to_string(),
        ),
        (
            NotificationType::Contract,
            "New contract",
            format!("A contract for \"{}\" was created.", job.title),
            format!("/contracts/{contract_id}"),
            "contract",
            contract_id.to_string(),
        ),
    ] {
        notify(
            state,
            Event {
                to: proposal.provider_id,
                kind,
                title: title.into(),
                message,
                action_url: url,
                actor: Some(user.id),
                object_type,
                object_id,
            },
        );
    }
    Ok(HttpResponse::Created().json(contract))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in ["/api/jobs", "/api/requests"] {
        cfg.service(web::resource(base).route(web::get().to(list)).route(web::post().to(create)))
            .service(web::resource(format!("{base}/mine")).route(web::get().to(mine)))
            .service(web::resource(format!("{base}/{{id}}")).route(web::get().to(get)).route(web::patch().to(update)))
            .service(web::resource(format!("{base}/{{id}}/proposals")).route(web::get().to(job_proposals)))
            .service(web::resource(format!("{base}/{{id}}/hire")).route(web::post().to(hire)));
    }
    for base in ["/api/proposals", "/api/job-applications"] {
        cfg.service(web::resource(base).route(web::get().to(my_proposals)).route(web::post().to(propose)))
            .service(web::resource(format!("{base}/{{id}}")).route(web::get().to(get_proposal)))
            .service(web::resource(format!("{base}/{{id}}/accept")).route(web::post().to(accept)))
            .service(web::resource(format!("{base}/{{id}}/withdraw")).route(web::post().to(withdraw)));
    }
}
