//! REST routes, one module per resource, each exposing `config`.

pub mod analytics;
pub mod attachments;
pub mod auth;
pub mod availability;
pub mod bookings;
pub mod catalog;
pub mod contracts;
pub mod conversations;
pub mod jobs;
pub mod notifications;
pub mod ops;
pub mod payments;
pub mod providers;
pub mod reviews;
pub mod services;
pub mod uploads;
pub mod users;

/// `(alias prefix, canonical prefix)` for resources with two names (the seeds' names): the
/// one table that both the router ([`names`]) and the OpenAPI document read, so an alias
/// always reaches the canonical handler.
pub const PREFIX_ALIASES: &[(&str, &str)] = &[
    ("/api/requests", "/api/jobs"),
    ("/api/job-applications", "/api/proposals"),
    ("/api/service-bookings", "/api/bookings"),
    ("/api/appointments", "/api/bookings"),
    ("/api/ratings", "/api/reviews"),
    ("/api/service-categories", "/api/categories"),
];

/// `(alias path, canonical path)` for single routes the seeds name differently; the router
/// registers them with [`paths`].
pub const ROUTE_ALIASES: &[(&str, &str)] = &[
    ("/api/auth/token", "/api/auth/login"),
    ("/api/auth/token/refresh", "/api/auth/refresh"),
    ("/api/auth/token/verify", "/api/auth/verify"),
    ("/api/auth/password-confirm", "/api/auth/password-reset/confirm"),
    ("/api/contracts/{id}/update_status", "/api/contracts/{id}/status"),
    ("/api/services/{id}/comments", "/api/services/{id}/reviews"),
    // Zumodra's notification pages, answered as JSON for API clients.
    ("/notifications", "/api/notifications"),
    ("/notifications/api/count", "/api/notifications/unread-count"),
    ("/notifications/mark-all-read", "/api/notifications/read-all"),
    ("/notifications/preferences", "/api/notifications/preferences"),
    ("/notifications/{id}/read", "/api/notifications/{id}/read"),
    ("/notifications/{id}/delete", "/api/notifications/{id}"),
    // The marketplace seed's dashboard pages, answered as JSON.
    ("/analytics/dashboard", "/api/analytics/dashboard"),
    ("/analytics/provider", "/api/analytics/provider"),
    ("/analytics/client", "/api/analytics/client"),
];

/// `(path, method, also answered by)`: routes that answer a second method with the same
/// handler (the seeds' verbs), copied in the OpenAPI document.
pub const METHOD_ALIASES: &[(&str, &str, &str)] =
    &[("/api/services/{id}/like", "put", "post"), ("/api/messages/{id}", "patch", "put")];

/// A route's canonical path and its aliases from [`ROUTE_ALIASES`].
pub fn paths(canonical: &'static str) -> impl Iterator<Item = &'static str> {
    std::iter::once(canonical).chain(ROUTE_ALIASES.iter().filter(move |(_, c)| *c == canonical).map(|(a, _)| *a))
}

/// The canonical prefix and its aliases, for a resource's route registration.
pub fn names(canonical: &'static str) -> impl Iterator<Item = &'static str> {
    std::iter::once(canonical).chain(PREFIX_ALIASES.iter().filter(move |(_, c)| *c == canonical).map(|(a, _)| *a))
}

use agora_engine::{DomainError, FieldErrors};
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// `?limit=` (1..=100, default 20) and `?cursor=` (opaque).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

impl PageQuery {
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(20),
            Some(n @ 1..=100) => Ok(n),
            Some(_) => Err(ApiError::invalid_field("limit", "must be between 1 and 100")),
        }
    }

    pub fn cursor(&self) -> Result<Option<&str>, ApiError> {
        let cursor = self.cursor.as_deref().filter(|c| !c.is_empty());
        agora_storage::check_cursor(cursor)?;
        Ok(cursor)
    }
}

/// `{"results": [...], "next_cursor": "..." | null}`.
#[derive(Debug, Serialize)]
pub struct Paged<T> {
    pub results: Vec<T>,
    pub next_cursor: Option<String>,
}

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
