//! Rating aggregates. Never adjusted incrementally: after every review posted, edited or
//! deleted, the reviewee's provider profile (`rating_avg`, `reviews_count` over all reviews
//! of that user) and, for booking reviews, the service's (over all reviews of that service)
//! are recomputed from storage and written with compare-and-set on their version,
//! recomputing on a lost race, so concurrent reviews can't leave a stale figure behind.
//! The search documents are refreshed afterwards (through the bus).

use actix::prelude::*;
use agora_engine::event::CatalogItem;
use agora_engine::market::rating_aggregate;
use agora_engine::{DomainEvent, Review, ServiceId, UserId};
use agora_storage::market::{List, Service};
use agora_storage::{cas_retry, Store, StoreError};

use crate::bus::{Bus, Published};

const NAME: &str = "ratings";

async fn ratings(store: &Store, reviews: List<Review>) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    store
        .market()
        .for_each(&reviews, |r| {
            out.push(r.rating);
            async { Ok(()) }
        })
        .await?;
    Ok(out)
}

/// Recomputes the reviewee's provider profile figures (no-op without a profile).
async fn refresh_provider(store: &Store, reviewee: UserId) -> Result<Option<CatalogItem>, StoreError> {
    let m = store.market();
    cas_retry(|| async {
        let Some(current) = m.provider_of(reviewee).await? else { return Ok(Some(None)) };
        let (avg, count) = rating_aggregate(ratings(store, List::reviews_of_user(reviewee)).await?);
        let mut next = current.value.clone();
        next.rating_avg = avg;
        next.reviews_count = count;
        Ok(m.try_save(&next, current.version).await?.map(|_| Some(CatalogItem::Provider(next.id))))
    })
    .await
}

/// Recomputes a service's figures from all its reviews.
async fn refresh_service(store: &Store, service: ServiceId) -> Result<Option<CatalogItem>, StoreError> {
    let m = store.market();
    cas_retry(|| async {
        let Some(current) = m.get::<Service>(service).await? else { return Ok(Some(None)) };
        let (avg, count) = rating_aggregate(ratings(store, List::reviews_of_service(service)).await?);
        let mut next = current.value.clone();
        next.rating_avg = avg;
        next.reviews_count = count;
        Ok(m.try_save(&next, current.version).await?.map(|_| Some(CatalogItem::Service(service))))
    })
    .await
}

async fn refresh(store: &Store, bus: &Bus, r: &Review, at: time::OffsetDateTime) -> Result<(), StoreError> {
    let mut changed = Vec::new();
    changed.extend(refresh_provider(store, r.reviewee_id).await?);
    if let Some(s) = r.service_id {
        changed.extend(refresh_service(store, s).await?);
    }
    bus.publish(changed.into_iter().map(|item| DomainEvent::CatalogChanged { item }), at).await;
    Ok(())
}

/// Review events (they change the aggregates).
pub fn wants(event: &DomainEvent) -> bool {
    matches!(
        event,
        DomainEvent::ReviewPosted { .. } | DomainEvent::ReviewEdited { .. } | DomainEvent::ReviewDeleted { .. }
    )
}

pub struct RatingAggregator {
    store: Store,
    bus: Bus,
}

impl RatingAggregator {
    pub fn new(store: Store, bus: Bus) -> RatingAggregator {
        RatingAggregator { store, bus }
    }

    fn attempt(&self, review: Review, at: time::OffsetDateTime, attempt: u32) -> ResponseActFuture<Self, ()> {
        let (store, bus) = (self.store.clone(), self.bus.clone());
        let r = review.clone();
        Box::pin(async move { refresh(&store, &bus, &r, at).await }.into_actor(self).map(move |res, _, ctx| {
            if let Err(e) = res {
                super::failed(NAME, "review", attempt, &e);
                if attempt < super::ATTEMPTS {
                    ctx.notify_later(Again { review, at, attempt: attempt + 1 }, super::backoff(attempt));
                }
            }
        }))
    }
}

impl Actor for RatingAggregator {
    type Context = Context<Self>;
}

#[derive(Message)]
#[rtype(result = "()")]
struct Again {
    review: Review,
    at: time::OffsetDateTime,
    attempt: u32,
}

impl Handler<Published> for RatingAggregator {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Published, _: &mut Context<Self>) -> Self::Result {
        match &*msg.event {
            DomainEvent::ReviewPosted { review }
            | DomainEvent::ReviewEdited { review }
            | DomainEvent::ReviewDeleted { review } => self.attempt(review.clone(), msg.at, 1),
            _ => Box::pin(actix::fut::ready(())),
        }
    }
}

impl Handler<Again> for RatingAggregator {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Again, _: &mut Context<Self>) -> Self::Result {
        self.attempt(msg.review, msg.at, msg.attempt)
    }
}
