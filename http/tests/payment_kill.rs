//! Money survives `kill -9` under load. Twenty contracts are set up; then a node takes
//! traffic on all of them at once and is killed with SIGKILL mid-flight: on half of them
//! fund, submit, approve and payout; on the other half fund, a part refund and a whole
//! refund. A fresh node on the same data dir repairs what it finds. Every acknowledged
//! operation is there, none happened twice (one charge per milestone at most, each
//! payment's refunds equal its milestone's, wallets match what was released, refunded and
//! paid out), and `agora ledger verify` passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::json;

mod common;

use common::*;

const CONTRACTS: usize = 20;

#[derive(Default, Clone, Copy, Debug)]
struct Acked {
    funded: bool,
    approved: bool,
    paid_out: bool,
    part_refunded: bool,
    refunded: bool,
}

/// The part of a 10 000 milestone its provider gives back first on the refunding chains.
const PART: i64 = 3_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_money_operations_survive_a_kill_mid_flight_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut setup = Node::start(dir.path());
    setup.wait_ready(&http).await;
    let (_, client) = register(&http, &setup, "client", "client").await;
    let card = json!({"kind": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
    let card = id_of(&post(&http, &setup, "/api/payment-methods", card, &client).await.json);
    let mut work = Vec::new();
    for i in 0..CONTRACTS {
        let (_, provider) = register(&http, &setup, &format!("provider{i}"), "provider").await;
        let bank = json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": "DE89370400440532013000"});
        let bank = id_of(&post(&http, &setup, "/api/payout-methods", bank, &provider).await.json);
        let job = json!({"title": format!("Job {i}"), "description": "Paid in one milestone"});
        let job = id_of(&post(&http, &setup, "/api/jobs", job, &client).await.json);
        let rate = json!({"amount": 10_000, "currency": "USD"});
        let proposal =
            id_of(&post(&http, &setup, "/api/proposals", json!({"job_id": job, "rate": rate}), &provider).await.json);
        let contract =
            id_of(&post(&http, &setup, &format!("/api/proposals/{proposal}/accept"), json!({}), &client).await.json);
        let milestone =
            result_ids(&get(&http, &setup, &format!("/api/contracts/{contract}/milestones"), &client).await)[0].clone();
        work.push((provider, bank, contract, milestone));
    }
    drop(setup);

    // The traffic, killed while it runs.
    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    let acked: Arc<Mutex<HashMap<usize, Acked>>> = Arc::default();
    let base = node.base.clone();
    let chains: Vec<_> = work
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, (provider, bank, contract, milestone))| {
            let (http, base, client, card, acked) =
                (http.clone(), base.clone(), client.clone(), card.clone(), acked.clone());
            tokio::spawn(async move {
                let m = format!("{base}/api/contracts/{contract}/milestones/{milestone}");
                let ok = |r: Result<reqwest::Response, reqwest::Error>| r.is_ok_and(|r| r.status().is_success());
                let fund = http
                    .post(format!("{m}/fund"))
                    .bearer_auth(&client)
                    .json(&json!({"payment_method_id": card}))
                    .send()
                    .await;
                let Ok(fund) = fund else { return };
                if !fund.status().is_success() {
                    return;
                }
                let Ok(funded) = fund.json::<serde_json::Value>().await else { return };
                acked.lock().expect("lock").entry(i).or_default().funded = true;
                if i % 2 == 1 {
                    // The provider gives part back, then the rest.
                    let payment = funded["payment"]["id"].as_str().unwrap_or("").to_string();
                    let refund = format!("{base}/api/payments/{payment}/refund");
                    let part = http.post(&refund).bearer_auth(&provider).json(&json!({"amount": PART})).send().await;
                    if !ok(part) {
                        return;
                    }
                    acked.lock().expect("lock").entry(i).or_default().part_refunded = true;
                    if ok(http.post(&refund).bearer_auth(&provider).json(&json!({})).send().await) {
                        acked.lock().expect("lock").entry(i).or_default().refunded = true;
                    }
                    return;
                }
                if !ok(http.post(format!("{m}/submit")).bearer_auth(&provider).json(&json!({})).send().await) {
                    return;
                }
                if !ok(http.post(format!("{m}/approve")).bearer_auth(&client).json(&json!({})).send().await) {
                    return;
                }
                acked.lock().expect("lock").entry(i).or_default().approved = true;
                let body = json!({"amount": {"amount": 4_000, "currency": "USD"}, "payout_method_id": bank});
                if ok(http.post(format!("{base}/api/payouts")).bearer_auth(&provider).json(&body).send().await) {
                    acked.lock().expect("lock").entry(i).or_default().paid_out = true;
                }
            })
        })
        .collect();
    // Killed once some chains got to their later steps, while the others are mid-way.
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_secs(3) {
        let (approved, refunds) = {
            let a = acked.lock().expect("lock");
            (a.values().filter(|x| x.approved).count(), a.values().filter(|x| x.part_refunded).count())
        };
        if approved >= 1 && refunds >= 1 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    drop(node); // SIGKILL, mid-flight
    for c in chains {
        let _ = c.await;
    }
    let acked = acked.lock().expect("lock").clone();

    // A fresh node repairs, then every acknowledged operation is there, once.
    let mut node = Node::start(dir.path());
    node.wait_ready(&http).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await; // payout webhooks
    let payments = get(&http, &node, "/api/payments?limit=100", &client).await;
    // Per milestone: the charges that went through (whatever was refunded since), and what
    // their payment records as refunded.
    let mut charged: HashMap<String, (usize, i64)> = HashMap::new();
    for p in payments.json["results"].as_array().expect("results") {
        if matches!(p["status"].as_str(), Some("succeeded" | "partially_refunded" | "refunded")) {
            let e = charged.entry(p["purpose"]["milestone_id"].as_str().unwrap_or("").to_string()).or_default();
            e.0 += 1;
            e.1 += p["refunded"].as_i64().unwrap_or(-1);
        }
    }
    let (mut funded, mut released, mut refunded) = (0, 0, 0);
    for (i, (provider, _, contract, milestone)) in work.iter().enumerate() {
        let a = acked.get(&i).copied().unwrap_or_default();
        let r = get(&http, &node, &format!("/api/contracts/{contract}/milestones"), &client).await;
        let status = r.json["results"][0]["status"].as_str().unwrap_or("").to_string();
        let ms_refunded = r.json["results"][0]["refunded"].as_i64().unwrap_or(-1);
        let (charges, payment_refunded) = charged.get(milestone).copied().unwrap_or((0, 0));
        assert!(charges <= 1, "contract {i}: {charges} charges");
        assert_eq!(payment_refunded, ms_refunded, "contract {i}: the card got back what the milestone gave back");
        if a.part_refunded {
            assert!(ms_refunded >= PART, "contract {i}: an acknowledged part refund is there ({ms_refunded})");
        }
        if a.refunded {
            assert_eq!((status.as_str(), ms_refunded), ("refunded", 10_000), "contract {i}: an acknowledged refund");
        }
        if i % 2 == 1 {
            assert!(matches!(ms_refunded, 0 | PART | 10_000), "contract {i}: refunded {ms_refunded}, not once each");
        }
        assert_eq!(charges == 1, status != "unfunded", "contract {i}: {status} with {charges} charges");
        if a.funded {
            assert_ne!(status, "unfunded", "contract {i}: an acknowledged funding is there");
        }
        if a.approved {
            assert_eq!(status, "released", "contract {i}: an acknowledged approval is there");
        }
        let payouts = get(&http, &node, "/api/payouts", provider).await;
        let sent: Vec<&str> =
            payouts.json["results"].as_array().expect("results").iter().filter_map(|p| p["status"].as_str()).collect();
        let out = sent.iter().filter(|s| matches!(**s, "paid" | "pending" | "requested")).count() as i64;
        assert!(out <= 1, "contract {i}: {sent:?}");
        if a.paid_out {
            assert_eq!(out, 1, "contract {i}: an acknowledged payout is there: {sent:?}");
        }
        let w = get(&http, &node, "/api/wallet", provider).await;
        let available = w.json["balances"][0]["available"]["amount"].as_i64().unwrap_or(0);
        let held = w.json["balances"][0]["held"]["amount"].as_i64().unwrap_or(0);
        let expect_available = if status == "released" { 9_000 } else { 0 } - 4_000 * out;
        let expect_held = if matches!(status.as_str(), "funded" | "submitted") { 10_000 - ms_refunded } else { 0 };
        assert_eq!((available, held), (expect_available, expect_held), "contract {i}: {status}, payouts {sent:?}");
        funded += usize::from(status != "unfunded");
        released += usize::from(status == "released");
        refunded += usize::from(ms_refunded > 0);
    }
    let count = |f: fn(&Acked) -> bool| acked.values().filter(|a| f(a)).count();
    eprintln!(
        "killed mid-flight: {funded} funded, {released} released, {refunded} refunded; acknowledged: {} funded, \
         {} approved, {} paid out, {} part refunds, {} refunds",
        count(|a| a.funded),
        count(|a| a.approved),
        count(|a| a.paid_out),
        count(|a| a.part_refunded),
        count(|a| a.refunded)
    );
    drop(node);
    let (ok, out) = ledger_verify(dir.path());
    assert!(ok, "{out}");
}
