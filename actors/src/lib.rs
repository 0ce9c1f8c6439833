//! Agora actix actors. The realtime core:
//!
//! - [`registry::SessionRegistry`]: where online users are; starts a
//!   [`session::UserSession`] on a user's first connection and stops it after the last.
//! - [`session::UserSession`]: all of one user's connections (devices); turns client
//!   frames into typed commands and pushes fan-out frames without waiting.
//! - [`conversation::ConversationRegistry`] and [`conversation::ConversationActor`]: one
//!   actor per active conversation; assigns `seq`, persists, then acks and fans out.
//! - [`broker::NotificationBroker`] and [`broker::DigestScheduler`]: notifications with
//!   preferences, live push, unread counters, email and digests.
//!
//! The WebSocket transport lives in agora-http and talks to these actors only through the
//! typed messages here and the bounded queue in [`connection`].

pub mod broker;
pub mod connection;
pub mod contract;
pub mod conversation;
pub mod error;
pub mod mail;
pub mod protocol;
pub mod registry;
pub mod session;

use std::time::Duration;

use actix::prelude::*;
use agora_engine::UserId;
use agora_storage::{Store, StoreError};
use time::OffsetDateTime;

pub use error::ActorError;

/// Tunables of the realtime core (from the server settings).
#[derive(Debug, Clone)]
pub struct RealtimeConfig {
    /// Frames a connection may have queued before it counts as too slow (4009).
    pub outbound_queue: usize,
    /// A conversation actor with no command for this long stops.
    pub conversation_idle: Duration,
    /// How often the digest scheduler looks for due digests.
    pub digest_every: Duration,
    /// Base URL that makes the relative `action_url`s absolute in emails.
    pub public_url: String,
    /// Open connections one user may hold on this node; a connection beyond it is refused
    /// ([`ActorError::TooManyConnections`]; the transport closes it with 4008).
    pub max_connections_per_user: usize,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            outbound_queue: 1024,
            conversation_idle: Duration::from_secs(300),
            digest_every: Duration::from_secs(3600),
            public_url: "http://127.0.0.1:8080".into(),
            max_connections_per_user: 20,
        }
    }
}

/// The singleton actors, started once before the HTTP server and shared through its state.
#[derive(Clone)]
pub struct Hub {
    pub sessions: Addr<registry::SessionRegistry>,
    pub conversations: Addr<conversation::ConversationRegistry>,
    pub broker: Addr<broker::NotificationBroker>,
    pub digests: Addr<broker::DigestScheduler>,
    pub contracts: Addr<contract::ContractRegistry>,
}

impl Hub {
    /// Starts the actors on the current actix system.
    pub fn start(store: Store, mailer: mail::Mailer, config: RealtimeConfig) -> Hub {
        let mut parts = None;
        let sessions = registry::SessionRegistry::create(|ctx| {
            let mut registry = registry::SessionRegistry::new(store.clone(), config.clone());
            let broker = broker::NotificationBroker::new(
                store.clone(),
                ctx.address(),
                mailer.clone(),
                config.public_url.clone(),
            )
            .start();
            let conversations =
                conversation::ConversationRegistry::new(store.clone(), ctx.address(), broker.clone(), config.clone())
                    .start();
            registry.set_conversations(conversations.clone());
            parts = Some((conversations, broker));
            registry
        });
        let contracts = contract::ContractRegistry::new(store.clone(), config.conversation_idle).start();
        let digests = broker::DigestScheduler::new(store, mailer, config.digest_every, config.public_url).start();
        let Some((conversations, broker)) = parts else {
            unreachable!("Actor::create runs its closure before returning")
        };
        Hub { sessions, conversations, broker, digests, contracts }
    }
}

/// How many recent conversations the `unread.conversations` count looks at.
pub const UNREAD_CONVERSATION_WINDOW: usize = 100;

/// `(unread notifications, conversations with unread messages among the most recent 100)`.
pub async fn unread_counts(store: &Store, user: UserId, now: OffsetDateTime) -> Result<(i64, u64), StoreError> {
    let notifications = store.notifications().unread_count(user, now).await?;
    let (views, _) = store.chat().list_for_user(user, UNREAD_CONVERSATION_WINDOW, None).await?;
    Ok((notifications, unread_conversations(&views)))
}

/// Conversations with unread messages among the most recent `UNREAD_CONVERSATION_WINDOW`
/// of `views` (newest activity first).
pub fn unread_conversations(views: &[agora_storage::chat::MemberView]) -> u64 {
    views.iter().take(UNREAD_CONVERSATION_WINDOW).filter(|v| v.unread() > 0).count() as u64
}
