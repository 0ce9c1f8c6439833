//! Contracts: parties only (admins too). Status changes go through the contract actor
//! (engine state machine + compare-and-set on the version); every transition is kept
//! in `/events` with actor, time and reason.

use actix_web::{web, HttpResponse};
use agora_actors::market::contracts::ChangeContractStatus;
use agora_engine::{Contract, ContractId, ContractStatus};
use agora_storage::market::List;
use agora_storage::Order;
use serde::Deserialize;
use time::OffsetDateTime;

use super::jobs::{views, ContractEventView, ContractView};
use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, optional_text, run};
use crate::state::AppState;

fn contract_id(raw: &str) -> Result<ContractId, ApiError> {
    ContractId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn load(state: &AppState, user: &AuthUser, id: ContractId) -> Result<Contract, ApiError> {
    let c = state.store.market().get::<Contract>(id).await?.ok_or(ApiError::NotFound)?.value;
    if c.client_id != user.id && c.provider_id != user.id && !user.role.is_admin() {
        return Err(ApiError::NotFound);
    }
    Ok(c)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    pub status: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// The caller's contracts (as client or provider), newest first.
#[utoipa::path(get, path = "/api/contracts", tag = "contracts", params(ListQuery),
    responses((status = 200, description = "{results: [Contract], next_cursor}"), (status = 400, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let status = q.status.as_deref().map(ContractStatus::parse).transpose().map_err(ApiError::from)?;
    let (items, next_cursor) = state
        .store
        .market()
        .page(&List::contracts_of_party(user.id), Order::Desc, page.limit()?, page.cursor()?)
        .await?;
    let results: Vec<ContractView> =
        views(items.into_iter().filter(|c| status.is_none_or(|s| c.status == s)).collect());
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[utoipa::path(get, path = "/api/contracts/{id}", tag = "contracts", params(("id" = String, Path)),
    responses((status = 200, description = "the contract"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(ContractView::from(load(&state, &user, contract_id(&path)?).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    pub status: Option<String>,
    pub reason: Option<String>,
}

/// Changes the status: active→delivered (provider), delivered→completed (client, once no
/// milestone is unfunded: 409 `milestone_unfunded`), pending|active→cancelled,
/// active|delivered→disputed (either party), disputed→completed|cancelled (admin). A
/// contract becomes active only when the client funds its first milestone: asking for
/// pending→active here is 409 `funding_required`. Refused changes are 409.
#[utoipa::path(post, path = "/api/contracts/{id}/status", tag = "contracts", params(("id" = String, Path)), request_body = StatusBody,
    responses((status = 200, description = "the contract"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "invalid_transition, funding_required or milestone_unfunded")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn set_status(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let id = contract_id(&path)?;
    load(&state, &user, id).await?;
    let mut f = agora_engine::FieldErrors::new();
    let to = match body.status.as_deref() {
        None => {
            f.add("status", "is required");
            None
        }
        Some(raw) => f.check("status", ContractStatus::parse(raw)),
    };
    let reason = optional_text(&mut f, "reason", body.reason.as_deref(), 2000);
    f.into_result()?;
    let Some(to) = to else { return Err(ApiError::invalid_field("status", "is required")) };
    let cmd = ChangeContractStatus { by: caller(&user), contract_id: id, to, reason, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ContractView::from(run(&state, cmd).await?)))
}

/// Every transition, oldest first: `{from, to, actor_id, actor_role, reason, at, version}`.
#[utoipa::path(get, path = "/api/contracts/{id}/events", tag = "contracts", params(("id" = String, Path), PageQuery),
    responses((status = 200, description = "{results: [ContractEvent], next_cursor}"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn events(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let c = load(&state, &user, contract_id(&path)?).await?;
    let (items, next_cursor) = state.store.market().contract_events(c.id, q.limit()?, q.cursor()?).await?;
    Ok(HttpResponse::Ok().json(Paged { results: views::<_, ContractEventView>(items), next_cursor }))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/contracts").route(web::get().to(list)))
        .service(web::resource("/api/contracts/{id}").route(web::get().to(get)))
        .service(web::resource("/api/contracts/{id}/events").route(web::get().to(events)));
    for path in super::paths("/api/contracts/{id}/status") {
        cfg.service(web::resource(path).route(web::post().to(set_status)));
    }
}
