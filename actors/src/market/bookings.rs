//! Booking commands. "A provider never holds two overlapping confirmed bookings" is decided
//! by the provider's schedule row in storage (compare-and-set, so it holds across processes).
//! Confirming is a multi-step operation: (0) an intent is recorded; (1) the interval is
//! reserved on the schedule; (2) the booking is compare-and-set to confirmed; the intent is
//! removed. A confirm that loses step 2 gives the interval back. Every move to a final state
//! (declined, cancelled, completed) releases the interval (idempotent). A crash between the
//! steps leaves the intent; [`complete_confirm`] (run by the sweeper) keeps the reservation
//! if the booking is confirmed and releases it otherwise. An interval still held by a
//! booking that is no longer live is also healed the next time it is in the way.

use agora_engine::availability::{self, BusyInterval};
use agora_engine::booking::{Bookable, SlotEffect};
use agora_engine::{
    codes, Booking, BookingId, BookingStatus, DomainError, DomainEvent, ServiceId, SlotPolicy, UserId, WorkingHours,
};
use agora_storage::intents::{Intent, Step};
use agora_storage::market::{Schedule, Service};
use agora_storage::{cas_retry, Store, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// A client books a service (anyone but its owner) at the service's current price.
#[derive(actix::Message)]
#[rtype(result = "Result<Booking, ActorError>")]
pub struct RequestBooking {
    pub by: Caller,
    pub service_id: ServiceId,
    pub start_at: OffsetDateTime,
    pub end_at: OffsetDateTime,
    pub note: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for RequestBooking {
    type Output = Booking;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Booking, ActorError>> {
        Box::pin(async move {
            let m = cx.store.market();
            let service = m
                .get::<Service>(self.service_id)
                .await?
                .map(|s| s.value)
                .filter(|s| !s.deleted)
                .ok_or(ActorError::NotFound)?;
            let bookable = Bookable { service_id: service.id, owner_id: service.owner_id, price: service.price };
            let booking = Booking::request(
                new_id(BookingId::from_uuid),
                bookable,
                self.by.id,
                self.start_at,
                self.end_at,
                self.note,
                self.at,
            )
            .map_err(ActorError::Refused)?;
            match cx.store.availability().hours(service.owner_id).await? {
                Some(hours) => {
                    hold_slot(&cx, &service, &hours, &booking, self.at).await?;
                    if let Err(e) = m.insert(&booking).await {
                        m.release(booking.provider_id, booking.id).await?;
                        return Err(e.into());
                    }
                }
                None => m.insert(&booking).await?,
            }
            tracing::info!(booking = %booking.id, service = %service.id, "booking requested");
            let event = DomainEvent::BookingRequested { booking: booking.clone(), service_title: service.title };
            cx.bus.publish([event], self.at).await;
            Ok(booking)
        })
    }
}

/// For a provider with working hours: the request must be one slot (the service's
/// duration) inside availability, under the daily cap, and clear of taken time with the
/// service's buffers; it then holds its slot for `booking_hold` (compare-and-set on the
/// provider's schedule, so concurrent requests for one slot get exactly one hold). A crash
/// before the booking is written leaves a hold that expires on its own.
async fn hold_slot(
    cx: &Cx,
    service: &Service,
    hours: &WorkingHours,
    b: &Booking,
    now: OffsetDateTime,
) -> Result<(), ActorError> {
    let rules = service.booking_rules.unwrap_or_default();
    let policy = SlotPolicy::for_service(service.duration_minutes, &rules).map_err(ActorError::Refused)?;
    if b.end_at - b.start_at != policy.duration() {
        let minutes = policy.duration().whole_minutes();
        let problem = format!("must be start_at plus the service's duration ({minutes} minutes)");
        return Err(ActorError::Refused(DomainError::invalid_field("end_at", problem)));
    }
    availability::fits(hours, &policy, b.start_at, now).map_err(ActorError::Refused)?;
    let guard = (b.start_at - policy.buffer_before(), b.end_at + policy.buffer_after());
    let until = now + cx.booking_hold;
    cx.store
        .market()
        .hold(b.provider_id, b.id, b.start_at, b.end_at, until, now, |sched| {
            let busy = busy(sched, now, Some(b.id));
            if busy.iter().any(|t| t.start < guard.1 && guard.0 < t.end) {
                return Err(overlap());
            }
            availability::within_daily_cap(hours, &policy, b.start_at, &busy).map_err(ActorError::Refused)
        })
        .await
}

/// The provider's taken time (confirmed and held) other than `except`'s, for the engine.
pub fn busy(sched: &Schedule, now: OffsetDateTime, except: Option<BookingId>) -> Vec<BusyInterval> {
    let at = |t: i64| OffsetDateTime::from_unix_timestamp(t).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    sched
        .taken(now, except)
        .into_iter()
        .map(|(s, e, _)| BusyInterval { start: at(s), end: at(e), counts_toward_cap: true })
        .collect()
}

/// A party changes a booking's status through the booking state machine.
#[derive(actix::Message)]
#[rtype(result = "Result<Booking, ActorError>")]
pub struct ChangeBookingStatus {
    pub by: Caller,
    pub booking_id: BookingId,
    pub to: BookingStatus,
    pub at: OffsetDateTime,
}

impl Command for ChangeBookingStatus {
    type Output = Booking;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Booking(self.booking_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Booking, ActorError>> {
        Box::pin(change(cx, self))
    }
}

fn overlap() -> ActorError {
    ActorError::Refused(DomainError::conflict(
        codes::BOOKING_OVERLAP,
        "the provider already has a confirmed booking that overlaps this one",
    ))
}

/// The booking, if `user` is one of its parties.
async fn party_booking(
    store: &Store,
    user: UserId,
    id: BookingId,
) -> Result<agora_storage::Versioned<Booking>, ActorError> {
    store.market().get::<Booking>(id).await?.filter(|b| b.value.party(user).is_some()).ok_or(ActorError::NotFound)
}

/// Reserves the booking's interval on the provider's schedule. An interval held by a
/// booking that is no longer live is a leftover of an interrupted change: it is released
/// and the reservation retried.
async fn reserve(store: &Store, b: &Booking, now: OffsetDateTime) -> Result<(), ActorError> {
    let m = store.market();
    cas_retry(|| async {
        let Some(clash) = m.reserve(b.provider_id, b.id, b.start_at, b.end_at, now).await? else { return Ok(Some(())) };
        let holder = m.get::<Booking>(clash).await?;
        if !holder.is_none_or(|h| h.value.is_final()) {
            return Err(overlap());
        }
        tracing::warn!(booking = %clash, "releasing a stale schedule reservation");
        m.release(b.provider_id, clash).await?;
        Ok(None)
    })
    .await
    .map_err(|e| match e {
        ActorError::Storage(StoreError::Conflict) => overlap(),
        other => other,
    })
}

async fn change(cx: Cx, cmd: ChangeBookingStatus) -> Result<Booking, ActorError> {
    let m = cx.store.market();
    let first = party_booking(&cx.store, cmd.by.id, cmd.booking_id).await?;
    let party = first.value.party(cmd.by.id).ok_or(ActorError::NotFound)?;
    let effect = first.value.decide(party, cmd.to, cmd.at).map_err(ActorError::Refused)?;
    let intent = match effect {
        SlotEffect::Reserve => {
            let step = Step::ConfirmBooking {
                booking_id: first.value.id,
                provider_id: first.value.provider_id,
                by: cmd.by.id,
            };
            let intent = Intent::new(step, cmd.at);
            cx.store.intents().record(&intent).await?;
            cx.faults.hit("confirm:intent");
            if let Err(e) = reserve(&cx.store, &first.value, cmd.at).await {
                cx.store.intents().done(intent.id).await?;
                return Err(e);
            }
            cx.faults.hit("confirm:schedule");
            Some(intent)
        }
        _ => None,
    };
    let saved = cas_retry(|| async {
        let current = party_booking(&cx.store, cmd.by.id, cmd.booking_id).await?;
        current.value.decide(party, cmd.to, cmd.at).map_err(ActorError::Refused)?;
        let mut next = current.value.clone();
        next.apply(cmd.to, cmd.at);
        Ok::<_, ActorError>(m.try_save(&next, current.version).await?.map(|_| next))
    })
    .await;
    if let Some(intent) = &intent {
        if saved.is_err() {
            // The confirm lost (or failed): the interval is given back unless the booking is
            // confirmed now by a concurrent request for the same slot.
            let now = m.get::<Booking>(cmd.booking_id).await?;
            if now.is_none_or(|b| b.value.status != BookingStatus::Confirmed) {
                m.release(first.value.provider_id, cmd.booking_id).await?;
            }
        } else {
            cx.faults.hit("confirm:booking");
        }
        cx.store.intents().done(intent.id).await?;
    }
    let saved = saved?;
    if effect == SlotEffect::Release {
        m.release(saved.provider_id, saved.id).await?;
    }
    tracing::info!(booking = %saved.id, status = cmd.to.as_str(), "booking status changed");
    let service_title = m.get::<Service>(saved.service_id).await?.map(|s| s.value.title);
    let event = DomainEvent::BookingStatusChanged { booking: saved.clone(), by: cmd.by.id, service_title };
    cx.bus.publish([event], cmd.at).await;
    Ok(saved)
}

/// Completes or undoes a confirm that a crash interrupted: a confirmed booking keeps its
/// reservation (made first); any other gives it back.
pub(crate) async fn complete_confirm(
    cx: &Cx,
    booking_id: BookingId,
    provider_id: UserId,
    by: UserId,
    at: OffsetDateTime,
) -> Result<&'static str, ActorError> {
    let m = cx.store.market();
    let booking = m.get::<Booking>(booking_id).await?;
    if let Some(b) = booking.filter(|b| b.value.status == BookingStatus::Confirmed) {
        // The confirm was written; its notification may not have gone out (at least once).
        let service_title = m.get::<Service>(b.value.service_id).await?.map(|s| s.value.title);
        cx.bus.publish([DomainEvent::BookingStatusChanged { booking: b.value, by, service_title }], at).await;
        return Ok("completed");
    }
    if m.holds_slot(provider_id, booking_id).await? {
        m.release(provider_id, booking_id).await?;
        return Ok("undone");
    }
    Ok("nothing to do")
}
