//! Operations: the API root, liveness, readiness and Prometheus metrics.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// `ready`, or `degraded` when a cluster node cannot reach Redis (it still serves its
    /// own users; cross-node delivery waits for Redis).
    pub status: &'static str,
    pub storage: &'static str,
    /// Cluster mode only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterReady>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ClusterReady {
    pub node: String,
    /// `up` or `down`.
    pub redis: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/api/health", tag = "operations", responses((status = 200, body = Health)))]
pub async fn health() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Readiness: storage answers (503 otherwise).
#[utoipa::path(get, path = "/api/ready", tag = "operations",
    responses((status = 200, body = Ready), (status = 503, body = super::ErrorEnvelope)))]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await.map_err(|e| ApiError::Unavailable(format!("storage: {e}")))?;
    let cluster = state
        .cluster
        .as_ref()
        .map(|c| ClusterReady { node: c.node().to_string(), redis: if c.health().is_up() { "up" } else { "down" } });
    let status = if cluster.as_ref().is_some_and(|c| c.redis == "down") { "degraded" } else { "ready" };
    Ok(HttpResponse::Ok().json(Ready { status, storage: state.store.backend_name(), cluster }))
}

/// The resources the API root lists: `(name, path)`, canonical names only (the aliases are
/// in the OpenAPI document, `/api/schema`).
const RESOURCES: &[(&str, &str)] = &[
    ("auth", "/api/auth/me"),
    ("conversations", "/api/conversations/"),
    ("messages", "/api/messages/"),
    ("notifications", "/api/notifications/"),
    ("categories", "/api/categories/"),
    ("skills", "/api/skills/"),
    ("companies", "/api/companies/"),
    ("providers", "/api/providers/"),
    ("services", "/api/services/"),
    ("jobs", "/api/jobs/"),
    ("proposals", "/api/proposals/"),
    ("contracts", "/api/contracts/"),
    ("bookings", "/api/bookings/"),
    ("reviews", "/api/reviews/"),
    ("payment-methods", "/api/payment-methods/"),
    ("payments", "/api/payments/"),
    ("payouts", "/api/payouts/"),
    ("wallet", "/api/wallet/"),
    ("analytics-dashboard", "/api/analytics/dashboard"),
    ("openapi", "/api/schema"),
    ("docs", "/docs"),
];

/// The API root, as a browsable API's root answers it: each resource's absolute URL.
#[utoipa::path(get, path = "/api", tag = "operations",
    responses((status = 200, description = "{<resource>: <absolute URL>}")))]
pub async fn root(req: HttpRequest) -> HttpResponse {
    let info = req.connection_info();
    let base = format!("{}://{}", info.scheme(), info.host());
    let map: serde_json::Map<String, serde_json::Value> =
        RESOURCES.iter().map(|(name, path)| ((*name).to_string(), format!("{base}{path}").into())).collect();
    HttpResponse::Ok().json(map)
}

/// Prometheus text format. Rendering reads in-memory metrics only, never the database.
/// With `metrics_token` set, `Authorization: Bearer <metrics_token>` is required (401).
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain"),
    (status = 401, body = super::ErrorEnvelope)))]
pub async fn metrics(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if let Some(expected) = state.settings.metrics_token.as_deref() {
        let presented = crate::auth::bearer_token(&req).unwrap_or("");
        if !crate::auth::same_secret(presented.as_bytes(), expected.as_bytes()) {
            return Err(ApiError::Unauthorized {
                code: "unauthorized",
                message: "the metrics token is required (Authorization: Bearer)",
            });
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render()))
}

/// Liveness and readiness (and `/metrics`, see [`metrics_config`]).
pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api").route(web::get().to(root)))
        .service(web::resource("/api/health").route(web::get().to(health)))
        .service(web::resource("/api/ready").route(web::get().to(ready)));
}

/// `/metrics`: on the main listener, or only on `metrics_listen` when that is set.
pub fn metrics_config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/metrics").route(web::get().to(metrics)));
}
