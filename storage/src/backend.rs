//! The narrow table-level backend trait. It keeps what ScyllaDB offers and nothing less:
//! partition key, clustering order, paged scans with an opaque cursor, compare-and-set,
//! TTL and single-partition batches. [`crate::Store`] is written once over it.

use std::time::Duration;

use base64::Engine as _;

use crate::error::StoreError;
use crate::tables::Table;

/// One stored row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub pk: String,
    pub ck: String,
    /// Starts at 1 on insert-if-absent and grows by one on each compare-and-set.
    /// Unconditional `put`s write version 0.
    pub version: i64,
    pub value: Vec<u8>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Asc,
    Desc,
}

/// One page of a partition scan. `next_cursor` is `None` on the last page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub rows: Vec<Row>,
    pub next_cursor: Option<String>,
}

/// What a compare-and-set expects to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// No live row (absent or expired).
    Absent,
    /// A live row at exactly this version.
    Version(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CasOutcome {
    Applied {
        version: i64,
    },
    /// The expectation failed; `current` is the live row, if any.
    Conflict {
        current: Option<Row>,
    },
}

impl CasOutcome {
    pub fn applied(&self) -> bool {
        matches!(self, CasOutcome::Applied { .. })
    }
}

/// One write of a single-partition batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOp {
    Put { ck: String, value: Vec<u8>, ttl: Option<Duration> },
    Delete { ck: String },
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `sqlite` or `scylla`: used as a metric label.
    fn name(&self) -> &'static str;

    /// Cheap reachability check for `/api/ready`.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn get(&self, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError>;

    /// Point reads of several `(pk, ck)` keys, answered in the order asked (`None` where a
    /// row is missing or expired). A list page is one call: SQLite answers it with one
    /// reader job; the default issues the gets concurrently.
    async fn get_many(&self, table: Table, keys: &[(String, String)]) -> Result<Vec<Option<Row>>, StoreError> {
        futures_util::future::try_join_all(keys.iter().map(|(pk, ck)| self.get(table, pk, ck))).await
    }

    /// Rows of one partition in clustering order, at most `limit` (1..=1000), after `cursor`.
    async fn scan(
        &self,
        table: Table,
        pk: &str,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError>;

    /// Unconditional upsert at version 0.
    async fn put(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError>;

    /// Compare-and-set (ScyllaDB LWT; a write transaction in SQLite). `Expect::Absent`
    /// inserts at version 1; `Expect::Version(v)` replaces the row with version `v + 1`.
    async fn cas(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<CasOutcome, StoreError>;

    async fn delete(&self, table: Table, pk: &str, ck: &str) -> Result<(), StoreError>;

    /// A compare-and-set of the row at `ck` (no TTL) together with unconditional writes
    /// `others` to other rows of the same partition, atomically: either all apply or none
    /// does (ScyllaDB: a conditional single-partition batch; SQLite: one savepoint). The
    /// ledger uses it to add an entry and move its account's balance in one step.
    /// `others` must not touch `ck`.
    async fn cas_batch(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        others: Vec<BatchOp>,
    ) -> Result<CasOutcome, StoreError>;

    /// Atomic writes within one partition.
    async fn batch(&self, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError>;
}

/// Refuses a `cas_batch` whose unconditional writes touch its guarded row.
pub(crate) fn check_cas_batch(table: Table, ck: &str, others: &[BatchOp]) -> Result<(), StoreError> {
    let touches = others.iter().any(|op| match op {
        BatchOp::Put { ck: c, .. } | BatchOp::Delete { ck: c } => c == ck,
    });
    if touches {
        return Err(StoreError::Corrupt {
            table: table.name(),
            detail: format!("cas_batch writes its guarded row {ck:?} twice"),
        });
    }
    Ok(())
}

/// The largest page a scan may ask for.
pub const MAX_SCAN_LIMIT: usize = 1000;

/// Cursors are opaque to callers: the URL-safe base64 of the last clustering key returned.
pub fn encode_cursor(ck: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ck.as_bytes())
}

pub fn decode_cursor(cursor: &str) -> Result<String, StoreError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.as_bytes())
        .map_err(|_| StoreError::InvalidCursor)?;
    String::from_utf8(bytes).map_err(|_| StoreError::InvalidCursor)
}

/// Validates an opaque page cursor early (a bad one is the caller's 400).
pub fn check_cursor(cursor: Option<&str>) -> Result<(), StoreError> {
    match cursor {
        Some(c) => decode_cursor(c).map(|_| ()),
        None => Ok(()),
    }
}

/// Clamps a scan limit into 1..=MAX_SCAN_LIMIT.
pub(crate) fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, MAX_SCAN_LIMIT)
}

/// Turns `limit + 1` fetched rows into a page: the extra row only signals that more exist.
pub(crate) fn into_page(mut rows: Vec<Row>, limit: usize) -> Page {
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next_cursor = if more { rows.last().map(|r| encode_cursor(&r.ck)) } else { None };
    Page { rows, next_cursor }
}

/// A TTL in whole seconds, at least one (both backends count TTL in seconds or finer).
#[cfg_attr(not(feature = "scylla"), allow(dead_code))]
pub(crate) fn ttl_secs(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX)
}
