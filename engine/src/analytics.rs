//! Analytics: the facts Agora records (page views and client actions sent by clients, user
//! actions recorded from domain events, searches) and how they roll up into per-day,
//! per-month and all-time counters per dimension (the platform, a provider, a service, a
//! client) and into ranked lists (popular services, busy providers, search terms).
//!
//! Everything here is pure: the actors feed facts in and write the sums, idempotently, to
//! storage (docs/analytics.md). Dashboards read the sums, never the facts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, Month, OffsetDateTime};

use crate::{DomainError, FieldErrors, Money, ServiceId, UserId};

/// Events a client may send in one request.
pub const MAX_BATCH: usize = 100;
pub const MAX_PATH: usize = 512;
pub const MAX_REFERRER: usize = 1024;
pub const MAX_TARGET: usize = 64;
/// Search terms are kept lower-cased, with single spaces, at most this many characters.
pub const MAX_QUERY: usize = 100;
/// Distinct keys a ranked list keeps per period; later new keys count under [`OTHER`].
pub const MAX_RANK_KEYS: usize = 5000;
pub const OTHER: &str = "(other)";
/// The longest dashboard range, in days (inclusive).
pub const MAX_RANGE_DAYS: i64 = 366;
/// How far in the past a client may date an event (buffered offline), and in the future.
pub const MAX_CLIENT_AGE: Duration = Duration::days(3);
pub const MAX_CLIENT_SKEW: Duration = Duration::minutes(5);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    // Sent by clients (the allow-list of `POST /api/analytics/events`).
    PageView,
    Click,
    Share,
    FormSubmit,
    OutboundLink,
    // Recorded by the server.
    UserRegistered,
    ServiceViewed,
    ServiceLiked,
    ServiceUnliked,
    ServiceCreated,
    ServiceRemoved,
    JobPosted,
    ProposalSubmitted,
    ProposalAccepted,
    ContractCreated,
    /// `from` → `to`.
    ContractStatus,
    BookingMade,
    /// `to`: the booking's new status.
    BookingStatus,
    ReviewPosted,
    /// Money captured into escrow (a funded milestone, a paid booking): `amount`.
    PaymentCaptured,
    /// Escrow released to a provider: `amount` gross, `fee` the platform's part.
    PaymentReleased,
    /// `count` messages (never their content).
    MessageSent,
    Search,
}

impl Kind {
    pub const CLIENT: [Kind; 5] = [Kind::PageView, Kind::Click, Kind::Share, Kind::FormSubmit, Kind::OutboundLink];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::PageView => "page_view",
            Kind::Click => "click",
            Kind::Share => "share",
            Kind::FormSubmit => "form_submit",
            Kind::OutboundLink => "outbound_link",
            Kind::UserRegistered => "user_registered",
            Kind::ServiceViewed => "service_viewed",
            Kind::ServiceLiked => "service_liked",
            Kind::ServiceUnliked => "service_unliked",
            Kind::ServiceCreated => "service_created",
            Kind::ServiceRemoved => "service_removed",
            Kind::JobPosted => "job_posted",
            Kind::ProposalSubmitted => "proposal_submitted",
            Kind::ProposalAccepted => "proposal_accepted",
            Kind::ContractCreated => "contract_created",
            Kind::ContractStatus => "contract_status",
            Kind::BookingMade => "booking_made",
            Kind::BookingStatus => "booking_status",
            Kind::ReviewPosted => "review_posted",
            Kind::PaymentCaptured => "payment_captured",
            Kind::PaymentReleased => "payment_released",
            Kind::MessageSent => "message_sent",
            Kind::Search => "search",
        }
    }

    /// A kind a client may send.
    pub fn client(s: &str) -> Option<Kind> {
        Kind::CLIENT.into_iter().find(|k| k.as_str() == s)
    }
}

/// One recorded fact. Fields a kind does not use stay empty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fact {
    pub kind: Kind,
    /// When it happened: the day and month it counts in.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The signed-in user who did it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<UserId>,
    /// An anonymous visitor's random id (kept by the client).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor: Option<String>,
    /// The client address, hashed with a salt that changes every day (never the raw address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<ServiceId>,
    /// The provider (a user) the fact is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<UserId>,
    /// The client (a user) the fact is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
    /// Minor units of `amount`'s currency.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fee: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// A search's normalized terms, what it searched and how many results it had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rating: Option<u8>,
    #[serde(default = "one")]
    pub count: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn one() -> u32 {
    1
}

impl Fact {
    pub fn new(kind: Kind, at: OffsetDateTime) -> Fact {
        Fact {
            kind,
            at,
            user: None,
            visitor: None,
            ip: None,
            path: None,
            referrer: None,
            target: None,
            service: None,
            provider: None,
            client: None,
            amount: None,
            fee: 0,
            from: None,
            to: None,
            query: None,
            search: None,
            results: None,
            filters: None,
            rating: None,
            count: 1,
        }
    }

    pub fn by(mut self, user: Option<UserId>) -> Fact {
        self.user = user;
        self
    }

    /// The UTC day it counts in.
    pub fn day(&self) -> Date {
        self.at.to_offset(time::UtcOffset::UTC).date()
    }
}

/// One event as a client sends it. Unknown fields are refused, so nothing a client adds
/// (an email, a name) is ever stored.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEvent {
    pub kind: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub referrer: Option<String>,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub at: Option<OffsetDateTime>,
}

/// Who sent a batch: a signed-in user or an anonymous visitor id, and the hashed address.
#[derive(Debug, Clone, PartialEq)]
pub struct Sender {
    pub user: Option<UserId>,
    pub visitor: Option<String>,
    pub ip: Option<String>,
}

/// Checks a visitor id: 8 to 64 characters of `A-Z a-z 0-9 - _`.
pub fn visitor_id(raw: &str) -> Result<String, DomainError> {
    let ok = (8..=64).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid("must be 8 to 64 characters of letters, digits, '-' and '_'"))
    }
}

/// Turns a client's batch into facts, or names every bad field (`events[3].path`).
pub fn client_facts(events: Vec<ClientEvent>, sender: &Sender, now: OffsetDateTime) -> Result<Vec<Fact>, DomainError> {
    let mut f = FieldErrors::new();
    if events.is_empty() {
        f.add("events", "must hold at least one event");
    }
    if events.len() > MAX_BATCH {
        f.add("events", format!("at most {MAX_BATCH} events a request"));
    }
    let mut out = Vec::with_capacity(events.len());
    for (i, e) in events.into_iter().enumerate() {
        let field = |name: &str| format!("events[{i}].{name}");
        let Some(kind) = Kind::client(&e.kind) else {
            f.add(field("kind"), format!("must be one of {}", Kind::CLIENT.map(Kind::as_str).join(", ")));
            continue;
        };
        let at = match e.at {
            None => now,
            Some(at) if at < now - MAX_CLIENT_AGE || at > now + MAX_CLIENT_SKEW => {
                f.add(field("at"), "must be within the last 3 days");
                continue;
            }
            Some(at) => at,
        };
        let mut fact = Fact::new(kind, at).by(sender.user);
        fact.visitor = sender.visitor.clone();
        fact.ip = sender.ip.clone();
        fact.path = match e.path.as_deref().map(str::trim) {
            None | Some("") if kind == Kind::PageView => {
                f.add(field("path"), "is required for a page view");
                None
            }
            None | Some("") => None,
            Some(p) => f.check(&field("path"), path(p)),
        };
        fact.referrer = e
            .referrer
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .and_then(|r| f.check(&field("referrer"), referrer(r)));
        fact.target = e
            .target
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .and_then(|t| f.check(&field("target"), target(t)));
        out.push(fact);
    }
    f.into_result()?;
    Ok(out)
}

/// Cuts a query string or fragment off: they may carry personal data.
fn without_query(s: &str) -> &str {
    let end = s.find(['?', '#']).unwrap_or(s.len());
    &s[..end]
}

fn path(raw: &str) -> Result<String, DomainError> {
    if raw.len() > MAX_PATH {
        return Err(DomainError::invalid(format!("at most {MAX_PATH} characters")));
    }
    if !raw.starts_with('/') || raw.chars().any(char::is_control) {
        return Err(DomainError::invalid("must be a path starting with '/'"));
    }
    Ok(without_query(raw).to_owned())
}

fn referrer(raw: &str) -> Result<String, DomainError> {
    if raw.len() > MAX_REFERRER {
        return Err(DomainError::invalid(format!("at most {MAX_REFERRER} characters")));
    }
    let web = raw.starts_with("https://") || raw.starts_with("http://") || raw.starts_with('/');
    if !web || raw.chars().any(char::is_control) {
        return Err(DomainError::invalid("must be an http(s) URL or a path"));
    }
    Ok(without_query(raw).to_owned())
}

fn target(raw: &str) -> Result<String, DomainError> {
    let ok = raw.len() <= MAX_TARGET
        && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.' | b':'));
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid(format!("at most {MAX_TARGET} characters of a-z, 0-9, '_', '-', '.', ':'")))
    }
}

/// Search terms as they are counted: lower-cased, single spaces, bounded.
pub fn normalize_query(q: &str) -> String {
    let words: Vec<String> = q.split_whitespace().map(str::to_lowercase).collect();
    words.join(" ").chars().take(MAX_QUERY).collect()
}

// ---------------------------------------------------------------------------------------
// Rollups

/// Whose figures a counter is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Platform,
    Provider(UserId),
    Service(ServiceId),
    Client(UserId),
}

impl Scope {
    pub fn key(&self) -> String {
        match self {
            Scope::Platform => "platform".into(),
            Scope::Provider(u) => format!("provider:{u}"),
            Scope::Service(s) => format!("service:{s}"),
            Scope::Client(u) => format!("client:{u}"),
        }
    }
}

/// The period a counter covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Period {
    Day(Date),
    Month(i32, Month),
    All,
}

impl Period {
    pub fn month_of(d: Date) -> Period {
        Period::Month(d.year(), d.month())
    }

    /// `d:2026-12-03`, `m:2026-12`, `all`: byte order is time order within a kind.
    pub fn key(&self) -> String {
        match self {
            Period::Day(d) => format!("d:{}", ymd(*d)),
            Period::Month(y, m) => format!("m:{y:04}-{:02}", *m as u8),
            Period::All => "all".into(),
        }
    }
}

/// `YYYY-MM-DD`.
pub fn ymd(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), d.month() as u8, d.day())
}

/// The ranked lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rank {
    /// Service id → views (platform).
    Services,
    /// Provider user id → completed contracts and bookings (platform).
    Providers,
    /// Search terms → searches (platform, and each client's own).
    Queries,
    /// Search terms without results → searches (platform).
    ZeroResults,
    /// Service id → likes less unlikes (each client's favourites).
    Liked,
}

impl Rank {
    pub fn as_str(self) -> &'static str {
        match self {
            Rank::Services => "services",
            Rank::Providers => "providers",
            Rank::Queries => "queries",
            Rank::ZeroResults => "zero_results",
            Rank::Liked => "liked",
        }
    }

    /// The partition of a ranked list: `<rank>:<scope>`.
    pub fn key(self, scope: Scope) -> String {
        format!("{}:{}", self.as_str(), scope.key())
    }
}

/// Counter name → amount.
pub type Counters = BTreeMap<String, i64>;

/// What a set of facts adds: counters per (scope, period) and ranked-list entries per
/// (list, period). Facts count in their own day and month (and, for counters, all time).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Deltas {
    pub counters: BTreeMap<(String, Period), Counters>,
    pub ranks: BTreeMap<(String, Period), Counters>,
}

impl Deltas {
    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.ranks.is_empty()
    }

    /// Adds `n` to `metric` of `scope` in the day, the month and all time.
    pub fn count(&mut self, scope: Scope, day: Date, metric: &str, n: i64) {
        if n == 0 {
            return;
        }
        for period in [Period::Day(day), Period::month_of(day), Period::All] {
            *self.counters.entry((scope.key(), period)).or_default().entry(metric.to_owned()).or_default() += n;
        }
    }

    /// Moves a gauge kept for all time only (contracts by status).
    pub fn gauge(&mut self, scope: Scope, metric: &str, n: i64) {
        *self.counters.entry((scope.key(), Period::All)).or_default().entry(metric.to_owned()).or_default() += n;
    }

    /// Adds `n` to `key` of a ranked list in the day and the month.
    pub fn rank(&mut self, rank: Rank, scope: Scope, day: Date, key: &str, n: i64) {
        for period in [Period::Day(day), Period::month_of(day)] {
            *self.ranks.entry((rank.key(scope), period)).or_default().entry(key.to_owned()).or_default() += n;
        }
    }

    /// A user active on `day` who was last active on `last` (never: `None`): counts in the
    /// day's active users once, and moves the user in the "last active on" counts that
    /// the 1/7/30-day active figures sum. Nothing when `day` is not after `last`.
    pub fn active(&mut self, day: Date, last: Option<Date>) {
        if last.is_some_and(|l| l >= day) {
            return;
        }
        self.count(Scope::Platform, day, "active_users", 1);
        *self
            .counters
            .entry((Scope::Platform.key(), Period::Day(day)))
            .or_default()
            .entry("last_seen".into())
            .or_default() += 1;
        if let Some(l) = last {
            *self
                .counters
                .entry((Scope::Platform.key(), Period::Day(l)))
                .or_default()
                .entry("last_seen".into())
                .or_default() -= 1;
        }
    }

    /// What one fact adds.
    pub fn add(&mut self, fact: &Fact) {
        let day = fact.day();
        let n = i64::from(fact.count);
        let p = Scope::Platform;
        let provider = fact.provider.map(Scope::Provider);
        let client = fact.client.map(Scope::Client);
        let service = fact.service.map(Scope::Service);
        let each = |d: &mut Deltas, scopes: &[Option<Scope>], metric: &str, n: i64| {
            for s in scopes.iter().flatten() {
                d.count(*s, day, metric, n);
            }
        };
        match fact.kind {
            Kind::PageView => self.count(p, day, "page_views", n),
            Kind::Click | Kind::Share | Kind::FormSubmit | Kind::OutboundLink => {
                self.count(p, day, "actions", n);
                self.count(p, day, &format!("action:{}", fact.kind.as_str()), n);
            }
            Kind::UserRegistered => self.count(p, day, "users_new", n),
            Kind::ServiceViewed => {
                each(self, &[Some(p), provider], "service_views", n);
                each(self, &[service], "views", n);
                if let Some(s) = fact.service {
                    self.rank(Rank::Services, p, day, &s.to_string(), n);
                }
            }
            Kind::ServiceLiked | Kind::ServiceUnliked => {
                let (metric, sign) = if fact.kind == Kind::ServiceLiked { ("likes", 1) } else { ("unlikes", -1) };
                each(self, &[Some(p), provider, service, client], metric, n);
                if let (Some(c), Some(s)) = (client, fact.service) {
                    self.rank(Rank::Liked, c, day, &s.to_string(), sign * n);
                }
            }
            Kind::ServiceCreated => each(self, &[Some(p), provider], "services_new", n),
            Kind::ServiceRemoved => each(self, &[Some(p), provider], "services_removed", n),
            Kind::JobPosted => each(self, &[Some(p), client], "jobs_posted", n),
            Kind::ProposalSubmitted => each(self, &[Some(p), provider], "proposals", n),
            Kind::ProposalAccepted => {
                self.count(p, day, "proposals_accepted", n);
                each(self, &[provider], "proposals_won", n);
            }
            Kind::ContractCreated => {
                each(self, &[Some(p), provider, client], "contracts_new", n);
                self.gauge(p, "contracts:pending", n);
            }
            Kind::ContractStatus => {
                if let Some(from) = &fact.from {
                    self.gauge(p, &format!("contracts:{from}"), -n);
                }
                if let Some(to) = &fact.to {
                    self.gauge(p, &format!("contracts:{to}"), n);
                    match to.as_str() {
                        "completed" => {
                            each(self, &[Some(p), provider, client], "contracts_completed", n);
                            if let Some(u) = fact.provider {
                                self.rank(Rank::Providers, p, day, &u.to_string(), n);
                            }
                        }
                        "cancelled" => each(self, &[Some(p), provider, client], "contracts_cancelled", n),
                        _ => {}
                    }
                }
            }
            Kind::BookingMade => each(self, &[Some(p), provider, service, client], "bookings", n),
            Kind::BookingStatus => {
                if fact.to.as_deref() == Some("completed") {
                    each(self, &[Some(p), provider, service], "bookings_completed", n);
                    if let Some(u) = fact.provider {
                        self.rank(Rank::Providers, p, day, &u.to_string(), n);
                    }
                }
            }
            Kind::ReviewPosted => {
                each(self, &[Some(p), provider, service], "reviews", n);
                let stars = i64::from(fact.rating.unwrap_or(0)) * n;
                each(self, &[Some(p), provider, service], "rating_sum", stars);
            }
            Kind::PaymentCaptured => {
                if let Some(m) = fact.amount {
                    let cur = m.currency();
                    self.count(p, day, &format!("gmv:{}", cur.as_str()), m.minor());
                    each(self, &[client], &format!("spend:{}", cur.as_str()), m.minor());
                }
            }
            Kind::PaymentReleased => {
                if let Some(m) = fact.amount {
                    let cur = m.currency().as_str().to_owned();
                    self.count(p, day, &format!("released:{cur}"), m.minor());
                    self.count(p, day, &format!("fees:{cur}"), fact.fee);
                    each(self, &[provider], &format!("earnings:{cur}"), m.minor() - fact.fee);
                }
            }
            Kind::MessageSent => self.count(p, day, "messages", n),
            Kind::Search => {
                let zero = fact.results == Some(0);
                self.count(p, day, "searches", n);
                if zero {
                    self.count(p, day, "searches_zero", n);
                }
                if let Some(c) = fact.user.map(Scope::Client) {
                    self.count(c, day, "searches", n);
                }
                if let Some(q) = fact.query.as_deref().filter(|q| !q.is_empty()) {
                    self.rank(Rank::Queries, p, day, q, n);
                    if zero {
                        self.rank(Rank::ZeroResults, p, day, q, n);
                    }
                    if let Some(u) = fact.user {
                        self.rank(Rank::Queries, Scope::Client(u), day, q, n);
                    }
                }
            }
        }
    }
}

/// Adds `delta` into `into`; a key that falls to zero goes (absent reads as zero). A ranked list keeps at most
/// `MAX_RANK_KEYS` keys: beyond that, new keys count under [`OTHER`].
pub fn merge(into: &mut Counters, delta: &Counters, ranked: bool) {
    for (k, v) in delta {
        let key = if ranked && !into.contains_key(k) && into.len() >= MAX_RANK_KEYS { OTHER } else { k.as_str() };
        let slot = into.entry(key.to_owned()).or_default();
        *slot += v;
        if *slot == 0 {
            into.remove(key);
        }
    }
}

/// The `n` largest positive entries, largest first (ties by key).
pub fn top(counters: &Counters, n: usize) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> =
        counters.iter().filter(|(k, c)| **c > 0 && k.as_str() != OTHER).map(|(k, c)| (k.clone(), *c)).collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

// ---------------------------------------------------------------------------------------
// Ranges

/// A dashboard's range of UTC days, inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub from: Date,
    pub to: Date,
}

impl Range {
    /// `from`/`to` as `YYYY-MM-DD`; the default is the 30 days ending `today`. `from` after
    /// `to` or more than [`MAX_RANGE_DAYS`] days is refused.
    pub fn parse(from: Option<&str>, to: Option<&str>, today: Date) -> Result<Range, DomainError> {
        let mut f = FieldErrors::new();
        let to = match to {
            None => Some(today),
            Some(s) => f.check("to", parse_date(s)),
        };
        let from = match from {
            None => to.map(|t| t - Duration::days(29)),
            Some(s) => f.check("from", parse_date(s)),
        };
        f.into_result()?;
        let (Some(from), Some(to)) = (from, to) else { return Err(DomainError::invalid("bad range")) };
        if from > to {
            return Err(DomainError::invalid_field("from", "must not be after to"));
        }
        if (to - from).whole_days() + 1 > MAX_RANGE_DAYS {
            return Err(DomainError::invalid_field("to", format!("a range covers at most {MAX_RANGE_DAYS} days")));
        }
        Ok(Range { from, to })
    }

    pub fn days(&self) -> impl Iterator<Item = Date> {
        let (from, to) = (self.from, self.to);
        std::iter::successors(Some(from), move |d| d.next_day().filter(|n| *n <= to))
    }

    /// The months the range touches, in order.
    pub fn months(&self) -> Vec<Period> {
        let mut out: Vec<Period> = Vec::new();
        for d in self.days() {
            let m = Period::month_of(d);
            if out.last() != Some(&m) {
                out.push(m);
            }
        }
        out
    }

    /// The periods whose ranked lists add up to exactly the range: whole months as months,
    /// the days of partial months as days.
    pub fn rank_periods(&self) -> Vec<Period> {
        let mut out = Vec::new();
        let mut d = self.from;
        while d <= self.to {
            let first = d.replace_day(1).unwrap_or(d);
            let last = last_of_month(d);
            if d == first && last <= self.to {
                out.push(Period::month_of(d));
                d = match last.next_day() {
                    Some(n) => n,
                    None => break,
                };
            } else {
                out.push(Period::Day(d));
                d = match d.next_day() {
                    Some(n) => n,
                    None => break,
                };
            }
        }
        out
    }
}

fn last_of_month(d: Date) -> Date {
    let days = d.month().length(d.year());
    d.replace_day(days).unwrap_or(d)
}

pub fn parse_date(s: &str) -> Result<Date, DomainError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), &format).map_err(|_| DomainError::invalid("must be a date, YYYY-MM-DD"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn ev(kind: &str, path: Option<&str>) -> ClientEvent {
        ClientEvent { kind: kind.into(), path: path.map(Into::into), referrer: None, target: None, at: None }
    }

    fn sender() -> Sender {
        Sender { user: None, visitor: Some("visitor-123".into()), ip: Some("ab12".into()) }
    }

    #[test]
    fn client_batches_are_validated_field_by_field() {
        let now = datetime!(2026-12-03 10:00 UTC);
        let ok = client_facts(vec![ev("page_view", Some("/services/1?email=a@b.c#x"))], &sender(), now).expect("valid");
        assert_eq!(ok[0].path.as_deref(), Some("/services/1"), "query strings are cut off");
        assert_eq!((ok[0].visitor.as_deref(), ok[0].at), (Some("visitor-123"), now));
        let cases: Vec<(Vec<ClientEvent>, &str)> = vec![
            (vec![], "events"),
            ((0..=MAX_BATCH).map(|_| ev("click", None)).collect(), "events"),
            (vec![ev("purchase", None)], "events[0].kind"),
            (vec![ev("click", None), ev("page_view", None)], "events[1].path"),
            (vec![ev("page_view", Some("services"))], "events[0].path"),
            (vec![ev("page_view", Some(&format!("/{}", "a".repeat(MAX_PATH))))], "events[0].path"),
            (
                vec![ClientEvent { referrer: Some("javascript:alert(1)".into()), ..ev("click", None) }],
                "events[0].referrer",
            ),
            (vec![ClientEvent { target: Some("Buy Now!".into()), ..ev("click", None) }], "events[0].target"),
            (vec![ClientEvent { at: Some(now - Duration::days(4)), ..ev("click", None) }], "events[0].at"),
            (vec![ClientEvent { at: Some(now + Duration::hours(1)), ..ev("click", None) }], "events[0].at"),
        ];
        for (events, field) in cases {
            let err = client_facts(events, &sender(), now).expect_err(field);
            let DomainError::Invalid(fields) = err else { panic!("{field}: not a validation error") };
            assert!(fields.fields().contains_key(field), "{field} not named in {fields:?}");
        }
        assert!(
            visitor_id("short").is_err() && visitor_id("has space 123").is_err() && visitor_id("v-1234567").is_ok()
        );
    }

    #[test]
    fn facts_count_in_their_day_month_and_all_time_per_scope() {
        let (prov, cli) = (uid(1), uid(2));
        let svc = ServiceId::from_uuid(uuid::Uuid::from_u128(9));
        let at = datetime!(2026-11-30 23:30 UTC);
        let mut d = Deltas::default();
        let mut view = Fact::new(Kind::ServiceViewed, at);
        (view.service, view.provider) = (Some(svc), Some(prov));
        d.add(&view);
        d.add(&view);
        let mut done = Fact::new(Kind::ContractStatus, at);
        (done.provider, done.client, done.from, done.to) =
            (Some(prov), Some(cli), Some("delivered".into()), Some("completed".into()));
        d.add(&done);
        let mut paid = Fact::new(Kind::PaymentReleased, at);
        (paid.provider, paid.amount, paid.fee) = (Some(prov), Some(Money::parse(10_000, "USD").expect("money")), 1_000);
        d.add(&paid);
        let get = |scope: Scope, p: Period, m: &str| d.counters.get(&(scope.key(), p)).and_then(|c| c.get(m)).copied();
        let (day, month) = (Period::Day(date!(2026 - 11 - 30)), Period::Month(2026, Month::November));
        assert_eq!(get(Scope::Platform, day, "service_views"), Some(2));
        assert_eq!(get(Scope::Provider(prov), month, "service_views"), Some(2));
        assert_eq!(get(Scope::Service(svc), Period::All, "views"), Some(2));
        assert_eq!(get(Scope::Platform, Period::All, "contracts:completed"), Some(1));
        assert_eq!(get(Scope::Platform, Period::All, "contracts:delivered"), Some(-1));
        assert_eq!(get(Scope::Platform, day, "contracts:completed"), None, "gauges are all-time only");
        assert_eq!(get(Scope::Client(cli), day, "contracts_completed"), Some(1));
        assert_eq!(get(Scope::Platform, day, "fees:USD"), Some(1_000));
        assert_eq!(get(Scope::Provider(prov), day, "earnings:USD"), Some(9_000));
        let ranks = d.ranks.get(&(Rank::Services.key(Scope::Platform), day)).expect("ranked");
        assert_eq!(ranks.get(&svc.to_string()), Some(&2));
    }

    #[test]
    fn a_user_counts_once_a_day_and_moves_between_last_active_days() {
        let mut d = Deltas::default();
        let (mon, tue) = (date!(2026 - 11 - 30), date!(2026 - 12 - 01));
        d.active(mon, None);
        d.active(tue, Some(mon));
        d.active(tue, Some(tue));
        let get =
            |day: Date, m: &str| d.counters.get(&("platform".into(), Period::Day(day))).and_then(|c| c.get(m)).copied();
        assert_eq!((get(mon, "active_users"), get(tue, "active_users")), (Some(1), Some(1)));
        assert_eq!((get(mon, "last_seen"), get(tue, "last_seen")), (Some(0), Some(1)));
    }

    #[test]
    fn ranked_lists_merge_cap_and_rank() {
        let mut into = Counters::new();
        merge(&mut into, &Counters::from([("a".into(), 2), ("b".into(), 1)]), true);
        merge(&mut into, &Counters::from([("b".into(), -1), ("c".into(), 5)]), true);
        assert_eq!(into, Counters::from([("a".into(), 2), ("c".into(), 5)]), "a key at zero goes");
        assert_eq!(top(&into, 1), vec![("c".to_owned(), 5)]);
        let mut full: Counters = (0..MAX_RANK_KEYS).map(|i| (format!("k{i}"), 1)).collect();
        merge(&mut full, &Counters::from([("new".into(), 3)]), true);
        assert_eq!((full.get("new"), full.get(OTHER)), (None, Some(&3)));
        let mut plain: Counters = (0..MAX_RANK_KEYS).map(|i| (format!("k{i}"), 1)).collect();
        merge(&mut plain, &Counters::from([("new".into(), 3)]), false);
        assert_eq!(plain.get("new"), Some(&3), "counters are not capped");
    }

    #[test]
    fn ranges_parse_and_split_into_months_and_days() {
        let today = date!(2026 - 12 - 03);
        let r = Range::parse(None, None, today).expect("default");
        assert_eq!((r.from, r.to, r.days().count()), (date!(2026 - 11 - 04), today, 30));
        for (from, to) in
            [(Some("2026-12-04"), Some("2026-12-01")), (Some("2025-01-01"), Some("2026-12-01")), (Some("x"), None)]
        {
            assert!(Range::parse(from, to, today).is_err(), "{from:?} {to:?}");
        }
        let r = Range::parse(Some("2026-10-30"), Some("2026-12-02"), today).expect("range");
        assert_eq!(
            r.rank_periods(),
            vec![
                Period::Day(date!(2026 - 10 - 30)),
                Period::Day(date!(2026 - 10 - 31)),
                Period::Month(2026, Month::November),
                Period::Day(date!(2026 - 12 - 01)),
                Period::Day(date!(2026 - 12 - 02)),
            ]
        );
        assert_eq!(r.months().len(), 3);
        assert_eq!(Period::Month(2026, Month::March).key(), "m:2026-03");
        assert_eq!(normalize_query("  Tile   FITTING "), "tile fitting");
    }
}
