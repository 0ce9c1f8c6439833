//! The sandbox gateway: a card processor's test mode, built in. It accepts any card that
//! passes the checks of `agora_engine::card`, and decides by the well-known test numbers:
//!
//! | number | charge |
//! |---|---|
//! | 4000 0000 0000 0002 | declined, `card_declined` |
//! | 4000 0000 0000 9995 | declined, `insufficient_funds` |
//! | 4000 0000 0000 3220 | pending; a `charge.succeeded` webhook follows |
//! | 4000 0084 0000 1629 | pending; a `charge.failed` webhook (`card_declined`) follows |
//! | any other valid number (4242 4242 4242 4242, 5555 5555 5555 4444, ...) | succeeds |
//!
//! The behaviour is kept in the token (`tok_sbx_<ok|declined|nofunds>_<random>`), never the
//! number. References are derived from the idempotency key, so a repeated call answers what
//! the first one did.
//!
//! Charges of the two pending numbers and payouts are asynchronous, as at a processor: the
//! charge answers `Pending` and queues its outcome the same way payouts do.
//!
//! Payouts are asynchronous, as at a processor: `payout` answers a reference at once and
//! queues a `payout.paid` webhook (`payout.failed` for the IBAN DE62 3704 0044 0532 0130 01)
//! in the `gateway_outbox` table, due one second later; the outbox job delivers it signed,
//! through the same path as a processor's webhook. The event id is derived from the payout,
//! so a repeated call queues nothing more.

use agora_engine::card::CardInput;

use super::{
    BankToken, CardToken, ChargeOutcome, ChargeRequest, Decline, GatewayError, PaymentGateway, PayoutRequest,
    RefundRequest,
};

#[derive(Clone)]
pub struct SandboxGateway {
    /// Where asynchronous outcomes wait for delivery (`None`: payouts are unavailable).
    store: Option<agora_storage::Store>,
}

impl SandboxGateway {
    pub fn new(store: agora_storage::Store) -> SandboxGateway {
        SandboxGateway { store: Some(store) }
    }

    /// Without storage: cards and refunds only (unit tests).
    pub fn offline() -> SandboxGateway {
        SandboxGateway { store: None }
    }
}

/// The IBAN whose payouts the sandbox fails.
const FAILING_IBAN: &str = "DE62370400440532013001";
/// How long after a payout its webhook is due.
const PAYOUT_DELAY_MS: i64 = 1_000;

/// How long after a pending charge its webhook is due.
const CHARGE_DELAY_MS: i64 = 1_000;

const PREFIX: &str = "tok_sbx_";

fn behaviour(digits: &str) -> &'static str {
    match digits {
        "4000000000000002" => "declined",
        "4000000000009995" => "nofunds",
        "4000000000003220" => "async",
        "4000008400001629" => "asyncfail",
        _ => "ok",
    }
}

fn simple(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

impl SandboxGateway {
    /// Queues the webhook `id` (`event` gets its id and creation time) in the outbox, due
    /// `delay_ms` from now.
    async fn queue(&self, id: String, mut event: serde_json::Value, delay_ms: i64) -> Result<(), GatewayError> {
        let store = self
            .store
            .as_ref()
            .ok_or_else(|| GatewayError::Unavailable("sandbox asynchronous outcomes need storage".into()))?;
        let now_ms = i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        event["id"] = id.clone().into();
        event["created"] = (now_ms / 1000).into();
        let body = serde_json::to_vec(&event).map_err(|e| GatewayError::Unavailable(e.to_string()))?;
        let event = agora_storage::payments::OutboxEvent { id, body, due_ms: now_ms + delay_ms };
        store.payments().outbox_put(self.name(), &event).await.map_err(|e| GatewayError::Unavailable(e.to_string()))
    }
}

#[async_trait::async_trait]
impl PaymentGateway for SandboxGateway {
    fn name(&self) -> &'static str {
        "sandbox"
    }

    async fn tokenize(&self, card: &CardInput) -> Result<CardToken, GatewayError> {
        let token = format!("{PREFIX}{}_{}", behaviour(card.number.digits()), uuid::Uuid::new_v4().simple());
        Ok(CardToken { token, card: card.summary() })
    }

    async fn charge(&self, req: &ChargeRequest) -> Result<ChargeOutcome, GatewayError> {
        let rest = req.token.strip_prefix(PREFIX).ok_or(GatewayError::UnknownToken)?;
        let key = simple(&req.idempotency_key);
        let reference = format!("ch_sbx_{key}");
        let outcome = match rest.split('_').next() {
            Some("ok") => ChargeOutcome::Succeeded { reference },
            Some("declined") => ChargeOutcome::Declined { reason: Decline::CardDeclined },
            Some("nofunds") => ChargeOutcome::Declined { reason: Decline::InsufficientFunds },
            Some(later @ ("async" | "asyncfail")) => {
                let succeeded = later == "async";
                let body = serde_json::json!({
                    "type": if succeeded { "charge.succeeded" } else { "charge.failed" },
                    "data": {
                        "reference": reference,
                        "payment_id": req.idempotency_key,
                        "failure": if succeeded { serde_json::Value::Null } else { Decline::CardDeclined.code().into() },
                    },
                });
                self.queue(format!("evt_sbx_charge_{key}"), body, CHARGE_DELAY_MS).await?;
                ChargeOutcome::Pending { reference }
            }
            _ => return Err(GatewayError::UnknownToken),
        };
        Ok(outcome)
    }

    async fn refund(&self, req: &RefundRequest) -> Result<String, GatewayError> {
        if !req.charge.starts_with("ch_sbx_") {
            return Err(GatewayError::UnknownToken);
        }
        Ok(format!("re_sbx_{}", simple(&req.idempotency_key)))
    }

    async fn tokenize_bank(&self, _holder: &str, iban: &agora_engine::card::Iban) -> Result<BankToken, GatewayError> {
        let behaviour = if iban.as_str() == FAILING_IBAN { "fail" } else { "ok" };
        Ok(BankToken {
            token: format!("ba_sbx_{behaviour}_{}", uuid::Uuid::new_v4().simple()),
            country: iban.country().to_string(),
            last4: iban.last4().to_string(),
        })
    }

    async fn payout(&self, req: &PayoutRequest) -> Result<String, GatewayError> {
        let paid = match req.token.strip_prefix("ba_sbx_").and_then(|r| r.split('_').next()) {
            Some("ok") => true,
            Some("fail") => false,
            _ => return Err(GatewayError::UnknownToken),
        };
        let key = simple(&req.idempotency_key);
        let reference = format!("po_sbx_{key}");
        let body = serde_json::json!({
            "type": if paid { "payout.paid" } else { "payout.failed" },
            "data": {
                "reference": reference,
                "payout_id": req.idempotency_key,
                "failure": if paid { serde_json::Value::Null } else { "account_closed".into() },
            },
        });
        self.queue(format!("evt_sbx_payout_{key}"), body, PAYOUT_DELAY_MS).await?;
        Ok(reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agora_engine::Money;

    fn card(n: &str) -> CardInput {
        CardInput::parse(n, 12, 2099, "123", (2026, 12)).expect("card")
    }

    #[tokio::test]
    async fn test_numbers_decide_the_outcome_and_repeats_answer_the_same() {
        let g = SandboxGateway::offline();
        let amount = Money::parse(1_000, "USD").expect("usd");
        let mut outcomes = Vec::new();
        for n in ["4242424242424242", "4000000000000002", "4000000000009995", "5555555555554444"] {
            let t = g.tokenize(&card(n)).await.expect("tokenize");
            assert!(!t.token.contains(&n[..12]), "the token must not carry the number");
            assert_eq!(t.card.last4, n[12..]);
            let req = ChargeRequest { idempotency_key: "pay-1".into(), token: t.token, amount };
            let first = g.charge(&req).await.expect("charge");
            assert_eq!(g.charge(&req).await.expect("again"), first, "same key, same answer");
            outcomes.push(first);
        }
        assert_eq!(outcomes[0], ChargeOutcome::Succeeded { reference: "ch_sbx_pay1".into() });
        assert_eq!(outcomes[1], ChargeOutcome::Declined { reason: Decline::CardDeclined });
        assert_eq!(outcomes[2], ChargeOutcome::Declined { reason: Decline::InsufficientFunds });
        assert!(matches!(outcomes[3], ChargeOutcome::Succeeded { .. }));
        let bad = ChargeRequest { idempotency_key: "k".into(), token: "tok_other".into(), amount };
        assert_eq!(g.charge(&bad).await, Err(GatewayError::UnknownToken));
        let r = RefundRequest { idempotency_key: "ref-1".into(), charge: "ch_sbx_pay1".into(), amount };
        assert_eq!(g.refund(&r).await.expect("refund"), "re_sbx_ref1");
    }
}
