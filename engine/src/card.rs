//! Card and bank-account input, checked before anything reaches a gateway. A [`CardNumber`]
//! lives only for the request that tokenizes it: it has no `Serialize`, and its `Debug`
//! shows the brand and last four digits only, so it cannot end up in a log or a row.

use std::fmt;

use crate::error::{DomainError, FieldErrors};
use crate::payment::CardSummary;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Brand {
    Visa,
    Mastercard,
    Amex,
    Discover,
}

impl Brand {
    pub fn as_str(self) -> &'static str {
        match self {
            Brand::Visa => "visa",
            Brand::Mastercard => "mastercard",
            Brand::Amex => "amex",
            Brand::Discover => "discover",
        }
    }

    /// The brand from the number's prefix (IIN ranges) and length.
    fn of(digits: &str) -> Option<Brand> {
        let n = digits.len();
        let prefix = |k: usize| digits.get(..k).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
        if digits.starts_with('4') && matches!(n, 13 | 16 | 19) {
            Some(Brand::Visa)
        } else if ((51..=55).contains(&prefix(2)) || (2221..=2720).contains(&prefix(4))) && n == 16 {
            Some(Brand::Mastercard)
        } else if matches!(prefix(2), 34 | 37) && n == 15 {
            Some(Brand::Amex)
        } else if (prefix(4) == 6011 || prefix(2) == 65 || (644..=649).contains(&prefix(3))) && (16..=19).contains(&n) {
            Some(Brand::Discover)
        } else {
            None
        }
    }
}

/// The Luhn (mod 10) check digit test.
pub fn luhn_ok(digits: &str) -> bool {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return false;
        }
        let mut d = u32::from(c - b'0');
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    !digits.is_empty() && sum.is_multiple_of(10)
}

/// A card number that passed the Luhn check and has a known brand.
#[derive(Clone, PartialEq, Eq)]
pub struct CardNumber {
    digits: String,
    brand: Brand,
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber({} ending {})", self.brand.as_str(), self.last4())
    }
}

impl CardNumber {
    /// Spaces and dashes are allowed between digits.
    pub fn parse(raw: &str) -> Result<CardNumber, DomainError> {
        let digits: String = raw.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if digits.len() < 12 || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DomainError::invalid("must be 12 to 19 digits"));
        }
        if !luhn_ok(&digits) {
            return Err(DomainError::invalid("is not a valid card number"));
        }
        let brand = Brand::of(&digits).ok_or_else(|| DomainError::invalid("card brand is not accepted"))?;
        Ok(CardNumber { digits, brand })
    }

    pub fn brand(&self) -> Brand {
        self.brand
    }

    pub fn last4(&self) -> &str {
        &self.digits[self.digits.len() - 4..]
    }

    /// The digits, for the gateway adapter only.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

/// A card as submitted: number, expiry and security code, validated together.
#[derive(Debug, Clone)]
pub struct CardInput {
    pub number: CardNumber,
    pub exp_month: u8,
    pub exp_year: u16,
}

impl CardInput {
    /// `today` is (year, month) in UTC: a card is valid through the end of its expiry month.
    pub fn parse(
        number: &str,
        exp_month: i64,
        exp_year: i64,
        cvc: &str,
        today: (i32, u8),
    ) -> Result<CardInput, DomainError> {
        let mut f = FieldErrors::new();
        let number = f.check("number", CardNumber::parse(number));
        let month = u8::try_from(exp_month).ok().filter(|m| (1..=12).contains(m));
        if month.is_none() {
            f.add("exp_month", "must be 1 to 12");
        }
        let year = u16::try_from(exp_year).ok().filter(|y| (2000..=2100).contains(y));
        if year.is_none() {
            f.add("exp_year", "must be a four-digit year");
        }
        if let (Some(m), Some(y)) = (month, year) {
            if (i32::from(y), m) < today {
                f.add("exp_year", "the card has expired");
            }
        }
        let cvc_len = if number.as_ref().is_some_and(|n| n.brand == Brand::Amex) { 4 } else { 3 };
        if cvc.len() != cvc_len || !cvc.bytes().all(|b| b.is_ascii_digit()) {
            f.add("cvc", format!("must be {cvc_len} digits"));
        }
        f.into_result()?;
        match (number, month, year) {
            (Some(number), Some(exp_month), Some(exp_year)) => Ok(CardInput { number, exp_month, exp_year }),
            _ => Err(DomainError::invalid("invalid card")),
        }
    }

    /// What may be kept: brand, last four digits and expiry.
    pub fn summary(&self) -> CardSummary {
        CardSummary {
            brand: self.number.brand.as_str().into(),
            last4: self.number.last4().into(),
            exp_month: self.exp_month,
            exp_year: self.exp_year,
        }
    }
}

/// IBAN lengths by country (the SWIFT registry).
#[rustfmt::skip]
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24), ("AE", 23), ("AL", 28), ("AT", 20), ("AZ", 28), ("BA", 20), ("BE", 16), ("BG", 22),
    ("BH", 22), ("BR", 29), ("BY", 28), ("CH", 21), ("CR", 22), ("CY", 28), ("CZ", 24), ("DE", 22),
    ("DK", 18), ("DO", 28), ("EE", 20), ("EG", 29), ("ES", 24), ("FI", 18), ("FO", 18), ("FR", 27),
    ("GB", 22), ("GE", 22), ("GI", 23), ("GL", 18), ("GR", 27), ("GT", 28), ("HR", 21), ("HU", 28),
    ("IE", 22), ("IL", 23), ("IQ", 23), ("IS", 26), ("IT", 27), ("JO", 30), ("KW", 30), ("KZ", 20),
    ("LB", 28), ("LC", 32), ("LI", 21), ("LT", 20), ("LU", 20), ("LV", 21), ("MC", 27), ("MD", 24),
    ("ME", 22), ("MK", 19), ("MR", 27), ("MT", 31), ("MU", 30), ("NL", 18), ("NO", 15), ("PK", 24),
    ("PL", 28), ("PS", 29), ("PT", 25), ("QA", 29), ("RO", 24), ("RS", 22), ("SA", 24), ("SC", 31),
    ("SE", 24), ("SI", 19), ("SK", 24), ("SM", 27), ("ST", 25), ("SV", 28), ("TL", 23), ("TN", 24),
    ("TR", 26), ("UA", 29), ("VA", 22), ("VG", 24), ("XK", 20),
];

/// A checked IBAN, kept in its compact upper-case form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Iban(String);

impl Iban {
    /// Accepts spaces; checks the country's length and the mod-97 checksum (ISO 13616).
    pub fn parse(raw: &str) -> Result<Iban, DomainError> {
        let s: String = raw.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
        if s.len() < 15 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::invalid("is not an IBAN"));
        }
        let country = &s[..2];
        let Some((_, len)) = IBAN_LENGTHS.iter().find(|(c, _)| *c == country) else {
            return Err(DomainError::invalid("IBAN country is not known"));
        };
        if s.len() != *len {
            return Err(DomainError::invalid(format!("an IBAN of {country} has {len} characters")));
        }
        let rearranged = s[4..].bytes().chain(s[..4].bytes());
        let mut rem: u32 = 0;
        for b in rearranged {
            let v = if b.is_ascii_digit() { u32::from(b - b'0') } else { u32::from(b - b'A') + 10 };
            rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
        }
        if rem != 1 {
            return Err(DomainError::invalid("IBAN checksum does not match"));
        }
        Ok(Iban(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    pub fn country(&self) -> &str {
        &self.0[..2]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers_pass_luhn_and_get_their_brand() {
        for (n, brand) in [
            ("4242424242424242", Brand::Visa),
            ("4242 4242 4242 4242", Brand::Visa),
            ("4000-0000-0000-0002", Brand::Visa),
            ("5555555555554444", Brand::Mastercard),
            ("2223003122003222", Brand::Mastercard),
            ("378282246310005", Brand::Amex),
            ("6011111111111117", Brand::Discover),
        ] {
            let c = CardNumber::parse(n).unwrap_or_else(|e| panic!("{n}: {e:?}"));
            assert_eq!(c.brand(), brand, "{n}");
        }
        assert_eq!(CardNumber::parse("4242424242424242").expect("visa").last4(), "4242");
    }

    #[test]
    fn bad_numbers_are_refused() {
        for n in ["4242424242424241", "1234", "", "4242a42424242424", "00000000000000000000", "9999999999999995"] {
            assert!(CardNumber::parse(n).is_err(), "{n}");
        }
    }

    #[test]
    fn debug_never_shows_the_number() {
        let c = CardNumber::parse("4242424242424242").expect("visa");
        let s = format!("{c:?}");
        assert!(!s.contains("424242424242"), "{s}");
        assert!(s.contains("4242") && s.contains("visa"));
        let input = CardInput::parse("4242424242424242", 12, 2030, "123", (2026, 12)).expect("card");
        let s = format!("{input:?}");
        assert!(!s.contains("424242424242") && !s.contains("123"), "{s}");
    }

    #[test]
    fn expiry_and_cvc_are_checked() {
        let today = (2026, 12);
        assert!(CardInput::parse("4242424242424242", 12, 2026, "123", today).is_ok(), "valid through its month");
        let err = |m, y, cvc| match CardInput::parse("4242424242424242", m, y, cvc, today) {
            Err(DomainError::Invalid(f)) => f.fields().keys().cloned().collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        assert_eq!(err(11, 2026, "123"), vec!["exp_year"]);
        assert_eq!(err(13, 2027, "123"), vec!["exp_month"]);
        assert_eq!(err(1, 27, "123"), vec!["exp_year"]);
        assert_eq!(err(1, 2027, "12"), vec!["cvc"]);
        assert_eq!(err(0, 2027, "12a"), vec!["cvc", "exp_month"]);
        assert!(CardInput::parse("378282246310005", 1, 2030, "1234", today).is_ok(), "amex has four");
        assert!(CardInput::parse("378282246310005", 1, 2030, "123", today).is_err());
        let s = CardInput::parse("5555555555554444", 3, 2031, "999", today).expect("mc").summary();
        assert_eq!((s.brand.as_str(), s.last4.as_str(), s.exp_month, s.exp_year), ("mastercard", "4444", 3, 2031));
    }

    #[test]
    fn ibans_are_checked_by_length_and_checksum() {
        for ok in
            ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000", "fr1420041010050500013m02606", "NO9386011117947"]
        {
            let i = Iban::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e:?}"));
            assert!(i.as_str().chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
        }
        assert_eq!(Iban::parse("GB82WEST12345698765432").expect("gb").last4(), "5432");
        for bad in ["GB83WEST12345698765432", "GB82WEST1234569876543", "ZZ82WEST12345698765432", "GB82-WEST", ""] {
            assert!(Iban::parse(bad).is_err(), "{bad}");
        }
    }
}
