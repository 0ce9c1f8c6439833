//! Contracts: parties only (admins too). Status changes go through the contract actor
//! (engine state machine + compare-and-set on the version); every transition is kept
//! in `/events` with actor, time and reason.

use actix_web::{web, HttpResponse};
use agora_actors::contract::ChangeStatus;
use agora_engine::{ContractId, ContractStatus, NotificationType};
use agora_storage::market::Contract;
use agora_storage::{Order, Table};
use serde::Deserialize;

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{notify, optional_text, Event};
use crate::state::AppState;

fn contract_id(raw: &str) -> Result<ContractId, ApiError> {
    ContractId::parse(raw).map_err(|_| ApiError::NotFound)
}

async fn load(state: &AppState, user: &AuthUser, id: ContractId) -> Result<Contract, ApiError> {
    let c = state.store.market().get::<Contract>(&id.to_string()).await?.ok_or(ApiError::NotFound)?.value;
    if c.client_id != user.id && c.provider_id != user.id && !user.role.is_admin() {
        return Err(ApiError::NotFound);
    }
    Ok(c)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
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
        .page::<Contract>(Table::ContractsByParty, &user.id.to_string(), Order::Desc, page.limit()?, page.cursor()?)
        .await?;
    let results: Vec<Contract> = items.into_iter().filter(|c| status.is_none_or(|s| c.status == s)).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[utoipa::path(get, path = "/api/contracts/{id}", tag = "contracts", params(("id" = String, Path)),
    responses((status = 200, description = "the contract"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(load(&state, &user, contract_id(&path)?).await?))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct StatusBody {
    pub status: Option<String>,
    pub reason: Option<String>,
}

/// Changes the status: pending→active (client), active→delivered (provider),
/// delivered→completed (client), pending|active→cancelled, active|delivered→disputed
/// (either party), disputed→completed|cancelled (admin). Refused changes are 409.
#[utoipa::path(post, path = "/api/contracts/{id}/status", tag = "contracts", params(("id" = String, Path)), request_body = StatusBody,
    responses((status = 200, description = "the contract"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "invalid_transition")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn set_status(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<StatusBody>,
) -> Result<HttpResponse, ApiError> {
    let id = contract_id(&path)?;
    let before = load(&state, &user, id).await?;
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
    let party = user.id == before.client_id || user.id == before.provider_id;
    let changed = state
        .hub
        .contracts
        .send(ChangeStatus {
            contract_id: id,
            actor_id: user.id,
            actor_is_admin: user.role.is_admin() && !party,
            to,
            reason,
        })
        .await??;
    let c = &changed.contract;
    let others: Vec<agora_engine::UserId> =
        [c.client_id, c.provider_id].into_iter().filter(|u| *u != user.id).collect();
    for to_user in others {
        notify(
            &state,
            Event {
                to: to_user,
                kind: NotificationType::Contract,
                title: format!("Contract {}", c.status.as_str()),
                message: format!("The contract \"{}\" is now {}.", c.title, c.status.as_str()),
                action_url: format!("/contracts/{}", c.id),
                actor: Some(user.id),
                object_type: "contract",
                object_id: c.id.to_string(),
            },
        );
    }
    if changed.completed_job {
        if let Some(p) = state.store.market().provider_of(c.provider_id).await? {
            crate::market::index_provider(&state, &p.value).await?;
        }
        if let Some(j) = state.store.market().get::<agora_storage::market::Job>(&c.job_id.to_string()).await? {
            crate::market::index_job(&state, &j.value).await?;
        }
    }
    Ok(HttpResponse::Ok().json(&changed.contract))
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
    let (results, next_cursor) = state.store.market().contract_events(c.id, q.limit()?, q.cursor()?).await?;
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/contracts").route(web::get().to(list)))
        .service(web::resource("/api/contracts/{id}").route(web::get().to(get)))
        .service(web::resource("/api/contracts/{id}/status").route(web::post().to(set_status)))
        .service(web::resource("/api/contracts/{id}/events").route(web::get().to(events)));
}
