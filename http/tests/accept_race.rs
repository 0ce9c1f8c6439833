//! Accepting a proposal is exactly-once across processes: two real `agora serve` nodes
//! share one data dir (and one JWT secret), the job and proposals are set up through one
//! node, then accepts race on both nodes at once. Exactly one accept wins and exactly one
//! contract exists, whichever node answers.

use futures_util::future::join_all;
use serde_json::json;

mod common;

use common::*;

/// A client's single-hire job with one pending proposal per provider, made through `node`.
/// Every provider has a profile. Answers (client token, job id, [(provider token, proposal id,
/// profile id)]).
async fn setup(
    client: &reqwest::Client,
    node: &Node,
    providers: usize,
) -> (String, String, Vec<(String, String, String)>) {
    let (_, client_token) = register(client, node, "client", "client").await;
    let r = post(
        client,
        node,
        "/api/jobs",
        json!({"title": "Contested across nodes", "description": "Two servers, one hire", "max_hires": 1}),
        &client_token,
    )
    .await;
    assert_eq!(r.status, 201, "job: {}", r.json);
    let job = id_of(&r.json);
    let mut out = Vec::new();
    for i in 0..providers {
        let (_, token) = register(client, node, &format!("provider{i}"), "provider").await;
        let r = post(
            client,
            node,
            "/api/providers",
            json!({"bio": "Races well", "hourly_rate": {"amount": 5_000, "currency": "USD"}}),
            &token,
        )
        .await;
        assert_eq!(r.status, 201, "provider profile: {}", r.json);
        let profile = id_of(&r.json);
        let r = post(
            client,
            node,
            "/api/proposals",
            json!({"job_id": job, "rate": {"amount": 10_000 + i as i64, "currency": "USD"}}),
            &token,
        )
        .await;
        assert_eq!(r.status, 201, "proposal: {}", r.json);
        out.push((token, id_of(&r.json), profile));
    }
    (client_token, job, out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn accepts_racing_on_two_processes_create_exactly_one_contract() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let mut a = Node::start(dir.path());
    a.wait_ready(&http).await;
    let mut b = Node::start(dir.path());
    b.wait_ready(&http).await;
    let nodes = [&a, &b];

    // The same proposal, accepted four times on each node at once (both paths).
    let (client_token, job, props) = setup(&http, &a, 1).await;
    let (provider_token, proposal, profile) = &props[0];
    let me = get(&http, &b, "/api/auth/me", &client_token).await;
    assert_eq!(me.status, 200, "a token from node A works on node B: {}", me.json);
    let job_on_b = get(&http, &b, &format!("/api/jobs/{job}/proposals"), &client_token).await;
    assert_eq!(result_ids(&job_on_b), vec![proposal.clone()], "node B sees what node A wrote");
    let accept = format!("/api/proposals/{proposal}/accept");
    let hire = format!("/api/jobs/{job}/hire");
    let replies = join_all((0..8).map(|i| {
        let node = nodes[i % 2];
        if i % 4 < 2 {
            post(&http, node, &accept, json!({}), &client_token)
        } else {
            post(&http, node, &hire, json!({"proposal_id": proposal}), &client_token)
        }
    }))
    .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "exactly one accept wins: {statuses:?}");
    for r in replies.iter().filter(|r| r.status != 201) {
        assert_eq!(r.status, 409, "a losing accept is a conflict: {}", r.json);
        let code = r.json["error"]["code"].as_str().unwrap_or("");
        assert!(["already_accepted", "job_not_open"].contains(&code), "{}", r.json);
    }
    let contract = id_of(&replies.iter().find(|r| r.status == 201).expect("a winner").json);
    for node in nodes {
        for token in [&client_token, provider_token] {
            let r = get(&http, node, "/api/contracts", token).await;
            assert_eq!(result_ids(&r), vec![contract.clone()], "exactly one contract, seen from {}", node.base);
        }
        let r = get(&http, node, &format!("/api/proposals/{proposal}"), &client_token).await;
        assert_eq!(r.json["status"], "accepted");
        assert_eq!(r.json["contract_id"], contract.as_str());
        let r = get(&http, node, &format!("/api/jobs/{job}"), &client_token).await;
        assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("in_progress"), Some(1)), "{}", r.json);
    }

    // The contract runs to delivered; then "completed" races on both nodes: one wins, and the
    // provider's completed_jobs grows by exactly one.
    let status = format!("/api/contracts/{contract}/status");
    // Funding starts it (a status call to active is refused).
    let r = post(&http, &a, &status, json!({"status": "active"}), &client_token).await;
    assert_eq!((r.status, r.json["error"]["code"].as_str()), (409, Some("funding_required")), "{}", r.json);
    let card = json!({"kind": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
    let r = post(&http, &a, "/api/payment-methods", card, &client_token).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let fund = json!({"payment_method_id": id_of(&r.json)});
    let r = post(&http, &b, &format!("/api/contracts/{contract}/fund"), fund, &client_token).await;
    assert_eq!((r.status, r.json["contract_status"].as_str()), (200, Some("active")), "{}", r.json);
    let r = post(&http, &b, &status, json!({"status": "delivered"}), provider_token).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let replies =
        join_all((0..8).map(|i| post(&http, nodes[i % 2], &status, json!({"status": "completed"}), &client_token)))
            .await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "exactly one completion wins: {statuses:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        assert_eq!((r.status, r.json["error"]["code"].as_str()), (409, Some("invalid_transition")), "{}", r.json);
    }
    for node in nodes {
        let r = send(http.get(format!("{}/api/providers/{profile}", node.base))).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.json["completed_jobs"], 1, "completed_jobs grows once across nodes: {}", r.json);
    }
    let r = get(&http, &b, &format!("/api/contracts/{contract}/events"), &client_token).await;
    let completed = r.json["results"].as_array().expect("events").iter().filter(|e| e["to"] == "completed").count();
    assert_eq!(completed, 1, "one completed event: {}", r.json);

    // Two proposals on a single-hire job, each accepted on its own node at once.
    for round in 0..3 {
        let (client_token, job, props) = setup(&http, &a, 2).await;
        let urls: Vec<String> = props.iter().map(|(_, p, _)| format!("/api/proposals/{p}/accept")).collect();
        let replies =
            join_all((0..6).map(|i| post(&http, nodes[i % 2], &urls[(i / 2 + i) % 2], json!({}), &client_token))).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "round {round}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "round {round}: {statuses:?}");
        for node in nodes {
            let r = get(&http, node, "/api/contracts", &client_token).await;
            assert_eq!(result_ids(&r).len(), 1, "round {round}: one contract");
            let r = get(&http, node, &format!("/api/jobs/{job}"), &client_token).await;
            assert_eq!(r.json["hires"], 1, "{}", r.json);
        }
        let mut accepted = 0;
        for (_, p, _) in &props {
            let r = get(&http, &b, &format!("/api/proposals/{p}"), &client_token).await;
            if r.json["status"] == "accepted" {
                accepted += 1;
            }
        }
        assert_eq!(accepted, 1, "round {round}: one proposal accepted");
    }
}
