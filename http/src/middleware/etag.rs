//! Conditional GET for the JSON API: every `200` answer to a `GET /api/...` whose body is
//! in memory gets an `ETag` computed from its bytes, and a request whose `If-None-Match`
//! names it gets `304 Not Modified` with no body. Details and lists alike: a client (or
//! proxy) that polls a page it already has costs no transfer.
//!
//! The tag is a hash of what would be sent, so it changes exactly when the answer does (a
//! viewer-dependent answer has a viewer-dependent tag) and needs no version bookkeeping.
//! Streaming bodies and answers that set their own `ETag` pass through untouched.

use std::hash::{Hash, Hasher};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::Error;

/// A strong tag for `bytes`: 64 bits of SipHash (fixed keys, so every node of one build
/// agrees) and the length.
fn tag_of(bytes: &[u8]) -> String {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("\"{:016x}-{:x}\"", h.finish(), bytes.len())
}

/// Whether an `If-None-Match` value names `tag` (a list, weak forms, or `*`).
fn matches(if_none_match: &str, tag: &str) -> bool {
    if_none_match.split(',').map(str::trim).any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

pub async fn conditional_get(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let applies = req.method() == Method::GET && req.path().starts_with("/api/");
    let if_none_match = if applies {
        req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned)
    } else {
        None
    };
    let res = next.call(req).await?;
    if !applies || res.status() != StatusCode::OK || res.headers().contains_key(header::ETAG) {
        return Ok(res.map_into_boxed_body());
    }
    let (req, res) = res.into_parts();
    let (mut head, body) = res.into_parts();
    let bytes = match body.try_into_bytes() {
        Ok(bytes) => bytes,
        Err(body) => return Ok(ServiceResponse::new(req, head.set_body(body).map_into_boxed_body())),
    };
    let tag = tag_of(&bytes);
    let value = HeaderValue::from_str(&tag).map_err(actix_web::error::ErrorInternalServerError)?;
    head.headers_mut().insert(header::ETAG, value);
    if if_none_match.is_some_and(|v| matches(&v, &tag)) {
        *head.status_mut() = StatusCode::NOT_MODIFIED;
        head.headers_mut().remove(header::CONTENT_TYPE);
        head.headers_mut().remove(header::CONTENT_LENGTH);
        return Ok(ServiceResponse::new(req, head.set_body(()).map_into_boxed_body()));
    }
    Ok(ServiceResponse::new(req, head.set_body(bytes).map_into_boxed_body()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_bytes() {
        assert_eq!(tag_of(b"{\"a\":1}"), tag_of(b"{\"a\":1}"));
        assert_ne!(tag_of(b"{\"a\":1}"), tag_of(b"{\"a\":2}"));
        assert!(tag_of(b"").starts_with('"') && tag_of(b"").ends_with('"'));
    }

    #[test]
    fn if_none_match_forms() {
        let tag = tag_of(b"x");
        assert!(matches(&tag, &tag));
        assert!(matches(&format!("\"other\", {tag}"), &tag));
        assert!(matches(&format!("W/{tag}"), &tag));
        assert!(matches("*", &tag));
        assert!(!matches("\"other\"", &tag));
        assert!(!matches("", &tag));
    }
}
