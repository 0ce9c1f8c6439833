//! Notification types, recipient preferences and the rules that route an event to the
//! in-app and email channels.

use std::collections::BTreeMap;

use crate::error::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    Info,
    Success,
    Warning,
    Error,
    Proposal,
    Contract,
    Payment,
    Review,
    Message,
    Booking,
}

impl NotificationType {
    pub const ALL: [NotificationType; 10] = [
        NotificationType::Info,
        NotificationType::Success,
        NotificationType::Warning,
        NotificationType::Error,
        NotificationType::Proposal,
        NotificationType::Contract,
        NotificationType::Payment,
        NotificationType::Review,
        NotificationType::Message,
        NotificationType::Booking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::Info => "info",
            NotificationType::Success => "success",
            NotificationType::Warning => "warning",
            NotificationType::Error => "error",
            NotificationType::Proposal => "proposal",
            NotificationType::Contract => "contract",
            NotificationType::Payment => "payment",
            NotificationType::Review => "review",
            NotificationType::Message => "message",
            NotificationType::Booking => "booking",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == raw)
            .ok_or_else(|| DomainError::invalid(format!("unknown notification type {raw:?}")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Digest {
    None,
    Daily,
    #[default]
    Weekly,
}

impl Digest {
    pub fn as_str(self) -> &'static str {
        match self {
            Digest::None => "none",
            Digest::Daily => "daily",
            Digest::Weekly => "weekly",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        [Digest::None, Digest::Daily, Digest::Weekly]
            .into_iter()
            .find(|d| d.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("must be none, daily or weekly"))
    }

    /// Seconds between two digests, if any.
    pub fn period_secs(self) -> Option<i64> {
        match self {
            Digest::None => None,
            Digest::Daily => Some(86_400),
            Digest::Weekly => Some(7 * 86_400),
        }
    }
}

/// The two channel switches of one type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
}

impl Default for Channels {
    fn default() -> Self {
        Channels { in_app: true, email: true }
    }
}

/// Per-type switches (a type not listed uses the default: both on) and the digest cadence.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Preferences {
    #[serde(default)]
    pub types: BTreeMap<NotificationType, Channels>,
    #[serde(default)]
    pub digest: Digest,
}

impl Preferences {
    pub fn channels(&self, t: NotificationType) -> Channels {
        self.types.get(&t).copied().unwrap_or_default()
    }

    /// Every type spelled out, as the API shows them.
    pub fn complete(&self) -> Preferences {
        Preferences {
            types: NotificationType::ALL.into_iter().map(|t| (t, self.channels(t))).collect(),
            digest: self.digest,
        }
    }
}

/// Notification text limits.
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_MESSAGE_CHARS: usize = 2000;

/// Trims a notification text to its limit on a character boundary (events supply the text).
pub fn clip(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => text[..cut].to_string(),
        None => text.to_string(),
    }
}

/// Longest accepted `action_url`.
pub const MAX_ACTION_URL_CHARS: usize = 2000;

/// A link a notification points at: a path on this site (`/...`, but not `//host`, which
/// browsers read as another host) or an absolute `http://` / `https://` URL with a host.
/// Anything else (`javascript:`, `data:`, `vbscript:`, scheme-relative URLs, backslash
/// tricks, control characters) is refused: clients render it as a clickable link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionUrl(String);

impl ActionUrl {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        const RULE: &str = "must be a path starting with / (not //) or an http(s) URL";
        let url = raw.trim();
        if url.is_empty() || url.chars().count() > MAX_ACTION_URL_CHARS {
            return Err(DomainError::invalid(format!("{RULE}, at most {MAX_ACTION_URL_CHARS} characters")));
        }
        // Browsers drop tabs and newlines inside URLs and treat `\` as `/`: refuse them
        // all, so what is checked here is what a browser follows.
        if url.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return Err(DomainError::invalid(RULE));
        }
        let ok = if let Some(rest) = url.strip_prefix('/') {
            !rest.starts_with('/')
        } else {
            let lower = url.to_ascii_lowercase();
            let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
            rest.is_some_and(|r| {
                let host = r.split(['/', '?', '#']).next().unwrap_or("");
                !host.is_empty() && !host.starts_with('@')
            })
        };
        if ok {
            Ok(ActionUrl(url.to_string()))
        } else {
            Err(DomainError::invalid(RULE))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_urls_are_site_paths_or_http_links() {
        for ok in
            ["/contracts/1", "/", "/a?b=c#d", "https://example.com", "http://example.com/x?y=1", "HTTPS://EXAMPLE.COM/"]
        {
            assert_eq!(ActionUrl::parse(ok).expect(ok).as_str(), ok);
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:msgbox",
            "//evil.example/x",
            "/\\evil.example",
            "/\tjavascript:alert(1)",
            "java\nscript:alert(1)",
            "https://",
            "https:///path",
            "https://@evil",
            "ftp://example.com",
            "contracts/1",
            "",
            "   ",
        ] {
            assert!(ActionUrl::parse(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(ActionUrl::parse(&format!("/{}", "a".repeat(MAX_ACTION_URL_CHARS))).is_err());
    }

    #[test]
    fn defaults_are_all_on_and_weekly() {
        let p = Preferences::default();
        assert_eq!(p.digest, Digest::Weekly);
        for t in NotificationType::ALL {
            assert_eq!(p.channels(t), Channels { in_app: true, email: true });
        }
        assert_eq!(p.complete().types.len(), NotificationType::ALL.len());
    }

    #[test]
    fn types_round_trip() {
        for t in NotificationType::ALL {
            assert_eq!(NotificationType::parse(t.as_str()).expect("known"), t);
        }
        assert!(NotificationType::parse("nope").is_err());
    }

    #[test]
    fn clip_cuts_on_characters() {
        assert_eq!(clip("héllo", 2), "hé");
        assert_eq!(clip("hi", 10), "hi");
    }
}
