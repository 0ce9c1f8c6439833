//! The web client: the built single-page app in `web/dist/`, embedded in the binary
//! (release builds; debug builds read the folder from disk, so a new `npm run build` shows
//! without a rebuild).
//!
//! Invariant: this is the router's fallback, so it never answers for a path a route owns,
//! and it never answers for the prefixes that belong to the API (`/api`, `/ws`,
//! `/metrics`, `/docs` and the seeds' JSON page aliases): an unknown path there stays the
//! JSON 404 envelope. Everything else is:
//! - a file of the build (`/assets/app-1a2b3c.js`, `/favicon.svg`), with a precompressed
//!   `.br` or `.gz` copy when the client accepts it; hashed assets are cached for a year
//!   (`immutable`), other files are revalidated (`no-cache` + `ETag`);
//! - an unknown file under `/assets/` (or any path with a file extension): 404;
//! - any other `GET`/`HEAD` (the app's own routes, `/jobs/42`): `index.html`, which the
//!   app routes on the client side.
//!
//! Every answer here carries the app's Content-Security-Policy ([`CSP_APP`]): scripts,
//! styles and connections from this origin only, no inline scripts.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::{EmbeddedFile, RustEmbed};

use crate::error::ApiError;

#[derive(RustEmbed)]
#[folder = "../web/dist"]
#[allow_missing = true]
struct Build;

/// The app pages' policy (the JSON API keeps its `default-src 'none'`).
pub const CSP_APP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
     connect-src 'self' ws: wss:; font-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; \
     frame-ancestors 'none'";

/// Path prefixes that belong to the API: the fallback leaves them to the JSON 404.
const NOT_APP: &[&str] = &["/api", "/ws", "/metrics", "/docs", "/notifications", "/analytics"];

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const REVALIDATE: &str = "no-cache";

fn owned_by_api(path: &str) -> bool {
    NOT_APP.iter().any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}

/// Whether the last path segment names a file (`app.js`), as opposed to an app route.
fn looks_like_file(path: &str) -> bool {
    path.rsplit('/').next().is_some_and(|last| last.contains('.'))
}

/// The encodings the client accepts, from `Accept-Encoding` (a `q=0` refuses one).
fn accepts(req: &HttpRequest, encoding: &str) -> bool {
    req.headers().get_all(header::ACCEPT_ENCODING).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |item| {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let refused = parts.any(|p| {
                p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()).is_some_and(|q| q <= 0.0)
            });
            name.eq_ignore_ascii_case(encoding) && !refused
        },
    )
}

fn etag(file: &EmbeddedFile) -> String {
    format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]))
}

/// One file of the build, as the client asked for it.
fn serve(req: &HttpRequest, name: &str, file: EmbeddedFile, cache: &'static str) -> HttpResponse {
    let tag = etag(&file);
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut res = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept-Encoding"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP_APP));
    if fresh {
        return res.finish();
    }
    res.insert_header((header::CONTENT_TYPE, file.metadata.mimetype().to_string()));
    // A precompressed copy next to the file (`app.js.br`), when the client takes it; the
    // compression middleware leaves a response that names its encoding alone.
    for (encoding, suffix) in [("br", "br"), ("gzip", "gz")] {
        if accepts(req, encoding) {
            if let Some(packed) = Build::get(&format!("{name}.{suffix}")) {
                res.insert_header((header::CONTENT_ENCODING, HeaderValue::from_static(encoding)));
                return body(req, res, packed);
            }
        }
    }
    body(req, res, file)
}

fn body(req: &HttpRequest, mut res: actix_web::HttpResponseBuilder, file: EmbeddedFile) -> HttpResponse {
    if req.method() == Method::HEAD {
        res.insert_header((header::CONTENT_LENGTH, file.data.len()));
        return res.finish();
    }
    res.body(file.data.into_owned())
}

/// The router's fallback (see the module docs).
pub async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || owned_by_api(path) {
        return Err(ApiError::NotFound);
    }
    let name = path.trim_start_matches('/');
    if !name.is_empty() && !name.ends_with(".br") && !name.ends_with(".gz") {
        if let Some(file) = Build::get(name) {
            let cache = if name.starts_with("assets/") { IMMUTABLE } else { REVALIDATE };
            return Ok(serve(&req, name, file, cache));
        }
    }
    if looks_like_file(path) {
        return Err(ApiError::NotFound);
    }
    match Build::get("index.html") {
        Some(index) => Ok(serve(&req, "index.html", index, REVALIDATE)),
        None => Err(ApiError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_prefixes_are_not_the_apps() {
        for path in ["/api", "/api/nope", "/ws", "/metrics", "/docs/x", "/notifications/3/read", "/analytics/client"] {
            assert!(owned_by_api(path), "{path}");
        }
        for path in ["/", "/jobs/1", "/apis", "/wsx", "/chat", "/assets/app.js", "/inbox"] {
            assert!(!owned_by_api(path), "{path}");
        }
    }

    #[test]
    fn files_are_told_from_routes() {
        assert!(looks_like_file("/assets/app-1a2b.js"));
        assert!(looks_like_file("/favicon.ico"));
        assert!(!looks_like_file("/jobs/42"));
        assert!(!looks_like_file("/"));
    }
}
