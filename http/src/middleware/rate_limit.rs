//! Rate limits over governor: per client IP for anonymous requests, per user for
//! authenticated ones, a tighter per-IP limit on the auth endpoints (login, register,
//! password reset and confirm, password change), a per-user limit on costly writes (group
//! conversations, booking requests), and the failed-login policy ([`LoginFailures`]).
//! Answers 429 `rate_limited` with `Retry-After`. Health, ready and metrics are exempt;
//! `rate_limits = "off"` disables all of it.
//!
//! In cluster mode the counters live in Redis ([`gcra`]), so a limit holds across nodes;
//! while Redis is unreachable each node falls back to its own counters (counted in
//! `agora_rate_limit_fallbacks_total`).

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
    /// Cluster mode: the counters in Redis.
    shared: Option<agora_actors::cluster::Cluster>,
    quotas: [u32; 4],
    anonymous: DefaultKeyedRateLimiter<IpAddr>,
    user: DefaultKeyedRateLimiter<String>,
    auth: DefaultKeyedRateLimiter<IpAddr>,
    /// Per (user, write class): group conversations and booking requests.
    writes: DefaultKeyedRateLimiter<WriteKey>,
}

/// A user's writes of one class.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WriteKey(String, WriteClass);

impl std::fmt::Display for WriteKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.0, self.1.label())
    }
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
    pub fn new(s: &Settings, cluster: Option<&agora_actors::cluster::Cluster>) -> Self {
        Limiters {
            shared: cluster.cloned(),
            quotas: [s.rate_anonymous_per_min, s.rate_user_per_min, s.rate_auth_per_min, s.rate_writes_per_min],
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

impl Limiters {
    /// One request of `class` for `key`, against `per_min`: in Redis when the cluster
    /// reaches it, else on this node's `local` limiter.
    async fn take<K: std::hash::Hash + Eq + Clone + std::fmt::Display>(
        &self,
        local: &DefaultKeyedRateLimiter<K>,
        key: &K,
        class: &'static str,
        per_min: u32,
    ) -> Result<(), ApiError> {
        if let Some(cluster) = &self.shared {
            if let Some(wait) = gcra(cluster, class, &key.to_string(), per_min).await {
                return if wait.is_zero() { Ok(()) } else { Err(limited(class, wait)) };
            }
        }
        check(local, key, class)
    }
}

/// KEYS[1]: the key; ARGV[1]: the emission interval in µs; ARGV[2]: the burst. Answers 0
/// (allowed, counted) or how many µs to wait.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local wait = new_tat - now - interval * tonumber(ARGV[2])
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], string.format('%.0f', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1)
return 0";

/// The longest a Redis call may hold a request before the node decides alone.
const SHARED_TIMEOUT: Duration = Duration::from_millis(250);

/// Redis keys never carry a login name or address in the clear.
fn hashed(raw: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(&Sha256::digest(raw.as_bytes())[..16])
}

/// One request for `key` of `class` on the cluster-wide counters: a generic cell rate
/// algorithm (the same quota as the local limiters: a burst of `per_min`, then one every
/// `60 s / per_min`) on Redis's clock, so that nodes' clocks do not matter. `Some(wait)`
/// (zero when allowed); `None` when Redis did not answer.
async fn gcra(cluster: &agora_actors::cluster::Cluster, class: &str, key: &str, per_min: u32) -> Option<Duration> {
    static SCRIPT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| redis::Script::new(GCRA));
    let per_min = per_min.max(1);
    let mut invocation = SCRIPT.key(format!("agora:rl:{class}:{}", hashed(key)));
    invocation.arg(60_000_000 / u64::from(per_min)).arg(per_min);
    shared_call::<u64>(cluster, &invocation).await.map(Duration::from_micros)
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
        let ip = crate::client_ip::client_ip(req.request());
        // Only the signature is checked here (cheap); handlers still check revocation.
        let user = bearer_token(req.request())
            .and_then(|t| state.jwt.verify(t, TokenKind::Access).ok())
            .map(|c| c.sub.to_string());
        let [anonymous, per_user, auth, writes] = limiters.quotas;
        let mut verdict = if is_auth_endpoint(&path) {
            limiters.take(&limiters.auth, &ip, "auth", auth).await
        } else {
            match &user {
                Some(user) => limiters.take(&limiters.user, user, "user", per_user).await,
                None => limiters.take(&limiters.anonymous, &ip, "anonymous", anonymous).await,
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
                verdict = limiters.take(&limiters.writes, &WriteKey(user.clone(), class), class.label(), writes).await;
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
    /// Cluster mode: the counters in Redis (this node's maps while it is unreachable).
    shared: Option<agora_actors::cluster::Cluster>,
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

/// KEYS: the source's and the name's failure sets; ARGV: window (µs), max per source.
/// Answers `{-1, µs to wait}` for a locked-out source, else `{failures of the name, 0}`.
const LOGIN_CHECK: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local since = now - tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', since)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {-1, math.ceil(tonumber(ARGV[1]) - (now - tonumber(oldest[2])))}
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', since)
return {redis.call('ZCARD', KEYS[2]), 0}";

/// KEYS: as above; ARGV: window (µs), failures kept per source, per name, a unique suffix.
const LOGIN_FAILED: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local member = string.format('%.0f', now) .. ':' .. ARGV[4]
local keeps = {tonumber(ARGV[2]), tonumber(ARGV[3])}
for i = 1, 2 do
  redis.call('ZADD', KEYS[i], now, member)
  redis.call('ZREMRANGEBYRANK', KEYS[i], 0, -(keeps[i] + 1))
  redis.call('PEXPIRE', KEYS[i], math.ceil(tonumber(ARGV[1]) / 1000))
end
return 0";

/// One script call for the cluster-wide limits; `None` (and counted) when Redis is down or
/// did not answer in time, so that the caller decides on this node's counters.
async fn shared_call<T: redis::FromRedisValue>(
    cluster: &agora_actors::cluster::Cluster,
    invocation: &redis::ScriptInvocation<'_>,
) -> Option<T> {
    if !cluster.health().is_up() {
        metrics::counter!("agora_rate_limit_fallbacks_total").increment(1);
        return None;
    }
    let mut conn = cluster.commands();
    match tokio::time::timeout(SHARED_TIMEOUT, invocation.invoke_async::<T>(&mut conn)).await {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            metrics::counter!("agora_rate_limit_fallbacks_total").increment(1);
            tracing::warn!(error = %e, "cluster-wide limits unavailable: counting on this node");
            None
        }
        Err(_) => {
            metrics::counter!("agora_rate_limit_fallbacks_total").increment(1);
            None
        }
    }
}

fn source_key(name: &str, ip: IpAddr) -> String {
    format!("agora:lf:source:{}", hashed(&format!("{name}\n{ip}")))
}

fn name_key(name: &str) -> String {
    format!("agora:lf:name:{}", hashed(name))
}

fn locked_out(wait: Duration) -> ApiError {
    metrics::counter!("agora_login_lockouts_total").increment(1);
    ApiError::TooManyRequests {
        message: "too many failed logins from this address; try again later",
        retry_after: wait,
    }
}

impl LoginFailures {
    pub fn new(s: &Settings, cluster: Option<&agora_actors::cluster::Cluster>) -> Self {
        LoginFailures {
            shared: cluster.cloned(),
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
    pub async fn check(&self, name: &str, ip: IpAddr) -> Result<Duration, ApiError> {
        if !self.enabled {
            return Ok(Duration::ZERO);
        }
        if let Some(cluster) = &self.shared {
            static SCRIPT: std::sync::LazyLock<redis::Script> =
                std::sync::LazyLock::new(|| redis::Script::new(LOGIN_CHECK));
            let mut call = SCRIPT.key(source_key(name, ip));
            call.key(name_key(name)).arg(self.window_us()).arg(self.max_per_source);
            if let Some((count, wait)) = shared_call::<(i64, i64)>(cluster, &call).await {
                if count < 0 {
                    return Err(locked_out(Duration::from_micros(wait.unsigned_abs())));
                }
                return Ok(self.slowdown(usize::try_from(count).unwrap_or(usize::MAX)));
            }
        }
        self.check_here(name, ip)
    }

    fn window_us(&self) -> u64 {
        u64::try_from(self.window.as_micros()).unwrap_or(u64::MAX).max(1)
    }

    /// Failures kept per name: enough to reach the largest delay; older ones change nothing.
    fn keep_per_name(&self) -> usize {
        self.slowdown_after
            .saturating_add(usize::try_from(MAX_SLOWDOWN.as_millis() / SLOWDOWN_STEP.as_millis()).unwrap_or(usize::MAX))
    }

    /// [`LoginFailures::check`] on this node's counters.
    fn check_here(&self, name: &str, ip: IpAddr) -> Result<Duration, ApiError> {
        let now = Instant::now();
        {
            let mut map = self.by_source.lock().map_err(|_| ApiError::internal("login failure map poisoned"))?;
            if let Some(q) = map.get_mut(&(name.to_string(), ip)) {
                expire(q, now, self.window);
                if q.len() >= self.max_per_source {
                    let oldest = q.front().copied().unwrap_or(now);
                    return Err(locked_out(self.window.saturating_sub(now.duration_since(oldest))));
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

    pub async fn record_failure(&self, name: &str, ip: IpAddr) {
        if !self.enabled {
            return;
        }
        if let Some(cluster) = &self.shared {
            static SCRIPT: std::sync::LazyLock<redis::Script> =
                std::sync::LazyLock::new(|| redis::Script::new(LOGIN_FAILED));
            let mut call = SCRIPT.key(source_key(name, ip));
            call.key(name_key(name))
                .arg(self.window_us())
                .arg(self.max_per_source)
                .arg(self.keep_per_name())
                .arg(uuid::Uuid::new_v4().simple().to_string());
            if shared_call::<i64>(cluster, &call).await.is_some() {
                return;
            }
        }
        self.record_here(name, ip);
    }

    /// [`LoginFailures::record_failure`] on this node's counters.
    fn record_here(&self, name: &str, ip: IpAddr) {
        let now = Instant::now();
        if let Ok(mut map) = self.by_source.lock() {
            let q = map.entry((name.to_string(), ip)).or_default();
            q.push_back(now);
            while q.len() > self.max_per_source {
                q.pop_front();
            }
        }
        let keep = self.keep_per_name();
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
    pub async fn clear(&self, name: &str, ip: IpAddr) {
        if let Some(cluster) = self.shared.as_ref().filter(|c| c.health().is_up()) {
            let mut conn = cluster.commands();
            let mut del = redis::cmd("DEL");
            del.arg(source_key(name, ip));
            let del = del.query_async::<()>(&mut conn);
            match tokio::time::timeout(SHARED_TIMEOUT, del).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "clearing the cluster login counter failed"),
                Err(_) => tracing::warn!("clearing the cluster login counter timed out"),
            }
        }
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
        LoginFailures::new(
            &Settings { login_failures_max: max, login_slowdown_after: slowdown_after, ..Settings::default() },
            None,
        )
    }

    #[test]
    fn a_source_is_locked_out_per_name_and_others_are_not() {
        let p = policy(3, 100);
        let attacker = IpAddr::from([10, 0, 0, 1]);
        let owner = IpAddr::from([10, 0, 0, 2]);
        for _ in 0..3 {
            assert!(p.check_here("email:a@example.com", attacker).is_ok());
            p.record_here("email:a@example.com", attacker);
        }
        let e = p.check_here("email:a@example.com", attacker).expect_err("locked");
        assert_eq!(e.code(), "rate_limited");
        assert_eq!(p.check_here("email:a@example.com", owner).expect("owner free"), Duration::ZERO);
        assert!(p.check_here("user:a", attacker).is_ok(), "another name of the same account is a separate key");
    }

    #[test]
    fn many_sources_slow_a_name_down_gradually_up_to_the_cap() {
        let p = policy(1000, 4);
        let name = "user:target";
        for i in 0..4u8 {
            assert_eq!(p.check_here(name, IpAddr::from([10, 0, 1, i])).expect("free"), Duration::ZERO);
            p.record_here(name, IpAddr::from([10, 0, 1, i]));
        }
        let owner = IpAddr::from([10, 9, 9, 9]);
        assert_eq!(p.check_here(name, owner).expect("not locked"), SLOWDOWN_STEP);
        for i in 0..50u8 {
            p.record_here(name, IpAddr::from([10, 0, 2, i]));
        }
        assert_eq!(p.check_here(name, owner).expect("not locked"), MAX_SLOWDOWN);
        assert_eq!(p.check_here("user:other", owner).expect("free"), Duration::ZERO);
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
