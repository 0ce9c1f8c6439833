//! The analytics subscriber: records the facts each domain event stands for
//! ([`crate::analytics::facts_of`]): user actions, payments, searches. Catalog changes are
//! read back to record a service's creation or removal once (its key repeats on every
//! later change, so only the first counts). A failed write is retried, then logged.

use std::time::Duration;

use actix::prelude::*;
use agora_engine::analytics::{Fact, Kind};
use agora_engine::event::CatalogItem;
use agora_engine::DomainEvent;
use agora_storage::market::Service;
use agora_storage::Store;

use crate::bus::Published;
use crate::ActorError;

const NAME: &str = "analytics";

/// The events analytics records: service changes (read back), and every event that stands
/// for facts (`facts_of` is the one list).
pub fn wants(event: &DomainEvent) -> bool {
    match event {
        DomainEvent::CatalogChanged { item } => matches!(item, CatalogItem::Service(_)),
        e => !crate::analytics::facts_of(e, 0).is_empty(),
    }
}

pub struct Analytics {
    store: Store,
    fee_bps: u32,
    retention: Duration,
    /// Writes started and not yet done (retries waiting included).
    in_flight: usize,
}

impl Analytics {
    pub fn new(store: Store, fee_bps: u32, retention: Duration) -> Analytics {
        Analytics { store, fee_bps, retention, in_flight: 0 }
    }
}

/// How many writes are still in flight (`agora seed` waits for none before it exits).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct InFlight;

impl Handler<InFlight> for Analytics {
    type Result = usize;

    fn handle(&mut self, _: InFlight, _: &mut Context<Self>) -> usize {
        self.in_flight
    }
}

impl Actor for Analytics {
    type Context = Context<Self>;
}

struct Write {
    batches: Vec<(String, Fact)>,
    event: &'static str,
    attempt: u32,
}

impl Analytics {
    fn write(&mut self, w: Write, ctx: &mut Context<Self>) {
        self.in_flight += 1;
        let (store, retention) = (self.store.clone(), self.retention);
        ctx.spawn(
            async move {
                // Received now: a retry is written again under the same keys, and counts once.
                let now = time::OffsetDateTime::now_utc();
                for (key, fact) in &w.batches {
                    if let Err(e) =
                        crate::analytics::record(&store, key, std::slice::from_ref(fact), now, retention).await
                    {
                        return Err((w, e));
                    }
                }
                Ok(())
            }
            .into_actor(self)
            .map(|res, act: &mut Analytics, ctx| {
                act.in_flight -= 1;
                if let Err((mut w, e)) = res {
                    super::failed(NAME, w.event, w.attempt, &e);
                    if w.attempt < super::ATTEMPTS {
                        let delay = super::backoff(w.attempt);
                        w.attempt += 1;
                        act.in_flight += 1;
                        ctx.notify_later(Again(w), delay);
                    }
                }
            }),
        );
    }
}

/// A service's creation or removal, from the service as it is now.
async fn service_fact(store: &Store, id: agora_engine::ServiceId) -> Result<Vec<(String, Fact)>, ActorError> {
    let Some(s) = store.market().get::<Service>(id).await?.map(|v| v.value) else { return Ok(Vec::new()) };
    let (kind, key, at) = if s.deleted {
        (Kind::ServiceRemoved, format!("d:service_removed:{id}"), s.updated_at)
    } else {
        (Kind::ServiceCreated, format!("d:service_created:{id}"), s.created_at)
    };
    let mut f = Fact::new(kind, at).by(Some(s.owner_id));
    (f.service, f.provider) = (Some(id), Some(s.owner_id));
    Ok(vec![(key, f)])
}

impl Handler<Published> for Analytics {
    type Result = ();

    fn handle(&mut self, msg: Published, ctx: &mut Context<Self>) {
        let event = msg.event.name();
        if let DomainEvent::CatalogChanged { item: CatalogItem::Service(id) } = &*msg.event {
            let id = *id;
            let store = self.store.clone();
            self.in_flight += 1;
            ctx.spawn(async move { service_fact(&store, id).await }.into_actor(self).map(move |res, act, ctx| {
                act.in_flight -= 1;
                match res {
                    Ok(batches) if !batches.is_empty() => act.write(Write { batches, event, attempt: 1 }, ctx),
                    Ok(_) => {}
                    Err(e) => super::failed(NAME, event, super::ATTEMPTS, &e),
                }
            }));
            return;
        }
        let batches = crate::analytics::facts_of(&msg.event, self.fee_bps);
        if !batches.is_empty() {
            self.write(Write { batches, event, attempt: 1 }, ctx);
        }
    }
}

/// A retry of a write (counted in flight while it waits).
#[derive(Message)]
#[rtype(result = "()")]
struct Again(Write);

impl Handler<Again> for Analytics {
    type Result = ();

    fn handle(&mut self, Again(w): Again, ctx: &mut Context<Self>) {
        self.in_flight -= 1;
        self.write(w, ctx);
    }
}
