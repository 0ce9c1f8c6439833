//! Booking commands. "A provider never holds two overlapping confirmed bookings" is decided
//! by the provider's schedule row in storage (compare-and-set, so it holds across processes).
//! Confirming is a multi-step operation: (0) an intent is recorded; (1) the interval is
//! reserved on the schedule; (2) the booking is compare-and-set to confirmed; the intent is
//! removed. A confirm that loses step 2 gives the interval back. Every move to a final state
//! (declined, cancelled, completed) releases the interval (idempotent). A crash between the
//! steps leaves the intent; [`complete_confirm`] (run by the sweeper) keeps the reservation
//! if the booking is confirmed and releases it otherwise. An interval still held by a
//! booking that is no longer live is also healed the next time it is in the way.
//!
//! A priced booking is paid on confirmation: after the interval is reserved, the booking is
//! claimed by a new payment (compare-and-set, so one charge runs at a time in any process),
//! the card is charged through the gateway (keyed by the payment id), the charge is posted
//! into the booking's escrow, and the booking becomes confirmed and paid in one write
//! ([`complete_payment`], which the sweeper and the charge webhook also run). A declined
//! card gives the claim and the interval back and answers 402. When a paid booking ends,
//! the write that ends it also decides its settlement transaction (release on completion,
//! refund otherwise) under a `SettleBooking` intent; the ledger posting and the card refund
//! follow ([`settle`]).

use agora_engine::availability::{self, BusyInterval};
use agora_engine::booking::{Bookable, Settlement, SlotEffect};
use agora_engine::ledger::{self, Transaction, TxnKind};
use agora_engine::payment::{Payment, PaymentFor};
use agora_engine::{
    codes, Booking, BookingId, BookingStatus, DomainError, DomainEvent, LedgerTxnId, PaymentId, PaymentMethodId,
    ServiceId, SlotPolicy, UserId, WorkingHours,
};
use agora_storage::intents::{Intent, Step};
use agora_storage::market::{List, Schedule, Service};
use agora_storage::payments::PaymentMethod;
use agora_storage::{cas_retry, Store, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::charges::Charged;
use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// A client books a service (anyone but its owner) at the service's current price, to be
/// paid with `payment_method_id` (one of the client's saved cards) when it is confirmed.
#[derive(actix::Message)]
#[rtype(result = "Result<Booking, ActorError>")]
pub struct RequestBooking {
    pub by: Caller,
    pub service_id: ServiceId,
    pub start_at: OffsetDateTime,
    pub end_at: OffsetDateTime,
    pub note: Option<String>,
    pub payment_method_id: Option<PaymentMethodId>,
    pub at: OffsetDateTime,
}

/// The card a booking of `client` is charged to: the chosen one while it is still saved,
/// else the client's newest; `None` when they have none.
async fn paying_card(
    cx: &Cx,
    client: UserId,
    chosen: Option<PaymentMethodId>,
) -> Result<Option<PaymentMethod>, ActorError> {
    if let Some(id) = chosen {
        match super::charges::own_card(cx, client, id).await {
            Ok(card) => return Ok(Some(card)),
            Err(ActorError::Invalid(_)) => {}
            Err(e) => return Err(e),
        }
    }
    let list = List::<PaymentMethod>::payment_methods_of(client);
    Ok(cx.store.market().page(&list, agora_storage::Order::Desc, 1, None).await?.0.into_iter().next())
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
            if let Some(id) = self.payment_method_id {
                super::charges::own_card(&cx, self.by.id, id).await?;
            }
            let bookable = Bookable { service_id: service.id, owner_id: service.owner_id, price: service.price };
            let booking = Booking::request(
                new_id(BookingId::from_uuid),
                bookable,
                self.by.id,
                self.start_at,
                self.end_at,
                self.note,
                self.payment_method_id,
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

/// The client chooses the saved card a requested booking is paid with when the provider
/// confirms it (`POST /api/payments {booking_id, payment_method_id}`).
#[derive(actix::Message)]
#[rtype(result = "Result<Booking, ActorError>")]
pub struct ChooseBookingCard {
    pub by: Caller,
    pub booking_id: BookingId,
    pub payment_method_id: PaymentMethodId,
    pub at: OffsetDateTime,
}

impl Command for ChooseBookingCard {
    type Output = Booking;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Booking(self.booking_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Booking, ActorError>> {
        Box::pin(async move {
            let b = party_booking(&cx.store, self.by.id, self.booking_id).await?.value;
            if b.client_id != self.by.id {
                return Err(ActorError::Forbidden("only the client pays for a booking"));
            }
            super::charges::own_card(&cx, self.by.id, self.payment_method_id).await?;
            let saved = cx
                .store
                .market()
                .update::<Booking, ActorError>(self.booking_id, |b| {
                    if b.paid || b.payment_id.is_some() {
                        return Err(ActorError::Refused(DomainError::conflict(
                            codes::CONFLICT,
                            "this booking is already paid, or its payment is in progress",
                        )));
                    }
                    if b.status != BookingStatus::Requested {
                        return Err(ActorError::Refused(DomainError::Transition {
                            from: b.status.as_str(),
                            to: BookingStatus::Confirmed.as_str(),
                        }));
                    }
                    b.payment_method_id = Some(self.payment_method_id);
                    b.updated_at = self.at;
                    Ok(())
                })
                .await?
                .ok_or(ActorError::NotFound)?
                .value;
            tracing::info!(booking = %saved.id, "booking card chosen");
            Ok(saved)
        })
    }
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
    if effect == SlotEffect::Reserve && first.value.is_priced() {
        return confirm_paid(&cx, cmd, first.value).await;
    }
    let intent = match effect {
        SlotEffect::Reserve => {
            let step = Step::ConfirmBooking {
                booking_id: first.value.id,
                provider_id: first.value.provider_id,
                by: cmd.by.id,
                charge: None,
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
    // Ending a priced booking may settle its escrow: the ending write decides the
    // settlement transaction, under an intent recorded first.
    let settle_txn = new_id(LedgerTxnId::from_uuid);
    let settle_intent = if effect == SlotEffect::Release && first.value.is_priced() {
        let intent = Intent::new(Step::SettleBooking { booking_id: first.value.id, txn_id: settle_txn }, cmd.at);
        cx.store.intents().record(&intent).await?;
        Some(intent)
    } else {
        None
    };
    let saved = cas_retry(|| async {
        let current = party_booking(&cx.store, cmd.by.id, cmd.booking_id).await?;
        current.value.decide(party, cmd.to, cmd.at).map_err(ActorError::Refused)?;
        let mut next = current.value.clone();
        next.apply(cmd.to, cmd.at);
        if next.settlement().is_some() {
            next.settlement_txn = Some(settle_txn);
        }
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
    let saved = match saved {
        Ok(b) => b,
        Err(e) => {
            if let Some(intent) = &settle_intent {
                cx.store.intents().done(intent.id).await?;
            }
            return Err(e);
        }
    };
    if effect == SlotEffect::Release {
        m.release(saved.provider_id, saved.id).await?;
    }
    if let Some(intent) = &settle_intent {
        if saved.settlement_txn == Some(settle_txn) {
            cx.faults.hit("booking:settle_decided");
            settle(&cx, &saved).await?;
        }
        cx.store.intents().done(intent.id).await?;
    }
    tracing::info!(booking = %saved.id, status = cmd.to.as_str(), "booking status changed");
    publish_change(&cx, &saved, cmd.by.id, cmd.at).await?;
    Ok(saved)
}

async fn publish_change(cx: &Cx, b: &Booking, by: UserId, at: OffsetDateTime) -> Result<(), ActorError> {
    let service_title = cx.store.market().get::<Service>(b.service_id).await?.map(|s| s.value.title);
    let event = DomainEvent::BookingStatusChanged { booking: b.clone(), by, service_title };
    cx.bus.publish([event], at).await;
    Ok(())
}

/// The provider confirms a priced booking: reserve the interval, claim the booking for a
/// new payment, charge the card, then [`complete_payment`]. A declined card answers 402
/// with the booking requested as before; a charge whose outcome comes later answers the
/// booking still requested, claimed by its pending payment.
async fn confirm_paid(cx: &Cx, cmd: ChangeBookingStatus, b: Booking) -> Result<Booking, ActorError> {
    if b.payment_id.is_some() {
        return Err(payment_in_progress());
    }
    let card = paying_card(cx, b.client_id, b.payment_method_id).await?.ok_or_else(|| {
        ActorError::Refused(DomainError::conflict(
            codes::PAYMENT_METHOD_REQUIRED,
            "the client has no saved card to pay this booking with; it can be confirmed once they add one",
        ))
    })?;
    let payment = Payment::pending(
        new_id(PaymentId::from_uuid),
        b.client_id,
        b.provider_id,
        PaymentFor::Booking { booking_id: b.id },
        b.price,
        card.card.clone(),
        new_id(LedgerTxnId::from_uuid),
        cmd.at,
    );
    let step = Step::ConfirmBooking {
        booking_id: b.id,
        provider_id: b.provider_id,
        by: cmd.by.id,
        charge: Some((payment.id, card.id)),
    };
    let intent = Intent::new(step, cmd.at);
    cx.store.intents().record(&intent).await?;
    cx.faults.hit("confirm:intent");
    let m = cx.store.market();
    let claimed = async {
        reserve(&cx.store, &b, cmd.at).await?;
        cx.faults.hit("confirm:schedule");
        let claimed = m
            .update::<Booking, ActorError>(b.id, |x| {
                x.decide(agora_engine::BookingActor::Provider, BookingStatus::Confirmed, cmd.at)
                    .map_err(ActorError::Refused)?;
                if x.payment_id.is_some() {
                    return Err(payment_in_progress());
                }
                x.payment_id = Some(payment.id);
                Ok(())
            })
            .await;
        if let Err(e) = claimed {
            // Give the interval back, unless a concurrent confirm of this booking holds
            // the claim (its reservation is the same one).
            let now = m.get::<Booking>(b.id).await?;
            if now.is_none_or(|x| x.value.payment_id.is_none() && x.value.status != BookingStatus::Confirmed) {
                m.release(b.provider_id, b.id).await?;
            }
            return Err(e);
        }
        Ok(())
    }
    .await;
    if let Err(e) = claimed {
        cx.store.intents().done(intent.id).await?;
        return Err(e);
    }
    cx.faults.hit("confirm:claimed");
    m.insert(&payment).await?;
    cx.faults.hit("confirm:payment");
    let outcome = complete_payment(cx, b.id, payment.id, Some(card.id), cmd.at).await;
    cx.store.intents().done(intent.id).await?;
    let (booking, charged) = outcome?;
    match charged {
        Charged::Failed => {
            let p = m.get::<Payment>(payment.id).await?.map(|v| v.value);
            Err(super::charges::declined(p.as_ref()))
        }
        Charged::Succeeded | Charged::Pending => Ok(booking),
    }
}

fn payment_in_progress() -> ActorError {
    ActorError::Refused(DomainError::conflict(codes::CONFLICT, "this booking's payment is already in progress"))
}

/// Charges a confirming booking's payment (once), then: succeeded, posts it into the
/// booking's escrow and marks the booking paid and confirmed in one write (a booking that
/// ended meanwhile is marked paid and refunded instead); declined, gives the claim and the
/// interval back; pending, leaves both for the webhook. Idempotent: the sweeper runs it
/// after a crash, and the charge webhook runs it with `method` `None`.
pub(crate) async fn complete_payment(
    cx: &Cx,
    booking_id: BookingId,
    payment_id: PaymentId,
    method: Option<PaymentMethodId>,
    at: OffsetDateTime,
) -> Result<(Booking, Charged), ActorError> {
    let m = cx.store.market();
    let Some((payment, charged)) = super::charges::charge(cx, payment_id, method, at).await? else {
        // Claimed, then interrupted before the payment existed: nothing was charged.
        let b = give_back(cx, booking_id, payment_id).await?;
        return Ok((b, Charged::Failed));
    };
    cx.faults.hit("confirm:charged");
    match charged {
        Charged::Failed => return Ok((give_back(cx, booking_id, payment_id).await?, charged)),
        Charged::Pending => {
            let b = m.get::<Booking>(booking_id).await?.ok_or(ActorError::NotFound)?.value;
            tracing::info!(booking = %booking_id, payment = %payment_id, "booking charge pending; its outcome comes by webhook");
            return Ok((b, charged));
        }
        Charged::Succeeded => {}
    }
    let txn_id = payment.ledger_txn.ok_or_else(|| corrupt(payment_id))?;
    let txn = Transaction::new(
        txn_id,
        TxnKind::Fund,
        ledger::fund(booking_id, payment.payee_id, payment.amount),
        format!("booking:{booking_id}"),
        payment.created_at,
    )
    .map_err(ActorError::Refused)?;
    cx.store.ledger().post(&txn).await?;
    cx.faults.hit("confirm:posted");
    let settle_txn = new_id(LedgerTxnId::from_uuid);
    let mut confirmed = false;
    let saved = m
        .update::<Booking, ActorError>(booking_id, |b| {
            confirmed = false;
            if b.payment_id != Some(payment_id) || b.paid {
                return Ok(());
            }
            b.paid = true;
            if b.status == BookingStatus::Requested {
                b.apply(BookingStatus::Confirmed, at);
                confirmed = true;
            } else if b.settlement().is_some() {
                b.settlement_txn = Some(settle_txn);
            }
            Ok(())
        })
        .await?
        .ok_or(ActorError::NotFound)?
        .value;
    if saved.payment_id != Some(payment_id) {
        tracing::error!(booking = %booking_id, payment = %payment_id, "booking charged by a payment it does not record");
    }
    if confirmed {
        tracing::info!(booking = %booking_id, payment = %payment_id, "booking paid and confirmed");
        metrics::counter!("agora_booking_payments_total", "outcome" => "confirmed").increment(1);
        publish_change(cx, &saved, saved.provider_id, at).await?;
    } else if saved.paid && saved.status != BookingStatus::Confirmed {
        // It ended while the charge ran (the ending gave the interval back): the money goes
        // back too (idempotent).
        settle(cx, &saved).await?;
    }
    Ok((saved, Charged::Succeeded))
}

/// Gives up a booking's payment claim that did not charge, and the interval its confirm
/// reserved (unless the booking is confirmed, which a failed charge never makes it).
async fn give_back(cx: &Cx, booking_id: BookingId, payment_id: PaymentId) -> Result<Booking, ActorError> {
    let m = cx.store.market();
    let b = m
        .update::<Booking, ActorError>(booking_id, |b| {
            if b.payment_id == Some(payment_id) && !b.paid {
                b.payment_id = None;
            }
            Ok(())
        })
        .await?
        .ok_or(ActorError::NotFound)?
        .value;
    if b.status != BookingStatus::Confirmed {
        m.release(b.provider_id, b.id).await?;
    }
    Ok(b)
}

fn corrupt(payment_id: PaymentId) -> ActorError {
    ActorError::Storage(StoreError::Corrupt {
        table: "payments",
        detail: format!("payment {payment_id} has no ledger transaction"),
    })
}

/// Posts the settlement a paid, ended booking records (release to the provider when it
/// completed, refund to the card otherwise) and refunds the card. Idempotent (the
/// sweeper's `SettleBooking` repair). Nothing when no settlement is recorded.
pub(crate) async fn settle(cx: &Cx, b: &Booking) -> Result<&'static str, ActorError> {
    let Some(txn_id) = b.settlement_txn else { return Ok("undecided") };
    let how = if b.status == BookingStatus::Completed { Settlement::Release } else { Settlement::Refund };
    let (kind, legs) = match how {
        Settlement::Release => {
            (TxnKind::Release, ledger::release(b.id, b.provider_id, b.price, cx.payments.fee_bps, b.updated_at.date()))
        }
        Settlement::Refund => (TxnKind::Refund, ledger::refund(b.id, b.provider_id, b.price)),
    };
    let txn =
        Transaction::new(txn_id, kind, legs, format!("booking:{}", b.id), b.updated_at).map_err(ActorError::Refused)?;
    let refund = (how == Settlement::Refund).then_some(b.price);
    super::charges::post_from_escrow(cx, &txn, b.payment_id, refund, b.updated_at).await?;
    tracing::info!(booking = %b.id, settlement = ?how, "booking escrow settled");
    metrics::counter!("agora_booking_payments_total", "outcome" => match how {
        Settlement::Release => "released",
        Settlement::Refund => "refunded",
    })
    .increment(1);
    Ok("settled")
}

/// The sweeper's repair of an interrupted `SettleBooking`.
pub(crate) async fn complete_settlement(
    cx: &Cx,
    booking_id: BookingId,
    txn_id: LedgerTxnId,
) -> Result<&'static str, ActorError> {
    match cx.store.market().get::<Booking>(booking_id).await?.map(|v| v.value) {
        Some(b) if b.settlement_txn == Some(txn_id) => settle(cx, &b).await,
        Some(_) => Ok("undecided"),
        None => Ok("gone"),
    }
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
