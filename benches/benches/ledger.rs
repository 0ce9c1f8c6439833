//! Durable payment transitions: ledger transactions posted on the embedded SQLite backend
//! (WAL, synchronous=FULL, group commit), each one durable when its post returns.
//!
//! Run: `cargo bench -p agora-benches --bench ledger`. Each group gets a fresh temp dir.
//!
//! - `fund/concurrency=N`: one iteration is N concurrent funding transactions, each on its
//!   own contract (legs: external, which has no head, the contract's escrow and the
//!   provider's wallet, each a compare-and-set batch).
//! - `release/concurrency=N`: N concurrent releases of funded escrows to N providers; every
//!   one also credits the day's platform fee account (entries only: it has no head, so
//!   releases do not queue on it) and lists it under its day.
//!
//! Throughput is in elements (= transactions), so criterion prints transactions per second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use agora_engine::ledger::{self, Transaction, TxnKind};
use agora_engine::{ContractId, LedgerTxnId, Money, UserId};
use agora_storage::ledger::Posting;
use agora_storage::Store;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use tokio::runtime::Runtime;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("build the tokio runtime")
}

fn id<T>(f: fn(uuid::Uuid) -> T) -> T {
    f(uuid::Uuid::now_v7())
}

fn txn(kind: TxnKind, legs: Vec<agora_engine::ledger::Leg>) -> Transaction {
    Transaction::new(id(LedgerTxnId::from_uuid), kind, legs, "bench", time::OffsetDateTime::now_utc())
        .expect("balanced")
}

async fn post_all(store: &Store, txns: Vec<Transaction>) {
    let tasks: Vec<_> = txns
        .into_iter()
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move { store.ledger().post(&t).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("post task").expect("post"), Posting::Posted);
    }
}

fn amount() -> Money {
    Money::parse(10_000, "USD").expect("usd")
}

fn ledger_posts(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("ledger");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(10);
    for concurrency in [64usize, 256] {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open_sqlite(dir.path().join("agora.db"), 4).expect("open");
        group.throughput(Throughput::Elements(concurrency as u64));
        group.bench_function(BenchmarkId::new("fund", format!("concurrency={concurrency}")), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let txns = (0..concurrency)
                            .map(|_| {
                                txn(
                                    TxnKind::Fund,
                                    ledger::fund(id(ContractId::from_uuid), id(UserId::from_uuid), amount()),
                                )
                            })
                            .collect();
                        let start = Instant::now();
                        post_all(&store, txns).await;
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
        group.bench_function(BenchmarkId::new("release", format!("concurrency={concurrency}")), |b| {
            b.to_async(&rt).iter_custom(|iters| {
                let store = store.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        // Funded escrows first (not timed), then their releases.
                        let parties: Vec<(ContractId, UserId)> =
                            (0..concurrency).map(|_| (id(ContractId::from_uuid), id(UserId::from_uuid))).collect();
                        post_all(
                            &store,
                            parties.iter().map(|(k, p)| txn(TxnKind::Fund, ledger::fund(*k, *p, amount()))).collect(),
                        )
                        .await;
                        let releases = parties
                            .iter()
                            .map(|(k, p)| {
                                txn(
                                    TxnKind::Release,
                                    ledger::release(*k, *p, amount(), 1_000, time::OffsetDateTime::now_utc().date()),
                                )
                            })
                            .collect();
                        let start = Instant::now();
                        post_all(&store, releases).await;
                        total += start.elapsed();
                    }
                    total
                }
            });
        });
        drop(Arc::new(dir));
    }
    group.finish();
}

criterion_group!(benches, ledger_posts);
criterion_main!(benches);
