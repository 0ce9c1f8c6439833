//! The booking aggregate: a client's booking of a service for a time slot. Its state
//! machine is [`BookingStatus::transition`] (table-tested in `market`); this adds who is
//! asking (a party, relative to the booking) and what a change does to the provider's slot.
//!
//! A priced booking is paid when the provider confirms it: the client's card is charged
//! into the booking's escrow (held for the provider), and the confirmation happens only
//! once the charge succeeded. The escrow is released to the provider (minus the platform
//! fee) when the booking completes, and refunded to the card when a paid booking ends any
//! other way ([`Booking::settlement`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::market::{slot, BookingActor, BookingStatus};
use crate::{BookingId, LedgerTxnId, Money, PaymentId, PaymentMethodId, ServiceId, UserId};

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
    /// The saved card the client chose to pay with (without one, a priced booking is paid
    /// with the client's newest saved card).
    #[serde(default)]
    pub payment_method_id: Option<PaymentMethodId>,
    /// The charge made when the provider confirmed (it claims the booking while it runs).
    #[serde(default)]
    pub payment_id: Option<PaymentId>,
    /// The charge is in the booking's escrow.
    #[serde(default)]
    pub paid: bool,
    /// The ledger transaction that releases or refunds the escrow, once decided.
    #[serde(default)]
    pub settlement_txn: Option<LedgerTxnId>,
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

/// What becomes of a paid booking's escrow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Completed: to the provider, minus the platform fee.
    Release,
    /// Declined or cancelled: back to the card.
    Refund,
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
        payment_method_id: Option<PaymentMethodId>,
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
            payment_method_id,
            payment_id: None,
            paid: false,
            settlement_txn: None,
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

    /// Whether confirming it charges the client (a price above zero).
    pub fn is_priced(&self) -> bool {
        self.price.minor() > 0
    }

    /// What its escrow must become now: released once completed, refunded once it ended any
    /// other way; `None` while it is live, unpaid, or already decided.
    pub fn settlement(&self) -> Option<Settlement> {
        if !self.paid || self.settlement_txn.is_some() {
            return None;
        }
        match self.status {
            BookingStatus::Completed => Some(Settlement::Release),
            BookingStatus::Declined | BookingStatus::Cancelled => Some(Settlement::Refund),
            BookingStatus::Requested | BookingStatus::Confirmed => None,
        }
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
        let r = Booking::request(b.id, own, uid(1), b.start_at, b.end_at, None, None, NOW);
        assert!(matches!(r, Err(DomainError::Forbidden(_))));
        let own = Bookable { service_id: b.service_id, owner_id: uid(2), price: b.price };
        assert!(Booking::request(b.id, own, uid(1), b.end_at, b.start_at, None, None, NOW).is_err());
    }

    /// A paid booking's escrow is released on completion and refunded on any other end,
    /// once; unpaid or live bookings settle nothing.
    #[test]
    fn paid_bookings_settle_by_how_they_end() {
        use BookingStatus::*;
        let mut b = booking();
        assert!(b.is_priced());
        for status in BookingStatus::ALL {
            b.status = status;
            assert_eq!(b.settlement(), None, "unpaid: {status:?}");
        }
        b.paid = true;
        for (status, want) in [
            (Requested, None),
            (Confirmed, None),
            (Completed, Some(Settlement::Release)),
            (Declined, Some(Settlement::Refund)),
            (Cancelled, Some(Settlement::Refund)),
        ] {
            b.status = status;
            assert_eq!(b.settlement(), want, "{status:?}");
        }
        b.settlement_txn = Some(LedgerTxnId::from_uuid(uuid::Uuid::from_u128(9)));
        assert_eq!(b.settlement(), None, "decided once");
        b.price = Money::parse(0, "USD").expect("usd");
        assert!(!b.is_priced());
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
