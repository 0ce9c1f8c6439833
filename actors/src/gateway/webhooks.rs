//! Signed gateway webhooks: verification, de-duplication and application. The HTTP route
//! and the sandbox's outbox both come through [`receive`], so the sandbox's outcomes pass
//! the same signature check as a processor's.
//!
//! Events: `payout.paid` and `payout.failed` (`data.payout_id`), `charge.succeeded` and
//! `charge.failed` (`data.payment_id`, `data.failure`). An event is applied before its id
//! is recorded, and applying is idempotent (each outcome moves its payout or payment by
//! compare-and-set and posts a ledger transaction fixed in advance), so a replay before or
//! after the record changes nothing, and events may arrive in any order: the first final
//! outcome of a payout or a charge stands.

use agora_engine::webhook::{self, SignatureError};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::market::Cx;
use crate::ActorError;

/// The header that carries the signature.
pub const SIGNATURE_HEADER: &str = "Agora-Signature";

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// No such gateway here.
    #[error("unknown gateway")]
    UnknownGateway,
    #[error("bad webhook signature: {0:?}")]
    Signature(SignatureError),
    #[error("webhook body: {0}")]
    Malformed(String),
    #[error(transparent)]
    Actor(#[from] ActorError),
}

#[derive(Debug, Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    data: EventData,
}

#[derive(Debug, Default, Deserialize)]
struct EventData {
    reference: Option<String>,
    payout_id: Option<String>,
    payment_id: Option<String>,
    failure: Option<String>,
}

/// What became of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    Applied,
    /// Seen before: nothing done.
    Duplicate,
    /// A type this build does not act on (acknowledged, so the gateway stops resending).
    Ignored,
}

/// Verifies, de-duplicates and applies one webhook of `gateway`.
pub async fn receive(
    cx: &Cx,
    gateway: &str,
    signature: Option<&str>,
    body: &[u8],
    now: OffsetDateTime,
) -> Result<Received, WebhookError> {
    if gateway != cx.gateway.name() {
        return Err(WebhookError::UnknownGateway);
    }
    let header = signature.ok_or(WebhookError::Signature(SignatureError::Malformed))?;
    webhook::verify(cx.webhook_secret.bytes(), header, body, now.unix_timestamp(), webhook::TOLERANCE_SECS)
        .map_err(WebhookError::Signature)?;
    let event: Event = serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
    if event.id.is_empty() || event.id.len() > 255 {
        return Err(WebhookError::Malformed("event id must be 1 to 255 characters".into()));
    }
    let payments = cx.store.payments();
    if payments.webhook_seen(gateway, &event.id).await.map_err(ActorError::from)? {
        metrics::counter!("agora_webhooks_total", "outcome" => "duplicate").increment(1);
        return Ok(Received::Duplicate);
    }
    let outcome = match event.kind.as_str() {
        "payout.paid" | "payout.failed" => {
            let id = event
                .data
                .payout_id
                .as_deref()
                .and_then(|s| agora_engine::PayoutId::parse(s).ok())
                .ok_or_else(|| WebhookError::Malformed("data.payout_id must be a payout id".into()))?;
            let paid = event.kind == "payout.paid";
            crate::market::payouts::apply_outcome(cx, id, paid, event.data.reference, event.data.failure, now).await?;
            Received::Applied
        }
        "charge.succeeded" | "charge.failed" => {
            let id = event
                .data
                .payment_id
                .as_deref()
                .and_then(|s| agora_engine::PaymentId::parse(s).ok())
                .ok_or_else(|| WebhookError::Malformed("data.payment_id must be a payment id".into()))?;
            let reference = event.data.reference.unwrap_or_default();
            let outcome = if event.kind == "charge.succeeded" {
                super::ChargeOutcome::Succeeded { reference }
            } else {
                let reason = event.data.failure.as_deref().and_then(super::Decline::parse);
                super::ChargeOutcome::Declined { reason: reason.unwrap_or(super::Decline::CardDeclined) }
            };
            crate::market::charges::apply_webhook(cx, id, outcome, now).await?;
            Received::Applied
        }
        _ => Received::Ignored,
    };
    payments.webhook_applied(gateway, &event.id, now).await.map_err(ActorError::from)?;
    let label = if outcome == Received::Applied { "applied" } else { "ignored" };
    metrics::counter!("agora_webhooks_total", "outcome" => label).increment(1);
    tracing::info!(gateway, event = %event.id, kind = %event.kind, outcome = label, "webhook");
    Ok(outcome)
}

/// Delivers the built-in gateway's due webhooks, signed now, through [`receive`]; each is
/// removed once applied (a failure leaves it for the next pass).
pub async fn deliver_outbox(cx: &Cx, now: OffsetDateTime) -> Result<usize, ActorError> {
    let gateway = cx.gateway.name();
    let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX);
    let mut n = 0;
    for e in cx.store.payments().outbox_due(gateway, now_ms, 100).await? {
        let header = webhook::sign(cx.webhook_secret.bytes(), now.unix_timestamp(), &e.body);
        match receive(cx, gateway, Some(&header), &e.body, now).await {
            Ok(_) => {
                cx.store.payments().outbox_done(gateway, &e).await?;
                n += 1;
            }
            Err(err) => tracing::warn!(event = %e.id, error = %err, "sandbox webhook not applied; will retry"),
        }
    }
    Ok(n)
}
