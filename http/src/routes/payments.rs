//! Payments: saved cards, a contract's milestones and escrow, the caller's payments, wallet
//! and ledger. Money moves only through the milestone commands (contract worker, engine
//! state machine, ledger); these handlers parse, authorize and map. Money-moving POSTs take
//! an `Idempotency-Key` (see `crate::idempotency`). Card numbers and cvcs are read here,
//! handed to the gateway, and dropped: no handler logs a body.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use agora_actors::market::milestones::{milestone_set, ActOnMilestone, FundMilestone, SetMilestones};
use agora_engine::card::CardInput;
use agora_engine::ledger::Account;
use agora_engine::payment::{Milestone, MilestoneAction, MilestonePlan, Payment, Payout};
use agora_engine::{
    BookingId, Contract, ContractId, Currency, FieldErrors, MilestoneId, Money, PaymentId, PaymentMethodId,
};
use agora_storage::ledger::Entry;
use agora_storage::market::List;
use agora_storage::payments::{PaymentMethod, PayoutMethod};
use agora_storage::Order;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, required_money, required_text, run, MoneyBody};
use crate::state::AppState;

fn parse_id<T>(raw: &str, f: fn(&str) -> Result<T, agora_engine::DomainError>) -> Result<T, ApiError> {
    f(raw).map_err(|_| ApiError::NotFound)
}

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest { code: "invalid_json", message: format!("invalid JSON body: {e}") })
}

fn to_json<T: Serialize>(v: &T) -> Result<serde_json::Value, ApiError> {
    serde_json::to_value(v).map_err(ApiError::internal)
}

/// One page of a listing, as views.
async fn page_of<T, V>(state: &AppState, list: &List<T>, q: &PageQuery) -> Result<HttpResponse, ApiError>
where
    T: agora_storage::market::Entity,
    V: From<T> + Serialize,
{
    let (items, next_cursor) = state.store.market().page(list, Order::Desc, q.limit()?, q.cursor()?).await?;
    let results: Vec<V> = items.into_iter().map(V::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

/// The record with the id in `raw`, if `may_see` lets the caller see it; 404 otherwise
/// (also for a malformed id), so nobody learns what exists.
async fn visible_record<T: agora_storage::market::Entity>(
    state: &AppState,
    raw: &str,
    parse: fn(&str) -> Result<T::Id, agora_engine::DomainError>,
    may_see: impl FnOnce(&T) -> bool,
) -> Result<T, ApiError> {
    let id = parse_id(raw, parse)?;
    state.store.market().get::<T>(id).await?.map(|v| v.value).filter(may_see).ok_or(ApiError::NotFound)
}

// ---------------------------------------------------------------------------------------
// Payment methods

#[derive(Debug, Serialize)]
pub struct PaymentMethodView {
    pub id: PaymentMethodId,
    pub kind: &'static str,
    pub brand: String,
    pub last4: String,
    pub exp_month: u8,
    pub exp_year: u16,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<PaymentMethod> for PaymentMethodView {
    fn from(m: PaymentMethod) -> Self {
        PaymentMethodView {
            id: m.id,
            kind: "card",
            brand: m.card.brand,
            last4: m.card.last4,
            exp_month: m.card.exp_month,
            exp_year: m.card.exp_year,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CardBody {
    pub kind: Option<String>,
    pub number: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    pub cvc: Option<String>,
}

/// Saves a card: `{kind: "card", number, exp_month, exp_year, cvc}` is tokenized by the
/// gateway; only brand, last4 and expiry are kept or returned.
#[utoipa::path(post, path = "/api/payment-methods", tag = "payments", request_body = CardBody,
    responses((status = 201, description = "the card: {id, kind, brand, last4, exp_month, exp_year, created_at}"), (status = 400, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn add_method(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CardBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    if body.kind.as_deref().is_some_and(|k| k != "card") {
        f.add("kind", "must be card");
    }
    let now = OffsetDateTime::now_utc();
    let today = (now.year(), u8::from(now.month()));
    let required = |f: &mut FieldErrors, name: &str, present: bool| {
        if !present {
            f.add(name, "is required");
        }
    };
    required(&mut f, "number", body.number.is_some());
    required(&mut f, "exp_month", body.exp_month.is_some());
    required(&mut f, "exp_year", body.exp_year.is_some());
    required(&mut f, "cvc", body.cvc.is_some());
    f.into_result()?;
    let card = CardInput::parse(
        body.number.as_deref().unwrap_or(""),
        body.exp_month.unwrap_or(0),
        body.exp_year.unwrap_or(0),
        body.cvc.as_deref().unwrap_or(""),
        today,
    )?;
    let gateway = &state.hub.cx.gateway;
    let token = gateway.tokenize(&card).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    drop(card);
    let method = PaymentMethod {
        id: PaymentMethodId::from_uuid(uuid::Uuid::now_v7()),
        user_id: user.id,
        gateway: gateway.name().to_string(),
        token: token.token,
        card: token.card,
        created_at: now,
    };
    state.store.market().insert(&method).await?;
    tracing::info!(method = %method.id, brand = %method.card.brand, "card saved");
    Ok(HttpResponse::Created().json(PaymentMethodView::from(method)))
}

/// The caller's saved cards, newest first.
#[utoipa::path(get, path = "/api/payment-methods", tag = "payments", params(PageQuery),
    responses((status = 200, description = "{results: [PaymentMethod], next_cursor}")), security(("bearer" = [])))]
pub async fn list_methods(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of::<_, PaymentMethodView>(&state, &List::<PaymentMethod>::payment_methods_of(user.id), &q).await
}

async fn own_method(state: &AppState, user: &AuthUser, raw: &str) -> Result<PaymentMethod, ApiError> {
    visible_record(state, raw, PaymentMethodId::parse, |m: &PaymentMethod| m.user_id == user.id).await
}

#[utoipa::path(get, path = "/api/payment-methods/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, description = "the card: {id, kind, brand, last4, exp_month, exp_year, created_at}"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_method(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(PaymentMethodView::from(own_method(&state, &user, &path).await?)))
}

#[utoipa::path(delete, path = "/api/payment-methods/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_method(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let m = own_method(&state, &user, &path).await?;
    state.store.market().remove(&m).await?;
    Ok(HttpResponse::NoContent().finish())
}

// ---------------------------------------------------------------------------------------
// Milestones

#[derive(Debug, Serialize)]
pub struct MilestoneView {
    pub id: MilestoneId,
    pub contract_id: ContractId,
    pub position: u32,
    pub title: String,
    pub amount: Money,
    #[serde(with = "agora_engine::market::ymd::option")]
    pub due_date: Option<time::Date>,
    pub status: &'static str,
    pub payment_id: Option<PaymentId>,
    pub released: i64,
    /// Everything given back to the client (part refunds included).
    pub refunded: i64,
    /// Minor units in escrow for it now.
    pub held: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub submitted_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Milestone> for MilestoneView {
    fn from(m: Milestone) -> Self {
        let (refunded, held) = (m.refunded_total(), m.held());
        MilestoneView {
            id: m.id,
            contract_id: m.contract_id,
            position: m.position,
            title: m.title,
            amount: m.amount,
            due_date: m.due_date,
            status: m.status.as_str(),
            payment_id: m.payment_id,
            released: m.released,
            refunded,
            held,
            submitted_at: m.submitted_at,
            updated_at: m.updated_at,
        }
    }
}

async fn visible_contract(state: &AppState, user: &AuthUser, raw: &str) -> Result<Contract, ApiError> {
    let admin = user.role.is_admin();
    visible_record(state, raw, ContractId::parse, |c: &Contract| c.party(user.id, admin).is_some()).await
}

/// The contract's milestones, in order, and what is in escrow.
#[utoipa::path(get, path = "/api/contracts/{id}/milestones", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, description = "{results: [Milestone], in_escrow: Money}"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn list_milestones(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = visible_contract(&state, &user, &path).await?;
    let (set, _) = milestone_set(&state.hub.cx, &c).await?;
    let in_escrow = Money::of(set.in_escrow(), c.agreed_rate.currency())?;
    let results: Vec<MilestoneView> = set.milestones.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": results, "in_escrow": in_escrow })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MilestonePlanBody {
    pub title: Option<String>,
    pub amount: Option<MoneyBody>,
    pub due_date: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SplitBody {
    pub milestones: Option<Vec<MilestonePlanBody>>,
}

/// The client splits the agreed amount (while the contract is pending and nothing is
/// funded): 1 to 50 milestones in the contract's currency summing to the agreed amount.
#[utoipa::path(put, path = "/api/contracts/{id}/milestones", tag = "payments", params(("id" = String, Path)), request_body = SplitBody,
    responses((status = 200, description = "{results: [Milestone]}"), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "milestones_locked")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn split(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SplitBody>,
) -> Result<HttpResponse, ApiError> {
    let c = visible_contract(&state, &user, &path).await?;
    let Some(raw) = body.milestones.as_ref() else { return Err(ApiError::invalid_field("milestones", "is required")) };
    let mut f = FieldErrors::new();
    let mut plans = Vec::new();
    for (i, p) in raw.iter().enumerate() {
        let title = required_text(&mut f, &format!("milestones[{i}].title"), p.title.as_deref(), 1, 200);
        let amount = required_money(&mut f, &format!("milestones[{i}].amount"), p.amount.as_ref());
        let due = p
            .due_date
            .as_deref()
            .and_then(|d| f.check(&format!("milestones[{i}].due_date"), agora_engine::market::parse_date(d)));
        if let (Some(title), Some(amount)) = (title, amount) {
            if let Some(plan) = f.check(&format!("milestones[{i}]"), MilestonePlan::parse(&title, amount, due)) {
                plans.push(plan);
            }
        }
    }
    f.into_result()?;
    let cmd = SetMilestones { by: caller(&user), contract_id: c.id, plans, at: OffsetDateTime::now_utc() };
    let set = run(&state, cmd).await?;
    let results: Vec<MilestoneView> = set.milestones.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "results": results })))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct FundBody {
    pub payment_method_id: Option<String>,
}

/// The required `payment_method_id` of a paying body.
fn method_id(raw: Option<&str>) -> Result<PaymentMethodId, ApiError> {
    let raw = raw.ok_or_else(|| ApiError::invalid_field("payment_method_id", "is required"))?;
    PaymentMethodId::parse(raw).map_err(|_| ApiError::invalid_field("payment_method_id", "must be a UUID"))
}

async fn fund_with(
    state: &AppState,
    user: &AuthUser,
    req: &HttpRequest,
    body: &[u8],
    contract_raw: &str,
    milestone: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let c = visible_contract(state, user, contract_raw).await?;
    let milestone_id = milestone.map(|m| parse_id(m, MilestoneId::parse)).transpose()?;
    let parsed: FundBody = json_body(body)?;
    let method = method_id(parsed.payment_method_id.as_deref())?;
    crate::idempotency::once(state, user, req, body, || async {
        let cmd = FundMilestone {
            by: caller(user),
            contract_id: c.id,
            milestone_id,
            payment_method_id: method,
            at: OffsetDateTime::now_utc(),
        };
        let funded = run(state, cmd).await?;
        // A charge whose outcome comes by webhook: accepted, not yet funded.
        let pending = funded.payment.status == agora_engine::payment::PaymentStatus::Pending;
        let status = if pending { StatusCode::ACCEPTED } else { StatusCode::OK };
        let json = serde_json::json!({
            "payment": PaymentView::from(funded.payment),
            "milestone": MilestoneView::from(funded.milestone),
            "contract_status": funded.contract.status.as_str(),
        });
        Ok((status, json))
    })
    .await
}

/// The client funds this milestone from a saved card (`Idempotency-Key`); the first funding
/// moves a pending contract to active. A declined card is 402 `payment_declined`. A charge
/// whose outcome comes later is 202 with the payment `pending`: the gateway's
/// `charge.succeeded` webhook funds the milestone, `charge.failed` gives it back.
#[utoipa::path(post, path = "/api/contracts/{id}/milestones/{m}/fund", tag = "payments",
    params(("id" = String, Path), ("m" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = FundBody,
    responses((status = 200, description = "{payment, milestone, contract_status}"), (status = 202, description = "the charge is pending"), (status = 400, body = ErrorEnvelope),
        (status = 402, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn fund_milestone(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    fund_with(&state, &user, &req, &body, &path.0, Some(&path.1)).await
}

/// The client funds the next unfunded milestone (`Idempotency-Key`).
#[utoipa::path(post, path = "/api/contracts/{id}/fund", tag = "payments",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = FundBody,
    responses((status = 200, description = "{payment, milestone, contract_status}"), (status = 202, description = "the charge is pending"), (status = 400, body = ErrorEnvelope),
        (status = 402, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "nothing_to_fund"),
        (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn fund_next(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    fund_with(&state, &user, &req, &body, &path, None).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PayBody {
    /// Pay the contract's next unfunded milestone (as `POST /api/contracts/{id}/fund`).
    pub contract_id: Option<String>,
    /// Pay a requested booking: the card is charged when the provider confirms it.
    pub booking_id: Option<String>,
    pub payment_method_id: Option<String>,
}

/// Pays a contract milestone or a priced booking from a saved card (`Idempotency-Key`):
/// `{contract_id, payment_method_id}` funds the contract's next unfunded milestone, the same
/// command and answer as `POST /api/contracts/{id}/fund`; `{booking_id, payment_method_id}`
/// makes the card the one a requested booking is charged to when the provider confirms it
/// (202 with the booking: bookings are paid on confirmation). Exactly one of `contract_id`
/// and `booking_id`.
#[utoipa::path(post, path = "/api/payments", tag = "payments",
    params(("Idempotency-Key" = Option<String>, Header)), request_body = PayBody,
    responses((status = 200, description = "{payment, milestone, contract_status}"),
        (status = 202, description = "a pending charge, or the booking whose confirmation will charge the card"),
        (status = 400, body = ErrorEnvelope), (status = 402, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn pay(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let parsed: PayBody = json_body(&body)?;
    match (parsed.contract_id.as_deref(), parsed.booking_id.as_deref()) {
        (Some(contract), None) => fund_with(&state, &user, &req, &body, contract, None).await,
        (None, Some(raw)) => {
            let booking_id = BookingId::parse(raw).map_err(|_| ApiError::NotFound)?;
            let method = method_id(parsed.payment_method_id.as_deref())?;
            crate::idempotency::once(&state, &user, &req, &body, || async {
                let cmd = agora_actors::market::bookings::ChooseBookingCard {
                    by: caller(&user),
                    booking_id,
                    payment_method_id: method,
                    at: OffsetDateTime::now_utc(),
                };
                let b = run(&state, cmd).await?;
                Ok((StatusCode::ACCEPTED, to_json(&super::bookings::BookingView::from(&b))?))
            })
            .await
        }
        _ => Err(ApiError::invalid_field("contract_id", "give exactly one of contract_id and booking_id")),
    }
}

async fn act(
    state: &AppState,
    user: &AuthUser,
    req: &HttpRequest,
    path: &(String, String),
    action: MilestoneAction,
) -> Result<HttpResponse, ApiError> {
    let c = visible_contract(state, user, &path.0).await?;
    let milestone_id = parse_id(&path.1, MilestoneId::parse)?;
    crate::idempotency::once(state, user, req, b"", || async {
        let cmd =
            ActOnMilestone { by: caller(user), contract_id: c.id, milestone_id, action, at: OffsetDateTime::now_utc() };
        Ok((StatusCode::OK, to_json(&MilestoneView::from(run(state, cmd).await?))?))
    })
    .await
}

/// The provider submits the milestone's work for approval.
#[utoipa::path(post, path = "/api/contracts/{id}/milestones/{m}/submit", tag = "payments", params(("id" = String, Path), ("m" = String, Path)),
    responses((status = 200, description = "the milestone"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn submit(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &user, &req, &path, MilestoneAction::Submit).await
}

/// The client asks for changes to a submitted milestone.
#[utoipa::path(post, path = "/api/contracts/{id}/milestones/{m}/request-changes", tag = "payments", params(("id" = String, Path), ("m" = String, Path)),
    responses((status = 200, description = "the milestone"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn request_changes(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &user, &req, &path, MilestoneAction::RequestChanges).await
}

/// The client approves a submitted milestone: its escrow goes to the provider's wallet minus
/// the platform fee (`Idempotency-Key`).
#[utoipa::path(post, path = "/api/contracts/{id}/milestones/{m}/approve", tag = "payments",
    params(("id" = String, Path), ("m" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    responses((status = 200, description = "the milestone"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn approve(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &user, &req, &path, MilestoneAction::Approve).await
}

/// The client removes an unfunded milestone (so the contract can complete without it).
#[utoipa::path(post, path = "/api/contracts/{id}/milestones/{m}/remove", tag = "payments", params(("id" = String, Path), ("m" = String, Path)),
    responses((status = 200, description = "the milestone, removed"), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn remove(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    act(&state, &user, &req, &path, MilestoneAction::Remove).await
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DisputeBody {
    pub reason: Option<String>,
}

/// A party opens a dispute (active or delivered contracts): escrow is frozen until an admin
/// resolves it.
#[utoipa::path(post, path = "/api/contracts/{id}/dispute", tag = "payments", params(("id" = String, Path)), request_body = DisputeBody,
    responses((status = 200, description = "the contract, disputed"), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn dispute(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<DisputeBody>,
) -> Result<HttpResponse, ApiError> {
    let c = visible_contract(&state, &user, &path).await?;
    let mut f = FieldErrors::new();
    let reason = crate::market::optional_text(&mut f, "reason", body.reason.as_deref(), 2000);
    f.into_result()?;
    let cmd = agora_actors::market::contracts::ChangeContractStatus {
        by: caller(&user),
        contract_id: c.id,
        to: agora_engine::ContractStatus::Disputed,
        reason,
        at: OffsetDateTime::now_utc(),
    };
    Ok(HttpResponse::Ok().json(super::jobs::ContractView::from(run(&state, cmd).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ResolveBody {
    /// Minor units released to the provider.
    pub release: Option<i64>,
    /// Minor units refunded to the client.
    pub refund: Option<i64>,
}

/// An admin resolves a disputed contract: `release` to the provider and `refund` to the
/// client, in minor units, summing to what is in escrow. The contract then completes (if
/// anything was released) or is cancelled.
#[utoipa::path(post, path = "/api/admin/disputes/{id}/resolve", tag = "payments", params(("id" = String, Path, description = "the contract id")),
    request_body = ResolveBody,
    responses((status = 200, description = "the contract"), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn resolve(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    if !user.role.is_admin() {
        return Err(ApiError::NotFound);
    }
    let id = parse_id(&path, ContractId::parse)?;
    let parsed: ResolveBody = json_body(&body)?;
    let mut f = FieldErrors::new();
    for (name, v) in [("release", parsed.release), ("refund", parsed.refund)] {
        match v {
            None => f.add(name, "is required"),
            Some(x) if x < 0 => f.add(name, "must not be negative"),
            Some(_) => {}
        }
    }
    f.into_result()?;
    crate::idempotency::once(&state, &user, &req, &body, || async {
        let cmd = agora_actors::market::milestones::ResolveDispute {
            by: caller(&user),
            contract_id: id,
            release: parsed.release.unwrap_or(0),
            refund: parsed.refund.unwrap_or(0),
            at: OffsetDateTime::now_utc(),
        };
        Ok((StatusCode::OK, to_json(&super::jobs::ContractView::from(run(&state, cmd).await?))?))
    })
    .await
}

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, inclusive).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeeQuery {
    /// Default: 29 days before `to`.
    pub from: Option<String>,
    /// Default: today.
    pub to: Option<String>,
}

/// At most this many days in one fee report.
const MAX_FEE_DAYS: i64 = 366;

/// The platform's fee totals for admins: per currency over the range, and per day. Fees are
/// booked on the UTC day of the release that earned them.
#[utoipa::path(get, path = "/api/admin/payments/fees", tag = "payments", params(FeeQuery),
    responses((status = 200, description = "{from, to, totals: [{currency, amount: Money, releases}], days: [{date, amount: Money, releases}]}"),
        (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn fee_totals(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<FeeQuery>,
) -> Result<HttpResponse, ApiError> {
    if !user.role.is_admin() {
        return Err(ApiError::NotFound);
    }
    let day = |name: &str, raw: &Option<String>| -> Result<Option<time::Date>, ApiError> {
        raw.as_deref()
            .map(|r| {
                agora_engine::market::parse_date(r)
                    .map_err(|_| ApiError::invalid_field(name, "must be a date, YYYY-MM-DD"))
            })
            .transpose()
    };
    let to = day("to", &q.to)?.unwrap_or_else(|| OffsetDateTime::now_utc().date());
    let from = day("from", &q.from)?.unwrap_or(to - time::Duration::days(29));
    if from > to {
        return Err(ApiError::invalid_field("from", "must not be after to"));
    }
    if (to - from).whole_days() >= MAX_FEE_DAYS {
        return Err(ApiError::invalid_field("from", "a report covers at most 366 days"));
    }
    let days = state.store.ledger().fee_days(from, to).await?;
    let mut totals: std::collections::BTreeMap<String, (Currency, i64, u64)> = Default::default();
    let mut rows = Vec::with_capacity(days.len());
    for d in &days {
        let t = totals.entry(d.currency.as_str().to_string()).or_insert((d.currency, 0, 0));
        t.1 += d.amount;
        t.2 += d.releases;
        rows.push(serde_json::json!({
            "date": agora_engine::ledger::fee_day(d.day),
            "amount": Money::of(d.amount, d.currency)?,
            "releases": d.releases,
        }));
    }
    let totals = totals
        .into_values()
        .map(|(c, amount, releases)| {
            Ok(serde_json::json!({"currency": c.as_str(), "amount": Money::of(amount, c)?, "releases": releases}))
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "from": agora_engine::ledger::fee_day(from),
        "to": agora_engine::ledger::fee_day(to),
        "totals": totals,
        "days": rows,
    })))
}

// ---------------------------------------------------------------------------------------
// Payments

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub id: PaymentId,
    pub payer_id: agora_engine::UserId,
    pub payee_id: agora_engine::UserId,
    pub purpose: agora_engine::payment::PaymentFor,
    pub amount: Money,
    pub refunded: i64,
    pub status: &'static str,
    pub card: Option<agora_engine::payment::CardSummary>,
    pub failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Payment> for PaymentView {
    fn from(p: Payment) -> Self {
        PaymentView {
            id: p.id,
            payer_id: p.payer_id,
            payee_id: p.payee_id,
            purpose: p.purpose,
            amount: p.amount,
            refunded: p.refunded,
            status: p.status.as_str(),
            card: p.card,
            failure: p.failure,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// Payments the caller made or receives, newest first.
#[utoipa::path(get, path = "/api/payments", tag = "payments", params(PageQuery),
    responses((status = 200, description = "{results: [Payment], next_cursor}")), security(("bearer" = [])))]
pub async fn list_payments(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of::<_, PaymentView>(&state, &List::<Payment>::payments_of(user.id), &q).await
}

/// One payment, for its payer or payee (admins too); 404 for anyone else.
#[utoipa::path(get, path = "/api/payments/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, description = "the payment"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_payment(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = visible_record(&state, &path, PaymentId::parse, |p: &Payment| p.visible_to(user.id, user.role.is_admin()))
        .await?;
    Ok(HttpResponse::Ok().json(PaymentView::from(p)))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units to give back; omitted: everything still in escrow.
    pub amount: Option<i64>,
}

/// The payee gives a milestone payment back while its money is still in escrow (the
/// contract pending, active or delivered), in whole or in part (`Idempotency-Key`).
/// Without an `amount`, or with all that is held, everything held goes back to the card and
/// the milestone is refunded; a smaller `amount` goes back and the rest stays in escrow
/// (the payment becomes partially_refunded). The payer and admins get 403 (an admin
/// refunds through a dispute's resolution).
#[utoipa::path(post, path = "/api/payments/{id}/refund", tag = "payments",
    params(("id" = String, Path), ("Idempotency-Key" = Option<String>, Header)),
    request_body(content = RefundBody, description = "optional; an empty body refunds everything held"),
    responses((status = 200, description = "the payment, refunded or partially_refunded"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope),
        (status = 409, body = ErrorEnvelope, description = "invalid_transition, contract_not_payable")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn refund_payment(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = visible_record(&state, &path, PaymentId::parse, |p: &Payment| p.visible_to(user.id, user.role.is_admin()))
        .await?;
    let agora_engine::payment::PaymentFor::Milestone { contract_id, milestone_id } = p.purpose else {
        // A booking's payment goes back when the booking is declined or cancelled.
        return Err(ApiError::from(agora_actors::ActorError::Refused(agora_engine::DomainError::conflict(
            agora_engine::codes::CONFLICT,
            "a booking's payment is refunded by cancelling the booking",
        ))));
    };
    let parsed: RefundBody =
        if body.iter().all(u8::is_ascii_whitespace) { RefundBody::default() } else { json_body(&body)? };
    if parsed.amount.is_some_and(|a| a <= 0) {
        return Err(ApiError::invalid_field("amount", "must be a positive number of minor units"));
    }
    crate::idempotency::once(&state, &user, &req, &body, || async {
        let cmd = agora_actors::market::milestones::RefundMilestone {
            by: caller(&user),
            contract_id,
            milestone_id,
            amount: parsed.amount,
            at: OffsetDateTime::now_utc(),
        };
        run(&state, cmd).await?;
        let p = state.store.market().get::<Payment>(p.id).await?.ok_or(ApiError::NotFound)?.value;
        Ok((StatusCode::OK, to_json(&PaymentView::from(p))?))
    })
    .await
}

/// Escapes text for HTML element content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

async fn person(state: &AppState, id: agora_engine::UserId) -> Result<serde_json::Value, ApiError> {
    let name = state
        .store
        .users()
        .get(id)
        .await?
        .map(|u| format!("{} {}", u.value.first_name, u.value.last_name).trim().to_string())
        .unwrap_or_default();
    Ok(serde_json::json!({ "id": id, "name": name }))
}

/// A receipt for a payment, for its payer or payee: JSON, or a printable HTML page with
/// `Accept: text/html`.
#[utoipa::path(get, path = "/api/payments/{id}/receipt", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, description = "{number, payment_id, status, amount, refunded, net, payer, payee, for, card, paid_at}; HTML with Accept: text/html"),
        (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn receipt(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let p = visible_record(&state, &path, PaymentId::parse, |p: &Payment| p.visible_to(user.id, user.role.is_admin()))
        .await?;
    let what = match p.purpose {
        agora_engine::payment::PaymentFor::Milestone { contract_id, milestone_id } => {
            let c = state.store.market().get::<Contract>(contract_id).await?.map(|v| v.value);
            let title = match &c {
                Some(c) => milestone_set(&state.hub.cx, c)
                    .await?
                    .0
                    .get(milestone_id)
                    .map(|m| if m.title == c.title { c.title.clone() } else { format!("{}: {}", c.title, m.title) })
                    .unwrap_or_else(|| c.title.clone()),
                None => String::new(),
            };
            serde_json::json!({ "kind": "milestone", "contract_id": contract_id, "milestone_id": milestone_id, "title": title })
        }
        agora_engine::payment::PaymentFor::Booking { booking_id } => {
            serde_json::json!({ "kind": "booking", "booking_id": booking_id, "title": "Booking" })
        }
    };
    let c = p.amount.currency();
    let refunded = Money::of(p.refunded, c)?;
    let net = Money::of(p.amount.minor() - p.refunded, c)?;
    // The id's time part and 32 of its random bits: unique, and it sorts by date.
    let hexid = p.id.as_uuid().simple().to_string().to_uppercase();
    let number = format!("AG-{}-{}", &hexid[..12], &hexid[24..]);
    let paid_at = p.updated_at.format(&time::format_description::well_known::Rfc3339).map_err(ApiError::internal)?;
    let paid_on = p
        .updated_at
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .map_err(ApiError::internal)?;
    let (payer, payee) = (person(&state, p.payer_id).await?, person(&state, p.payee_id).await?);
    let json = serde_json::json!({
        "number": number,
        "payment_id": p.id,
        "status": p.status.as_str(),
        "amount": p.amount,
        "refunded": refunded,
        "net": net,
        "payer": payer,
        "payee": payee,
        "for": what,
        "card": p.card,
        "paid_at": paid_at,
    });
    let wants_html = req
        .headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if !wants_html {
        return Ok(HttpResponse::Ok().json(json));
    }
    let text = |v: &serde_json::Value| esc(v.as_str().unwrap_or(""));
    let card = p.card.as_ref().map(|c| format!("{} ending {}", c.brand, c.last4)).unwrap_or_default();
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Receipt {number}</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;color:#111}}\
         table{{width:100%;border-collapse:collapse}}td{{padding:.4rem 0;border-bottom:1px solid #ddd}}\
         td:last-child{{text-align:right}}@media print{{body{{margin:0}}}}</style></head><body>\
         <h1>Receipt</h1><p>Agora · receipt {number} · {status}</p><table>\
         <tr><td>For</td><td>{what}</td></tr><tr><td>Paid by</td><td>{payer}</td></tr>\
         <tr><td>Paid to</td><td>{payee}</td></tr><tr><td>Card</td><td>{card}</td></tr>\
         <tr><td>Date</td><td>{paid_at}</td></tr><tr><td>Amount</td><td>{amount}</td></tr>\
         <tr><td>Refunded</td><td>{refunded}</td></tr><tr><td><strong>Total</strong></td><td><strong>{net}</strong></td></tr>\
         </table></body></html>",
        number = esc(&number),
        status = esc(p.status.as_str()),
        what = text(&json["for"]["title"]),
        payer = text(&json["payer"]["name"]),
        payee = text(&json["payee"]["name"]),
        card = esc(&card),
        paid_at = esc(&paid_on),
        amount = esc(&p.amount.to_string()),
        refunded = esc(&refunded.to_string()),
        net = esc(&net.to_string()),
    );
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

// ---------------------------------------------------------------------------------------
// Wallet

#[derive(Debug, Serialize)]
pub struct BalanceView {
    pub currency: String,
    /// Posted money the user may withdraw.
    pub available: Money,
    /// Money held for the user in escrow, not yet released.
    pub held: Money,
}

/// The caller's balances, one per currency they have used.
#[utoipa::path(get, path = "/api/wallet", tag = "payments",
    responses((status = 200, description = "{balances: [{currency, available, held}]}")), security(("bearer" = [])))]
pub async fn wallet(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let ledger = state.store.ledger();
    let mut balances = Vec::new();
    for account in ledger.accounts_of(user.id.as_uuid()).await? {
        let b = ledger.balance(&account).await?;
        let c = account.currency();
        balances.push(BalanceView {
            currency: c.to_string(),
            available: Money::of(b.posted, c)?,
            held: Money::of(b.pending, c)?,
        });
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "balances": balances })))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LedgerQuery {
    /// Required: the wallet's currency.
    pub currency: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize)]
struct EntryView {
    txn_id: agora_engine::LedgerTxnId,
    kind: &'static str,
    reference: String,
    available: i64,
    held: i64,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
}

impl From<Entry> for EntryView {
    fn from(e: Entry) -> Self {
        EntryView {
            txn_id: e.txn_id,
            kind: e.kind.as_str(),
            reference: e.reference,
            available: e.posted,
            held: e.pending,
            at: e.at,
        }
    }
}

/// The caller's wallet entries in one currency, newest first: signed minor units moved in
/// `available` and `held`.
#[utoipa::path(get, path = "/api/wallet/ledger", tag = "payments", params(LedgerQuery),
    responses((status = 200, description = "{results: [{txn_id, kind, reference, available, held, at}], next_cursor}"), (status = 400, body = ErrorEnvelope)),
    security(("bearer" = [])))]
pub async fn wallet_ledger(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<LedgerQuery>,
) -> Result<HttpResponse, ApiError> {
    let Some(raw) = q.currency.as_deref() else { return Err(ApiError::invalid_field("currency", "is required")) };
    let currency = Currency::parse(raw).map_err(|_| ApiError::invalid_field("currency", "must be an ISO 4217 code"))?;
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let (entries, next_cursor) =
        state.store.ledger().entries(&Account::wallet(user.id, currency), page.limit()?, page.cursor()?).await?;
    let results: Vec<EntryView> = entries.into_iter().map(Into::into).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

// ---------------------------------------------------------------------------------------
// Payout methods, payouts, webhooks

#[derive(Debug, Serialize)]
pub struct PayoutMethodView {
    pub id: agora_engine::PayoutMethodId,
    pub kind: &'static str,
    pub holder_name: String,
    pub country: String,
    pub last4: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<PayoutMethod> for PayoutMethodView {
    fn from(m: PayoutMethod) -> Self {
        PayoutMethodView {
            id: m.id,
            kind: "bank_account",
            holder_name: m.holder_name,
            country: m.country,
            last4: m.last4,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct BankBody {
    pub kind: Option<String>,
    pub holder_name: Option<String>,
    pub iban: Option<String>,
}

/// Adds a bank account for payouts: `{kind: "bank_account", holder_name, iban}`; the IBAN
/// is checked (country length, mod-97) and tokenized; only country and last4 are kept.
#[utoipa::path(post, path = "/api/payout-methods", tag = "payments", request_body = BankBody,
    responses((status = 201, description = "{id, kind, holder_name, country, last4, created_at}"), (status = 400, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn add_payout_method(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<BankBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    if body.kind.as_deref().is_some_and(|k| k != "bank_account") {
        f.add("kind", "must be bank_account");
    }
    let holder = required_text(&mut f, "holder_name", body.holder_name.as_deref(), 2, 140);
    let iban = match body.iban.as_deref() {
        None => {
            f.add("iban", "is required");
            None
        }
        Some(raw) => f.check("iban", agora_engine::card::Iban::parse(raw)),
    };
    f.into_result()?;
    let (Some(holder), Some(iban)) = (holder, iban) else { return Err(ApiError::invalid_field("iban", "is required")) };
    let gateway = &state.hub.cx.gateway;
    let token = gateway.tokenize_bank(&holder, &iban).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let method = PayoutMethod {
        id: agora_engine::PayoutMethodId::from_uuid(uuid::Uuid::now_v7()),
        user_id: user.id,
        gateway: gateway.name().to_string(),
        token: token.token,
        holder_name: holder,
        country: token.country,
        last4: token.last4,
        created_at: OffsetDateTime::now_utc(),
    };
    state.store.market().insert(&method).await?;
    Ok(HttpResponse::Created().json(PayoutMethodView::from(method)))
}

#[utoipa::path(get, path = "/api/payout-methods", tag = "payments", params(PageQuery),
    responses((status = 200, description = "{results: [PayoutMethod], next_cursor}")), security(("bearer" = [])))]
pub async fn list_payout_methods(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of::<_, PayoutMethodView>(&state, &List::<PayoutMethod>::payout_methods_of(user.id), &q).await
}

#[utoipa::path(delete, path = "/api/payout-methods/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_payout_method(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let m = visible_record(&state, &path, agora_engine::PayoutMethodId::parse, |m: &PayoutMethod| m.user_id == user.id)
        .await?;
    state.store.market().remove(&m).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize)]
pub struct PayoutView {
    pub id: agora_engine::PayoutId,
    pub payout_method_id: agora_engine::PayoutMethodId,
    pub amount: Money,
    pub status: &'static str,
    pub failure: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Payout> for PayoutView {
    fn from(p: Payout) -> Self {
        PayoutView {
            id: p.id,
            payout_method_id: p.method_id,
            amount: p.amount,
            status: p.status.as_str(),
            failure: p.failure,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PayoutBody {
    pub amount: Option<MoneyBody>,
    pub payout_method_id: Option<String>,
}

/// Withdraws available money to a bank account (`Idempotency-Key`): 201 with the payout
/// `pending` (its outcome arrives from the gateway); 409 `insufficient_funds` when the
/// wallet holds less, also under concurrent requests.
#[utoipa::path(post, path = "/api/payouts", tag = "payments", params(("Idempotency-Key" = Option<String>, Header)), request_body = PayoutBody,
    responses((status = 201, description = "the payout"), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "insufficient_funds"),
        (status = 422, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn request_payout(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let parsed: PayoutBody = json_body(&body)?;
    let mut f = FieldErrors::new();
    let amount = required_money(&mut f, "amount", parsed.amount.as_ref());
    let method = match parsed.payout_method_id.as_deref() {
        None => {
            f.add("payout_method_id", "is required");
            None
        }
        Some(raw) => f.check("payout_method_id", agora_engine::PayoutMethodId::parse(raw)),
    };
    f.into_result()?;
    let (Some(amount), Some(method_id)) = (amount, method) else {
        return Err(ApiError::invalid_field("amount", "is required"));
    };
    crate::idempotency::once(&state, &user, &req, &body, || async {
        let cmd = agora_actors::market::payouts::RequestPayout {
            by: caller(&user),
            amount,
            method_id,
            at: OffsetDateTime::now_utc(),
        };
        Ok((StatusCode::CREATED, to_json(&PayoutView::from(run(&state, cmd).await?))?))
    })
    .await
}

#[utoipa::path(get, path = "/api/payouts", tag = "payments", params(PageQuery),
    responses((status = 200, description = "{results: [Payout], next_cursor}")), security(("bearer" = [])))]
pub async fn list_payouts(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    page_of::<_, PayoutView>(&state, &List::<Payout>::payouts_of(user.id), &q).await
}

#[utoipa::path(get, path = "/api/payouts/{id}", tag = "payments", params(("id" = String, Path)),
    responses((status = 200, description = "the payout"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
pub async fn get_payout(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let admin = user.role.is_admin();
    let p = visible_record(&state, &path, agora_engine::PayoutId::parse, |p: &Payout| {
        agora_actors::market::payouts::visible(p, user.id, admin)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PayoutView::from(p)))
}

/// A gateway's signed callback (`Agora-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`).
/// A bad or stale signature is 401 `invalid_signature`; a replayed event is a no-op.
#[utoipa::path(post, path = "/api/payments/webhooks/{gateway}", tag = "payments", params(("gateway" = String, Path)),
    responses((status = 200, description = "{received: true, outcome: applied | duplicate | ignored}"), (status = 400, body = ErrorEnvelope),
        (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(gateway = %path))]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    use agora_actors::gateway::webhooks::{receive, Received, WebhookError, SIGNATURE_HEADER};
    let signature = req.headers().get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    match receive(&state.hub.cx, &path, signature, &body, OffsetDateTime::now_utc()).await {
        Ok(r) => {
            let outcome = match r {
                Received::Applied => "applied",
                Received::Duplicate => "duplicate",
                Received::Ignored => "ignored",
            };
            Ok(HttpResponse::Ok().json(serde_json::json!({ "received": true, "outcome": outcome })))
        }
        Err(WebhookError::UnknownGateway) => Err(ApiError::NotFound),
        Err(WebhookError::Signature(why)) => {
            metrics::counter!("agora_webhooks_total", "outcome" => "bad_signature").increment(1);
            tracing::warn!(?why, "webhook signature refused");
            Err(ApiError::Unauthorized {
                code: agora_engine::codes::INVALID_SIGNATURE,
                message: "the webhook signature is missing, wrong or stale",
            })
        }
        Err(WebhookError::Malformed(m)) => Err(ApiError::BadRequest { code: "invalid_body", message: m }),
        Err(WebhookError::Actor(e)) => Err(e.into()),
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/payment-methods").route(web::get().to(list_methods)).route(web::post().to(add_method)),
    )
    .service(
        web::resource("/api/payment-methods/{id}")
            .route(web::get().to(get_method))
            .route(web::delete().to(delete_method)),
    )
    .service(
        web::resource("/api/contracts/{id}/milestones")
            .route(web::get().to(list_milestones))
            .route(web::put().to(split)),
    )
    .service(web::resource("/api/contracts/{id}/fund").route(web::post().to(fund_next)))
    .service(web::resource("/api/contracts/{id}/milestones/{m}/fund").route(web::post().to(fund_milestone)))
    .service(web::resource("/api/contracts/{id}/milestones/{m}/submit").route(web::post().to(submit)))
    .service(web::resource("/api/contracts/{id}/milestones/{m}/request-changes").route(web::post().to(request_changes)))
    .service(web::resource("/api/contracts/{id}/milestones/{m}/approve").route(web::post().to(approve)))
    .service(web::resource("/api/contracts/{id}/milestones/{m}/remove").route(web::post().to(remove)))
    .service(web::resource("/api/contracts/{id}/dispute").route(web::post().to(dispute)))
    .service(web::resource("/api/admin/disputes/{id}/resolve").route(web::post().to(resolve)))
    .service(web::resource("/api/admin/payments/fees").route(web::get().to(fee_totals)))
    .service(web::resource("/api/payments").route(web::get().to(list_payments)).route(web::post().to(pay)))
    .service(web::resource("/api/payments/{id}").route(web::get().to(get_payment)))
    .service(web::resource("/api/payments/{id}/receipt").route(web::get().to(receipt)))
    .service(web::resource("/api/payments/{id}/refund").route(web::post().to(refund_payment)))
    .service(web::resource("/api/wallet").route(web::get().to(wallet)))
    .service(
        web::resource("/api/payout-methods")
            .route(web::get().to(list_payout_methods))
            .route(web::post().to(add_payout_method)),
    )
    .service(web::resource("/api/payout-methods/{id}").route(web::delete().to(delete_payout_method)))
    .service(web::resource("/api/payouts").route(web::get().to(list_payouts)).route(web::post().to(request_payout)))
    .service(web::resource("/api/payouts/{id}").route(web::get().to(get_payout)))
    .service(web::resource("/api/payments/webhooks/{gateway}").route(web::post().to(webhook)))
    .service(web::resource("/api/wallet/ledger").route(web::get().to(wallet_ledger)));
}
