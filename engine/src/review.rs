//! The review aggregate: a party to a completed contract or booking rates the other party
//! (1..5), once per engagement. Rules:
//!
//! | action | who | when |
//! |---|---|---|
//! | post | a party to the engagement (anyone else: not found) | the engagement is completed |
//! | edit, delete | the author | any time |
//! | reply | the reviewee | once |
//!
//! A client's review of a booking also counts for the booked service; a provider's review of
//! the client does not.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::codes;
use crate::error::DomainError;
use crate::{BookingId, ContractId, ReviewId, ServiceId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Engagement {
    Contract(ContractId),
    Booking(BookingId),
}

impl Engagement {
    pub fn key(&self) -> String {
        match self {
            Engagement::Contract(id) => id.to_string(),
            Engagement::Booking(id) => id.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Review {
    pub id: ReviewId,
    pub engagement: Engagement,
    pub author_id: UserId,
    pub reviewee_id: UserId,
    /// Set for booking reviews of the service's provider.
    pub service_id: Option<ServiceId>,
    pub rating: u8,
    pub comment: Option<String>,
    pub reply: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub replied_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a review needs to know of the engagement it rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reviewable {
    pub engagement: Engagement,
    pub client_id: UserId,
    pub provider_id: UserId,
    /// The booked service (bookings only).
    pub service_id: Option<ServiceId>,
    pub completed: bool,
}

/// Who a review of `what` by `author` rates, and which service it counts for. `Ok(None)`
/// when the author is not a party (the caller answers not found).
pub fn target(what: &Reviewable, author: UserId) -> Result<Option<(UserId, Option<ServiceId>)>, DomainError> {
    let t = if author == what.client_id {
        (what.provider_id, what.service_id)
    } else if author == what.provider_id {
        (what.client_id, None)
    } else {
        return Ok(None);
    };
    if !what.completed {
        return Err(DomainError::conflict(
            codes::NOT_COMPLETED,
            "only a completed contract or booking can be reviewed",
        ));
    }
    Ok(Some(t))
}

impl Review {
    /// A new review of `what` by `author` (see [`target`]).
    pub fn post(
        id: ReviewId,
        what: &Reviewable,
        author: UserId,
        rating: u8,
        comment: Option<String>,
        at: OffsetDateTime,
    ) -> Result<Option<Review>, DomainError> {
        let Some((reviewee_id, service_id)) = target(what, author)? else { return Ok(None) };
        Ok(Some(Review {
            id,
            engagement: what.engagement,
            author_id: author,
            reviewee_id,
            service_id,
            rating,
            comment,
            reply: None,
            replied_at: None,
            created_at: at,
            updated_at: at,
        }))
    }

    /// The author changes the rating and/or the comment (`Some(None)` removes it).
    pub fn edit(
        &mut self,
        by: UserId,
        rating: Option<u8>,
        comment: Option<Option<String>>,
        at: OffsetDateTime,
    ) -> Result<(), DomainError> {
        if by != self.author_id {
            return Err(DomainError::Forbidden("only the author may edit a review"));
        }
        if let Some(r) = rating {
            self.rating = r;
        }
        if let Some(c) = comment {
            self.comment = c;
        }
        self.updated_at = at;
        Ok(())
    }

    pub fn may_delete(&self, by: UserId) -> Result<(), DomainError> {
        if by != self.author_id {
            return Err(DomainError::Forbidden("only the author may delete a review"));
        }
        Ok(())
    }

    /// The reviewee answers, once.
    pub fn reply(&mut self, by: UserId, text: String, at: OffsetDateTime) -> Result<(), DomainError> {
        if by != self.reviewee_id {
            return Err(DomainError::Forbidden("only the reviewee may reply to a review"));
        }
        if self.reply.is_some() {
            return Err(DomainError::conflict(codes::ALREADY_REPLIED, "this review already has a reply"));
        }
        self.reply = Some(text);
        self.replied_at = Some(at);
        self.updated_at = at;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn booking(completed: bool) -> Reviewable {
        Reviewable {
            engagement: Engagement::Booking(BookingId::from_uuid(uuid::Uuid::from_u128(5))),
            client_id: uid(1),
            provider_id: uid(2),
            service_id: Some(ServiceId::from_uuid(uuid::Uuid::from_u128(6))),
            completed,
        }
    }
    fn review() -> Review {
        Review::post(ReviewId::from_uuid(uuid::Uuid::from_u128(9)), &booking(true), uid(1), 4, None, AT)
            .expect("allowed")
            .expect("a party")
    }

    #[test]
    fn who_reviews_whom() {
        let rid = ReviewId::from_uuid(uuid::Uuid::from_u128(9));
        let (client, provider, stranger) = (uid(1), uid(2), uid(3));
        let mut checked = 0;
        for completed in [true, false] {
            for author in [client, provider, stranger] {
                let r = Review::post(rid, &booking(completed), author, 5, None, AT);
                match (author, completed) {
                    (a, _) if a == stranger => assert_eq!(r, Ok(None)),
                    (_, false) => assert_eq!(r.expect_err("refused").code(), codes::NOT_COMPLETED),
                    (a, true) => {
                        let r = r.expect("ok").expect("party");
                        if a == client {
                            assert_eq!((r.reviewee_id, r.service_id.is_some()), (provider, true));
                        } else {
                            assert_eq!((r.reviewee_id, r.service_id), (client, None));
                        }
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 6);
        let contract = Reviewable {
            engagement: Engagement::Contract(ContractId::from_uuid(uuid::Uuid::from_u128(7))),
            service_id: None,
            ..booking(true)
        };
        assert_eq!(target(&contract, client), Ok(Some((provider, None))));
    }

    /// Every action by every role.
    #[test]
    fn every_action() {
        let (author, reviewee, stranger) = (uid(1), uid(2), uid(3));
        for by in [author, reviewee, stranger] {
            let mut r = review();
            assert_eq!(r.edit(by, Some(2), Some(Some("ok".into())), AT).is_ok(), by == author, "edit by {by}");
            assert_eq!(r.may_delete(by).is_ok(), by == author, "delete by {by}");
            let mut r = review();
            assert_eq!(r.reply(by, "thanks".into(), AT).is_ok(), by == reviewee, "reply by {by}");
        }
        let mut r = review();
        r.reply(reviewee, "thanks".into(), AT).expect("first reply");
        assert_eq!(r.reply(reviewee, "again".into(), AT).expect_err("once").code(), codes::ALREADY_REPLIED);
        r.edit(author, None, Some(None), AT).expect("remove comment");
        assert_eq!((r.rating, r.comment.as_deref()), (4, None));
    }
}
