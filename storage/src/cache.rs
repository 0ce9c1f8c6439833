//! The catalog read cache: a backend decorator that answers the list path's `get_many` on
//! the catalog record tables (services, providers) from memory, so a page of search results
//! is no storage read at all when its records were read recently.
//!
//! What it promises:
//! - only `get_many` is served from memory; a point `get` (details, and every
//!   read-modify-write of a command) always reads storage;
//! - a write through this process (`put`, `cas`, `cas_batch`, `delete`, `batch`) drops the
//!   record before the write's future resolves, and a read that raced with it never
//!   stores what it read: each write bumps a generation, and a read stores its rows only
//!   if the generation did not move while it ran (both under one lock). So this process
//!   reads its own writes;
//! - a point read refreshes the copy; so in cluster mode, where every node's search
//!   projector reads an item another node changed as soon as the change event arrives
//!   (docs/cluster.md), lists follow within milliseconds;
//! - in any case a write by another process (a second node on the same storage) shows in
//!   this process's lists within [`TTL`].
//!
//! At most [`CAPACITY`] records are held; past it, expired ones go first, then all.
//! `agora_catalog_cache_total{outcome}` counts hits and misses per record.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::backend::{Backend, BatchOp, CasOutcome, Expect, Order, Page, Row};
use crate::error::StoreError;
use crate::tables::Table;

/// How long a record read from storage may be served from memory.
pub const TTL: Duration = Duration::from_secs(1);
/// Records held at most.
pub const CAPACITY: usize = 100_000;

/// The tables whose records the list path reads by id.
fn cached(table: Table) -> bool {
    matches!(table, Table::ServicesById | Table::ProvidersById)
}

#[derive(Default)]
struct Entries {
    generation: u64,
    rows: HashMap<(Table, String), (Instant, Row)>,
}

pub(crate) struct Cached {
    inner: Arc<dyn Backend>,
    entries: Mutex<Entries>,
}

impl Cached {
    pub(crate) fn new(inner: Arc<dyn Backend>) -> Self {
        Cached { inner, entries: Mutex::new(Entries::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After a write to `table` (whatever its outcome): drops the record, moves the
    /// generation so that reads in flight do not store what they read.
    fn wrote(&self, table: Table, pk: &str) {
        if cached(table) {
            let mut e = self.lock();
            e.generation += 1;
            e.rows.remove(&(table, pk.to_owned()));
        }
    }
}

impl Cached {
    fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Stores rows read from storage by a read that began at `generation`, unless a write
    /// happened since (then what it read may be older than that write).
    fn remember<'a>(&self, table: Table, generation: u64, now: Instant, rows: impl Iterator<Item = &'a Row>) {
        let mut e = self.lock();
        if e.generation != generation {
            return;
        }
        let rows: Vec<&Row> = rows.collect();
        if e.rows.len() + rows.len() > CAPACITY {
            e.rows.retain(|_, (at, _)| now.duration_since(*at) < TTL);
            if e.rows.len() + rows.len() > CAPACITY {
                e.rows.clear();
            }
        }
        for row in rows {
            e.rows.insert((table, row.pk.clone()), (now, row.clone()));
        }
    }
}

#[async_trait::async_trait]
impl Backend for Cached {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }

    async fn get(&self, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
        if !cached(table) || !ck.is_empty() {
            return self.inner.get(table, pk, ck).await;
        }
        // A point read always reads storage, and refreshes the copy the lists see.
        let generation = self.generation();
        let row = self.inner.get(table, pk, ck).await?;
        match &row {
            Some(row) => self.remember(table, generation, Instant::now(), std::iter::once(row)),
            None => {
                self.lock().rows.remove(&(table, pk.to_owned()));
            }
        }
        Ok(row)
    }

    async fn get_many(&self, table: Table, keys: &[(String, String)]) -> Result<Vec<Option<Row>>, StoreError> {
        if !cached(table) || keys.iter().any(|(_, ck)| !ck.is_empty()) {
            return self.inner.get_many(table, keys).await;
        }
        let now = Instant::now();
        let (generation, mut found) = {
            let e = self.lock();
            let found: Vec<Option<Row>> = keys
                .iter()
                .map(|(pk, _)| {
                    e.rows
                        .get(&(table, pk.clone()))
                        .filter(|(at, _)| now.duration_since(*at) < TTL)
                        .map(|(_, row)| row.clone())
                })
                .collect();
            (e.generation, found)
        };
        let missing: Vec<(String, String)> =
            keys.iter().zip(&found).filter(|(_, hit)| hit.is_none()).map(|(k, _)| k.clone()).collect();
        let hits = (keys.len() - missing.len()) as u64;
        metrics::counter!("agora_catalog_cache_total", "outcome" => "hit").increment(hits);
        if missing.is_empty() {
            return Ok(found);
        }
        metrics::counter!("agora_catalog_cache_total", "outcome" => "miss").increment(missing.len() as u64);
        let read = self.inner.get_many(table, &missing).await?;
        self.remember(table, generation, now, read.iter().flatten());
        let mut read = read.into_iter();
        for slot in found.iter_mut().filter(|slot| slot.is_none()) {
            *slot = read.next().flatten();
        }
        Ok(found)
    }

    async fn scan(
        &self,
        table: Table,
        pk: &str,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.inner.scan(table, pk, order, limit, cursor).await
    }

    async fn put(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let result = self.inner.put(table, pk, ck, value, ttl).await;
        self.wrote(table, pk);
        result
    }

    async fn cas(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<CasOutcome, StoreError> {
        let result = self.inner.cas(table, pk, ck, expect, value, ttl).await;
        self.wrote(table, pk);
        result
    }

    async fn cas_batch(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        others: Vec<BatchOp>,
    ) -> Result<CasOutcome, StoreError> {
        let result = self.inner.cas_batch(table, pk, ck, expect, value, others).await;
        self.wrote(table, pk);
        result
    }

    async fn delete(&self, table: Table, pk: &str, ck: &str) -> Result<(), StoreError> {
        let result = self.inner.delete(table, pk, ck).await;
        self.wrote(table, pk);
        result
    }

    async fn batch(&self, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        let result = self.inner.batch(table, pk, ops).await;
        self.wrote(table, pk);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Table = Table::ServicesById;

    /// The cache over a SQLite backend, and that backend alone (standing for another
    /// process writing the same storage).
    fn backends() -> (Cached, Arc<dyn Backend>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner: Arc<dyn Backend> =
            Arc::new(crate::sqlite::SqliteBackend::open(dir.path().join("agora.db"), 2).expect("open sqlite"));
        (Cached::new(Arc::clone(&inner)), inner, dir)
    }

    fn keys(pks: &[&str]) -> Vec<(String, String)> {
        pks.iter().map(|pk| ((*pk).to_owned(), String::new())).collect()
    }

    async fn values(b: &dyn Backend, table: Table, pks: &[&str]) -> Vec<Option<Vec<u8>>> {
        b.get_many(table, &keys(pks)).await.expect("get_many").into_iter().map(|r| r.map(|r| r.value)).collect()
    }

    #[tokio::test]
    async fn lists_are_served_from_memory_and_this_process_reads_its_own_writes() {
        let (cache, other, _dir) = backends();
        other.put(S, "a", "", b"a1".to_vec(), None).await.expect("put");
        other.put(S, "b", "", b"b1".to_vec(), None).await.expect("put");
        assert_eq!(
            values(&cache, S, &["a", "missing", "b"]).await,
            vec![Some(b"a1".to_vec()), None, Some(b"b1".to_vec())]
        );

        // Another process's write: lists keep the copy in memory; a point read reads
        // storage, and refreshes the copy.
        other.put(S, "a", "", b"a2".to_vec(), None).await.expect("put");
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"a1".to_vec())], "served from memory");
        assert_eq!(cache.get(S, "a", "").await.expect("get").map(|r| r.value), Some(b"a2".to_vec()));
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"a2".to_vec())], "refreshed by the point read");
        other.delete(S, "a", "").await.expect("delete");
        assert_eq!(cache.get(S, "a", "").await.expect("get"), None);
        assert_eq!(values(&cache, S, &["a"]).await, vec![None], "a point read that finds nothing drops the copy");

        // This process's writes drop the copy, whatever the kind of write.
        cache.put(S, "a", "", b"a3".to_vec(), None).await.expect("put");
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"a3".to_vec())]);
        let version = cache.get(S, "b", "").await.expect("get").expect("b").version;
        assert!(cache.cas(S, "b", "", Expect::Version(version), b"b2".to_vec(), None).await.expect("cas").applied());
        assert_eq!(values(&cache, S, &["b"]).await, vec![Some(b"b2".to_vec())]);
        cache.delete(S, "b", "").await.expect("delete");
        assert_eq!(values(&cache, S, &["a", "b"]).await, vec![Some(b"a3".to_vec()), None]);
    }

    #[tokio::test]
    async fn a_read_that_raced_a_write_does_not_store_what_it_read() {
        let (cache, other, _dir) = backends();
        other.put(S, "a", "", b"old".to_vec(), None).await.expect("put");
        let stale = other.get(S, "a", "").await.expect("get").expect("row");
        // A read began, then this process wrote, then the read finished with the old row.
        let began = cache.generation();
        cache.put(S, "a", "", b"new".to_vec(), None).await.expect("put");
        cache.remember(S, began, Instant::now(), std::iter::once(&stale));
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"new".to_vec())]);
    }

    #[tokio::test]
    async fn another_process_write_shows_within_the_ttl() {
        let (cache, other, _dir) = backends();
        other.put(S, "a", "", b"a1".to_vec(), None).await.expect("put");
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"a1".to_vec())]);
        other.put(S, "a", "", b"a2".to_vec(), None).await.expect("put");
        tokio::time::sleep(TTL + Duration::from_millis(50)).await;
        assert_eq!(values(&cache, S, &["a"]).await, vec![Some(b"a2".to_vec())]);
    }

    #[tokio::test]
    async fn other_tables_are_never_cached() {
        let (cache, other, _dir) = backends();
        let t = Table::Scratch;
        other.put(t, "a", "", b"1".to_vec(), None).await.expect("put");
        assert_eq!(values(&cache, t, &["a"]).await, vec![Some(b"1".to_vec())]);
        other.put(t, "a", "", b"2".to_vec(), None).await.expect("put");
        assert_eq!(values(&cache, t, &["a"]).await, vec![Some(b"2".to_vec())]);
    }
}
