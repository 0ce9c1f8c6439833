//! Security headers on every response, errors and 404s included (docs/security.md):
//! `X-Content-Type-Options`, `Referrer-Policy`, `X-Frame-Options` with a matching CSP
//! `frame-ancestors`, a locked-down CSP for the JSON API (the /docs pages keep only
//! `frame-ancestors`, so Swagger UI still runs its scripts), HSTS when the request came
//! over TLS (or, with `trust_proxy = "on"`, the proxy says `X-Forwarded-Proto: https`),
//! and `Cache-Control: no-store` on answers to requests that carry credentials.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};

use crate::config::Switch;
use crate::state::AppState;

/// One year, the usual HSTS preload minimum.
const HSTS: &str = "max-age=31536000; includeSubDomains";
const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";
const CSP_PAGES: &str = "frame-ancestors 'none'";

/// Whether the client reached us over HTTPS: TLS on our own socket, or a trusted proxy's
/// `X-Forwarded-Proto: https` (only when `trust_proxy` is on; the header is otherwise
/// client-controlled).
fn over_https(req: &ServiceRequest, trust_proxy: bool) -> bool {
    req.app_config().secure()
        || (trust_proxy
            && req
                .headers()
                .get("x-forwarded-proto")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https")))
}

fn set_default(headers: &mut HeaderMap, name: HeaderName, value: &'static str) {
    if !headers.contains_key(&name) {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let trust_proxy = req.app_data::<web::Data<AppState>>().is_some_and(|s| s.settings.trust_proxy == Switch::On);
    let https = over_https(&req, trust_proxy);
    let credentials = req.headers().contains_key(header::AUTHORIZATION);
    let api = !req.path().starts_with("/docs");
    // Handlers' and middlewares' errors arrive here as responses (none of the inner
    // layers answers `Err`), so they get the headers too.
    let mut res = next.call(req).await?.map_into_boxed_body();
    let headers = res.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    set_default(headers, header::CONTENT_SECURITY_POLICY, if api { CSP_API } else { CSP_PAGES });
    if https {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    if credentials {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}
