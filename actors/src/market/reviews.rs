//! Review commands: post (once per engagement and author, claimed by compare-and-set),
//! edit and delete by the author, one reply by the reviewee. Aggregates (`rating_avg`,
//! `reviews_count`) are kept by the rating subscriber from the events published here.
//! Deleting a review releases its "once per engagement" claim: the author may review that
//! engagement again.

use agora_engine::review::Reviewable;
use agora_engine::{
    codes, Booking, BookingStatus, Contract, ContractStatus, DomainError, DomainEvent, Engagement, Review, ReviewId,
};
use agora_storage::Store;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

async fn reviewable(store: &Store, engagement: Engagement) -> Result<Reviewable, ActorError> {
    let m = store.market();
    Ok(match engagement {
        Engagement::Contract(id) => {
            let c = m.get::<Contract>(id).await?.ok_or(ActorError::NotFound)?.value;
            Reviewable {
                engagement,
                client_id: c.client_id,
                provider_id: c.provider_id,
                service_id: None,
                completed: c.status == ContractStatus::Completed,
            }
        }
        Engagement::Booking(id) => {
            let b = m.get::<Booking>(id).await?.ok_or(ActorError::NotFound)?.value;
            Reviewable {
                engagement,
                client_id: b.client_id,
                provider_id: b.provider_id,
                service_id: Some(b.service_id),
                completed: b.status == BookingStatus::Completed,
            }
        }
    })
}

/// Applies an engine rule to a stored review (compare-and-set on its version).
async fn change_review(
    cx: &Cx,
    id: ReviewId,
    mut change: impl FnMut(&mut Review) -> Result<(), DomainError>,
) -> Result<Review, ActorError> {
    let m = cx.store.market();
    let updated = m.update::<Review, ActorError>(id, |r| change(r).map_err(ActorError::Refused)).await?;
    Ok(updated.ok_or(ActorError::NotFound)?.value)
}

/// Reviews the other party of a completed contract or booking.
#[derive(actix::Message)]
#[rtype(result = "Result<Review, ActorError>")]
pub struct PostReview {
    pub by: Caller,
    pub engagement: Engagement,
    pub rating: u8,
    pub comment: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for PostReview {
    type Output = Review;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Review, ActorError>> {
        Box::pin(async move {
            let what = reviewable(&cx.store, self.engagement).await?;
            let id = new_id(ReviewId::from_uuid);
            let review = Review::post(id, &what, self.by.id, self.rating, self.comment, self.at)
                .map_err(ActorError::Refused)?
                .ok_or(ActorError::NotFound)?;
            let m = cx.store.market();
            if !m.claim_review(&self.engagement, self.by.id, id).await? {
                let e = DomainError::conflict(codes::ALREADY_REVIEWED, "you have already reviewed this engagement");
                return Err(ActorError::Refused(e));
            }
            if let Err(e) = m.insert(&review).await {
                m.release_review(&self.engagement, self.by.id).await?;
                return Err(e.into());
            }
            tracing::info!(review = %review.id, reviewee = %review.reviewee_id, rating = review.rating, "review posted");
            cx.bus.publish([DomainEvent::ReviewPosted { review: review.clone() }], self.at).await;
            Ok(review)
        })
    }
}

/// The author edits a review (`comment: Some(None)` removes the comment).
#[derive(actix::Message)]
#[rtype(result = "Result<Review, ActorError>")]
pub struct EditReview {
    pub by: Caller,
    pub review_id: ReviewId,
    pub rating: Option<u8>,
    pub comment: Option<Option<String>>,
    pub at: OffsetDateTime,
}

impl Command for EditReview {
    type Output = Review;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Review(self.review_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Review, ActorError>> {
        Box::pin(async move {
            let change = |r: &mut Review| r.edit(self.by.id, self.rating, self.comment.clone(), self.at);
            let review = change_review(&cx, self.review_id, change).await?;
            cx.bus.publish([DomainEvent::ReviewEdited { review: review.clone() }], self.at).await;
            Ok(review)
        })
    }
}

/// The author deletes a review.
#[derive(actix::Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct DeleteReview {
    pub by: Caller,
    pub review_id: ReviewId,
    pub at: OffsetDateTime,
}

impl Command for DeleteReview {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        Aggregate::Review(self.review_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move {
            let m = cx.store.market();
            let r = m.get::<Review>(self.review_id).await?.ok_or(ActorError::NotFound)?.value;
            r.may_delete(self.by.id).map_err(ActorError::Refused)?;
            m.remove(&r).await?;
            m.release_review(&r.engagement, r.author_id).await?;
            tracing::info!(review = %r.id, "review deleted");
            cx.bus.publish([DomainEvent::ReviewDeleted { review: r }], self.at).await;
            Ok(())
        })
    }
}

/// The reviewee answers a review, once.
#[derive(actix::Message)]
#[rtype(result = "Result<Review, ActorError>")]
pub struct ReplyToReview {
    pub by: Caller,
    pub review_id: ReviewId,
    pub text: String,
    pub at: OffsetDateTime,
}

impl Command for ReplyToReview {
    type Output = Review;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Review(self.review_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Review, ActorError>> {
        Box::pin(async move {
            let review =
                change_review(&cx, self.review_id, |r| r.reply(self.by.id, self.text.clone(), self.at)).await?;
            cx.bus.publish([DomainEvent::ReviewReplied { review: review.clone(), by: self.by.id }], self.at).await;
            Ok(review)
        })
    }
}
