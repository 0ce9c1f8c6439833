//! Marketplace rules: catalog values, jobs and proposals, bookings and reviews. Pure:
//! "now" and ids come in as arguments.

use time::{Date, OffsetDateTime};

use crate::error::{DomainError, FieldErrors};
use crate::money::Money;

time::serde::format_description!(pub ymd, Date, "[year]-[month]-[day]");

/// Trims and bounds a required text field.
pub fn text(raw: &str, min: usize, max: usize) -> Result<String, DomainError> {
    let t = raw.trim();
    let n = t.chars().count();
    if n < min {
        return Err(DomainError::invalid(if min <= 1 {
            "must not be empty".to_string()
        } else {
            format!("must be at least {min} characters")
        }));
    }
    if n > max {
        return Err(DomainError::invalid(format!("must be at most {max} characters")));
    }
    if t.contains('\0') {
        return Err(DomainError::invalid("must not contain NUL characters"));
    }
    Ok(t.to_string())
}

/// A calendar date written `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Result<Date, DomainError> {
    Date::parse(raw.trim(), time::macros::format_description!("[year]-[month]-[day]"))
        .map_err(|_| DomainError::invalid("must be a date YYYY-MM-DD"))
}

/// A strictly positive amount.
pub fn positive(m: Money) -> Result<Money, DomainError> {
    if m.minor() <= 0 {
        return Err(DomainError::invalid("amount must be greater than zero"));
    }
    Ok(m)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkillLevel {
    Beginner,
    Intermediate,
    Expert,
}

impl SkillLevel {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "beginner" => Ok(SkillLevel::Beginner),
            "intermediate" => Ok(SkillLevel::Intermediate),
            "expert" => Ok(SkillLevel::Expert),
            _ => Err(DomainError::invalid("must be beginner, intermediate or expert")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    #[default]
    Available,
    Busy,
    Unavailable,
}

impl Availability {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "available" => Ok(Availability::Available),
            "busy" => Ok(Availability::Busy),
            "unavailable" => Ok(Availability::Unavailable),
            _ => Err(DomainError::invalid("must be available, busy or unavailable")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Availability::Available => "available",
            Availability::Busy => "busy",
            Availability::Unavailable => "unavailable",
        }
    }
}

/// Service duration bounds, in minutes (up to one week).
pub const MAX_DURATION_MINUTES: u32 = 7 * 24 * 60;
pub const MAX_TAGS: usize = 20;

/// Tags: lower-cased, trimmed, unique, each 1..=40 characters, at most 20.
pub fn tags(raw: &[String]) -> Result<Vec<String>, DomainError> {
    if raw.len() > MAX_TAGS {
        return Err(DomainError::invalid(format!("at most {MAX_TAGS} tags")));
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for t in raw {
        let t = text(t, 1, 40)?.to_lowercase();
        if !out.contains(&t) {
            out.push(t);
        }
    }
    Ok(out)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Open,
    InProgress,
    Completed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Open => "open",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        match raw {
            "open" => Ok(JobStatus::Open),
            "in_progress" => Ok(JobStatus::InProgress),
            "completed" => Ok(JobStatus::Completed),
            "cancelled" => Ok(JobStatus::Cancelled),
            _ => Err(DomainError::invalid("must be open, in_progress, completed or cancelled")),
        }
    }

    /// What the job's client may set by hand: cancel an open or in-progress job, or mark
    /// an in-progress job completed. Hiring moves open → in_progress by itself.
    pub fn client_transition(self, to: JobStatus) -> Result<JobStatus, DomainError> {
        use JobStatus::*;
        match (self, to) {
            (Open | InProgress, Cancelled) | (InProgress, Completed) => Ok(to),
            _ => Err(DomainError::Transition { from: self.as_str(), to: to.as_str() }),
        }
    }
}

/// Budget: both optional; when both are given, the same currency and min ≤ max.
pub fn budget(min: Option<Money>, max: Option<Money>) -> Result<(), DomainError> {
    let mut f = FieldErrors::new();
    for (name, m) in [("budget_min", min), ("budget_max", max)] {
        if let Some(m) = m {
            f.check(name, positive(m));
        }
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo.currency() != hi.currency() {
            f.add("budget_max", "must use the same currency as budget_min");
        } else if lo.minor() > hi.minor() {
            f.add("budget_min", "must not exceed budget_max");
        }
    }
    f.into_result()
}

/// How far ahead a job deadline may be.
pub const MAX_DEADLINE_DAYS: i64 = 5 * 366;
/// How far ahead a booking may start (a century: refuses the absurd, such as year 9999).
pub const MAX_BOOKING_AHEAD_DAYS: i64 = 100 * 366;

/// A deadline is a date that is not in the past and at most about five years ahead.
pub fn deadline(d: Date, today: Date) -> Result<Date, DomainError> {
    if d < today {
        return Err(DomainError::invalid("must not be in the past"));
    }
    if (d - today).whole_days() > MAX_DEADLINE_DAYS {
        return Err(DomainError::invalid("must be within 5 years"));
    }
    Ok(d)
}

pub const MAX_HIRES: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProposalStatus {
    Pending,
    Accepted,
    Withdrawn,
    Rejected,
}

impl ProposalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProposalStatus::Pending => "pending",
            ProposalStatus::Accepted => "accepted",
            ProposalStatus::Withdrawn => "withdrawn",
            ProposalStatus::Rejected => "rejected",
        }
    }
}

/// Who may propose on a job: providers and workers, on an open job that is not theirs.
pub fn may_propose(
    proposer: crate::UserId,
    proposer_role: crate::Role,
    job_client: crate::UserId,
    job_status: JobStatus,
) -> Result<(), DomainError> {
    use crate::Role;
    if !matches!(proposer_role, Role::Provider | Role::Worker) {
        return Err(DomainError::Forbidden("only providers and workers send proposals"));
    }
    if proposer == job_client {
        return Err(DomainError::Forbidden("you cannot propose on your own job"));
    }
    if job_status != JobStatus::Open {
        return Err(DomainError::Transition { from: job_status.as_str(), to: "proposal" });
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingStatus {
    Requested,
    Confirmed,
    Completed,
    Declined,
    Cancelled,
}

/// Who asks for a booking change, relative to the booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookingActor {
    Client,
    Provider,
}

impl BookingStatus {
    pub const ALL: [BookingStatus; 5] = [
        BookingStatus::Requested,
        BookingStatus::Confirmed,
        BookingStatus::Completed,
        BookingStatus::Declined,
        BookingStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BookingStatus::Requested => "requested",
            BookingStatus::Confirmed => "confirmed",
            BookingStatus::Completed => "completed",
            BookingStatus::Declined => "declined",
            BookingStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("must be requested, confirmed, completed, declined or cancelled"))
    }

    /// The booking state machine:
    ///
    /// | from | to | by | when |
    /// |---|---|---|---|
    /// | requested | confirmed, declined | provider | before start |
    /// | requested, confirmed | cancelled | client or provider | before start |
    /// | confirmed | completed | provider | after start |
    pub fn transition(
        self,
        to: BookingStatus,
        by: BookingActor,
        now: OffsetDateTime,
        start: OffsetDateTime,
    ) -> Result<BookingStatus, DomainError> {
        use BookingActor::*;
        use BookingStatus::*;
        let refused = || DomainError::Transition { from: self.as_str(), to: to.as_str() };
        let actors: &[BookingActor] = match (self, to) {
            (Requested, Confirmed | Declined) => &[Provider],
            (Requested | Confirmed, Cancelled) => &[Client, Provider],
            (Confirmed, Completed) => &[Provider],
            _ => return Err(refused()),
        };
        if !actors.contains(&by) {
            return Err(DomainError::Forbidden("this party may not make that booking change"));
        }
        let before_start = now < start;
        match to {
            Completed if before_start => {
                Err(DomainError::Transition { from: self.as_str(), to: "completed before it starts" })
            }
            Confirmed | Declined | Cancelled if !before_start => {
                Err(DomainError::Transition { from: self.as_str(), to: "changed after it started" })
            }
            _ => Ok(to),
        }
    }
}

/// A bookable slot: end after start, not in the past, at most 30 days long.
pub fn slot(start: OffsetDateTime, end: OffsetDateTime, now: OffsetDateTime) -> Result<(), DomainError> {
    let mut f = FieldErrors::new();
    if end <= start {
        f.add("end_at", "must be after start_at");
    }
    if start < now {
        f.add("start_at", "must not be in the past");
    }
    if start - now > time::Duration::days(MAX_BOOKING_AHEAD_DAYS) {
        f.add("start_at", "must be within 100 years");
    }
    if end - start > time::Duration::days(30) {
        f.add("end_at", "a booking lasts at most 30 days");
    }
    f.into_result()
}

/// Half-open intervals [start, end) overlap.
pub fn overlaps(a: (OffsetDateTime, OffsetDateTime), b: (OffsetDateTime, OffsetDateTime)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

/// A rating is an integer from 1 to 5.
pub fn rating(raw: i64) -> Result<u8, DomainError> {
    match u8::try_from(raw) {
        Ok(r @ 1..=5) => Ok(r),
        _ => Err(DomainError::invalid("must be an integer from 1 to 5")),
    }
}

/// Exact aggregate of ratings: (average rounded to two decimals, count).
pub fn rating_aggregate(ratings: impl IntoIterator<Item = u8>) -> (f64, u64) {
    let (sum, count) = ratings.into_iter().fold((0u64, 0u64), |(s, c), r| (s + u64::from(r), c + 1));
    if count == 0 {
        return (0.0, 0);
    }
    let avg = (sum as f64 / count as f64 * 100.0).round() / 100.0;
    (avg, count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn budgets_and_deadlines() {
        let usd = |m| Money::parse(m, "USD").expect("money");
        assert!(budget(Some(usd(100)), Some(usd(200))).is_ok());
        assert!(budget(Some(usd(300)), Some(usd(200))).is_err());
        assert!(budget(Some(usd(100)), Some(Money::parse(200, "EUR").expect("eur"))).is_err());
        assert!(budget(Some(usd(0)), None).is_err());
        assert!(budget(None, None).is_ok());
        assert!(deadline(date!(2026 - 11 - 23), date!(2026 - 11 - 23)).is_ok());
        assert!(deadline(date!(2026 - 11 - 22), date!(2026 - 11 - 23)).is_err());
    }

    #[test]
    fn far_future_dates_are_refused() {
        let today = date!(2026 - 12 - 01);
        assert!(deadline(date!(2031 - 11 - 30), today).is_ok());
        assert!(deadline(date!(9999 - 12 - 31), today).is_err());
        let now = datetime!(2026-12-01 12:00 UTC);
        let far = datetime!(9999-12-31 10:00 UTC);
        assert!(slot(far, far + time::Duration::hours(1), now).is_err());
        let soon = datetime!(2099-01-01 10:00 UTC);
        assert!(slot(soon, soon + time::Duration::hours(1), now).is_ok());
    }

    #[test]
    fn every_booking_transition() {
        use BookingActor::*;
        use BookingStatus::*;
        let now = datetime!(2026-11-23 12:00 UTC);
        let later = datetime!(2026-11-24 12:00 UTC);
        let earlier = datetime!(2026-11-22 12:00 UTC);
        let allowed = [
            (Requested, Confirmed, Provider, later),
            (Requested, Declined, Provider, later),
            (Requested, Cancelled, Client, later),
            (Requested, Cancelled, Provider, later),
            (Confirmed, Cancelled, Client, later),
            (Confirmed, Cancelled, Provider, later),
            (Confirmed, Completed, Provider, earlier),
        ];
        let mut checked = 0;
        for from in BookingStatus::ALL {
            for to in BookingStatus::ALL {
                for by in [Client, Provider] {
                    for start in [earlier, later] {
                        let ok = from.transition(to, by, now, start).is_ok();
                        assert_eq!(
                            ok,
                            allowed.contains(&(from, to, by, start)),
                            "{from:?}->{to:?} by {by:?} start {start}"
                        );
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 100);
        assert!(matches!(Requested.transition(Confirmed, Client, now, later), Err(DomainError::Forbidden(_))));
    }

    #[test]
    fn slots_overlap_and_ratings() {
        let t = |h| datetime!(2026-11-24 00:00 UTC) + time::Duration::hours(h);
        let now = t(0);
        assert!(slot(t(1), t(2), now).is_ok());
        assert!(slot(t(2), t(2), now).is_err());
        assert!(slot(t(-1), t(2), now).is_err());
        assert!(overlaps((t(1), t(3)), (t(2), t(4))));
        assert!(!overlaps((t(1), t(2)), (t(2), t(3))), "touching is not overlapping");
        assert!(rating(0).is_err() && rating(6).is_err() && rating(-1).is_err());
        assert_eq!(rating(5).expect("ok"), 5);
        assert_eq!(rating_aggregate([5, 4, 4]), (4.33, 3));
        assert_eq!(rating_aggregate([]), (0.0, 0));
    }

    #[test]
    fn who_may_propose() {
        use crate::{Role, UserId};
        let (a, b) = (UserId::from_uuid(uuid::Uuid::from_u128(1)), UserId::from_uuid(uuid::Uuid::from_u128(2)));
        assert!(may_propose(a, Role::Provider, b, JobStatus::Open).is_ok());
        assert!(may_propose(a, Role::Worker, b, JobStatus::Open).is_ok());
        assert!(may_propose(a, Role::Client, b, JobStatus::Open).is_err());
        assert!(may_propose(a, Role::Provider, a, JobStatus::Open).is_err());
        assert!(may_propose(a, Role::Provider, b, JobStatus::InProgress).is_err());
        assert!(JobStatus::Open.client_transition(JobStatus::Cancelled).is_ok());
        assert!(JobStatus::Completed.client_transition(JobStatus::Open).is_err());
    }
}
