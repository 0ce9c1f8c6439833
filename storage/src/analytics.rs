//! Analytics storage: recorded facts, and the rollups dashboards read.
//!
//! Facts are written in batches into the partition of the UTC hour they were received in
//! (TTL = the retention). The rollup reads them in receipt order and applies them to the
//! counter rows in numbered batches, exactly once:
//! - each batch of facts carries a key; the first copy of a key to be rolled up claims it
//!   (`analytics_seen`, insert-if-absent with its receipt time), so a replayed batch, one
//!   written twice by a client retry or a republished domain event, never counts twice;
//! - the checkpoint records a rollup batch's range before any counter moves, and every
//!   counter row records the last batch applied to it, so a batch that a crash cut short is
//!   applied again over the same range and moves only the rows it had not reached.

use std::collections::BTreeMap;
use std::time::Duration;

use agora_engine::analytics::{merge, Counters, Deltas, Fact, Kind, Period};
use agora_engine::UserId;
use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::backend::{encode_cursor, Backend, BatchOp, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::retry::cas_retry;
use crate::store::get_versioned;
use crate::tables::Table;

const ALL: &str = "all";
const CHECKPOINT: &str = "rollup";
/// Facts a rollup batch reads at most.
pub const ROLLUP_BATCH: usize = 5000;
/// Counter rows moved at once.
const CONCURRENCY: usize = 16;

/// The partition of an instant's hour: `2026-12-03T14`.
pub fn hour_key(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!("{}T{:02}", agora_engine::analytics::ymd(at.date()), at.hour())
}

fn micros(at: OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX).max(0)
}

/// A counter row: the sums and the last rollup batch applied to them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Sums {
    counters: Counters,
    applied: u64,
}

/// A user's last active day, and the one before the batch that set it (so a batch applied
/// again computes the same move).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct LastActive {
    last: Date,
    previous: Option<Date>,
    applied: u64,
}

/// How far the rollup has read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The last batch applied.
    pub batch: u64,
    /// The hour being read, and the last fact of it applied.
    pub hour: Option<String>,
    pub after: Option<String>,
    /// A batch being applied: its number, hour and range `(after, upto]`.
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub batch: u64,
    pub hour: String,
    pub after: Option<String>,
    pub upto: String,
}

/// What one rollup pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rolled {
    pub batches: usize,
    pub facts: usize,
    /// Facts of batches that had already counted (replays).
    pub replayed: usize,
    /// The receipt time of the last fact applied.
    pub last: Option<OffsetDateTime>,
}

pub struct Analytics<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Analytics<'_> {
    /// Writes one batch of facts, received `now`, under `key` (`[A-Za-z0-9:_-]`, the same
    /// key for a replay of the same batch). Durable when it returns.
    pub async fn record(
        &self,
        key: &str,
        facts: &[Fact],
        now: OffsetDateTime,
        ttl: Duration,
    ) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        let hour = hour_key(now);
        let at = micros(now);
        let ops = facts
            .iter()
            .enumerate()
            .map(|(i, f)| {
                Ok(BatchOp::Put {
                    ck: format!("{at:020}:{key}:{i:04}"),
                    value: encode(Table::AnalyticsEvents, f)?,
                    ttl: Some(ttl),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        self.b.batch(Table::AnalyticsEvents, &hour, ops).await?;
        self.b.put(Table::AnalyticsHours, ALL, &hour, Vec::new(), Some(ttl)).await
    }

    pub async fn checkpoint(&self) -> Result<Checkpoint, StoreError> {
        Ok(get_versioned(self.b, Table::AnalyticsCheckpoint, CHECKPOINT, "")
            .await?
            .map(|v| v.value)
            .unwrap_or_default())
    }

    /// Applies what was received before `settled` (facts received later may still be
    /// written by a node whose clock is behind), at most `max_batches` batches. Another
    /// process rolling up at the same time makes this pass stop early, never count twice.
    pub async fn roll_up(&self, settled: OffsetDateTime, max_batches: usize) -> Result<Rolled, StoreError> {
        let mut done = Rolled::default();
        let bound = format!("{:020}", micros(settled));
        let settled_hour = hour_key(settled);
        for _ in 0..max_batches {
            let Some(cp) = get_versioned::<Checkpoint>(self.b, Table::AnalyticsCheckpoint, CHECKPOINT, "").await?
            else {
                let first = Checkpoint::default();
                let row = encode(Table::AnalyticsCheckpoint, &first)?;
                self.b.cas(Table::AnalyticsCheckpoint, CHECKPOINT, "", Expect::Absent, row, None).await?;
                continue;
            };
            let (version, mut cp) = (cp.version, cp.value);
            let pending = match cp.pending.clone() {
                Some(p) => p,
                None => match self.next_range(&cp, &bound, &settled_hour).await? {
                    Next::Idle => break,
                    Next::Skip(hour) => {
                        (cp.hour, cp.after) = (Some(hour), None);
                        if !self.save_checkpoint(version, &cp).await? {
                            break;
                        }
                        continue;
                    }
                    Next::Batch(p) => {
                        cp.pending = Some(p.clone());
                        if !self.save_checkpoint(version, &cp).await? {
                            break;
                        }
                        done.batches += 1;
                        let (facts, replayed) = self.apply(&p).await?;
                        done.facts += facts;
                        done.replayed += replayed;
                        done.last = received_at(&p.upto);
                        self.finish(&p).await?;
                        continue;
                    }
                },
            };
            // A batch a crash (or another process) left half-applied: apply it again.
            let (facts, replayed) = self.apply(&pending).await?;
            done.facts += facts;
            done.replayed += replayed;
            done.last = received_at(&pending.upto);
            self.finish(&pending).await?;
        }
        Ok(done)
    }

    async fn save_checkpoint(&self, version: i64, cp: &Checkpoint) -> Result<bool, StoreError> {
        let row = encode(Table::AnalyticsCheckpoint, cp)?;
        let out = self.b.cas(Table::AnalyticsCheckpoint, CHECKPOINT, "", Expect::Version(version), row, None).await?;
        Ok(out.applied())
    }

    /// Marks `p` applied, unless someone already did.
    async fn finish(&self, p: &Pending) -> Result<(), StoreError> {
        cas_retry(|| async {
            let Some(cp) = get_versioned::<Checkpoint>(self.b, Table::AnalyticsCheckpoint, CHECKPOINT, "").await?
            else {
                return Ok(Some(()));
            };
            if cp.value.pending.as_ref() != Some(p) {
                return Ok(Some(()));
            }
            let next =
                Checkpoint { batch: p.batch, hour: Some(p.hour.clone()), after: Some(p.upto.clone()), pending: None };
            Ok(self.save_checkpoint(cp.version, &next).await?.then_some(()))
        })
        .await
    }

    /// The next range to apply: the rest of the current hour, else the next hour with facts.
    async fn next_range(&self, cp: &Checkpoint, bound: &str, settled_hour: &str) -> Result<Next, StoreError> {
        let hour = match &cp.hour {
            Some(h) => h.clone(),
            None => match self.hours_after(None).await? {
                Some(h) => h,
                None => return Ok(Next::Idle),
            },
        };
        let mut upto = None;
        let mut cursor = cp.after.as_deref().map(encode_cursor);
        let mut seen = 0;
        'pages: while seen < ROLLUP_BATCH {
            let page = self.b.scan(Table::AnalyticsEvents, &hour, Order::Asc, 1000, cursor.as_deref()).await?;
            for row in &page.rows {
                if row.ck.as_str() >= bound {
                    break 'pages;
                }
                upto = Some(row.ck.clone());
                seen += 1;
            }
            match page.next_cursor {
                Some(c) if seen < ROLLUP_BATCH => cursor = Some(c),
                _ => break,
            }
        }
        if let Some(upto) = upto {
            // Never end a batch inside a batch of facts: it would need its key twice.
            let upto = self.batch_end(&hour, &upto, bound).await?;
            return Ok(Next::Batch(Pending { batch: cp.batch + 1, hour, after: cp.after.clone(), upto }));
        }
        if hour.as_str() >= settled_hour {
            return Ok(Next::Idle);
        }
        // This hour is read to its end and closed: move on to the next hour with facts.
        Ok(match self.hours_after(Some(&hour)).await? {
            Some(next) if next.as_str() <= settled_hour => Next::Skip(next),
            _ => Next::Idle,
        })
    }

    /// Extends `upto` to the last fact of its batch of facts (same receipt time and key).
    async fn batch_end(&self, hour: &str, upto: &str, bound: &str) -> Result<String, StoreError> {
        let Some(prefix) = upto.get(..upto.len().saturating_sub(4)) else { return Ok(upto.to_owned()) };
        let mut last = upto.to_owned();
        let page = self.b.scan(Table::AnalyticsEvents, hour, Order::Asc, 1000, Some(&encode_cursor(upto))).await?;
        for row in page.rows {
            if !row.ck.starts_with(prefix) || row.ck.as_str() >= bound {
                break;
            }
            last = row.ck;
        }
        Ok(last)
    }

    async fn hours_after(&self, hour: Option<&str>) -> Result<Option<String>, StoreError> {
        let cursor = hour.map(encode_cursor);
        let page = self.b.scan(Table::AnalyticsHours, ALL, Order::Asc, 1, cursor.as_deref()).await?;
        Ok(page.rows.into_iter().next().map(|r| r.ck))
    }

    /// Applies batch `p`: claims its batch keys, sums what counts, moves the counter rows
    /// that have not seen this batch. Answers (facts counted, facts of replays).
    async fn apply(&self, p: &Pending) -> Result<(usize, usize), StoreError> {
        let mut facts: Vec<(String, String, Fact)> = Vec::new();
        let mut cursor = p.after.as_deref().map(encode_cursor);
        'pages: loop {
            let page = self.b.scan(Table::AnalyticsEvents, &p.hour, Order::Asc, 1000, cursor.as_deref()).await?;
            for row in &page.rows {
                if row.ck.as_str() > p.upto.as_str() {
                    break 'pages;
                }
                let Some((received, key)) = split_ck(&row.ck) else {
                    return Err(StoreError::Corrupt { table: Table::AnalyticsEvents.name(), detail: row.ck.clone() });
                };
                facts.push((received.to_owned(), key.to_owned(), decode(Table::AnalyticsEvents, &row.value)?));
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        // One claim per (key, receipt): the first copy of a key counts.
        let mut claims: BTreeMap<(String, String), bool> = BTreeMap::new();
        for (received, key, _) in &facts {
            claims.entry((key.clone(), received.clone())).or_insert(false);
        }
        let claimed: Vec<((String, String), bool)> = stream::iter(claims.into_keys())
            .map(|(key, received)| async move {
                let ours = self.claim(&key, &received).await?;
                Ok::<_, StoreError>(((key, received), ours))
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        let claimed: BTreeMap<(String, String), bool> = claimed.into_iter().collect();
        let mut deltas = Deltas::default();
        let mut active: BTreeMap<UserId, Date> = BTreeMap::new();
        let (mut counted, mut replayed) = (0, 0);
        for (received, key, fact) in &facts {
            if claimed.get(&(key.clone(), received.clone())) != Some(&true) {
                replayed += 1;
                continue;
            }
            counted += 1;
            deltas.add(fact);
            if let Some(u) = fact.user.filter(|_| fact.kind != Kind::UserRegistered) {
                let day = fact.day();
                active.entry(u).and_modify(|d| *d = (*d).max(day)).or_insert(day);
            }
        }
        let moves: Vec<(Date, Option<Date>)> = stream::iter(active)
            .map(|(user, day)| async move { self.touch_user(user, day, p.batch).await.map(|last| (day, last)) })
            .buffer_unordered(CONCURRENCY)
            .try_collect()
            .await?;
        for (day, last) in moves {
            deltas.active(day, last);
        }
        let rows = deltas
            .counters
            .into_iter()
            .map(|k| (Table::AnalyticsRollups, k))
            .chain(deltas.ranks.into_iter().map(|k| (Table::AnalyticsRanks, k)));
        stream::iter(rows)
            .map(|(table, ((pk, period), delta))| async move {
                self.add(table, &pk, &period.key(), &delta, p.batch).await
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok((counted, replayed))
    }

    /// Whether the copy of batch `key` received at `received` is the one that counts.
    async fn claim(&self, key: &str, received: &str) -> Result<bool, StoreError> {
        let row = encode(Table::AnalyticsSeen, &received)?;
        let ttl = Some(Duration::from_secs(400 * 86_400));
        match self.b.cas(Table::AnalyticsSeen, key, "", Expect::Absent, row, ttl).await? {
            CasOutcome::Applied { .. } => Ok(true),
            CasOutcome::Conflict { current: Some(r) } => {
                Ok(decode::<String>(Table::AnalyticsSeen, &r.value)? == received)
            }
            CasOutcome::Conflict { current: None } => Ok(false),
        }
    }

    /// Moves a user's last active day to `day` in batch `batch`; answers the day it was
    /// before (the same answer when the batch is applied again).
    async fn touch_user(&self, user: UserId, day: Date, batch: u64) -> Result<Option<Date>, StoreError> {
        let pk = user.to_string();
        cas_retry(|| async {
            let current = get_versioned::<LastActive>(self.b, Table::AnalyticsUsers, &pk, "").await?;
            let (expect, before) = match &current {
                Some(v) if v.value.applied >= batch => return Ok(Some(v.value.previous)),
                Some(v) => (Expect::Version(v.version), Some(v.value.last)),
                None => (Expect::Absent, None),
            };
            let next = LastActive { last: before.map_or(day, |b| b.max(day)), previous: before, applied: batch };
            let row = encode(Table::AnalyticsUsers, &next)?;
            Ok(self.b.cas(Table::AnalyticsUsers, &pk, "", expect, row, None).await?.applied().then_some(before))
        })
        .await
    }

    /// Adds `delta` to one counter row unless batch `batch` already moved it.
    async fn add(&self, table: Table, pk: &str, ck: &str, delta: &Counters, batch: u64) -> Result<(), StoreError> {
        cas_retry(|| async {
            let current = get_versioned::<Sums>(self.b, table, pk, ck).await?;
            let (expect, mut sums) = match current {
                Some(v) if v.value.applied >= batch => return Ok(Some(())),
                Some(v) => (Expect::Version(v.version), v.value),
                None => (Expect::Absent, Sums::default()),
            };
            merge(&mut sums.counters, delta, table == Table::AnalyticsRanks);
            sums.applied = batch;
            let row = encode(table, &sums)?;
            Ok(self.b.cas(table, pk, ck, expect, row, None).await?.applied().then_some(()))
        })
        .await
    }

    /// The counters of `scope` (a `Scope::key`) for each period, in order (empty where none).
    pub async fn counters(&self, scope: &str, periods: &[Period]) -> Result<Vec<Counters>, StoreError> {
        self.sums(Table::AnalyticsRollups, scope, periods).await
    }

    /// The counters of each scope for each period (one read for all): `[scope][period]`.
    pub async fn counters_of_each(
        &self,
        scopes: &[String],
        periods: &[Period],
    ) -> Result<Vec<Vec<Counters>>, StoreError> {
        let keys: Vec<(String, String)> =
            scopes.iter().flat_map(|s| periods.iter().map(move |p| (s.clone(), p.key()))).collect();
        let rows = self.b.get_many(Table::AnalyticsRollups, &keys).await?;
        let mut sums = rows.into_iter().map(|r| match r {
            Some(row) => Ok(decode::<Sums>(Table::AnalyticsRollups, &row.value)?.counters),
            None => Ok(Counters::new()),
        });
        scopes.iter().map(|_| sums.by_ref().take(periods.len()).collect::<Result<Vec<_>, StoreError>>()).collect()
    }

    /// A ranked list (a `Rank::key`) for each period, in order.
    pub async fn ranks(&self, list: &str, periods: &[Period]) -> Result<Vec<Counters>, StoreError> {
        self.sums(Table::AnalyticsRanks, list, periods).await
    }

    async fn sums(&self, table: Table, pk: &str, periods: &[Period]) -> Result<Vec<Counters>, StoreError> {
        let keys: Vec<(String, String)> = periods.iter().map(|p| (pk.to_owned(), p.key())).collect();
        let rows = self.b.get_many(table, &keys).await?;
        rows.into_iter()
            .map(|r| match r {
                Some(row) => Ok(decode::<Sums>(table, &row.value)?.counters),
                None => Ok(Counters::new()),
            })
            .collect()
    }

    /// Every fact received during the UTC hours of `day`, in receipt order, one page of
    /// each hour at a time (`f` sees each); for reading recorded searches back.
    pub async fn for_each_received(&self, day: Date, mut f: impl FnMut(Fact)) -> Result<(), StoreError> {
        for hour in 0..24u8 {
            let pk = format!("{}T{hour:02}", agora_engine::analytics::ymd(day));
            crate::market::each_row(self.b, Table::AnalyticsEvents, &pk, |row| {
                f(decode(Table::AnalyticsEvents, &row.value)?);
                Ok(std::ops::ControlFlow::Continue(()))
            })
            .await?;
        }
        Ok(())
    }
}

enum Next {
    Idle,
    Skip(String),
    Batch(Pending),
}

/// `<received µs>:<key>:<index>` → (received µs, key).
fn split_ck(ck: &str) -> Option<(&str, &str)> {
    let received = ck.get(..20)?;
    let rest = ck.get(21..ck.len().checked_sub(5)?)?;
    Some((received, rest))
}

fn received_at(ck: &str) -> Option<OffsetDateTime> {
    let us: i128 = ck.get(..20)?.parse().ok()?;
    OffsetDateTime::from_unix_timestamp_nanos(us * 1000).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_split_back_into_receipt_and_batch_key() {
        let ck = format!("{:020}:{}:{:04}", 1_764_000_000_000_000i64, "c:user:9f:b-1", 12);
        assert_eq!(super::split_ck(&ck), Some(("00001764000000000000", "c:user:9f:b-1")));
        assert_eq!(super::split_ck("short"), None);
        assert!(super::received_at(&ck).is_some());
    }
}
