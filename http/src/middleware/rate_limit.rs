//! Rate limits over governor: per client IP for anonymous requests, per user for
//! authenticated ones, a tighter per-IP limit on login/register/password reset, and at most
//! N failed logins per account per window. Answers 429 with `Retry-After`. Health, ready
//! and metrics are exempt; `rate_limits = "off"` disables all of it.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, Error, ResponseError as _};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::auth::{bearer_token, TokenKind};
use crate::config::Settings;
use crate::error::ApiError;
use crate::state::AppState;

pub struct Limiters {
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    user: DefaultKeyedRateLimiter<String>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN))
}

impl Limiters {
    pub fn new(s: &Settings) -> Self {
        Limiters {
            anonymous: RateLimiter::keyed(per_minute(s.rate_anonymous_per_min)),
            user: RateLimiter::keyed(per_minute(s.rate_user_per_min)),
            auth: RateLimiter::keyed(per_minute(s.rate_auth_per_min)),
        }
    }

    /// Drops idle keys so memory stays bounded; called periodically.
    pub fn prune(&self) {
        self.anonymous.retain_recent();
        self.user.retain_recent();
        self.auth.retain_recent();
    }
}

fn is_exempt(path: &str) -> bool {
    matches!(path, "/api/health" | "/api/ready" | "/metrics")
}

fn is_auth_endpoint(path: &str) -> bool {
    matches!(
        path,
        "/api/auth/login"
            | "/api/auth/token"
            | "/api/auth/register"
            | "/api/auth/password-reset"
            | "/api/auth/password-reset/confirm"
    )
}

fn limited(class: &'static str, wait: Duration) -> ApiError {
    metrics::counter!("agora_rate_limited_total", "class" => class).increment(1);
    ApiError::TooManyRequests { message: "too many requests; slow down", retry_after: wait }
}

fn check<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: &K,
    class: &'static str,
) -> Result<(), ApiError> {
    limiter.check_key(key).map_err(|not_until| limited(class, not_until.wait_time_from(DefaultClock::default().now())))
}

/// The middleware function (`from_fn`).
pub async fn rate_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limiters = req.app_data::<web::Data<Arc<Limiters>>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(limiters), Some(state)) = (limiters, state) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let path = req.path();
    if !is_exempt(path) {
        let ip = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let verdict = if is_auth_endpoint(path) {
            check(&limiters.auth, &ip, "auth")
        } else {
            // Only the signature is checked here (cheap); handlers still check revocation.
            let user =
                bearer_token(req.request()).and_then(|t| state.jwt.verify(t, TokenKind::Access).ok()).map(|c| c.sub);
            match user {
                Some(user) => check(&limiters.user, &user.to_string(), "user"),
                None => check(&limiters.anonymous, &ip, "anonymous"),
            }
        };
        if let Err(e) = verdict {
            return Ok(req.into_response(e.error_response()));
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// Failed logins per account inside a sliding window.
pub struct LoginFailures {
    max: usize,
    window: Duration,
    enabled: bool,
    by_account: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginFailures {
    pub fn new(s: &Settings) -> Self {
        LoginFailures {
            max: usize::try_from(s.login_failures_max).unwrap_or(usize::MAX).max(1),
            window: Duration::from_secs(s.login_lockout_window_secs),
            enabled: s.rate_limits_on(),
            by_account: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(429)` while the account has had `max` failures within the window.
    pub fn check(&self, account: &str) -> Result<(), ApiError> {
        if !self.enabled {
            return Ok(());
        }
        let now = Instant::now();
        let mut map = self.by_account.lock().map_err(|_| ApiError::internal("login failure map poisoned"))?;
        if let Some(q) = map.get_mut(account) {
            while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                q.pop_front();
            }
            if q.len() >= self.max {
                let oldest = q.front().copied().unwrap_or(now);
                let wait = self.window.saturating_sub(now.duration_since(oldest));
                metrics::counter!("agora_login_lockouts_total").increment(1);
                return Err(ApiError::TooManyRequests {
                    message: "too many failed logins for this account; try again later",
                    retry_after: wait,
                });
            }
        }
        Ok(())
    }

    pub fn record_failure(&self, account: &str) {
        if !self.enabled {
            return;
        }
        if let Ok(mut map) = self.by_account.lock() {
            let q = map.entry(account.to_string()).or_default();
            q.push_back(Instant::now());
            while q.len() > self.max {
                q.pop_front();
            }
        }
    }

    pub fn clear(&self, account: &str) {
        if let Ok(mut map) = self.by_account.lock() {
            map.remove(account);
        }
    }

    /// Forgets accounts whose failures are all outside the window.
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut map) = self.by_account.lock() {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
    }
}
