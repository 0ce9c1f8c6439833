//! The intent sweeper: completes or undoes multi-step operations that a crash interrupted
//! (see `jobs` for accept and `bookings` for confirm). It runs once at start-up, before the
//! server takes requests, over every intent recorded before this process started, and then
//! periodically over intents older than a grace period (so it never races an operation
//! that is still running on another node). Each repair is idempotent: running it twice, or
//! alongside the original operation, leaves the same single effect.

use agora_storage::intents::{Intent, Step};
use time::OffsetDateTime;

use super::Cx;
use crate::ActorError;

/// Intents looked at per sweep.
const BATCH: usize = 500;

/// Repairs every intent created before `before`; answers how many it finished.
pub async fn sweep(cx: &Cx, before: OffsetDateTime, now: OffsetDateTime) -> Result<usize, ActorError> {
    let pending = cx.store.intents().pending(BATCH).await?;
    let mut n = 0;
    for intent in pending.into_iter().filter(|i| i.created_at < before) {
        let outcome = match repair(cx, &intent, now).await {
            Ok(outcome) => outcome,
            // One intent that cannot be repaired now must not stop the others (nor the
            // server's start): it stays, is counted and logged, and is tried again.
            Err(e) if !matches!(e, ActorError::Storage(agora_storage::StoreError::Unavailable(_))) => {
                tracing::error!(intent = %intent.id, step = ?intent.step, error = %e, "interrupted operation could not be repaired");
                metrics::counter!("agora_intents_repaired_total", "outcome" => "failed").increment(1);
                continue;
            }
            Err(e) => return Err(e),
        };
        cx.store.intents().done(intent.id).await?;
        tracing::warn!(intent = %intent.id, step = ?intent.step, outcome, "interrupted operation repaired");
        metrics::counter!("agora_intents_repaired_total", "outcome" => outcome).increment(1);
        n += 1;
    }
    // Ledger transactions a crash left half applied (their intents, if any, are done above).
    let ledger = cx.store.ledger();
    for id in ledger.open(BATCH).await? {
        let stale = ledger.transaction(id).await?.is_none_or(|r| r.value.txn.at < before);
        if stale {
            let outcome = ledger.resume(id).await?;
            tracing::warn!(txn = %id, ?outcome, "interrupted ledger transaction finished");
            metrics::counter!("agora_ledger_resumed_total").increment(1);
            n += 1;
        }
    }
    Ok(n)
}

async fn repair(cx: &Cx, intent: &Intent, now: OffsetDateTime) -> Result<&'static str, ActorError> {
    match intent.step.clone() {
        Step::Accept { proposal_id, contract_id, client_id, .. } => {
            super::jobs::complete_accept(cx, proposal_id, contract_id, client_id, now).await
        }
        Step::ConfirmBooking { booking_id, provider_id, by, charge: None } => {
            super::bookings::complete_confirm(cx, booking_id, provider_id, by, now).await
        }
        Step::ConfirmBooking { booking_id, charge: Some((payment_id, method_id)), .. } => {
            if let Some(p) = cx.store.market().get::<agora_engine::Payment>(payment_id).await? {
                // The crash may have come between the payment's record and its listing.
                cx.store.market().index(&p.value).await?;
            }
            let (_, charged) =
                super::bookings::complete_payment(cx, booking_id, payment_id, Some(method_id), now).await?;
            Ok(match charged {
                super::charges::Charged::Succeeded => "paid",
                super::charges::Charged::Failed => "declined",
                super::charges::Charged::Pending => "charge_pending",
            })
        }
        Step::WithdrawJob { job_id } => super::jobs::complete_withdraw(cx, job_id, now).await,
        Step::SettleBooking { booking_id, txn_id } => {
            super::bookings::complete_settlement(cx, booking_id, txn_id).await
        }
        Step::FundMilestone { contract_id, milestone_id, payment_id, payment_method_id, txn_id, by } => {
            if let Some(p) = cx.store.market().get::<agora_engine::Payment>(payment_id).await? {
                // The crash may have come between the payment's record and its listing.
                cx.store.market().index(&p.value).await?;
            }
            let caller = super::Caller { id: by, role: agora_engine::Role::Client };
            let funded = super::milestones::complete_funding(
                cx,
                contract_id,
                milestone_id,
                payment_id,
                Some(payment_method_id),
                txn_id,
                caller,
                now,
            )
            .await?;
            Ok(match funded {
                None => "declined",
                Some(f) if f.payment.status == agora_engine::payment::PaymentStatus::Pending => "charge_pending",
                Some(_) => "funded",
            })
        }
        Step::SettleMilestone { contract_id, milestone_id, txn_id } => {
            super::milestones::complete_settlement(cx, contract_id, milestone_id, txn_id).await
        }
        Step::SettleContract { contract_id } => {
            let Some(c) = cx.store.market().get::<agora_engine::Contract>(contract_id).await? else {
                return Ok("gone");
            };
            if !c.value.status.is_terminal() {
                return Ok("not_ended");
            }
            super::milestones::settle_contract(cx, &c.value, now).await?;
            Ok("settled")
        }
        Step::Payout { payout_id } => {
            let Some(p) = cx.store.market().get::<agora_engine::payment::Payout>(payout_id).await? else {
                // Interrupted before the payout was written: nothing moved.
                return Ok("never_started");
            };
            // The crash may have come between the record and its listing.
            cx.store.market().index(&p.value).await?;
            let p = super::payouts::complete_request(cx, payout_id, now).await?;
            Ok(p.status.as_str())
        }
        Step::ResolveDispute { contract_id, plan, by } => {
            super::milestones::carry_out_resolution(cx, contract_id, &plan, by, now).await?;
            Ok("resolved")
        }
    }
}
