//! The sandbox gateway: a card processor's test mode, built in. It accepts any card that
//! passes the checks of `agora_engine::card`, and decides by the well-known test numbers:
//!
//! | number | charge |
//! |---|---|
//! | 4000 0000 0000 0002 | declined, `card_declined` |
//! | 4000 0000 0000 9995 | declined, `insufficient_funds` |
//! | any other valid number (4242 4242 4242 4242, 5555 5555 5555 4444, ...) | succeeds |
//!
//! The behaviour is kept in the token (`tok_sbx_<ok|declined|nofunds>_<random>`), never the
//! number, so the sandbox needs no storage of its own. References are derived from the
//! idempotency key, so a repeated call answers what the first one did.

use agora_engine::card::CardInput;

use super::{CardToken, ChargeOutcome, ChargeRequest, Decline, GatewayError, PaymentGateway, RefundRequest};

#[derive(Debug, Clone, Default)]
pub struct SandboxGateway;

const PREFIX: &str = "tok_sbx_";

fn behaviour(digits: &str) -> &'static str {
    match digits {
        "4000000000000002" => "declined",
        "4000000000009995" => "nofunds",
        _ => "ok",
    }
}

fn simple(key: &str) -> String {
    key.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
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
        let outcome = match rest.split('_').next() {
            Some("ok") => ChargeOutcome::Succeeded { reference: format!("ch_sbx_{}", simple(&req.idempotency_key)) },
            Some("declined") => ChargeOutcome::Declined { reason: Decline::CardDeclined },
            Some("nofunds") => ChargeOutcome::Declined { reason: Decline::InsufficientFunds },
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
        let g = SandboxGateway;
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
