//! Browser sessions: the refresh token in an `HttpOnly` cookie, a CSRF token beside it.
//!
//! `POST /api/auth/session` logs in as `POST /api/auth/login` does, but answers only the
//! access token (which the web app keeps in memory) and sets:
//!
//! - `agora_refresh`: the refresh token; `HttpOnly; Secure; SameSite=Strict;
//!   Path=/api/auth` (sent only to the auth routes, never readable by scripts);
//! - `agora_csrf`: a random token; `Secure; SameSite=Strict; Path=/` and readable by the
//!   page's scripts, which send it back in the `X-CSRF-Token` header (double submit).
//!
//! `POST /api/auth/refresh` and `POST /api/auth/logout` without a token in their body use the
//! cookie: the request must carry `X-CSRF-Token` equal to the `agora_csrf` cookie (403
//! `csrf_failed` otherwise), since a cross-site page can make the browser send the cookie
//! but can neither read the CSRF cookie nor set the header. A refresh rotates the cookie; a
//! logout clears both.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::HttpRequest;

use crate::error::ApiError;

pub const REFRESH_COOKIE: &str = "agora_refresh";
pub const CSRF_COOKIE: &str = "agora_csrf";
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// The paths the refresh cookie is sent to: the session, refresh and logout routes.
const REFRESH_PATH: &str = "/api/auth";

/// The refresh cookie for `token`, living as long as the token (`max_age_secs`).
pub fn refresh_cookie(token: &str, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(REFRESH_COOKIE, token.to_string())
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path(REFRESH_PATH)
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish()
}

/// A fresh CSRF token and its cookie (readable by the page, so not `HttpOnly`).
pub fn csrf_cookie(max_age_secs: i64) -> (String, Cookie<'static>) {
    let (token, _) = super::one_time_token();
    let cookie = Cookie::build(CSRF_COOKIE, token.clone())
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(CookieDuration::seconds(max_age_secs))
        .finish();
    (token, cookie)
}

/// Cookies that remove both (logout).
pub fn cleared() -> [Cookie<'static>; 2] {
    let gone = |name: &'static str, path: &'static str, http_only: bool| {
        Cookie::build(name, "")
            .http_only(http_only)
            .secure(true)
            .same_site(SameSite::Strict)
            .path(path)
            .max_age(CookieDuration::ZERO)
            .finish()
    };
    [gone(REFRESH_COOKIE, REFRESH_PATH, true), gone(CSRF_COOKIE, "/", false)]
}

/// The refresh token from the cookie, if the request carries one: only with a matching
/// `X-CSRF-Token` (403 `csrf_failed` otherwise).
pub fn refresh_from_cookie(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    let Some(refresh) = req.cookie(REFRESH_COOKIE).map(|c| c.value().to_string()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let expected = req.cookie(CSRF_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let presented = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    if expected.is_empty() || !super::same_secret(presented.as_bytes(), expected.as_bytes()) {
        metrics::counter!("agora_csrf_refusals_total").increment(1);
        return Err(ApiError::Refused {
            code: agora_engine::codes::CSRF_FAILED,
            message: "a cookie session needs the X-CSRF-Token header, equal to the agora_csrf cookie",
        });
    }
    Ok(Some(refresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refresh_cookie_is_http_only_secure_strict_and_scoped() {
        let c = refresh_cookie("tok", 60).to_string();
        for part in ["agora_refresh=tok", "HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth", "Max-Age=60"] {
            assert!(c.contains(part), "{part} missing from {c}");
        }
        let (token, csrf) = csrf_cookie(60);
        let csrf = csrf.to_string();
        assert!(csrf.contains(&format!("agora_csrf={token}")) && !csrf.contains("HttpOnly"), "{csrf}");
        assert!(token.len() >= 40, "a long random token");
        for c in cleared() {
            assert!(c.to_string().contains("Max-Age=0"), "{c}");
        }
    }

    #[test]
    fn the_cookie_counts_only_with_the_matching_header() {
        use actix_web::test::TestRequest;
        let with = |header: Option<&str>| {
            let mut r = TestRequest::default()
                .cookie(Cookie::new(REFRESH_COOKIE, "tok"))
                .cookie(Cookie::new(CSRF_COOKIE, "abc"));
            if let Some(h) = header {
                r = r.insert_header((CSRF_HEADER, h));
            }
            refresh_from_cookie(&r.to_http_request())
        };
        assert_eq!(with(Some("abc")).ok().flatten().as_deref(), Some("tok"));
        assert!(with(Some("abd")).is_err());
        assert!(with(None).is_err());
        let none = TestRequest::default().to_http_request();
        assert_eq!(refresh_from_cookie(&none).ok().flatten(), None);
    }
}
