//! UserSession: one actor per online user, holding all of that user's connections
//! (devices). It turns decoded client frames into typed commands for the conversation
//! actors, replies to the connection that asked, and pushes fan-out frames to every
//! connection without waiting (a full queue drops that connection with 4009).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use actix::prelude::*;
use agora_engine::{ClientMsgId, ConversationId, MessageBody, MessageId, NotificationId, UserId};
use agora_storage::Store;
use time::OffsetDateTime;

use crate::connection::{ConnectionHandle, ConnectionId};
use crate::conversation::{ConversationRegistry, DeleteMessage, EditMessage, MarkRead, SendMessage, Typing};
use crate::error::invalid;
use crate::protocol::{ClientFrame, ServerFrame, SharedFrame};
use crate::registry::{Detached, PresenceChanged, SessionRegistry};
use crate::{unread_conversations, unread_counts, ActorError};

/// How many conversations `sync` accepts in one frame.
pub const MAX_SYNC_CONVERSATIONS: usize = 1000;
/// Replay page size.
const SYNC_PAGE: usize = 200;
/// How many recent conversations define a user's presence contacts.
const CONTACT_CONVERSATIONS: usize = 200;

pub struct UserSession {
    user: UserId,
    store: Store,
    registry: Addr<SessionRegistry>,
    conversations: Addr<ConversationRegistry>,
    connections: HashMap<ConnectionId, ConnectionHandle>,
    announced: bool,
    contacts: Vec<UserId>,
}

impl UserSession {
    pub(crate) fn new(
        user: UserId,
        store: Store,
        registry: Addr<SessionRegistry>,
        conversations: Addr<ConversationRegistry>,
    ) -> Self {
        UserSession {
            user,
            store,
            registry,
            conversations,
            connections: HashMap::new(),
            announced: false,
            contacts: Vec::new(),
        }
    }

    /// The single way a connection leaves the session; idempotent.
    fn drop_connection(&mut self, id: ConnectionId) {
        if self.connections.remove(&id).is_some() {
            metrics::gauge!("agora_ws_connections").decrement(1.0);
            self.registry.do_send(Detached { user: self.user, connection_id: id });
        }
    }

    /// A frame for one connection. If its queue is full the connection is dropped (4009),
    /// so a reply (an `ack`, say) is never silently lost on a live connection.
    fn reply(&mut self, id: ConnectionId, frame: ServerFrame) {
        let delivered = self.connections.get(&id).map(|conn| conn.push(&SharedFrame::new(frame)));
        if delivered == Some(false) {
            tracing::info!(user = %self.user, connection_id = id, "slow consumer: reply did not fit, closing with 4009");
            self.drop_connection(id);
        }
    }

    fn reply_error(&mut self, id: ConnectionId, err: &ActorError, reference: Option<String>) {
        if matches!(err, ActorError::Storage(_) | ActorError::Unavailable) {
            tracing::error!(user = %self.user, connection_id = id, error = %err, "frame failed");
        }
        self.reply(id, ServerFrame::error(err.code(), err.public_message(), reference));
    }

    /// Recomputes the `unread` counts and pushes them to every connection of the user.
    fn push_unread(&self, ctx: &mut Context<Self>) {
        let (store, user) = (self.store.clone(), self.user);
        let fut = async move { unread_counts(&store, user, OffsetDateTime::now_utc()).await };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| match res {
            Ok((notifications, conversations)) => {
                let frame = SharedFrame::new(ServerFrame::Unread { notifications, conversations });
                let targets: Vec<ConnectionId> = act.connections.keys().copied().collect();
                for id in targets {
                    if let Some(conn) = act.connections.get(&id) {
                        if !conn.push(&frame) {
                            act.drop_connection(id);
                        }
                    }
                }
            }
            Err(e) => tracing::error!(user = %act.user, error = %e, "unread counts failed"),
        }));
    }

    /// A new connection: one read of the user's recent conversations gives both the
    /// presence contacts and the unread count. On the user's first connection its contacts
    /// hear it is online; the new connection learns which contacts are online and gets its
    /// first `unread` frame.
    ///
    /// `elsewhere`: another node already holds the user (cluster mode), so the contacts
    /// already know it is online.
    fn on_attach(&mut self, ctx: &mut Context<Self>, id: ConnectionId, elsewhere: bool) {
        let announce = !self.announced && !elsewhere;
        self.announced = true;
        let (store, user, registry) = (self.store.clone(), self.user, self.registry.clone());
        let fut = async move {
            let now = OffsetDateTime::now_utc();
            let loaded = async {
                let (views, _) = store.chat().list_for_user(user, CONTACT_CONVERSATIONS, None).await?;
                let notifications = store.notifications().unread_count(user, now).await?;
                Ok::<_, agora_storage::StoreError>((views, notifications))
            };
            let (contacts, unread) = match loaded.await {
                Ok((views, notifications)) => {
                    (contacts_in(user, &views), Some((notifications, unread_conversations(&views))))
                }
                Err(e) => {
                    tracing::error!(%user, error = %e, "loading the new connection's state failed");
                    (Vec::new(), None)
                }
            };
            let online =
                registry.send(PresenceChanged { user, online: true, announce, contacts: contacts.clone() }).await;
            (contacts, online.unwrap_or_default(), unread)
        };
        ctx.spawn(fut.into_actor(self).map(move |(contacts, online, unread), act, _| {
            act.contacts = contacts;
            for contact in online {
                act.reply(id, ServerFrame::Presence { user_id: contact.to_string(), online: true });
            }
            if let Some((notifications, conversations)) = unread {
                act.reply(id, ServerFrame::Unread { notifications, conversations });
            }
        }));
    }

    fn handle_frame(&mut self, id: ConnectionId, frame: ClientFrame, received: Instant, ctx: &mut Context<Self>) {
        let reference = frame.reference();
        match frame {
            ClientFrame::Send { conversation_id, client_msg_id, body, attachment_ids } => {
                let cmd = (|| {
                    let conversation_id = ConversationId::parse(&conversation_id).map_err(|_| ActorError::NotFound)?;
                    let attachments = attachment_ids
                        .iter()
                        .map(|a| agora_engine::AttachmentId::parse(a))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|e| with_field("attachment_ids", e))?;
                    let body = MessageBody::parse_with_attachments(&body, attachments.len())
                        .map_err(|e| with_field("body", e))?;
                    let client_msg_id =
                        ClientMsgId::parse(&client_msg_id).map_err(|e| with_field("client_msg_id", e))?;
                    Ok::<_, ActorError>(SendMessage {
                        conversation_id,
                        sender: self.user,
                        body,
                        client_msg_id: Some(client_msg_id),
                        attachments,
                        origin: received,
                    })
                })();
                match cmd {
                    Err(e) => self.reply_error(id, &e, reference),
                    Ok(cmd) => {
                        let fut = self.conversations.send(cmd);
                        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                            match res.map_err(ActorError::from).and_then(|r| r) {
                                Ok(sent) => act.reply(
                                    id,
                                    ServerFrame::Ack {
                                        conversation_id: sent.message.conversation_id.to_string(),
                                        client_msg_id: sent.message.client_msg_id.clone().unwrap_or_default(),
                                        message_id: sent.message.id.to_string(),
                                        seq: sent.message.seq,
                                        sent_at: crate::protocol::rfc3339(sent.message.sent_at),
                                    },
                                ),
                                Err(e) => act.reply_error(id, &e, reference),
                            }
                        }));
                    }
                }
            }
            ClientFrame::Edit { message_id, body } => {
                let body = match MessageBody::parse(&body) {
                    Ok(b) => b,
                    Err(e) => return self.reply_error(id, &with_field("body", e), reference),
                };
                self.change_message(ctx, id, &message_id, Some(body), reference);
            }
            ClientFrame::Delete { message_id } => self.change_message(ctx, id, &message_id, None, reference),
            ClientFrame::Read { conversation_id, seq } => {
                let Ok(conversation_id) = ConversationId::parse(&conversation_id) else {
                    return self.reply_error(id, &ActorError::NotFound, reference);
                };
                let fut = self.conversations.send(MarkRead { conversation_id, user: self.user, seq });
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    if let Err(e) = res.map_err(ActorError::from).and_then(|r| r) {
                        act.reply_error(id, &e, reference);
                    }
                }));
            }
            ClientFrame::Typing { conversation_id, active } => {
                let Ok(conversation_id) = ConversationId::parse(&conversation_id) else {
                    return self.reply_error(id, &ActorError::NotFound, reference);
                };
                let fut = self.conversations.send(Typing { conversation_id, user: self.user, active });
                ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
                    if let Err(e) = res.map_err(ActorError::from).and_then(|r| r) {
                        act.reply_error(id, &e, reference);
                    }
                }));
            }
            ClientFrame::Sync { conversations, notifications_after } => {
                self.sync(ctx, id, conversations, notifications_after);
            }
            ClientFrame::Ping {} => self.reply(id, ServerFrame::Pong {}),
        }
    }

    fn change_message(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConnectionId,
        message_id: &str,
        body: Option<MessageBody>,
        reference: Option<String>,
    ) {
        let Ok(message_id) = MessageId::parse(message_id) else {
            return self.reply_error(id, &ActorError::NotFound, reference);
        };
        let (store, conversations, user) = (self.store.clone(), self.conversations.clone(), self.user);
        let fut = async move {
            let message = store.chat().get_message(message_id).await?.ok_or(ActorError::NotFound)?;
            let conversation_id = message.conversation_id;
            match body {
                Some(body) => {
                    conversations.send(EditMessage { conversation_id, actor: user, message_id, body }).await??
                }
                None => conversations.send(DeleteMessage { conversation_id, actor: user, message_id }).await??,
            };
            Ok::<_, ActorError>(())
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            if let Err(e) = res {
                act.reply_error(id, &e, reference);
            }
        }));
    }

    /// Replays what the connection missed, in order, waiting for queue room (the client
    /// asked for it), then `synced`.
    fn sync(
        &mut self,
        ctx: &mut Context<Self>,
        id: ConnectionId,
        conversations: std::collections::BTreeMap<String, u64>,
        notifications_after: Option<String>,
    ) {
        let Some(conn) = self.connections.get(&id).cloned() else { return };
        if conversations.len() > MAX_SYNC_CONVERSATIONS {
            let e = invalid("conversations", format!("at most {MAX_SYNC_CONVERSATIONS} per sync"));
            return self.reply_error(id, &e, None);
        }
        let after = match notifications_after.as_deref().map(NotificationId::parse).transpose() {
            Ok(a) => a,
            Err(_) => return self.reply_error(id, &invalid("notifications_after", "must be a notification id"), None),
        };
        let (store, user) = (self.store.clone(), self.user);
        let fut = async move {
            for (raw, last_seq) in conversations {
                let head = match ConversationId::parse(&raw) {
                    Ok(cid) => store.chat().get(cid).await?.map(|h| h.value).filter(|h| h.is_member(user)),
                    Err(_) => None,
                };
                let Some(head) = head else {
                    let e = ActorError::NotFound;
                    conn.push_wait(SharedFrame::new(ServerFrame::error(e.code(), e.public_message(), Some(raw)))).await;
                    continue;
                };
                let mut after_seq = last_seq;
                while after_seq < head.last_seq {
                    let page = store.chat().messages_after(head.id, after_seq, SYNC_PAGE).await?;
                    let Some(last) = page.last() else { break };
                    after_seq = last.seq;
                    for m in &page {
                        if !conn.push_wait(SharedFrame::new(ServerFrame::message(m))).await {
                            return Ok(());
                        }
                    }
                }
                // The head's last message is durable even if its rows are still being written.
                if let Some(m) = head.last_message.as_ref().filter(|m| m.seq > after_seq) {
                    conn.push_wait(SharedFrame::new(ServerFrame::message(m))).await;
                }
            }
            let mut cursor = after;
            let now = OffsetDateTime::now_utc();
            loop {
                let (page, next) = store.notifications().after(user, cursor, SYNC_PAGE, now).await?;
                for n in &page {
                    if !conn.push_wait(SharedFrame::new(ServerFrame::Notification { notification: n.into() })).await {
                        return Ok(());
                    }
                }
                match next {
                    Some(last_scanned) => cursor = Some(last_scanned),
                    None => break,
                }
            }
            conn.push_wait(SharedFrame::new(ServerFrame::Synced {})).await;
            Ok::<_, ActorError>(())
        };
        ctx.spawn(fut.into_actor(self).map(move |res, act, _| {
            if let Err(e) = res {
                act.reply_error(id, &e, None);
            }
        }));
    }
}

fn with_field(field: &str, e: agora_engine::DomainError) -> ActorError {
    let mut f = agora_engine::FieldErrors::new();
    f.check::<()>(field, Err(e));
    ActorError::Invalid(f)
}

/// The users told when `user` comes online or goes offline: those who share one of the
/// user's most recent conversations.
pub async fn contacts_of(store: &Store, user: UserId) -> Result<Vec<UserId>, agora_storage::StoreError> {
    let (views, _) = store.chat().list_for_user(user, CONTACT_CONVERSATIONS, None).await?;
    Ok(contacts_in(user, &views))
}

/// The users who share one of `views` (a user's most recent conversations) with `user`.
fn contacts_in(user: UserId, views: &[agora_storage::chat::MemberView]) -> Vec<UserId> {
    let mut contacts: Vec<UserId> =
        views.iter().flat_map(|v| v.conversation.members.iter().copied()).filter(|m| *m != user).collect();
    contacts.sort();
    contacts.dedup();
    contacts
}

impl Actor for UserSession {
    type Context = Context<Self>;

    fn started(&mut self, _: &mut Context<Self>) {
        tracing::debug!(user = %self.user, "session started");
    }

    fn stopped(&mut self, _: &mut Context<Self>) {
        tracing::debug!(user = %self.user, "session stopped");
    }
}

/// The registry attaches a new connection; `elsewhere` as in [`UserSession::on_attach`].
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Attach {
    pub handle: ConnectionHandle,
    pub elsewhere: bool,
}

impl Handler<Attach> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Attach, ctx: &mut Context<Self>) {
        let id = msg.handle.id;
        self.connections.insert(id, msg.handle);
        metrics::gauge!("agora_ws_connections").increment(1.0);
        self.on_attach(ctx, id, msg.elsewhere);
    }
}

/// A decoded frame from one of this user's connections.
#[derive(Message)]
#[rtype(result = "()")]
pub struct FromClient {
    pub connection_id: ConnectionId,
    pub frame: ClientFrame,
    pub received: Instant,
}

impl Handler<FromClient> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: FromClient, ctx: &mut Context<Self>) {
        if self.connections.contains_key(&msg.connection_id) {
            self.handle_frame(msg.connection_id, msg.frame, msg.received, ctx);
        }
    }
}

/// The transport's single cleanup path reports that a connection ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Disconnected {
    pub connection_id: ConnectionId,
}

impl Handler<Disconnected> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Disconnected, _: &mut Context<Self>) {
        self.drop_connection(msg.connection_id);
    }
}

/// A fan-out frame for every connection of this user.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Push(pub Arc<SharedFrame>);

impl Handler<Push> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Push, _: &mut Context<Self>) {
        let slow: Vec<ConnectionId> = self.connections.values().filter(|c| !c.push(&msg.0)).map(|c| c.id).collect();
        for id in slow {
            tracing::info!(user = %self.user, connection_id = id, "slow consumer: outbound queue full, closing with 4009");
            self.drop_connection(id);
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct RefreshUnread;

impl Handler<RefreshUnread> for UserSession {
    type Result = ();

    fn handle(&mut self, _: RefreshUnread, ctx: &mut Context<Self>) {
        self.push_unread(ctx);
    }
}

/// The cluster's answer to a leave: whether another live node still holds the user.
pub(crate) type Leave = std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>>;

/// The registry saw the last connection go: announce offline (unless, in cluster mode,
/// `leave` says another node still holds the user) and stop.
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Shutdown {
    pub leave: Option<Leave>,
}

impl Handler<Shutdown> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: Shutdown, ctx: &mut Context<Self>) {
        if self.connections.is_empty() {
            if self.announced {
                let (registry, user, contacts) = (self.registry.clone(), self.user, std::mem::take(&mut self.contacts));
                actix::spawn(async move {
                    let elsewhere = match msg.leave {
                        Some(leave) => leave.await,
                        None => false,
                    };
                    if !elsewhere {
                        registry.do_send(PresenceChanged { user, online: false, announce: true, contacts });
                    }
                });
            }
            ctx.stop();
        }
    }
}

/// Redis came back after an outage: tell the contacts again that this user is online
/// (other nodes may have reaped this node meanwhile).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Reannounce;

impl Handler<Reannounce> for UserSession {
    type Result = ();

    fn handle(&mut self, _: Reannounce, _: &mut Context<Self>) {
        if self.announced && !self.connections.is_empty() {
            self.registry.do_send(PresenceChanged {
                user: self.user,
                online: true,
                announce: true,
                contacts: self.contacts.clone(),
            });
        }
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct CloseAll {
    pub code: u16,
}

impl Handler<CloseAll> for UserSession {
    type Result = ();

    fn handle(&mut self, msg: CloseAll, _: &mut Context<Self>) {
        for conn in self.connections.values() {
            conn.close(msg.code, "server shutting down");
        }
    }
}
