//! Payments end to end against the real server: saved cards (validated, tokenized, private),
//! milestone splits, funding through the sandbox gateway (success and the test numbers that
//! decline), escrow held for the provider, submission, approval releasing the money minus
//! the platform fee, payments and wallets visible only to their parties, and Idempotency-Key
//! semantics (replay, reuse for another request, concurrent duplicates with one effect).

use agora_tests::{spawn_app, Reply, TestApp, TestUser};
use serde_json::{json, Value};

const VISA: &str = "4242 4242 4242 4242";
const DECLINED: &str = "4000000000000002";
const NO_FUNDS: &str = "4000000000009995";

async fn parties(app: &TestApp, amount: i64) -> (TestUser, TestUser, String) {
    let client = app.user("payer").await;
    let (provider, _) = app.provider("payee").await;
    let contract = app.pending_contract(&client, &provider, amount).await;
    (client, provider, contract)
}

async fn milestones(app: &TestApp, contract: &str, user: &TestUser) -> Reply {
    app.get(&format!("/api/contracts/{contract}/milestones"), Some(&user.token)).await
}

fn ids(r: &Reply) -> Vec<String> {
    r.json["results"].as_array().expect("results").iter().map(|m| m["id"].as_str().expect("id").to_string()).collect()
}

async fn fund(app: &TestApp, contract: &str, milestone: &str, user: &TestUser, card: &str, key: Option<&str>) -> Reply {
    let path = format!("/api/contracts/{contract}/milestones/{milestone}/fund");
    app.post_keyed(&path, json!({"payment_method_id": card}), &user.token, key).await
}

async fn wallet(app: &TestApp, user: &TestUser) -> (i64, i64) {
    let r = app.get("/api/wallet", Some(&user.token)).await;
    r.expect(200, None);
    match r.json["balances"].as_array().expect("balances").iter().find(|b| b["currency"] == "USD") {
        Some(b) => (b["available"]["amount"].as_i64().expect("available"), b["held"]["amount"].as_i64().expect("held")),
        None => (0, 0),
    }
}

async fn titles(app: &TestApp, user: &TestUser) -> Vec<String> {
    let n = app.get("/api/notifications", Some(&user.token)).await;
    n.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter_map(|x| x["title"].as_str().map(String::from))
        .collect()
}

/// Waits for a notification titled `title` (they are delivered after the write commits).
async fn notified(app: &TestApp, user: &TestUser, title: &str) {
    for _ in 0..50 {
        if titles(app, user).await.iter().any(|t| t == title) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("{} was not told {title:?}: {:?}", user.email, titles(app, user).await);
}

#[actix_web::test]
async fn cards_are_validated_tokenized_and_private() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let r = app
        .post(
            "/api/payment-methods",
            json!({"kind": "card", "number": VISA, "exp_month": 12, "exp_year": 2099, "cvc": "123"}),
            Some(&alice.token),
        )
        .await;
    r.expect(201, None);
    assert_eq!(
        (r.json["brand"].as_str(), r.json["last4"].as_str(), r.json["kind"].as_str()),
        (Some("visa"), Some("4242"), Some("card"))
    );
    assert!(!r.text.contains("424242424242") && !r.text.contains("\"123\"") && !r.text.contains("tok_"), "{}", r.text);
    let id = r.json["id"].as_str().expect("id").to_string();
    // Bad input: each field says what is wrong.
    let bad = |number: &str, month: i64, year: i64, cvc: &str| json!({"kind": "card", "number": number, "exp_month": month, "exp_year": year, "cvc": cvc});
    for (body, field) in [
        (bad("4242424242424241", 12, 2099, "123"), "number"),
        (bad(VISA, 13, 2099, "123"), "exp_month"),
        (bad(VISA, 1, 2020, "123"), "exp_year"),
        (bad(VISA, 12, 2099, "12"), "cvc"),
        (json!({"kind": "card"}), "number"),
        (json!({"kind": "bank", "number": VISA, "exp_month": 1, "exp_year": 2099, "cvc": "123"}), "kind"),
    ] {
        let r = app.post("/api/payment-methods", body, Some(&alice.token)).await;
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"][field].is_array(), "{field}: {}", r.text);
    }
    let r = app.get("/api/payment-methods", Some(&alice.token)).await;
    assert_eq!(ids(&r), vec![id.clone()]);
    assert!(ids(&app.get("/api/payment-methods", Some(&bob.token)).await).is_empty());
    app.get(&format!("/api/payment-methods/{id}"), Some(&bob.token)).await.expect(404, Some("not_found"));
    app.delete(&format!("/api/payment-methods/{id}"), Some(&bob.token)).await.expect(404, Some("not_found"));
    app.get(&format!("/api/payment-methods/{id}"), Some(&alice.token)).await.expect(200, None);
    app.delete(&format!("/api/payment-methods/{id}"), Some(&alice.token)).await.expect(204, None);
    app.get(&format!("/api/payment-methods/{id}"), Some(&alice.token)).await.expect(404, Some("not_found"));
    app.get("/api/payment-methods", None).await.expect(401, None);
}

#[actix_web::test]
async fn funding_holds_escrow_for_the_provider_and_approval_releases_it_minus_the_fee() {
    let app = spawn_app().await;
    let (client, provider, contract) = parties(&app, 20_000).await;
    let stranger = app.user("stranger").await;
    // Before any split: one milestone for the whole agreed amount.
    let r = milestones(&app, &contract, &client).await;
    r.expect(200, None);
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(1), "{}", r.text);
    assert_eq!(
        (r.json["results"][0]["amount"]["amount"].as_i64(), r.json["results"][0]["status"].as_str()),
        (Some(20_000), Some("unfunded"))
    );
    milestones(&app, &contract, &stranger).await.expect(404, Some("not_found"));

    // The client splits it; the sum must be the agreed amount, in its currency.
    let split = |a: i64, b: i64, cur: &str| {
        json!({"milestones": [
            {"title": "Design", "amount": {"amount": a, "currency": "USD"}, "due_date": "2099-01-31"},
            {"title": "Build", "amount": {"amount": b, "currency": cur}},
        ]})
    };
    let path = format!("/api/contracts/{contract}/milestones");
    app.put(&path, split(5_000, 15_000, "USD"), Some(&provider.token)).await.expect(403, Some("forbidden"));
    app.put(&path, split(5_000, 14_000, "USD"), Some(&client.token)).await.expect(400, Some("validation_failed"));
    app.put(&path, split(5_000, 15_000, "EUR"), Some(&client.token)).await.expect(400, Some("validation_failed"));
    app.put(&path, json!({"milestones": []}), Some(&client.token)).await.expect(400, Some("validation_failed"));
    app.put(&path, split(5_000, 15_000, "USD"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    let r = app.put(&path, split(5_000, 15_000, "USD"), Some(&client.token)).await;
    r.expect(200, None);
    let ms = ids(&r);
    assert_eq!(ms.len(), 2);
    assert_eq!(r.json["results"][0]["due_date"], "2099-01-31");

    // Only the client funds, with their own card.
    let card = app.card(&client, VISA).await;
    let provider_card = app.card(&provider, VISA).await;
    fund(&app, &contract, &ms[0], &provider, &provider_card, None).await.expect(403, Some("forbidden"));
    fund(&app, &contract, &ms[0], &client, &provider_card, None).await.expect(400, Some("validation_failed"));
    fund(&app, &contract, &ms[0], &stranger, &card, None).await.expect(404, Some("not_found"));
    let r = fund(&app, &contract, &ms[0], &client, &card, None).await;
    r.expect(200, None);
    assert_eq!(r.json["contract_status"], "active", "funding the first milestone starts the contract: {}", r.text);
    assert_eq!(
        (r.json["payment"]["status"].as_str(), r.json["payment"]["amount"]["amount"].as_i64()),
        (Some("succeeded"), Some(5_000))
    );
    assert_eq!(r.json["payment"]["card"]["last4"], "4242");
    assert_eq!(r.json["milestone"]["status"], "funded");
    let payment = r.json["payment"]["id"].as_str().expect("payment id").to_string();
    // Funding again is a refused transition; splitting after funding is locked.
    fund(&app, &contract, &ms[0], &client, &card, None).await.expect(409, Some("invalid_transition"));
    app.put(&path, split(5_000, 15_000, "USD"), Some(&client.token)).await.expect(409, Some("milestones_locked"));
    let r = milestones(&app, &contract, &provider).await;
    assert_eq!(r.json["in_escrow"]["amount"], 5_000, "{}", r.text);
    assert_eq!(wallet(&app, &provider).await, (0, 5_000), "held for the provider, not yet available");
    notified(&app, &provider, "Milestone funded").await;

    // Submission is the provider's; approval the client's.
    let act = |m: &str, what: &str| format!("/api/contracts/{contract}/milestones/{m}/{what}");
    app.post(&act(&ms[0], "approve"), json!({}), Some(&client.token)).await.expect(409, Some("invalid_transition"));
    app.post(&act(&ms[0], "submit"), json!({}), Some(&client.token)).await.expect(403, Some("forbidden"));
    app.post(&act(&ms[1], "submit"), json!({}), Some(&provider.token)).await.expect(409, Some("invalid_transition"));
    let r = app.post(&act(&ms[0], "submit"), json!({}), Some(&provider.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "submitted");
    assert!(r.json["submitted_at"].is_string());
    notified(&app, &client, "Milestone submitted").await;
    let r = app.post(&act(&ms[0], "request-changes"), json!({}), Some(&client.token)).await;
    assert_eq!(r.json["status"], "changes_requested", "{}", r.text);
    notified(&app, &provider, "Changes requested").await;
    app.post(&act(&ms[0], "submit"), json!({}), Some(&provider.token)).await.expect(200, None);
    app.post(&act(&ms[0], "approve"), json!({}), Some(&provider.token)).await.expect(403, Some("forbidden"));
    app.post(&act(&ms[0], "approve"), json!({}), Some(&stranger.token)).await.expect(404, Some("not_found"));
    let r = app.post(&act(&ms[0], "approve"), json!({}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["status"].as_str(), r.json["released"].as_i64()), (Some("released"), Some(5_000)));
    // 10 % platform fee by default.
    assert_eq!(wallet(&app, &provider).await, (4_500, 0));
    assert_eq!(wallet(&app, &client).await, (0, 0));
    notified(&app, &provider, "Milestone released").await;
    app.post(&act(&ms[0], "approve"), json!({}), Some(&client.token)).await.expect(409, Some("invalid_transition"));

    // The provider's ledger shows the hold and the release.
    let r = app.get("/api/wallet/ledger?currency=USD", Some(&provider.token)).await;
    r.expect(200, None);
    let kinds: Vec<&str> =
        r.json["results"].as_array().expect("results").iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(kinds, vec!["release", "fund"], "{}", r.text);
    assert_eq!(
        (r.json["results"][0]["available"].as_i64(), r.json["results"][0]["held"].as_i64()),
        (Some(4_500), Some(-5_000))
    );
    app.get("/api/wallet/ledger", Some(&provider.token)).await.expect(400, Some("validation_failed"));
    app.get("/api/wallet/ledger?currency=usd", Some(&provider.token)).await.expect(400, Some("validation_failed"));
    let r = app.get("/api/wallet/ledger?currency=USD", Some(&stranger.token)).await;
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(0), "a stranger's ledger is their own, empty");

    // The payment is the payer's and the payee's only.
    for u in [&client, &provider] {
        let r = app.get("/api/payments", Some(&u.token)).await;
        assert_eq!(ids(&r), vec![payment.clone()]);
        app.get(&format!("/api/payments/{payment}"), Some(&u.token)).await.expect(200, None);
    }
    app.get(&format!("/api/payments/{payment}"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    app.get("/api/payments/not-a-uuid", Some(&client.token)).await.expect(404, Some("not_found"));
    // A receipt, as JSON and as a printable page, for the parties only.
    let r = app.get(&format!("/api/payments/{payment}/receipt"), Some(&provider.token)).await;
    r.expect(200, None);
    assert!(r.json["number"].as_str().is_some_and(|n| n.starts_with("AG-")), "{}", r.text);
    assert_eq!((r.json["amount"]["amount"].as_i64(), r.json["net"]["amount"].as_i64()), (Some(5_000), Some(5_000)));
    assert_eq!(r.json["for"]["kind"], "milestone");
    assert!(r.json["for"]["title"].as_str().is_some_and(|t| t.ends_with(": Design")), "{}", r.text);
    let html = app
        .send(
            app.client
                .get(app.url(&format!("/api/payments/{payment}/receipt")))
                .bearer_auth(&client.token)
                .header("Accept", "text/html"),
        )
        .await;
    html.expect(200, None);
    assert!(html.headers["content-type"].to_str().unwrap_or("").starts_with("text/html"));
    assert!(
        html.text.contains("<h1>Receipt</h1>")
            && html.text.contains("50.00 USD")
            && html.text.contains("visa ending 4242"),
        "{}",
        html.text
    );
    app.get(&format!("/api/payments/{payment}/receipt"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    assert!(ids(&app.get("/api/payments", Some(&stranger.token)).await).is_empty());

    // The contract endpoint funds the next unfunded milestone, then there is nothing left.
    let next = |key: &str| {
        app.client
            .post(app.url(&format!("/api/contracts/{contract}/fund")))
            .bearer_auth(&client.token)
            .header("Idempotency-Key", key)
            .json(&json!({"payment_method_id": card}))
    };
    let r = app.send(next("next-1")).await;
    r.expect(200, None);
    assert_eq!(r.json["milestone"]["id"].as_str(), Some(ms[1].as_str()));
    app.send(next("next-2")).await.expect(409, Some("nothing_to_fund"));
    assert_eq!(wallet(&app, &provider).await, (4_500, 15_000));
}

#[actix_web::test]
async fn a_declined_card_is_402_and_moves_nothing() {
    let app = spawn_app().await;
    let (client, provider, contract) = parties(&app, 8_000).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    for (number, reason) in [(DECLINED, "card_declined"), (NO_FUNDS, "insufficient_funds")] {
        let card = app.card(&client, number).await;
        let r = fund(&app, &contract, &m, &client, &card, None).await;
        r.expect(402, Some("payment_declined"));
        assert!(r.json["error"]["message"].as_str().unwrap_or("").contains(reason), "{}", r.text);
    }
    let r = milestones(&app, &contract, &client).await;
    assert_eq!(r.json["results"][0]["status"], "unfunded");
    assert_eq!(r.json["in_escrow"]["amount"], 0);
    let c = app.get(&format!("/api/contracts/{contract}"), Some(&client.token)).await;
    assert_eq!(c.json["status"], "pending", "a declined charge does not start the contract");
    let r = app.get("/api/payments", Some(&client.token)).await;
    let statuses: Vec<(&str, &str)> = r.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|p| (p["status"].as_str().unwrap_or(""), p["failure"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(statuses, vec![("failed", "insufficient_funds"), ("failed", "card_declined")]);
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    notified(&app, &client, "Payment failed").await;
    // A good card then works.
    let card = app.card(&client, "5555 5555 5555 4444").await;
    fund(&app, &contract, &m, &client, &card, None).await.expect(200, None);
}

#[actix_web::test]
async fn idempotency_keys_replay_refuse_reuse_and_give_one_effect_under_concurrency() {
    let app = spawn_app().await;
    let (client, provider, contract) = parties(&app, 9_000).await;
    let path = format!("/api/contracts/{contract}/milestones");
    let plan: Vec<Value> =
        (0..3).map(|i| json!({"title": format!("Part {i}"), "amount": {"amount": 3_000, "currency": "USD"}})).collect();
    let r = app.put(&path, json!({"milestones": plan}), Some(&client.token)).await;
    r.expect(200, None);
    let ms = ids(&r);
    let card = app.card(&client, VISA).await;

    // Same key, same request: the first answer again, marked as a replay.
    let first = fund(&app, &contract, &ms[0], &client, &card, Some("key-1")).await;
    first.expect(200, None);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let again = fund(&app, &contract, &ms[0], &client, &card, Some("key-1")).await;
    again.expect(200, None);
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.json["payment"]["id"], first.json["payment"]["id"]);
    // Same key, another request: refused.
    fund(&app, &contract, &ms[1], &client, &card, Some("key-1")).await.expect(422, Some("idempotency_key_reused"));
    // Errors are replayed too.
    let declined = app.card(&client, DECLINED).await;
    fund(&app, &contract, &ms[1], &client, &declined, Some("key-2")).await.expect(402, Some("payment_declined"));
    let r = fund(&app, &contract, &ms[1], &client, &declined, Some("key-2")).await;
    r.expect(402, Some("payment_declined"));
    assert_eq!(r.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    // Keys are per user: the provider's "key-1" is another key.
    let bad_key = "x".repeat(256);
    fund(&app, &contract, &ms[1], &client, &card, Some(&bad_key)).await.expect(400, Some("validation_failed"));

    // Eight concurrent duplicates under one key: one effect; the others replay it or are
    // told the first is still running.
    let tasks: Vec<_> = (0..8).map(|_| fund(&app, &contract, &ms[1], &client, &card, Some("key-3"))).collect();
    let replies = futures_util::future::join_all(tasks).await;
    let mut fresh = 0;
    for r in &replies {
        match (r.status, r.headers.get("idempotent-replayed").is_some()) {
            (200, false) => fresh += 1,
            (200, true) => {}
            (409, _) => assert_eq!(r.code(), "idempotency_key_in_use", "{}", r.text),
            other => panic!("unexpected {other:?}: {}", r.text),
        }
    }
    assert_eq!(fresh, 1, "exactly one request ran");
    // Eight concurrent requests under different keys on one milestone: one funds it.
    let keys: Vec<String> = (0..8).map(|i| format!("race-{i}")).collect();
    let tasks: Vec<_> = keys.iter().map(|k| fund(&app, &contract, &ms[2], &client, &card, Some(k))).collect();
    let replies = futures_util::future::join_all(tasks).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 1, "{:?}", replies.iter().map(|r| (r.status, r.code().to_string())).collect::<Vec<_>>());
    assert!(replies.iter().filter(|r| r.status != 200).all(|r| r.code() == "invalid_transition"));
    // Three milestones of 3000 funded, each once.
    let succeeded = app.get("/api/payments?limit=100", Some(&client.token)).await.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|p| p["status"] == "succeeded")
        .count();
    assert_eq!(succeeded, 3);
    assert_eq!(wallet(&app, &provider).await, (0, 9_000));
}

async fn set_status(app: &TestApp, user: &TestUser, contract: &str, to: &str) -> Reply {
    app.post(&format!("/api/contracts/{contract}/status"), json!({"status": to}), Some(&user.token)).await
}

#[actix_web::test]
async fn completing_releases_cancelling_refunds_and_an_admin_splits_a_dispute() {
    let app = spawn_app().await;
    let admin = app.admin().await;

    // Completion releases every funded milestone; a removed one stays out.
    let (client, provider, contract) = parties(&app, 9_000).await;
    let plan: Vec<Value> =
        (0..3).map(|i| json!({"title": format!("Part {i}"), "amount": {"amount": 3_000, "currency": "USD"}})).collect();
    let r = app
        .put(&format!("/api/contracts/{contract}/milestones"), json!({"milestones": plan}), Some(&client.token))
        .await;
    let ms = ids(&r);
    let card = app.card(&client, VISA).await;
    for m in &ms[..2] {
        fund(&app, &contract, m, &client, &card, None).await.expect(200, None);
    }
    let remove = |m: &str| format!("/api/contracts/{contract}/milestones/{m}/remove");
    app.post(&remove(&ms[0]), json!({}), Some(&client.token)).await.expect(409, Some("invalid_transition"));
    app.post(&remove(&ms[2]), json!({}), Some(&provider.token)).await.expect(403, Some("forbidden"));
    set_status(&app, &provider, &contract, "delivered").await.expect(200, None);
    // Not while a milestone is unfunded: the client funds it or removes it first.
    let r = set_status(&app, &client, &contract, "completed").await;
    r.expect(409, Some("milestone_unfunded"));
    assert!(r.text.contains("1 milestone"), "{}", r.text);
    let r = app.post(&remove(&ms[2]), json!({}), Some(&client.token)).await;
    assert_eq!(r.json["status"], "removed", "{}", r.text);
    set_status(&app, &client, &contract, "completed").await.expect(200, None);
    let r = milestones(&app, &contract, &client).await;
    let statuses: Vec<&str> =
        r.json["results"].as_array().expect("results").iter().filter_map(|m| m["status"].as_str()).collect();
    assert_eq!(statuses, vec!["released", "released", "removed"]);
    assert_eq!(r.json["in_escrow"]["amount"], 0);
    assert_eq!(wallet(&app, &provider).await, (5_400, 0), "6000 released minus 10 %");

    // Cancellation refunds escrow to the card.
    let (client, provider, contract) = parties(&app, 8_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let funded = fund(&app, &contract, &m, &client, &card, None).await;
    let payment = funded.json["payment"]["id"].as_str().expect("payment").to_string();
    set_status(&app, &client, &contract, "cancelled").await.expect(200, None);
    let r = milestones(&app, &contract, &client).await;
    assert_eq!(
        (r.json["results"][0]["status"].as_str(), r.json["results"][0]["refunded"].as_i64()),
        (Some("refunded"), Some(8_000))
    );
    assert_eq!(wallet(&app, &provider).await, (0, 0), "nothing held any more");
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("refunded"), Some(8_000)), "{}", p.text);
    notified(&app, &client, "Milestone refunded").await;

    // A dispute freezes escrow; an admin splits it.
    let (client, provider, contract) = parties(&app, 10_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let funded = fund(&app, &contract, &m, &client, &card, None).await;
    let payment = funded.json["payment"]["id"].as_str().expect("payment").to_string();
    let stranger = app.user("nosy").await;
    app.post(&format!("/api/contracts/{contract}/dispute"), json!({}), Some(&stranger.token))
        .await
        .expect(404, Some("not_found"));
    let r =
        app.post(&format!("/api/contracts/{contract}/dispute"), json!({"reason": "late"}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "disputed");
    let submit = format!("/api/contracts/{contract}/milestones/{m}/submit");
    app.post(&submit, json!({}), Some(&provider.token)).await.expect(409, Some("contract_not_payable"));
    let resolve = format!("/api/admin/disputes/{contract}/resolve");
    app.post(&resolve, json!({"release": 6_000, "refund": 4_000}), Some(&client.token))
        .await
        .expect(404, Some("not_found"));
    app.post(&resolve, json!({"release": 6_000, "refund": 3_000}), Some(&admin.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post(&resolve, json!({"release": -1, "refund": 10_001}), Some(&admin.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post(&resolve, json!({"release": 6_000}), Some(&admin.token)).await.expect(400, Some("validation_failed"));
    let r = app.post(&resolve, json!({"release": 6_000, "refund": 4_000}), Some(&admin.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "completed", "{}", r.text);
    let r = milestones(&app, &contract, &client).await;
    let first = &r.json["results"][0];
    assert_eq!(
        (first["status"].as_str(), first["released"].as_i64(), first["refunded"].as_i64()),
        (Some("split"), Some(6_000), Some(4_000))
    );
    assert_eq!(wallet(&app, &provider).await, (5_400, 0));
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("partially_refunded"), Some(4_000)));
    notified(&app, &client, "Dispute resolved").await;
    notified(&app, &provider, "Dispute resolved").await;
    app.post(&resolve, json!({"release": 0, "refund": 0}), Some(&admin.token))
        .await
        .expect(409, Some("contract_not_payable"));
}

/// A provider with 9 000 available: a 10 000 milestone funded, submitted and approved.
async fn earner(app: &TestApp) -> (TestUser, TestUser) {
    let (client, provider, contract) = parties(app, 10_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(app, &contract, &client).await)[0].clone();
    fund(app, &contract, &m, &client, &card, None).await.expect(200, None);
    let act = |what: &str| format!("/api/contracts/{contract}/milestones/{m}/{what}");
    app.post(&act("submit"), json!({}), Some(&provider.token)).await.expect(200, None);
    app.post(&act("approve"), json!({}), Some(&client.token)).await.expect(200, None);
    assert_eq!(wallet(app, &provider).await, (9_000, 0));
    (client, provider)
}

async fn payout(app: &TestApp, user: &TestUser, method: &str, amount: i64, key: &str) -> Reply {
    let body = json!({"amount": {"amount": amount, "currency": "USD"}, "payout_method_id": method});
    app.post_keyed("/api/payouts", body, &user.token, Some(key)).await
}

async fn payout_status(app: &TestApp, user: &TestUser, id: &str, want: &str) {
    let mut last = String::new();
    for _ in 0..60 {
        let r = app.get(&format!("/api/payouts/{id}"), Some(&user.token)).await;
        last = r.json["status"].as_str().unwrap_or("").to_string();
        if last == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("payout {id} is {last}, not {want}");
}

async fn verify_ledger(app: &TestApp) {
    let store = agora_http::startup::open_store(&agora_tests::test_settings(&app.data_dir)).await.expect("store");
    let report = store.ledger().verify().await.expect("verify");
    assert!(report.is_clean(), "{:?}", report.problems);
}

fn signed(app: &TestApp, body: &Value, t: i64) -> (String, Vec<u8>) {
    let secret = std::fs::read_to_string(app.data_dir.join("webhook_secret")).expect("webhook secret in the data dir");
    let bytes = serde_json::to_vec(body).expect("json");
    (agora_engine::webhook::sign(secret.trim().as_bytes(), t, &bytes), bytes)
}

async fn webhook(app: &TestApp, signature: Option<&str>, body: Vec<u8>) -> Reply {
    let mut req = app
        .client
        .post(app.url("/api/payments/webhooks/sandbox"))
        .header("content-type", "application/json")
        .body(body);
    if let Some(s) = signature {
        req = req.header("Agora-Signature", s);
    }
    app.send(req).await
}

#[actix_web::test]
async fn payouts_never_overdraw_settle_by_webhook_and_return_when_they_fail() {
    let app = spawn_app().await;
    let (_, provider) = earner(&app).await;
    let other = app.user("other").await;
    let bank = |iban: &str| json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": iban});
    app.post("/api/payout-methods", bank("DE89370400440532013001"), Some(&provider.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post(
        "/api/payout-methods",
        json!({"kind": "bank_account", "iban": "DE89370400440532013000"}),
        Some(&provider.token),
    )
    .await
    .expect(400, Some("validation_failed"));
    let r = app.post("/api/payout-methods", bank("DE89 3704 0044 0532 0130 00"), Some(&provider.token)).await;
    r.expect(201, None);
    assert_eq!((r.json["country"].as_str(), r.json["last4"].as_str()), (Some("DE"), Some("3000")));
    assert!(!r.text.contains("370400440532013000"), "the IBAN is not kept or shown: {}", r.text);
    let good = r.json["id"].as_str().expect("id").to_string();
    let failing = app.post("/api/payout-methods", bank("DE62370400440532013001"), Some(&provider.token)).await.json
        ["id"]
        .as_str()
        .expect("id")
        .to_string();
    payout(&app, &other, &good, 100, "o-1").await.expect(400, Some("validation_failed"));
    payout(&app, &provider, &good, 20_000, "p-0").await.expect(409, Some("insufficient_funds"));

    // Five concurrent withdrawals of 4 000 from 9 000: two go through, whatever the order.
    let keys: Vec<String> = (0..5).map(|i| format!("p-{}", i + 1)).collect();
    let replies = futures_util::future::join_all(keys.iter().map(|k| payout(&app, &provider, &good, 4_000, k))).await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(ok.len(), 2, "{:?}", replies.iter().map(|r| (r.status, r.text.clone())).collect::<Vec<_>>());
    assert!(replies.iter().filter(|r| r.status != 201).all(|r| r.code() == "insufficient_funds"));
    assert_eq!(wallet(&app, &provider).await, (1_000, 0));
    for r in &ok {
        assert_eq!(r.json["status"], "pending", "{}", r.text);
        payout_status(&app, &provider, r.json["id"].as_str().expect("id"), "paid").await;
    }
    notified(&app, &provider, "Payout completed").await;
    assert_eq!(wallet(&app, &provider).await, (1_000, 0), "paid out: gone for good");
    app.get(&format!("/api/payouts/{}", ok[0].json["id"].as_str().expect("id")), Some(&other.token))
        .await
        .expect(404, Some("not_found"));
    let listed = app.get("/api/payouts", Some(&provider.token)).await;
    let mut statuses: Vec<&str> =
        listed.json["results"].as_array().expect("results").iter().filter_map(|p| p["status"].as_str()).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec!["paid", "paid", "rejected", "rejected", "rejected", "rejected"], "refusals are kept too");

    // A payout the bank refuses comes back to the wallet.
    let r = payout(&app, &provider, &failing, 1_000, "p-fail").await;
    r.expect(201, None);
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    payout_status(&app, &provider, r.json["id"].as_str().expect("id"), "failed").await;
    // The status is decided first, then the money goes back (a moment later).
    let mut w = (0, 0);
    for _ in 0..50 {
        w = wallet(&app, &provider).await;
        if w == (1_000, 0) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(w, (1_000, 0));
    notified(&app, &provider, "Payout failed").await;
    verify_ledger(&app).await;
}

#[actix_web::test]
async fn webhooks_need_a_fresh_signature_are_applied_once_and_in_any_order() {
    let app = spawn_app().await;
    let (_, provider) = earner(&app).await;
    let bank = json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": "DE89370400440532013000"});
    let method =
        app.post("/api/payout-methods", bank, Some(&provider.token)).await.json["id"].as_str().expect("id").to_string();
    let r = payout(&app, &provider, &method, 5_000, "w-1").await;
    r.expect(201, None);
    let id = r.json["id"].as_str().expect("id").to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    // The bank's "failed" outcome arrives before the sandbox's own "paid": the first final
    // outcome stands, the money is back, and the late one changes nothing.
    let failed =
        json!({"id": "evt_bank_1", "type": "payout.failed", "data": {"payout_id": id, "failure": "account_closed"}});
    let (sig, body) = signed(&app, &failed, now);
    webhook(&app, None, body.clone()).await.expect(401, Some("invalid_signature"));
    webhook(&app, Some("t=1,v1=00"), body.clone()).await.expect(401, Some("invalid_signature"));
    let (stale, _) = signed(&app, &failed, now - 1_000);
    webhook(&app, Some(&stale), body.clone()).await.expect(401, Some("invalid_signature"));
    let tampered = serde_json::to_vec(&json!({"id": "evt_bank_1", "type": "payout.paid", "data": {"payout_id": id}}))
        .expect("json");
    webhook(&app, Some(&sig), tampered).await.expect(401, Some("invalid_signature"));
    let r = webhook(&app, Some(&sig), body.clone()).await;
    r.expect(200, None);
    assert_eq!(r.json["outcome"], "applied");
    let r = webhook(&app, Some(&sig), body).await;
    assert_eq!(r.json["outcome"], "duplicate", "{}", r.text);
    payout_status(&app, &provider, &id, "failed").await;
    // The money is back once the webhook's answer came (its outcome is applied before it).
    assert_eq!(wallet(&app, &provider).await, (9_000, 0));
    // The sandbox's "paid" for the same payout comes later and is a no-op.
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    payout_status(&app, &provider, &id, "failed").await;
    assert_eq!(wallet(&app, &provider).await, (9_000, 0));
    // Unknown types are acknowledged; unknown gateways are 404; bad bodies 400.
    let (sig, body) = signed(&app, &json!({"id": "evt_2", "type": "charge.dispute.created", "data": {}}), now);
    assert_eq!(webhook(&app, Some(&sig), body).await.json["outcome"], "ignored");
    let (sig, body) = signed(&app, &json!({"id": "evt_3", "type": "payout.paid", "data": {"payout_id": "nope"}}), now);
    webhook(&app, Some(&sig), body).await.expect(400, Some("invalid_body"));
    let r = app.client.post(app.url("/api/payments/webhooks/other")).body("{}").send().await.expect("send");
    assert_eq!(r.status(), 404);
    verify_ledger(&app).await;
}

#[actix_web::test]
async fn the_payee_refunds_a_payment_still_in_escrow() {
    let app = spawn_app().await;
    let (client, provider, contract) = parties(&app, 6_000).await;
    let stranger = app.user("bystander").await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let funded = fund(&app, &contract, &m, &client, &card, None).await;
    let payment = funded.json["payment"]["id"].as_str().expect("payment").to_string();
    let refund = format!("/api/payments/{payment}/refund");
    app.post(&refund, json!({}), Some(&stranger.token)).await.expect(404, Some("not_found"));
    app.post(&refund, json!({}), Some(&client.token)).await.expect(403, Some("forbidden"));
    let r = app.post(&refund, json!({}), Some(&provider.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["status"].as_str(), r.json["refunded"].as_i64()), (Some("refunded"), Some(6_000)), "{}", r.text);
    app.post(&refund, json!({}), Some(&provider.token)).await.expect(409, Some("invalid_transition"));
    let ms = milestones(&app, &contract, &client).await;
    assert_eq!(ms.json["results"][0]["status"], "refunded");
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    notified(&app, &client, "Milestone refunded").await;
    // A disputed contract's escrow is frozen: no refund outside the resolution.
    let (client, provider, contract) = parties(&app, 6_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let payment =
        fund(&app, &contract, &m, &client, &card, None).await.json["payment"]["id"].as_str().expect("id").to_string();
    app.post(&format!("/api/contracts/{contract}/dispute"), json!({}), Some(&provider.token)).await.expect(200, None);
    app.post(&format!("/api/payments/{payment}/refund"), json!({}), Some(&provider.token))
        .await
        .expect(409, Some("contract_not_payable"));
    verify_ledger(&app).await;
}

async fn refund_part(app: &TestApp, payment: &str, user: &TestUser, body: Value, key: Option<&str>) -> Reply {
    app.post_keyed(&format!("/api/payments/{payment}/refund"), body, &user.token, key).await
}

#[actix_web::test]
async fn part_refunds_leave_the_rest_in_escrow_and_settlement_shares_out_only_the_rest() {
    let app = spawn_app().await;
    let (client, provider, contract) = parties(&app, 10_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let funded = fund(&app, &contract, &m, &client, &card, None).await;
    let payment = funded.json["payment"]["id"].as_str().expect("payment").to_string();

    // Bad amounts are refused before anything moves.
    refund_part(&app, &payment, &provider, json!({"amount": 0}), None).await.expect(400, Some("validation_failed"));
    refund_part(&app, &payment, &provider, json!({"amount": 10_001}), None)
        .await
        .expect(400, Some("validation_failed"));
    refund_part(&app, &payment, &provider, json!({"amount": "12.50"}), None).await.expect(400, Some("invalid_json"));
    refund_part(&app, &payment, &client, json!({"amount": 100}), None).await.expect(403, Some("forbidden"));

    // A part refund, replayed under its key, moves the money once.
    let r = refund_part(&app, &payment, &provider, json!({"amount": 2_500}), Some("part-1")).await;
    r.expect(200, None);
    assert_eq!((r.json["status"].as_str(), r.json["refunded"].as_i64()), (Some("partially_refunded"), Some(2_500)));
    let again = refund_part(&app, &payment, &provider, json!({"amount": 2_500}), Some("part-1")).await;
    again.expect(200, None);
    assert_eq!(again.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    refund_part(&app, &payment, &provider, json!({"amount": 500}), Some("part-1"))
        .await
        .expect(422, Some("idempotency_key_reused"));
    let ms = milestones(&app, &contract, &client).await;
    let first = &ms.json["results"][0];
    assert_eq!(
        (first["status"].as_str(), first["held"].as_i64(), first["refunded"].as_i64()),
        (Some("funded"), Some(7_500), Some(2_500)),
        "{}",
        ms.text
    );
    assert_eq!(ms.json["in_escrow"]["amount"], 7_500);
    assert_eq!(wallet(&app, &provider).await, (0, 7_500), "the hold shrinks with the escrow");
    notified(&app, &client, "Partial refund").await;
    // Now at most what is held, less one, is a part; everything held is a whole refund.
    refund_part(&app, &payment, &provider, json!({"amount": 7_501}), None).await.expect(400, Some("validation_failed"));
    refund_part(&app, &payment, &provider, json!({"amount": 500}), None).await.expect(200, None);

    // Approval releases only what is left, minus the fee.
    let act = |what: &str| format!("/api/contracts/{contract}/milestones/{m}/{what}");
    app.post(&act("submit"), json!({}), Some(&provider.token)).await.expect(200, None);
    let r = app.post(&act("approve"), json!({}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(
        (r.json["status"].as_str(), r.json["released"].as_i64(), r.json["refunded"].as_i64(), r.json["held"].as_i64()),
        (Some("released"), Some(7_000), Some(3_000), Some(0)),
        "{}",
        r.text
    );
    assert_eq!(wallet(&app, &provider).await, (6_300, 0), "7 000 released less the 10 % fee");
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("partially_refunded"), Some(3_000)));
    refund_part(&app, &payment, &provider, json!({"amount": 100}), None).await.expect(409, Some("invalid_transition"));
    let receipt = app.get(&format!("/api/payments/{payment}/receipt"), Some(&client.token)).await;
    assert_eq!(receipt.json["net"]["amount"], 7_000, "{}", receipt.text);

    // The rest, asked for exactly, refunds the milestone; a dispute splits only what is held.
    let (client, provider, contract) = parties(&app, 10_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let payment =
        fund(&app, &contract, &m, &client, &card, None).await.json["payment"]["id"].as_str().expect("id").to_string();
    refund_part(&app, &payment, &provider, json!({"amount": 1_000}), None).await.expect(200, None);
    app.post(&format!("/api/contracts/{contract}/dispute"), json!({}), Some(&client.token)).await.expect(200, None);
    let admin = app.admin().await;
    let resolve = format!("/api/admin/disputes/{contract}/resolve");
    app.post(&resolve, json!({"release": 5_000, "refund": 5_000}), Some(&admin.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post(&resolve, json!({"release": 5_000, "refund": 4_000}), Some(&admin.token)).await.expect(200, None);
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!((p.json["status"].as_str(), p.json["refunded"].as_i64()), (Some("partially_refunded"), Some(5_000)));
    assert_eq!(wallet(&app, &provider).await, (4_500, 0));

    let (client, provider, contract) = parties(&app, 4_000).await;
    let card = app.card(&client, VISA).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let payment =
        fund(&app, &contract, &m, &client, &card, None).await.json["payment"]["id"].as_str().expect("id").to_string();
    refund_part(&app, &payment, &provider, json!({"amount": 1_500}), None).await.expect(200, None);
    let r = refund_part(&app, &payment, &provider, json!({"amount": 2_500}), None).await;
    r.expect(200, None);
    assert_eq!((r.json["status"].as_str(), r.json["refunded"].as_i64()), (Some("refunded"), Some(4_000)), "{}", r.text);
    assert_eq!(milestones(&app, &contract, &client).await.json["results"][0]["status"], "refunded");
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    verify_ledger(&app).await;
}

#[actix_web::test]
async fn admins_see_the_platform_fee_totals_per_currency_and_day() {
    let app = spawn_app().await;
    for amount in [10_000, 5_000] {
        let (client, provider, contract) = parties(&app, amount).await;
        let card = app.card(&client, VISA).await;
        let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
        fund(&app, &contract, &m, &client, &card, None).await.expect(200, None);
        let act = |what: &str| format!("/api/contracts/{contract}/milestones/{m}/{what}");
        app.post(&act("submit"), json!({}), Some(&provider.token)).await.expect(200, None);
        app.post(&act("approve"), json!({}), Some(&client.token)).await.expect(200, None);
    }
    let admin = app.admin().await;
    let someone = app.user("curious").await;
    app.get("/api/admin/payments/fees", Some(&someone.token)).await.expect(404, Some("not_found"));
    // The release day is today (UTC); a range around it holds both fees.
    let today = time::OffsetDateTime::now_utc().date();
    let ymd = |d: time::Date| agora_engine::ledger::fee_day(d);
    let (from, to) = (ymd(today - time::Duration::days(1)), ymd(today + time::Duration::days(1)));
    let r = app.get(&format!("/api/admin/payments/fees?from={from}&to={to}"), Some(&admin.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["totals"].as_array().map(Vec::len), Some(1), "{}", r.text);
    let usd = &r.json["totals"][0];
    assert_eq!(
        (usd["currency"].as_str(), usd["amount"]["amount"].as_i64(), usd["releases"].as_u64()),
        (Some("USD"), Some(1_500), Some(2))
    );
    let days = r.json["days"].as_array().expect("days");
    assert_eq!(days.iter().map(|d| d["amount"]["amount"].as_i64().unwrap_or(0)).sum::<i64>(), 1_500, "{}", r.text);
    // The default range ends today and holds them too.
    let r = app.get("/api/admin/payments/fees", Some(&admin.token)).await;
    assert_eq!(r.json["totals"][0]["amount"]["amount"].as_i64(), Some(1_500), "{}", r.text);
    // A range before any release is empty.
    let old = ymd(today - time::Duration::days(3));
    let r = app.get(&format!("/api/admin/payments/fees?from=2020-01-01&to={old}"), Some(&admin.token)).await;
    r.expect(400, Some("validation_failed"));
    let r = app.get(&format!("/api/admin/payments/fees?from={old}&to={old}"), Some(&admin.token)).await;
    r.expect(200, None);
    assert_eq!(
        (r.json["totals"].as_array().map(Vec::len), r.json["days"].as_array().map(Vec::len)),
        (Some(0), Some(0))
    );
    for bad in ["from=2026-13-01", "to=yesterday", &format!("from={to}&to={from}")] {
        app.get(&format!("/api/admin/payments/fees?{bad}"), Some(&admin.token))
            .await
            .expect(400, Some("validation_failed"));
    }
    verify_ledger(&app).await;
}

const PENDING_OK: &str = "4000000000003220";
const PENDING_FAIL: &str = "4000008400001629";

/// Polls the contract's milestones until the first is `want`.
async fn milestone_becomes(app: &TestApp, contract: &str, user: &TestUser, want: &str) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = milestones(app, contract, user).await.json["results"][0].clone();
        if last["status"] == want {
            return last;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("milestone never became {want}: {last}");
}

#[actix_web::test]
async fn a_charge_decided_by_webhook_funds_once_and_the_first_outcome_stands() {
    let app = spawn_app().await;
    // The gateway takes the charge and answers later: 202, nothing funded yet.
    let (client, provider, contract) = parties(&app, 10_000).await;
    let card = app.card(&client, PENDING_OK).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let r = fund(&app, &contract, &m, &client, &card, Some("pending-1")).await;
    r.expect(202, None);
    assert_eq!(
        (
            r.json["payment"]["status"].as_str(),
            r.json["milestone"]["status"].as_str(),
            r.json["contract_status"].as_str()
        ),
        (Some("pending"), Some("unfunded"), Some("pending")),
        "{}",
        r.text
    );
    // While it is pending nobody funds the milestone again.
    fund(&app, &contract, &m, &client, &card, None).await.expect(409, Some("conflict"));
    // The sandbox's signed charge.succeeded arrives: funded, active, held once.
    milestone_becomes(&app, &contract, &client, "funded").await;
    let c = app.get(&format!("/api/contracts/{contract}"), Some(&client.token)).await;
    assert_eq!(c.json["status"], "active", "{}", c.text);
    assert_eq!(wallet(&app, &provider).await, (0, 10_000));
    let payments = app.get("/api/payments", Some(&client.token)).await;
    assert_eq!(payments.json["results"].as_array().map(Vec::len), Some(1), "{}", payments.text);
    assert_eq!(payments.json["results"][0]["status"], "succeeded");
    let payment = payments.json["results"][0]["id"].as_str().expect("payment id").to_string();
    notified(&app, &provider, "Milestone funded").await;
    // A replay of the outcome, or a contrary one, changes nothing.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for (id, kind) in [("evt_late_1", "charge.succeeded"), ("evt_late_2", "charge.failed")] {
        let (sig, body) = signed(&app, &json!({"id": id, "type": kind, "data": {"payment_id": payment}}), now);
        webhook(&app, Some(&sig), body.clone()).await.expect(200, None);
        assert_eq!(webhook(&app, Some(&sig), body).await.json["outcome"], "duplicate");
    }
    assert_eq!(wallet(&app, &provider).await, (0, 10_000), "funded exactly once");
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!(p.json["status"], "succeeded");

    // Out of order: a charge.failed for a payment arrives before anything else. It stands:
    // the claim is given back, the client is told once, and a later success is a no-op.
    let (client, provider, contract) = parties(&app, 4_000).await;
    let card = app.card(&client, PENDING_FAIL).await;
    let m = ids(&milestones(&app, &contract, &client).await)[0].clone();
    let r = fund(&app, &contract, &m, &client, &card, None).await;
    r.expect(202, None);
    let payment = r.json["payment"]["id"].as_str().expect("payment id").to_string();
    let failed = json!({"id": "evt_bank_f", "type": "charge.failed", "data": {"payment_id": payment, "failure": "insufficient_funds"}});
    let (sig, body) = signed(&app, &failed, now);
    webhook(&app, Some(&sig), body).await.expect(200, None);
    let ok =
        json!({"id": "evt_bank_s", "type": "charge.succeeded", "data": {"payment_id": payment, "reference": "ch_x"}});
    let (sig, body) = signed(&app, &ok, now);
    webhook(&app, Some(&sig), body).await.expect(200, None);
    // The sandbox's own outcome comes a moment later, and is a no-op too.
    tokio::time::sleep(std::time::Duration::from_millis(2_000)).await;
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!((p.json["status"].as_str(), p.json["failure"].as_str()), (Some("failed"), Some("insufficient_funds")));
    let ms = milestone_becomes(&app, &contract, &client, "unfunded").await;
    assert!(ms["payment_id"].is_null(), "the claim is given back: {ms}");
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    notified(&app, &client, "Payment failed").await;
    let told = titles(&app, &client).await.iter().filter(|t| *t == "Payment failed").count();
    assert_eq!(told, 1, "told once");
    // The client funds it with another card.
    let visa = app.card(&client, VISA).await;
    fund(&app, &contract, &m, &client, &visa, None).await.expect(200, None);
    assert_eq!(wallet(&app, &provider).await, (0, 4_000));
    // A charge webhook for no payment Agora knows is refused (the gateway retries it).
    let (sig, body) =
        signed(&app, &json!({"id": "evt_x", "type": "charge.succeeded", "data": {"payment_id": "nope"}}), now);
    webhook(&app, Some(&sig), body).await.expect(400, Some("invalid_body"));
    verify_ledger(&app).await;
}

/// A 12 500 USD one-hour service of a fresh provider; answers (provider, service id).
async fn priced_service(app: &TestApp) -> (TestUser, String) {
    let (provider, _) = app.provider("stylist").await;
    let body = json!({"title": "Haircut", "description": "Wash, cut and style, all included.",
        "price": {"amount": 12_500, "currency": "USD"}, "duration_minutes": 60});
    let r = app.post("/api/services", body, Some(&provider.token)).await;
    r.expect(201, None);
    (provider, r.json["id"].as_str().expect("service id").to_string())
}

async fn book(app: &TestApp, client: &TestUser, service: &str, start: time::OffsetDateTime, card: &str) -> Reply {
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let body = json!({"service_id": service, "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1)),
        "payment_method_id": card});
    app.post("/api/bookings", body, Some(&client.token)).await
}

async fn booking_status(app: &TestApp, user: &TestUser, booking: &str, to: &str, key: Option<&str>) -> Reply {
    app.post_keyed(&format!("/api/bookings/{booking}/status"), json!({"status": to}), &user.token, key).await
}

#[actix_web::test]
async fn a_priced_booking_is_paid_on_confirmation_released_on_completion_and_refunded_otherwise() {
    let app = spawn_app().await;
    let (provider, service) = priced_service(&app).await;
    let client = app.user("booker").await;
    let stranger = app.user("nosy").await;
    let now = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds");
    let day = now + time::Duration::days(2);
    // Only one's own card.
    let theirs = app.card(&stranger, VISA).await;
    let r = book(&app, &client, &service, day, &theirs).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["payment_method_id"].is_array(), "{}", r.text);

    // A declined card: 402 on confirmation, the booking stays requested, nothing is held.
    let declined = app.card(&client, DECLINED).await;
    let r = book(&app, &client, &service, day, &declined).await;
    r.expect(201, None);
    assert_eq!((r.json["paid"].as_bool(), r.json["payment_id"].as_str()), (Some(false), None));
    let b1 = r.json["id"].as_str().expect("id").to_string();
    booking_status(&app, &provider, &b1, "confirmed", None).await.expect(402, Some("payment_declined"));
    let r = app.get(&format!("/api/bookings/{b1}"), Some(&client.token)).await;
    assert_eq!((r.json["status"].as_str(), r.json["paid"].as_bool()), (Some("requested"), Some(false)), "{}", r.text);
    assert!(r.json["payment_id"].is_null(), "{}", r.text);
    assert_eq!(wallet(&app, &provider).await, (0, 0));
    notified(&app, &client, "Payment failed").await;
    booking_status(&app, &provider, &b1, "declined", None).await.expect(200, None);

    // A good card: confirmation charges it once into the booking's escrow; a replay of the
    // request answers the same.
    let visa = app.card(&client, VISA).await;
    let start = now + time::Duration::seconds(3);
    let r = book(&app, &client, &service, start, &visa).await;
    r.expect(201, None);
    let b2 = r.json["id"].as_str().expect("id").to_string();
    booking_status(&app, &client, &b2, "confirmed", None).await.expect(403, Some("forbidden"));
    let r = booking_status(&app, &provider, &b2, "confirmed", Some("confirm-b2")).await;
    r.expect(200, None);
    assert_eq!((r.json["status"].as_str(), r.json["paid"].as_bool()), (Some("confirmed"), Some(true)), "{}", r.text);
    let payment = r.json["payment_id"].as_str().expect("payment id").to_string();
    let again = booking_status(&app, &provider, &b2, "confirmed", Some("confirm-b2")).await;
    again.expect(200, None);
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap_or("")), Some("true"));
    assert_eq!(again.json["payment_id"], payment.as_str());
    assert_eq!(wallet(&app, &provider).await, (0, 12_500), "held for the provider");
    for who in [&client, &provider] {
        let p = app.get(&format!("/api/payments/{payment}"), Some(&who.token)).await;
        p.expect(200, None);
        assert_eq!((p.json["status"].as_str(), p.json["amount"]["amount"].as_i64()), (Some("succeeded"), Some(12_500)));
    }
    app.get(&format!("/api/payments/{payment}"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    app.post(&format!("/api/payments/{payment}/refund"), json!({}), Some(&provider.token))
        .await
        .expect(409, Some("conflict"));
    let receipt = app.get(&format!("/api/payments/{payment}/receipt"), Some(&client.token)).await;
    receipt.expect(200, None);

    // Completing it releases the escrow to the provider, minus the 10 % fee.
    tokio::time::sleep(std::time::Duration::from_millis(3_300)).await;
    booking_status(&app, &provider, &b2, "completed", None).await.expect(200, None);
    assert_eq!(wallet(&app, &provider).await, (11_250, 0));

    // A paid booking that is cancelled goes back to the card.
    let r = book(&app, &client, &service, day + time::Duration::hours(3), &visa).await;
    let b3 = r.json["id"].as_str().expect("id").to_string();
    let r = booking_status(&app, &provider, &b3, "confirmed", None).await;
    r.expect(200, None);
    let payment = r.json["payment_id"].as_str().expect("payment id").to_string();
    assert_eq!(wallet(&app, &provider).await, (11_250, 12_500));
    booking_status(&app, &client, &b3, "cancelled", None).await.expect(200, None);
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!(
        (p.json["status"].as_str(), p.json["refunded"].as_i64()),
        (Some("refunded"), Some(12_500)),
        "{}",
        p.text
    );
    assert_eq!(wallet(&app, &provider).await, (11_250, 0));
    notified(&app, &provider, "Booking cancelled").await;

    // A charge decided later: 202, the booking stays requested until the webhook confirms it.
    let later = app.card(&client, PENDING_OK).await;
    let r = book(&app, &client, &service, day + time::Duration::hours(6), &later).await;
    let b4 = r.json["id"].as_str().expect("id").to_string();
    let r = booking_status(&app, &provider, &b4, "confirmed", None).await;
    r.expect(202, None);
    assert_eq!((r.json["status"].as_str(), r.json["paid"].as_bool()), (Some("requested"), Some(false)), "{}", r.text);
    booking_status(&app, &provider, &b4, "confirmed", None).await.expect(409, Some("conflict"));
    let mut last = Value::Null;
    for _ in 0..100 {
        last = app.get(&format!("/api/bookings/{b4}"), Some(&client.token)).await.json;
        if last["status"] == "confirmed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!((last["status"].as_str(), last["paid"].as_bool()), (Some("confirmed"), Some(true)), "{last}");
    assert_eq!(wallet(&app, &provider).await, (11_250, 12_500));
    notified(&app, &client, "Booking confirmed").await;
    verify_ledger(&app).await;
}
