//! Multi-step operations survive a crash between any two of their writes. For every step of
//! accept (intent, proposal, job capacity, contract) and of booking confirm (intent,
//! schedule, booking), a real `agora serve` runs with `AGORA_FAULT_AT=<step>` and aborts
//! there (like `kill -9`) in the middle of the request; a fresh process on the same data dir
//! repairs what it finds at start-up; then either the whole effect exists exactly once or
//! none of it does, and the marketplace keeps working (a second accept or confirm behaves).
//! Booking reminders likewise: a crash after the claim or after the delivery still sends
//! each party exactly one.

use serde_json::{json, Value};

mod common;

use common::*;

/// The "all or nothing" an accept must leave: answers whether it happened.
async fn accept_outcome(http: &reqwest::Client, node: &Node, client: &str, job: &str, proposal: &str) -> bool {
    let p = get(http, node, &format!("/api/proposals/{proposal}"), client).await;
    let j = get(http, node, &format!("/api/jobs/{job}"), client).await;
    let contracts = result_ids(&get(http, node, "/api/contracts", client).await);
    match p.json["status"].as_str() {
        Some("accepted") => {
            assert_eq!(contracts.len(), 1, "exactly one contract: {contracts:?}");
            assert_eq!(p.json["contract_id"], contracts[0].as_str(), "the proposal names its contract");
            assert_eq!(
                (j.json["hires"].as_u64(), j.json["status"].as_str()),
                (Some(1), Some("in_progress")),
                "{}",
                j.json
            );
            true
        }
        Some("pending") => {
            assert!(contracts.is_empty(), "no contract without an accepted proposal: {contracts:?}");
            assert_eq!((j.json["hires"].as_u64(), j.json["status"].as_str()), (Some(0), Some("open")), "{}", j.json);
            assert_eq!(p.json["contract_id"], Value::Null);
            false
        }
        other => panic!("proposal in state {other:?}: {}", p.json),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_is_all_or_nothing_after_a_crash_at_every_step() {
    let http = reqwest::Client::new();
    // (step, whether the accept exists after the repair)
    for (step, happened) in
        [("accept:intent", false), ("accept:proposal", true), ("accept:job", true), ("accept:contract", true)]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let (_, client) = register(&http, &node, "client", "client").await;
        let r = post(&http, &node, "/api/jobs", json!({"title": "Fence painting", "description": "One coat"}), &client)
            .await;
        assert_eq!(r.status, 201, "{}", r.json);
        let job = id_of(&r.json);
        let (_, provider) = register(&http, &node, "provider", "provider").await;
        let rate = json!({"amount": 9_000, "currency": "USD"});
        let r = post(&http, &node, "/api/proposals", json!({"job_id": job, "rate": rate}), &provider).await;
        assert_eq!(r.status, 201, "{}", r.json);
        let proposal = id_of(&r.json);
        drop(node);

        // The accept dies at `step`: the client never gets an answer.
        let mut faulty = Node::start_with(dir.path(), &[("AGORA_FAULT_AT", step)]);
        faulty.wait_ready(&http).await;
        let res = http
            .post(format!("{}/api/proposals/{proposal}/accept", faulty.base))
            .bearer_auth(&client)
            .json(&json!({}))
            .send()
            .await;
        assert!(res.is_err(), "{step}: the process aborted mid-request, got {res:?}");
        let status = faulty.wait_exit().await;
        assert!(!status.success(), "{step}: aborted, not exited: {status}");

        // A fresh process repairs it at start-up.
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        assert_eq!(accept_outcome(&http, &node, &client, &job, &proposal).await, happened, "{step}");
        let repaired = counter(&http, &node, "agora_intents_repaired_total", "outcome=").await;
        assert_eq!(repaired, 1.0, "{step}: the interrupted accept was found and repaired once");
        let again = post(&http, &node, &format!("/api/proposals/{proposal}/accept"), json!({}), &client).await;
        if happened {
            assert_eq!((again.status, again.json["error"]["code"].as_str()), (409, Some("already_accepted")), "{step}");
            // The provider is told, even when the crash came before the notifications went out
            // (written by the notification broker a moment after the repair).
            let mut titles = Vec::new();
            for _ in 0..50 {
                let n = get(&http, &node, "/api/notifications", &provider).await;
                titles = n.json["results"]
                    .as_array()
                    .expect("results")
                    .iter()
                    .filter_map(|x| x["title"].as_str().map(str::to_string))
                    .collect::<Vec<String>>();
                if titles.iter().any(|t| t == "Proposal accepted") && titles.iter().any(|t| t == "New contract") {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            assert!(
                titles.iter().any(|t| t == "Proposal accepted") && titles.iter().any(|t| t == "New contract"),
                "{step}: {titles:?}"
            );
        } else {
            assert_eq!(again.status, 201, "{step}: nothing happened, so it can be accepted now: {}", again.json);
        }
        assert!(accept_outcome(&http, &node, &client, &job, &proposal).await, "{step}: exactly one accept in the end");
    }
}

/// A provider with a profile and an 8 000 USD service; answers (provider token, service id).
async fn piano_tuner(http: &reqwest::Client, node: &Node) -> (String, String) {
    let (_, provider) = register(http, node, "provider", "provider").await;
    let profile = json!({"bio": "Tunes pianos", "hourly_rate": {"amount": 5_000, "currency": "USD"}});
    assert_eq!(post(http, node, "/api/providers", profile, &provider).await.status, 201);
    let svc =
        json!({"title": "Piano tuning", "description": "Any piano", "price": {"amount": 8_000, "currency": "USD"}});
    let r = post(http, node, "/api/services", svc, &provider).await;
    assert_eq!(r.status, 201, "{}", r.json);
    (provider, id_of(&r.json))
}

/// A client's saved test card; answers its id.
async fn card(http: &reqwest::Client, node: &Node, client: &str) -> String {
    let card = json!({"kind": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
    let r = post(http, node, "/api/payment-methods", card, client).await;
    assert_eq!(r.status, 201, "{}", r.json);
    id_of(&r.json)
}

/// A provider's service and a client's booking request for tomorrow at `hour`, paid with
/// the client's saved card when confirmed.
async fn booking(http: &reqwest::Client, node: &Node, service: &str, hour: i64) -> (String, String) {
    let (_, client) = register(http, node, "booker", "client").await;
    let start = time::OffsetDateTime::now_utc().replace_time(time::Time::MIDNIGHT) + time::Duration::days(2);
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let body = json!({
        "service_id": service,
        "start_at": fmt(start + time::Duration::hours(hour)),
        "end_at": fmt(start + time::Duration::hours(hour + 2)),
        "payment_method_id": card(http, node, &client).await,
    });
    let r = post(http, node, "/api/bookings", body, &client).await;
    assert_eq!(r.status, 201, "{}", r.json);
    (client, id_of(&r.json))
}

/// Confirming a priced booking (reserve, claim, payment, charge, escrow, confirmed and paid)
/// is all or nothing across a crash at every step: afterwards the booking is either
/// requested with its slot free and nothing charged, or confirmed with exactly one charge
/// held in its escrow, and `agora ledger verify` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_confirm_is_all_or_nothing_after_a_crash_at_every_step() {
    let http = reqwest::Client::new();
    for (step, confirmed) in [
        ("confirm:intent", false),
        ("confirm:schedule", false),
        ("confirm:claimed", false),
        ("confirm:payment", true),
        ("confirm:charged", true),
        ("confirm:posted", true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let (provider, service) = piano_tuner(&http, &node).await;
        let (client, first) = booking(&http, &node, &service, 10).await;
        let (_, second) = booking(&http, &node, &service, 11).await;
        drop(node);

        let mut faulty = Node::start_with(dir.path(), &[("AGORA_FAULT_AT", step)]);
        faulty.wait_ready(&http).await;
        let res = http
            .post(format!("{}/api/bookings/{first}/status", faulty.base))
            .bearer_auth(&provider)
            .json(&json!({"status": "confirmed"}))
            .send()
            .await;
        assert!(res.is_err(), "{step}: the process aborted mid-request, got {res:?}");
        assert!(!faulty.wait_exit().await.success(), "{step}");

        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let b = get(&http, &node, &format!("/api/bookings/{first}"), &client).await;
        let want = if confirmed { "confirmed" } else { "requested" };
        assert_eq!(b.json["status"], want, "{step}: {}", b.json);
        assert_eq!(b.json["paid"], confirmed, "{step}: {}", b.json);
        assert_eq!(counter(&http, &node, "agora_intents_repaired_total", "outcome=").await, 1.0, "{step}");
        let payments = get(&http, &node, "/api/payments", &client).await;
        let succeeded: Vec<&Value> = payments.json["results"]
            .as_array()
            .expect("payments")
            .iter()
            .filter(|p| p["status"] == "succeeded")
            .collect();
        assert_eq!(succeeded.len(), usize::from(confirmed), "{step}: one charge or none: {}", payments.json);
        let held = if confirmed { 8_000 } else { 0 };
        assert_eq!(wallet_usd(&http, &node, &provider).await, (0, held), "{step}: held once in escrow");
        drop(node);
        let (ok, report) = ledger_verify(dir.path());
        assert!(ok, "{step}: {report}");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        // The overlapping booking: refused while the first holds the slot, confirmed when the
        // interrupted confirm left nothing behind.
        let r =
            post(&http, &node, &format!("/api/bookings/{second}/status"), json!({"status": "confirmed"}), &provider)
                .await;
        if confirmed {
            assert_eq!(
                (r.status, r.json["error"]["code"].as_str()),
                (409, Some("booking_overlap")),
                "{step}: {}",
                r.json
            );
        } else {
            assert_eq!(r.status, 200, "{step}: the slot was given back: {}", r.json);
            let r =
                post(&http, &node, &format!("/api/bookings/{first}/status"), json!({"status": "confirmed"}), &provider)
                    .await;
            assert_eq!(r.json["error"]["code"], "booking_overlap", "{step}: {}", r.json);
        }
    }
}

/// Ending a paid booking decides its settlement in the write that ends it; a crash right
/// after that decision is finished by the sweeper: a cancellation refunds the card once, a
/// completion releases the escrow to the provider once (minus the 10 % fee).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_paid_booking_settles_once_after_a_crash() {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    let (provider, service) = piano_tuner(&http, &node).await;
    let (client, cancelled) = booking(&http, &node, &service, 10).await;
    // One that starts in three seconds, so it can be completed.
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let start = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::seconds(3);
    let body = json!({"service_id": service, "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1)),
        "payment_method_id": card(&http, &node, &client).await});
    let r = post(&http, &node, "/api/bookings", body, &client).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let completed = id_of(&r.json);
    for b in [&cancelled, &completed] {
        let r =
            post(&http, &node, &format!("/api/bookings/{b}/status"), json!({"status": "confirmed"}), &provider).await;
        assert_eq!((r.status, r.json["paid"].as_bool()), (200, Some(true)), "{}", r.json);
    }
    assert_eq!(wallet_usd(&http, &node, &provider).await, (0, 16_000));
    drop(node);

    let cancel = format!("/api/bookings/{cancelled}/status");
    let node =
        crash_at(&http, dir.path(), "booking:settle_decided", &cancel, json!({"status": "cancelled"}), &client).await;
    assert_eq!(wallet_usd(&http, &node, &provider).await, (0, 8_000), "the cancelled one is refunded");
    let b = get(&http, &node, &format!("/api/bookings/{cancelled}"), &client).await;
    assert_eq!(b.json["status"], "cancelled");
    let p =
        get(&http, &node, &format!("/api/payments/{}", b.json["payment_id"].as_str().expect("payment")), &client).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("refunded"), Some(8_000)), "{}", p.json);
    drop(node);

    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    let complete = format!("/api/bookings/{completed}/status");
    let node =
        crash_at(&http, dir.path(), "booking:settle_decided", &complete, json!({"status": "completed"}), &provider)
            .await;
    assert_eq!(wallet_usd(&http, &node, &provider).await, (7_200, 0), "released once, minus the fee");
    assert_eq!(counter(&http, &node, "agora_intents_repaired_total", "outcome=").await, 1.0);
    drop(node);
    let (ok, out) = ledger_verify(dir.path());
    assert!(ok, "{out}");
}

/// The booking reminders `token`'s user has.
async fn reminders(http: &reqwest::Client, node: &Node, token: &str) -> usize {
    let r = get(http, node, "/api/notifications?limit=100", token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["results"].as_array().expect("results").iter().filter(|n| n["title"] == "Booking reminder").count()
}

/// A reminder is claimed, delivered, then taken off the due list. A crash after the claim
/// or after the delivery leaves the due row; the next process delivers it under the
/// claimed id, so each party gets it exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booking_reminder_is_sent_once_across_a_crash_at_every_step() {
    let http = reqwest::Client::new();
    for step in ["reminder:claimed", "reminder:delivered"] {
        let dir = tempfile::tempdir().expect("tempdir");
        // The first node never runs a reminder pass (its interval is an hour).
        let mut node = Node::start_with(dir.path(), &[("AGORA_REMINDER_INTERVAL_SECS", "3600")]);
        node.wait_ready(&http).await;
        let (_, provider) = register(&http, &node, "provider", "provider").await;
        let profile = json!({"bio": "Tunes pianos", "hourly_rate": {"amount": 5_000, "currency": "USD"}});
        let r = post(&http, &node, "/api/providers", profile, &provider).await;
        assert_eq!(r.status, 201, "{}", r.json);
        let all_day = json!([["00:00", "24:00"]]);
        // Open all day, in a zone whose local midnight is not within the next three hours.
        let hour = time::OffsetDateTime::now_utc().hour();
        let zone = if hour >= 21 || hour == 0 { "Etc/GMT-12" } else { "UTC" };
        let hours = json!({"time_zone": zone, "weekly": {"mon": all_day, "tue": all_day, "wed": all_day,
            "thu": all_day, "fri": all_day, "sat": all_day, "sun": all_day}, "overrides": []});
        let path = format!("{}/api/providers/{}/availability", node.base, id_of(&r.json));
        assert_eq!(send(http.put(path).bearer_auth(&provider).json(&hours)).await.status, 200);
        let svc = json!({"title": "Piano tuning", "description": "Any piano", "duration_minutes": 60,
            "price": {"amount": 8_000, "currency": "USD"}, "booking_rules": {"min_notice_minutes": 0}});
        let r = post(&http, &node, "/api/services", svc, &provider).await;
        assert_eq!(r.status, 201, "{}", r.json);
        let (_, client) = register(&http, &node, "booker", "client").await;
        let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
        // Its one-hour reminder is due in two seconds.
        let start =
            time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::seconds(3602);
        let body = json!({"service_id": id_of(&r.json), "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1)),
            "payment_method_id": card(&http, &node, &client).await});
        let r = post(&http, &node, "/api/bookings", body, &client).await;
        assert_eq!(r.status, 201, "{step}: {}", r.json);
        let booking = id_of(&r.json);
        let r =
            post(&http, &node, &format!("/api/bookings/{booking}/status"), json!({"status": "confirmed"}), &provider)
                .await;
        assert_eq!(r.status, 200, "{step}: {}", r.json);
        assert_eq!(reminders(&http, &node, &client).await, 0, "{step}: nothing sent yet");
        drop(node);

        let mut faulty =
            Node::start_with(dir.path(), &[("AGORA_FAULT_AT", step), ("AGORA_REMINDER_INTERVAL_SECS", "1")]);
        assert!(!faulty.wait_exit().await.success(), "{step}: the pass aborted");

        let mut node = Node::start_with(dir.path(), &[("AGORA_REMINDER_INTERVAL_SECS", "1")]);
        node.wait_ready(&http).await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while reminders(&http, &node, &client).await == 0 || reminders(&http, &node, &provider).await == 0 {
            assert!(std::time::Instant::now() < deadline, "{step}: the reminder never arrived");
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        assert_eq!(
            (reminders(&http, &node, &client).await, reminders(&http, &node, &provider).await),
            (1, 1),
            "{step}: once per party"
        );
    }
}

/// A balance of the user's USD wallet: (available, held).
async fn wallet_usd(http: &reqwest::Client, node: &Node, token: &str) -> (i64, i64) {
    let r = get(http, node, "/api/wallet", token).await;
    r.json["balances"]
        .as_array()
        .and_then(|b| b.iter().find(|x| x["currency"] == "USD"))
        .map(|b| (b["available"]["amount"].as_i64().unwrap_or(-1), b["held"]["amount"].as_i64().unwrap_or(-1)))
        .unwrap_or((0, 0))
}

/// Runs one request on a node that aborts at `step`, then starts a fresh node that repairs.
async fn crash_at(
    http: &reqwest::Client,
    dir: &std::path::Path,
    step: &str,
    path: &str,
    body: Value,
    token: &str,
) -> Node {
    let mut faulty = Node::start_with(dir, &[("AGORA_FAULT_AT", step)]);
    faulty.wait_ready(http).await;
    let res = http.post(format!("{}{path}", faulty.base)).bearer_auth(token).json(&body).send().await;
    assert!(res.is_err(), "{step}: the process aborted mid-request, got {res:?}");
    assert!(!faulty.wait_exit().await.success(), "{step}");
    let mut node = Node::start(dir);
    node.wait_ready(http).await;
    node
}

/// Funding (payment, charge, ledger, milestone) and release (decision, ledger) survive a
/// crash at every step: after the repair the money moved exactly once, the contract is
/// active, and `agora ledger verify` passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funding_and_release_happen_exactly_once_after_a_crash_at_every_step() {
    let http = reqwest::Client::new();
    // (step, whether the interrupted funding happened after the repair)
    for (step, funded) in [
        ("fund:claimed", false),
        ("fund:payment", true),
        ("fund:charged", true),
        ("fund:posted", true),
        ("fund:milestone", true),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let Deal { client, provider, contract, card, milestone } = deal(&http, &node).await;
        drop(node);

        let fund = format!("/api/contracts/{contract}/milestones/{milestone}/fund");
        let node = crash_at(&http, dir.path(), step, &fund, json!({"payment_method_id": card}), &client).await;
        assert_eq!(counter(&http, &node, "agora_intents_repaired_total", "outcome=").await, 1.0, "{step}");
        if !funded {
            // Nothing was charged: the claim is given back and funding works as new.
            let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
            assert_eq!(r.json["results"][0]["status"], "unfunded", "{step}: {}", r.json);
            assert!(result_ids(&get(&http, &node, "/api/payments", &client).await).is_empty(), "{step}: no payment");
            assert_eq!(wallet_usd(&http, &node, &provider).await, (0, 0), "{step}");
            let r = post(&http, &node, &fund, json!({"payment_method_id": card}), &client).await;
            assert_eq!(r.status, 200, "{step}: {}", r.json);
        }
        let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
        assert_eq!(r.json["results"][0]["status"], "funded", "{step}: {}", r.json);
        assert_eq!(r.json["in_escrow"]["amount"], 10_000, "{step}");
        let c = get(&http, &node, &format!("/api/contracts/{contract}"), &client).await;
        assert_eq!(c.json["status"], "active", "{step}");
        let payments = get(&http, &node, "/api/payments", &client).await;
        assert_eq!(result_ids(&payments).len(), 1, "{step}: one payment");
        assert_eq!(payments.json["results"][0]["status"], "succeeded", "{step}");
        assert_eq!(wallet_usd(&http, &node, &provider).await, (0, 10_000), "{step}: held once");
        let again = post(&http, &node, &fund, json!({"payment_method_id": card}), &client).await;
        assert_eq!((again.status, again.json["error"]["code"].as_str()), (409, Some("invalid_transition")), "{step}");
        let submit = format!("/api/contracts/{contract}/milestones/{milestone}/submit");
        assert_eq!(post(&http, &node, &submit, json!({}), &provider).await.status, 200, "{step}");
        drop(node);

        let approve = format!("/api/contracts/{contract}/milestones/{milestone}/approve");
        let node = crash_at(&http, dir.path(), "settle:decided", &approve, json!({}), &client).await;
        let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
        assert_eq!(r.json["results"][0]["status"], "released", "{step}: {}", r.json);
        assert_eq!(wallet_usd(&http, &node, &provider).await, (9_000, 0), "{step}: released once, minus 10 %");
        drop(node);
        let (ok, out) = ledger_verify(dir.path());
        assert!(ok && out.contains("ledger: ok"), "{step}: {out}");
        assert!(out.contains("0 still being applied"), "{step}: {out}");
    }
}

/// A part refund interrupted after its decision is finished by the next node: the escrow,
/// the provider's hold and the payment each show it once, and the ledger verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_part_refund_is_exactly_once_after_a_crash() {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    let Deal { client, provider, contract, card, milestone } = deal(&http, &node).await;
    let fund = format!("/api/contracts/{contract}/milestones/{milestone}/fund");
    let r = post(&http, &node, &fund, json!({"payment_method_id": card}), &client).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let payment = r.json["payment"]["id"].as_str().expect("payment").to_string();
    drop(node);

    let refund = format!("/api/payments/{payment}/refund");
    let node = crash_at(&http, dir.path(), "refund:decided", &refund, json!({"amount": 2_000}), &provider).await;
    assert_eq!(counter(&http, &node, "agora_intents_repaired_total", "outcome=").await, 1.0);
    let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
    assert_eq!(r.json["results"][0]["held"], 8_000, "{}", r.json);
    assert_eq!(r.json["in_escrow"]["amount"], 8_000);
    assert_eq!(wallet_usd(&http, &node, &provider).await, (0, 8_000), "the hold shrank once");
    let p = get(&http, &node, &format!("/api/payments/{payment}"), &client).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("partially_refunded"), Some(2_000)));
    drop(node);
    let (ok, out) = ledger_verify(dir.path());
    assert!(ok && out.contains("ledger: ok"), "{out}");
}

/// The auto-release timer is durable: a milestone submitted just before the node dies is
/// released by the next node once the review period is over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_submission_is_released_automatically_after_a_restart() {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("AGORA_MILESTONE_REVIEW_SECS", "3"), ("AGORA_AUTO_RELEASE_INTERVAL_SECS", "1")];
    let mut node = Node::start_with(dir.path(), &env);
    node.wait_ready(&http).await;
    let Deal { client, provider, contract, card, milestone } = deal(&http, &node).await;
    let base = format!("/api/contracts/{contract}/milestones/{milestone}");
    let r = post(&http, &node, &format!("{base}/fund"), json!({"payment_method_id": card}), &client).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let r = post(&http, &node, &format!("{base}/submit"), json!({}), &provider).await;
    assert_eq!(r.status, 200, "{}", r.json);
    drop(node);

    // Not yet due while the node is down; the next node releases it when it is.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let mut node = Node::start_with(dir.path(), &env);
    node.wait_ready(&http).await;
    let mut status = String::new();
    for _ in 0..100 {
        let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
        status = r.json["results"][0]["status"].as_str().unwrap_or("").to_string();
        if status == "released" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "released");
    // The ledger posts the release a moment after the milestone shows it.
    let mut wallet = (0, 0);
    for _ in 0..50 {
        wallet = wallet_usd(&http, &node, &provider).await;
        if wallet == (9_000, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(wallet, (9_000, 0));
    // The job counts the release once its command has answered (a moment after the
    // milestone shows released).
    let mut released = 0.0;
    for _ in 0..50 {
        released = counter(&http, &node, "agora_milestones_auto_released_total", "").await;
        if released != 0.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(released, 1.0);
    drop(node);
    let (ok, out) = ledger_verify(dir.path());
    assert!(ok, "{out}");
}

/// A payout interrupted at each of its steps: before the payout exists nothing moved (and
/// the next node still starts); after it exists, it is finished once and paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payout_is_exactly_once_after_a_crash_at_every_step() {
    let http = reqwest::Client::new();
    for (step, happened) in [("payout:intent", false), ("payout:requested", true), ("payout:debited", true)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let Deal { client, provider, contract, card, milestone: m } = deal(&http, &node).await;
        let base = format!("/api/contracts/{contract}/milestones/{m}");
        assert_eq!(
            post(&http, &node, &format!("{base}/fund"), json!({"payment_method_id": card}), &client).await.status,
            200
        );
        assert_eq!(post(&http, &node, &format!("{base}/submit"), json!({}), &provider).await.status, 200);
        assert_eq!(post(&http, &node, &format!("{base}/approve"), json!({}), &client).await.status, 200);
        let bank = json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": "DE89370400440532013000"});
        let bank = id_of(&post(&http, &node, "/api/payout-methods", bank, &provider).await.json);
        drop(node);

        let body = json!({"amount": {"amount": 4_000, "currency": "USD"}, "payout_method_id": bank});
        let node = crash_at(&http, dir.path(), step, "/api/payouts", body.clone(), &provider).await;
        let mut statuses = Vec::new();
        for _ in 0..50 {
            let r = get(&http, &node, "/api/payouts", &provider).await;
            statuses = r.json["results"]
                .as_array()
                .expect("results")
                .iter()
                .filter_map(|p| p["status"].as_str().map(String::from))
                .collect();
            if !happened || statuses == ["paid"] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        if happened {
            assert_eq!(statuses, vec!["paid".to_string()], "{step}");
            assert_eq!(wallet_usd(&http, &node, &provider).await, (5_000, 0), "{step}: paid out once");
        } else {
            assert!(statuses.is_empty(), "{step}: {statuses:?}");
            assert_eq!(wallet_usd(&http, &node, &provider).await, (9_000, 0), "{step}: nothing moved");
            assert_eq!(
                post(&http, &node, "/api/payouts", body, &provider).await.status,
                201,
                "{step}: a new payout works"
            );
        }
        drop(node);
        let (ok, out) = ledger_verify(dir.path());
        assert!(ok, "{step}: {out}");
    }
}

/// A contract that completes (or is cancelled) and dies before its escrow is settled: the
/// next node releases (or refunds) what was in escrow, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_contract_settles_its_escrow_after_a_crash() {
    let http = reqwest::Client::new();
    for (to, by_client, want, provider_wallet) in
        [("completed", true, "released", (9_000, 0)), ("cancelled", true, "refunded", (0, 0))]
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut node = Node::start(dir.path());
        node.wait_ready(&http).await;
        let Deal { client, provider, contract, card, .. } = deal(&http, &node).await;
        let r =
            post(&http, &node, &format!("/api/contracts/{contract}/fund"), json!({"payment_method_id": card}), &client)
                .await;
        assert_eq!(r.status, 200, "{}", r.json);
        if to == "completed" {
            let r = post(
                &http,
                &node,
                &format!("/api/contracts/{contract}/status"),
                json!({"status": "delivered"}),
                &provider,
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.json);
        }
        drop(node);
        let token = if by_client { &client } else { &provider };
        let node = crash_at(
            &http,
            dir.path(),
            "contract:ended",
            &format!("/api/contracts/{contract}/status"),
            json!({"status": to}),
            token,
        )
        .await;
        let c = get(&http, &node, &format!("/api/contracts/{contract}"), &client).await;
        assert_eq!(c.json["status"], to, "{to}");
        let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
        assert_eq!(r.json["results"][0]["status"], want, "{to}: {}", r.json);
        assert_eq!(r.json["in_escrow"]["amount"], 0, "{to}");
        assert_eq!(wallet_usd(&http, &node, &provider).await, provider_wallet, "{to}");
        drop(node);
        let (ok, out) = ledger_verify(dir.path());
        assert!(ok, "{to}: {out}");
    }
}

/// Withdrawing a job cancels it, then closes its pending proposals: a crash between the
/// two is finished at the restart (the proposals closed once, each proposer told once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_withdrawn_job_closes_its_proposals_after_a_crash() {
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    let (_, client) = register(&http, &node, "client", "client").await;
    let job = json!({"title": "Paint the fence", "description": "Forty metres"});
    let job = id_of(&post(&http, &node, "/api/jobs", job, &client).await.json);
    let mut providers = Vec::new();
    for i in 0..2 {
        let (_, provider) = register(&http, &node, &format!("provider{i}"), "provider").await;
        let body = json!({"job_id": job, "rate": {"amount": 9_000, "currency": "USD"}});
        assert_eq!(post(&http, &node, "/api/proposals", body, &provider).await.status, 201);
        providers.push(provider);
    }
    drop(node);

    let mut faulty = Node::start_with(dir.path(), &[("AGORA_FAULT_AT", "withdraw:job")]);
    faulty.wait_ready(&http).await;
    let res = http.delete(format!("{}/api/jobs/{job}", faulty.base)).bearer_auth(&client).send().await;
    assert!(res.is_err(), "the process aborted mid-request, got {res:?}");
    assert!(!faulty.wait_exit().await.success());

    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    assert_eq!(counter(&http, &node, "agora_intents_repaired_total", "outcome=").await, 1.0);
    let j = get(&http, &node, &format!("/api/jobs/{job}"), &client).await;
    assert_eq!(j.json["status"], "cancelled", "{}", j.json);
    let proposals = get(&http, &node, &format!("/api/jobs/{job}/proposals"), &client).await;
    let statuses: Vec<&str> =
        proposals.json["results"].as_array().expect("results").iter().filter_map(|p| p["status"].as_str()).collect();
    assert_eq!(statuses, vec!["withdrawn", "withdrawn"], "{}", proposals.json);
    for provider in &providers {
        let mut told = 0;
        for _ in 0..50 {
            let n = get(&http, &node, "/api/notifications", provider).await;
            told =
                n.json["results"].as_array().expect("results").iter().filter(|x| x["title"] == "Job withdrawn").count();
            if told > 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(told, 1);
    }
}
