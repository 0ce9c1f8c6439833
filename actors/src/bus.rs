//! The domain event bus: the seam between what a command did and who reacts to it
//! (docs/adr/0002-event-bus.md). Commands publish after their write is durable; every
//! subscriber is an actor that receives [`Published`]. Publishers and subscribers only see
//! [`Bus`]; the in-process [`LocalBus`] is the implementation today, and a Redis bus can
//! replace it behind the same trait without touching either side.
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

/// A bus implementation: in-process now, Redis in cluster mode.
pub trait EventBus: Send + Sync + 'static {
    /// Delivers `event` to every subscriber; resolves when the local ones have taken it.
    fn publish(&self, event: Published) -> BoxFuture<'static, ()>;
    /// Adds a subscriber under a static name (used in metrics and logs).
    fn subscribe(&self, name: &'static str, to: Recipient<Published>);
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

    pub fn subscribe(&self, name: &'static str, to: Recipient<Published>) {
        self.0.subscribe(name, to);
    }
}

/// Delivers to the subscribers of this process.
#[derive(Default)]
pub struct LocalBus {
    subscribers: RwLock<Vec<(&'static str, Recipient<Published>)>>,
}

impl EventBus for LocalBus {
    fn publish(&self, event: Published) -> BoxFuture<'static, ()> {
        let subscribers = self.subscribers.read().unwrap_or_else(|p| p.into_inner()).clone();
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

    fn subscribe(&self, name: &'static str, to: Recipient<Published>) {
        self.subscribers.write().unwrap_or_else(|p| p.into_inner()).push((name, to));
    }
}
