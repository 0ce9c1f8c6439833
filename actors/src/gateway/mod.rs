//! The payment gateway port: everything Agora asks of a card processor, behind one trait.
//! Commands hold an `Arc<dyn PaymentGateway>` and never a processor's own types, so a real
//! processor's adapter is one more implementation of this trait (docs/payments.md "The
//! gateway port"). The built-in one is [`sandbox::SandboxGateway`], which behaves like a
//! processor's test mode.
//!
//! Every call that moves money carries an idempotency key (the payment or payout id): a
//! call repeated after a crash or a timeout gets the first call's answer and moves nothing
//! twice.

pub mod sandbox;
pub mod webhooks;

use agora_engine::card::CardInput;
use agora_engine::payment::CardSummary;
use agora_engine::Money;

/// A tokenized card: what Agora keeps instead of the number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardToken {
    pub token: String,
    pub card: CardSummary,
}

/// Why a processor refused a charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decline {
    /// A generic decline.
    CardDeclined,
    InsufficientFunds,
}

impl Decline {
    pub fn code(self) -> &'static str {
        match self {
            Decline::CardDeclined => "card_declined",
            Decline::InsufficientFunds => "insufficient_funds",
        }
    }

    pub fn parse(code: &str) -> Option<Decline> {
        match code {
            "card_declined" => Some(Decline::CardDeclined),
            "insufficient_funds" => Some(Decline::InsufficientFunds),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Authorized and captured; `reference` is the processor's id of the charge.
    Succeeded {
        reference: String,
    },
    Declined {
        reason: Decline,
    },
    /// Taken, with the outcome still to come: it arrives as a signed `charge.succeeded` or
    /// `charge.failed` webhook naming the payment (the charge's idempotency key).
    Pending {
        reference: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    pub idempotency_key: String,
    pub token: String,
    pub amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    pub idempotency_key: String,
    /// The charge's reference.
    pub charge: String,
    pub amount: Money,
}

/// A tokenized bank account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankToken {
    pub token: String,
    pub country: String,
    pub last4: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutRequest {
    /// The payout's id: a repeat answers the same and pays nothing more.
    pub idempotency_key: String,
    pub token: String,
    pub amount: Money,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GatewayError {
    /// The token is not one this gateway issued.
    #[error("unknown payment method token")]
    UnknownToken,
    /// The processor could not be reached or failed; the call may be retried with the same key.
    #[error("payment gateway unavailable: {0}")]
    Unavailable(String),
}

impl From<GatewayError> for crate::ActorError {
    /// A gateway that cannot answer is an outage to the caller (503), never its error.
    fn from(e: GatewayError) -> Self {
        crate::ActorError::Storage(agora_storage::StoreError::Unavailable(format!("payment gateway: {e}")))
    }
}

#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync + 'static {
    /// A short name, used in the webhook route (`/api/payments/webhooks/{name}`) and metrics.
    fn name(&self) -> &'static str;

    /// Exchanges a card for a token. The number and cvc go no further than this call.
    async fn tokenize(&self, card: &CardInput) -> Result<CardToken, GatewayError>;

    /// Authorizes and captures `amount` on the tokenized card, or takes the charge and
    /// answers `Pending` when its outcome will come by webhook.
    async fn charge(&self, req: &ChargeRequest) -> Result<ChargeOutcome, GatewayError>;

    /// Returns `amount` of a captured charge to the card; answers the refund's reference.
    async fn refund(&self, req: &RefundRequest) -> Result<String, GatewayError>;

    /// Exchanges a checked IBAN and its holder's name for a token.
    async fn tokenize_bank(&self, holder: &str, iban: &agora_engine::card::Iban) -> Result<BankToken, GatewayError>;

    /// Sends `amount` to the tokenized bank account; answers the payout's reference. The
    /// outcome (`payout.paid` or `payout.failed`) arrives later as a signed webhook.
    async fn payout(&self, req: &PayoutRequest) -> Result<String, GatewayError>;
}
