//! Slot search (`agora_engine::availability::free_slots`) over a 60-day range with 200
//! existing bookings: the work of `GET /api/services/{id}/slots` after its two point reads
//! (the provider's hours and schedule rows).
//!
//! Run: `cargo bench -p agora-benches --bench slots`. Not criterion: the goal is a
//! percentile (p99), so this times each call and prints p50 / p90 / p99 / max over
//! `ITERATIONS` calls after `WARM_UP` unmeasured ones, on one thread.
//!
//! The provider works in Europe/Paris (a zone with a daylight-saving change inside the
//! range), Monday to Friday 09:00-12:00 and 13:00-18:00, Saturday 10:00-14:00, with two
//! days off as overrides. The service lasts 45 minutes with a 15-minute buffer after, a
//! 15-minute slot interval and a daily cap of 6. The 200 bookings are spread over the
//! working days of the range (deterministic), most of them on the grid.

use std::hint::black_box;
use std::time::{Duration, Instant};

use agora_engine::availability::{free_slots, BusyInterval, SlotPolicyInput, WorkingHoursInput};
use agora_engine::{SlotPolicy, WorkingHours};
use time::macros::datetime;

const ITERATIONS: usize = 2_000;
const WARM_UP: usize = 200;
const BOOKINGS: usize = 200;

fn hours() -> WorkingHours {
    let week = serde_json::json!(["09:00", "12:00"]);
    let afternoon = serde_json::json!(["13:00", "18:00"]);
    let input: WorkingHoursInput = serde_json::from_value(serde_json::json!({
        "time_zone": "Europe/Paris",
        "weekly": {
            "mon": [week, afternoon], "tue": [week, afternoon], "wed": [week, afternoon],
            "thu": [week, afternoon], "fri": [week, afternoon], "sat": [["10:00", "14:00"]],
        },
        "overrides": [{"date": "2027-03-19", "ranges": []}, {"date": "2027-04-05", "ranges": []}],
    }))
    .expect("working hours input");
    WorkingHours::parse(&input).expect("valid hours")
}

fn policy() -> SlotPolicy {
    SlotPolicy::parse(&SlotPolicyInput {
        duration_minutes: 45,
        buffer_before_minutes: 0,
        buffer_after_minutes: 15,
        min_notice_minutes: Some(120),
        booking_window_days: Some(90),
        slot_interval_minutes: Some(15),
        daily_cap: Some(6),
    })
    .expect("valid policy")
}

/// 200 bookings over the range: on working-day mornings and afternoons, 45 minutes each.
fn bookings(from: time::OffsetDateTime) -> Vec<BusyInterval> {
    let mut out = Vec::with_capacity(BOOKINGS);
    let mut day = 0i64;
    while out.len() < BOOKINGS {
        let date = from + time::Duration::days(day % 60);
        let k = (day / 60) as usize;
        // 08:00 UTC is 09:00 or 10:00 in Paris; steps of 75 minutes keep them apart.
        let start = date.replace_time(time::Time::from_hms(8, 0, 0).expect("time"))
            + time::Duration::minutes(75 * (k as i64 % 6));
        out.push(BusyInterval { start, end: start + time::Duration::minutes(45), counts_toward_cap: true });
        day += 1;
    }
    out
}

fn main() {
    let (rules, policy) = (hours(), policy());
    let now = datetime!(2027-02-28 06:00 UTC);
    let from = datetime!(2027-03-01 00:00 UTC);
    let to = from + time::Duration::days(60);
    let busy = bookings(from);
    let slots = free_slots(&rules, &policy, &busy, from, to, now).expect("search");
    let mut times = Vec::with_capacity(ITERATIONS);
    for i in 0..WARM_UP + ITERATIONS {
        let t = Instant::now();
        let found = free_slots(&rules, &policy, black_box(&busy), from, to, now).expect("search");
        let took = t.elapsed();
        black_box(found.len());
        if i >= WARM_UP {
            times.push(took);
        }
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "slots/60_days_200_bookings: {} free slots; {} calls: p50 {:.0} µs, p90 {:.0} µs, p99 {:.0} µs, max {:.0} µs",
        slots.len(),
        ITERATIONS,
        us(at(0.50)),
        us(at(0.90)),
        us(at(0.99)),
        us(*times.last().expect("timed calls")),
    );
}
