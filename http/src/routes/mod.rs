//! REST routes, one module per resource, each exposing `config`.

pub mod auth;
pub mod ops;
pub mod users;

use agora_engine::{DomainError, FieldErrors};
use serde::Serialize;

/// The error envelope, for the OpenAPI document.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub fields: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

/// Parses a required field, recording "is required" or the parse problem under `field`.
pub(crate) fn required<T>(
    f: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Option<T> {
    match raw {
        None => {
            f.add(field, "is required");
            None
        }
        Some(v) => f.check(field, parse(v)),
    }
}

/// Parses an optional field; absent stays `None`.
pub(crate) fn optional<T>(
    f: &mut FieldErrors,
    field: &str,
    raw: Option<&str>,
    parse: impl FnOnce(&str) -> Result<T, DomainError>,
) -> Option<T> {
    raw.and_then(|v| f.check(field, parse(v)))
}
