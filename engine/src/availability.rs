//! Provider availability: weekly working hours in the provider's IANA time zone, per-date
//! overrides, a service's slot policy, and the pure slot search over them.
//!
//! Wire shape of a provider's hours ([`WorkingHours`], via [`WorkingHoursInput`]):
//!
//! ```json
//! {"time_zone": "Europe/Paris",
//!  "weekly": {"mon": [["09:00","12:00"],["13:00","17:00"]], "tue": [["10:00","16:00"]]},
//!  "overrides": [{"date": "2026-12-24", "ranges": []}]}
//! ```
//!
//! A missing weekday is closed. An override replaces that date's weekly hours; with no
//! ranges it is a day off. `"24:00"` is allowed as an end (midnight at the end of the day);
//! ranges never cross midnight. A day's ranges are sorted; overlapping ranges are refused and
//! touching ones (`12:00` end, `12:00` start) are merged into one.
//!
//! # Slot rule
//!
//! A slot start `S` on provider-local date `D` is free when
//! - `[S, S + duration)` lies inside one working range of `D` (the override of `D` if any,
//!   else its weekday's hours), the range taken as the instants described below;
//! - `S ≥ now + min_notice` and `S ≤ now + booking_window`;
//! - `[S − buffer_before, S + duration + buffer_after)` overlaps no [`BusyInterval`];
//! - fewer than `daily_cap` busy intervals counting toward the cap start on `D` (in the
//!   provider's zone).
//!
//! **Buffers.** Only the candidate's own buffers are applied; busy intervals are taken
//! exactly as given (a booking's `[start_at, end_at)`). A caller that wants existing
//! bookings' buffers honoured too widens them first with [`BusyInterval::with_buffers`].
//! Buffers may fall outside working hours (preparing before opening is fine); only the
//! service time itself must be inside a range.
//!
//! **Daylight saving.** A range `[s, e)` of local date `D` is the absolute interval
//! `[start, end)` where `start` is the instant showing wall time `s` on `D` (the earlier one
//! when `s` occurs twice, in an autumn fold; the instant the clocks jump to when `s` falls in
//! a spring gap) and `end` is the instant showing `e` (the later one in a fold; the jump
//! instant in a gap). Candidates step in wall-clock time from the range start:
//! `s, s + interval, s + 2·interval, …` while `< e`. Each candidate wall time is converted to
//! every instant that shows it: none in a gap (so a nonexistent local time never gives a
//! slot), two in a fold (both are real, distinct instants — the repeated hour is working
//! time), one otherwise. A candidate instant is kept when it is `≥ start` and its service
//! time ends `≤ end` (durations are absolute: a 60-minute slot is 60 real minutes). Since an
//! instant shows exactly one wall time, no instant can come out twice.
//!
//! [`fits`] checks one requested start against the same rules except the slot grid and busy
//! intervals: any start whose service time lies inside a range is accepted.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{LocalResult, Offset, TimeZone};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::codes;
use crate::error::{DomainError, FieldErrors};

/// At most this many ranges on one day.
pub const MAX_RANGES_PER_DAY: usize = 10;
/// At most this many date overrides.
pub const MAX_OVERRIDES: usize = 366;
/// A slot search covers at most this many days (`to − from`).
pub const MAX_QUERY_DAYS: i64 = 90;

const MINUTES_PER_DAY: u16 = 1440;
const DURATION_MINUTES: (i64, i64) = (5, 1440);
const BUFFER_MINUTES: (i64, i64) = (0, 720);
const INTERVAL_MINUTES: (i64, i64) = (5, 1440);
const NOTICE_MINUTES: (i64, i64) = (0, 90 * 1440);
const WINDOW_DAYS: (i64, i64) = (1, 365);
const DAILY_CAP: (i64, i64) = (1, 1000);

/// Field-error text of a failed validation, for serde's `Deserialize` impls.
fn describe(e: &DomainError) -> String {
    match e {
        DomainError::Invalid(f) => f
            .fields()
            .iter()
            .flat_map(|(field, problems)| {
                problems.iter().map(move |p| if field.is_empty() { p.clone() } else { format!("{field}: {p}") })
            })
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Time zone
// ---------------------------------------------------------------------------------------

/// A validated IANA time-zone name (`Europe/Paris`, `America/New_York`, `UTC`, ...),
/// matched exactly (case-sensitive) against the tz database compiled into the engine.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeZoneName(Tz);

/// What a local wall time is on the time line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wall {
    /// It does not exist (spring-forward gap).
    Gap,
    One(OffsetDateTime),
    /// It occurs twice (autumn fold): earlier, later.
    Two(OffsetDateTime, OffsetDateTime),
}

impl Wall {
    fn instants(self) -> impl Iterator<Item = OffsetDateTime> {
        let (a, b) = match self {
            Wall::Gap => (None, None),
            Wall::One(t) => (Some(t), None),
            Wall::Two(t, u) => (Some(t), Some(u)),
        };
        a.into_iter().chain(b)
    }
}

fn utc_offset(o: impl Offset) -> Option<UtcOffset> {
    UtcOffset::from_whole_seconds(o.fix().local_minus_utc()).ok()
}

fn to_naive(p: PrimitiveDateTime) -> Option<chrono::NaiveDateTime> {
    chrono::NaiveDate::from_ymd_opt(p.year(), u32::from(u8::from(p.month())), u32::from(p.day()))?.and_hms_opt(
        u32::from(p.hour()),
        u32::from(p.minute()),
        u32::from(p.second()),
    )
}

/// Wall time `minute` (0..=1440) of `date`; 1440 is midnight starting the next day.
fn wall_time(date: Date, minute: u16) -> Option<PrimitiveDateTime> {
    let (date, minute) =
        if minute >= MINUTES_PER_DAY { (date.next_day()?, minute - MINUTES_PER_DAY) } else { (date, minute) };
    let t = Time::from_hms(u8::try_from(minute / 60).ok()?, u8::try_from(minute % 60).ok()?, 0).ok()?;
    Some(PrimitiveDateTime::new(date, t))
}

impl TimeZoneName {
    pub const UTC: TimeZoneName = TimeZoneName(Tz::UTC);

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        raw.parse::<Tz>()
            .map(TimeZoneName)
            .map_err(|_| DomainError::invalid(format!("unknown IANA time zone {raw:?} (e.g. Europe/Paris)")))
    }

    pub fn as_str(&self) -> &'static str {
        self.0.name()
    }

    /// The zone's UTC offset at `instant`.
    pub fn offset_at(&self, instant: OffsetDateTime) -> UtcOffset {
        chrono::DateTime::from_timestamp(instant.unix_timestamp(), 0)
            .and_then(|d| utc_offset(self.0.offset_from_utc_datetime(&d.naive_utc())))
            .unwrap_or(UtcOffset::UTC)
    }

    /// `instant` expressed in this zone (same instant, local offset).
    pub fn to_local(&self, instant: OffsetDateTime) -> OffsetDateTime {
        instant.checked_to_offset(self.offset_at(instant)).unwrap_or(instant)
    }

    /// The provider-local date of `instant`.
    pub fn local_date(&self, instant: OffsetDateTime) -> Date {
        self.to_local(instant).date()
    }

    fn local_wall(&self, instant: OffsetDateTime) -> PrimitiveDateTime {
        let l = self.to_local(instant);
        PrimitiveDateTime::new(l.date(), l.time())
    }

    /// The instants (UTC) showing wall time `local` in this zone.
    fn resolve(&self, local: PrimitiveDateTime) -> Wall {
        let Some(naive) = to_naive(local) else { return Wall::Gap };
        let at = |o| utc_offset(o).and_then(|off| local.assume_offset(off).checked_to_offset(UtcOffset::UTC));
        match self.0.offset_from_local_datetime(&naive) {
            LocalResult::Single(o) => at(o).map_or(Wall::Gap, Wall::One),
            LocalResult::Ambiguous(a, b) => match (at(a), at(b)) {
                (Some(x), Some(y)) => Wall::Two(x.min(y), x.max(y)),
                (Some(x), None) | (None, Some(x)) => Wall::One(x),
                (None, None) => Wall::Gap,
            },
            LocalResult::None => Wall::Gap,
        }
    }

    /// The first instant whose wall time is at or after `local` (for `local` in a gap: the
    /// instant the clocks jump). Binary search over ±15 h, which holds one transition.
    fn first_at_or_after(&self, local: PrimitiveDateTime) -> Option<OffsetDateTime> {
        let centre = local.assume_utc().unix_timestamp();
        let reached =
            |ts: i64| OffsetDateTime::from_unix_timestamp(ts).map(|t| self.local_wall(t) >= local).unwrap_or(false);
        let (mut lo, mut hi) = (centre - 15 * 3600, centre + 15 * 3600);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if reached(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        OffsetDateTime::from_unix_timestamp(hi).ok()
    }

    /// A working range of `date` as absolute instants (see the module's daylight-saving rule).
    fn range_instants(&self, date: Date, r: DayRange) -> Option<(OffsetDateTime, OffsetDateTime)> {
        let s = wall_time(date, r.start)?;
        let e = wall_time(date, r.end)?;
        let start = match self.resolve(s) {
            Wall::One(t) | Wall::Two(t, _) => t,
            Wall::Gap => self.first_at_or_after(s)?,
        };
        let end = match self.resolve(e) {
            Wall::One(t) | Wall::Two(_, t) => t,
            Wall::Gap => self.first_at_or_after(e)?,
        };
        Some((start, end))
    }
}

impl fmt::Debug for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TimeZoneName({})", self.as_str())
    }
}

impl fmt::Display for TimeZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for TimeZoneName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        TimeZoneName::parse(&raw).map_err(|e| serde::de::Error::custom(describe(&e)))
    }
}

// ---------------------------------------------------------------------------------------
// Ranges and working hours
// ---------------------------------------------------------------------------------------

/// One working range of a day, `[start, end)` in minutes after local midnight;
/// `0 ≤ start < end ≤ 1440`. Serialized as `["HH:MM", "HH:MM"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DayRange {
    start: u16,
    end: u16,
}

/// `"HH:MM"`, two digits each; `"24:00"` only when `end`.
fn parse_hhmm(raw: &str, end: bool) -> Option<u16> {
    let b = raw.as_bytes();
    if b.len() != 5 || b[2] != b':' || ![b[0], b[1], b[3], b[4]].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let h = u16::from(b[0] - b'0') * 10 + u16::from(b[1] - b'0');
    let m = u16::from(b[3] - b'0') * 10 + u16::from(b[4] - b'0');
    match (h, m) {
        (24, 0) if end => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

fn fmt_hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl DayRange {
    /// From minutes after midnight.
    pub fn new(start_minute: u16, end_minute: u16) -> Result<Self, DomainError> {
        if start_minute >= MINUTES_PER_DAY {
            return Err(DomainError::invalid("start must be before 24:00"));
        }
        if end_minute > MINUTES_PER_DAY {
            return Err(DomainError::invalid("end must be at most 24:00"));
        }
        if end_minute <= start_minute {
            return Err(DomainError::invalid("end must be after start"));
        }
        Ok(DayRange { start: start_minute, end: end_minute })
    }

    /// From `"HH:MM"` strings (`"24:00"` allowed as the end).
    pub fn parse(start: &str, end: &str) -> Result<Self, DomainError> {
        let s = parse_hhmm(start, false);
        let e = parse_hhmm(end, true);
        let mut f = FieldErrors::new();
        if s.is_none() {
            f.add("", format!("start {start:?} must be a time HH:MM from 00:00 to 23:59"));
        }
        if e.is_none() {
            f.add("", format!("end {end:?} must be a time HH:MM from 00:01 to 24:00"));
        }
        f.into_result()?;
        DayRange::new(s.unwrap_or_default(), e.unwrap_or_default())
    }

    pub fn start_minute(self) -> u16 {
        self.start
    }

    pub fn end_minute(self) -> u16 {
        self.end
    }

    fn wire(self) -> (String, String) {
        (fmt_hhmm(self.start), fmt_hhmm(self.end))
    }
}

impl fmt::Display for DayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", fmt_hhmm(self.start), fmt_hhmm(self.end))
    }
}

impl Serialize for DayRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.wire().serialize(s)
    }
}

impl<'de> Deserialize<'de> for DayRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (s, e) = <(String, String)>::deserialize(d)?;
        DayRange::parse(&s, &e).map_err(|e| serde::de::Error::custom(describe(&e)))
    }
}

/// A range as sent: `["HH:MM", "HH:MM"]`.
pub type RangeInput = (String, String);

/// The weekly hours as sent; a missing (or empty) day is closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyInput {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mon: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tue: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wed: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thu: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fri: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sat: Vec<RangeInput>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sun: Vec<RangeInput>,
}

const DAY_KEYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

impl WeeklyInput {
    /// Monday first.
    fn days(&self) -> [&Vec<RangeInput>; 7] {
        [&self.mon, &self.tue, &self.wed, &self.thu, &self.fri, &self.sat, &self.sun]
    }

    fn days_mut(&mut self) -> [&mut Vec<RangeInput>; 7] {
        [&mut self.mon, &mut self.tue, &mut self.wed, &mut self.thu, &mut self.fri, &mut self.sat, &mut self.sun]
    }
}

/// One date's hours as sent; no ranges is a day off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideInput {
    /// `YYYY-MM-DD`, provider-local.
    pub date: String,
    pub ranges: Vec<RangeInput>,
}

/// A provider's availability as sent (GET/PUT `/api/providers/{id}/availability`);
/// [`WorkingHours::parse`] validates it with field names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingHoursInput {
    pub time_zone: String,
    #[serde(default)]
    pub weekly: WeeklyInput,
    #[serde(default)]
    pub overrides: Vec<OverrideInput>,
}

/// A provider's validated availability: time zone, weekly hours, date overrides. Each day's
/// ranges are sorted, disjoint and not touching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingHours {
    time_zone: TimeZoneName,
    /// Monday first.
    weekly: [Vec<DayRange>; 7],
    overrides: BTreeMap<Date, Vec<DayRange>>,
}

/// Validates one day's ranges under `field` (`weekly.mon`, `overrides[0].ranges`): each
/// `field[i]` parses, none overlap; sorted, touching ones merged.
fn day_ranges(field: &str, raw: &[RangeInput], f: &mut FieldErrors) -> Vec<DayRange> {
    if raw.len() > MAX_RANGES_PER_DAY {
        f.add(field, format!("at most {MAX_RANGES_PER_DAY} ranges a day"));
        return Vec::new();
    }
    let mut parsed: Vec<(DayRange, usize)> = raw
        .iter()
        .enumerate()
        .filter_map(|(i, (s, e))| f.check(&format!("{field}[{i}]"), DayRange::parse(s, e)).map(|r| (r, i)))
        .collect();
    parsed.sort();
    let mut out: Vec<DayRange> = Vec::with_capacity(parsed.len());
    for (r, i) in parsed {
        match out.last_mut() {
            Some(prev) if r.start < prev.end => {
                f.add(format!("{field}[{i}]"), format!("{r} overlaps {prev}"));
            }
            Some(prev) if r.start == prev.end => prev.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// `YYYY-MM-DD` exactly.
fn parse_date(raw: &str) -> Result<Date, DomainError> {
    let bad = || DomainError::invalid(format!("{raw:?} must be a date YYYY-MM-DD"));
    let b = raw.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |n, c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')))
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(bad());
    }
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else { return Err(bad()) };
    let month = u8::try_from(m).ok().and_then(|m| Month::try_from(m).ok()).ok_or_else(bad)?;
    let (Ok(y), Ok(d)) = (i32::try_from(y), u8::try_from(d)) else { return Err(bad()) };
    Date::from_calendar_date(y, month, d).map_err(|_| bad())
}

fn fmt_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

impl WorkingHours {
    /// Validates hours as sent. Field names: `time_zone`, `weekly.mon`, `weekly.mon[1]`,
    /// `overrides`, `overrides[0].date`, `overrides[0].ranges`, `overrides[0].ranges[1]`.
    pub fn parse(input: &WorkingHoursInput) -> Result<Self, DomainError> {
        let mut f = FieldErrors::new();
        let time_zone = f.check("time_zone", TimeZoneName::parse(&input.time_zone));
        let mut weekly: [Vec<DayRange>; 7] = Default::default();
        for ((day, raw), key) in weekly.iter_mut().zip(input.weekly.days()).zip(DAY_KEYS) {
            *day = day_ranges(&format!("weekly.{key}"), raw, &mut f);
        }
        let mut overrides = BTreeMap::new();
        if input.overrides.len() > MAX_OVERRIDES {
            f.add("overrides", format!("at most {MAX_OVERRIDES} overrides"));
        } else {
            for (i, o) in input.overrides.iter().enumerate() {
                let date = f.check(&format!("overrides[{i}].date"), parse_date(&o.date));
                let ranges = day_ranges(&format!("overrides[{i}].ranges"), &o.ranges, &mut f);
                if let Some(date) = date {
                    if overrides.insert(date, ranges).is_some() {
                        f.add(format!("overrides[{i}].date"), format!("{} is listed twice", o.date));
                    }
                }
            }
        }
        f.into_result()?;
        let time_zone = time_zone.ok_or_else(|| DomainError::invalid_field("time_zone", "is required"))?;
        Ok(WorkingHours { time_zone, weekly, overrides })
    }

    pub fn time_zone(&self) -> TimeZoneName {
        self.time_zone
    }

    /// The weekly ranges of `day`.
    pub fn weekly(&self, day: time::Weekday) -> &[DayRange] {
        &self.weekly[usize::from(day.number_days_from_monday())]
    }

    /// The overrides, by date.
    pub fn overrides(&self) -> impl Iterator<Item = (Date, &[DayRange])> {
        self.overrides.iter().map(|(d, r)| (*d, r.as_slice()))
    }

    /// The ranges that apply on provider-local `date`: its override if any, else its weekday's.
    pub fn ranges_on(&self, date: Date) -> &[DayRange] {
        self.overrides.get(&date).map_or_else(|| self.weekly(date.weekday()), Vec::as_slice)
    }

    /// Back to the wire shape (normalized: sorted, merged, overrides by date).
    pub fn to_input(&self) -> WorkingHoursInput {
        let mut weekly = WeeklyInput::default();
        for (out, day) in weekly.days_mut().into_iter().zip(&self.weekly) {
            *out = day.iter().map(|r| r.wire()).collect();
        }
        WorkingHoursInput {
            time_zone: self.time_zone.as_str().to_string(),
            weekly,
            overrides: self
                .overrides
                .iter()
                .map(|(d, r)| OverrideInput { date: fmt_date(*d), ranges: r.iter().map(|r| r.wire()).collect() })
                .collect(),
        }
    }

    /// The working ranges of `date` as instants, in order.
    fn instants_on(&self, date: Date) -> impl Iterator<Item = (DayRange, OffsetDateTime, OffsetDateTime)> + '_ {
        self.ranges_on(date)
            .iter()
            .filter_map(move |r| self.time_zone.range_instants(date, *r).map(|(s, e)| (*r, s, e)))
    }
}

impl Serialize for WorkingHours {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_input().serialize(s)
    }
}

impl<'de> Deserialize<'de> for WorkingHours {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let input = WorkingHoursInput::deserialize(d)?;
        WorkingHours::parse(&input).map_err(|e| serde::de::Error::custom(describe(&e)))
    }
}

// ---------------------------------------------------------------------------------------
// Slot policy
// ---------------------------------------------------------------------------------------

/// A service's slot policy as sent. Omitted: no buffers, notice 120 minutes, window 60
/// days, interval = duration, no daily cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotPolicyInput {
    pub duration_minutes: i64,
    #[serde(default)]
    pub buffer_before_minutes: i64,
    #[serde(default)]
    pub buffer_after_minutes: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notice_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_window_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_interval_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<i64>,
}

/// A service's booking rules as sent and stored (`booking_rules` on a service): the slot
/// policy without the duration, which is the service's own `duration_minutes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BookingRules {
    #[serde(default)]
    pub buffer_before_minutes: i64,
    #[serde(default)]
    pub buffer_after_minutes: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_notice_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_window_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot_interval_minutes: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_cap: Option<i64>,
}

/// A validated slot policy: duration 5..=1440 min, buffers 0..=720 min, notice up to 90
/// days, window 1..=365 days, interval 5..=1440 min, daily cap 1..=1000 bookings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotPolicy {
    duration: u16,
    buffer_before: u16,
    buffer_after: u16,
    min_notice: u32,
    window_days: u16,
    interval: Option<u16>,
    daily_cap: Option<u16>,
}

fn bounded(f: &mut FieldErrors, field: &str, v: i64, (min, max): (i64, i64)) -> i64 {
    if !(min..=max).contains(&v) {
        f.add(field, format!("must be between {min} and {max}"));
    }
    v.clamp(min, max)
}

impl SlotPolicy {
    pub const DEFAULT_MIN_NOTICE_MINUTES: u32 = 120;
    pub const DEFAULT_BOOKING_WINDOW_DAYS: u16 = 60;

    /// A service without a duration books slots of this length.
    pub const DEFAULT_DURATION_MINUTES: u32 = 60;

    /// The policy of a service: its duration (or [`Self::DEFAULT_DURATION_MINUTES`]) with
    /// its booking rules. Field names are those of [`BookingRules`] (and `duration_minutes`).
    pub fn for_service(duration_minutes: Option<u32>, rules: &BookingRules) -> Result<Self, DomainError> {
        SlotPolicy::parse(&SlotPolicyInput {
            duration_minutes: i64::from(duration_minutes.unwrap_or(Self::DEFAULT_DURATION_MINUTES)),
            buffer_before_minutes: rules.buffer_before_minutes,
            buffer_after_minutes: rules.buffer_after_minutes,
            min_notice_minutes: rules.min_notice_minutes,
            booking_window_days: rules.booking_window_days,
            slot_interval_minutes: rules.slot_interval_minutes,
            daily_cap: rules.daily_cap,
        })
    }

    /// Validates a policy. Field names are those of [`SlotPolicyInput`].
    pub fn parse(input: &SlotPolicyInput) -> Result<Self, DomainError> {
        let mut f = FieldErrors::new();
        // Clamped values are only used when every field is valid, so the casts never truncate.
        let duration = bounded(&mut f, "duration_minutes", input.duration_minutes, DURATION_MINUTES) as u16;
        let buffer_before =
            bounded(&mut f, "buffer_before_minutes", input.buffer_before_minutes, BUFFER_MINUTES) as u16;
        let buffer_after = bounded(&mut f, "buffer_after_minutes", input.buffer_after_minutes, BUFFER_MINUTES) as u16;
        let min_notice = input.min_notice_minutes.map_or(Self::DEFAULT_MIN_NOTICE_MINUTES, |v| {
            bounded(&mut f, "min_notice_minutes", v, NOTICE_MINUTES) as u32
        });
        let window_days = input.booking_window_days.map_or(Self::DEFAULT_BOOKING_WINDOW_DAYS, |v| {
            bounded(&mut f, "booking_window_days", v, WINDOW_DAYS) as u16
        });
        let interval =
            input.slot_interval_minutes.map(|v| bounded(&mut f, "slot_interval_minutes", v, INTERVAL_MINUTES) as u16);
        let daily_cap = input.daily_cap.map(|v| bounded(&mut f, "daily_cap", v, DAILY_CAP) as u16);
        f.into_result()?;
        Ok(SlotPolicy { duration, buffer_before, buffer_after, min_notice, window_days, interval, daily_cap })
    }

    pub fn duration(&self) -> Duration {
        Duration::minutes(i64::from(self.duration))
    }

    pub fn buffer_before(&self) -> Duration {
        Duration::minutes(i64::from(self.buffer_before))
    }

    pub fn buffer_after(&self) -> Duration {
        Duration::minutes(i64::from(self.buffer_after))
    }

    pub fn min_notice(&self) -> Duration {
        Duration::minutes(i64::from(self.min_notice))
    }

    pub fn booking_window(&self) -> Duration {
        Duration::days(i64::from(self.window_days))
    }

    /// The step between candidate starts (the duration unless set).
    pub fn slot_interval(&self) -> Duration {
        Duration::minutes(i64::from(self.interval_minutes()))
    }

    fn interval_minutes(&self) -> u16 {
        self.interval.unwrap_or(self.duration)
    }

    pub fn daily_cap(&self) -> Option<u32> {
        self.daily_cap.map(u32::from)
    }

    /// Back to the wire shape (notice and window explicit; interval only when set).
    pub fn to_input(&self) -> SlotPolicyInput {
        SlotPolicyInput {
            duration_minutes: i64::from(self.duration),
            buffer_before_minutes: i64::from(self.buffer_before),
            buffer_after_minutes: i64::from(self.buffer_after),
            min_notice_minutes: Some(i64::from(self.min_notice)),
            booking_window_days: Some(i64::from(self.window_days)),
            slot_interval_minutes: self.interval.map(i64::from),
            daily_cap: self.daily_cap.map(i64::from),
        }
    }
}

impl Serialize for SlotPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_input().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SlotPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let input = SlotPolicyInput::deserialize(d)?;
        SlotPolicy::parse(&input).map_err(|e| serde::de::Error::custom(describe(&e)))
    }
}

// ---------------------------------------------------------------------------------------
// Slot search
// ---------------------------------------------------------------------------------------

/// Time the provider is already taken: a confirmed (or held requested) booking's
/// `[start, end)`. Intervals with `end ≤ start` block nothing but still count toward the
/// cap when flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyInterval {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
    /// Counts toward the service's daily cap on the provider-local date of `start`.
    pub counts_toward_cap: bool,
}

impl BusyInterval {
    /// Widened by an existing booking's own buffers, for callers that want them honoured.
    pub fn with_buffers(self, before: Duration, after: Duration) -> Self {
        BusyInterval { start: minus(self.start, before), end: plus(self.end, after), ..self }
    }
}

/// The union of busy intervals, sorted and disjoint.
struct Blocked(Vec<(OffsetDateTime, OffsetDateTime)>);

impl Blocked {
    fn new(busy: &[BusyInterval]) -> Self {
        let mut v: Vec<_> = busy.iter().filter(|b| b.start < b.end).map(|b| (b.start, b.end)).collect();
        v.sort();
        let mut out: Vec<(OffsetDateTime, OffsetDateTime)> = Vec::with_capacity(v.len());
        for (s, e) in v {
            match out.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => out.push((s, e)),
            }
        }
        Blocked(out)
    }

    /// Whether `[a, b)` overlaps the union.
    fn overlaps(&self, a: OffsetDateTime, b: OffsetDateTime) -> bool {
        let i = self.0.partition_point(|iv| iv.1 <= a);
        self.0.get(i).is_some_and(|iv| iv.0 < b)
    }
}

/// Busy intervals counting toward the cap, by provider-local date of their start.
fn cap_counts(tz: TimeZoneName, busy: &[BusyInterval]) -> BTreeMap<Date, u32> {
    let mut counts = BTreeMap::new();
    for b in busy.iter().filter(|b| b.counts_toward_cap) {
        *counts.entry(tz.local_date(b.start)).or_insert(0u32) += 1;
    }
    counts
}

fn plus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_add(d).unwrap_or(t)
}

fn minus(t: OffsetDateTime, d: Duration) -> OffsetDateTime {
    t.checked_sub(d).unwrap_or(t)
}

/// Validates a search span: `from < to` (field `from`), at most [`MAX_QUERY_DAYS`] (field `to`).
pub fn check_span(from: OffsetDateTime, to: OffsetDateTime) -> Result<(), DomainError> {
    if from >= to {
        return Err(DomainError::invalid_field("from", "must be before to"));
    }
    if to - from > Duration::days(MAX_QUERY_DAYS) {
        return Err(DomainError::invalid_field("to", format!("must be at most {MAX_QUERY_DAYS} days after from")));
    }
    Ok(())
}

/// The free slot starts `S` with `from ≤ S < to`, sorted, unique, in UTC (the module's rule).
/// `busy` are the provider's bookings that hold time (confirmed, and requested ones held).
pub fn free_slots(
    rules: &WorkingHours,
    policy: &SlotPolicy,
    busy: &[BusyInterval],
    from: OffsetDateTime,
    to: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<Vec<OffsetDateTime>, DomainError> {
    check_span(from, to)?;
    let tz = rules.time_zone;
    let earliest = plus(now, policy.min_notice()).max(from);
    let latest = plus(now, policy.booking_window());
    let mut out = Vec::new();
    if earliest > latest || earliest >= to {
        return Ok(out);
    }
    let blocked = Blocked::new(busy);
    let counts = cap_counts(tz, busy);
    let interval = policy.interval_minutes();
    let (duration, before, after) = (policy.duration(), policy.buffer_before(), policy.buffer_after());
    let first = tz.local_date(earliest);
    let last = tz.local_date(to);
    let mut date = first.previous_day().unwrap_or(first);
    loop {
        let full = policy.daily_cap().is_some_and(|cap| counts.get(&date).copied().unwrap_or(0) >= cap);
        if !full {
            for (r, start, end) in rules.instants_on(date) {
                let mut m = r.start;
                while m < r.end {
                    let wall = wall_time(date, m).map_or(Wall::Gap, |w| tz.resolve(w));
                    for s in wall.instants() {
                        let in_range = s >= start && plus(s, duration) <= end;
                        let in_query = s >= earliest && s <= latest && s < to;
                        if in_range && in_query && !blocked.overlaps(minus(s, before), plus(s, duration + after)) {
                            out.push(s);
                        }
                    }
                    m += interval;
                }
            }
        }
        match date.next_day() {
            Some(next) if date <= last => date = next,
            _ => break,
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn outside(message: impl Into<String>) -> DomainError {
    DomainError::conflict(codes::OUTSIDE_AVAILABILITY, message)
}

/// Whether a booking may start at `start` as far as availability goes: its service time lies
/// inside one working range (after overrides), and it respects the notice and the window.
/// The slot grid is not enforced, nor are other bookings (`booking_overlap` is a separate
/// rule) or the daily cap ([`within_daily_cap`]). Refusals are `outside_availability`.
pub fn fits(
    rules: &WorkingHours,
    policy: &SlotPolicy,
    start: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<(), DomainError> {
    if start < plus(now, policy.min_notice()) {
        return Err(outside(format!(
            "the service must be booked at least {} minutes ahead",
            policy.min_notice().whole_minutes()
        )));
    }
    if start > plus(now, policy.booking_window()) {
        return Err(outside(format!(
            "the service can be booked at most {} days ahead",
            policy.booking_window().whole_days()
        )));
    }
    let date = rules.time_zone.local_date(start);
    let dates = [date.previous_day(), Some(date), date.next_day()];
    let end = plus(start, policy.duration());
    let inside = dates.into_iter().flatten().any(|d| rules.instants_on(d).any(|(_, s, e)| s <= start && end <= e));
    if inside {
        Ok(())
    } else {
        Err(outside("the provider is not available at that time"))
    }
}

/// Whether the provider-local date of `start` still has room under the policy's daily cap,
/// given the provider's other bookings (not including the one being checked).
pub fn within_daily_cap(
    rules: &WorkingHours,
    policy: &SlotPolicy,
    start: OffsetDateTime,
    busy: &[BusyInterval],
) -> Result<(), DomainError> {
    let Some(cap) = policy.daily_cap() else { return Ok(()) };
    let date = rules.time_zone.local_date(start);
    let taken = cap_counts(rules.time_zone, busy).get(&date).copied().unwrap_or(0);
    if taken >= cap {
        return Err(outside(format!("the provider takes at most {cap} bookings of this service that day")));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

/// `instant` as RFC 3339 with the offset `tz` has then (`2026-10-25T09:00:00+09:00`;
/// `…Z` for UTC).
pub fn rfc3339_in(instant: OffsetDateTime, tz: TimeZoneName) -> String {
    tz.to_local(instant)
        .format(&Rfc3339)
        .or_else(|_| instant.to_offset(UtcOffset::UTC).format(&Rfc3339))
        .unwrap_or_else(|_| instant.to_string())
}

/// One slot as the slots route answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlotView {
    /// In the caller's zone (`tz=`), with its offset.
    pub start: String,
    /// In UTC, `…Z`.
    pub start_utc: String,
}

impl SlotView {
    pub fn new(start: OffsetDateTime, caller: TimeZoneName) -> Self {
        SlotView { start: rfc3339_in(start, caller), start_utc: rfc3339_in(start, TimeZoneName::UTC) }
    }
}

#[cfg(test)]
mod service_policy_tests {
    use super::*;

    #[test]
    fn a_service_policy_takes_the_service_duration_or_an_hour() {
        let rules = BookingRules { buffer_after_minutes: 15, daily_cap: Some(3), ..BookingRules::default() };
        let p = SlotPolicy::for_service(Some(45), &rules).expect("valid");
        assert_eq!(
            (p.duration(), p.buffer_after(), p.daily_cap()),
            (Duration::minutes(45), Duration::minutes(15), Some(3))
        );
        assert_eq!(p.min_notice(), Duration::minutes(120), "default notice");
        assert_eq!(
            SlotPolicy::for_service(None, &BookingRules::default()).expect("valid").duration(),
            Duration::hours(1)
        );
        let bad = BookingRules { buffer_before_minutes: -1, slot_interval_minutes: Some(2), ..BookingRules::default() };
        let Err(DomainError::Invalid(f)) = SlotPolicy::for_service(Some(30), &bad) else { panic!("refused") };
        let fields: Vec<&String> = f.fields().keys().collect();
        assert_eq!(fields, ["buffer_before_minutes", "slot_interval_minutes"]);
        assert!(serde_json::from_value::<BookingRules>(serde_json::json!({"buffer": 5})).is_err(), "unknown field");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    fn hours(v: serde_json::Value) -> WorkingHours {
        let input: WorkingHoursInput = serde_json::from_value(v).expect("hours json");
        WorkingHours::parse(&input).unwrap_or_else(|e| panic!("hours refused: {}", describe(&e)))
    }

    fn policy(p: SlotPolicyInput) -> SlotPolicy {
        SlotPolicy::parse(&p).unwrap_or_else(|e| panic!("policy refused: {}", describe(&e)))
    }

    fn minutes(duration: i64) -> SlotPolicyInput {
        SlotPolicyInput { duration_minutes: duration, ..Default::default() }
    }

    fn busy(start: OffsetDateTime, end: OffsetDateTime) -> BusyInterval {
        BusyInterval { start, end, counts_toward_cap: true }
    }

    fn tz(name: &str) -> TimeZoneName {
        TimeZoneName::parse(name).expect("zone")
    }

    /// Field names of a validation error.
    fn fields(r: Result<impl fmt::Debug, DomainError>) -> Vec<String> {
        match r {
            Err(DomainError::Invalid(f)) => f.fields().keys().cloned().collect(),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    /// Paris, June 2026 (+02:00): Monday 1 June is a working day.
    fn paris_week() -> serde_json::Value {
        json!({
            "time_zone": "Europe/Paris",
            "weekly": {"mon": [["09:00","12:00"], ["13:00","17:00"]], "tue": [["10:00","11:00"]]},
            "overrides": [
                {"date": "2026-06-08", "ranges": []},
                {"date": "2026-06-06", "ranges": [["10:00","12:00"], ["22:00","24:00"]]},
                {"date": "2026-06-15", "ranges": [["18:00","20:00"]]}
            ]
        })
    }

    const MAY: OffsetDateTime = datetime!(2026-05-20 12:00 UTC);

    struct Case {
        name: &'static str,
        rules: serde_json::Value,
        policy: SlotPolicyInput,
        busy: Vec<BusyInterval>,
        from: OffsetDateTime,
        to: OffsetDateTime,
        now: OffsetDateTime,
        want: Vec<OffsetDateTime>,
    }

    fn run(cases: Vec<Case>) {
        for c in cases {
            let rules = hours(c.rules);
            let got = free_slots(&rules, &policy(c.policy), &c.busy, c.from, c.to, c.now)
                .unwrap_or_else(|e| panic!("{}: {e:?}", c.name));
            assert_eq!(got, c.want, "{}", c.name);
            assert!(got.iter().all(|s| s.offset() == UtcOffset::UTC), "{}: not UTC", c.name);
            for s in &got {
                assert_eq!(
                    fits(&rules, &policy(c.policy), *s, c.now),
                    Ok(()),
                    "{}: {s} is a slot but does not fit",
                    c.name
                );
            }
        }
    }

    #[test]
    fn slots_follow_hours_buffers_notice_window_caps_and_overrides() {
        let mon = (datetime!(2026-06-01 00:00 UTC), datetime!(2026-06-02 00:00 UTC));
        let range_8_to_14 = json!({"time_zone": "Europe/Paris", "weekly": {"mon": [["08:00","14:00"]]}});
        let booking_10_to_11 = vec![busy(datetime!(2026-06-01 08:00 UTC), datetime!(2026-06-01 09:00 UTC))];
        run(vec![
            Case {
                name: "two ranges a day, hourly",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![],
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 07:00 UTC),
                    datetime!(2026-06-01 08:00 UTC),
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                ],
            },
            Case {
                name: "interval shorter than the duration; a slot ends at the range end at the latest",
                rules: paris_week(),
                policy: SlotPolicyInput { slot_interval_minutes: Some(20), ..minutes(40) },
                busy: vec![],
                from: datetime!(2026-06-02 00:00 UTC),
                to: datetime!(2026-06-03 00:00 UTC),
                now: MAY,
                // Tuesday 10:00-11:00 local: 10:00 and 10:20 (10:40 would end at 11:20).
                want: vec![datetime!(2026-06-02 08:00 UTC), datetime!(2026-06-02 08:20 UTC)],
            },
            Case {
                name: "no buffers: slots may touch a booking",
                rules: range_8_to_14.clone(),
                policy: SlotPolicyInput { slot_interval_minutes: Some(30), ..minutes(60) },
                busy: booking_10_to_11.clone(),
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 06:00 UTC),
                    datetime!(2026-06-01 06:30 UTC),
                    datetime!(2026-06-01 07:00 UTC),
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 09:30 UTC),
                    datetime!(2026-06-01 10:00 UTC),
                    datetime!(2026-06-01 10:30 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                ],
            },
            Case {
                name: "buffers keep 15 minutes clear around a booking, and may leave working hours",
                rules: range_8_to_14.clone(),
                policy: SlotPolicyInput {
                    slot_interval_minutes: Some(30),
                    buffer_before_minutes: 15,
                    buffer_after_minutes: 15,
                    ..minutes(60)
                },
                busy: booking_10_to_11.clone(),
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 06:00 UTC),
                    datetime!(2026-06-01 06:30 UTC),
                    datetime!(2026-06-01 09:30 UTC),
                    datetime!(2026-06-01 10:00 UTC),
                    datetime!(2026-06-01 10:30 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                ],
            },
            Case {
                name: "only the buffer after overlaps: 09:00 local ends 10:00, its 30-min buffer runs into the booking",
                rules: range_8_to_14.clone(),
                policy: SlotPolicyInput { buffer_after_minutes: 30, ..minutes(60) },
                busy: booking_10_to_11.clone(),
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 06:00 UTC),
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 10:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                ],
            },
            Case {
                name: "existing bookings' buffers apply when the caller widens them",
                rules: range_8_to_14.clone(),
                policy: minutes(60),
                busy: booking_10_to_11
                    .iter()
                    .map(|b| b.with_buffers(Duration::minutes(1), Duration::minutes(1)))
                    .collect(),
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 06:00 UTC),
                    datetime!(2026-06-01 10:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                ],
            },
            Case {
                name: "default notice of 2 h from 10:30 local",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![],
                from: mon.0,
                to: mon.1,
                now: datetime!(2026-06-01 08:30 UTC),
                want: vec![
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                ],
            },
            Case {
                name: "no notice: anything from now on",
                rules: paris_week(),
                policy: SlotPolicyInput { min_notice_minutes: Some(0), ..minutes(60) },
                busy: vec![],
                from: mon.0,
                to: mon.1,
                now: datetime!(2026-06-01 08:30 UTC),
                want: vec![
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                ],
            },
            Case {
                name: "the default 60-day window includes its last instant",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![],
                from: mon.0,
                to: mon.1,
                now: datetime!(2026-04-02 07:00 UTC),
                want: vec![datetime!(2026-06-01 07:00 UTC)],
            },
            Case {
                name: "a 1-day window",
                rules: paris_week(),
                policy: SlotPolicyInput { booking_window_days: Some(1), min_notice_minutes: Some(0), ..minutes(60) },
                busy: vec![],
                from: datetime!(2026-06-01 00:00 UTC),
                to: datetime!(2026-06-03 00:00 UTC),
                now: datetime!(2026-06-01 09:30 UTC),
                want: vec![
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                    datetime!(2026-06-02 08:00 UTC),
                ],
            },
            Case {
                name: "from is inclusive, to exclusive",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![],
                from: datetime!(2026-06-01 08:00 UTC),
                to: datetime!(2026-06-01 12:00 UTC),
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 08:00 UTC),
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                ],
            },
            Case {
                name: "daily cap reached on Monday closes it; Tuesday stays open",
                rules: paris_week(),
                policy: SlotPolicyInput { daily_cap: Some(2), ..minutes(60) },
                busy: vec![
                    busy(datetime!(2026-06-01 07:00 UTC), datetime!(2026-06-01 08:00 UTC)),
                    busy(datetime!(2026-06-01 08:00 UTC), datetime!(2026-06-01 09:00 UTC)),
                ],
                from: mon.0,
                to: datetime!(2026-06-03 00:00 UTC),
                now: MAY,
                want: vec![datetime!(2026-06-02 08:00 UTC)],
            },
            Case {
                name: "held bookings that do not count leave the cap open",
                rules: paris_week(),
                policy: SlotPolicyInput { daily_cap: Some(2), ..minutes(60) },
                busy: vec![
                    busy(datetime!(2026-06-01 07:00 UTC), datetime!(2026-06-01 08:00 UTC)),
                    BusyInterval {
                        counts_toward_cap: false,
                        ..busy(datetime!(2026-06-01 08:00 UTC), datetime!(2026-06-01 09:00 UTC))
                    },
                ],
                from: mon.0,
                to: datetime!(2026-06-03 00:00 UTC),
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 09:00 UTC),
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                    datetime!(2026-06-02 08:00 UTC),
                ],
            },
            Case {
                name: "the cap counts by provider-local date: Monday 22:30 UTC is Tuesday in Paris",
                rules: paris_week(),
                policy: SlotPolicyInput { daily_cap: Some(1), ..minutes(60) },
                busy: vec![busy(datetime!(2026-06-01 22:30 UTC), datetime!(2026-06-01 23:00 UTC))],
                from: datetime!(2026-06-01 11:00 UTC),
                to: datetime!(2026-06-03 00:00 UTC),
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 11:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                ],
            },
            Case {
                name: "overrides: a Monday off, a Saturday with extra hours up to 24:00, a Monday with other hours",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![],
                from: datetime!(2026-06-06 00:00 UTC),
                to: datetime!(2026-06-16 00:00 UTC),
                now: MAY,
                want: vec![
                    // Saturday 6 June 10:00, 11:00, 22:00, 23:00 local.
                    datetime!(2026-06-06 08:00 UTC),
                    datetime!(2026-06-06 09:00 UTC),
                    datetime!(2026-06-06 20:00 UTC),
                    datetime!(2026-06-06 21:00 UTC),
                    // Monday 8 June is off; Tuesday 9 June has its weekly hour.
                    datetime!(2026-06-09 08:00 UTC),
                    // Monday 15 June: 18:00-20:00 instead of the weekly hours.
                    datetime!(2026-06-15 16:00 UTC),
                    datetime!(2026-06-15 17:00 UTC),
                ],
            },
            Case {
                name: "overlapping busy intervals and a booking across the lunch break",
                rules: paris_week(),
                policy: minutes(60),
                busy: vec![
                    busy(datetime!(2026-06-01 09:30 UTC), datetime!(2026-06-01 11:30 UTC)),
                    busy(datetime!(2026-06-01 07:00 UTC), datetime!(2026-06-01 07:10 UTC)),
                    busy(datetime!(2026-06-01 07:05 UTC), datetime!(2026-06-01 08:00 UTC)),
                ],
                from: mon.0,
                to: mon.1,
                now: MAY,
                want: vec![
                    datetime!(2026-06-01 08:00 UTC),
                    datetime!(2026-06-01 12:00 UTC),
                    datetime!(2026-06-01 13:00 UTC),
                    datetime!(2026-06-01 14:00 UTC),
                ],
            },
        ]);
    }

    /// Name, hours, policy, from (to is two days later), slots, slots rendered in Tokyo.
    type DstCase =
        (&'static str, serde_json::Value, SlotPolicyInput, OffsetDateTime, Vec<OffsetDateTime>, Vec<&'static str>);

    /// Working hours 01:00-04:00 (and others) across the 2026 transitions; slots are checked
    /// as exact instants, and rendered in Tokyo (no DST, +09:00).
    #[test]
    fn daylight_saving_transitions() {
        let tokyo = tz("Asia/Tokyo");
        let night = |zone: &str, sat: &str, sat_end: &str, sun: &str, sun_end: &str| json!({"time_zone": zone, "weekly": {"sat": [[sat, sat_end]], "sun": [[sun, sun_end]]}});
        let cases: Vec<DstCase> = vec![
            (
                "Paris spring: 01:00-04:00 on Saturday (+01) is 3 slots, on Sunday 2 (02:00 does not exist)",
                night("Europe/Paris", "01:00", "04:00", "01:00", "04:00"),
                minutes(60),
                datetime!(2026-03-28 00:00 UTC),
                vec![
                    datetime!(2026-03-28 00:00 UTC),
                    datetime!(2026-03-28 01:00 UTC),
                    datetime!(2026-03-28 02:00 UTC),
                    datetime!(2026-03-29 00:00 UTC),
                    datetime!(2026-03-29 01:00 UTC),
                ],
                vec![
                    "2026-03-28T09:00:00+09:00",
                    "2026-03-28T10:00:00+09:00",
                    "2026-03-28T11:00:00+09:00",
                    "2026-03-29T09:00:00+09:00",
                    "2026-03-29T10:00:00+09:00",
                ],
            ),
            (
                "Paris spring, 30 minutes: 02:00 and 02:30 do not exist",
                night("Europe/Paris", "05:00", "05:30", "01:00", "04:00"),
                minutes(30),
                datetime!(2026-03-29 00:00 UTC),
                vec![
                    datetime!(2026-03-29 00:00 UTC),
                    datetime!(2026-03-29 00:30 UTC),
                    datetime!(2026-03-29 01:00 UTC),
                    datetime!(2026-03-29 01:30 UTC),
                ],
                vec![
                    "2026-03-29T09:00:00+09:00",
                    "2026-03-29T09:30:00+09:00",
                    "2026-03-29T10:00:00+09:00",
                    "2026-03-29T10:30:00+09:00",
                ],
            ),
            (
                "Paris spring: a range ending in the gap ends at the jump (03:00 +02); 01:30 would end after it",
                night("Europe/Paris", "05:00", "05:30", "00:00", "02:30"),
                SlotPolicyInput { slot_interval_minutes: Some(30), ..minutes(60) },
                datetime!(2026-03-28 12:00 UTC),
                vec![datetime!(2026-03-28 23:00 UTC), datetime!(2026-03-28 23:30 UTC), datetime!(2026-03-29 00:00 UTC)],
                vec!["2026-03-29T08:00:00+09:00", "2026-03-29T08:30:00+09:00", "2026-03-29T09:00:00+09:00"],
            ),
            (
                "Paris spring: a range starting in the gap gives no slot at its nonexistent start",
                night("Europe/Paris", "05:00", "05:30", "02:30", "04:00"),
                minutes(30),
                datetime!(2026-03-29 00:00 UTC),
                vec![datetime!(2026-03-29 01:00 UTC), datetime!(2026-03-29 01:30 UTC)],
                vec!["2026-03-29T10:00:00+09:00", "2026-03-29T10:30:00+09:00"],
            ),
            (
                "Paris autumn: 01:00-04:00 is four real hours; 02:00 occurs twice, each once",
                night("Europe/Paris", "05:00", "05:30", "01:00", "04:00"),
                minutes(60),
                datetime!(2026-10-24 12:00 UTC),
                vec![
                    datetime!(2026-10-24 23:00 UTC),
                    datetime!(2026-10-25 00:00 UTC),
                    datetime!(2026-10-25 01:00 UTC),
                    datetime!(2026-10-25 02:00 UTC),
                ],
                vec![
                    "2026-10-25T08:00:00+09:00",
                    "2026-10-25T09:00:00+09:00",
                    "2026-10-25T10:00:00+09:00",
                    "2026-10-25T11:00:00+09:00",
                ],
            ),
            (
                "Paris autumn, 30 minutes: every half hour over the four real hours",
                night("Europe/Paris", "05:00", "05:30", "01:00", "04:00"),
                minutes(30),
                datetime!(2026-10-24 12:00 UTC),
                vec![
                    datetime!(2026-10-24 23:00 UTC),
                    datetime!(2026-10-24 23:30 UTC),
                    datetime!(2026-10-25 00:00 UTC),
                    datetime!(2026-10-25 00:30 UTC),
                    datetime!(2026-10-25 01:00 UTC),
                    datetime!(2026-10-25 01:30 UTC),
                    datetime!(2026-10-25 02:00 UTC),
                    datetime!(2026-10-25 02:30 UTC),
                ],
                vec![
                    "2026-10-25T08:00:00+09:00",
                    "2026-10-25T08:30:00+09:00",
                    "2026-10-25T09:00:00+09:00",
                    "2026-10-25T09:30:00+09:00",
                    "2026-10-25T10:00:00+09:00",
                    "2026-10-25T10:30:00+09:00",
                    "2026-10-25T11:00:00+09:00",
                    "2026-10-25T11:30:00+09:00",
                ],
            ),
            (
                "Paris autumn: a range ending in the fold ends at the later 02:30 (+01)",
                night("Europe/Paris", "05:00", "05:30", "00:00", "02:30"),
                minutes(60),
                datetime!(2026-10-24 12:00 UTC),
                // 00:00 +02, 01:00 +02, 02:00 +02; 02:00 +01 would end at 03:00 +01, past 02:30 +01.
                vec![datetime!(2026-10-24 22:00 UTC), datetime!(2026-10-24 23:00 UTC), datetime!(2026-10-25 00:00 UTC)],
                vec!["2026-10-25T07:00:00+09:00", "2026-10-25T08:00:00+09:00", "2026-10-25T09:00:00+09:00"],
            ),
            (
                "New York spring: 02:00 does not exist, 01:00 EST and 03:00 EDT remain",
                night("America/New_York", "01:00", "04:00", "01:00", "04:00"),
                minutes(60),
                datetime!(2026-03-07 00:00 UTC),
                vec![
                    datetime!(2026-03-07 06:00 UTC),
                    datetime!(2026-03-07 07:00 UTC),
                    datetime!(2026-03-07 08:00 UTC),
                    datetime!(2026-03-08 06:00 UTC),
                    datetime!(2026-03-08 07:00 UTC),
                ],
                vec![
                    "2026-03-07T15:00:00+09:00",
                    "2026-03-07T16:00:00+09:00",
                    "2026-03-07T17:00:00+09:00",
                    "2026-03-08T15:00:00+09:00",
                    "2026-03-08T16:00:00+09:00",
                ],
            ),
            (
                "New York autumn: the range starts in the fold (01:00 EDT and EST), four slots",
                night("America/New_York", "05:00", "05:30", "01:00", "04:00"),
                minutes(60),
                datetime!(2026-11-01 00:00 UTC),
                vec![
                    datetime!(2026-11-01 05:00 UTC),
                    datetime!(2026-11-01 06:00 UTC),
                    datetime!(2026-11-01 07:00 UTC),
                    datetime!(2026-11-01 08:00 UTC),
                ],
                vec![
                    "2026-11-01T14:00:00+09:00",
                    "2026-11-01T15:00:00+09:00",
                    "2026-11-01T16:00:00+09:00",
                    "2026-11-01T17:00:00+09:00",
                ],
            ),
        ];
        let now = datetime!(2026-01-05 00:00 UTC);
        for (name, rules, p, from, want, tokyo_want) in cases {
            let rules = hours(rules);
            let p = SlotPolicyInput { booking_window_days: Some(365), ..p };
            let to = from + Duration::days(2);
            let got = free_slots(&rules, &policy(p), &[], from, to, now).expect(name);
            assert_eq!(got, want, "{name}");
            let mut unique = got.clone();
            unique.dedup();
            assert_eq!(unique.len(), got.len(), "{name}: an instant twice");
            let rendered: Vec<String> = got.iter().map(|s| SlotView::new(*s, tokyo).start).collect();
            assert_eq!(rendered, tokyo_want, "{name}");
            for s in &got {
                assert_eq!(fits(&rules, &policy(p), *s, now), Ok(()), "{name}: {s}");
            }
        }
    }

    #[test]
    fn the_repeated_hour_renders_with_both_offsets() {
        let rules = hours(json!({"time_zone": "Europe/Paris", "weekly": {"sun": [["02:00","03:00"]]}}));
        let p = policy(SlotPolicyInput { booking_window_days: Some(365), ..minutes(60) });
        let from = datetime!(2026-10-24 12:00 UTC);
        let got = free_slots(&rules, &p, &[], from, from + Duration::days(1), datetime!(2026-10-01 00:00 UTC))
            .expect("slots");
        let paris: Vec<SlotView> = got.iter().map(|s| SlotView::new(*s, tz("Europe/Paris"))).collect();
        assert_eq!(
            paris,
            vec![
                SlotView { start: "2026-10-25T02:00:00+02:00".into(), start_utc: "2026-10-25T00:00:00Z".into() },
                SlotView { start: "2026-10-25T02:00:00+01:00".into(), start_utc: "2026-10-25T01:00:00Z".into() },
            ]
        );
        // In spring the same hours do not exist at all.
        let from = datetime!(2026-03-28 12:00 UTC);
        let got = free_slots(&rules, &p, &[], from, from + Duration::days(1), datetime!(2026-03-01 00:00 UTC));
        assert_eq!(got, Ok(vec![]));
        assert_eq!(
            serde_json::to_value(SlotView::new(datetime!(2026-03-08 07:00 UTC), tz("America/New_York"))).expect("json"),
            json!({"start": "2026-03-08T03:00:00-04:00", "start_utc": "2026-03-08T07:00:00Z"})
        );
    }

    #[test]
    fn fits_checks_hours_overrides_notice_and_window() {
        let rules = hours(paris_week());
        let hour = policy(minutes(60));
        let outside = |m: &str| DomainError::conflict(codes::OUTSIDE_AVAILABILITY, m);
        let not_available = outside("the provider is not available at that time");
        let cases: Vec<(&str, OffsetDateTime, OffsetDateTime, Result<(), DomainError>)> = vec![
            ("on the grid", datetime!(2026-06-01 07:00 UTC), MAY, Ok(())),
            ("off the grid is fine", datetime!(2026-06-01 07:15 UTC), MAY, Ok(())),
            ("ends exactly at noon", datetime!(2026-06-01 09:00 UTC), MAY, Ok(())),
            ("runs into lunch", datetime!(2026-06-01 09:30 UTC), MAY, Err(not_available.clone())),
            ("before opening", datetime!(2026-06-01 06:59 UTC), MAY, Err(not_available.clone())),
            ("closed Wednesday", datetime!(2026-06-03 08:00 UTC), MAY, Err(not_available.clone())),
            ("day-off override", datetime!(2026-06-08 07:00 UTC), MAY, Err(not_available.clone())),
            ("extra-hours override", datetime!(2026-06-06 08:00 UTC), MAY, Ok(())),
            ("override replaces weekly hours", datetime!(2026-06-15 07:00 UTC), MAY, Err(not_available.clone())),
            ("until 24:00", datetime!(2026-06-06 21:00 UTC), MAY, Ok(())),
            ("past 24:00", datetime!(2026-06-06 21:30 UTC), MAY, Err(not_available.clone())),
            (
                "inside the notice",
                datetime!(2026-06-01 07:00 UTC),
                datetime!(2026-06-01 05:01 UTC),
                Err(outside("the service must be booked at least 120 minutes ahead")),
            ),
            ("exactly the notice", datetime!(2026-06-01 07:00 UTC), datetime!(2026-06-01 05:00 UTC), Ok(())),
            ("exactly the window", datetime!(2026-06-01 07:00 UTC), datetime!(2026-04-02 07:00 UTC), Ok(())),
            (
                "beyond the window",
                datetime!(2026-06-01 07:00 UTC),
                datetime!(2026-04-02 06:59 UTC),
                Err(outside("the service can be booked at most 60 days ahead")),
            ),
        ];
        for (name, start, now, want) in cases {
            assert_eq!(fits(&rules, &hour, start, now), want, "{name}");
        }
        // A Sunday 01:00-04:00 in Paris is two real hours in spring, four in autumn.
        let night = hours(json!({"time_zone": "Europe/Paris", "weekly": {"sun": [["01:00","04:00"]]}}));
        let year = policy(SlotPolicyInput { booking_window_days: Some(365), ..minutes(60) });
        let jan = datetime!(2026-01-05 00:00 UTC);
        assert_eq!(fits(&night, &year, datetime!(2026-03-29 01:00 UTC), jan), Ok(()));
        assert_eq!(fits(&night, &year, datetime!(2026-03-29 01:01 UTC), jan), Err(not_available.clone()));
        assert_eq!(fits(&night, &year, datetime!(2026-10-25 02:00 UTC), jan), Ok(()));
        assert_eq!(fits(&night, &year, datetime!(2026-10-25 02:01 UTC), jan), Err(not_available.clone()));
        assert_eq!(fits(&night, &year, datetime!(2026-10-24 22:59 UTC), jan), Err(not_available.clone()));
        // A range starting in the spring gap (02:30) starts at the jump, 03:00 +02.
        let late = hours(json!({"time_zone": "Europe/Paris", "weekly": {"sun": [["02:30","04:00"]]}}));
        let half = policy(SlotPolicyInput { booking_window_days: Some(365), ..minutes(30) });
        assert_eq!(fits(&late, &half, datetime!(2026-03-29 01:00 UTC), jan), Ok(()));
        assert_eq!(fits(&late, &half, datetime!(2026-03-29 00:59 UTC), jan), Err(not_available.clone()));
        // A range ending in the spring gap (02:30) ends at the jump.
        let early = hours(json!({"time_zone": "Europe/Paris", "weekly": {"sun": [["00:00","02:30"]]}}));
        assert_eq!(fits(&early, &half, datetime!(2026-03-29 00:30 UTC), jan), Ok(()));
        assert_eq!(fits(&early, &half, datetime!(2026-03-29 00:31 UTC), jan), Err(not_available));
        assert_eq!(
            fits(&night, &year, datetime!(2026-01-05 00:00 UTC), jan).map_err(|e| e.code()),
            Err("outside_availability")
        );
    }

    #[test]
    fn daily_cap_helper_counts_provider_local_dates() {
        let rules = hours(paris_week());
        let capped = policy(SlotPolicyInput { daily_cap: Some(2), ..minutes(60) });
        let taken = [
            busy(datetime!(2026-06-01 07:00 UTC), datetime!(2026-06-01 08:00 UTC)),
            // Sunday 31 May 23:30 local: not Monday.
            busy(datetime!(2026-05-31 21:30 UTC), datetime!(2026-05-31 22:00 UTC)),
            BusyInterval {
                counts_toward_cap: false,
                ..busy(datetime!(2026-06-01 08:00 UTC), datetime!(2026-06-01 09:00 UTC))
            },
        ];
        let start = datetime!(2026-06-01 12:00 UTC);
        assert_eq!(within_daily_cap(&rules, &capped, start, &taken), Ok(()));
        let more = [taken[0], busy(datetime!(2026-05-31 22:00 UTC), datetime!(2026-05-31 22:30 UTC))];
        assert_eq!(
            within_daily_cap(&rules, &capped, start, &more),
            Err(DomainError::conflict(
                codes::OUTSIDE_AVAILABILITY,
                "the provider takes at most 2 bookings of this service that day"
            ))
        );
        assert_eq!(within_daily_cap(&rules, &policy(minutes(60)), start, &more), Ok(()));
    }

    #[test]
    fn queries_are_validated() {
        let rules = hours(paris_week());
        let p = policy(minutes(60));
        let from = datetime!(2026-06-01 00:00 UTC);
        let cases = [
            ("equal", from, from, "from"),
            ("reversed", from, from - Duration::seconds(1), "from"),
            ("over 90 days", from, from + Duration::days(90) + Duration::seconds(1), "to"),
        ];
        for (name, from, to, field) in cases {
            assert_eq!(fields(free_slots(&rules, &p, &[], from, to, MAY)), vec![field.to_string()], "{name}");
        }
        // 90 days are allowed; the 60-day window ends on 19 July: five ordinary Mondays of 7
        // slots, Monday 15 June's 2, seven Tuesdays of 1, Saturday 6 June's 4.
        assert_eq!(free_slots(&rules, &p, &[], from, from + Duration::days(90), MAY).map(|s| s.len()), Ok(48));
    }

    #[test]
    fn hours_are_validated_with_field_names() {
        let day = |ranges: serde_json::Value| json!({"time_zone": "Europe/Paris", "weekly": {"mon": ranges}});
        let eleven: Vec<[String; 2]> =
            (0..11).map(|h| [format!("{:02}:00", h * 2), format!("{:02}:30", h * 2)]).collect();
        let too_many: Vec<serde_json::Value> = (0..367)
            .map(|i| json!({"date": fmt_date(datetime!(2026-01-01 0:00 UTC).date() + Duration::days(i)), "ranges": []}))
            .collect();
        let cases: Vec<(&str, serde_json::Value, Vec<&str>)> = vec![
            ("unknown zone", json!({"time_zone": "Mars/Olympus"}), vec!["time_zone"]),
            ("zone names are case-sensitive", json!({"time_zone": "europe/paris"}), vec!["time_zone"]),
            ("empty zone", json!({"time_zone": ""}), vec!["time_zone"]),
            ("one-digit hour", day(json!([["9:00", "12:00"]])), vec!["weekly.mon[0]"]),
            ("minute 60", day(json!([["09:60", "12:00"]])), vec!["weekly.mon[0]"]),
            ("hour 25", day(json!([["09:00", "25:00"]])), vec!["weekly.mon[0]"]),
            ("24:01", day(json!([["09:00", "24:01"]])), vec!["weekly.mon[0]"]),
            ("24:00 as a start", day(json!([["24:00", "24:00"]])), vec!["weekly.mon[0]"]),
            ("not a time", day(json!([["09:00", "noon"]])), vec!["weekly.mon[0]"]),
            ("end before start", day(json!([["10:00", "09:00"]])), vec!["weekly.mon[0]"]),
            ("empty range", day(json!([["10:00", "10:00"]])), vec!["weekly.mon[0]"]),
            ("overlap", day(json!([["09:00", "12:00"], ["11:00", "13:00"]])), vec!["weekly.mon[1]"]),
            (
                "overlap found after sorting",
                day(json!([["11:00", "13:00"], ["09:00", "12:00"]])),
                vec!["weekly.mon[0]"],
            ),
            (
                "same range twice",
                day(json!([["09:00", "12:00"], ["08:00", "08:30"], ["09:00", "12:00"]])),
                vec!["weekly.mon[2]"],
            ),
            ("eleven ranges", day(json!(eleven)), vec!["weekly.mon"]),
            (
                "bad override date",
                json!({"time_zone": "UTC", "overrides": [{"date": "2026-02-30", "ranges": []}, {"date": "2026-2-03", "ranges": []}, {"date": "tomorrow", "ranges": []}]}),
                vec!["overrides[0].date", "overrides[1].date", "overrides[2].date"],
            ),
            (
                "duplicate override date",
                json!({"time_zone": "UTC", "overrides": [{"date": "2026-12-24", "ranges": []}, {"date": "2026-12-24", "ranges": [["10:00", "11:00"]]}]}),
                vec!["overrides[1].date"],
            ),
            (
                "bad override range",
                json!({"time_zone": "UTC", "overrides": [{"date": "2026-12-24", "ranges": [["10:00", "11:00"], ["12:00", "11:00"]]}]}),
                vec!["overrides[0].ranges[1]"],
            ),
            ("367 overrides", json!({"time_zone": "UTC", "overrides": too_many}), vec!["overrides"]),
            (
                "every problem at once",
                json!({"time_zone": "Nowhere", "weekly": {"tue": [["x", "y"]], "sun": [["01:00", "02:00"], ["01:30", "03:00"]]}, "overrides": [{"date": "24/12/2026", "ranges": []}]}),
                vec!["overrides[0].date", "time_zone", "weekly.sun[1]", "weekly.tue[0]"],
            ),
        ];
        for (name, v, want) in cases {
            let input: WorkingHoursInput = serde_json::from_value(v).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(fields(WorkingHours::parse(&input)), want, "{name}");
        }
        // Unknown weekdays and malformed ranges fail to deserialize at all.
        for bad in [
            json!({"time_zone": "UTC", "weekly": {"monday": [["09:00", "10:00"]]}}),
            json!({"time_zone": "UTC", "weekly": {"mon": [["09:00", "10:00", "11:00"]]}}),
            json!({"weekly": {}}),
        ] {
            assert!(serde_json::from_value::<WorkingHoursInput>(bad.clone()).is_err(), "{bad}");
        }
        // The validated type's own Deserialize says why.
        let err = serde_json::from_value::<WorkingHours>(day(json!([["10:00", "09:00"]]))).expect_err("refused");
        assert_eq!(err.to_string(), "weekly.mon[0]: end must be after start");
    }

    #[test]
    fn hours_are_normalized_and_round_trip() {
        let rules = hours(json!({
            "time_zone": "America/New_York",
            "weekly": {"fri": [["13:00","17:00"], ["09:00","12:00"], ["12:00","13:00"]], "sat": [], "mon": [["22:00","24:00"]]},
            "overrides": [{"date": "2026-12-31", "ranges": [["10:00","11:00"]]}, {"date": "2026-12-24", "ranges": []}]
        }));
        assert_eq!(rules.weekly(time::Weekday::Friday), &[DayRange::new(540, 1020).expect("range")]);
        assert_eq!(rules.ranges_on(datetime!(2026-12-24 0:00 UTC).date()), &[]);
        assert_eq!(rules.time_zone().as_str(), "America/New_York");
        let wire = serde_json::to_string(&rules).expect("json");
        assert_eq!(
            wire,
            r#"{"time_zone":"America/New_York","weekly":{"mon":[["22:00","24:00"]],"fri":[["09:00","17:00"]]},"overrides":[{"date":"2026-12-24","ranges":[]},{"date":"2026-12-31","ranges":[["10:00","11:00"]]}]}"#
        );
        assert_eq!(serde_json::from_str::<WorkingHours>(&wire).expect("back"), rules);
        assert_eq!(serde_json::to_value(tz("Asia/Tokyo")).expect("json"), json!("Asia/Tokyo"));
        assert!(serde_json::from_value::<TimeZoneName>(json!("Asia/Tokio")).is_err());
    }

    #[test]
    fn policies_are_validated_with_field_names() {
        let ok: Vec<(&str, SlotPolicyInput)> = vec![
            ("shortest", minutes(5)),
            ("longest", minutes(1440)),
            (
                "every bound at its maximum",
                SlotPolicyInput {
                    duration_minutes: 1440,
                    buffer_before_minutes: 720,
                    buffer_after_minutes: 720,
                    min_notice_minutes: Some(129_600),
                    booking_window_days: Some(365),
                    slot_interval_minutes: Some(1440),
                    daily_cap: Some(1000),
                },
            ),
            (
                "every bound at its minimum",
                SlotPolicyInput {
                    min_notice_minutes: Some(0),
                    booking_window_days: Some(1),
                    slot_interval_minutes: Some(5),
                    daily_cap: Some(1),
                    ..minutes(5)
                },
            ),
        ];
        for (name, p) in ok {
            assert!(SlotPolicy::parse(&p).is_ok(), "{name}");
        }
        let bad: Vec<(&str, SlotPolicyInput, Vec<&str>)> = vec![
            ("missing duration", SlotPolicyInput::default(), vec!["duration_minutes"]),
            ("4 minutes", minutes(4), vec!["duration_minutes"]),
            ("1441 minutes", minutes(1441), vec!["duration_minutes"]),
            (
                "negative buffer",
                SlotPolicyInput { buffer_before_minutes: -1, ..minutes(60) },
                vec!["buffer_before_minutes"],
            ),
            ("long buffer", SlotPolicyInput { buffer_after_minutes: 721, ..minutes(60) }, vec!["buffer_after_minutes"]),
            (
                "notice over 90 days",
                SlotPolicyInput { min_notice_minutes: Some(129_601), ..minutes(60) },
                vec!["min_notice_minutes"],
            ),
            (
                "negative notice",
                SlotPolicyInput { min_notice_minutes: Some(-1), ..minutes(60) },
                vec!["min_notice_minutes"],
            ),
            ("no window", SlotPolicyInput { booking_window_days: Some(0), ..minutes(60) }, vec!["booking_window_days"]),
            (
                "window over a year",
                SlotPolicyInput { booking_window_days: Some(366), ..minutes(60) },
                vec!["booking_window_days"],
            ),
            (
                "tiny interval",
                SlotPolicyInput { slot_interval_minutes: Some(4), ..minutes(60) },
                vec!["slot_interval_minutes"],
            ),
            (
                "huge interval",
                SlotPolicyInput { slot_interval_minutes: Some(1441), ..minutes(60) },
                vec!["slot_interval_minutes"],
            ),
            ("zero cap", SlotPolicyInput { daily_cap: Some(0), ..minutes(60) }, vec!["daily_cap"]),
            ("huge cap", SlotPolicyInput { daily_cap: Some(1001), ..minutes(60) }, vec!["daily_cap"]),
            (
                "several",
                SlotPolicyInput {
                    duration_minutes: 0,
                    daily_cap: Some(-3),
                    buffer_after_minutes: 9999,
                    ..Default::default()
                },
                vec!["buffer_after_minutes", "daily_cap", "duration_minutes"],
            ),
        ];
        for (name, p, want) in bad {
            assert_eq!(fields(SlotPolicy::parse(&p)), want, "{name}");
        }
        // Defaults, and the wire shape.
        let p: SlotPolicy = serde_json::from_value(json!({"duration_minutes": 45})).expect("policy");
        assert_eq!(
            (
                p.duration(),
                p.buffer_before(),
                p.buffer_after(),
                p.min_notice(),
                p.booking_window(),
                p.slot_interval(),
                p.daily_cap()
            ),
            (
                Duration::minutes(45),
                Duration::ZERO,
                Duration::ZERO,
                Duration::hours(2),
                Duration::days(60),
                Duration::minutes(45),
                None
            )
        );
        assert_eq!(
            serde_json::to_value(p).expect("json"),
            json!({"duration_minutes": 45, "buffer_before_minutes": 0, "buffer_after_minutes": 0, "min_notice_minutes": 120, "booking_window_days": 60})
        );
        let err =
            serde_json::from_value::<SlotPolicy>(json!({"duration_minutes": 45, "daily_cap": 0})).expect_err("refused");
        assert_eq!(err.to_string(), "daily_cap: must be between 1 and 1000");
    }
}
