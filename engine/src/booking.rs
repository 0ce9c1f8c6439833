//! The booking aggregate: a client's booking of a service for a time slot. Its state
//! machine is [`BookingStatus::transition`] (table-tested in `market`); this adds who is
//! asking (a party, relative to the booking) and what a change does to the provider's slot.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::market::{slot, BookingActor, BookingStatus};
use crate::{BookingId, Money, ServiceId, UserId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Booking {
    pub id: BookingId,
    pub service_id: ServiceId,
    pub client_id: UserId,
    pub provider_id: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub start_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub end_at: OffsetDateTime,
    pub note: Option<String>,
    pub status: BookingStatus,
    pub price: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What a booking needs to know of the service booked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bookable {
    pub service_id: ServiceId,
    pub owner_id: UserId,
    pub price: Money,
}

/// What a status change does to the provider's schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotEffect {
    /// Confirming: the interval must be reserved first (it may clash).
    Reserve,
    /// A final state: the interval is given back.
    Release,
    None,
}

impl Booking {
    /// Anyone but the service's owner requests a slot (not in the past, at most 30 days).
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        id: BookingId,
        service: Bookable,
        by: UserId,
        start_at: OffsetDateTime,
        end_at: OffsetDateTime,
        note: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Booking, DomainError> {
        slot(start_at, end_at, now)?;
        if service.owner_id == by {
            return Err(DomainError::Forbidden("you cannot book your own service"));
        }
        Ok(Booking {
            id,
            service_id: service.service_id,
            client_id: by,
            provider_id: service.owner_id,
            start_at,
            end_at,
            note,
            status: BookingStatus::Requested,
            price: service.price,
            created_at: now,
            updated_at: now,
        })
    }

    /// The caller's side of the booking; `None` for anyone else (who must get a 404).
    pub fn party(&self, user: UserId) -> Option<BookingActor> {
        if user == self.client_id {
            Some(BookingActor::Client)
        } else if user == self.provider_id {
            Some(BookingActor::Provider)
        } else {
            None
        }
    }

    /// Decides a status change by a party, without applying it.
    pub fn decide(&self, by: BookingActor, to: BookingStatus, now: OffsetDateTime) -> Result<SlotEffect, DomainError> {
        self.status.transition(to, by, now, self.start_at)?;
        Ok(match to {
            BookingStatus::Confirmed => SlotEffect::Reserve,
            BookingStatus::Declined | BookingStatus::Cancelled | BookingStatus::Completed => SlotEffect::Release,
            BookingStatus::Requested => SlotEffect::None,
        })
    }

    /// Applies a decided change.
    pub fn apply(&mut self, to: BookingStatus, at: OffsetDateTime) {
        self.status = to;
        self.updated_at = at;
    }

    /// Whether it no longer needs a slot on the schedule.
    pub fn is_final(&self) -> bool {
        matches!(self.status, BookingStatus::Declined | BookingStatus::Cancelled | BookingStatus::Completed)
    }

    /// Who is told about a change to `to` made by `by`: the other party.
    pub fn other_party(&self, by: UserId) -> UserId {
        if by == self.client_id {
            self.provider_id
        } else {
            self.client_id
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn booking() -> Booking {
        let service = Bookable {
            service_id: ServiceId::from_uuid(uuid::Uuid::from_u128(3)),
            owner_id: uid(2),
            price: Money::parse(100, "USD").expect("usd"),
        };
        Booking::request(
            BookingId::from_uuid(uuid::Uuid::from_u128(4)),
            service,
            uid(1),
            NOW + time::Duration::days(1),
            NOW + time::Duration::days(1) + time::Duration::hours(1),
            None,
            NOW,
        )
        .expect("request")
    }

    #[test]
    fn requests() {
        let b = booking();
        assert_eq!((b.status, b.client_id, b.provider_id), (BookingStatus::Requested, uid(1), uid(2)));
        let own = Bookable { service_id: b.service_id, owner_id: uid(1), price: b.price };
        let r = Booking::request(b.id, own, uid(1), b.start_at, b.end_at, None, NOW);
        assert!(matches!(r, Err(DomainError::Forbidden(_))));
        let own = Bookable { service_id: b.service_id, owner_id: uid(2), price: b.price };
        assert!(Booking::request(b.id, own, uid(1), b.end_at, b.start_at, None, NOW).is_err());
    }

    /// Every (from, to, party) with its slot effect; strangers are no party at all.
    #[test]
    fn every_change_and_its_slot_effect() {
        use BookingStatus::*;
        let allowed = [
            (Requested, Confirmed, BookingActor::Provider, SlotEffect::Reserve),
            (Requested, Declined, BookingActor::Provider, SlotEffect::Release),
            (Requested, Cancelled, BookingActor::Client, SlotEffect::Release),
            (Requested, Cancelled, BookingActor::Provider, SlotEffect::Release),
            (Confirmed, Cancelled, BookingActor::Client, SlotEffect::Release),
            (Confirmed, Cancelled, BookingActor::Provider, SlotEffect::Release),
        ];
        let mut checked = 0;
        for from in BookingStatus::ALL {
            for to in BookingStatus::ALL {
                for user in [uid(1), uid(2), uid(3)] {
                    let mut b = booking();
                    b.status = from;
                    let Some(by) = b.party(user) else {
                        assert_eq!(user, uid(3));
                        continue;
                    };
                    let r = b.decide(by, to, NOW);
                    match allowed.iter().find(|(f, t, a, _)| (*f, *t, *a) == (from, to, by)) {
                        Some((_, _, _, effect)) => assert_eq!(r, Ok(*effect), "{from:?}->{to:?} by {by:?}"),
                        None => assert!(r.is_err(), "{from:?}->{to:?} by {by:?}"),
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 50);
        // Completing happens after the start.
        let mut b = booking();
        b.status = Confirmed;
        assert_eq!(
            b.decide(BookingActor::Provider, Completed, b.start_at + time::Duration::minutes(1)),
            Ok(SlotEffect::Release)
        );
        b.apply(Completed, NOW);
        assert!(b.is_final());
        assert_eq!(b.other_party(uid(1)), uid(2));
        assert_eq!(b.other_party(uid(2)), uid(1));
    }
}
