//! Booking reminders in storage: the due list answers what is due, oldest first, bounded;
//! a claim fixes the notification id a reminder is delivered under; feeds rotate.

use agora_engine::{BookingId, NotificationId, UserId};
use time::macros::datetime;
use time::Duration;

use crate::availability::{Reminder, ReminderKind};
use crate::Store;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
    (dir, store)
}

#[tokio::test]
async fn due_reminders_are_oldest_first_bounded_and_claimed_once() {
    let (_dir, store) = store();
    let a = store.availability();
    let now = datetime!(2027-05-10 12:30 UTC);
    let mk = |minutes: i64| Reminder {
        booking_id: BookingId::from_uuid(uuid::Uuid::now_v7()),
        kind: ReminderKind::HourBefore,
        due: now + Duration::minutes(minutes),
    };
    // Two hours back, just due, and in the future.
    let (old, due, later) = (mk(-120), mk(0), mk(5));
    for r in [later, due, old] {
        a.schedule_reminder(&r).await.expect("schedule");
    }
    assert_eq!(a.due_reminders(now, 25, 100).await.expect("due"), [old, due], "oldest first, nothing ahead");
    assert_eq!(a.due_reminders(now, 25, 1).await.expect("due"), [old], "bounded");
    assert_eq!(a.due_reminders(now, 1, 100).await.expect("due"), [due], "looks back one hour");

    let fresh = || NotificationId::from_uuid(uuid::Uuid::now_v7());
    let (first, second) = (fresh(), fresh());
    assert_eq!(a.claim_reminder(&old, first).await.expect("claim"), first);
    assert_eq!(a.claim_reminder(&old, second).await.expect("claim again"), first, "the first claim's id");
    a.done_reminder(&old).await.expect("done");
    assert_eq!(a.due_reminders(now, 25, 100).await.expect("due"), [due]);
}

#[tokio::test]
async fn a_new_feed_token_replaces_the_old_one() {
    let (_dir, store) = store();
    let a = store.availability();
    let user = UserId::from_uuid(uuid::Uuid::now_v7());
    a.replace_feed(user, "hash-1").await.expect("issue");
    assert_eq!(a.feed_owner("hash-1").await.expect("read"), Some(user));
    a.replace_feed(user, "hash-2").await.expect("rotate");
    assert_eq!(a.feed_owner("hash-1").await.expect("read"), None, "the old token is gone");
    assert_eq!(a.feed_owner("hash-2").await.expect("read"), Some(user));
    assert!(a.revoke_feed(user).await.expect("revoke"));
    assert!(!a.revoke_feed(user).await.expect("revoke again"));
    assert_eq!(a.feed_owner("hash-2").await.expect("read"), None);
}
