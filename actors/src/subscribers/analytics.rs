//! The analytics hook: today it records answered searches (`SearchPerformed`) for the
//! analytics pipeline; the analytics issue adds rollups of the other events here.

use actix::prelude::*;
use agora_engine::DomainEvent;
use agora_storage::market::SearchQuery;
use agora_storage::Store;

use crate::bus::Published;

/// The events analytics records.
pub fn wants(event: &DomainEvent) -> bool {
    matches!(event, DomainEvent::SearchPerformed { .. })
}

pub struct Analytics {
    store: Store,
}

impl Analytics {
    pub fn new(store: Store) -> Analytics {
        Analytics { store }
    }
}

impl Actor for Analytics {
    type Context = Context<Self>;
}

impl Handler<Published> for Analytics {
    type Result = ();

    fn handle(&mut self, msg: Published, ctx: &mut Context<Self>) {
        let DomainEvent::SearchPerformed { q, kind, user_id, results, at } = &*msg.event else { return };
        let record = SearchQuery { q: q.clone(), kind: kind.clone(), user_id: *user_id, results: *results, at: *at };
        let store = self.store.clone();
        // Recorded after the answer went out; a failure only costs an analytics row.
        ctx.spawn(
            async move {
                if let Err(e) = store.market().record_search(&record).await {
                    super::failed("analytics", "search_performed", super::ATTEMPTS, &e);
                }
            }
            .into_actor(self),
        );
    }
}
