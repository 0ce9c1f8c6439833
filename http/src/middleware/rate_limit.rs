//! Rate limits over governor: per client IP for anonymous requests, per user for
//! authenticated ones, a tighter per-IP limit on the auth endpoints (login, register,
//! password reset and confirm, password change), a per-user limit on costly writes (group
//! conversations, booking requests), and the failed-login policy ([`LoginFailures`]).
//! Answers 429 `rate_limited` with `Retry-After`. Health, ready and metrics are exempt;
//! `rate_limits = "off"` disables all of it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
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
    /// Per (user, write class): group conversations and booking requests.
    writes: DefaultKeyedRateLimiter<(String, WriteClass)>,
}

/// Writes that cost every recipient something (a new group, a booking request to answer),
/// limited per user on top of the general limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteClass {
    GroupConversation,
    BookingRequest,
}

impl WriteClass {
    fn label(self) -> &'static str {
        match self {
            WriteClass::GroupConversation => "group_conversation",
            WriteClass::BookingRequest => "booking_request",
        }
    }
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
            writes: RateLimiter::keyed(per_minute(s.rate_writes_per_min)),
        }
    }

    /// Drops idle keys so memory stays bounded; called periodically.
    pub fn prune(&self) {
        self.anonymous.retain_recent();
        self.user.retain_recent();
        self.auth.retain_recent();
        self.writes.retain_recent();
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
            | "/api/auth/password-confirm"
            // Checks the old password with argon2: as costly, and as guessable, as a login.
            | "/api/auth/password/change"
    )
}

/// Booking creation under its canonical path and both aliases.
fn is_booking_create(method: &Method, path: &str) -> bool {
    method == Method::POST && matches!(path, "/api/bookings" | "/api/service-bookings" | "/api/appointments")
}

fn is_conversation_create(method: &Method, path: &str) -> bool {
    method == Method::POST && path == "/api/conversations"
}

/// Whether a conversation-create body names more than one participant besides the caller.
/// A body that is not the expected JSON is not a group: the handler refuses it anyway.
fn is_group(body: &[u8], caller: &str) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else { return false };
    let Some(ids) = value.get("participant_ids").and_then(|v| v.as_array()) else { return false };
    let others: HashSet<&str> =
        ids.iter().filter_map(|v| v.as_str()).map(str::trim).filter(|id| !id.eq_ignore_ascii_case(caller)).collect();
    others.len() > 1
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
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let limiters = req.app_data::<web::Data<Arc<Limiters>>>().cloned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let (Some(limiters), Some(state)) = (limiters, state) else {
        return next.call(req).await.map(ServiceResponse::map_into_boxed_body);
    };
    let path = req.path().to_string();
    if !is_exempt(&path) {
        let ip = req.peer_addr().map(|a| a.ip()).unwrap_or(IpAddr::from([0, 0, 0, 0]));
        // Only the signature is checked here (cheap); handlers still check revocation.
        let user = bearer_token(req.request())
            .and_then(|t| state.jwt.verify(t, TokenKind::Access).ok())
            .map(|c| c.sub.to_string());
        let mut verdict = if is_auth_endpoint(&path) {
            check(&limiters.auth, &ip, "auth")
        } else {
            match &user {
                Some(user) => check(&limiters.user, user, "user"),
                None => check(&limiters.anonymous, &ip, "anonymous"),
            }
        };
        if let (Ok(()), Some(user)) = (&verdict, &user) {
            let class = if is_booking_create(req.method(), &path) {
                Some(WriteClass::BookingRequest)
            } else if is_conversation_create(req.method(), &path) {
                // Direct conversations are unique per pair (idempotent); only groups count.
                // The body is read here and handed back to the handler unchanged.
                let body = match req.extract::<web::Bytes>().await {
                    Ok(body) => body,
                    Err(e) => {
                        let status = e.as_response_error().status_code();
                        let err = if status == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
                            ApiError::PayloadTooLarge
                        } else {
                            ApiError::BadRequest { code: "invalid_body", message: e.to_string() }
                        };
                        return Ok(req.into_response(err.error_response()));
                    }
                };
                let group = is_group(&body, user);
                req.set_payload(Payload::from(body));
                group.then_some(WriteClass::GroupConversation)
            } else {
                None
            };
            if let Some(class) = class {
                verdict = limiters.writes.check_key(&(user.clone(), class)).map_err(|not_until| {
                    limited(class.label(), not_until.wait_time_from(DefaultClock::default().now()))
                });
            }
        }
        if let Err(e) = verdict {
            return Ok(req.into_response(e.error_response()));
        }
    }
    next.call(req).await.map(ServiceResponse::map_into_boxed_body)
}

/// The failed-login policy. A lock must not tell someone who lacks the password anything
/// about the account, and must not let anyone lock anyone else out:
///
/// - Failures are counted per (login name, client IP). After `max_per_source` failures in
///   the window that source gets 429 with `Retry-After` for that name, even with the right
///   password; every other source, the owner's included, is unaffected.
/// - Failures are also counted per login name from all sources. Beyond `slowdown_after` in
///   the window, every attempt on that name (right or wrong password, from anywhere) is
///   answered only after a delay growing with the count, capped at [`MAX_SLOWDOWN`]: a
///   distributed guesser slows to a crawl while the owner still logs in.
/// - The login name is the identifier as typed and normalized (`email:<address>` or
///   `user:<username>`), never the account it resolves to, and it is checked before the
///   account is looked up. So a name that belongs to nobody behaves exactly like one that
///   does, and locking a username never affects the email of that account (which would
///   reveal that the two belong together).
pub struct LoginFailures {
    max_per_source: usize,
    slowdown_after: usize,
    window: Duration,
    enabled: bool,
    by_source: Mutex<HashMap<(String, IpAddr), VecDeque<Instant>>>,
    by_name: Mutex<HashMap<String, VecDeque<Instant>>>,
}

/// The longest delay the per-name slowdown adds to one login attempt.
pub const MAX_SLOWDOWN: Duration = Duration::from_secs(5);
/// Delay added per failure beyond `login_slowdown_after`.
const SLOWDOWN_STEP: Duration = Duration::from_millis(500);

/// Drops the instants older than `window` from the front of `q`.
fn expire(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

impl LoginFailures {
    pub fn new(s: &Settings) -> Self {
        LoginFailures {
            max_per_source: usize::try_from(s.login_failures_max).unwrap_or(usize::MAX).max(1),
            slowdown_after: usize::try_from(s.login_slowdown_after).unwrap_or(usize::MAX).max(1),
            window: Duration::from_secs(s.login_lockout_window_secs),
            enabled: s.rate_limits_on(),
            by_source: Mutex::new(HashMap::new()),
            by_name: Mutex::new(HashMap::new()),
        }
    }

    /// Before an attempt on `name` from `ip`: `Err(429)` while that source is locked out for
    /// that name, else the delay to wait before answering (zero unless the name is under a
    /// distributed attack).
    pub fn check(&self, name: &str, ip: IpAddr) -> Result<Duration, ApiError> {
        if !self.enabled {
            return Ok(Duration::ZERO);
        }
        let now = Instant::now();
        {
            let mut map = self.by_source.lock().map_err(|_| ApiError::internal("login failure map poisoned"))?;
            if let Some(q) = map.get_mut(&(name.to_string(), ip)) {
                expire(q, now, self.window);
                if q.len() >= self.max_per_source {
                    let oldest = q.front().copied().unwrap_or(now);
                    let wait = self.window.saturating_sub(now.duration_since(oldest));
                    metrics::counter!("agora_login_lockouts_total").increment(1);
                    return Err(ApiError::TooManyRequests {
                        message: "too many failed logins from this address; try again later",
                        retry_after: wait,
                    });
                }
            }
        }
        let mut map = self.by_name.lock().map_err(|_| ApiError::internal("login failure map poisoned"))?;
        let Some(q) = map.get_mut(name) else { return Ok(Duration::ZERO) };
        expire(q, now, self.window);
        Ok(self.slowdown(q.len()))
    }

    /// The delay for a name with `failures` recent failures from all sources.
    fn slowdown(&self, failures: usize) -> Duration {
        if failures < self.slowdown_after {
            return Duration::ZERO;
        }
        let steps = u32::try_from(failures - self.slowdown_after + 1).unwrap_or(u32::MAX);
        SLOWDOWN_STEP.saturating_mul(steps).min(MAX_SLOWDOWN)
    }

    pub fn record_failure(&self, name: &str, ip: IpAddr) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if let Ok(mut map) = self.by_source.lock() {
            let q = map.entry((name.to_string(), ip)).or_default();
            q.push_back(now);
            while q.len() > self.max_per_source {
                q.pop_front();
            }
        }
        // Enough entries to reach the largest delay; older ones change nothing.
        let keep = self.slowdown_after.saturating_add(
            usize::try_from(MAX_SLOWDOWN.as_millis() / SLOWDOWN_STEP.as_millis()).unwrap_or(usize::MAX),
        );
        if let Ok(mut map) = self.by_name.lock() {
            let q = map.entry(name.to_string()).or_default();
            q.push_back(now);
            while q.len() > keep {
                q.pop_front();
            }
        }
    }

    /// After a successful login: that source starts afresh for that name. The per-name
    /// count stays (the attacker's failures do not vanish because the owner logged in).
    pub fn clear(&self, name: &str, ip: IpAddr) {
        if let Ok(mut map) = self.by_source.lock() {
            map.remove(&(name.to_string(), ip));
        }
    }

    /// Forgets names and sources whose failures are all outside the window.
    pub fn prune(&self) {
        let now = Instant::now();
        if let Ok(mut map) = self.by_source.lock() {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
        if let Ok(mut map) = self.by_name.lock() {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < self.window));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max: u32, slowdown_after: u32) -> LoginFailures {
        LoginFailures::new(&Settings {
            login_failures_max: max,
            login_slowdown_after: slowdown_after,
            ..Settings::default()
        })
    }

    #[test]
    fn a_source_is_locked_out_per_name_and_others_are_not() {
        let p = policy(3, 100);
        let attacker = IpAddr::from([10, 0, 0, 1]);
        let owner = IpAddr::from([10, 0, 0, 2]);
        for _ in 0..3 {
            assert!(p.check("email:a@example.com", attacker).is_ok());
            p.record_failure("email:a@example.com", attacker);
        }
        let e = p.check("email:a@example.com", attacker).expect_err("locked");
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(p.check("email:a@example.com", owner).expect("owner free"), Duration::ZERO);
        assert!(p.check("user:a", attacker).is_ok(), "another name of the same account is a separate key");
    }

    #[test]
    fn many_sources_slow_a_name_down_gradually_up_to_the_cap() {
        let p = policy(1000, 4);
        let name = "user:target";
        for i in 0..4u8 {
            assert_eq!(p.check(name, IpAddr::from([10, 0, 1, i])).expect("free"), Duration::ZERO);
            p.record_failure(name, IpAddr::from([10, 0, 1, i]));
        }
        let owner = IpAddr::from([10, 9, 9, 9]);
        assert_eq!(p.check(name, owner).expect("not locked"), SLOWDOWN_STEP);
        for i in 0..50u8 {
            p.record_failure(name, IpAddr::from([10, 0, 2, i]));
        }
        assert_eq!(p.check(name, owner).expect("not locked"), MAX_SLOWDOWN);
        assert_eq!(p.check("user:other", owner).expect("free"), Duration::ZERO);
    }

    #[test]
    fn group_detection_counts_distinct_others() {
        let me = "0190a0b0-0000-7000-8000-000000000001";
        assert!(!is_group(br#"{"participant_ids": ["a"]}"#, me));
        assert!(!is_group(format!(r#"{{"participant_ids": ["a", "{me}"]}}"#).as_bytes(), me));
        assert!(!is_group(br#"{"participant_ids": ["a", "a"]}"#, me));
        assert!(is_group(br#"{"participant_ids": ["a", "b"]}"#, me));
        assert!(!is_group(b"not json", me));
    }
}
