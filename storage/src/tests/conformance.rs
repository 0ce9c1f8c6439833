//! Backend conformance suite: the same tests on every backend. Always on SQLite; on
//! ScyllaDB when `AGORA_TEST_SCYLLA=host:port` names a node (each test gets its own keyspace),
//! otherwise the Scylla half prints that it skipped.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, BatchOp, CasOutcome, Expect, Order};
use crate::tables::Table;
use crate::StoreError;

const T: Table = Table::Scratch;

fn sqlite_backend() -> (Arc<dyn Backend>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = crate::sqlite::SqliteBackend::open(dir.path().join("agora.db"), 4).expect("open sqlite");
    (Arc::new(b), dir)
}

async fn point_reads(b: Arc<dyn Backend>) {
    assert_eq!(b.get(T, "p", "c").await.expect("get"), None);
    b.put(T, "p", "c", b"one".to_vec(), None).await.expect("put");
    let row = b.get(T, "p", "c").await.expect("get").expect("row present");
    assert_eq!((row.pk.as_str(), row.ck.as_str(), row.value.as_slice(), row.version), ("p", "c", &b"one"[..], 0));
    assert_eq!(b.get(T, "p", "other").await.expect("get"), None, "clustering key is part of the key");
    assert_eq!(b.get(T, "q", "c").await.expect("get"), None, "partition key is part of the key");
    b.put(T, "p", "c", b"two".to_vec(), None).await.expect("overwrite");
    assert_eq!(b.get(T, "p", "c").await.expect("get").map(|r| r.value), Some(b"two".to_vec()));
    b.delete(T, "p", "c").await.expect("delete");
    assert_eq!(b.get(T, "p", "c").await.expect("get"), None);
    b.delete(T, "p", "c").await.expect("deleting a missing row is fine");
}

async fn multi_point_reads(b: Arc<dyn Backend>) {
    assert_eq!(b.get_many(T, &[]).await.expect("empty get_many"), Vec::new());
    b.put(T, "m1", "", b"one".to_vec(), None).await.expect("put");
    b.put(T, "m2", "x", b"two".to_vec(), None).await.expect("put");
    b.put(T, "m3", "", b"gone".to_vec(), Some(Duration::from_secs(1))).await.expect("put");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let keys: Vec<(String, String)> = [("m2", "x"), ("missing", ""), ("m1", ""), ("m3", ""), ("m2", "")]
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    let rows = b.get_many(T, &keys).await.expect("get_many");
    let values: Vec<Option<&[u8]>> = rows.iter().map(|r| r.as_ref().map(|r| r.value.as_slice())).collect();
    assert_eq!(
        values,
        vec![Some(&b"two"[..]), None, Some(&b"one"[..]), None, None],
        "asked order, gaps for missing and expired"
    );
    assert_eq!(rows[0].as_ref().map(|r| (r.pk.as_str(), r.ck.as_str())), Some(("m2", "x")));
}

async fn ordered_paged_scans(b: Arc<dyn Backend>) {
    // Insert out of order; clustering order must come back regardless.
    let mut keys: Vec<String> = (0..25).map(|i| format!("k{i:02}")).collect();
    keys.reverse();
    keys.swap(3, 17);
    for k in &keys {
        b.put(T, "part", k, k.as_bytes().to_vec(), None).await.expect("put");
    }
    b.put(T, "other-part", "k00", b"x".to_vec(), None).await.expect("put");

    for (order, expected) in [
        (Order::Asc, (0..25).map(|i| format!("k{i:02}")).collect::<Vec<_>>()),
        (Order::Desc, (0..25).rev().map(|i| format!("k{i:02}")).collect::<Vec<_>>()),
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let page = b.scan(T, "part", order, 10, cursor.as_deref()).await.expect("scan");
            pages += 1;
            assert!(page.rows.len() <= 10);
            seen.extend(page.rows.iter().map(|r| r.ck.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
            assert!(pages < 10, "paging does not terminate");
        }
        assert_eq!(seen, expected, "{order:?} scan order");
        assert_eq!(pages, 3);
    }
    // An exact multiple of the page size ends without an empty extra page.
    let page = b.scan(T, "part", Order::Asc, 25, None).await.expect("scan");
    assert_eq!(page.rows.len(), 25);
    assert_eq!(page.next_cursor, None);
    // Empty partition.
    let page = b.scan(T, "nothing-here", Order::Asc, 10, None).await.expect("scan");
    assert!(page.rows.is_empty() && page.next_cursor.is_none());
    // A cursor this store did not issue.
    match b.scan(T, "part", Order::Asc, 10, Some("%%%not-base64")).await {
        Err(StoreError::InvalidCursor) => {}
        other => panic!("expected InvalidCursor, got {other:?}"),
    }
}

async fn compare_and_set(b: Arc<dyn Backend>) {
    assert_eq!(
        b.cas(T, "c", "", Expect::Absent, b"v1".to_vec(), None).await.expect("cas"),
        CasOutcome::Applied { version: 1 }
    );
    match b.cas(T, "c", "", Expect::Absent, b"again".to_vec(), None).await.expect("cas") {
        CasOutcome::Conflict { current: Some(row) } => assert_eq!((row.version, row.value), (1, b"v1".to_vec())),
        other => panic!("insert over a live row must conflict, got {other:?}"),
    }
    assert_eq!(
        b.cas(T, "c", "", Expect::Version(1), b"v2".to_vec(), None).await.expect("cas"),
        CasOutcome::Applied { version: 2 }
    );
    match b.cas(T, "c", "", Expect::Version(1), b"stale".to_vec(), None).await.expect("cas") {
        CasOutcome::Conflict { current: Some(row) } => assert_eq!((row.version, row.value), (2, b"v2".to_vec())),
        other => panic!("stale version must conflict, got {other:?}"),
    }
    match b.cas(T, "missing", "", Expect::Version(1), b"x".to_vec(), None).await.expect("cas") {
        CasOutcome::Conflict { current: None } => {}
        other => panic!("updating a missing row must conflict, got {other:?}"),
    }
    assert_eq!(b.get(T, "c", "").await.expect("get").map(|r| r.value), Some(b"v2".to_vec()));
}

/// Increments a counter row `n` times with CAS retry loops; answers the retries it took.
async fn cas_increments(b: &dyn Backend, pk: &str, n: usize) -> usize {
    let mut retries = 0;
    for _ in 0..n {
        loop {
            let current = b.get(T, pk, "").await.expect("get");
            let (expect, value) = match &current {
                None => (Expect::Absent, 1u64),
                Some(row) => {
                    let v: u64 = std::str::from_utf8(&row.value).expect("utf8").parse().expect("number");
                    (Expect::Version(row.version), v + 1)
                }
            };
            if b.cas(T, pk, "", expect, value.to_string().into_bytes(), None).await.expect("cas").applied() {
                break;
            }
            retries += 1;
        }
    }
    retries
}

async fn cas_under_contention(b: Arc<dyn Backend>) {
    const TASKS: usize = 8;
    const EACH: usize = 25;
    let mut handles = Vec::new();
    for _ in 0..TASKS {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move { cas_increments(b.as_ref(), "counter", EACH).await }));
    }
    let mut retries = 0;
    for h in handles {
        retries += h.await.expect("task");
    }
    let row = b.get(T, "counter", "").await.expect("get").expect("counter exists");
    assert_eq!(std::str::from_utf8(&row.value).expect("utf8"), (TASKS * EACH).to_string(), "no lost update");
    assert_eq!(row.version, (TASKS * EACH) as i64, "one version per applied write");
    // Eight writers on one row must have collided at least once, or the test proved nothing.
    assert!(retries > 0, "no contention happened");
}

async fn ttl_expiry(b: Arc<dyn Backend>) {
    let ttl = Some(Duration::from_secs(1));
    b.put(T, "ttl", "a", b"short".to_vec(), ttl).await.expect("put");
    b.put(T, "ttl", "b", b"forever".to_vec(), None).await.expect("put");
    assert!(b.cas(T, "ttl-cas", "", Expect::Absent, b"lease".to_vec(), ttl).await.expect("cas").applied());
    assert!(b.get(T, "ttl", "a").await.expect("get").is_some(), "visible before expiry");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(b.get(T, "ttl", "a").await.expect("get"), None, "expired row is gone");
    let page = b.scan(T, "ttl", Order::Asc, 10, None).await.expect("scan");
    assert_eq!(page.rows.iter().map(|r| r.ck.as_str()).collect::<Vec<_>>(), vec!["b"], "scans skip expired rows");
    // An expired row counts as absent for insert-if-absent (a lease can be taken again).
    assert!(b.cas(T, "ttl-cas", "", Expect::Absent, b"lease2".to_vec(), None).await.expect("cas").applied());
}

async fn idempotent_insert(b: Arc<dyn Backend>) {
    let first = b.cas(T, "idem", "msg-1", Expect::Absent, b"hello".to_vec(), None).await.expect("cas");
    assert_eq!(first, CasOutcome::Applied { version: 1 });
    let retry = b.cas(T, "idem", "msg-1", Expect::Absent, b"hello".to_vec(), None).await.expect("cas");
    match retry {
        CasOutcome::Conflict { current: Some(row) } => assert_eq!(row.value, b"hello".to_vec()),
        other => panic!("a retried insert must report the existing row, got {other:?}"),
    }
    let page = b.scan(T, "idem", Order::Asc, 10, None).await.expect("scan");
    assert_eq!(page.rows.len(), 1, "no duplicate row");
    b.put(T, "idem", "msg-2", b"x".to_vec(), None).await.expect("put");
    b.put(T, "idem", "msg-2", b"x".to_vec(), None).await.expect("put again");
    assert_eq!(b.scan(T, "idem", Order::Asc, 10, None).await.expect("scan").rows.len(), 2);
}

async fn single_partition_batch(b: Arc<dyn Backend>) {
    b.put(T, "batch", "old", b"x".to_vec(), None).await.expect("put");
    b.batch(
        T,
        "batch",
        vec![
            BatchOp::Put { ck: "a".into(), value: b"1".to_vec(), ttl: None },
            BatchOp::Put { ck: "b".into(), value: b"2".to_vec(), ttl: Some(Duration::from_secs(600)) },
            BatchOp::Delete { ck: "old".into() },
        ],
    )
    .await
    .expect("batch");
    let cks: BTreeSet<String> =
        b.scan(T, "batch", Order::Asc, 10, None).await.expect("scan").rows.into_iter().map(|r| r.ck).collect();
    assert_eq!(cks, ["a", "b"].iter().map(|s| s.to_string()).collect());
}

async fn conditional_batch(b: Arc<dyn Backend>) {
    let put = |ck: &str, v: &[u8]| BatchOp::Put { ck: ck.into(), value: v.to_vec(), ttl: None };
    // Insert-if-absent of the guarded row with two more rows of its partition.
    let first =
        b.cas_batch(T, "cb", "", Expect::Absent, b"h1".to_vec(), vec![put("e1", b"one"), put("x", b"tmp")]).await;
    assert_eq!(first.expect("cas_batch"), CasOutcome::Applied { version: 1 });
    // A failed condition writes nothing.
    match b.cas_batch(T, "cb", "", Expect::Absent, b"h?".to_vec(), vec![put("e2", b"lost")]).await.expect("cas_batch") {
        CasOutcome::Conflict { current: Some(row) } => assert_eq!((row.version, row.value), (1, b"h1".to_vec())),
        other => panic!("insert over a live guarded row must conflict, got {other:?}"),
    }
    match b
        .cas_batch(T, "cb", "", Expect::Version(7), b"h?".to_vec(), vec![put("e2", b"lost")])
        .await
        .expect("cas_batch")
    {
        CasOutcome::Conflict { current: Some(row) } => assert_eq!(row.version, 1),
        other => panic!("a stale version must conflict, got {other:?}"),
    }
    assert_eq!(b.get(T, "cb", "e2").await.expect("get"), None, "nothing of a refused batch is written");
    // A met condition writes the guarded row and the others, deletes included.
    let next = b
        .cas_batch(
            T,
            "cb",
            "",
            Expect::Version(1),
            b"h2".to_vec(),
            vec![put("e2", b"two"), BatchOp::Delete { ck: "x".into() }],
        )
        .await
        .expect("cas_batch");
    assert_eq!(next, CasOutcome::Applied { version: 2 });
    let rows: Vec<(String, Vec<u8>, i64)> = b
        .scan(T, "cb", Order::Asc, 10, None)
        .await
        .expect("scan")
        .rows
        .into_iter()
        .map(|r| (r.ck, r.value, r.version))
        .collect();
    assert_eq!(
        rows,
        vec![("".into(), b"h2".to_vec(), 2), ("e1".into(), b"one".to_vec(), 0), ("e2".into(), b"two".to_vec(), 0)]
    );
    // The guarded row may not be written twice in one batch.
    assert!(b.cas_batch(T, "cb", "", Expect::Version(2), b"h3".to_vec(), vec![put("", b"again")]).await.is_err());
    // Concurrent batches on one guarded row: each version is won once, and every winner's
    // entry is there.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let b = b.clone();
            tokio::spawn(async move {
                loop {
                    let head = b.get(T, "race", "").await.expect("get");
                    let expect = head.as_ref().map_or(Expect::Absent, |r| Expect::Version(r.version));
                    let entry = BatchOp::Put { ck: format!("w{i}"), value: vec![i as u8], ttl: None };
                    if b.cas_batch(T, "race", "", expect, vec![i as u8], vec![entry])
                        .await
                        .expect("cas_batch")
                        .applied()
                    {
                        return;
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let page = b.scan(T, "race", Order::Asc, 20, None).await.expect("scan");
    assert_eq!(page.rows.len(), 9, "the head and eight entries");
    assert_eq!(page.rows[0].version, 8, "eight compare-and-sets applied, one per version");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let (b, _dir) = super::sqlite_backend();
                    super::$name(b).await;
                }
            )*
        }
        mod scylla {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(b) = super::scylla_backend(stringify!($name)).await else { return };
                    super::$name(b).await;
                }
            )*
        }
    };
}

conformance!(
    point_reads,
    multi_point_reads,
    ordered_paged_scans,
    compare_and_set,
    cas_under_contention,
    ttl_expiry,
    idempotent_insert,
    single_partition_batch,
    conditional_batch,
);

/// A backend on the node named by AGORA_TEST_SCYLLA, in a keyspace of its own; `None`
/// (after saying so on stderr, which the test harness does not capture) when unset.
async fn scylla_backend(test: &str) -> Option<Arc<dyn Backend>> {
    use std::io::Write as _;
    let Ok(node) = std::env::var("AGORA_TEST_SCYLLA") else {
        let _ = writeln!(std::io::stderr(), "SKIPPED scylla conformance test {test}: AGORA_TEST_SCYLLA is not set");
        return None;
    };
    #[cfg(feature = "scylla")]
    {
        let keyspace = format!("agora_test_{}_{}", test, std::process::id());
        let b = crate::scylla::ScyllaBackend::connect(&[node], &keyspace, 1)
            .await
            .expect("connect to the ScyllaDB node named by AGORA_TEST_SCYLLA");
        Some(Arc::new(b))
    }
    #[cfg(not(feature = "scylla"))]
    {
        let _ = writeln!(std::io::stderr(), "SKIPPED scylla conformance test {test} on {node}: built without `scylla`");
        None
    }
}

/// Two OS processes increment one counter row in one SQLite file through CAS: no update
/// may be lost. The child processes are this same test binary running
/// `child_process_cas_worker` with AGORA_CONFORMANCE_CHILD_DB set.
#[test]
fn sqlite_cas_across_two_processes() {
    const EACH: usize = 60;
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("shared.db");
    drop(crate::sqlite::SqliteBackend::open(&db, 1).expect("create the file first"));
    let exe = std::env::current_exe().expect("test binary path");
    let children: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(&exe)
                .args(["--exact", "tests::conformance::child_process_cas_worker", "--test-threads", "1"])
                .env("AGORA_CONFORMANCE_CHILD_DB", &db)
                .env("AGORA_CONFORMANCE_CHILD_N", EACH.to_string())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn child process")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("child runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("1 passed"), "child did not run the worker: {stdout}");
    }
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let b = crate::sqlite::SqliteBackend::open(&db, 1).expect("open");
        let row = b.get(T, "xproc", "").await.expect("get").expect("counter exists");
        assert_eq!(
            std::str::from_utf8(&row.value).expect("utf8"),
            (2 * EACH).to_string(),
            "an update was lost across processes"
        );
        assert_eq!(row.version, (2 * EACH) as i64);
    });
}

/// The worker half of `sqlite_cas_across_two_processes`. Run directly (no env), it does
/// the same increments alone on a private file and checks the count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_process_cas_worker() {
    let n: usize = std::env::var("AGORA_CONFORMANCE_CHILD_N").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let (b, _dir): (Arc<dyn Backend>, Option<tempfile::TempDir>) = match std::env::var("AGORA_CONFORMANCE_CHILD_DB") {
        Ok(path) => (Arc::new(crate::sqlite::SqliteBackend::open(path, 1).expect("open shared file")), None),
        Err(_) => {
            let (b, dir) = sqlite_backend();
            (b, Some(dir))
        }
    };
    cas_increments(b.as_ref(), "xproc", n).await;
    let row = b.get(T, "xproc", "").await.expect("get").expect("counter exists");
    let value: usize = std::str::from_utf8(&row.value).expect("utf8").parse().expect("number");
    assert!(value >= n, "at least this worker's {n} increments are in ({value})");
}
