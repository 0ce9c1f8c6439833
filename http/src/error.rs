//! `ApiError`: the HTTP layer's one error enum, rendered as the API.md envelope
//! `{"error": {"code", "message", "fields"?}}`. Unexpected failures are opaque 500s whose
//! cause is logged, never shown.

use std::collections::BTreeMap;
use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use agora_engine::{DomainError, FieldErrors};
use agora_storage::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("invalid input")]
    Validation(FieldErrors),
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    #[error("{message}")]
    Unauthorized { code: &'static str, message: &'static str },
    #[error("{0}")]
    Forbidden(&'static str),
    /// 403 with a specific code (e.g. `blocked`).
    #[error("{message}")]
    Refused { code: &'static str, message: &'static str },
    #[error("not found")]
    NotFound,
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 402: the gateway declined the card.
    #[error("{message}")]
    PaymentRequired { code: &'static str, message: String },
    /// 422: a well-formed request the server will not process (an idempotency key reused
    /// for a different request).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("request body too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    TooManyRequests { message: &'static str, retry_after: Duration },
    #[error("service unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
    /// An attachment refused by the file rules: 415, 413 or 422 by the refusal's kind.
    #[error("{0}")]
    File(agora_engine::FileRefusal),
    /// 410: an upload that expired (tus expiration extension).
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    /// 460: the tus checksum extension's answer to a chunk whose digest does not match.
    #[error("the chunk's checksum does not match")]
    ChecksumMismatch,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<&'a BTreeMap<String, Vec<String>>>,
}

/// The envelope as JSON bytes; used for errors built outside handlers too.
pub fn envelope(code: &str, message: &str, fields: Option<&BTreeMap<String, Vec<String>>>) -> String {
    serde_json::to_string(&Envelope { error: Body { code, message, fields } })
        .unwrap_or_else(|_| r#"{"error":{"code":"internal_error","message":"internal error"}}"#.to_string())
}

impl ApiError {
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn invalid_field(field: &str, problem: &str) -> Self {
        let mut f = FieldErrors::new();
        f.add(field, problem);
        ApiError::Validation(f)
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Validation(_) => "validation_failed",
            ApiError::BadRequest { code, .. } => code,
            ApiError::Unauthorized { code, .. } => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Refused { code, .. } => code,
            ApiError::NotFound => "not_found",
            ApiError::Conflict { code, .. } => code,
            ApiError::PaymentRequired { code, .. } | ApiError::Unprocessable { code, .. } => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::TooManyRequests { .. } => "rate_limited",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
            ApiError::File(r) => r.code(),
            ApiError::Gone { code, .. } => code,
            ApiError::ChecksumMismatch => "checksum_mismatch",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Validation(_) | ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Refused { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::PaymentRequired { .. } => StatusCode::PAYMENT_REQUIRED,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::File(r) => StatusCode::from_u16(r.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY),
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::ChecksumMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
        }
    }

    fn error_response(&self) -> HttpResponse {
        let message = match self {
            ApiError::Validation(_) => "the request has invalid fields".to_string(),
            ApiError::Unavailable(cause) => {
                tracing::warn!(cause = %cause, "service unavailable");
                "the service is temporarily unavailable".to_string()
            }
            ApiError::Internal(cause) => {
                tracing::error!(cause = %cause, "internal error");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let fields = match self {
            ApiError::Validation(f) => Some(f.fields()),
            _ => None,
        };
        let mut res = HttpResponse::build(self.status_code());
        if let ApiError::TooManyRequests { retry_after, .. } = self {
            res.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1).to_string()));
        }
        res.content_type("application/json").body(envelope(self.code(), &message, fields))
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(f) => ApiError::Validation(f),
            DomainError::Forbidden(why) => ApiError::Forbidden(why),
            DomainError::Transition { from, to } => {
                ApiError::Conflict { code: "invalid_transition", message: format!("cannot go from {from} to {to}") }
            }
            DomainError::Conflict { code: agora_engine::codes::PAYMENT_DECLINED, message } => {
                ApiError::PaymentRequired { code: agora_engine::codes::PAYMENT_DECLINED, message }
            }
            DomainError::Conflict { code, message } => ApiError::Conflict { code, message },
            DomainError::File(r) => ApiError::File(r),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => {
                ApiError::BadRequest { code: "invalid_cursor", message: "invalid cursor".into() }
            }
            StoreError::Duplicate(what) => {
                ApiError::Conflict { code: "duplicate", message: format!("{what} already exists") }
            }
            StoreError::Conflict => ApiError::Conflict {
                code: "concurrent_update",
                message: "the object changed concurrently; retry".into(),
            },
            StoreError::Unavailable(cause) => ApiError::Unavailable(cause),
            StoreError::Aborted(why) => ApiError::Unavailable(format!("search stopped: {why}")),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<agora_actors::ActorError> for ApiError {
    fn from(e: agora_actors::ActorError) -> Self {
        use agora_actors::ActorError as C;
        match e {
            C::NotFound => ApiError::NotFound,
            C::Forbidden(why) => ApiError::Forbidden(why),
            C::Blocked => ApiError::Refused { code: "blocked", message: "you cannot message this conversation" },
            C::Invalid(f) => ApiError::Validation(f),
            C::Conflict(why) => ApiError::Conflict { code: "conflict", message: why.to_string() },
            C::Refused(d) => d.into(),
            C::RateLimited(_) => ApiError::TooManyRequests {
                message: "too many requests; slow down",
                retry_after: Duration::from_secs(1),
            },
            C::TooManyConnections => {
                ApiError::TooManyRequests { message: "too many connections", retry_after: Duration::from_secs(1) }
            }
            C::Storage(e) => e.into(),
            C::Unavailable => ApiError::Unavailable("actor unavailable".into()),
            C::Upload(r) => {
                use agora_actors::attachments::UploadRefusal as U;
                let message = r.to_string();
                match r {
                    U::ChecksumMismatch => ApiError::ChecksumMismatch,
                    U::Expired => ApiError::Gone { code: "upload_expired", message },
                    U::BeyondLength => ApiError::PayloadTooLarge,
                    U::OffsetMismatch { .. } | U::Locked | U::Incomplete | U::InUse => {
                        ApiError::Conflict { code: r.code(), message }
                    }
                }
            }
        }
    }
}

impl From<actix::MailboxError> for ApiError {
    fn from(e: actix::MailboxError) -> Self {
        ApiError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod code_tests {
    use super::*;

    /// Every `code: "..."` literal in the http and actors sources, and every code the error
    /// enums and the envelope guard answer, is in the pinned list (`agora_engine::codes::ALL`).
    #[test]
    fn every_code_in_the_sources_is_pinned() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut files = Vec::new();
        let mut dirs = vec![root.join("http/src"), root.join("actors/src")];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).expect("source dir") {
                let p = e.expect("entry").path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    files.push(p);
                }
            }
        }
        let mut found = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("read");
            for (i, _) in text.match_indices("code: \"") {
                let rest = &text[i + 7..];
                let code: String = rest.chars().take_while(|c| *c != '"').collect();
                // Literal codes only (this test's own doc comment quotes the pattern).
                if !code.is_empty() && code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                    found.push((f.display().to_string(), code));
                }
            }
        }
        assert!(found.len() > 20, "the scan finds the codes: {found:?}");
        let unknown: Vec<_> = found.iter().filter(|(_, c)| !agora_engine::codes::is_known(c)).collect();
        assert!(unknown.is_empty(), "codes missing from agora_engine::codes::ALL: {unknown:?}");
        for e in [
            ApiError::NotFound,
            ApiError::PayloadTooLarge,
            ApiError::Internal("x".into()),
            ApiError::Unavailable("x".into()),
            ApiError::Validation(FieldErrors::new()),
            ApiError::Forbidden("x"),
            ApiError::UnsupportedMediaType("x".into()),
            ApiError::ChecksumMismatch,
            ApiError::File(agora_engine::FileRefusal::Unreadable("x".into())),
            ApiError::TooManyRequests { message: "x", retry_after: Duration::from_secs(1) },
        ] {
            assert!(agora_engine::codes::is_known(e.code()), "{}", e.code());
        }
        use actix_web::http::StatusCode as S;
        for s in [S::BAD_REQUEST, S::UNAUTHORIZED, S::FORBIDDEN, S::NOT_FOUND, S::METHOD_NOT_ALLOWED, S::IM_A_TEAPOT] {
            let code = crate::middleware::envelope::code_for(s);
            assert!(agora_engine::codes::is_known(code), "{code}");
        }
        for e in [
            agora_actors::ActorError::NotFound,
            agora_actors::ActorError::Blocked,
            agora_actors::ActorError::TooManyConnections,
            agora_actors::ActorError::Unavailable,
            agora_actors::ActorError::Invalid(FieldErrors::new()),
            agora_actors::ActorError::Conflict("x"),
            agora_actors::ActorError::RateLimited("x"),
        ] {
            assert!(agora_engine::codes::is_known(e.code()), "{}", e.code());
        }
    }
}
