//! NotificationBroker: takes domain events, applies the recipient's preferences, persists
//! the notification, pushes it live with a fresh `unread` frame, and sends email for
//! email-enabled types. The digest job (`run_digests` on a `Periodic`) mails daily or weekly digests of unread
//! notifications, claiming each digest by compare-and-set so several nodes never double-send.

use std::sync::Arc;

use actix::prelude::*;
use agora_engine::notification::{clip, MAX_MESSAGE_CHARS, MAX_TITLE_CHARS};
use agora_engine::{NotificationId, NotificationType, UserId};
use agora_storage::notify::Notification;
use agora_storage::{Store, StoreError};
use time::OffsetDateTime;

use crate::mail::Mailer;
use crate::protocol::{ServerFrame, SharedFrame};
use crate::registry::{Deliver, RefreshUnread, SessionRegistry};
use crate::ActorError;

/// A domain event addressed to one recipient.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub user: UserId,
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    pub actor_id: Option<UserId>,
    pub object_type: Option<String>,
    pub object_id: Option<String>,
    pub expires_at: Option<OffsetDateTime>,
    /// A fixed id makes delivery idempotent: a second delivery under the same id finds the
    /// stored notification and sends nothing (booking reminders). `None`: a fresh id.
    pub id: Option<NotificationId>,
}

/// Answers the stored notification, or `None` when the recipient turned in-app off.
#[derive(Message)]
#[rtype(result = "Result<Option<Notification>, ActorError>")]
pub struct Notify(pub NewNotification);

/// Resolves once every notification the broker took before it has been delivered (stored,
/// pushed, mailed or failed): for batch writers such as `agora seed` that must not stop
/// the system while deliveries are still running.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Drained;

pub struct NotificationBroker {
    store: Store,
    sessions: Addr<SessionRegistry>,
    mailer: Mailer,
    public_url: Arc<str>,
    /// Deliveries started and not yet finished.
    in_flight: Arc<tokio::sync::watch::Sender<usize>>,
}

impl NotificationBroker {
    pub(crate) fn new(store: Store, sessions: Addr<SessionRegistry>, mailer: Mailer, public_url: String) -> Self {
        let in_flight = Arc::new(tokio::sync::watch::Sender::new(0));
        NotificationBroker { store, sessions, mailer, public_url: Arc::from(public_url), in_flight }
    }
}

impl Handler<Drained> for NotificationBroker {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, _: Drained, _: &mut Context<Self>) -> Self::Result {
        let mut idle = self.in_flight.subscribe();
        Box::pin(async move {
            // The sender lives as long as the broker; a stopped broker has nothing in flight.
            let _ = idle.wait_for(|n| *n == 0).await;
        })
    }
}

/// An `action_url` as a link in an email: relative paths get the public base URL.
fn absolute(base: &str, url: &str) -> String {
    if url.starts_with('/') {
        format!("{}{url}", base.trim_end_matches('/'))
    } else {
        url.to_string()
    }
}

impl Actor for NotificationBroker {
    type Context = Context<Self>;
}

impl Handler<Notify> for NotificationBroker {
    type Result = ResponseFuture<Result<Option<Notification>, ActorError>>;

    fn handle(&mut self, msg: Notify, _: &mut Context<Self>) -> Self::Result {
        let (store, sessions, mailer) = (self.store.clone(), self.sessions.clone(), self.mailer.clone());
        let base = Arc::clone(&self.public_url);
        let in_flight = Arc::clone(&self.in_flight);
        in_flight.send_modify(|n| *n += 1);
        Box::pin(async move {
            let result = deliver(&store, &sessions, &mailer, &base, msg.0).await;
            in_flight.send_modify(|n| *n = n.saturating_sub(1));
            if let Err(e) = &result {
                tracing::error!(error = %e, "notification failed");
            }
            result
        })
    }
}

async fn deliver(
    store: &Store,
    sessions: &Addr<SessionRegistry>,
    mailer: &Mailer,
    base: &str,
    n: NewNotification,
) -> Result<Option<Notification>, ActorError> {
    let now = OffsetDateTime::now_utc();
    if n.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let channels = store.notifications().preferences(n.user).await?.channels(n.kind);
    let title = clip(&n.title, MAX_TITLE_CHARS);
    let message = clip(&n.message, MAX_MESSAGE_CHARS);
    let mut stored = None;
    if channels.in_app {
        let notification = Notification {
            id: n.id.unwrap_or_else(|| NotificationId::from_uuid(uuid::Uuid::now_v7())),
            user_id: n.user,
            kind: n.kind,
            title: title.clone(),
            message: message.clone(),
            action_url: n.action_url.clone(),
            actor_id: n.actor_id,
            object_type: n.object_type.clone(),
            object_id: n.object_id.clone(),
            read: false,
            created_at: now,
            expires_at: n.expires_at,
            deleted: false,
        };
        match store.notifications().create(&notification, now).await {
            Ok(()) => {}
            // Delivered before under this id (a retried reminder): nothing more to send.
            Err(StoreError::Duplicate(_)) if n.id.is_some() => return Ok(None),
            Err(e) => return Err(e.into()),
        }
        let frame = SharedFrame::new(ServerFrame::Notification { notification: (&notification).into() });
        sessions.do_send(Deliver { users: Arc::from([n.user]), frame, answer_offline: false });
        sessions.do_send(RefreshUnread { user: n.user });
        metrics::counter!("agora_notifications_total", "type" => n.kind.as_str(), "channel" => "in_app").increment(1);
        stored = Some(notification);
    }
    if channels.email {
        if let Some(user) = store.users().get(n.user).await? {
            let mut body = format!("{message}\n");
            if let Some(url) = &n.action_url {
                body.push_str(&format!("\nOpen: {}\n", absolute(base, url)));
            }
            body.push_str("\nYou can change which emails you get in your notification preferences.\n");
            mailer.send(&user.value.email, &title, body).await;
            metrics::counter!("agora_notifications_total", "type" => n.kind.as_str(), "channel" => "email")
                .increment(1);
        }
    }
    Ok(stored)
}

/// How many unread notifications one digest lists.
const DIGEST_ITEMS: usize = 20;

/// One pass over every user: those whose digest period has elapsed get an email listing
/// their unread notifications since the last digest (none if there are none). A user's
/// first pass only starts the clock. Answers how many emails went out.
pub async fn run_digests(store: &Store, mailer: &Mailer, base: &str, now: OffsetDateTime) -> Result<usize, StoreError> {
    let mut sent = 0;
    let mut cursor: Option<String> = None;
    loop {
        let (users, next) = store.users().ids_page(500, cursor.as_deref()).await?;
        for user in users {
            let prefs = store.notifications().preferences(user).await?;
            let Some(period) = prefs.digest.period_secs() else { continue };
            let state = store.notifications().digest_state(user).await?;
            let Some(state) = state else {
                store.notifications().claim_digest(user, None, now).await?;
                continue;
            };
            if (now - state.value.last_sent).whole_seconds() < period {
                continue;
            }
            let unread = store.notifications().unread_since(user, state.value.last_sent, DIGEST_ITEMS, now).await?;
            if !store.notifications().claim_digest(user, Some(state.version), now).await? || unread.is_empty() {
                continue;
            }
            let Some(account) = store.users().get(user).await? else { continue };
            let mut body = format!("You have {} unread notification(s):\n\n", unread.len());
            for n in &unread {
                body.push_str(&format!("- [{}] {}: {}\n", n.kind.as_str(), n.title, n.message));
                if let Some(url) = &n.action_url {
                    body.push_str(&format!("  {}\n", absolute(base, url)));
                }
            }
            let cadence = prefs.digest.as_str();
            mailer.send(&account.value.email, &format!("Your {cadence} Agora digest"), body).await;
            metrics::counter!("agora_digest_emails_total", "cadence" => cadence).increment(1);
            sent += 1;
        }
        match next {
            Some(c) => cursor = Some(c),
            None => return Ok(sent),
        }
    }
}
