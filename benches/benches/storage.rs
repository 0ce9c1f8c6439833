//! Embedded SQLite backend: group-commit throughput of compare-and-set and point reads.
//!
//! Run: `cargo bench -p agora-benches --bench storage` (group settings keep it short; add
//! `-- --warm-up-time 1 --measurement-time 5` to override). Each benchmark group gets a
//! fresh temp dir, so the file starts empty and nothing is shared between groups.
//!
//! - `cas_update/concurrency=N`: one iteration is a batch of N concurrent tasks, each doing
//!   a `get` and then `cas(Expect::Version(v))` on its own row (no contention). The writer
//!   thread commits whatever is queued in one transaction (WAL, synchronous=FULL), so the
//!   figure is group-commit throughput.
//! - `point_read/concurrency=N`: one iteration is a batch of N concurrent `get`s of rows
//!   that exist.
//!
//! Throughput is reported in elements (= operations), so criterion prints ops/s.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use agora_storage::internals::SqliteBackend;
use agora_storage::internals::{Backend, CasOutcome, Expect, Table};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

/// Reader threads, as the server's default `sqlite_readers`.
const READERS: usize = 4;
/// Size of each stored value: a small serialized aggregate.
const VALUE_BYTES: usize = 256;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("build the tokio runtime")
}

fn open_fresh() -> (tempfile::TempDir, Arc<SqliteBackend>) {
    let dir = tempfile::tempdir().expect("create a temp dir");
    let backend = SqliteBackend::open(dir.path().join("agora.db"), READERS).expect("open the SQLite backend");
    (dir, Arc::new(backend))
}

fn row_key(concurrency: usize, task: usize) -> String {
    format!("bench-c{concurrency}-t{task}")
}

/// Inserts one row per task (version 1) for `concurrency` tasks.
async fn seed(backend: &SqliteBackend, concurrency: usize) {
    for task in 0..concurrency {
        let outcome = backend
            .cas(Table::Scratch, &row_key(concurrency, task), "", Expect::Absent, vec![0u8; VALUE_BYTES], None)
            .await
            .expect("seed a row");
        assert!(outcome.applied(), "seed row {task} already existed");
    }
}

/// One task's work in `cas_update`: read its own row, then compare-and-set it.
async fn read_then_cas(backend: Arc<SqliteBackend>, pk: String, fill: u8) {
    let row = backend.get(Table::Scratch, &pk, "").await.expect("get before cas").expect("the task's row exists");
    let outcome = backend
        .cas(Table::Scratch, &pk, "", Expect::Version(row.version), vec![fill; VALUE_BYTES], None)
        .await
        .expect("cas");
    match outcome {
        CasOutcome::Applied { version } => {
            black_box(version);
        }
        CasOutcome::Conflict { .. } => panic!("cas on an uncontended row {pk} conflicted"),
    }
}

fn cas_update(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, backend) = open_fresh();
    let mut group = c.benchmark_group("cas_update");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(20);
    for concurrency in [1usize, 16, 64] {
        rt.block_on(seed(&backend, concurrency));
        let keys: Vec<String> = (0..concurrency).map(|t| row_key(concurrency, t)).collect();
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("concurrency={concurrency}")), &keys, |b, keys| {
            let backend = &backend;
            let mut round: u8 = 0;
            b.to_async(&rt).iter(|| {
                round = round.wrapping_add(1);
                let fill = round;
                async move {
                    let tasks: Vec<_> = keys
                        .iter()
                        .map(|pk| tokio::spawn(read_then_cas(Arc::clone(backend), pk.clone(), fill)))
                        .collect();
                    for task in tasks {
                        task.await.expect("cas task panicked");
                    }
                }
            });
        });
    }
    group.finish();
    drop(backend);
}

fn point_read(c: &mut Criterion) {
    let rt = runtime();
    let (_dir, backend) = open_fresh();
    let mut group = c.benchmark_group("point_read");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for concurrency in [1usize, 16] {
        rt.block_on(seed(&backend, concurrency));
        let keys: Vec<String> = (0..concurrency).map(|t| row_key(concurrency, t)).collect();
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_with_input(BenchmarkId::from_parameter(format!("concurrency={concurrency}")), &keys, |b, keys| {
            let backend = &backend;
            b.to_async(&rt).iter(|| async move {
                let tasks: Vec<_> = keys
                    .iter()
                    .map(|pk| {
                        let backend = Arc::clone(backend);
                        let pk = pk.clone();
                        tokio::spawn(async move {
                            let row = backend.get(Table::Scratch, &pk, "").await.expect("get");
                            black_box(row.expect("the seeded row exists"));
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("read task panicked");
                }
            });
        });
    }
    group.finish();
    drop(backend);
}

criterion_group!(benches, cas_update, point_read);
criterion_main!(benches);
