//! Chat and notification storage on the embedded backend: day buckets, gap-free appends
//! under competing writers, roll-forward after a half-finished append, the unread counter
//! with expiring notifications, and exactly-once read/delete transitions.

use crate::chat::Message;
use crate::notify::Notification;
use crate::{Store, StoreError};
use agora_engine::{ConversationId, MessageId, NewConversation, NotificationId, NotificationType, UserId};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
    (dir, store)
}

fn uid() -> UserId {
    UserId::from_uuid(Uuid::now_v7())
}

fn message(conversation: ConversationId, seq: u64, sender: UserId, at: OffsetDateTime) -> Message {
    Message {
        id: MessageId::from_uuid(Uuid::now_v7()),
        conversation_id: conversation,
        seq,
        sender_id: sender,
        body: format!("m{seq}"),
        sent_at: at,
        client_msg_id: Some(format!("c{seq}")),
        edited_at: None,
        deleted: false,
        attachments: Vec::new(),
    }
}

async fn conversation(store: &Store, a: UserId, b: UserId, at: OffsetDateTime) -> ConversationId {
    let new = NewConversation::parse(a, &[b], None).expect("valid");
    let (c, created) =
        store.chat().create_conversation(ConversationId::from_uuid(Uuid::now_v7()), a, new, at).await.expect("create");
    assert!(created);
    c.id
}

#[tokio::test]
async fn messages_span_day_buckets_and_page_both_ways() {
    let (_dir, store) = store();
    let (a, b) = (uid(), uid());
    let start = OffsetDateTime::now_utc() - Duration::days(10);
    let id = conversation(&store, a, b, start).await;
    // 30 messages over 6 different days (5 per day).
    for seq in 1..=30u64 {
        let head = store.chat().get(id).await.expect("get").expect("head");
        let at = start + Duration::days(((seq - 1) / 5) as i64) + Duration::seconds(seq as i64);
        store.chat().append(&head, message(id, seq, a, at)).await.expect("append");
    }
    let all = store.chat().messages_after(id, 0, 1000).await.expect("after");
    assert_eq!(all.iter().map(|m| m.seq).collect::<Vec<_>>(), (1..=30).collect::<Vec<u64>>());
    let tail = store.chat().messages_after(id, 12, 7).await.expect("after 12");
    assert_eq!(tail.iter().map(|m| m.seq).collect::<Vec<_>>(), (13..=19).collect::<Vec<u64>>(), "crosses buckets");
    let back = store.chat().messages_before(id, 14, 9).await.expect("before 14");
    assert_eq!(back.iter().map(|m| m.seq).collect::<Vec<_>>(), (5..=13).rev().collect::<Vec<u64>>());
    assert!(store.chat().messages_before(id, 1, 10).await.expect("before 1").is_empty());
    // Lookups by id and by client id find the right rows in old buckets.
    let m7 = &all[6];
    assert_eq!(store.chat().get_message(m7.id).await.expect("get").expect("found").body, "m7");
    let ack = store.chat().find_by_client_id(id, a, "c7").await.expect("by client id").expect("found");
    assert_eq!((ack.message_id, ack.seq), (m7.id, 7));
    // The member index moved with the activity.
    let (views, _) = store.chat().list_for_user(b, 10, None).await.expect("list");
    assert_eq!(views.len(), 1, "one entry per conversation, stale ones skipped");
    assert_eq!(views[0].conversation.last_seq, 30);
    assert_eq!(views[0].unread(), 30);
}

/// Between a message's commit point and the move of the members' activity rows, the
/// conversation is still listed (by its old row), and once the new row exists the old one
/// is skipped: never missing, never twice.
#[tokio::test]
async fn a_conversation_stays_listed_while_its_activity_row_moves() {
    let (_dir, store) = store();
    let (a, b) = (uid(), uid());
    let id = conversation(&store, a, b, OffsetDateTime::now_utc() - Duration::minutes(5)).await;
    let head = store.chat().get(id).await.expect("get").expect("head");
    let m = message(id, 1, a, OffsetDateTime::now_utc());
    let next = store.chat().commit(&head, &m).await.expect("commit");
    let (views, _) = store.chat().list_for_user(b, 10, None).await.expect("list");
    assert_eq!(views.len(), 1, "listed by its old row while the move has not happened");
    assert_eq!(views[0].conversation.last_seq, 1);
    assert_eq!(store.chat().conversations_of(b, 10).await.expect("of").len(), 1);
    store.chat().finish(&head.value, &next.value, &m).await.expect("finish");
    let (views, _) = store.chat().list_for_user(b, 10, None).await.expect("list");
    assert_eq!(views.len(), 1, "once, by its new row");
}

#[tokio::test]
async fn competing_appends_never_share_a_seq() {
    let (_dir, store) = store();
    let (a, b) = (uid(), uid());
    let id = conversation(&store, a, b, OffsetDateTime::now_utc()).await;
    let stale = store.chat().get(id).await.expect("get").expect("head");
    let now = OffsetDateTime::now_utc();
    store.chat().append(&stale, message(id, 1, a, now)).await.expect("first writer wins");
    let lost = store.chat().append(&stale, message(id, 1, b, now)).await;
    assert!(matches!(lost, Err(StoreError::Conflict)), "a stale head must lose: {lost:?}");
    let all = store.chat().messages_after(id, 0, 10).await.expect("after");
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].sender_id, a);
}

#[tokio::test]
async fn roll_forward_finishes_an_append_that_stopped_at_its_commit_point() {
    let (_dir, store) = store();
    let (a, b) = (uid(), uid());
    let id = conversation(&store, a, b, OffsetDateTime::now_utc()).await;
    let head = store.chat().get(id).await.expect("get").expect("head");
    let m = message(id, 1, a, OffsetDateTime::now_utc());
    let next = store.chat().append(&head, m.clone()).await.expect("append");
    // Simulate a crash after the head CAS: remove the message's own rows.
    let b_ = store.backend();
    b_.delete(crate::tables::Table::MessagesById, &m.id.to_string(), "").await.expect("delete");
    b_.delete(
        crate::tables::Table::MessagesByConversation,
        &format!("{id}:{}", next.value.bucket_day),
        &format!("{:020}", 1),
    )
    .await
    .expect("delete");
    assert!(store.chat().get_message(m.id).await.expect("get").is_none());
    store.chat().roll_forward(&next.value).await.expect("roll forward");
    assert_eq!(store.chat().get_message(m.id).await.expect("get").expect("restored").body, "m1");
    assert_eq!(store.chat().messages_after(id, 0, 10).await.expect("after").len(), 1);
}

fn notification(user: UserId, expires_at: Option<OffsetDateTime>) -> Notification {
    Notification {
        id: NotificationId::from_uuid(Uuid::now_v7()),
        user_id: user,
        kind: NotificationType::Info,
        title: "t".into(),
        message: "m".into(),
        action_url: None,
        actor_id: None,
        object_type: None,
        object_id: None,
        read: false,
        created_at: OffsetDateTime::now_utc(),
        expires_at,
        deleted: false,
    }
}

#[tokio::test]
async fn unread_counter_is_exact_with_expiry_and_concurrent_transitions() {
    let (_dir, store) = store();
    let user = uid();
    let now = OffsetDateTime::now_utc();
    let n = store.notifications();
    let plain = notification(user, None);
    let soon = notification(user, Some(now + Duration::seconds(30)));
    let later = notification(user, Some(now + Duration::days(1)));
    for x in [&plain, &soon, &later] {
        n.create(x, now).await.expect("create");
    }
    assert_eq!(n.unread_count(user, now).await.expect("count"), 3);
    // Past the first expiry, it is neither counted nor listed.
    let future = now + Duration::seconds(60);
    assert_eq!(n.unread_count(user, future).await.expect("count"), 2);
    let (listed, _) = n.list(user, false, 10, None, future).await.expect("list");
    assert!(listed.iter().all(|x| x.id != soon.id));
    // Concurrent mark-read of the same notification decrements once.
    let n2 = store.notifications();
    let (r1, r2) = tokio::join!(n.mark_read(user, plain.id, now), n2.mark_read(user, plain.id, now));
    assert!(r1.expect("r1").is_some() && r2.expect("r2").is_some());
    assert_eq!(n.unread_count(user, now).await.expect("count"), 2);
    // Deleting an unread expiring one lowers the count; deleting twice is a no-op.
    assert!(n.delete(user, later.id, now).await.expect("delete"));
    assert!(!n.delete(user, later.id, now).await.expect("delete again"));
    assert_eq!(n.unread_count(user, now).await.expect("count"), 1);
    assert_eq!(n.mark_all_read(user, now).await.expect("all"), 1);
    assert_eq!(n.unread_count(user, now).await.expect("count"), 0);
    // Another user's id is not found.
    assert!(n.mark_read(uid(), soon.id, now).await.expect("other").is_none());
}
