//! The actor layer's one error enum. Each variant has a stable snake_case code, used in
//! WebSocket `error` frames and mapped to HTTP statuses by agora-http.

use agora_engine::{DomainError, FieldErrors};
use agora_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    /// Absent, or not visible to the caller (never reveals which).
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(&'static str),
    /// A member of the conversation has blocked the sender.
    #[error("you cannot message this conversation")]
    Blocked,
    #[error("invalid input")]
    Invalid(FieldErrors),
    /// The object is in a state that refuses the change (e.g. an already deleted message).
    #[error("{0}")]
    Conflict(&'static str),
    /// A state machine or rule refused the change (contracts); the HTTP layer keeps the
    /// domain error's own status and code.
    #[error("{0}")]
    Refused(DomainError),
    #[error("too many {0} frames; slow down")]
    RateLimited(&'static str),
    /// The user already holds the maximum number of open connections.
    #[error("too many connections")]
    TooManyConnections,
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// An upload or attachment step refused (offset, checksum, expiry, in use).
    #[error("{0}")]
    Upload(crate::attachments::UploadRefusal),
    /// An actor could not be reached (shutting down).
    #[error("service unavailable")]
    Unavailable,
}

impl ActorError {
    pub fn code(&self) -> &'static str {
        match self {
            ActorError::NotFound => "not_found",
            ActorError::Forbidden(_) => "forbidden",
            ActorError::Blocked => "blocked",
            ActorError::Invalid(_) => "invalid",
            ActorError::Conflict(_) => "conflict",
            ActorError::Refused(DomainError::Invalid(_)) => "invalid",
            ActorError::Refused(DomainError::Forbidden(_)) => "forbidden",
            ActorError::Refused(DomainError::Transition { .. }) => "invalid_transition",
            ActorError::Refused(DomainError::Conflict { code, .. }) => code,
            ActorError::Refused(DomainError::File(r)) => r.code(),
            ActorError::Upload(r) => r.code(),
            ActorError::RateLimited(_) => "rate_limited",
            ActorError::TooManyConnections => "too_many_connections",
            ActorError::Storage(_) | ActorError::Unavailable => "internal",
        }
    }

    /// The text a client may see (internal causes stay in the logs).
    pub fn public_message(&self) -> String {
        match self {
            ActorError::Invalid(fields) => fields
                .fields()
                .iter()
                .map(|(f, problems)| format!("{f}: {}", problems.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
            ActorError::Storage(_) | ActorError::Unavailable => "internal error".to_string(),
            other => other.to_string(),
        }
    }
}

impl From<DomainError> for ActorError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(fields) => ActorError::Invalid(fields),
            DomainError::Forbidden(why) => ActorError::Forbidden(why),
            DomainError::Transition { .. } => ActorError::Conflict("the message was deleted"),
            other @ (DomainError::Conflict { .. } | DomainError::File(_)) => ActorError::Refused(other),
        }
    }
}

impl From<actix::MailboxError> for ActorError {
    fn from(_: actix::MailboxError) -> Self {
        ActorError::Unavailable
    }
}

/// Validation error for one named field.
pub fn invalid(field: &str, problem: impl Into<String>) -> ActorError {
    let mut f = FieldErrors::new();
    f.add(field, problem);
    ActorError::Invalid(f)
}
