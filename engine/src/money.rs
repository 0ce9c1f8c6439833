//! Money: integer minor units plus an ISO 4217 currency code. Never floating point.
//!
//! Only the active ISO 4217 currencies that have a minor unit are accepted (the table below;
//! funds, precious metals, SDRs and the testing codes such as `XAU`, `XDR`, `XTS`, `XXX` are
//! not money a marketplace moves). Each currency knows its minor-unit exponent (2 for USD:
//! cents; 0 for JPY; 3 for KWD). Amounts are capped at [`Money::MAX_MINOR`] so that sums of
//! many amounts (ledgers, fees, milestone splits) stay far from `i64` overflow.

use std::fmt;

use crate::error::DomainError;

/// Active ISO 4217 codes (list of 2026) with their minor-unit exponent, sorted by code.
#[rustfmt::skip]
const ISO_4217: &[(&str, u8)] = &[
    ("AED", 2), ("AFN", 2), ("ALL", 2), ("AMD", 2), ("AOA", 2), ("ARS", 2), ("AUD", 2), ("AWG", 2),
    ("AZN", 2), ("BAM", 2), ("BBD", 2), ("BDT", 2), ("BGN", 2), ("BHD", 3), ("BIF", 0), ("BMD", 2),
    ("BND", 2), ("BOB", 2), ("BOV", 2), ("BRL", 2), ("BSD", 2), ("BTN", 2), ("BWP", 2), ("BYN", 2),
    ("BZD", 2), ("CAD", 2), ("CDF", 2), ("CHE", 2), ("CHF", 2), ("CHW", 2), ("CLF", 4), ("CLP", 0),
    ("CNY", 2), ("COP", 2), ("COU", 2), ("CRC", 2), ("CUP", 2), ("CVE", 2), ("CZK", 2), ("DJF", 0),
    ("DKK", 2), ("DOP", 2), ("DZD", 2), ("EGP", 2), ("ERN", 2), ("ETB", 2), ("EUR", 2), ("FJD", 2),
    ("FKP", 2), ("GBP", 2), ("GEL", 2), ("GHS", 2), ("GIP", 2), ("GMD", 2), ("GNF", 0), ("GTQ", 2),
    ("GYD", 2), ("HKD", 2), ("HNL", 2), ("HTG", 2), ("HUF", 2), ("IDR", 2), ("ILS", 2), ("INR", 2),
    ("IQD", 3), ("IRR", 2), ("ISK", 0), ("JMD", 2), ("JOD", 3), ("JPY", 0), ("KES", 2), ("KGS", 2),
    ("KHR", 2), ("KMF", 0), ("KPW", 2), ("KRW", 0), ("KWD", 3), ("KYD", 2), ("KZT", 2), ("LAK", 2),
    ("LBP", 2), ("LKR", 2), ("LRD", 2), ("LSL", 2), ("LYD", 3), ("MAD", 2), ("MDL", 2), ("MGA", 2),
    ("MKD", 2), ("MMK", 2), ("MNT", 2), ("MOP", 2), ("MRU", 2), ("MUR", 2), ("MVR", 2), ("MWK", 2),
    ("MXN", 2), ("MXV", 2), ("MYR", 2), ("MZN", 2), ("NAD", 2), ("NGN", 2), ("NIO", 2), ("NOK", 2),
    ("NPR", 2), ("NZD", 2), ("OMR", 3), ("PAB", 2), ("PEN", 2), ("PGK", 2), ("PHP", 2), ("PKR", 2),
    ("PLN", 2), ("PYG", 0), ("QAR", 2), ("RON", 2), ("RSD", 2), ("RUB", 2), ("RWF", 0), ("SAR", 2),
    ("SBD", 2), ("SCR", 2), ("SDG", 2), ("SEK", 2), ("SGD", 2), ("SHP", 2), ("SLE", 2), ("SOS", 2),
    ("SRD", 2), ("SSP", 2), ("STN", 2), ("SVC", 2), ("SYP", 2), ("SZL", 2), ("THB", 2), ("TJS", 2),
    ("TMT", 2), ("TND", 3), ("TOP", 2), ("TRY", 2), ("TTD", 2), ("TWD", 2), ("TZS", 2), ("UAH", 2),
    ("UGX", 0), ("USD", 2), ("USN", 2), ("UYI", 0), ("UYU", 2), ("UYW", 4), ("UZS", 2), ("VED", 2),
    ("VES", 2), ("VND", 0), ("VUV", 0), ("WST", 2), ("XAF", 0), ("XCD", 2), ("XCG", 2), ("XOF", 0),
    ("XPF", 0), ("YER", 2), ("ZAR", 2), ("ZMW", 2), ("ZWG", 2),
];

/// An active ISO 4217 currency (see the table above); built only by [`Currency::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

impl Currency {
    pub const USD: Currency = Currency { code: *b"USD", exponent: 2 };

    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match ISO_4217.binary_search_by(|(code, _)| (*code).cmp(s)) {
            Ok(i) => {
                let (code, exponent) = ISO_4217[i];
                let b = code.as_bytes();
                Ok(Currency { code: [b[0], b[1], b[2]], exponent })
            }
            Err(_) => Err(DomainError::invalid("currency must be an active ISO 4217 code such as USD or EUR")),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only codes from the ISO table (ASCII uppercase letters) are ever stored.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    /// Digits after the decimal point of the major unit: 2 for USD (cents), 0 for JPY, 3 for KWD.
    pub fn exponent(&self) -> u8 {
        self.exponent
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
    /// The largest amount accepted, in minor units: 10^12 (ten billion USD, or one trillion
    /// JPY). A million such amounts still sum far below `i64::MAX` (about 9.2 * 10^18).
    pub const MAX_MINOR: i64 = 1_000_000_000_000;

    /// A non-negative amount of at most [`Money::MAX_MINOR`] minor units.
    pub fn parse(minor: i64, currency: &str) -> Result<Self, DomainError> {
        Money::of(minor, Currency::parse(currency)?)
    }

    /// `minor` units of an already parsed currency, with the bounds of [`Money::parse`].
    pub fn of(minor: i64, currency: Currency) -> Result<Self, DomainError> {
        if minor < 0 {
            return Err(DomainError::invalid("amount must not be negative"));
        }
        if minor > Self::MAX_MINOR {
            return Err(DomainError::invalid(format!("amount must be at most {} minor units", Self::MAX_MINOR)));
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

impl fmt::Display for Money {
    /// `125.00 USD`, `5000 JPY`: the major unit with the currency's own number of decimals.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exp = u32::from(self.currency.exponent);
        if exp == 0 {
            return write!(f, "{} {}", self.minor, self.currency);
        }
        let unit = 10_i64.pow(exp);
        write!(f, "{}.{:0width$} {}", self.minor / unit, self.minor % unit, self.currency, width = exp as usize)
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

    #[test]
    fn only_active_iso_4217_currencies_are_accepted() {
        for code in ["USD", "EUR", "JPY", "KWD", "CHF", "XOF", "CLF"] {
            assert_eq!(Currency::parse(code).expect(code).as_str(), code);
        }
        // Three capital letters are not enough; nor are metals, SDRs, test codes or withdrawn ones.
        for code in ["ABC", "XAU", "XDR", "XTS", "XXX", "HRK", "VEF", "usd", "US", "USDD", ""] {
            assert!(Currency::parse(code).is_err(), "{code} accepted");
        }
        assert!(serde_json::from_str::<Money>(r#"{"amount":100,"currency":"ABC"}"#).is_err());
    }

    #[test]
    fn currencies_expose_their_minor_unit_exponent() {
        let exp = |c: &str| Currency::parse(c).expect(c).exponent();
        assert_eq!(exp("USD"), 2);
        assert_eq!(exp("EUR"), 2);
        assert_eq!(exp("JPY"), 0);
        assert_eq!(exp("KRW"), 0);
        assert_eq!(exp("KWD"), 3);
        assert_eq!(exp("BHD"), 3);
        assert_eq!(exp("CLF"), 4);
        assert_eq!(Currency::USD, Currency::parse("USD").expect("usd"));
    }

    #[test]
    fn the_table_is_sorted_unique_and_well_formed() {
        // binary_search needs it sorted; duplicates would hide one exponent.
        assert!(ISO_4217.windows(2).all(|w| w[0].0 < w[1].0), "ISO_4217 is not strictly sorted");
        assert!(ISO_4217.iter().all(|(c, e)| c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) && *e <= 4));
    }

    #[test]
    fn money_displays_in_major_units_with_the_currency_exponent() {
        let m = |x, c| Money::parse(x, c).expect("money").to_string();
        assert_eq!(m(12_500, "USD"), "125.00 USD");
        assert_eq!(m(5, "EUR"), "0.05 EUR");
        assert_eq!(m(5_000, "JPY"), "5000 JPY");
        assert_eq!(m(1_234, "KWD"), "1.234 KWD");
    }

    #[test]
    fn amounts_are_capped_at_max_minor() {
        assert_eq!(Money::parse(Money::MAX_MINOR, "USD").expect("at the cap").minor(), Money::MAX_MINOR);
        assert!(Money::parse(Money::MAX_MINOR + 1, "USD").is_err());
        assert!(Money::parse(i64::MAX, "USD").is_err());
        let json = format!(r#"{{"amount":{},"currency":"USD"}}"#, i64::MAX);
        assert!(serde_json::from_str::<Money>(&json).is_err());
    }
}
