//! The domain event bus: the seam between what a command did and who reacts to it
//! (docs/adr/0002-event-bus.md). Commands publish after their write is durable; every
//! subscriber is an actor that receives [`Published`]. Publishers and subscribers only see
//! [`Bus`]; the in-process [`LocalBus`] serves one node, and [`ClusterBus`] adds Redis in
//! cluster mode behind the same trait without touching either side. A subscriber says
//! where it runs ([`Reach`]): on the node that published (notifications, ratings,
//! analytics: once per event in the cluster) or on every node (the search projector, which
//! keeps a per-node index).
//!
//! `publish` resolves once every local subscriber has taken the event (so a caller that
//! awaits it reads its own writes in the search index and the aggregates), but what a
//! subscriber does with it can never fail the command: subscribers log, count and retry
//! their own failures.

use std::sync::{Arc, RwLock};

use actix::prelude::*;
use agora_engine::DomainEvent;
use futures_util::future::{join_all, BoxFuture};
use time::OffsetDateTime;

/// An event as subscribers receive it: shared, never cloned per subscriber.
#[derive(Debug, Clone, Message)]
#[rtype(result = "()")]
pub struct Published {
    pub event: Arc<DomainEvent>,
    pub at: OffsetDateTime,
}

/// Which events a subscriber takes: the bus delivers only those, so an event costs a
/// message per subscriber that acts on it, not per subscriber.
pub type Interest = fn(&DomainEvent) -> bool;

/// Where a subscriber runs in a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Only on the node that published: side effects that must happen once.
    Origin,
    /// On every node: per-node state (the search index) follows every event.
    EveryNode,
}

/// A bus implementation: in-process now, Redis in cluster mode.
pub trait EventBus: Send + Sync + 'static {
    /// Delivers `event` to every interested subscriber; resolves when the local ones have
    /// taken it.
    fn publish(&self, event: Published) -> BoxFuture<'static, ()>;
    /// Adds a subscriber under a static name (used in metrics and logs).
    fn subscribe(&self, name: &'static str, reach: Reach, wants: Interest, to: Recipient<Published>);
}

/// The handle publishers and subscribers hold.
#[derive(Clone)]
pub struct Bus(Arc<dyn EventBus>);

impl Bus {
    pub fn new(inner: Arc<dyn EventBus>) -> Bus {
        Bus(inner)
    }

    /// An in-process bus.
    pub fn local() -> Bus {
        Bus(Arc::new(LocalBus::default()))
    }

    /// Publishes events of one command, in order.
    pub async fn publish(&self, events: impl IntoIterator<Item = DomainEvent>, at: OffsetDateTime) {
        for event in events {
            metrics::counter!("agora_domain_events_total", "event" => event.name()).increment(1);
            self.0.publish(Published { event: Arc::new(event), at }).await;
        }
    }

    pub fn subscribe(&self, name: &'static str, reach: Reach, wants: Interest, to: Recipient<Published>) {
        self.0.subscribe(name, reach, wants, to);
    }
}

/// Delivers to the subscribers of this process.
#[derive(Default)]
pub struct LocalBus {
    subscribers: RwLock<Vec<Subscriber>>,
}

struct Subscriber {
    name: &'static str,
    reach: Reach,
    wants: Interest,
    to: Recipient<Published>,
}

impl LocalBus {
    /// Whether an every-node subscriber wants `event` (then other nodes must get it).
    pub fn wanted_everywhere(&self, event: &DomainEvent) -> bool {
        self.subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|s| s.reach == Reach::EveryNode && (s.wants)(event))
    }

    /// An event another node published: to the every-node subscribers, in arrival order
    /// (queued in their mailboxes; nobody waits on them).
    pub fn deliver_remote(&self, event: Published) {
        for s in self.subscribers.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if s.reach == Reach::EveryNode && (s.wants)(&event.event) {
                s.to.do_send(event.clone());
            }
        }
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: Published) -> BoxFuture<'static, ()> {
        let subscribers: Vec<_> = self
            .subscribers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|s| (s.wants)(&event.event))
            .map(|s| (s.name, s.to.clone()))
            .collect();
        Box::pin(async move {
            let sends = subscribers.into_iter().map(|(name, to)| {
                let event = event.clone();
                async move {
                    if to.send(event).await.is_err() {
                        // A stopped subscriber (shutting down): counted, never the caller's error.
                        metrics::counter!("agora_bus_undelivered_total", "subscriber" => name).increment(1);
                        tracing::warn!(subscriber = name, "event not delivered: subscriber stopped");
                    }
                }
            });
            join_all(sends).await;
        })
    }

    fn subscribe(&self, name: &'static str, reach: Reach, wants: Interest, to: Recipient<Published>) {
        self.subscribers.write().unwrap_or_else(|p| p.into_inner()).push(Subscriber { name, reach, wants, to });
    }
}

/// The bus of a cluster node: every subscriber of this node as [`LocalBus`] does, and the
/// events an every-node subscriber wants to the other nodes over Redis
/// ([`crate::cluster::Cluster::event`]). What arrives from them goes to this node's
/// every-node subscribers only ([`LocalBus::deliver_remote`]).
pub struct ClusterBus {
    local: Arc<LocalBus>,
    cluster: crate::cluster::Cluster,
}

impl ClusterBus {
    pub fn new(local: Arc<LocalBus>, cluster: crate::cluster::Cluster) -> ClusterBus {
        ClusterBus { local, cluster }
    }
}

impl EventBus for ClusterBus {
    fn publish(&self, event: Published) -> BoxFuture<'static, ()> {
        if self.local.wanted_everywhere(&event.event) {
            self.cluster.event(&event);
        }
        self.local.publish(event)
    }

    fn subscribe(&self, name: &'static str, reach: Reach, wants: Interest, to: Recipient<Published>) {
        self.local.subscribe(name, reach, wants, to);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(std::sync::Arc<std::sync::atomic::AtomicUsize>);

    impl Actor for Counter {
        type Context = Context<Self>;
    }

    impl Handler<Published> for Counter {
        type Result = ();
        fn handle(&mut self, _: Published, _: &mut Context<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    #[actix::test]
    async fn only_interested_subscribers_get_an_event() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let bus = Bus::local();
        let (searches, everything) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let wants_search: Interest = |e| matches!(e, DomainEvent::SearchPerformed { .. });
        bus.subscribe("searches", Reach::Origin, wants_search, Counter(Arc::clone(&searches)).start().recipient());
        bus.subscribe("everything", Reach::EveryNode, |_| true, Counter(Arc::clone(&everything)).start().recipient());
        let at = OffsetDateTime::UNIX_EPOCH;
        let search = DomainEvent::SearchPerformed {
            q: "tiles".into(),
            kind: "services".into(),
            user_id: None,
            results: 3,
            filters: Vec::new(),
            at,
        };
        let catalog = DomainEvent::CatalogChanged {
            item: agora_engine::event::CatalogItem::Service(agora_engine::ServiceId::from_uuid(uuid::Uuid::nil())),
        };
        bus.publish([search, catalog], at).await;
        assert_eq!((searches.load(Ordering::SeqCst), everything.load(Ordering::SeqCst)), (1, 2));
    }

    #[actix::test]
    async fn events_from_other_nodes_reach_only_every_node_subscribers() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let bus = LocalBus::default();
        let (origin, everywhere) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let catalog_only: Interest = |e| matches!(e, DomainEvent::CatalogChanged { .. });
        bus.subscribe("once", Reach::Origin, |_| true, Counter(Arc::clone(&origin)).start().recipient());
        bus.subscribe("index", Reach::EveryNode, catalog_only, Counter(Arc::clone(&everywhere)).start().recipient());
        let at = OffsetDateTime::UNIX_EPOCH;
        let catalog = DomainEvent::CatalogChanged {
            item: agora_engine::event::CatalogItem::Service(agora_engine::ServiceId::from_uuid(uuid::Uuid::nil())),
        };
        let search = DomainEvent::SearchPerformed {
            q: "tiles".into(),
            kind: "services".into(),
            user_id: None,
            results: 0,
            filters: Vec::new(),
            at,
        };
        assert!(bus.wanted_everywhere(&catalog), "the index wants catalog changes on every node");
        assert!(!bus.wanted_everywhere(&search), "nobody outside the origin wants searches");
        bus.deliver_remote(Published { event: Arc::new(catalog.clone()), at });
        bus.deliver_remote(Published { event: Arc::new(search), at });
        // Delivered to mailboxes: a published event behind them flushes them.
        bus.publish(Published { event: Arc::new(catalog), at }).await;
        assert_eq!(everywhere.load(Ordering::SeqCst), 2, "one remote and one local catalog change");
        assert_eq!(origin.load(Ordering::SeqCst), 1, "the origin-only subscriber saw only the local event");
    }
}
