//! The actor layer's one error enum. Each variant has a stable snake_case code, used in
//! WebSocket `error` frames and mapped to HTTP statuses by agora-http.

use agora_engine::{DomainError, FieldErrors};
use agora_storage::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
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
    #[error("too many {0} frames; slow down")]
    RateLimited(&'static str),
    #[error("storage: {0}")]
    Storage(#[from] StoreError),
    /// An actor could not be reached (shutting down).
    #[error("service unavailable")]
    Unavailable,
}

impl ChatError {
    pub fn code(&self) -> &'static str {
        match self {
            ChatError::NotFound => "not_found",
            ChatError::Forbidden(_) => "forbidden",
            ChatError::Blocked => "blocked",
            ChatError::Invalid(_) => "invalid",
            ChatError::Conflict(_) => "conflict",
            ChatError::RateLimited(_) => "rate_limited",
            ChatError::Storage(_) | ChatError::Unavailable => "internal",
        }
    }

    /// The text a client may see (internal causes stay in the logs).
    pub fn public_message(&self) -> String {
        match self {
            ChatError::Invalid(fields) => fields
                .fields()
                .iter()
                .map(|(f, problems)| format!("{f}: {}", problems.join(", ")))
                .collect::<Vec<_>>()
                .join("; "),
            ChatError::Storage(_) | ChatError::Unavailable => "internal error".to_string(),
            other => other.to_string(),
        }
    }
}

impl From<DomainError> for ChatError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Invalid(fields) => ChatError::Invalid(fields),
            DomainError::Forbidden(why) => ChatError::Forbidden(why),
            DomainError::Transition { .. } => ChatError::Conflict("the message was deleted"),
        }
    }
}

impl From<actix::MailboxError> for ChatError {
    fn from(_: actix::MailboxError) -> Self {
        ChatError::Unavailable
    }
}

/// Validation error for one named field.
pub fn invalid(field: &str, problem: impl Into<String>) -> ChatError {
    let mut f = FieldErrors::new();
    f.add(field, problem);
    ChatError::Invalid(f)
}
