//! `GET /ws`: authenticates (`?token=` or Bearer), negotiates the subprotocol and hands
//! the socket to the transport. A missing or bad token still upgrades, then closes with
//! 4001, so browser clients (which cannot read an HTTP 401 on upgrade) see why.

mod transport;

use actix_web::{http::header, web, HttpRequest, HttpResponse};
use agora_actors::protocol::Encoding;
use serde::Deserialize;

use crate::auth::{authenticate, bearer_token};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

/// The encoding from `Sec-WebSocket-Protocol` (JSON when none is offered or known).
fn encoding(req: &HttpRequest) -> Encoding {
    req.headers()
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Encoding::negotiate(v.split(',')))
        .unwrap_or(Encoding::Json)
}

#[tracing::instrument(skip_all)]
async fn upgrade(req: HttpRequest, stream: web::Payload, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let query = web::Query::<WsQuery>::from_query(req.query_string()).map(|q| q.into_inner()).ok();
    let token = bearer_token(&req).map(str::to_string).or_else(|| query.and_then(|q| q.token));
    let auth = authenticate(state.clone(), token).await.ok();
    transport::start(&req, stream, &state, auth, encoding(&req))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/ws").route(web::get().to(upgrade)));
}
