//! SessionRegistry: where online users are. It owns the user → `UserSession` map and the
//! per-user connection count, so starting and stopping sessions never races: a session is
//! created on a user's first connection and told to stop after the last one detaches.
//! Fan-out goes through here: one lookup per recipient and a non-blocking push.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use agora_engine::UserId;
use agora_storage::Store;

use crate::connection::{ConnectionHandle, ConnectionId};
use crate::conversation::ConversationRegistry;
use crate::protocol::{Encoding, ServerFrame, SharedFrame};
use crate::session::{Attach, CloseAll, Push, RefreshUnread as SessionRefreshUnread, Shutdown, UserSession};
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
    type Result = Result<Connected, crate::ActorError>;

    fn handle(&mut self, msg: Connect, ctx: &mut Context<Self>) -> Self::Result {
        let conversations = self.conversations.clone().ok_or(crate::ActorError::Unavailable)?;
        if self.users.get(&msg.user).is_some_and(|e| e.connections >= self.config.max_connections_per_user) {
            return Err(crate::ActorError::TooManyConnections);
        }
        let connection_id = self.next_connection;
        self.next_connection += 1;
        let (handle, outbound, close_code) =
            ConnectionHandle::new(connection_id, msg.encoding, self.config.outbound_queue);
        let entry = self.users.entry(msg.user).or_insert_with(|| {
            let session = UserSession::new(msg.user, self.store.clone(), ctx.address(), conversations).start();
            Entry { addr: session, connections: 0 }
        });
        entry.connections += 1;
        entry.addr.do_send(Attach(handle));
        let session = entry.addr.clone();
        self.gauge();
        Ok(Connected { connection_id, session, outbound, close_code })
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
                entry.addr.do_send(Shutdown);
            }
        }
        self.gauge();
    }
}

/// Pushes one frame to every online user in `users`; answers the ones with no session.
#[derive(Message)]
#[rtype(result = "Vec<UserId>")]
pub struct Deliver {
    pub users: Arc<[UserId]>,
    pub frame: Arc<SharedFrame>,
}

impl Handler<Deliver> for SessionRegistry {
    type Result = MessageResult<Deliver>;

    fn handle(&mut self, msg: Deliver, _: &mut Context<Self>) -> Self::Result {
        let mut offline = Vec::new();
        for user in msg.users.iter() {
            match self.users.get(user) {
                Some(entry) => entry.addr.do_send(Push(Arc::clone(&msg.frame))),
                None => offline.push(*user),
            }
        }
        MessageResult(offline)
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
    type Result = MessageResult<PresenceChanged>;

    fn handle(&mut self, msg: PresenceChanged, _: &mut Context<Self>) -> Self::Result {
        let frame = SharedFrame::new(ServerFrame::Presence { user_id: msg.user.to_string(), online: msg.online });
        let mut online = Vec::new();
        for contact in msg.contacts {
            if contact == msg.user {
                continue;
            }
            if let Some(entry) = self.users.get(&contact) {
                if msg.announce {
                    entry.addr.do_send(Push(Arc::clone(&frame)));
                }
                online.push(contact);
            }
        }
        MessageResult(online)
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
