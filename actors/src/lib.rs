//! Agora actix actors. The realtime core:
//!
//! - [`registry::SessionRegistry`]: where online users are; starts a
//!   [`session::UserSession`] on a user's first connection and stops it after the last.
//! - [`session::UserSession`]: all of one user's connections (devices); turns client
//!   frames into typed commands and pushes fan-out frames without waiting.
//! - [`conversation::ConversationRegistry`] and [`conversation::ConversationActor`]: one
//!   actor per active conversation; assigns `seq`, persists, then acks and fans out.
//! - [`broker::NotificationBroker`] and the digest job ([`broker::run_digests`]): notifications with
//!   preferences, live push, unread counters, email and digests.
//!
//! The application layer:
//!
//! - [`market::Market`]: marketplace commands, one worker per aggregate; the intent
//!   [`market::sweeper::sweep`] (a [`periodic::Periodic`] job) repairs multi-step operations a crash interrupted.
//! - [`bus::Bus`]: domain events after durable writes, to the [`subscribers`]
//!   (notification copy, search projector, rating aggregates, analytics).
//!
//! The WebSocket transport lives in agora-http and talks to these actors only through the
//! typed messages here and the bounded queue in [`connection`].

pub mod analytics;
pub mod attachments;
pub mod blob;
pub mod broker;
pub mod bus;
pub mod cluster;
pub mod connection;
pub mod conversation;
pub mod error;
pub mod gateway;
pub mod mail;
pub mod market;
pub mod periodic;
pub mod protocol;
pub mod registry;
pub mod session;
pub mod subscribers;

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
    /// How often the intent sweeper looks for interrupted operations, and how old an
    /// intent must be before it counts as interrupted.
    pub sweep_every: Duration,
    pub sweep_grace: Duration,
    /// How long a requested booking holds its slot (providers with working hours).
    pub booking_hold: Duration,
    /// How often the reminder scheduler looks for due booking reminders.
    pub reminder_every: Duration,
    /// Test-only fault injection: the step at which the process aborts.
    pub fault_at: Option<String>,
    /// The platform fee on released escrow, in basis points (1000 = 10 %).
    pub fee_bps: u32,
    /// How long a client has to answer a submitted milestone before it is released, and how
    /// often the job that releases them runs.
    pub milestone_review: Duration,
    pub auto_release_every: Duration,
    /// The HMAC secret of payment gateway webhooks.
    pub webhook_secret: Secret,
    /// Open connections one user may hold on this node; a connection beyond it is refused
    /// ([`ActorError::TooManyConnections`]; the transport closes it with 4008).
    pub max_connections_per_user: usize,
    /// Analytics retention and rollup timing.
    pub analytics: analytics::AnalyticsSettings,
    /// Messages sent since the last analytics flush (shared by the conversation actors).
    pub analytics_messages: analytics::MessageTally,
    /// Cluster mode: the link to Redis (fan-out, presence, events). `None`: one node.
    pub cluster: Option<cluster::Cluster>,
}

impl Default for RealtimeConfig {
    fn default() -> Self {
        RealtimeConfig {
            outbound_queue: 1024,
            conversation_idle: Duration::from_secs(300),
            digest_every: Duration::from_secs(3600),
            public_url: "http://127.0.0.1:8080".into(),
            sweep_every: Duration::from_secs(30),
            sweep_grace: Duration::from_secs(60),
            booking_hold: Duration::from_secs(15 * 60),
            reminder_every: Duration::from_secs(30),
            fault_at: None,
            max_connections_per_user: 20,
            fee_bps: 1000,
            milestone_review: Duration::from_secs(14 * 86_400),
            auto_release_every: Duration::from_secs(60),
            webhook_secret: Secret::default(),
            analytics: analytics::AnalyticsSettings::default(),
            analytics_messages: analytics::MessageTally::default(),
            cluster: None,
        }
    }
}

/// A secret that never shows in logs (`Debug` prints `<redacted>`). The default is random.
#[derive(Clone)]
pub struct Secret(std::sync::Arc<[u8]>);

impl Secret {
    pub fn new(bytes: Vec<u8>) -> Secret {
        Secret(bytes.into())
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl Default for Secret {
    fn default() -> Self {
        let mut b = uuid::Uuid::new_v4().as_bytes().to_vec();
        b.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        Secret::new(b)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The singleton actors, started once before the HTTP server and shared through its state.
#[derive(Clone)]
pub struct Hub {
    pub sessions: Addr<registry::SessionRegistry>,
    pub conversations: Addr<conversation::ConversationRegistry>,
    pub broker: Addr<broker::NotificationBroker>,
    /// The digest job.
    pub digests: Addr<periodic::Periodic>,
    /// Marketplace commands.
    pub market: Addr<market::Market>,
    /// What commands run with (store, bus, fault hook): also for the start-up sweep.
    pub cx: market::Cx,
    /// The catalog search index; only the search projector writes it.
    pub search: std::sync::Arc<agora_storage::search::SearchIndex>,
    /// The analytics subscriber (asked how many writes are in flight).
    pub analytics: Addr<subscribers::analytics::Analytics>,
}

impl Hub {
    /// Starts the actors on the current actix system.
    pub fn start(store: Store, mailer: mail::Mailer, config: RealtimeConfig) -> Result<Hub, StoreError> {
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
        let digests = {
            let (store, mailer, base) =
                (store.clone(), mailer, std::sync::Arc::<str>::from(config.public_url.as_str()));
            periodic::Periodic::new("digests", config.digest_every, move |now| {
                let (store, mailer, base) = (store.clone(), mailer.clone(), std::sync::Arc::clone(&base));
                async move { broker::run_digests(&store, &mailer, &base, now).await }
            })
            .start()
        };
        let Some((conversations, broker)) = parts else {
            unreachable!("Actor::create runs its closure before returning")
        };
        let local_bus = std::sync::Arc::new(bus::LocalBus::default());
        let bus = match &config.cluster {
            Some(c) => bus::Bus::new(std::sync::Arc::new(bus::ClusterBus::new(local_bus.clone(), c.clone()))),
            None => bus::Bus::new(local_bus.clone()),
        };
        let search = std::sync::Arc::new(agora_storage::search::SearchIndex::new()?);
        bus.subscribe(
            "notifications",
            bus::Reach::Origin,
            subscribers::templates::notifies,
            subscribers::notify::Notifier::new(broker.clone()).start().recipient(),
        );
        let projector = subscribers::search::SearchProjector::new(store.clone(), search.clone()).start();
        bus.subscribe("search", bus::Reach::EveryNode, subscribers::search::wants, projector.clone().recipient());
        let ratings = subscribers::ratings::RatingAggregator::new(store.clone(), bus.clone()).start();
        bus.subscribe("ratings", bus::Reach::Origin, subscribers::ratings::wants, ratings.recipient());
        let analytics =
            subscribers::analytics::Analytics::new(store.clone(), config.fee_bps, config.analytics.retention).start();
        bus.subscribe("analytics", bus::Reach::Origin, subscribers::analytics::wants, analytics.clone().recipient());
        bus.subscribe(
            "reminders",
            bus::Reach::Origin,
            subscribers::reminders::wants,
            subscribers::reminders::ReminderPlanner::new(store.clone()).start().recipient(),
        );
        let faults = market::Faults::new(config.fault_at.clone());
        {
            let (store, broker, faults) = (store.clone(), broker.clone(), faults.clone());
            periodic::Periodic::new("reminders", config.reminder_every, move |now| {
                let (store, broker, faults) = (store.clone(), broker.clone(), faults.clone());
                async move { subscribers::reminders::send_due(&store, &broker, &faults, now).await }
            })
            .start();
        }
        let gateway: std::sync::Arc<dyn gateway::PaymentGateway> =
            std::sync::Arc::new(gateway::sandbox::SandboxGateway::new(store.clone()));
        let cx = market::Cx {
            store,
            bus,
            faults,
            booking_hold: config.booking_hold,
            gateway,
            webhook_secret: config.webhook_secret.clone(),
            analytics: config.analytics,
            payments: market::PaymentSettings {
                fee_bps: config.fee_bps,
                review_period: time::Duration::try_from(config.milestone_review).unwrap_or(time::Duration::days(14)),
            },
        };
        let market = market::Market::new(cx.clone(), config.conversation_idle).start();
        {
            let (cx, market) = (cx.clone(), market.clone());
            periodic::Periodic::new("auto_release", config.auto_release_every, move |now| {
                let (cx, market) = (cx.clone(), market.clone());
                async move { market::milestones::release_due(&cx, &market, now).await }
            })
            .start();
        }
        {
            let cx = cx.clone();
            periodic::Periodic::new("gateway_outbox", Duration::from_millis(500), move |now| {
                let cx = cx.clone();
                async move { gateway::webhooks::deliver_outbox(&cx, now).await }
            })
            .start();
        }
        {
            let (cx, grace) =
                (cx.clone(), time::Duration::try_from(config.sweep_grace).unwrap_or(time::Duration::MINUTE));
            periodic::Periodic::new("intent_sweep", config.sweep_every, move |now| {
                let cx = cx.clone();
                async move { market::sweeper::sweep(&cx, now - grace, now).await }
            })
            .start();
        }
        {
            let (store, tally, retention) =
                (cx.store.clone(), config.analytics_messages.clone(), config.analytics.retention);
            periodic::Periodic::new("analytics_messages", config.analytics.rollup_every, move |now| {
                let (store, tally) = (store.clone(), tally.clone());
                async move { tally.flush(&store, now, retention).await }
            })
            .start();
        }
        {
            let (store, settle) = (cx.store.clone(), config.analytics.settle);
            periodic::Periodic::new("analytics_rollup", config.analytics.rollup_every, move |now| {
                let store = store.clone();
                async move { analytics::roll_up(&store, settle, now).await }
            })
            .start();
        }
        if let Some(c) = &config.cluster {
            c.run(cluster::Wiring {
                registry: sessions.clone().recipient(),
                event: Box::new(move |event| local_bus.deliver_remote(event)),
                resync: Box::new(move || projector.do_send(subscribers::search::Resync)),
            });
        }
        Ok(Hub { sessions, conversations, broker, digests, market, cx, search, analytics })
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
