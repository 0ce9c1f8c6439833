//! ConversationRegistry and Conversation actors: one actor per active conversation,
//! started on demand and stopped when idle. The actor assigns the next `seq`, persists
//! the message (compare-and-set on the conversation head), then answers the sender and
//! fans out. Commands on one conversation never interleave (`AtomicResponse`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix::dev::ToEnvelope;
use actix::prelude::*;
use agora_engine::chat::{may_change_message, next_read_seq};
use agora_engine::{AttachmentUse, ClientMsgId, ConversationId, MessageBody, MessageId, NotificationType, UserId};
use agora_storage::attachments::AttachedTo;
use agora_storage::chat::{Conversation, Message, MessageAttachment, ReadCursor};
use agora_storage::{cas_retry, lost, Store, StoreError, Versioned};
use time::OffsetDateTime;

use crate::broker::{NewNotification, NotificationBroker, Notify};
use crate::protocol::{ServerFrame, SharedFrame};
use crate::registry::{Deliver, RefreshUnread, SessionRegistry};
use crate::{ActorError, RealtimeConfig};

/// A command for one conversation's actor.
pub trait Routed {
    fn conversation_id(&self) -> ConversationId;
}

pub struct ConversationRegistry {
    store: Store,
    sessions: Addr<SessionRegistry>,
    broker: Addr<NotificationBroker>,
    config: RealtimeConfig,
    actors: HashMap<ConversationId, Addr<ConversationActor>>,
}

impl ConversationRegistry {
    pub(crate) fn new(
        store: Store,
        sessions: Addr<SessionRegistry>,
        broker: Addr<NotificationBroker>,
        config: RealtimeConfig,
    ) -> Self {
        ConversationRegistry { store, sessions, broker, config, actors: HashMap::new() }
    }

    fn actor_for(&mut self, id: ConversationId, ctx: &mut Context<Self>) -> Addr<ConversationActor> {
        if let Some(addr) = self.actors.get(&id).filter(|a| a.connected()) {
            return addr.clone();
        }
        let actor = ConversationActor {
            id,
            store: self.store.clone(),
            sessions: self.sessions.clone(),
            broker: self.broker.clone(),
            registry: ctx.address(),
            idle_after: self.config.conversation_idle,
            head: None,
            cursors: HashMap::new(),
            typing: HashMap::new(),
            last_used: Instant::now(),
            retiring: false,
            tally: self.config.analytics_messages.clone(),
        };
        let addr = actor.start();
        self.actors.insert(id, addr.clone());
        metrics::gauge!("agora_conversation_actors").set(self.actors.len() as f64);
        addr
    }
}

impl Actor for ConversationRegistry {
    type Context = Context<Self>;
}

impl<M, T> Handler<M> for ConversationRegistry
where
    M: actix::Message<Result = Result<T, ActorError>> + Routed + Send + 'static,
    T: Send + 'static,
    ConversationActor: Handler<M>,
    <ConversationActor as Actor>::Context: ToEnvelope<ConversationActor, M>,
{
    type Result = ResponseFuture<Result<T, ActorError>>;

    fn handle(&mut self, msg: M, ctx: &mut Context<Self>) -> Self::Result {
        let addr = self.actor_for(msg.conversation_id(), ctx);
        Box::pin(async move { addr.send(msg).await? })
    }
}

/// An idle actor asks to be retired; the registry forgets it, then tells it to stop, so
/// every command routed to it before is still handled.
#[derive(Message)]
#[rtype(result = "()")]
struct Retire {
    id: ConversationId,
    addr: Addr<ConversationActor>,
}

impl Handler<Retire> for ConversationRegistry {
    type Result = ();

    fn handle(&mut self, msg: Retire, _: &mut Context<Self>) {
        if self.actors.get(&msg.id).is_some_and(|a| *a == msg.addr) {
            self.actors.remove(&msg.id);
        }
        msg.addr.do_send(Stop);
        metrics::gauge!("agora_conversation_actors").set(self.actors.len() as f64);
    }
}

/// How many conversation actors are running (for tests and diagnostics).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct ActiveConversations;

impl Handler<ActiveConversations> for ConversationRegistry {
    type Result = usize;

    fn handle(&mut self, _: ActiveConversations, _: &mut Context<Self>) -> usize {
        self.actors.len()
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Stop;

pub struct ConversationActor {
    id: ConversationId,
    store: Store,
    sessions: Addr<SessionRegistry>,
    broker: Addr<NotificationBroker>,
    registry: Addr<ConversationRegistry>,
    idle_after: Duration,
    /// `None` when the conversation does not exist (every command answers not found).
    head: Option<Versioned<Conversation>>,
    cursors: HashMap<UserId, ReadCursor>,
    /// Typing token buckets per member: (tokens, last refill, last forwarded state).
    typing: HashMap<UserId, (f64, Instant, bool)>,
    last_used: Instant,
    retiring: bool,
    /// Messages sent per sender, for analytics (a count, never a body).
    tally: crate::analytics::MessageTally,
}

/// Typing frames: a burst of 3, then one per second, per member and conversation.
const TYPING_BURST: f64 = 3.0;
const TYPING_PER_SEC: f64 = 1.0;

impl ConversationActor {
    fn member_head(&mut self, user: UserId) -> Result<Versioned<Conversation>, ActorError> {
        self.last_used = Instant::now();
        match &self.head {
            Some(h) if h.value.is_member(user) => Ok(h.clone()),
            _ => Err(ActorError::NotFound),
        }
    }

    fn fan_out(&self, frame: ServerFrame, origin: Option<Instant>, except: Option<UserId>) {
        let Some(head) = &self.head else { return };
        let users: Arc<[UserId]> = head.value.members.iter().copied().filter(|m| Some(*m) != except).collect();
        let frame = match origin {
            Some(o) => SharedFrame::with_origin(frame, o),
            None => SharedFrame::new(frame),
        };
        self.sessions.do_send(Deliver { users, frame, answer_offline: false });
    }

    fn reject<T: 'static>(err: ActorError) -> AtomicResponse<Self, Result<T, ActorError>> {
        AtomicResponse::new(Box::pin(fut::ready(Err(err))))
    }

    /// Members who were offline when a message was delivered get one `message`
    /// notification per unread burst.
    fn notify_offline(&mut self, offline: Vec<UserId>, message: &Message, ctx: &mut Context<Self>) {
        let title = match self.head.as_ref().and_then(|h| h.value.title.clone()) {
            Some(t) => format!("New message in {t}"),
            None => "New message".to_string(),
        };
        for user in offline {
            let cursor = self.cursors.entry(user).or_default();
            if cursor.notified || user == message.sender_id {
                continue;
            }
            cursor.notified = true;
            let updated = *cursor;
            self.broker.do_send(Notify(NewNotification {
                user,
                kind: NotificationType::Message,
                title: title.clone(),
                message: agora_engine::notification::clip(&message.body, 140),
                action_url: Some(format!("/conversations/{}", self.id)),
                actor_id: Some(message.sender_id),
                object_type: Some("conversation".into()),
                object_id: Some(self.id.to_string()),
                expires_at: None,
                id: None,
            }));
            let (store, id) = (self.store.clone(), self.id);
            ctx.spawn(
                async move {
                    if let Err(e) = store.chat().set_read_cursor(id, user, updated).await {
                        tracing::error!(conversation = %id, %user, error = %e, "saving notified flag failed");
                    }
                }
                .into_actor(self),
            );
        }
    }
}

impl Actor for ConversationActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        ctx.set_mailbox_capacity(1024);
        let (store, id) = (self.store.clone(), self.id);
        // Commands wait until the head is loaded (and a half-finished append repaired).
        ctx.wait(
            async move {
                let Some(head) = store.chat().get(id).await? else { return Ok(None) };
                store.chat().roll_forward(&head.value).await?;
                let cursors = store.chat().read_cursors(id).await?;
                Ok::<_, StoreError>(Some((head, cursors)))
            }
            .into_actor(self)
            .map(|res, act, ctx| match res {
                Ok(Some((head, cursors))) => {
                    act.head = Some(head);
                    act.cursors = cursors.into_iter().collect();
                }
                Ok(None) => act.head = None,
                Err(e) => {
                    // Storage failed: stop; the registry starts a fresh actor on the next command.
                    tracing::error!(conversation = %act.id, error = %e, "loading conversation failed");
                    ctx.stop();
                }
            }),
        );
        let every = (self.idle_after / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, |act, ctx| {
            if !act.retiring && act.last_used.elapsed() >= act.idle_after {
                act.retiring = true;
                act.registry.do_send(Retire { id: act.id, addr: ctx.address() });
            }
        });
    }
}

impl Handler<Stop> for ConversationActor {
    type Result = ();

    fn handle(&mut self, _: Stop, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// What a successful send answers.
#[derive(Debug, Clone)]
pub struct Sent {
    pub message: Message,
    /// The client message id had been used before: this is the original message.
    pub duplicate: bool,
}

#[derive(Message)]
#[rtype(result = "Result<Sent, ActorError>")]
pub struct SendMessage {
    pub conversation_id: ConversationId,
    pub sender: UserId,
    pub body: MessageBody,
    pub client_msg_id: Option<ClientMsgId>,
    /// Uploaded attachments of the sender's to send with the message (at most 10).
    pub attachments: Vec<agora_engine::AttachmentId>,
    /// When the request arrived (for the send → durable → delivered histogram).
    pub origin: Instant,
}

impl Routed for SendMessage {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<SendMessage> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Sent, ActorError>>;

    fn handle(&mut self, msg: SendMessage, _: &mut Context<Self>) -> Self::Result {
        let head = match self.member_head(msg.sender) {
            Ok(h) => h,
            Err(e) => return Self::reject(e),
        };
        let store = self.store.clone();
        let origin = msg.origin;
        let work = async move {
            let chat = store.chat();
            if !chat.blocked_by(msg.sender, &head.value.members).await?.is_empty() {
                return Err(ActorError::Blocked);
            }
            let cmid = msg.client_msg_id.as_ref().map(|c| c.as_str().to_string());
            let (chat, msg, cmid, store) = (&chat, &msg, &cmid, &store);
            // The first attempt uses the actor's head; after a lost race the head is read
            // again (another node, or a retired actor, moved it) and rolled forward.
            let cached = std::sync::Mutex::new(Some(head));
            let cached = &cached;
            cas_retry(|| async move {
                let taken = cached.lock().unwrap_or_else(|p| p.into_inner()).take();
                let head = match taken {
                    Some(h) => h,
                    None => {
                        let h = chat.get(msg.conversation_id).await?.ok_or(ActorError::NotFound)?;
                        chat.roll_forward(&h.value).await?;
                        h
                    }
                };
                if let Some(cmid) = cmid {
                    if let Some(ack) = chat.find_by_client_id(head.value.id, msg.sender, cmid).await? {
                        let message = chat.get_message(ack.message_id).await?.ok_or(ActorError::NotFound)?;
                        return Ok(Some((head, Sent { message, duplicate: true }, None)));
                    }
                }
                let files = if msg.attachments.is_empty() {
                    Vec::new()
                } else {
                    crate::attachments::claimable(store, msg.sender, &msg.attachments, AttachmentUse::Message).await?
                };
                let message = Message {
                    id: MessageId::from_uuid(uuid::Uuid::now_v7()),
                    conversation_id: head.value.id,
                    seq: head.value.last_seq + 1,
                    sender_id: msg.sender,
                    body: msg.body.as_str().to_string(),
                    sent_at: OffsetDateTime::now_utc(),
                    client_msg_id: cmid.clone(),
                    edited_at: None,
                    deleted: false,
                    attachments: files.iter().map(MessageAttachment::from).collect(),
                };
                let Some(next) = lost(chat.commit(&head, &message).await)? else { return Ok(None) };
                // Committed: the files now belong to the message (and only its
                // conversation's members may download them).
                let target = AttachedTo::Message { conversation_id: message.conversation_id, message_id: message.id };
                for f in &files {
                    if let Err(e) = store.attachments().attach(f.id, msg.sender, target).await {
                        tracing::warn!(attachment = %f.id, error = %e, "attachment not claimed by its message");
                    }
                }
                metrics::histogram!("agora_message_latency_seconds", "stage" => "durable")
                    .record(origin.elapsed().as_secs_f64());
                Ok(Some((next, Sent { message, duplicate: false }, Some(head.value))))
            })
            .await
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |res, act, ctx| {
            let (head, sent, prev) = match res {
                Ok(r) => r,
                Err(e) => {
                    // The head may have moved under us: reload it before the next command.
                    if matches!(e, ActorError::Storage(_)) {
                        act.reload(ctx);
                    }
                    return Err(e);
                }
            };
            act.head = Some(head.clone());
            let Some(prev) = prev else { return Ok(sent) };
            act.tally.add(sent.message.sender_id);
            // The message is durable (the head holds it): the ack goes out now, and its
            // derived rows are written before this actor takes its next command.
            let (store, message, sender) = (act.store.clone(), sent.message.clone(), sent.message.sender_id);
            let cursor = ReadCursor { seq: sent.message.seq, notified: false };
            act.cursors.insert(sender, cursor);
            ctx.wait(
                async move {
                    let chat = store.chat();
                    futures_util::future::try_join(
                        chat.finish(&prev, &head.value, &message),
                        chat.set_read_cursor(head.value.id, sender, cursor),
                    )
                    .await
                }
                .into_actor(act)
                .map(|res, act, ctx| {
                    if let Err(e) = res {
                        tracing::error!(conversation = %act.id, error = %e, "writing message rows failed; reloading");
                        act.reload(ctx);
                    }
                }),
            );
            let Some(members) = act.head.as_ref().map(|h| Arc::<[UserId]>::from(h.value.members.clone())) else {
                return Ok(sent);
            };
            let frame = SharedFrame::with_origin(ServerFrame::message(&sent.message), origin);
            let message = sent.message.clone();
            ctx.spawn(act.sessions.send(Deliver { users: members, frame, answer_offline: true }).into_actor(act).map(
                move |offline, act, ctx| {
                    if let Ok(offline) = offline {
                        act.notify_offline(offline, &message, ctx);
                    }
                },
            ));
            Ok(sent)
        })))
    }
}

impl ConversationActor {
    /// Reloads the head and finishes its last append (roll-forward) before the next command.
    fn reload(&mut self, ctx: &mut Context<Self>) {
        let (store, id) = (self.store.clone(), self.id);
        let work = async move {
            let head = store.chat().get(id).await?;
            if let Some(h) = &head {
                store.chat().roll_forward(&h.value).await?;
            }
            Ok::<_, StoreError>(head)
        };
        ctx.wait(work.into_actor(self).map(|res, act, _| match res {
            Ok(head) => act.head = head,
            Err(e) => tracing::error!(conversation = %act.id, error = %e, "reloading conversation failed"),
        }));
    }

    fn change(
        &mut self,
        actor: UserId,
        message_id: MessageId,
        body: Option<MessageBody>,
    ) -> AtomicResponse<Self, Result<Message, ActorError>> {
        let head = match self.member_head(actor) {
            Ok(h) => h,
            Err(e) => return Self::reject(e),
        };
        let store = self.store.clone();
        let work = async move {
            let chat = store.chat();
            let mut message = chat.get_message(message_id).await?.ok_or(ActorError::NotFound)?;
            if message.conversation_id != head.value.id {
                return Err(ActorError::NotFound);
            }
            may_change_message(actor, message.sender_id, message.deleted)?;
            // A sender blocked by a member may no longer change what that member sees,
            // exactly as it may no longer send (same check, same `blocked` refusal).
            if !chat.blocked_by(actor, &head.value.members).await?.is_empty() {
                return Err(ActorError::Blocked);
            }
            match body {
                Some(b) => {
                    message.body = b.into_string();
                    message.edited_at = Some(OffsetDateTime::now_utc());
                }
                None => {
                    message.body = String::new();
                    message.deleted = true;
                }
            }
            let (chat, message) = (&chat, &message);
            let cached = std::sync::Mutex::new(Some(head));
            let cached = &cached;
            cas_retry(|| async move {
                let taken = cached.lock().unwrap_or_else(|p| p.into_inner()).take();
                let head = match taken {
                    Some(h) => h,
                    None => chat.get(message.conversation_id).await?.ok_or(ActorError::NotFound)?,
                };
                Ok(lost(chat.save_message(&head, message).await)?.map(|next| (next, message.clone())))
            })
            .await
        };
        let store = self.store.clone();
        let work = async move {
            let (head, message) = work.await?;
            if message.deleted {
                // The deleted message lets its files go: they wait out the unattached
                // grace period, then the sweeper removes them (and their last blobs).
                let target = AttachedTo::Message { conversation_id: message.conversation_id, message_id: message.id };
                let now = OffsetDateTime::now_utc();
                for a in &message.attachments {
                    if let Err(e) = store.attachments().detach(a.id, target, now).await {
                        tracing::warn!(attachment = %a.id, error = %e, "a deleted message's attachment was not released");
                    }
                }
            }
            Ok::<_, ActorError>((head, message))
        };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(|res, act, _| {
            let (head, message) = res?;
            act.head = Some(head);
            let frame = if message.deleted {
                ServerFrame::MessageDeleted {
                    conversation_id: message.conversation_id.to_string(),
                    message_id: message.id.to_string(),
                    seq: message.seq,
                }
            } else {
                ServerFrame::MessageEdited {
                    conversation_id: message.conversation_id.to_string(),
                    message_id: message.id.to_string(),
                    seq: message.seq,
                    body: message.body.clone(),
                    edited_at: message.edited_at.map(crate::protocol::rfc3339).unwrap_or_default(),
                }
            };
            act.fan_out(frame, None, None);
            Ok(message)
        })))
    }
}

#[derive(Message)]
#[rtype(result = "Result<Message, ActorError>")]
pub struct EditMessage {
    pub conversation_id: ConversationId,
    pub actor: UserId,
    pub message_id: MessageId,
    pub body: MessageBody,
}

impl Routed for EditMessage {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<EditMessage> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Message, ActorError>>;

    fn handle(&mut self, msg: EditMessage, _: &mut Context<Self>) -> Self::Result {
        self.change(msg.actor, msg.message_id, Some(msg.body))
    }
}

#[derive(Message)]
#[rtype(result = "Result<Message, ActorError>")]
pub struct DeleteMessage {
    pub conversation_id: ConversationId,
    pub actor: UserId,
    pub message_id: MessageId,
}

impl Routed for DeleteMessage {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<DeleteMessage> for ConversationActor {
    type Result = AtomicResponse<Self, Result<Message, ActorError>>;

    fn handle(&mut self, msg: DeleteMessage, _: &mut Context<Self>) -> Self::Result {
        self.change(msg.actor, msg.message_id, None)
    }
}

/// Marks the conversation read up to `seq` for `user`; answers the cursor afterwards.
#[derive(Message)]
#[rtype(result = "Result<u64, ActorError>")]
pub struct MarkRead {
    pub conversation_id: ConversationId,
    pub user: UserId,
    pub seq: u64,
}

impl Routed for MarkRead {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<MarkRead> for ConversationActor {
    type Result = AtomicResponse<Self, Result<u64, ActorError>>;

    fn handle(&mut self, msg: MarkRead, _: &mut Context<Self>) -> Self::Result {
        let head = match self.member_head(msg.user) {
            Ok(h) => h,
            Err(e) => return Self::reject(e),
        };
        let current = self.cursors.get(&msg.user).copied().unwrap_or_default();
        let Some(seq) = next_read_seq(current.seq, msg.seq, head.value.last_seq) else {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(current.seq))));
        };
        let (store, id, user) = (self.store.clone(), self.id, msg.user);
        let cursor = ReadCursor { seq, notified: false };
        let work = async move { store.chat().set_read_cursor(id, user, cursor).await };
        AtomicResponse::new(Box::pin(work.into_actor(self).map(move |res, act, _| {
            res?;
            act.cursors.insert(user, cursor);
            act.fan_out(
                ServerFrame::Read { conversation_id: id.to_string(), user_id: user.to_string(), seq },
                None,
                None,
            );
            act.sessions.do_send(RefreshUnread { user });
            Ok(seq)
        })))
    }
}

/// Ephemeral: forwarded to the other members' sessions, never stored.
#[derive(Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct Typing {
    pub conversation_id: ConversationId,
    pub user: UserId,
    pub active: bool,
}

impl Routed for Typing {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<Typing> for ConversationActor {
    type Result = Result<(), ActorError>;

    fn handle(&mut self, msg: Typing, _: &mut Context<Self>) -> Self::Result {
        self.member_head(msg.user)?;
        let now = Instant::now();
        let (tokens, last, was_active) = self.typing.entry(msg.user).or_insert((TYPING_BURST, now, false));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * TYPING_PER_SEC).min(TYPING_BURST);
        *last = now;
        // Stopping is always let through after a start, so indicators never get stuck.
        let free = !msg.active && *was_active;
        if !free {
            if *tokens < 1.0 {
                metrics::counter!("agora_ws_frames_dropped_total", "reason" => "typing_rate").increment(1);
                return Err(ActorError::RateLimited("typing"));
            }
            *tokens -= 1.0;
        }
        *was_active = msg.active;
        let frame = ServerFrame::Typing {
            conversation_id: self.id.to_string(),
            user_id: msg.user.to_string(),
            active: msg.active,
        };
        self.fan_out(frame, None, Some(msg.user));
        Ok(())
    }
}

/// The conversation head as the actor holds it (members only), for REST reads that must
/// agree with live state.
#[derive(Message)]
#[rtype(result = "Result<Conversation, ActorError>")]
pub struct GetHead {
    pub conversation_id: ConversationId,
    pub user: UserId,
}

impl Routed for GetHead {
    fn conversation_id(&self) -> ConversationId {
        self.conversation_id
    }
}

impl Handler<GetHead> for ConversationActor {
    type Result = Result<Conversation, ActorError>;

    fn handle(&mut self, msg: GetHead, _: &mut Context<Self>) -> Self::Result {
        self.member_head(msg.user).map(|h| h.value)
    }
}
