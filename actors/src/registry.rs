//! SessionRegistry: where online users are. It owns the user → `UserSession` map and the
//! per-user connection count, so starting and stopping sessions never races: a session is
//! created on a user's first connection and told to stop after the last one detaches.
//! Fan-out goes through here: one lookup per recipient and a non-blocking push.
//!
//! In cluster mode ([`crate::cluster`]) the registry is also this node's end of the
//! cluster: a user's first session here joins the user's channel and registers the
//! presence, the last one leaves; every frame fanned out here is published once for the
//! other nodes, and what they publish for this node's users arrives as [`Inbound`].

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use agora_engine::UserId;
use agora_storage::Store;

use crate::cluster::{Cluster, Inbound};
use crate::connection::{ConnectionHandle, ConnectionId};
use crate::conversation::ConversationRegistry;
use crate::protocol::{Encoding, ServerFrame, SharedFrame};
use crate::session::{
    Attach, CloseAll, Push, Reannounce, RefreshUnread as SessionRefreshUnread, Shutdown, UserSession,
};
use crate::RealtimeConfig;

struct Entry {
    addr: Addr<UserSession>,
    connections: usize,
}

pub struct SessionRegistry {
    store: Store,
    config: RealtimeConfig,
    conversations: Option<Addr<ConversationRegistry>>,
    users: HashMap<UserId, Entry>,
    next_connection: ConnectionId,
}

impl SessionRegistry {
    pub(crate) fn new(store: Store, config: RealtimeConfig) -> Self {
        SessionRegistry { store, config, conversations: None, users: HashMap::new(), next_connection: 1 }
    }

    pub(crate) fn set_conversations(&mut self, conversations: Addr<ConversationRegistry>) {
        self.conversations = Some(conversations);
    }

    /// Cluster mode's link to Redis, if on.
    fn cluster(&self) -> Option<&Cluster> {
        self.config.cluster.as_ref()
    }

    fn gauge(&self) {
        metrics::gauge!("agora_online_users").set(self.users.len() as f64);
    }
}

impl Actor for SessionRegistry {
    type Context = Context<Self>;
}

/// A new WebSocket for `user`: answers the connection id, the session to talk to, the
/// receive half of the bounded outbound queue and the transport's close-code cell.
#[derive(Message)]
#[rtype(result = "Result<Connected, crate::ActorError>")]
pub struct Connect {
    pub user: UserId,
    pub encoding: Encoding,
}

pub struct Connected {
    pub connection_id: ConnectionId,
    pub session: Addr<UserSession>,
    pub outbound: tokio::sync::mpsc::Receiver<crate::connection::Outbound>,
    pub close_code: Arc<std::sync::atomic::AtomicU16>,
}

impl Handler<Connect> for SessionRegistry {
    type Result = ResponseFuture<Result<Connected, crate::ActorError>>;

    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) -> Self::Result {
        let Some(conversations) = self.conversations.clone() else {
            return Box::pin(async { Err(crate::ActorError::Unavailable) });
        };
        if self.users.get(&msg.user).is_some_and(|e| e.connections >= self.config.max_connections_per_user) {
            return Box::pin(async { Err(crate::ActorError::TooManyConnections) });
        }
        let connection_id = self.next_connection;
        self.next_connection += 1;
        let (handle, outbound, close_code) =
            ConnectionHandle::new(connection_id, msg.encoding, self.config.outbound_queue);
        let fresh = !self.users.contains_key(&msg.user);
        let entry = self.users.entry(msg.user).or_insert_with(|| {
            let session = UserSession::new(msg.user, self.store.clone(), ctx.address(), conversations).start();
            Entry { addr: session, connections: 0 }
        });
        entry.connections += 1;
        let session = entry.addr.clone();
        self.gauge();
        // A user's first session here joins the cluster first: the connection is handed over
        // once the user's channel is subscribed, so nothing published after `hello` is missed.
        let join = self.cluster().filter(|_| fresh).map(|c| c.join(msg.user));
        Box::pin(async move {
            // A Redis that hangs must not hold the connection up: after a second, go on as if
            // the user were nowhere else (the worst case is one extra `presence` frame).
            let elsewhere = match join {
                Some(join) => tokio::time::timeout(std::time::Duration::from_secs(1), join).await.unwrap_or(false),
                None => false,
            };
            session.do_send(Attach { handle, elsewhere });
            Ok(Connected { connection_id, session, outbound, close_code })
        })
    }
}

/// A session lost a connection (closed, failed or too slow). Sent exactly once per connection.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Detached {
    pub user: UserId,
    pub connection_id: ConnectionId,
}

impl Handler<Detached> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, msg: Detached, _: &mut Context<Self>) {
        let Some(entry) = self.users.get_mut(&msg.user) else { return };
        entry.connections = entry.connections.saturating_sub(1);
        if entry.connections == 0 {
            if let Some(entry) = self.users.remove(&msg.user) {
                let leave = self.cluster().map(|c| Box::pin(c.leave(msg.user)) as crate::session::Leave);
                entry.addr.do_send(Shutdown { leave });
            }
        }
        self.gauge();
    }
}

/// Pushes one frame to every online user in `users`. With `answer_offline`, answers those
/// online nowhere (in cluster mode: on no live node); otherwise answers nothing.
#[derive(Message)]
#[rtype(result = "Vec<UserId>")]
pub struct Deliver {
    pub users: Arc<[UserId]>,
    pub frame: Arc<SharedFrame>,
    pub answer_offline: bool,
}

impl Handler<Deliver> for SessionRegistry {
    type Result = ResponseFuture<Vec<UserId>>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let mut offline = Vec::new();
        for user in msg.users.iter() {
            match self.users.get(user) {
                Some(entry) => entry.addr.do_send(Push(Arc::clone(&msg.frame))),
                None => offline.push(*user),
            }
        }
        let Some(cluster) = self.cluster().cloned() else {
            return Box::pin(async move {
                if msg.answer_offline {
                    offline
                } else {
                    Vec::new()
                }
            });
        };
        // A user may also be connected to another node (another device): every recipient's
        // channel gets the frame; the nodes without that user's connections are not subscribed.
        cluster.frame(Arc::clone(&msg.users), &msg.frame);
        if !msg.answer_offline || offline.is_empty() {
            return Box::pin(async { Vec::new() });
        }
        Box::pin(async move {
            let elsewhere = cluster.online_elsewhere(&offline).await;
            offline.retain(|u| !elsewhere.contains(u));
            offline
        })
    }
}

/// `user` came online or went offline: when `announce`, tell those of `contacts` who are
/// online; always answer which contacts are online.
#[derive(Message)]
#[rtype(result = "Vec<UserId>")]
pub struct PresenceChanged {
    pub user: UserId,
    pub online: bool,
    pub announce: bool,
    pub contacts: Vec<UserId>,
}

impl Handler<PresenceChanged> for SessionRegistry {
    type Result = ResponseFuture<Vec<UserId>>;

    fn handle(&mut self, msg: PresenceChanged, _: &mut Context<Self>) -> Self::Result {
        let frame = SharedFrame::new(ServerFrame::Presence { user_id: msg.user.to_string(), online: msg.online });
        let others: Arc<[UserId]> = msg.contacts.iter().copied().filter(|c| *c != msg.user).collect();
        let mut online = Vec::new();
        let mut elsewhere = Vec::new();
        for &contact in others.iter() {
            match self.users.get(&contact) {
                Some(entry) => {
                    if msg.announce {
                        entry.addr.do_send(Push(Arc::clone(&frame)));
                    }
                    online.push(contact);
                }
                None => elsewhere.push(contact),
            }
        }
        let Some(cluster) = self.cluster().cloned() else { return Box::pin(async move { online }) };
        if msg.announce {
            cluster.frame(others, &frame);
        }
        Box::pin(async move {
            online.extend(cluster.online_elsewhere(&elsewhere).await);
            online
        })
    }
}

/// Recompute and push the `unread` frame to `user`'s connections, if online.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RefreshUnread {
    pub user: UserId,
}

impl Handler<RefreshUnread> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, msg: RefreshUnread, _: &mut Context<Self>) {
        if let Some(entry) = self.users.get(&msg.user) {
            entry.addr.do_send(SessionRefreshUnread);
        }
        if let Some(cluster) = self.cluster() {
            cluster.refresh_unread(msg.user);
        }
    }
}

impl Handler<Inbound> for SessionRegistry {
    type Result = ();

    fn handle(&mut self, msg: Inbound, ctx: &mut Context<Self>) {
        match msg {
            Inbound::Frame { user, frame } => {
                if let Some(entry) = self.users.get(&user) {
                    entry.addr.do_send(Push(frame));
                }
            }
            Inbound::RefreshUnread { user } => {
                if let Some(entry) = self.users.get(&user) {
                    entry.addr.do_send(SessionRefreshUnread);
                }
            }
            Inbound::WentOffline { users } => {
                // Their contacts come from storage (their sessions were on the dead node).
                let (store, me) = (self.store.clone(), ctx.address());
                actix::spawn(async move {
                    for user in users {
                        match crate::session::contacts_of(&store, user).await {
                            Ok(contacts) => {
                                let _ =
                                    me.send(PresenceChanged { user, online: false, announce: true, contacts }).await;
                            }
                            Err(e) => tracing::error!(%user, error = %e, "loading contacts to announce offline failed"),
                        }
                    }
                });
            }
            Inbound::Resubscribed => {
                for entry in self.users.values() {
                    entry.addr.do_send(Reannounce);
                }
            }
        }
    }
}

/// Whether `user` has at least one live connection on this node.
#[derive(Message)]
#[rtype(result = "bool")]
pub struct IsOnline(pub UserId);

impl Handler<IsOnline> for SessionRegistry {
    type Result = bool;

    fn handle(&mut self, msg: IsOnline, _: &mut Context<Self>) -> bool {
        self.users.contains_key(&msg.0)
    }
}

/// Server shutdown: close every connection with `code` (1001).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct CloseEveryone {
    pub code: u16,
}

impl Handler<CloseEveryone> for SessionRegistry {
    type Result = usize;

    fn handle(&mut self, msg: CloseEveryone, _: &mut Context<Self>) -> usize {
        for entry in self.users.values() {
            entry.addr.do_send(CloseAll { code: msg.code });
        }
        self.users.values().map(|e| e.connections).sum()
    }
}
