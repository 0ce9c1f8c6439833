//! Card charges: one gateway charge per payment, keyed by the payment id (so a repeat, after
//! a crash or alongside a webhook, charges nothing more), and its outcome booked on the
//! payment by compare-and-set. The first final outcome stands: `pending → succeeded |
//! failed` happens once, whichever of the gateway's answer and its webhook comes first.
//!
//! A charge whose outcome arrives later (`ChargeOutcome::Pending`) leaves the payment
//! pending with the gateway's reference; the `charge.succeeded` or `charge.failed` webhook
//! then books the outcome and carries on with what the payment pays for ([`apply_webhook`]):
//! the milestone's funding, or the booking's confirmation.

use agora_engine::payment::{Payment, PaymentFor, PaymentStatus};
use agora_engine::{DomainEvent, PaymentId, PaymentMethodId};
use agora_storage::payments::PaymentMethod;
use time::OffsetDateTime;

use super::{Caller, Cx};
use crate::gateway::{ChargeOutcome, ChargeRequest, Decline};
use crate::ActorError;

/// Where a payment's charge stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charged {
    Succeeded,
    Failed,
    /// Taken by the gateway; the outcome comes by webhook.
    Pending,
}

impl Charged {
    fn of(p: &Payment) -> Charged {
        match p.status {
            PaymentStatus::Pending => Charged::Pending,
            PaymentStatus::Failed => Charged::Failed,
            PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => Charged::Succeeded,
        }
    }
}

/// Charges a pending payment with the saved card `method` (once, whatever the number of
/// calls) and books the outcome; a payment whose outcome is known is answered as it is.
/// `method` is `None` on the webhook path, where nothing is charged. `None` when the
/// payment does not exist.
pub(crate) async fn charge(
    cx: &Cx,
    payment_id: PaymentId,
    method: Option<PaymentMethodId>,
    at: OffsetDateTime,
) -> Result<Option<(Payment, Charged)>, ActorError> {
    let m = cx.store.market();
    let Some(payment) = m.get::<Payment>(payment_id).await?.map(|v| v.value) else { return Ok(None) };
    let Some(method) = method.filter(|_| payment.status == PaymentStatus::Pending) else {
        let charged = Charged::of(&payment);
        return Ok(Some((payment, charged)));
    };
    let outcome = match m.get::<PaymentMethod>(method).await?.map(|v| v.value.token) {
        Some(token) => {
            let req = ChargeRequest { idempotency_key: payment.id.to_string(), token, amount: payment.amount };
            cx.gateway.charge(&req).await?
        }
        // The card was deleted before the charge went out: nothing was charged.
        None => ChargeOutcome::Declined { reason: Decline::CardDeclined },
    };
    record(cx, payment_id, outcome, at).await.map(Some)
}

/// The refusal a declined charge answers (402 `payment_declined`, with the gateway's reason).
pub(crate) fn declined(p: Option<&Payment>) -> ActorError {
    let reason = p.and_then(|p| p.failure.as_deref()).unwrap_or("card_declined");
    ActorError::Refused(agora_engine::DomainError::conflict(
        agora_engine::codes::PAYMENT_DECLINED,
        format!("the card was declined ({reason})"),
    ))
}

/// Books a charge outcome on a pending payment (a payment already decided is left as it
/// is), publishing `PaymentFailed` once when it failed.
pub(crate) async fn record(
    cx: &Cx,
    payment_id: PaymentId,
    outcome: ChargeOutcome,
    at: OffsetDateTime,
) -> Result<(Payment, Charged), ActorError> {
    let (status, reference, failure) = match outcome {
        ChargeOutcome::Succeeded { reference } => (PaymentStatus::Succeeded, Some(reference), None),
        ChargeOutcome::Declined { reason } => (PaymentStatus::Failed, None, Some(reason.code().to_string())),
        ChargeOutcome::Pending { reference } => (PaymentStatus::Pending, Some(reference), None),
    };
    let mut decided = false;
    let saved = cx
        .store
        .market()
        .update::<Payment, ActorError>(payment_id, |p| {
            decided = false;
            if p.status != PaymentStatus::Pending {
                return Ok(());
            }
            if status != PaymentStatus::Pending {
                p.status = p.status.transition(status).map_err(ActorError::Refused)?;
                p.failure = failure.clone();
                decided = true;
            }
            if reference.is_some() {
                p.gateway_ref = reference.clone();
            }
            p.updated_at = at;
            Ok(())
        })
        .await?
        .ok_or(ActorError::NotFound)?
        .value;
    if decided {
        metrics::counter!("agora_payments_total", "outcome" => saved.status.as_str()).increment(1);
        if saved.status == PaymentStatus::Failed {
            tracing::info!(payment = %saved.id, failure = ?saved.failure, "charge declined");
            cx.bus.publish(vec![DomainEvent::PaymentFailed { payment: saved.clone() }], at).await;
        }
    }
    let charged = Charged::of(&saved);
    Ok((saved, charged))
}

/// A `charge.succeeded` or `charge.failed` webhook: books the outcome on the payment, then
/// finishes what it pays for (idempotent, so a replay or a race with the original request
/// changes nothing more).
pub(crate) async fn apply_webhook(
    cx: &Cx,
    payment_id: PaymentId,
    outcome: ChargeOutcome,
    at: OffsetDateTime,
) -> Result<(), ActorError> {
    let (payment, _) = record(cx, payment_id, outcome, at).await?;
    let Some(txn) = payment.ledger_txn else {
        // Made before charges could be pending: its funding finished with its request.
        tracing::info!(payment = %payment.id, "charge webhook for a payment settled at its request");
        return Ok(());
    };
    match payment.purpose {
        PaymentFor::Milestone { contract_id, milestone_id } => {
            let by = Caller { id: payment.payer_id, role: agora_engine::Role::Client };
            super::milestones::complete_funding(cx, contract_id, milestone_id, payment.id, None, txn, by, at).await?;
        }
        PaymentFor::Booking { booking_id } => {
            super::bookings::complete_payment(cx, booking_id, payment.id, None, at).await?;
        }
    }
    Ok(())
}

/// Posts a transaction out of an escrow (a milestone's or a booking's), then returns
/// `refund` of it to the card of `payment` (nothing when `None`). Both steps are idempotent.
/// A refusal by the ledger means the escrow did not hold the amount: a bug, never a user
/// error, so it is loud.
pub(crate) async fn post_from_escrow(
    cx: &Cx,
    txn: &agora_engine::ledger::Transaction,
    payment: Option<PaymentId>,
    refund: Option<agora_engine::Money>,
    at: OffsetDateTime,
) -> Result<&'static str, ActorError> {
    match cx.store.ledger().post(txn).await? {
        agora_storage::ledger::Posting::Posted => {
            if let Some(amount) = refund {
                refund_to_card(cx, payment, txn.id, amount, at).await?;
            }
            Ok("posted")
        }
        agora_storage::ledger::Posting::Rejected => {
            tracing::error!(txn = %txn.id, reference = %txn.reference, "escrow movement refused by the ledger");
            Err(ActorError::Storage(agora_storage::StoreError::Corrupt {
                table: "ledger_accounts",
                detail: format!("the escrow of {} could not pay out transaction {}", txn.reference, txn.id),
            }))
        }
    }
}

/// One of `user`'s saved cards by id: a card of anybody else is a field error (as if it
/// did not exist).
pub(crate) async fn own_card(
    cx: &Cx,
    user: agora_engine::UserId,
    id: PaymentMethodId,
) -> Result<PaymentMethod, ActorError> {
    cx.store.market().get::<PaymentMethod>(id).await?.map(|v| v.value).filter(|m| m.user_id == user).ok_or_else(|| {
        ActorError::from(agora_engine::DomainError::invalid_field(
            "payment_method_id",
            "is not one of your saved cards",
        ))
    })
}

/// Returns `amount` of a payment to the card it charged: the gateway's refund (keyed by the
/// ledger transaction `txn_id` that took it out of escrow, so a repeat refunds nothing more)
/// and the payment's record of it (once per transaction). Nothing without a payment.
pub(crate) async fn refund_to_card(
    cx: &Cx,
    payment_id: Option<PaymentId>,
    txn_id: agora_engine::LedgerTxnId,
    amount: agora_engine::Money,
    at: OffsetDateTime,
) -> Result<(), ActorError> {
    let Some(payment_id) = payment_id else { return Ok(()) };
    let m = cx.store.market();
    let Some(p) = m.get::<Payment>(payment_id).await?.map(|v| v.value) else { return Ok(()) };
    if p.refund_txns.contains(&txn_id) {
        return Ok(());
    }
    let req = crate::gateway::RefundRequest {
        idempotency_key: txn_id.to_string(),
        charge: p.gateway_ref.clone().unwrap_or_default(),
        amount,
    };
    cx.gateway.refund(&req).await?;
    m.update::<Payment, ActorError>(payment_id, |p| {
        if !p.refund_txns.contains(&txn_id) {
            p.refund(amount.minor(), at).map_err(ActorError::Refused)?;
            p.refund_txns.push(txn_id);
        }
        Ok(())
    })
    .await?;
    metrics::counter!("agora_refunds_total").increment(1);
    Ok(())
}
