//! Account values: email, password, username, names and roles, each parsed once at the edge.

use std::fmt;

use crate::error::DomainError;

/// A syntactically valid email address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(DomainError::invalid("is required"));
        }
        if s.len() > 254 {
            return Err(DomainError::invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = s.split_once('@') else {
            return Err(DomainError::invalid("must be an email address"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels.last().is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if local_ok && domain_ok {
            Ok(Email(s))
        } else {
            Err(DomainError::invalid("must be an email address"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password that meets the policy: 10 to 128 characters, at least two of
/// {letters, digits, other characters}, not a well-known password, and not mostly one character.
/// Deliberately not `Debug`-printable in clear and never serialized.
#[derive(Clone)]
pub struct Password(String);

const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "1234567890",
    "0123456789",
    "qwertyuiop",
    "qwerty1234",
    "qwerty12345",
    "iloveyou12",
    "letmein123",
    "welcome123",
    "admin12345",
    "abc1234567",
    "football12",
    "monkey1234",
    "dragon1234",
    "1q2w3e4r5t",
    "passw0rd12",
    "changeme12",
];

impl Password {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let n = raw.chars().count();
        if n < 10 {
            return Err(DomainError::invalid("must be at least 10 characters"));
        }
        if n > 128 {
            return Err(DomainError::invalid("must be at most 128 characters"));
        }
        let letters = raw.chars().any(char::is_alphabetic);
        let digits = raw.chars().any(|c| c.is_ascii_digit());
        let others = raw.chars().any(|c| !c.is_alphanumeric());
        if [letters, digits, others].iter().filter(|b| **b).count() < 2 {
            return Err(DomainError::invalid("must mix at least two of: letters, digits, other characters"));
        }
        if COMMON_PASSWORDS.contains(&raw.to_lowercase().as_str()) {
            return Err(DomainError::invalid("is too common"));
        }
        let mut chars: Vec<char> = raw.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.len() < 4 {
            return Err(DomainError::invalid("must use at least 4 different characters"));
        }
        Ok(Password(raw.to_string()))
    }

    /// The clear text, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// 3 to 32 characters of lower-case letters, digits, `_`, `.` or `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim().to_lowercase();
        let n = s.chars().count();
        if !(3..=32).contains(&n) {
            return Err(DomainError::invalid("must be 3 to 32 characters"));
        }
        if !s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c)) {
            return Err(DomainError::invalid("may contain only letters, digits, '_', '.' and '-'"));
        }
        if !s.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(DomainError::invalid("must start with a letter or digit"));
        }
        if s.contains('@') {
            return Err(DomainError::invalid("must not look like an email address"));
        }
        Ok(Username(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A first or last name: trimmed, at most 100 characters, no control characters. May be empty.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(transparent)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let s = raw.trim();
        if s.chars().count() > 100 {
            return Err(DomainError::invalid("must be at most 100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(DomainError::invalid("must not contain control characters"));
        }
        Ok(PersonName(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Client,
    Worker,
    Provider,
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Worker => "worker",
            Role::Provider => "provider",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "client" => Ok(Role::Client),
            "worker" => Ok(Role::Worker),
            "provider" => Ok(Role::Provider),
            "admin" => Ok(Role::Admin),
            _ => Err(DomainError::invalid("must be one of client, worker, provider")),
        }
    }

    /// A role that self-registration may grant: never `admin`.
    pub fn parse_registrable(raw: &str) -> Result<Self, DomainError> {
        match Role::parse(raw)? {
            Role::Admin => Err(DomainError::invalid("admin accounts cannot be self-registered")),
            r => Ok(r),
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(self, Role::Admin)
    }
}

/// Whether `viewer` may see `owner`'s private account fields (email).
pub fn may_see_private_fields(viewer: Option<(crate::UserId, Role)>, owner: crate::UserId) -> bool {
    matches!(viewer, Some((id, role)) if id == owner || role.is_admin())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse("  Ann@Example.COM ").map(|e| e.to_string()), Ok("ann@example.com".into()));
        for bad in [
            "",
            "ann",
            "ann@",
            "@example.com",
            "ann@example",
            "a b@example.com",
            "ann@@example.com",
            "ann@exa_mple.com",
            "ann..x@example.com",
            "ann@example.c0m",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("correct horse battery").is_ok());
        assert!(Password::parse("Tr0ub4dor&3").is_ok());
        for bad in ["short1", "abcdefghijkl", "1234567890", "password123", "aaaaaaaaa1", &"a1".repeat(65)] {
            assert!(Password::parse(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(format!("{:?}", Password::parse("Tr0ub4dor&3")), "Ok(Password(<redacted>))");
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("Ann_B").map(|u| u.as_str().to_string()), Ok("ann_b".into()));
        for bad in ["ab", "_ann", "ann b", "ann@x", &"a".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn roles() {
        assert_eq!(Role::parse_registrable("provider"), Ok(Role::Provider));
        assert!(Role::parse_registrable("admin").is_err());
        assert!(Role::parse_registrable("root").is_err());
        assert_eq!(Role::parse("admin"), Ok(Role::Admin));
    }

    #[test]
    fn private_fields_rule() {
        let a = crate::UserId::from_uuid(uuid::Uuid::from_u128(1));
        let b = crate::UserId::from_uuid(uuid::Uuid::from_u128(2));
        assert!(may_see_private_fields(Some((a, Role::Client)), a));
        assert!(!may_see_private_fields(Some((b, Role::Client)), a));
        assert!(may_see_private_fields(Some((b, Role::Admin)), a));
        assert!(!may_see_private_fields(None, a));
    }

    proptest! {
        #[test]
        fn email_parse_never_panics_and_is_normalized(s in "\\PC{0,80}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert_eq!(e.as_str(), e.as_str().to_lowercase());
                prop_assert!(e.as_str().contains('@'));
            }
        }

        #[test]
        fn accepted_passwords_meet_length(s in "\\PC{0,140}") {
            if Password::parse(&s).is_ok() {
                let n = s.chars().count();
                prop_assert!((10..=128).contains(&n));
            }
        }
    }
}
