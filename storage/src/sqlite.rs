//! The embedded default backend: one SQLite file in WAL mode.
//!
//! All writes go through one writer thread that drains its queue and commits everything
//! queued in one transaction (group commit): one fsync serves many writers, and nobody is
//! answered before the transaction holding its write has committed. Each write runs in its
//! own savepoint, so one failing write does not undo its neighbours. Reads go to a pool of
//! reader threads with their own connections. Several processes may share the file: writers
//! take SQLite's write lock with `BEGIN IMMEDIATE` and wait for it (busy timeout), which is
//! also what makes compare-and-set atomic across processes.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::oneshot;

use crate::backend::{
    check_cas_batch, clamp_limit, decode_cursor, into_page, Backend, BatchOp, CasOutcome, Expect, Order, Page, Row,
};
use crate::error::StoreError;
use crate::tables::{Table, SCHEMA_VERSION};

/// Most writes committed in one transaction.
const MAX_GROUP: usize = 512;
/// How long a writer waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often expired rows are purged (reads already hide them).
const PURGE_EVERY: Duration = Duration::from_secs(60);

type Finish = Box<dyn FnOnce(Result<(), StoreError>) + Send>;
type WriteJob = Box<dyn FnOnce(&Connection) -> Finish + Send>;
type ReadJob = Box<dyn FnOnce(&Connection) + Send>;

#[derive(Clone)]
pub struct SqliteBackend {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<mpsc::Sender<WriteJob>>,
    readers: Mutex<mpsc::Sender<ReadJob>>,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| now_ms().saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX)))
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::backend(e)
}

fn open_connection(path: &Path, read_only: bool) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(db_err)?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(db_err)?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;")
        .map_err(db_err)?;
    if read_only {
        conn.execute_batch("PRAGMA query_only=ON;").map_err(db_err)?;
    }
    Ok(conn)
}

impl SqliteBackend {
    /// Opens (creating if needed) the database file, migrates the schema forward, and
    /// starts the writer and `readers` reader threads.
    pub fn open(path: impl AsRef<Path>, readers: usize) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                crate::private_fs::create_private_dir(dir)
                    .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
            }
        }
        // The file and its WAL and shared-memory companions are the owner's only (SQLite
        // gives -wal and -shm the mode of the database file).
        crate::private_fs::ensure_private_file(&path)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", path.display())))?;
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut companion = path.clone().into_os_string();
            companion.push(suffix);
            crate::private_fs::restrict_if_exists(Path::new(&companion))
                .map_err(|e| StoreError::Config(format!("cannot restrict {}: {e}", Path::new(&companion).display())))?;
        }
        let mut writer = open_connection(&path, false)?;
        migrate(&mut writer)?;

        let (wtx, wrx) = mpsc::channel::<WriteJob>();
        std::thread::Builder::new()
            .name("agora-sqlite-writer".into())
            .spawn(move || writer_loop(writer, wrx))
            .map_err(|e| StoreError::Unavailable(format!("cannot start writer thread: {e}")))?;

        let (rtx, rrx) = mpsc::channel::<ReadJob>();
        let rrx = Arc::new(Mutex::new(rrx));
        for i in 0..readers.max(1) {
            let conn = open_connection(&path, true)?;
            let rrx = Arc::clone(&rrx);
            std::thread::Builder::new()
                .name(format!("agora-sqlite-reader-{i}"))
                .spawn(move || reader_loop(conn, rrx))
                .map_err(|e| StoreError::Unavailable(format!("cannot start reader thread: {e}")))?;
        }
        Ok(SqliteBackend { inner: Arc::new(Inner { writer: Mutex::new(wtx), readers: Mutex::new(rtx) }) })
    }

    async fn read<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn| {
            let _ = tx.send(f(conn));
        });
        enqueue(&self.inner.readers, job, "reader pool")?;
        rx.await.map_err(|_| StoreError::Unavailable("reader pool dropped the request".into()))?
    }

    /// Runs `f` in its own savepoint inside the writer's next group transaction, and
    /// answers only once that transaction has committed.
    async fn write<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let (tx, rx) = oneshot::channel();
        let job: WriteJob = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
            Box::new(move |commit: Result<(), StoreError>| {
                let _ = tx.send(commit.and(result));
            })
        });
        enqueue(&self.inner.writer, job, "writer")?;
        rx.await.map_err(|_| StoreError::Unavailable("writer dropped the request".into()))?
    }
}

/// Hands a job to the writer or the reader pool.
fn enqueue<J>(queue: &Mutex<mpsc::Sender<J>>, job: J, what: &str) -> Result<(), StoreError> {
    queue
        .lock()
        .map_err(|_| StoreError::Unavailable(format!("{what} poisoned")))?
        .send(job)
        .map_err(|_| StoreError::Unavailable(format!("{what} stopped")))
}

fn in_savepoint<R>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<R, StoreError>) -> Result<R, StoreError> {
    conn.execute_batch("SAVEPOINT op").map_err(db_err)?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("RELEASE op").map_err(db_err)?;
            Ok(v)
        }
        Err(e) => {
            // Undo this write only; the group's other writes stand.
            let _ = conn.execute_batch("ROLLBACK TO op; RELEASE op");
            Err(e)
        }
    }
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<WriteJob>) {
    let mut last_purge = std::time::Instant::now();
    loop {
        let first = match rx.recv_timeout(PURGE_EVERY) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                purge_expired(&conn);
                last_purge = std::time::Instant::now();
                continue;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut jobs = vec![first];
        while jobs.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        metrics::histogram!("agora_storage_group_commit_size").record(jobs.len() as f64);
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            // Dropping the jobs drops their reply channels: each caller gets `Unavailable`,
            // and nothing ran outside a transaction.
            tracing::error!(error = %e, dropped = jobs.len(), "sqlite writer could not begin a transaction");
            drop(jobs);
            continue;
        }
        let finishers: Vec<Finish> = jobs.into_iter().map(|job| job(&conn)).collect();
        let commit = conn.execute_batch("COMMIT").map_err(db_err);
        if commit.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in finishers {
            let c = match &commit {
                Ok(()) => Ok(()),
                Err(e) => Err(StoreError::Unavailable(e.to_string())),
            };
            finish(c);
        }
        if last_purge.elapsed() >= PURGE_EVERY {
            purge_expired(&conn);
            last_purge = std::time::Instant::now();
        }
    }
}

fn purge_expired(conn: &Connection) {
    let now = now_ms();
    for t in Table::ALL {
        let sql = format!("DELETE FROM {} WHERE expires_at IS NOT NULL AND expires_at <= ?1", t.name());
        if let Err(e) = conn.execute(&sql, params![now]) {
            tracing::warn!(table = t.name(), error = %e, "purging expired rows failed");
        }
    }
}

fn reader_loop(conn: Connection, rx: Arc<Mutex<mpsc::Receiver<ReadJob>>>) {
    loop {
        let job = {
            let Ok(guard) = rx.lock() else { return };
            match guard.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        job(&conn);
    }
}

/// Brings the file's schema to [`SCHEMA_VERSION`], refusing a newer one.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db_err)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS agora_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .map_err(db_err)?;
    let found: Option<u32> = tx
        .query_row("SELECT value FROM agora_meta WHERE key = 'schema_version'", [], |r| r.get::<_, String>(0))
        .optional()
        .map_err(db_err)?
        .map(|v| v.parse::<u32>().map_err(|_| StoreError::Config(format!("bad schema_version {v:?}"))))
        .transpose()?;
    let from = found.unwrap_or(0);
    if from > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew { found: from, supported: SCHEMA_VERSION });
    }
    if from < SCHEMA_VERSION {
        for t in Table::ALL.iter().filter(|t| t.since() > from) {
            tx.execute_batch(&format!(
                "CREATE TABLE IF NOT EXISTS {} (pk TEXT NOT NULL, ck TEXT NOT NULL, version INTEGER NOT NULL, \
                 expires_at INTEGER, value BLOB NOT NULL, PRIMARY KEY (pk, ck)) WITHOUT ROWID",
                t.name()
            ))
            .map_err(db_err)?;
        }
        tx.execute(
            "INSERT INTO agora_meta (key, value) VALUES ('schema_version', ?1) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![SCHEMA_VERSION.to_string()],
        )
        .map_err(db_err)?;
        tracing::info!(from, to = SCHEMA_VERSION, "sqlite schema migrated");
    }
    tx.commit().map_err(db_err)
}

fn live_row(conn: &Connection, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
    let sql = format!(
        "SELECT version, value FROM {} WHERE pk = ?1 AND ck = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
        table.name()
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
    stmt.query_row(params![pk, ck, now_ms()], |r| {
        Ok(Row { pk: pk.to_string(), ck: ck.to_string(), version: r.get(0)?, value: r.get(1)? })
    })
    .optional()
    .map_err(db_err)
}

fn upsert(
    conn: &Connection,
    table: Table,
    pk: &str,
    ck: &str,
    version: i64,
    value: &[u8],
    exp: Option<i64>,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO {} (pk, ck, version, expires_at, value) VALUES (?1, ?2, ?3, ?4, ?5) \
         ON CONFLICT(pk, ck) DO UPDATE SET version = excluded.version, expires_at = excluded.expires_at, value = excluded.value",
        table.name()
    );
    conn.prepare_cached(&sql)
        .and_then(|mut s| s.execute(params![pk, ck, version, exp, value]))
        .map(|_| ())
        .map_err(db_err)
}

fn delete_row(conn: &Connection, table: Table, pk: &str, ck: &str) -> Result<(), StoreError> {
    let sql = format!("DELETE FROM {} WHERE pk = ?1 AND ck = ?2", table.name());
    conn.prepare_cached(&sql).and_then(|mut s| s.execute(params![pk, ck])).map(|_| ()).map_err(db_err)
}

#[async_trait::async_trait]
impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(db_err)).await
    }

    async fn get(&self, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
        let (pk, ck) = (pk.to_string(), ck.to_string());
        self.read(move |conn| live_row(conn, table, &pk, &ck)).await
    }

    async fn get_many(&self, table: Table, keys: &[(String, String)]) -> Result<Vec<Option<Row>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys = keys.to_vec();
        self.read(move |conn| keys.iter().map(|(pk, ck)| live_row(conn, table, pk, ck)).collect()).await
    }

    async fn scan(
        &self,
        table: Table,
        pk: &str,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        let limit = clamp_limit(limit);
        let after = cursor.map(decode_cursor).transpose()?;
        let pk = pk.to_string();
        self.read(move |conn| {
            let (cmp, dir) = match order {
                Order::Asc => (">", "ASC"),
                Order::Desc => ("<", "DESC"),
            };
            let cond = if after.is_some() { format!("AND ck {cmp} ?3") } else { "AND ?3 IS NULL".to_string() };
            let sql = format!(
                "SELECT ck, version, value FROM {} WHERE pk = ?1 AND (expires_at IS NULL OR expires_at > ?2) {cond} \
                 ORDER BY ck {dir} LIMIT ?4",
                table.name()
            );
            let mut stmt = conn.prepare_cached(&sql).map_err(db_err)?;
            let fetch = i64::try_from(limit + 1).unwrap_or(i64::MAX);
            let rows = stmt
                .query_map(params![pk, now_ms(), after, fetch], |r| {
                    Ok(Row { pk: pk.clone(), ck: r.get(0)?, version: r.get(1)?, value: r.get(2)? })
                })
                .map_err(db_err)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err)?;
            Ok(into_page(rows, limit))
        })
        .await
    }

    async fn put(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        let (pk, ck) = (pk.to_string(), ck.to_string());
        let exp = expiry(ttl);
        self.write(move |conn| upsert(conn, table, &pk, &ck, 0, &value, exp)).await
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
        let (pk, ck) = (pk.to_string(), ck.to_string());
        let exp = expiry(ttl);
        self.write(move |conn| {
            // Inside BEGIN IMMEDIATE: nobody, in this process or another, writes in between.
            let current = live_row(conn, table, &pk, &ck)?;
            let Some(next) = next_version(expect, current.as_ref()) else {
                return Ok(CasOutcome::Conflict { current });
            };
            upsert(conn, table, &pk, &ck, next, &value, exp)?;
            Ok(CasOutcome::Applied { version: next })
        })
        .await
    }

    async fn delete(&self, table: Table, pk: &str, ck: &str) -> Result<(), StoreError> {
        let (pk, ck) = (pk.to_string(), ck.to_string());
        self.write(move |conn| delete_row(conn, table, &pk, &ck)).await
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
        check_cas_batch(table, ck, &others)?;
        let (pk, ck) = (pk.to_string(), ck.to_string());
        self.write(move |conn| {
            // One savepoint inside BEGIN IMMEDIATE: the check and every write, or nothing.
            let current = live_row(conn, table, &pk, &ck)?;
            let Some(next) = next_version(expect, current.as_ref()) else {
                return Ok(CasOutcome::Conflict { current });
            };
            upsert(conn, table, &pk, &ck, next, &value, None)?;
            apply_ops(conn, table, &pk, others)?;
            Ok(CasOutcome::Applied { version: next })
        })
        .await
    }

    async fn batch(&self, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        let pk = pk.to_string();
        self.write(move |conn| apply_ops(conn, table, &pk, ops)).await
    }
}

/// The version a compare-and-set writes when `expect` matches the live row, or `None`.
fn next_version(expect: Expect, current: Option<&Row>) -> Option<i64> {
    match (expect, current) {
        (Expect::Absent, None) => Some(1),
        (Expect::Version(v), Some(row)) if row.version == v => Some(v + 1),
        _ => None,
    }
}

/// The unconditional writes of a batch, in order (the last write of a key wins).
fn apply_ops(conn: &Connection, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
    for op in ops {
        match op {
            BatchOp::Put { ck, value, ttl } => upsert(conn, table, pk, &ck, 0, &value, expiry(ttl))?,
            BatchOp::Delete { ck } => delete_row(conn, table, pk, &ck)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn refuses_a_newer_schema_and_migrates_an_older_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("agora.db");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE agora_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO agora_meta VALUES ('schema_version', '0');",
            )
            .expect("seed old schema");
        }
        let b = SqliteBackend::open(&path, 1).expect("older schema migrates");
        b.put(Table::Scratch, "p", "c", b"v".to_vec(), None).await.expect("tables exist after migration");
        drop(b);
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute(
                "UPDATE agora_meta SET value = ?1 WHERE key = 'schema_version'",
                params![(SCHEMA_VERSION + 1).to_string()],
            )
            .expect("bump");
        }
        match SqliteBackend::open(&path, 1) {
            Err(StoreError::SchemaTooNew { found, supported }) => {
                assert_eq!(found, SCHEMA_VERSION + 1);
                assert_eq!(supported, SCHEMA_VERSION);
            }
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a newer schema was accepted"),
        }
    }
}
