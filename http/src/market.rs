//! Glue the marketplace routes share: running commands, parsing money and text from
//! request bodies.

use agora_actors::market::Caller;
use agora_engine::{FieldErrors, Money};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Money as it arrives in a body: `{"amount": 12500, "currency": "USD"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MoneyBody {
    pub amount: Option<i64>,
    pub currency: Option<String>,
}

impl MoneyBody {
    pub fn parse(&self) -> Result<Money, agora_engine::DomainError> {
        let amount = self.amount.ok_or_else(|| agora_engine::DomainError::invalid("amount is required"))?;
        Money::parse(amount, self.currency.as_deref().unwrap_or("USD"))
    }
}

/// Parses an optional money field into `f`.
pub fn money(f: &mut FieldErrors, field: &str, raw: Option<&MoneyBody>) -> Option<Money> {
    raw.and_then(|m| f.check(field, m.parse()))
}

/// Parses a required money field into `f`.
pub fn required_money(f: &mut FieldErrors, field: &str, raw: Option<&MoneyBody>) -> Option<Money> {
    match raw {
        None => {
            f.add(field, "is required");
            None
        }
        Some(m) => f.check(field, m.parse().and_then(agora_engine::market::positive)),
    }
}

/// Runs a marketplace command on its aggregate's worker.
pub async fn run<C>(state: &AppState, cmd: C) -> Result<C::Output, ApiError>
where
    C: agora_actors::market::Command,
    agora_actors::market::Market: actix::Handler<C>,
{
    Ok(state.hub.market.send(cmd).await??)
}

/// The caller as commands know it.
pub fn caller(user: &crate::auth::AuthUser) -> Caller {
    Caller { id: user.id, role: user.role }
}

/// Optional text: trimmed, empty means absent, bounded.
pub fn optional_text(f: &mut FieldErrors, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    match raw.map(str::trim) {
        None | Some("") => None,
        Some(t) => f.check(field, agora_engine::market::text(t, 1, max)),
    }
}

/// Required text, bounded.
pub fn required_text(f: &mut FieldErrors, field: &str, raw: Option<&str>, min: usize, max: usize) -> Option<String> {
    match raw {
        None => {
            f.add(field, "is required");
            None
        }
        Some(t) => f.check(field, agora_engine::market::text(t, min, max)),
    }
}

/// Text a create requires and an edit may leave out (absent on an edit: `None`, unchanged).
pub fn text_field(
    f: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    creating: bool,
    min: usize,
    max: usize,
) -> Option<String> {
    match (raw, creating) {
        (None, false) => None,
        (raw, _) => required_text(f, field, raw, min, max),
    }
}

/// A search cursor (opaque offset) from `?cursor=`.
pub fn search_offset(cursor: Option<&str>) -> Result<usize, ApiError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => agora_storage::search::decode_offset(c).map_err(ApiError::from),
    }
}
