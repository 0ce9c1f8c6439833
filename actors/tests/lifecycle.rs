//! Actor lifecycles with probe connections (the bounded queues the transport would drain):
//! sessions start on the first connection and stop after the last, a slow connection is
//! dropped without disturbing others, conversation actors stop when idle, digests go out
//! once per period.

use std::sync::Arc;
use std::time::Duration;

use agora_actors::broker::run_digests;
use agora_actors::connection::Outbound;
use agora_actors::conversation::{ActiveConversations, SendMessage};
use agora_actors::mail::Mailer;
use agora_actors::protocol::{Encoding, ServerFrame, SharedFrame};
use agora_actors::registry::{Connect, Deliver, IsOnline};
use agora_actors::session::Disconnected;
use agora_actors::{Hub, RealtimeConfig};
use agora_engine::{
    ConversationId, Digest, MessageBody, NewConversation, NotificationId, NotificationType, Role, UserId,
};
use agora_storage::notify::Notification;
use agora_storage::{NewUser, Store};
use time::OffsetDateTime;
use uuid::Uuid;

struct World {
    _dir: tempfile::TempDir,
    outbox: std::path::PathBuf,
    store: Store,
    hub: Hub,
}

fn world(config: RealtimeConfig) -> World {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open_sqlite(dir.path().join("agora.db"), 2).expect("store");
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::new("Agora <no-reply@agora.localhost>", outbox.clone(), None).expect("mailer");
    let hub = Hub::start(store.clone(), mailer, config).expect("hub");
    World { _dir: dir, outbox, store, hub }
}

async fn user(store: &Store) -> UserId {
    let id = UserId::from_uuid(Uuid::now_v7());
    let email = agora_engine::Email::parse(&format!("{}@example.com", id.as_uuid().simple())).expect("email");
    store
        .users()
        .create(NewUser {
            id,
            email,
            username: None,
            role: Role::Client,
            first_name: String::new(),
            last_name: String::new(),
            password_hash: "x".into(),
            at: OffsetDateTime::now_utc(),
        })
        .await
        .expect("user");
    id
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(100)).await;
}

#[actix::test]
async fn sessions_start_on_first_connection_and_stop_after_the_last() {
    let w = world(RealtimeConfig::default());
    let u = user(&w.store).await;
    assert!(!w.hub.sessions.send(IsOnline(u)).await.expect("registry"));
    let c1 =
        w.hub.sessions.send(Connect { user: u, encoding: Encoding::Json }).await.expect("registry").expect("connect");
    let c2 = w
        .hub
        .sessions
        .send(Connect { user: u, encoding: Encoding::Msgpack })
        .await
        .expect("registry")
        .expect("connect");
    assert_ne!(c1.connection_id, c2.connection_id, "ids from a counter");
    assert_eq!(c1.session, c2.session, "one session per user, holding both devices");
    assert!(w.hub.sessions.send(IsOnline(u)).await.expect("registry"));
    c1.session.do_send(Disconnected { connection_id: c1.connection_id });
    // A repeated disconnect is harmless (cleanup is idempotent).
    c1.session.do_send(Disconnected { connection_id: c1.connection_id });
    settle().await;
    assert!(w.hub.sessions.send(IsOnline(u)).await.expect("registry"), "still one device online");
    c2.session.do_send(Disconnected { connection_id: c2.connection_id });
    settle().await;
    assert!(!w.hub.sessions.send(IsOnline(u)).await.expect("registry"), "offline after the last connection");
    assert!(!c2.session.connected(), "the session actor stopped: no leak");
    // Coming back starts a fresh session.
    let c3 =
        w.hub.sessions.send(Connect { user: u, encoding: Encoding::Json }).await.expect("registry").expect("connect");
    assert!(c3.session.connected());
    assert!(w.hub.sessions.send(IsOnline(u)).await.expect("registry"));
}

#[actix::test]
async fn a_full_queue_drops_only_that_connection() {
    let w = world(RealtimeConfig { outbound_queue: 4, ..RealtimeConfig::default() });
    let u = user(&w.store).await;
    let mut slow =
        w.hub.sessions.send(Connect { user: u, encoding: Encoding::Json }).await.expect("registry").expect("c");
    let mut fast =
        w.hub.sessions.send(Connect { user: u, encoding: Encoding::Json }).await.expect("registry").expect("c");
    settle().await;
    // Drain what the session sent on attach (presence/unread), on both.
    while slow.outbound.try_recv().is_ok() {}
    while fast.outbound.try_recv().is_ok() {}
    let frame = SharedFrame::new(ServerFrame::Pong {});
    let users: Arc<[UserId]> = Arc::from([u]);
    let mut fast_got = 0;
    for _ in 0..10 {
        let offline = w
            .hub
            .sessions
            .send(Deliver { users: Arc::clone(&users), frame: Arc::clone(&frame), answer_offline: true })
            .await
            .expect("deliver");
        assert!(offline.is_empty());
        settle().await;
        while let Ok(Outbound::Frame(f)) = fast.outbound.try_recv() {
            assert!(Arc::ptr_eq(&f, &frame), "the very same shared frame, not a copy");
            fast_got += 1;
        }
    }
    assert_eq!(fast_got, 10, "the reading connection got everything");
    let mut slow_got = 0;
    while let Some(item) = slow.outbound.recv().await {
        if let Outbound::Frame(_) = item {
            slow_got += 1;
        }
    }
    assert_eq!(slow_got, 4, "the slow one kept its queue, then its sender was dropped");
    assert_eq!(slow.close_code.load(std::sync::atomic::Ordering::Relaxed), 4009);
    assert!(w.hub.sessions.send(IsOnline(u)).await.expect("registry"), "the user stays online on the other device");
}

#[actix::test]
async fn conversation_actors_stop_when_idle_and_restart_from_storage() {
    let w = world(RealtimeConfig { conversation_idle: Duration::from_millis(150), ..RealtimeConfig::default() });
    let (a, b) = (user(&w.store).await, user(&w.store).await);
    let new = NewConversation::parse(a, &[b], None).expect("valid");
    let (c, _) = w
        .store
        .chat()
        .create_conversation(ConversationId::from_uuid(Uuid::now_v7()), a, new, OffsetDateTime::now_utc())
        .await
        .expect("create");
    let send = |n: u32| SendMessage {
        conversation_id: c.id,
        sender: a,
        body: MessageBody::parse(&format!("hello {n}")).expect("body"),
        client_msg_id: None,
        attachments: Vec::new(),
        origin: std::time::Instant::now(),
    };
    let first = w.hub.conversations.send(send(1)).await.expect("registry").expect("sent");
    assert_eq!(first.message.seq, 1);
    assert_eq!(w.hub.conversations.send(ActiveConversations).await.expect("registry"), 1);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(w.hub.conversations.send(ActiveConversations).await.expect("registry"), 0, "idle actor stopped");
    // A new actor picks up from storage: the next seq follows.
    let second = w.hub.conversations.send(send(2)).await.expect("registry").expect("sent");
    assert_eq!(second.message.seq, 2);
    // Unknown conversations are not found.
    let ghost = SendMessage { conversation_id: ConversationId::from_uuid(Uuid::now_v7()), ..send(3) };
    assert!(matches!(
        w.hub.conversations.send(ghost).await.expect("registry"),
        Err(agora_actors::ActorError::NotFound)
    ));
}

fn unread(user: UserId, at: OffsetDateTime) -> Notification {
    Notification {
        id: NotificationId::from_uuid(Uuid::now_v7()),
        user_id: user,
        kind: NotificationType::Proposal,
        title: "New proposal".into(),
        message: "Someone applied to your job".into(),
        action_url: Some("/jobs/1".into()),
        actor_id: None,
        object_type: None,
        object_id: None,
        read: false,
        created_at: at,
        expires_at: None,
        deleted: false,
    }
}

fn emails(outbox: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(outbox)
        .map(|d| d.flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect())
        .unwrap_or_default()
}

#[actix::test]
async fn digests_go_out_once_per_period_with_unread_items() {
    let w = world(RealtimeConfig::default());
    let mailer = Mailer::new("Agora <no-reply@agora.localhost>", w.outbox.clone(), None).expect("mailer");
    let (weekly, daily, none) = (user(&w.store).await, user(&w.store).await, user(&w.store).await);
    let mut p = w.store.notifications().preferences(daily).await.expect("prefs");
    p.digest = Digest::Daily;
    w.store.notifications().set_preferences(daily, &p).await.expect("save");
    p.digest = Digest::None;
    w.store.notifications().set_preferences(none, &p).await.expect("save");
    let t0 = OffsetDateTime::now_utc();
    assert_eq!(
        run_digests(&w.store, &mailer, "http://agora.test", t0).await.expect("pass"),
        0,
        "the first pass only starts the clock"
    );
    for u in [weekly, daily, none] {
        w.store.notifications().create(&unread(u, t0 + time::Duration::minutes(1)), t0).await.expect("create");
    }
    let day = t0 + time::Duration::days(1) + time::Duration::minutes(5);
    assert_eq!(
        run_digests(&w.store, &mailer, "http://agora.test", day).await.expect("pass"),
        1,
        "only the daily user is due"
    );
    assert_eq!(
        run_digests(&w.store, &mailer, "http://agora.test", day).await.expect("pass"),
        0,
        "claimed: never twice"
    );
    let week = t0 + time::Duration::days(7) + time::Duration::minutes(5);
    assert_eq!(
        run_digests(&w.store, &mailer, "http://agora.test", week).await.expect("pass"),
        1,
        "the weekly user now; daily has nothing new"
    );
    let mails = emails(&w.outbox);
    assert_eq!(mails.len(), 2);
    assert!(mails.iter().any(|m| m.contains("daily Agora digest") && m.contains("New proposal")), "{mails:?}");
    assert!(mails.iter().all(|m| m.contains("http://agora.test/jobs/1")), "links are absolute: {mails:?}");
    assert!(mails.iter().any(|m| m.contains("weekly Agora digest")), "{mails:?}");
}
