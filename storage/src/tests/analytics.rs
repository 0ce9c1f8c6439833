//! Analytics rollups in storage: a replayed batch counts once, a batch applied again after
//! a crash moves nothing twice, and active users move between their last active days.

use agora_engine::analytics::{Fact, Kind, Period, Scope};
use agora_engine::UserId;
use time::macros::{date, datetime};
use time::Duration;

use crate::analytics::{hour_key, Checkpoint, Pending};
use crate::backend::Expect;
use crate::codec::encode;
use crate::tables::Table;
use crate::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
    (dir, store)
}

const TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

fn views(n: usize, at: time::OffsetDateTime) -> Vec<Fact> {
    (0..n).map(|_| Fact { path: Some("/".into()), ..Fact::new(Kind::PageView, at) }).collect()
}

async fn page_views(store: &Store, day: time::Date) -> i64 {
    let c = store.analytics().counters(&Scope::Platform.key(), &[Period::Day(day)]).await.expect("read");
    c[0].get("page_views").copied().unwrap_or(0)
}

#[tokio::test]
async fn a_replayed_batch_counts_once_and_a_batch_applied_again_moves_nothing_twice() {
    let (_dir, store) = store();
    let a = store.analytics();
    let t0 = datetime!(2026-12-03 10:15 UTC);
    a.record("c:v:batch-1", &views(3, t0), t0, TTL).await.expect("record");
    a.record("c:v:batch-1", &views(3, t0), t0 + Duration::seconds(1), TTL).await.expect("replay");
    a.record("c:v:batch-2", &views(2, t0), t0 + Duration::seconds(2), TTL).await.expect("record");
    // Not settled yet: nothing moves.
    let none = a.roll_up(t0, 10).await.expect("roll up");
    assert_eq!((none.facts, page_views(&store, t0.date()).await), (0, 0));
    let done = a.roll_up(t0 + Duration::seconds(10), 10).await.expect("roll up");
    assert_eq!((done.facts, done.replayed), (5, 3), "{done:?}");
    assert_eq!(page_views(&store, t0.date()).await, 5);
    let month = a.counters("platform", &[Period::Month(2026, time::Month::December), Period::All]).await.expect("read");
    assert_eq!((month[0]["page_views"], month[1]["page_views"]), (5, 5));

    // A crash after the counters moved but before the checkpoint did: the batch is pending again.
    let cp = a.checkpoint().await.expect("checkpoint");
    assert_eq!((cp.batch, cp.pending.is_none()), (1, true));
    let again = Checkpoint {
        batch: 0,
        hour: None,
        after: None,
        pending: Some(Pending { batch: 1, hour: hour_key(t0), after: None, upto: cp.after.clone().expect("read to") }),
    };
    let version =
        crate::store::get_versioned::<Checkpoint>(store.backend().as_ref(), Table::AnalyticsCheckpoint, "rollup", "")
            .await
            .expect("read")
            .expect("exists")
            .version;
    let row = encode(Table::AnalyticsCheckpoint, &again).expect("encode");
    let b = store.backend();
    assert!(b
        .cas(Table::AnalyticsCheckpoint, "rollup", "", Expect::Version(version), row, None)
        .await
        .expect("cas")
        .applied());
    let redo = a.roll_up(t0 + Duration::seconds(10), 10).await.expect("roll up again");
    assert_eq!(redo.facts, 5, "the batch was applied again: {redo:?}");
    assert_eq!(page_views(&store, t0.date()).await, 5, "and moved nothing twice");
    assert_eq!(a.checkpoint().await.expect("checkpoint").pending, None);

    // Later facts, in a later hour, continue from there; an idle pass does nothing.
    let t1 = t0 + Duration::hours(2);
    a.record("c:v:batch-3", &views(4, t1), t1, TTL).await.expect("record");
    a.record("c:v:batch-1", &views(3, t0), t1, TTL).await.expect("a replay an hour later");
    let later = a.roll_up(t1 + Duration::seconds(10), 10).await.expect("roll up");
    assert_eq!((later.facts, later.replayed), (4, 3));
    assert_eq!(page_views(&store, t0.date()).await, 9);
    assert_eq!(a.roll_up(t1 + Duration::seconds(20), 10).await.expect("idle").batches, 0);
}

#[tokio::test]
async fn active_users_count_once_a_day_and_move_to_their_last_active_day() {
    let (_dir, store) = store();
    let a = store.analytics();
    let (u, v) = (UserId::from_uuid(uuid::Uuid::now_v7()), UserId::from_uuid(uuid::Uuid::now_v7()));
    let (mon, tue) = (datetime!(2026-11-30 09:00 UTC), datetime!(2026-12-01 09:00 UTC));
    let act =
        |user: UserId, at| vec![Fact::new(Kind::Click, at).by(Some(user)), Fact::new(Kind::Share, at).by(Some(user))];
    a.record("c:u:1", &act(u, mon), tue, TTL).await.expect("record");
    a.record("c:v:1", &act(v, mon), tue, TTL).await.expect("record");
    a.roll_up(tue + Duration::seconds(5), 10).await.expect("roll up");
    a.record("c:u:2", &act(u, tue), tue + Duration::seconds(6), TTL).await.expect("record");
    a.record("c:u:3", &act(u, tue), tue + Duration::seconds(7), TTL).await.expect("record");
    a.roll_up(tue + Duration::seconds(20), 10).await.expect("roll up");
    let c = a
        .counters("platform", &[Period::Day(date!(2026 - 11 - 30)), Period::Day(date!(2026 - 12 - 01))])
        .await
        .expect("read");
    let get = |i: usize, m: &str| c[i].get(m).copied().unwrap_or(0);
    assert_eq!((get(0, "active_users"), get(1, "active_users")), (2, 1), "{c:?}");
    assert_eq!((get(0, "last_seen"), get(1, "last_seen")), (1, 1), "v was last seen Monday, u Tuesday");
    assert_eq!((get(0, "actions"), get(1, "actions")), (4, 4));
}
