//! Money moves once across processes: two real `agora serve` nodes share one data dir.
//! Eight fundings of one milestone race on both nodes (different idempotency keys): one
//! charge, one funding. Then six payouts of 4 000 race on both nodes against a wallet of
//! 9 000: exactly two go through, and `agora ledger verify` passes.

use futures_util::future::join_all;
use serde_json::json;

mod common;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fundings_and_payouts_racing_on_two_processes_move_money_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut a = Node::start(dir.path());
    a.wait_ready(&http).await;
    let mut b = Node::start(dir.path());
    b.wait_ready(&http).await;
    let nodes = [&a, &b];

    let (_, client) = register(&http, &a, "client", "client").await;
    let (_, provider) = register(&http, &a, "provider", "provider").await;
    let job = id_of(
        &post(&http, &a, "/api/jobs", json!({"title": "Racing money", "description": "Two nodes"}), &client).await.json,
    );
    let rate = json!({"amount": 10_000, "currency": "USD"});
    let proposal =
        id_of(&post(&http, &a, "/api/proposals", json!({"job_id": job, "rate": rate}), &provider).await.json);
    let contract = id_of(&post(&http, &a, &format!("/api/proposals/{proposal}/accept"), json!({}), &client).await.json);
    let card = json!({"kind": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
    let card = id_of(&post(&http, &a, "/api/payment-methods", card, &client).await.json);
    let milestone =
        result_ids(&get(&http, &b, &format!("/api/contracts/{contract}/milestones"), &client).await)[0].clone();
    let fund = format!("/api/contracts/{contract}/milestones/{milestone}/fund");

    let replies = join_all((0..8).map(|i| {
        let (http, node, fund, client, card) = (&http, nodes[i % 2], &fund, &client, &card);
        async move {
            send(
                http.post(format!("{}{fund}", node.base))
                    .bearer_auth(client)
                    .header("Idempotency-Key", format!("race-{i}"))
                    .json(&json!({"payment_method_id": card})),
            )
            .await
        }
    }))
    .await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| (r.status, r.json.to_string())).collect::<Vec<_>>());
    assert!(
        replies.iter().all(|r| r.status == 200 || r.status == 409),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let payments = get(&http, &b, "/api/payments", &client).await;
    assert_eq!(result_ids(&payments).len(), 1, "one charge: {}", payments.json);

    let base = format!("/api/contracts/{contract}/milestones/{milestone}");
    assert_eq!(post(&http, &b, &format!("{base}/submit"), json!({}), &provider).await.status, 200);
    assert_eq!(post(&http, &a, &format!("{base}/approve"), json!({}), &client).await.status, 200);
    let bank = json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": "DE89370400440532013000"});
    let method = id_of(&post(&http, &a, "/api/payout-methods", bank, &provider).await.json);
    let replies = join_all((0..6).map(|i| {
        let (http, node, provider, method) = (&http, nodes[i % 2], &provider, &method);
        async move {
            let body = json!({"amount": {"amount": 4_000, "currency": "USD"}, "payout_method_id": method});
            send(
                http.post(format!("{}/api/payouts", node.base))
                    .bearer_auth(provider)
                    .header("Idempotency-Key", format!("p-{i}"))
                    .json(&body),
            )
            .await
        }
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{statuses:?}");
    assert!(replies.iter().filter(|r| r.status != 201).all(|r| r.json["error"]["code"] == "insufficient_funds"));
    let w = get(&http, &a, "/api/wallet", &provider).await;
    assert_eq!(w.json["balances"][0]["available"]["amount"], 1_000, "{}", w.json);
    drop(a);
    drop(b);
    let (ok, out) = ledger_verify(dir.path());
    assert!(ok, "{out}");
}
