//! Notifications, their unread index and counter, preferences and digest bookkeeping.
//!
//! A notification's read/delete transitions are compare-and-sets on its own row, so the
//! unread counter moves exactly once per notification even under concurrent requests.
//! Notifications with `expires_at` carry a row TTL; the counter keeps them in a separate
//! list with their expiry, so they stop counting the moment they stop being listed.

use agora_engine::{NotificationId, NotificationType, Preferences, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::retry::cas_retry;
use crate::store::{get_versioned, remaining, Versioned};
use crate::tables::Table;

const COUNTER_CK: &str = "notifications";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: NotificationId,
    pub user_id: UserId,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub actor_id: Option<UserId>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub read: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub expires_at: Option<OffsetDateTime>,
    /// Set while a delete is in progress; such rows are never shown.
    #[serde(default)]
    pub deleted: bool,
}

impl Notification {
    fn live(&self, now: OffsetDateTime) -> bool {
        !self.deleted && self.expires_at.is_none_or(|e| millis(e) > millis(now))
    }
}

fn millis(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct UnreadCounter {
    /// Unread notifications without an expiry.
    count: i64,
    /// Unread notifications with an expiry: (expires_at in unix milliseconds, id).
    expiring: Vec<(i64, NotificationId)>,
}

impl UnreadCounter {
    fn value(&self, now: OffsetDateTime) -> i64 {
        let now = millis(now);
        self.count.max(0) + self.expiring.iter().filter(|(at, _)| *at > now).count() as i64
    }
}

/// When a user's last digest went out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DigestState {
    #[serde(with = "time::serde::rfc3339")]
    pub last_sent: OffsetDateTime,
}

pub struct Notifications<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Notifications<'_> {
    /// Stores a new, unread notification and counts it.
    pub async fn create(&self, n: &Notification, now: OffsetDateTime) -> Result<(), StoreError> {
        let ttl = n.expires_at.map(|e| remaining(e, now));
        let (pk, ck) = (n.user_id.to_string(), n.id.to_string());
        let row = encode(Table::NotificationsByUser, n)?;
        if !self.b.cas(Table::NotificationsByUser, &pk, &ck, Expect::Absent, row, ttl).await?.applied() {
            return Err(StoreError::Duplicate("notification"));
        }
        self.b.put(Table::NotificationsUnread, &pk, &ck, Vec::new(), ttl).await?;
        self.count(n.user_id, now, |c| match n.expires_at {
            Some(at) => c.expiring.push((millis(at), n.id)),
            None => c.count += 1,
        })
        .await
    }

    async fn count(
        &self,
        user: UserId,
        now: OffsetDateTime,
        change: impl Fn(&mut UnreadCounter),
    ) -> Result<(), StoreError> {
        let pk = user.to_string();
        cas_retry(|| async {
            let current = get_versioned::<UnreadCounter>(self.b, Table::UnreadCounters, &pk, COUNTER_CK).await?;
            let (mut next, expect) = match current {
                Some(v) => (v.value, Expect::Version(v.version)),
                None => (UnreadCounter::default(), Expect::Absent),
            };
            change(&mut next);
            let cutoff = millis(now);
            next.expiring.retain(|(at, _)| *at > cutoff);
            next.count = next.count.max(0);
            let row = encode(Table::UnreadCounters, &next)?;
            Ok(self.b.cas(Table::UnreadCounters, &pk, COUNTER_CK, expect, row, None).await?.applied().then_some(()))
        })
        .await
    }

    fn uncount(n: &Notification) -> impl Fn(&mut UnreadCounter) + '_ {
        move |c: &mut UnreadCounter| match n.expires_at {
            Some(_) => c.expiring.retain(|(_, id)| *id != n.id),
            None => c.count -= 1,
        }
    }

    pub async fn unread_count(&self, user: UserId, now: OffsetDateTime) -> Result<i64, StoreError> {
        Ok(get_versioned::<UnreadCounter>(self.b, Table::UnreadCounters, &user.to_string(), COUNTER_CK)
            .await?
            .map_or(0, |v| v.value.value(now)))
    }

    async fn get_versioned(
        &self,
        user: UserId,
        id: NotificationId,
    ) -> Result<Option<Versioned<Notification>>, StoreError> {
        get_versioned(self.b, Table::NotificationsByUser, &user.to_string(), &id.to_string()).await
    }

    pub async fn get(
        &self,
        user: UserId,
        id: NotificationId,
        now: OffsetDateTime,
    ) -> Result<Option<Notification>, StoreError> {
        Ok(self.get_versioned(user, id).await?.map(|v| v.value).filter(|n| n.live(now)))
    }

    /// Newest first. With `unread_only` the unread index is scanned instead.
    pub async fn list(
        &self,
        user: UserId,
        unread_only: bool,
        limit: usize,
        cursor: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<(Vec<Notification>, Option<String>), StoreError> {
        let pk = user.to_string();
        if !unread_only {
            let page = self.b.scan(Table::NotificationsByUser, &pk, Order::Desc, limit, cursor).await?;
            let items = page
                .rows
                .iter()
                .map(|r| decode::<Notification>(Table::NotificationsByUser, &r.value))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok((items.into_iter().filter(|n| n.live(now)).collect(), page.next_cursor));
        }
        let page = self.b.scan(Table::NotificationsUnread, &pk, Order::Desc, limit, cursor).await?;
        let found = futures_util::future::try_join_all(page.rows.iter().map(|r| async move {
            match NotificationId::parse(&r.ck) {
                Ok(id) => self.get(user, id, now).await,
                Err(_) => Ok(None),
            }
        }))
        .await?;
        Ok((found.into_iter().flatten().filter(|n| !n.read).collect(), page.next_cursor))
    }

    /// Notifications created after `after` (exclusive), oldest first: what `sync` replays.
    /// Also answers where the next page starts (the last row scanned, live or not), `None`
    /// at the end, so a run of expired or deleted rows never ends a replay early.
    pub async fn after(
        &self,
        user: UserId,
        after: Option<NotificationId>,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<(Vec<Notification>, Option<NotificationId>), StoreError> {
        let cursor = after.map(|id| crate::backend::encode_cursor(&id.to_string()));
        let page =
            self.b.scan(Table::NotificationsByUser, &user.to_string(), Order::Asc, limit, cursor.as_deref()).await?;
        let items = page
            .rows
            .iter()
            .map(|r| decode::<Notification>(Table::NotificationsByUser, &r.value))
            .collect::<Result<Vec<_>, _>>()?;
        let next = match (&page.next_cursor, items.last()) {
            (Some(_), Some(last)) => Some(last.id),
            _ => None,
        };
        Ok((items.into_iter().filter(|n| n.live(now)).collect(), next))
    }

    /// Marks one notification read. `None` if it does not exist (or is not the user's).
    pub async fn mark_read(
        &self,
        user: UserId,
        id: NotificationId,
        now: OffsetDateTime,
    ) -> Result<Option<Notification>, StoreError> {
        let (pk, ck) = (user.to_string(), id.to_string());
        cas_retry(|| async {
            let Some(current) = self.get_versioned(user, id).await? else { return Ok(Some(None)) };
            if !current.value.live(now) {
                return Ok(Some(None));
            }
            if current.value.read {
                return Ok(Some(Some(current.value)));
            }
            let mut next = current.value.clone();
            next.read = true;
            let ttl = next.expires_at.map(|e| remaining(e, now));
            let row = encode(Table::NotificationsByUser, &next)?;
            let expect = Expect::Version(current.version);
            let CasOutcome::Applied { .. } = self.b.cas(Table::NotificationsByUser, &pk, &ck, expect, row, ttl).await?
            else {
                return Ok(None);
            };
            self.b.delete(Table::NotificationsUnread, &pk, &ck).await?;
            self.count(user, now, Self::uncount(&next)).await?;
            Ok(Some(Some(next)))
        })
        .await
    }

    /// Marks every unread notification read; answers how many changed.
    pub async fn mark_all_read(&self, user: UserId, now: OffsetDateTime) -> Result<usize, StoreError> {
        let pk = user.to_string();
        let mut changed = 0;
        loop {
            // Each pass removes what it read from the index, so always scan from the start.
            let page = self.b.scan(Table::NotificationsUnread, &pk, Order::Asc, 200, None).await?;
            if page.rows.is_empty() {
                return Ok(changed);
            }
            for row in &page.rows {
                if let Ok(id) = NotificationId::parse(&row.ck) {
                    if self.mark_read(user, id, now).await?.is_some() {
                        changed += 1;
                    }
                }
                // A stale index row (expired or deleted notification) goes too.
                self.b.delete(Table::NotificationsUnread, &pk, &row.ck).await?;
            }
        }
    }

    /// Deletes one notification; `false` if it did not exist.
    pub async fn delete(&self, user: UserId, id: NotificationId, now: OffsetDateTime) -> Result<bool, StoreError> {
        let (pk, ck) = (user.to_string(), id.to_string());
        cas_retry(|| async {
            let Some(current) = self.get_versioned(user, id).await? else { return Ok(Some(false)) };
            if !current.value.live(now) {
                return Ok(Some(false));
            }
            let mut next = current.value.clone();
            next.deleted = true;
            let ttl = next.expires_at.map(|e| remaining(e, now));
            let row = encode(Table::NotificationsByUser, &next)?;
            let expect = Expect::Version(current.version);
            let CasOutcome::Applied { .. } = self.b.cas(Table::NotificationsByUser, &pk, &ck, expect, row, ttl).await?
            else {
                return Ok(None);
            };
            if !current.value.read {
                self.b.delete(Table::NotificationsUnread, &pk, &ck).await?;
                self.count(user, now, Self::uncount(&next)).await?;
            }
            self.b.delete(Table::NotificationsByUser, &pk, &ck).await?;
            Ok(Some(true))
        })
        .await
    }

    /// Unread notifications created after `since`, newest first, at most `limit`.
    pub async fn unread_since(
        &self,
        user: UserId,
        since: OffsetDateTime,
        limit: usize,
        now: OffsetDateTime,
    ) -> Result<Vec<Notification>, StoreError> {
        let (items, _) = self.list(user, true, limit, None, now).await?;
        Ok(items.into_iter().filter(|n| n.created_at > since).collect())
    }

    pub async fn preferences(&self, user: UserId) -> Result<Preferences, StoreError> {
        match self.b.get(Table::NotificationPreferences, &user.to_string(), "").await? {
            Some(row) => decode(Table::NotificationPreferences, &row.value),
            None => Ok(Preferences::default()),
        }
    }

    pub async fn set_preferences(&self, user: UserId, prefs: &Preferences) -> Result<(), StoreError> {
        let row = encode(Table::NotificationPreferences, prefs)?;
        self.b.put(Table::NotificationPreferences, &user.to_string(), "", row, None).await
    }

    pub async fn digest_state(&self, user: UserId) -> Result<Option<Versioned<DigestState>>, StoreError> {
        get_versioned(self.b, Table::DigestState, &user.to_string(), "").await
    }

    /// Claims the next digest for `user` (exactly one node wins when several run the
    /// scheduler). `expected` is the version read with [`Self::digest_state`].
    pub async fn claim_digest(
        &self,
        user: UserId,
        expected: Option<i64>,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let row = encode(Table::DigestState, &DigestState { last_sent: at })?;
        let expect = expected.map_or(Expect::Absent, Expect::Version);
        Ok(self.b.cas(Table::DigestState, &user.to_string(), "", expect, row, None).await?.applied())
    }
}
