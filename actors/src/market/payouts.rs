//! Payouts: a user withdraws available money to a bank account. The request moves the
//! amount from the wallet to the payouts account first (the ledger refuses it when the
//! wallet holds less, and its compare-and-set makes concurrent requests, from any process,
//! spend the money once); the gateway then gets the payout, keyed by its id; its outcome
//! arrives as a webhook ([`apply_outcome`]): paid settles to the outside, failed returns the
//! money to the wallet. The three ledger transactions are chosen when the payout is
//! requested, and an intent lets the sweeper finish a request a crash interrupted.

use agora_engine::ledger::{self, Transaction, TxnKind};
use agora_engine::payment::{Payout, PayoutStatus};
use agora_engine::{codes, DomainError, DomainEvent, LedgerTxnId, Money, PayoutId, PayoutMethodId, UserId};
use agora_storage::intents::{Intent, Step};
use agora_storage::ledger::Posting;
use agora_storage::payments::PayoutMethod;
use agora_storage::StoreError;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::gateway::PayoutRequest;
use crate::ActorError;

#[derive(actix::Message)]
#[rtype(result = "Result<Payout, ActorError>")]
pub struct RequestPayout {
    pub by: Caller,
    pub amount: Money,
    pub method_id: PayoutMethodId,
    pub at: OffsetDateTime,
}

impl Command for RequestPayout {
    type Output = Payout;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Wallet(self.by.id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Payout, ActorError>> {
        Box::pin(async move {
            let method = cx
                .store
                .market()
                .get::<PayoutMethod>(self.method_id)
                .await?
                .map(|v| v.value)
                .filter(|m| m.user_id == self.by.id)
                .ok_or_else(|| {
                    ActorError::from(DomainError::invalid_field(
                        "payout_method_id",
                        "is not one of your payout methods",
                    ))
                })?;
            let payout = Payout {
                id: new_id(PayoutId::from_uuid),
                user_id: self.by.id,
                method_id: method.id,
                amount: self.amount,
                status: PayoutStatus::Requested,
                gateway_ref: None,
                failure: None,
                start_txn: new_id(LedgerTxnId::from_uuid),
                settle_txn: new_id(LedgerTxnId::from_uuid),
                return_txn: new_id(LedgerTxnId::from_uuid),
                created_at: self.at,
                updated_at: self.at,
            };
            let intent = Intent::new(Step::Payout { payout_id: payout.id }, self.at);
            cx.store.intents().record(&intent).await?;
            cx.faults.hit("payout:intent");
            cx.store.market().insert(&payout).await?;
            cx.faults.hit("payout:requested");
            let done = complete_request(&cx, payout.id, self.at).await;
            cx.store.intents().done(intent.id).await?;
            let p = done?;
            if p.status == PayoutStatus::Rejected {
                return Err(ActorError::Refused(DomainError::conflict(
                    codes::INSUFFICIENT_FUNDS,
                    format!("the wallet holds less than {}", p.amount),
                )));
            }
            Ok(p)
        })
    }
}

fn txn(id: LedgerTxnId, kind: TxnKind, legs: Vec<ledger::Leg>, p: &Payout) -> Result<Transaction, ActorError> {
    Transaction::new(id, kind, legs, format!("payout:{}", p.id), p.created_at).map_err(ActorError::Refused)
}

async fn set_status(
    cx: &Cx,
    id: PayoutId,
    to: PayoutStatus,
    reference: Option<String>,
    failure: Option<String>,
    at: OffsetDateTime,
) -> Result<Payout, ActorError> {
    let saved = cx
        .store
        .market()
        .update::<Payout, ActorError>(id, |p| {
            if p.status == to || p.status.transition(to).is_err() {
                return Ok(());
            }
            p.status = to;
            if reference.is_some() {
                p.gateway_ref = reference.clone();
            }
            if failure.is_some() {
                p.failure = failure.clone();
            }
            p.updated_at = at;
            Ok(())
        })
        .await?
        .ok_or(ActorError::NotFound)?;
    Ok(saved.value)
}

/// Posts the payout's start (wallet → payouts, idempotent); `Some` with the payout marked
/// rejected when the wallet holds less.
async fn take_from_wallet(cx: &Cx, p: &Payout, at: OffsetDateTime) -> Result<Option<Payout>, ActorError> {
    let start = txn(p.start_txn, TxnKind::PayoutStart, ledger::payout_start(p.user_id, p.amount), p)?;
    if cx.store.ledger().post(&start).await? == Posting::Posted {
        return Ok(None);
    }
    metrics::counter!("agora_payouts_total", "outcome" => "rejected").increment(1);
    set_status(cx, p.id, PayoutStatus::Rejected, None, Some(codes::INSUFFICIENT_FUNDS.into()), at).await.map(Some)
}

/// Takes the money from the wallet and hands the payout to the gateway (idempotent: the
/// request's own path, and the sweeper's).
pub(crate) async fn complete_request(cx: &Cx, id: PayoutId, at: OffsetDateTime) -> Result<Payout, ActorError> {
    let Some(p) = cx.store.market().get::<Payout>(id).await?.map(|v| v.value) else { return Err(ActorError::NotFound) };
    if p.status != PayoutStatus::Requested {
        return settle_outcome(cx, p).await;
    }
    if let Some(rejected) = take_from_wallet(cx, &p, at).await? {
        return Ok(rejected);
    }
    cx.faults.hit("payout:debited");
    let token = cx.store.market().get::<PayoutMethod>(p.method_id).await?.map(|v| v.value.token);
    let Some(token) = token else {
        // The bank account was removed before the payout went out: give the money back.
        let p = set_status(cx, id, PayoutStatus::Failed, None, Some("payout_method_removed".into()), at).await?;
        return settle_outcome(cx, p).await;
    };
    let req = PayoutRequest { idempotency_key: p.id.to_string(), token, amount: p.amount };
    let reference = cx.gateway.payout(&req).await?;
    metrics::counter!("agora_payouts_total", "outcome" => "sent").increment(1);
    tracing::info!(payout = %p.id, "payout sent to the gateway");
    // A webhook that came first already moved it on; that outcome stands.
    let p = set_status(cx, id, PayoutStatus::Pending, Some(reference), None, at).await?;
    settle_outcome(cx, p).await
}

/// Posts the ledger transaction of a final outcome (idempotent).
async fn settle_outcome(cx: &Cx, p: Payout) -> Result<Payout, ActorError> {
    let t = match p.status {
        PayoutStatus::Paid => Some(txn(p.settle_txn, TxnKind::PayoutSettle, ledger::payout_settle(p.amount), &p)?),
        PayoutStatus::Failed => {
            Some(txn(p.return_txn, TxnKind::PayoutReturn, ledger::payout_return(p.user_id, p.amount), &p)?)
        }
        _ => None,
    };
    if let Some(t) = t {
        // Paid or failed only after the wallet was debited, so payouts holds the amount.
        if cx.store.ledger().post(&t).await? == Posting::Rejected {
            return Err(ActorError::Storage(StoreError::Corrupt {
                table: "ledger_accounts",
                detail: format!("payouts account could not settle payout {}", p.id),
            }));
        }
    }
    Ok(p)
}

/// A webhook said the payout was paid (or failed). The first final outcome stands; a
/// webhook that arrives before the gateway's answer moves the payout on directly.
pub async fn apply_outcome(
    cx: &Cx,
    id: PayoutId,
    paid: bool,
    reference: Option<String>,
    failure: Option<String>,
    at: OffsetDateTime,
) -> Result<Payout, ActorError> {
    let Some(current) = cx.store.market().get::<Payout>(id).await?.map(|v| v.value) else {
        return Err(ActorError::NotFound);
    };
    if current.status == PayoutStatus::Requested {
        // The money must have left the wallet before the outcome can be booked.
        if let Some(rejected) = take_from_wallet(cx, &current, at).await? {
            return Ok(rejected);
        }
    }
    let to = if paid { PayoutStatus::Paid } else { PayoutStatus::Failed };
    let before = current.status;
    let p =
        set_status(cx, id, to, reference, failure.or_else(|| (!paid).then(|| "payout_failed".to_string())), at).await?;
    let p = settle_outcome(cx, p).await?;
    if p.status == to && before != to {
        metrics::counter!("agora_payouts_total", "outcome" => p.status.as_str()).increment(1);
        cx.bus.publish(vec![DomainEvent::PayoutChanged { payout: p.clone() }], at).await;
    }
    Ok(p)
}

/// The wallet owner's payouts are theirs alone.
pub fn visible(p: &Payout, user: UserId, admin: bool) -> bool {
    admin || p.user_id == user
}
