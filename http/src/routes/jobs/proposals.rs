//! Proposals (alias job-applications) and accepting one (alias hire). The rules and the
//! exactly-once accept live in `agora_actors::market::jobs`; these handlers parse, send the
//! command and answer the view.

use actix_web::{web, HttpResponse};
use agora_actors::market::jobs::{Accept, Propose, Withdraw};
use agora_engine::{FieldErrors, JobId, Proposal, ProposalId};
use agora_storage::market::List;
use agora_storage::Order;
use serde::Deserialize;
use time::OffsetDateTime;

use super::views::{views, ContractView, ProposalView};
use super::{job_id, load_job};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, optional_text, required_money, run, MoneyBody};
use crate::routes::{ErrorEnvelope, PageQuery, Paged};
use crate::state::AppState;

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
    let at = OffsetDateTime::now_utc();
    let p = run(&state, Propose { by: caller(&user), job_id, rate, message, at }).await?;
    Ok(HttpResponse::Created().json(ProposalView::from(p)))
}

fn proposal_id(raw: &str) -> Result<ProposalId, ApiError> {
    ProposalId::parse(raw).map_err(|_| ApiError::NotFound)
}

#[utoipa::path(get, path = "/api/proposals/{id}", tag = "jobs", params(("id" = String, Path)),
    responses((status = 200, description = "the proposal"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_proposal(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = proposal_id(&path)?;
    let p = state.store.market().get::<Proposal>(id).await?.map(|v| v.value);
    let p = p.filter(|p| p.visible_to(user.id, user.role)).ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(ProposalView::from(p)))
}

/// The proposals the caller sent, newest first.
#[utoipa::path(get, path = "/api/proposals", tag = "jobs", params(PageQuery),
    responses((status = 200, description = "{results: [Proposal], next_cursor}")), security(("bearer" = [])))]
pub async fn my_proposals(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (items, next_cursor) =
        state.store.market().page(&List::proposals_of_provider(user.id), Order::Desc, q.limit()?, q.cursor()?).await?;
    Ok(HttpResponse::Ok().json(Paged { results: views::<_, ProposalView>(items), next_cursor }))
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
    let job = load_job(&state, &user, job_id(&path)?).await?;
    let (items, next_cursor) =
        state.store.market().page(&List::proposals_on_job(job.id), Order::Asc, q.limit()?, q.cursor()?).await?;
    let everyone = job.client_id == user.id || user.role.is_admin();
    let results: Vec<ProposalView> =
        views(items.into_iter().filter(|p| everyone || p.provider_id == user.id).collect());
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
    let cmd = Withdraw { by: caller(&user), proposal_id: proposal_id(&path)?, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ProposalView::from(run(&state, cmd).await?)))
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

async fn accept_proposal(
    state: &AppState,
    user: &AuthUser,
    id: ProposalId,
    job: Option<JobId>,
) -> Result<HttpResponse, ApiError> {
    let cmd = Accept { by: caller(user), proposal_id: id, job_id: job, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(ContractView::from(run(state, cmd).await?)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in super::super::names("/api/proposals") {
        cfg.service(web::resource(base).route(web::get().to(my_proposals)).route(web::post().to(propose)))
            .service(web::resource(format!("{base}/{{id}}")).route(web::get().to(get_proposal)))
            .service(web::resource(format!("{base}/{{id}}/accept")).route(web::post().to(accept)))
            .service(web::resource(format!("{base}/{{id}}/withdraw")).route(web::post().to(withdraw)));
    }
}
