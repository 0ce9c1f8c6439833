//! Errors produced outside handlers (no route, wrong method, framework extractor errors)
//! get the API.md envelope too: no HTML and no empty error bodies.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::HttpResponse;

use crate::error::envelope;

pub(crate) fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::TOO_MANY_REQUESTS => "rate_limited",
        StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
        s if s.is_server_error() => "internal_error",
        _ => "error",
    }
}

pub fn ensure_envelope<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let message = if status.is_server_error() {
        "internal error".to_string()
    } else {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    };
    let (req, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    // Every header but the ones describing the old body (Allow, Retry-After, CORS, ...).
    for (name, v) in old.headers() {
        if ![header::CONTENT_TYPE, header::CONTENT_LENGTH, header::CONTENT_ENCODING].contains(name) {
            builder.append_header((name.clone(), v.clone()));
        }
    }
    let new: HttpResponse<BoxBody> =
        builder.content_type("application/json").body(envelope(code_for(status), &message, None));
    Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, new).map_into_right_body::<B>()))
}
