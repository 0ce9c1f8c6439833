//! Money: integer minor units plus an ISO 4217 currency code. Never floating point.

use std::fmt;

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let b = s.as_bytes();
        if b.len() == 3 && b.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency([b[0], b[1], b[2]]))
        } else {
            Err(DomainError::invalid("currency must be a three-letter ISO 4217 code such as USD"))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII uppercase letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An amount of money; `minor` is in the currency's minor unit (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    /// A non-negative amount.
    pub fn parse(minor: i64, currency: &str) -> Result<Self, DomainError> {
        let currency = Currency::parse(currency)?;
        if minor < 0 {
            return Err(DomainError::invalid("amount must not be negative"));
        }
        Ok(Money { minor, currency })
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MoneyWire {
    amount: i64,
    currency: String,
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        MoneyWire { amount: self.minor, currency: self.currency.to_string() }.serialize(s)
    }
}

impl<'de> serde::Deserialize<'de> for Money {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = MoneyWire::deserialize(d)?;
        Money::parse(w.amount, &w.currency).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_validates_and_round_trips() {
        let m: Money = serde_json::from_str(r#"{"amount":12500,"currency":"USD"}"#).expect("valid");
        assert_eq!(m.minor(), 12500);
        assert_eq!(m.currency(), Currency::USD);
        assert!(serde_json::from_str::<Money>(r#"{"amount":-1,"currency":"USD"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":1,"currency":"usd"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount":1.5,"currency":"USD"}"#).is_err());
    }
}
