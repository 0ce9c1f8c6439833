//! Cluster mode over Redis (docs/cluster.md). Set `redis_url` and every node:
//!
//! - publishes the frames of its users' fan-out to one channel per recipient
//!   (`agora:user:<id>`), which the nodes holding that user's connections subscribe to while
//!   they do; the envelope ([`envelope`]) is built once per frame and carries the frame's
//!   MessagePack bytes, so a frame is serialized once however many nodes get it;
//! - publishes the domain events that [`crate::bus::Reach::EveryNode`] subscribers want
//!   (the search projector) to `agora:events`;
//! - keeps presence in Redis with a TTL heartbeat ([`presence`]), and reaps the users of a
//!   node that stopped beating;
//! - lends its connection to the HTTP layer for cluster-wide rate limits.
//!
//! Redis can go away: then the node keeps serving its own users, says so (`/api/ready`,
//! `agora_redis_up`, `agora_redis_outages_total`), drops what it would have published
//! (`agora_bus_remote_dropped_total`), reconnects with backoff, resubscribes, registers
//! its users again and rebuilds what it may have missed (the search index). Messages are
//! durable before they are fanned out, so a client that missed frames `sync`s them.

pub mod envelope;
pub mod presence;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use actix::prelude::*;
use agora_engine::{DomainEvent, UserId};
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, PubSubSink};
use tokio::sync::{mpsc, oneshot, Mutex, Notify};

use crate::bus::Published;
use crate::protocol::{Encoding, SharedFrame};
use envelope::Kind;

/// The channel of domain events.
pub const EVENTS: &str = "agora:events";
const USER_PREFIX: &str = "agora:user:";

pub fn user_channel(user: UserId) -> String {
    format!("{USER_PREFIX}{user}")
}

/// How a node joins the cluster.
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    /// `redis://host:port/db` (or `rediss://`).
    pub url: String,
    /// This node's id: unique in the cluster, `[A-Za-z0-9._-]{1,64}`.
    pub node: String,
    /// How long a node's heartbeat key lives; a node that dies takes its users offline
    /// within this plus one heartbeat (a third of it).
    pub presence_ttl: Duration,
}

/// What the cluster hands to this node's session registry.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub enum Inbound {
    /// A frame another node fanned out to `user`.
    Frame { user: UserId, frame: Arc<SharedFrame> },
    /// Another node changed `user`'s unread counts.
    RefreshUnread { user: UserId },
    /// These users' last node died: announce them offline.
    WentOffline { users: Vec<UserId> },
    /// Redis came back: this node's users are registered again; announce them online.
    Resubscribed,
}

/// Where received events and resyncs go (set once by [`crate::Hub::start`]).
pub struct Wiring {
    pub registry: Recipient<Inbound>,
    /// Delivers an event from another node to this node's every-node subscribers.
    pub event: Box<dyn Fn(Published) + Send + Sync>,
    /// Runs after a reconnect: rebuild what events may have been missed for.
    pub resync: Box<dyn Fn() + Send + Sync>,
}

const STARTING: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// Whether this node reaches Redis (publish, subscribe, heartbeat).
#[derive(Default)]
pub struct Health {
    state: AtomicU8,
}

impl Health {
    pub fn is_up(&self) -> bool {
        self.state.load(Ordering::Acquire) == UP
    }

    fn up(&self) {
        if self.state.swap(UP, Ordering::AcqRel) != UP {
            metrics::gauge!("agora_redis_up").set(1.0);
            tracing::info!("redis reachable: cluster fan-out on");
        }
    }

    fn down(&self, why: &str) {
        let was = self.state.swap(DOWN, Ordering::AcqRel);
        metrics::gauge!("agora_redis_up").set(0.0);
        match was {
            UP => {
                metrics::counter!("agora_redis_outages_total").increment(1);
                tracing::warn!(error = why, "redis lost: serving local users only until it is back");
            }
            STARTING => tracing::warn!(error = why, "redis not reachable yet: serving local users only"),
            _ => tracing::debug!(error = why, "redis still unreachable"),
        }
    }
}

enum Outgoing {
    /// One envelope to each user's channel.
    Users {
        users: Arc<[UserId]>,
        envelope: Arc<[u8]>,
    },
    Event {
        envelope: Arc<[u8]>,
    },
}

enum Control {
    Join {
        user: UserId,
        reply: oneshot::Sender<bool>,
    },
    Leave {
        user: UserId,
        reply: oneshot::Sender<bool>,
    },
    /// Registers every local user again (after Redis came back).
    Reregister,
    /// The node is shutting down: stop beating, drop the key.
    Depart {
        reply: oneshot::Sender<()>,
    },
}

/// The users this node holds (their channels are subscribed) and the live subscription.
#[derive(Default)]
struct Subscriptions {
    users: HashSet<UserId>,
    sink: Option<PubSubSink>,
}

struct Inner {
    node: Arc<str>,
    client: redis::Client,
    commands: ConnectionManager,
    ttl: Duration,
    health: Health,
    outgoing: mpsc::Sender<Outgoing>,
    control: mpsc::UnboundedSender<Control>,
    subscriptions: Mutex<Subscriptions>,
    /// Told when the heartbeat fails, so a subscription that hangs is dropped and redone.
    reset: Notify,
    /// Set by [`Cluster::depart`]: the heartbeat stops.
    departed: std::sync::atomic::AtomicBool,
    wiring: OnceLock<Wiring>,
    /// The receiving ends, taken once by [`Cluster::run`].
    receivers: std::sync::Mutex<Option<(mpsc::Receiver<Outgoing>, mpsc::UnboundedReceiver<Control>)>>,
}

/// A node's link to the cluster; cheap to clone.
#[derive(Clone)]
pub struct Cluster(Arc<Inner>);

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("node", &self.0.node).field("redis_up", &self.0.health.is_up()).finish()
    }
}

/// Frames and events waiting to be published; beyond this they are dropped and counted.
const OUTGOING_QUEUE: usize = 65_536;
/// Commands per pipeline when publishing.
const PUBLISH_BATCH: usize = 512;
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Cluster {
    /// Prepares the link; nothing is sent until [`Cluster::run`]. Fails only on a malformed
    /// URL: an unreachable Redis is an outage the node starts in and recovers from.
    pub fn new(settings: &ClusterSettings) -> Result<Cluster, redis::RedisError> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(1)))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), config)?;
        let (outgoing, out_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (control, control_rx) = mpsc::unbounded_channel();
        Ok(Cluster(Arc::new(Inner {
            node: Arc::from(settings.node.as_str()),
            client,
            commands,
            ttl: settings.presence_ttl.max(Duration::from_millis(300)),
            health: Health::default(),
            outgoing,
            control,
            subscriptions: Mutex::new(Subscriptions::default()),
            reset: Notify::new(),
            departed: std::sync::atomic::AtomicBool::new(false),
            wiring: OnceLock::new(),
            receivers: std::sync::Mutex::new(Some((out_rx, control_rx))),
        })))
    }

    pub fn node(&self) -> &str {
        &self.0.node
    }

    pub fn health(&self) -> &Health {
        &self.0.health
    }

    /// The shared command connection (for the HTTP layer's cluster-wide rate limits).
    pub fn commands(&self) -> ConnectionManager {
        self.0.commands.clone()
    }

    /// The presence TTL: the bound on how long a dead node's users still look online,
    /// plus one heartbeat.
    pub fn presence_ttl(&self) -> Duration {
        self.0.ttl
    }

    /// Starts the publisher, the control loop, the subscription and the heartbeat on the
    /// current runtime. Called once, by [`crate::Hub::start`].
    pub fn run(&self, wiring: Wiring) {
        if self.0.wiring.set(wiring).is_err() {
            tracing::error!("cluster started twice; ignoring the second start");
            return;
        }
        let Some((out_rx, control_rx)) = self.0.receivers.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return;
        };
        metrics::gauge!("agora_redis_up").set(0.0);
        tokio::spawn(publisher(self.clone(), out_rx));
        tokio::spawn(control(self.clone(), control_rx));
        tokio::spawn(listen(self.clone()));
        tokio::spawn(heartbeat(self.clone()));
    }

    fn enqueue(&self, item: Outgoing) {
        if !self.0.health.is_up() {
            metrics::counter!("agora_bus_remote_dropped_total", "reason" => "redis_down").increment(1);
            return;
        }
        if self.0.outgoing.try_send(item).is_err() {
            metrics::counter!("agora_bus_remote_dropped_total", "reason" => "queue_full").increment(1);
        }
    }

    /// Fans `frame` out to `users`' connections on the other nodes. The frame's MessagePack
    /// bytes are the ones this node's MessagePack clients get (computed once).
    pub fn frame(&self, users: Arc<[UserId]>, frame: &SharedFrame) {
        if users.is_empty() {
            return;
        }
        let payload = frame.bytes(Encoding::Msgpack);
        // A message's clock starts when its `send` arrived here, so that the other node's
        // `delivered_remote` latency compares with this node's `delivered`.
        let age = frame.origin.map_or(0, |o| i64::try_from(o.elapsed().as_micros()).unwrap_or(0));
        let envelope = envelope::seal(Kind::Frame, &self.0.node, envelope::now_us() - age, &payload);
        self.enqueue(Outgoing::Users { users, envelope: envelope.into() });
    }

    /// Asks the other nodes holding `user` to push fresh unread counts.
    pub fn refresh_unread(&self, user: UserId) {
        let envelope = envelope::seal(Kind::RefreshUnread, &self.0.node, envelope::now_us(), &[]);
        self.enqueue(Outgoing::Users { users: Arc::from([user]), envelope: envelope.into() });
    }

    /// Sends a domain event to the other nodes' every-node subscribers.
    pub fn event(&self, event: &Published) {
        match rmp_serde::to_vec_named(&*event.event) {
            Ok(payload) => {
                let at = i64::try_from(event.at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX);
                let envelope = envelope::seal(Kind::Event, &self.0.node, at, &payload);
                metrics::counter!("agora_bus_remote_events_total", "direction" => "out").increment(1);
                self.enqueue(Outgoing::Event { envelope: envelope.into() });
            }
            Err(e) => {
                tracing::error!(event = event.event.name(), error = %e, "encoding an event for the cluster failed")
            }
        }
    }

    /// `user` now has a session here: subscribe to the user's channel and register the
    /// presence. Answers whether another live node already holds the user (then nobody
    /// needs telling that the user came online). Ordered with [`Cluster::leave`].
    pub fn join(&self, user: UserId) -> impl std::future::Future<Output = bool> + Send + 'static {
        self.ordered(move |reply| Control::Join { user, reply })
    }

    /// `user`'s session here ended. Answers whether another live node still holds the user
    /// (then it is not offline).
    pub fn leave(&self, user: UserId) -> impl std::future::Future<Output = bool> + Send + 'static {
        self.ordered(move |reply| Control::Leave { user, reply })
    }

    fn ordered(
        &self,
        control: impl FnOnce(oneshot::Sender<bool>) -> Control,
    ) -> impl std::future::Future<Output = bool> + Send + 'static {
        let (reply, answer) = oneshot::channel();
        let sent = self.0.control.send(control(reply)).is_ok();
        async move { sent && answer.await.unwrap_or(false) }
    }

    /// A graceful stop (SIGTERM), after the connections were closed: the node stops beating
    /// and removes its key, so the other nodes reap it at their next heartbeat instead of
    /// after the TTL. Queued behind the leaves already sent; waits at most `wait`.
    pub async fn depart(&self, wait: Duration) {
        let (reply, done) = oneshot::channel();
        if self.0.control.send(Control::Depart { reply }).is_ok() {
            let _ = tokio::time::timeout(wait, done).await;
        }
    }

    /// Which of `users` a live node other than this one holds. On a Redis failure nobody is.
    pub async fn online_elsewhere(&self, users: &[UserId]) -> Vec<UserId> {
        if users.is_empty() || !self.0.health.is_up() {
            return Vec::new();
        }
        let mut conn = self.0.commands.clone();
        match held_elsewhere(&mut conn, users, &self.0.node).await {
            Ok(held) => users.iter().zip(held).filter(|(_, on)| *on).map(|(u, _)| *u).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "presence lookup failed: treating remote users as offline");
                Vec::new()
            }
        }
    }

    fn wiring(&self) -> Option<&Wiring> {
        self.0.wiring.get()
    }
}

/// For each of `users`, whether a live node other than `except` holds it (`""`: any live
/// node).
async fn held_elsewhere(
    conn: &mut ConnectionManager,
    users: &[UserId],
    except: &str,
) -> Result<Vec<bool>, redis::RedisError> {
    let mut invocation = presence::online_elsewhere().prepare_invoke();
    for user in users {
        invocation.key(presence::online_key(user));
    }
    invocation.arg(except);
    let flags: Vec<i64> = invocation.invoke_async(conn).await?;
    Ok(flags.into_iter().map(|f| f == 1).collect())
}

/// Publishes queued envelopes in pipelines, in the order they were queued (so a
/// conversation's frames reach every node in `seq` order).
async fn publisher(cluster: Cluster, mut rx: mpsc::Receiver<Outgoing>) {
    let mut conn = cluster.0.commands.clone();
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    while rx.recv_many(&mut batch, PUBLISH_BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut publishes = 0usize;
        for item in batch.drain(..) {
            match item {
                Outgoing::Users { users, envelope } => {
                    for user in users.iter() {
                        pipe.cmd("PUBLISH").arg(user_channel(*user)).arg(&*envelope).ignore();
                        publishes += 1;
                    }
                }
                Outgoing::Event { envelope } => {
                    pipe.cmd("PUBLISH").arg(EVENTS).arg(&*envelope).ignore();
                    publishes += 1;
                }
            }
        }
        if !cluster.0.health.is_up() {
            metrics::counter!("agora_bus_remote_dropped_total", "reason" => "redis_down").increment(publishes as u64);
            continue;
        }
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => metrics::counter!("agora_bus_remote_published_total").increment(publishes as u64),
            Err(e) => {
                metrics::counter!("agora_bus_remote_dropped_total", "reason" => "publish_failed")
                    .increment(publishes as u64);
                tracing::warn!(error = %e, publishes, "publishing to redis failed");
            }
        }
    }
}

/// Joins, leaves and re-registrations, one at a time in the order the registry sent them.
async fn control(cluster: Cluster, mut rx: mpsc::UnboundedReceiver<Control>) {
    let mut conn = cluster.0.commands.clone();
    let node = Arc::clone(&cluster.0.node);
    let node_users = presence::node_users_key(&node);
    while let Some(op) = rx.recv().await {
        match op {
            Control::Join { user, reply } => {
                let _ = reply.send(presence_op(&cluster, &mut conn, &node_users, user, true).await);
            }
            Control::Leave { user, reply } => {
                let _ = reply.send(presence_op(&cluster, &mut conn, &node_users, user, false).await);
            }
            Control::Depart { reply } => {
                // Without its key the node is dead to the others: their next heartbeat reaps
                // it and announces its remaining users offline, as for a crash, but now.
                cluster.0.departed.store(true, Ordering::Release);
                match redis::cmd("DEL").arg(presence::node_key(&node)).query_async::<()>(&mut conn).await {
                    Ok(()) => tracing::info!("left the cluster"),
                    Err(e) => {
                        tracing::warn!(error = %e, "leaving the cluster failed: the node is reaped after its TTL")
                    }
                }
                let _ = reply.send(());
            }
            Control::Reregister => {
                let users: Vec<UserId> = cluster.0.subscriptions.lock().await.users.iter().copied().collect();
                // Users who left while Redis was away still name this node: forget them.
                let before: Vec<String> = match redis::cmd("SMEMBERS").arg(&node_users).query_async(&mut conn).await {
                    Ok(before) => before,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading this node's users failed; registering again later");
                        continue;
                    }
                };
                let now: HashSet<String> = users.iter().map(|u| u.to_string()).collect();
                let mut pipe = redis::pipe();
                for gone in before.iter().filter(|u| !now.contains(*u)) {
                    pipe.cmd("HDEL").arg(presence::online_key(gone)).arg(&*node).ignore();
                }
                pipe.cmd("DEL").arg(&node_users).ignore();
                for chunk in users.chunks(1000) {
                    for user in chunk {
                        pipe.cmd("HSET").arg(presence::online_key(*user)).arg(&*node).arg(1).ignore();
                    }
                    pipe.cmd("SADD")
                        .arg(&node_users)
                        .arg(chunk.iter().map(|u| u.to_string()).collect::<Vec<_>>())
                        .ignore();
                }
                match pipe.query_async::<()>(&mut conn).await {
                    Ok(()) => {
                        tracing::info!(users = users.len(), "presence registered again after the redis outage");
                        if let Some(w) = cluster.wiring() {
                            w.registry.do_send(Inbound::Resubscribed);
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "registering presence again failed"),
                }
            }
        }
    }
}

/// A join (`joining`) or a leave of `user`: the user's channel and its presence. Answers
/// whether another live node holds the user. While the subscription is down only the local
/// set changes; re-registration after the outage does the rest.
async fn presence_op(
    cluster: &Cluster,
    conn: &mut ConnectionManager,
    node_users: &str,
    user: UserId,
    joining: bool,
) -> bool {
    let channel_done = {
        let mut subs = cluster.0.subscriptions.lock().await;
        if joining {
            subs.users.insert(user);
        } else {
            subs.users.remove(&user);
        }
        match subs.sink.as_mut() {
            Some(sink) if joining => sink.subscribe(user_channel(user)).await.is_ok(),
            Some(sink) => sink.unsubscribe(user_channel(user)).await.is_ok(),
            None => false,
        }
    };
    if !channel_done {
        return false;
    }
    let script = if joining { presence::join() } else { presence::leave() };
    let mut invocation = script.key(presence::online_key(user));
    invocation.key(node_users).arg(&*cluster.0.node).arg(user.to_string());
    match invocation.invoke_async::<i64>(conn).await {
        Ok(n) => n == 1,
        Err(e) => {
            tracing::warn!(%user, joining, error = %e, "updating presence failed");
            false
        }
    }
}

/// Keeps the subscription: connects, subscribes to the events and every local user's
/// channel, dispatches what arrives, and starts again with backoff when it ends.
async fn listen(cluster: Cluster) {
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    loop {
        match subscribe_all(&cluster).await {
            Ok(mut stream) => {
                backoff = Duration::from_millis(100);
                cluster.0.health.up();
                if !first {
                    let _ = cluster.0.control.send(Control::Reregister);
                    if let Some(w) = cluster.wiring() {
                        (w.resync)();
                    }
                }
                first = false;
                loop {
                    tokio::select! {
                        msg = stream.next() => match msg {
                            Some(msg) => dispatch(&cluster, &msg),
                            None => break,
                        },
                        () = cluster.0.reset.notified() => break,
                    }
                }
                cluster.0.subscriptions.lock().await.sink = None;
                cluster.0.health.down("subscription lost");
            }
            Err(e) => {
                cluster.0.subscriptions.lock().await.sink = None;
                cluster.0.health.down(&e.to_string());
            }
        }
        // Jitter from the clock's low bits: nodes that lost Redis together spread out.
        let jitter = Duration::from_millis(envelope::now_us().unsigned_abs() % 100);
        tokio::time::sleep(backoff + jitter).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn subscribe_all(cluster: &Cluster) -> Result<redis::aio::PubSubStream, redis::RedisError> {
    let timeout = |what: &'static str| redis::RedisError::from((redis::ErrorKind::Io, what));
    let pubsub = tokio::time::timeout(Duration::from_secs(2), cluster.0.client.get_async_pubsub())
        .await
        .map_err(|_| timeout("connecting for the subscription timed out"))??;
    let (mut sink, stream) = pubsub.split();
    let mut subs = cluster.0.subscriptions.lock().await;
    let mut channels: Vec<String> = subs.users.iter().map(|u| user_channel(*u)).collect();
    channels.push(EVENTS.to_string());
    for chunk in channels.chunks(1000) {
        tokio::time::timeout(Duration::from_secs(2), sink.subscribe(chunk))
            .await
            .map_err(|_| timeout("subscribing timed out"))??;
    }
    subs.sink = Some(sink);
    Ok(stream)
}

fn dispatch(cluster: &Cluster, msg: &redis::Msg) {
    let Some(wiring) = cluster.wiring() else { return };
    let channel = msg.get_channel_name();
    let Some(opened) = envelope::open(msg.get_payload_bytes()) else {
        metrics::counter!("agora_bus_remote_dropped_total", "reason" => "malformed").increment(1);
        return;
    };
    if opened.node == &*cluster.0.node {
        return;
    }
    let sent = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(opened.sent_at_us) * 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    if channel == EVENTS {
        if opened.kind != Kind::Event {
            return;
        }
        match rmp_serde::from_slice::<DomainEvent>(opened.payload) {
            Ok(event) => {
                metrics::counter!("agora_bus_remote_events_total", "direction" => "in").increment(1);
                let lag = (time::OffsetDateTime::now_utc() - sent).as_seconds_f64().max(0.0);
                metrics::histogram!("agora_bus_remote_lag_seconds").record(lag);
                (wiring.event)(Published { event: Arc::new(event), at: sent });
            }
            Err(e) => {
                metrics::counter!("agora_bus_remote_dropped_total", "reason" => "malformed").increment(1);
                tracing::warn!(error = %e, "undecodable event from another node");
            }
        }
        return;
    }
    let Some(user) = channel.strip_prefix(USER_PREFIX).and_then(|id| UserId::parse(id).ok()) else { return };
    match opened.kind {
        Kind::Frame => match SharedFrame::from_msgpack(opened.payload, sent) {
            Some(frame) => wiring.registry.do_send(Inbound::Frame { user, frame }),
            None => {
                metrics::counter!("agora_bus_remote_dropped_total", "reason" => "malformed").increment(1);
            }
        },
        Kind::RefreshUnread => wiring.registry.do_send(Inbound::RefreshUnread { user }),
        Kind::Event => {}
    }
}

/// Refreshes this node's key every third of the TTL and reaps nodes whose key expired.
async fn heartbeat(cluster: Cluster) {
    let ttl = cluster.0.ttl;
    let every = ttl / 3;
    let mut conn = cluster.0.commands.clone();
    let node = Arc::clone(&cluster.0.node);
    let mut failures = 0u32;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if cluster.0.departed.load(Ordering::Acquire) {
            return;
        }
        let beat = redis::pipe()
            .cmd("SET")
            .arg(presence::node_key(&node))
            .arg(envelope::now_us())
            .arg("PX")
            .arg(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX))
            .ignore()
            .cmd("SADD")
            .arg(presence::NODES)
            .arg(&*node)
            .ignore()
            .query_async::<()>(&mut conn)
            .await;
        match beat {
            Ok(()) => {
                failures = 0;
                if let Err(e) = reap(&cluster, &mut conn).await {
                    tracing::warn!(error = %e, "reaping dead nodes failed");
                }
            }
            Err(e) => {
                failures += 1;
                tracing::debug!(error = %e, failures, "heartbeat failed");
                if failures >= 2 {
                    cluster.0.health.down(&e.to_string());
                    // A subscription can outlive a dead link; have it redone.
                    cluster.0.reset.notify_one();
                }
            }
        }
    }
}

/// Takes the users of every node whose heartbeat key is gone offline (one reaper per dead
/// node, by a set-if-absent claim).
async fn reap(cluster: &Cluster, conn: &mut ConnectionManager) -> Result<(), redis::RedisError> {
    let nodes: Vec<String> = redis::cmd("SMEMBERS").arg(presence::NODES).query_async(conn).await?;
    for dead in nodes.iter().filter(|n| n.as_str() != &*cluster.0.node) {
        let alive: bool = redis::cmd("EXISTS").arg(presence::node_key(dead)).query_async(conn).await?;
        if alive {
            continue;
        }
        let claimed: Option<String> = redis::cmd("SET")
            .arg(presence::reap_key(dead))
            .arg(&*cluster.0.node)
            .arg("NX")
            .arg("PX")
            .arg(30_000)
            .query_async(conn)
            .await?;
        if claimed.is_none() {
            continue;
        }
        let users: Vec<String> = redis::cmd("SMEMBERS").arg(presence::node_users_key(dead)).query_async(conn).await?;
        let users: Vec<UserId> = users.iter().filter_map(|u| UserId::parse(u).ok()).collect();
        let mut pipe = redis::pipe();
        for user in &users {
            pipe.cmd("HDEL").arg(presence::online_key(*user)).arg(dead).ignore();
        }
        pipe.cmd("DEL").arg(presence::node_users_key(dead)).ignore();
        pipe.cmd("SREM").arg(presence::NODES).arg(dead).ignore();
        pipe.query_async::<()>(conn).await?;
        // Those with no live node left (this one included) went offline.
        let mut offline = Vec::new();
        for chunk in users.chunks(500) {
            let held = held_elsewhere(conn, chunk, "").await?;
            offline.extend(chunk.iter().zip(held).filter(|(_, on)| !*on).map(|(u, _)| *u));
        }
        metrics::counter!("agora_cluster_nodes_reaped_total").increment(1);
        tracing::warn!(node = %dead, users = users.len(), offline = offline.len(), "a node stopped beating: its users are offline");
        if let (Some(w), false) = (cluster.wiring(), offline.is_empty()) {
            w.registry.do_send(Inbound::WentOffline { users: offline });
        }
    }
    Ok(())
}
