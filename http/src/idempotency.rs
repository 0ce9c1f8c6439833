//! `Idempotency-Key` on money-moving POSTs, with the semantics of the best-known processor
//! API: up to 255 characters, kept per user for 24 hours. The same key with the same
//! request (method, path and body) replays the first answer, errors included, with
//! `Idempotent-Replayed: true`; the same key with another request is 422
//! `idempotency_key_reused`; a key whose first request still runs is 409
//! `idempotency_key_in_use`. Answers of 5xx and `concurrent_update` are not kept, so a retry
//! runs again. A request without the header runs as usual.

use std::future::Future;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use agora_engine::codes;
use agora_storage::payments::{Claim, StoredResponse};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

pub const HEADER: &str = "Idempotency-Key";
pub const REPLAYED: &str = "Idempotent-Replayed";
/// A key whose first request has not answered in this long is taken over (its process died).
const LEASE: time::Duration = time::Duration::seconds(60);

/// Runs `run` under the request's idempotency key, if it has one. `run` answers the JSON
/// body and the success status.
pub async fn once<F, Fut>(
    state: &AppState,
    user: &AuthUser,
    req: &HttpRequest,
    body: &[u8],
    run: F,
) -> Result<HttpResponse, ApiError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), ApiError>>,
{
    let Some(raw) = req.headers().get(HEADER) else {
        let (status, json) = run().await?;
        return Ok(HttpResponse::build(status).json(json));
    };
    let key = raw
        .to_str()
        .ok()
        .filter(|k| !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(|| ApiError::invalid_field(HEADER, "must be 1 to 255 visible ASCII characters"))?;
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update([0]);
    h.update(req.path().as_bytes());
    h.update([0]);
    h.update(body);
    let fingerprint = hex::encode(h.finalize());
    let stored_key = format!("{}:{key}", user.id);
    let now = OffsetDateTime::now_utc();
    let payments = state.store.payments();
    let version = match payments.claim_key(&stored_key, &fingerprint, now, LEASE).await? {
        Claim::Run { version } => version,
        Claim::Replay(r) => {
            metrics::counter!("agora_idempotent_replays_total").increment(1);
            let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK);
            return Ok(HttpResponse::build(status)
                .insert_header((REPLAYED, "true"))
                .content_type("application/json")
                .body(r.body));
        }
        Claim::InFlight => {
            return Err(ApiError::Conflict {
                code: codes::IDEMPOTENCY_KEY_IN_USE,
                message: "a request with this Idempotency-Key is still running; retry later".into(),
            })
        }
        Claim::Mismatch => {
            return Err(ApiError::Unprocessable {
                code: codes::IDEMPOTENCY_KEY_REUSED,
                message: "this Idempotency-Key was used for a different request".into(),
            })
        }
    };
    let (status, body) = match run().await {
        Ok((status, json)) => (status, serde_json::to_vec(&json).map_err(ApiError::internal)?),
        Err(e) => {
            let status = e.status_code();
            if status.is_server_error() || e.code() == codes::CONCURRENT_UPDATE {
                payments.release_key(&stored_key).await?;
                return Err(e);
            }
            let resp = e.error_response();
            let body =
                actix_web::body::to_bytes(resp.into_body()).await.map_err(|_| ApiError::internal("error body"))?;
            (status, body.to_vec())
        }
    };
    payments
        .answer_key(
            &stored_key,
            version,
            &fingerprint,
            now,
            StoredResponse { status: status.as_u16(), body: body.clone() },
        )
        .await?;
    Ok(HttpResponse::build(status).content_type("application/json").body(body))
}
