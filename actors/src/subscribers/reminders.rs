//! Booking reminders, 24 hours and one hour before a confirmed booking, to both parties
//! (in-app, and email per their preferences).
//!
//! - [`ReminderPlanner`] (a bus subscriber): when a booking is confirmed, writes its
//!   reminders to the durable due list (`reminders_due`), skipping those already past.
//! - [`send_due`] (run by a [`crate::periodic::Periodic`] job every `reminder_interval_secs`):
//!   reads what is due and, for each
//!   reminder whose booking is still confirmed and not started, claims it
//!   (`reminders_sent`, insert-if-absent, which fixes its notification id), delivers it
//!   through the broker, and removes it from the due list. A crash after the claim is
//!   retried on the next pass under the claimed id; the notification store's
//!   insert-if-absent then finds the first delivery and sends nothing, so a reminder goes
//!   out once, across restarts and several nodes. Cancelled, declined or started bookings
//!   have their reminders dropped.

use actix::prelude::*;
use agora_engine::{Booking, BookingStatus, DomainEvent, NotificationId};
use agora_storage::availability::{Reminder, ReminderKind};
use agora_storage::market::Service;
use agora_storage::{Store, StoreError};
use time::OffsetDateTime;

use crate::broker::{NotificationBroker, Notify};
use crate::bus::Published;
use crate::market::Faults;

const NAME: &str = "reminders";
/// Hourly partitions a pass looks back over (a reminder older than that is moot: its
/// booking has started).
const LOOKBACK_HOURS: i64 = 25;
/// Reminders one pass handles at most (the rest wait for the next pass).
const PASS_LIMIT: usize = 500;

/// The reminders of a booking confirmed at `now` that are still ahead.
pub fn plan(b: &Booking, now: OffsetDateTime) -> Vec<Reminder> {
    ReminderKind::ALL
        .into_iter()
        .map(|kind| Reminder { booking_id: b.id, kind, due: b.start_at - kind.lead() })
        .filter(|r| r.due > now)
        .collect()
}

/// Booking confirmations (they plan reminders).
pub fn wants(event: &DomainEvent) -> bool {
    matches!(event, DomainEvent::BookingStatusChanged { booking, .. } if booking.status == BookingStatus::Confirmed)
}

pub struct ReminderPlanner {
    store: Store,
}

impl ReminderPlanner {
    pub fn new(store: Store) -> Self {
        ReminderPlanner { store }
    }
}

impl Actor for ReminderPlanner {
    type Context = Context<Self>;
}

impl Handler<Published> for ReminderPlanner {
    type Result = ResponseFuture<()>;

    fn handle(&mut self, msg: Published, _: &mut Context<Self>) -> Self::Result {
        let DomainEvent::BookingStatusChanged { booking, .. } = &*msg.event else { return Box::pin(async {}) };
        if booking.status != BookingStatus::Confirmed {
            return Box::pin(async {});
        }
        let (store, due) = (self.store.clone(), plan(booking, msg.at));
        Box::pin(async move {
            for attempt in 1..=super::ATTEMPTS {
                match schedule(&store, &due).await {
                    Ok(()) => return,
                    Err(e) => super::failed(NAME, "booking_status_changed", attempt, &e),
                }
                tokio::time::sleep(super::backoff(attempt)).await;
            }
        })
    }
}

async fn schedule(store: &Store, due: &[Reminder]) -> Result<(), StoreError> {
    for r in due {
        store.availability().schedule_reminder(r).await?;
    }
    Ok(())
}

/// One pass: delivers every due reminder; answers how many went out. Fault steps (tests):
/// `reminder:claimed` (after the claim), `reminder:delivered` (before the due row goes).
pub async fn send_due(
    store: &Store,
    broker: &Addr<NotificationBroker>,
    faults: &Faults,
    now: OffsetDateTime,
) -> Result<usize, StoreError> {
    let a = store.availability();
    let mut sent = 0;
    for r in a.due_reminders(now, LOOKBACK_HOURS, PASS_LIMIT).await? {
        let booking = store.market().get::<Booking>(r.booking_id).await?.map(|b| b.value);
        let Some(b) = booking.filter(|b| b.status == BookingStatus::Confirmed && b.start_at > now) else {
            a.done_reminder(&r).await?;
            continue;
        };
        let id = a.claim_reminder(&r, NotificationId::from_uuid(uuid::Uuid::now_v7())).await?;
        faults.hit("reminder:claimed");
        let title = store.market().get::<Service>(b.service_id).await?.map(|s| s.value.title);
        for n in super::templates::reminder(&b, r.kind, title.as_deref(), id) {
            match broker.send(Notify(n)).await {
                Ok(Ok(_)) => {}
                // The broker logged it; the due row stays, so the next pass retries.
                Ok(Err(e)) => return Err(StoreError::Unavailable(format!("reminder delivery failed: {e}"))),
                Err(e) => return Err(StoreError::Unavailable(format!("notification broker unavailable: {e}"))),
            }
        }
        faults.hit("reminder:delivered");
        a.done_reminder(&r).await?;
        metrics::counter!("agora_booking_reminders_total", "kind" => r.kind.as_str()).increment(1);
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn reminders_are_planned_only_while_ahead() {
        let start = datetime!(2026-12-10 10:00 UTC);
        let b: Booking = serde_json::from_value(serde_json::json!({
            "id": "0190f6b2-7c1a-7d3e-8a4b-1234567890ab", "service_id": "0190f6b2-7c1a-7d3e-8a4b-1234567890ac",
            "client_id": "0190f6b2-7c1a-7d3e-8a4b-1234567890ad", "provider_id": "0190f6b2-7c1a-7d3e-8a4b-1234567890ae",
            "start_at": "2026-12-10T10:00:00Z", "end_at": "2026-12-10T11:00:00Z", "note": null,
            "status": "confirmed", "price": {"amount": 1000, "currency": "EUR"},
            "created_at": "2026-12-01T00:00:00Z", "updated_at": "2026-12-01T00:00:00Z"
        }))
        .expect("a booking");
        let kinds = |now| plan(&b, now).into_iter().map(|r| (r.kind, r.due)).collect::<Vec<_>>();
        assert_eq!(
            kinds(datetime!(2026-12-01 00:00 UTC)),
            [
                (ReminderKind::DayBefore, start - time::Duration::hours(24)),
                (ReminderKind::HourBefore, start - time::Duration::hours(1))
            ]
        );
        assert_eq!(
            kinds(datetime!(2026-12-09 12:00 UTC)),
            [(ReminderKind::HourBefore, start - time::Duration::hours(1))]
        );
        assert!(kinds(datetime!(2026-12-10 09:30 UTC)).is_empty());
    }
}
