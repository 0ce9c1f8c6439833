//! Availability records: a provider's working hours, private calendar feed tokens, and the
//! booking reminders due (with the claim that makes each one go out at most once).

use std::ops::ControlFlow;

use agora_engine::{BookingId, NotificationId, UserId, WorkingHours};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, Expect};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::market::each_row;
use crate::tables::Table;

/// Which reminder of a confirmed booking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReminderKind {
    /// 24 hours before the start.
    DayBefore,
    /// One hour before the start.
    HourBefore,
}

impl ReminderKind {
    pub const ALL: [ReminderKind; 2] = [ReminderKind::DayBefore, ReminderKind::HourBefore];

    pub fn as_str(self) -> &'static str {
        match self {
            ReminderKind::DayBefore => "day_before",
            ReminderKind::HourBefore => "hour_before",
        }
    }

    /// How long before the booking's start it is due.
    pub fn lead(self) -> time::Duration {
        match self {
            ReminderKind::DayBefore => time::Duration::hours(24),
            ReminderKind::HourBefore => time::Duration::hours(1),
        }
    }
}

/// A reminder to send to both parties of a booking at `due`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub booking_id: BookingId,
    pub kind: ReminderKind,
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
}

impl Reminder {
    fn partition(due: OffsetDateTime) -> String {
        due.unix_timestamp().div_euclid(3600).to_string()
    }

    fn ck(&self) -> String {
        format!("{:012}:{}:{}", self.due.unix_timestamp().max(0), self.booking_id, self.kind.as_str())
    }
}

pub struct Availability<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Availability<'_> {
    // ---- working hours

    pub async fn hours(&self, provider: UserId) -> Result<Option<WorkingHours>, StoreError> {
        let Some(row) = self.b.get(Table::AvailabilityByProvider, &provider.to_string(), "").await? else {
            return Ok(None);
        };
        decode(Table::AvailabilityByProvider, &row.value).map(Some)
    }

    pub async fn set_hours(&self, provider: UserId, hours: &WorkingHours) -> Result<(), StoreError> {
        let row = encode(Table::AvailabilityByProvider, hours)?;
        self.b.put(Table::AvailabilityByProvider, &provider.to_string(), "", row, None).await
    }

    /// Removes the working hours (the provider's calendar is open again).
    pub async fn clear_hours(&self, provider: UserId) -> Result<(), StoreError> {
        self.b.delete(Table::AvailabilityByProvider, &provider.to_string(), "").await
    }

    // ---- calendar feeds

    /// The user whose feed token hashes to `token_hash`.
    pub async fn feed_owner(&self, token_hash: &str) -> Result<Option<UserId>, StoreError> {
        let Some(row) = self.b.get(Table::CalendarFeeds, token_hash, "").await? else { return Ok(None) };
        decode(Table::CalendarFeeds, &row.value).map(Some)
    }

    /// Makes `token_hash` the user's one feed token; the previous one stops working.
    pub async fn replace_feed(&self, user: UserId, token_hash: &str) -> Result<(), StoreError> {
        self.b.put(Table::CalendarFeeds, token_hash, "", encode(Table::CalendarFeeds, &user)?, None).await?;
        let previous = self.current_feed(user).await?;
        let row = encode(Table::CalendarFeedByUser, &token_hash.to_string())?;
        self.b.put(Table::CalendarFeedByUser, &user.to_string(), "", row, None).await?;
        if let Some(old) = previous.filter(|old| old != token_hash) {
            self.b.delete(Table::CalendarFeeds, &old, "").await?;
        }
        Ok(())
    }

    /// Revokes the user's feed token; `false` when there was none.
    pub async fn revoke_feed(&self, user: UserId) -> Result<bool, StoreError> {
        let Some(old) = self.current_feed(user).await? else { return Ok(false) };
        self.b.delete(Table::CalendarFeeds, &old, "").await?;
        self.b.delete(Table::CalendarFeedByUser, &user.to_string(), "").await?;
        Ok(true)
    }

    async fn current_feed(&self, user: UserId) -> Result<Option<String>, StoreError> {
        let Some(row) = self.b.get(Table::CalendarFeedByUser, &user.to_string(), "").await? else { return Ok(None) };
        decode(Table::CalendarFeedByUser, &row.value).map(Some)
    }

    // ---- reminders

    /// Schedules a reminder (idempotent: the same booking, kind and due time is one row).
    pub async fn schedule_reminder(&self, r: &Reminder) -> Result<(), StoreError> {
        let row = encode(Table::RemindersDue, r)?;
        self.b.put(Table::RemindersDue, &Reminder::partition(r.due), &r.ck(), row, None).await
    }

    /// Reminders due at or before `now`, looking back `lookback_hours` hourly partitions
    /// (older ones are moot: their booking has started), oldest first, at most `limit`.
    pub async fn due_reminders(
        &self,
        now: OffsetDateTime,
        lookback_hours: i64,
        limit: usize,
    ) -> Result<Vec<Reminder>, StoreError> {
        let hour = now.unix_timestamp().div_euclid(3600);
        let mut out = Vec::new();
        for h in (hour - lookback_hours)..=hour {
            each_row(self.b, Table::RemindersDue, &h.to_string(), |row| {
                let r: Reminder = decode(Table::RemindersDue, &row.value)?;
                if r.due > now || out.len() >= limit {
                    return Ok(ControlFlow::Break(()));
                }
                out.push(r);
                Ok(ControlFlow::Continue(()))
            })
            .await?;
        }
        Ok(out)
    }

    /// Claims the sending of a reminder with the notification id `id`. Answers the id to
    /// deliver under: `id` on the first claim, the id of the first claim afterwards (so a
    /// delivery interrupted by a crash is retried under the same id, and the notification
    /// store's insert-if-absent keeps it single).
    pub async fn claim_reminder(&self, r: &Reminder, id: NotificationId) -> Result<NotificationId, StoreError> {
        let pk = format!("{}:{}", r.booking_id, r.kind.as_str());
        let row = encode(Table::RemindersSent, &id)?;
        let outcome = self.b.cas(Table::RemindersSent, &pk, "", Expect::Absent, row, None).await?;
        if outcome.applied() {
            return Ok(id);
        }
        let Some(existing) = self.b.get(Table::RemindersSent, &pk, "").await? else { return Ok(id) };
        decode(Table::RemindersSent, &existing.value)
    }

    /// Removes a reminder from the due list (sent, or moot).
    pub async fn done_reminder(&self, r: &Reminder) -> Result<(), StoreError> {
        self.b.delete(Table::RemindersDue, &Reminder::partition(r.due), &r.ck()).await
    }
}
