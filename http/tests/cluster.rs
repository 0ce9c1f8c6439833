//! Cluster mode (docs/cluster.md): real `agora serve` processes on one shared SQLite file and
//! a real `redis-server` of their own. Users on different nodes chat, see presence, typing
//! and notifications live; search on one node finds what another wrote; a killed node's
//! users go offline within the documented bound; a killed node loses no acknowledged
//! message; a Redis restart loses nothing and live delivery resumes by itself; rate limits
//! and failed-login counters hold across nodes; revocation and idempotency keys too.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

mod common;

use common::*;

/// The presence TTL the tests run with; the documented bound is TTL + TTL/3.
const PRESENCE_TTL_MS: u64 = 1500;

fn cluster_env(redis: &Redis, node: &str) -> Vec<(String, String)> {
    vec![
        ("AGORA_REDIS_URL".into(), redis.url()),
        ("AGORA_NODE_ID".into(), node.into()),
        ("AGORA_PRESENCE_TTL_MS".into(), PRESENCE_TTL_MS.to_string()),
    ]
}

async fn start_node(http: &reqwest::Client, dir: &std::path::Path, env: &[(String, String)]) -> Node {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut node = Node::start_with(dir, &env);
    node.wait_ready(http).await;
    wait_redis(http, &node, "up").await;
    node
}

/// Waits until `/api/ready` reports Redis `up` or `down` (and `ready` or `degraded` with it).
async fn wait_redis(http: &reqwest::Client, node: &Node, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = send(http.get(format!("{}/api/ready", node.base))).await;
        if r.json["cluster"]["redis"] == want {
            assert_eq!(r.status, 200, "a degraded node still answers ready: {}", r.json);
            assert_eq!(r.json["status"], if want == "up" { "ready" } else { "degraded" }, "{}", r.json);
            return;
        }
        assert!(Instant::now() < deadline, "{} never reported redis {want}: {}", node.base, r.json);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn conversation(http: &reqwest::Client, node: &Node, token: &str, with: &str) -> String {
    let r = post(http, node, "/api/conversations", json!({"participant_ids": [with]}), token).await;
    assert!(r.status == 201 || r.status == 200, "conversation: {}", r.json);
    id_of(&r.json)
}

fn send_frame(conversation: &str, id: &str, body: &str) -> Value {
    json!({"type": "send", "conversation_id": conversation, "client_msg_id": id, "body": body})
}

/// Message frames of `conversation` until `count` distinct seqs arrived (or `wait` ran out):
/// answers them in arrival order.
async fn messages(ws: &mut Ws, conversation: &str, count: usize, wait: Duration) -> Vec<Value> {
    let deadline = Instant::now() + wait;
    let mut seen = BTreeMap::new();
    let mut order = Vec::new();
    while seen.len() < count {
        let Some(left) = deadline.checked_duration_since(Instant::now()) else { break };
        let Some(frame) = ws.next(left).await else { break };
        if frame["type"] == "message" && frame["conversation_id"] == conversation {
            let seq = frame["seq"].as_u64().expect("seq");
            if seen.insert(seq, frame.clone()).is_none() {
                order.push(frame);
            }
        }
    }
    order
}

fn seqs(frames: &[Value]) -> Vec<u64> {
    frames.iter().map(|f| f["seq"].as_u64().expect("seq")).collect()
}

/// A provider profile for `token` and a service titled `<title> <unique word>`, through
/// `node`; answers (the word, the service id).
async fn new_service(http: &reqwest::Client, node: &Node, token: &str, title: &str) -> (String, String) {
    let profile = json!({"bio": "Makes things", "hourly_rate": {"amount": 4_000, "currency": "USD"}});
    let r = post(http, node, "/api/providers", profile, token).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let word = format!("zq{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    let service = json!({"title": format!("{title} {word}"), "description": "Well made",
        "price": {"amount": 5_000, "currency": "USD"}});
    let created = post(http, node, "/api/services", service, token).await;
    assert_eq!(created.status, 201, "{}", created.json);
    (word, id_of(&created.json))
}

/// Whether searching `word` on `node` finds exactly `service`.
async fn found(http: &reqwest::Client, node: &Node, token: &str, word: &str, service: &str) -> bool {
    result_ids(&get(http, node, &format!("/api/services?q={word}"), token).await) == vec![service.to_string()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_share_chat_presence_typing_notifications_and_search() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let a = start_node(&http, dir.path(), &cluster_env(&redis, "node-a")).await;
    let mut b = start_node(&http, dir.path(), &cluster_env(&redis, "node-b")).await;

    let (_, alice_token) = register(&http, &a, "alice", "client").await;
    let (bob, bob_token) = register(&http, &b, "bob", "provider").await;
    let conv = conversation(&http, &a, &alice_token, &bob).await;

    // Presence crosses nodes: Alice (on A) hears that Bob (on B) came online.
    let mut wa = Ws::connect(&a, &alice_token).await;
    let mut wb = Ws::connect(&b, &bob_token).await;
    let online = wa
        .first(Duration::from_secs(3), |f| f["type"] == "presence" && f["user_id"] == bob.as_str())
        .await
        .expect("alice hears bob online");
    assert_eq!(online["online"], true);

    // Both send at once, each on their own node: one gap-free sequence, in order, on both.
    for i in 0..20 {
        wa.send(send_frame(&conv, &format!("a{i}"), &format!("from alice {i}"))).await;
        wb.send(send_frame(&conv, &format!("b{i}"), &format!("from bob {i}"))).await;
    }
    let at_alice = messages(&mut wa, &conv, 40, Duration::from_secs(10)).await;
    let at_bob = messages(&mut wb, &conv, 40, Duration::from_secs(10)).await;
    let all: Vec<u64> = (1..=40).collect();
    assert_eq!(seqs(&at_alice), all, "alice gets every message once, in seq order");
    assert_eq!(seqs(&at_bob), all, "bob gets every message once, in seq order");
    for frames in [&at_alice, &at_bob] {
        let bodies: Vec<&str> = frames.iter().filter_map(|f| f["body"].as_str()).collect();
        for who in ["alice", "bob"] {
            let mine: Vec<&str> = bodies.iter().copied().filter(|b| b.starts_with(&format!("from {who}"))).collect();
            let want: Vec<String> = (0..20).map(|i| format!("from {who} {i}")).collect();
            assert_eq!(mine, want, "each sender's messages keep their order");
        }
    }

    // Typing crosses nodes.
    wb.send(json!({"type": "typing", "conversation_id": conv, "active": true})).await;
    let typing = wa.expect("typing", Duration::from_secs(3)).await;
    assert_eq!(typing["user_id"], bob.as_str());

    // A notification made on B reaches Alice's connection on A: Bob proposes on her job.
    let job =
        post(&http, &a, "/api/jobs", json!({"title": "Fix the fence", "description": "Two posts"}), &alice_token).await;
    assert_eq!(job.status, 201, "{}", job.json);
    let proposal = json!({"job_id": id_of(&job.json), "rate": {"amount": 9_000, "currency": "USD"}});
    let r = post(&http, &b, "/api/proposals", proposal, &bob_token).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let n = wa.expect("notification", Duration::from_secs(3)).await;
    assert_eq!(n["notification"]["object_id"], r.json["id"], "the proposal's notification: {n}");

    // Search on B finds a service created on A within a second.
    let (word, service) = new_service(&http, &a, &bob_token, "Fence").await;
    let written = Instant::now();
    loop {
        if found(&http, &b, &alice_token, &word, &service).await {
            break;
        }
        assert!(written.elapsed() < Duration::from_secs(1), "node B did not find the service within 1 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Revocation is visible to every node: a session logged out on A is refused on B.
    let email = format!("carol-{}@example.com", uuid::Uuid::new_v4().simple());
    let carol = send(
        http.post(format!("{}/api/auth/register", a.base))
            .json(&json!({"email": email, "password": PASSWORD, "role": "client"})),
    )
    .await;
    assert_eq!(carol.status, 201, "{}", carol.json);
    let (access, refresh) =
        (carol.json["access"].as_str().expect("access token"), carol.json["refresh"].as_str().expect("refresh token"));
    assert_eq!(get(&http, &b, "/api/auth/me", access).await.status, 200);
    let out =
        send(http.post(format!("{}/api/auth/logout", a.base)).bearer_auth(access).json(&json!({"refresh": refresh})))
            .await;
    assert_eq!(out.status, 204, "{}", out.json);
    let me = get(&http, &b, "/api/auth/me", access).await;
    assert_eq!((me.status, me.json["error"]["code"].as_str()), (401, Some("token_revoked")));

    // Kill -9 node B: Alice hears Bob go offline within the documented bound.
    let killed = Instant::now();
    b.child.kill().expect("kill -9 node B");
    let _ = b.child.wait();
    let offline = wa
        .first(Duration::from_secs(10), |f| {
            f["type"] == "presence" && f["user_id"] == bob.as_str() && f["online"] == false
        })
        .await
        .expect("bob goes offline after his node dies");
    let took = killed.elapsed();
    let bound = Duration::from_millis(PRESENCE_TTL_MS + PRESENCE_TTL_MS / 3 + 1000);
    assert!(took <= bound, "offline after {took:?}, bound {bound:?}: {offline}");
    eprintln!("a killed node's user went offline after {took:?} (ttl {PRESENCE_TTL_MS} ms)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_node_loses_no_acked_message_and_its_clients_sync_on_another() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    // Alice streams faster than the default per-connection frame rate allows.
    let env = |node: &str| {
        let mut env = cluster_env(&redis, node);
        env.push(("AGORA_WS_FRAMES_PER_SEC".into(), "10000".into()));
        env
    };
    let mut a = start_node(&http, dir.path(), &env("node-a")).await;
    let b = start_node(&http, dir.path(), &env("node-b")).await;
    let (_, alice_token) = register(&http, &a, "alice", "client").await;
    let (bob, bob_token) = register(&http, &b, "bob", "client").await;
    let conv = conversation(&http, &a, &alice_token, &bob).await;
    let mut wa = Ws::connect(&a, &alice_token).await;
    let mut wb = Ws::connect(&b, &bob_token).await;

    // Alice streams messages into node A; A is killed while they flow.
    for i in 0..300 {
        wa.send(send_frame(&conv, &format!("m{i}"), &format!("message {i}"))).await;
    }
    let mut acked = BTreeMap::new();
    while acked.len() < 60 {
        let Some(f) = wa.next(Duration::from_secs(10)).await else { panic!("acks stopped at {}", acked.len()) };
        if f["type"] == "ack" {
            acked.insert(f["client_msg_id"].as_str().expect("id").to_string(), f["seq"].as_u64().expect("seq"));
        }
    }
    a.child.kill().expect("kill -9 node A");
    let _ = a.child.wait();
    // Whatever acks were already on the wire count as acknowledged too.
    while let Some(f) = wa.next(Duration::from_millis(300)).await {
        if f["type"] == "ack" {
            acked.insert(f["client_msg_id"].as_str().expect("id").to_string(), f["seq"].as_u64().expect("seq"));
        }
    }
    assert!(acked.len() >= 60, "{} acked", acked.len());

    // Alice reconnects to node B and syncs from nothing: every acked message is there, with
    // its acked seq, in one gap-free sequence.
    let mut wa = Ws::connect(&b, &alice_token).await;
    wa.send(json!({"type": "sync", "conversations": {conv.clone(): 0}})).await;
    let mut history = BTreeMap::new();
    loop {
        let f = wa.next(Duration::from_secs(10)).await.expect("sync frames");
        match f["type"].as_str() {
            Some("message") => {
                history.insert(f["seq"].as_u64().expect("seq"), f["client_msg_id"].as_str().unwrap_or("").to_string());
            }
            Some("synced") => break,
            _ => {}
        }
    }
    let n = history.len() as u64;
    assert_eq!(history.keys().copied().collect::<Vec<_>>(), (1..=n).collect::<Vec<_>>(), "gap-free");
    for (id, seq) in &acked {
        assert_eq!(history.get(seq), Some(id), "acked {id} at seq {seq} is durable");
    }
    // Bob, on the surviving node, saw the messages live up to the kill and syncs the rest.
    let live = messages(&mut wb, &conv, history.len(), Duration::from_secs(2)).await;
    let last_live = seqs(&live).last().copied().unwrap_or(0);
    assert_eq!(seqs(&live), (1..=last_live).collect::<Vec<_>>(), "bob's live frames are in order");
    wb.send(json!({"type": "sync", "conversations": {conv.clone(): last_live}})).await;
    let rest = messages(&mut wb, &conv, (n - last_live) as usize, Duration::from_secs(10)).await;
    assert_eq!(seqs(&rest), ((last_live + 1)..=n).collect::<Vec<_>>(), "bob syncs what he missed");
    eprintln!("{} acked before the kill, {n} durable, bob saw {last_live} live", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_restart_loses_nothing_and_live_delivery_resumes() {
    let mut redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let a = start_node(&http, dir.path(), &cluster_env(&redis, "node-a")).await;
    let b = start_node(&http, dir.path(), &cluster_env(&redis, "node-b")).await;
    let (_, alice_token) = register(&http, &a, "alice", "client").await;
    let (bob, bob_token) = register(&http, &b, "bob", "provider").await;
    let conv = conversation(&http, &a, &alice_token, &bob).await;
    let mut wa = Ws::connect(&a, &alice_token).await;
    let mut wb = Ws::connect(&b, &bob_token).await;
    wa.send(send_frame(&conv, "before", "before the outage")).await;
    assert_eq!(seqs(&messages(&mut wb, &conv, 1, Duration::from_secs(3)).await), vec![1]);

    // Redis goes away: both nodes say degraded and keep serving their own users.
    redis.stop();
    wait_redis(&http, &a, "down").await;
    wait_redis(&http, &b, "down").await;
    wa.send(send_frame(&conv, "during", "during the outage")).await;
    let ack = wa
        .first(Duration::from_secs(5), |f| f["type"] == "ack" && f["client_msg_id"] == "during")
        .await
        .expect("acked while Redis is down");
    assert_eq!(ack["seq"], 2, "{ack}");
    let (word, service) = new_service(&http, &b, &bob_token, "Lamp").await;

    // Redis comes back: the nodes reconnect by themselves.
    redis.restart();
    wait_redis(&http, &a, "up").await;
    wait_redis(&http, &b, "up").await;
    // Nothing acked was lost: Bob syncs the message sent during the outage.
    wb.send(json!({"type": "sync", "conversations": {conv.clone(): 1}})).await;
    let synced = messages(&mut wb, &conv, 1, Duration::from_secs(5)).await;
    assert_eq!(synced.first().map(|f| f["body"].clone()), Some(json!("during the outage")));
    // Live delivery resumes, both ways.
    wa.send(send_frame(&conv, "after", "after the outage")).await;
    let live = wb
        .first(Duration::from_secs(3), |f| f["type"] == "message" && f["seq"] == 3)
        .await
        .expect("live delivery resumed A -> B");
    assert_eq!(live["body"], "after the outage");
    wb.send(send_frame(&conv, "reply", "and back")).await;
    wa.first(Duration::from_secs(3), |f| f["type"] == "message" && f["seq"] == 4).await.expect("live B -> A");
    // Node A rebuilt its index after the outage: it finds the service B wrote meanwhile.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if found(&http, &a, &alice_token, &word, &service).await {
            break;
        }
        assert!(Instant::now() < deadline, "node A never caught up with the catalog after the outage");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(counter(&http, &a, "agora_redis_outages_total", "").await >= 1.0, "the outage is counted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_and_failed_logins_hold_across_nodes() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let limits = [
        ("AGORA_RATE_LIMITS", "on"),
        ("AGORA_RATE_AUTH_PER_MIN", "8"),
        ("AGORA_LOGIN_FAILURES_MAX", "3"),
        ("AGORA_LOGIN_SLOWDOWN_AFTER", "100"),
    ];
    let env = |node: &str| {
        let mut env = cluster_env(&redis, node);
        env.extend(limits.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env
    };
    let a = start_node(&http, dir.path(), &env("node-a")).await;
    let b = start_node(&http, dir.path(), &env("node-b")).await;
    let nodes = [&a, &b];
    let email = format!("target-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = send(
        http.post(format!("{}/api/auth/register", a.base))
            .json(&json!({"email": email, "password": PASSWORD, "role": "client"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.json);
    let login = |node: &Node, email: &str, password: &str| {
        http.post(format!("{}/api/auth/login", node.base)).json(&json!({"email": email, "password": password}))
    };
    // Failed logins on one name from one address, alternating nodes: the 4th is locked out
    // (3 allowed in the cluster, not 3 per node), even with the right password.
    let mut statuses = Vec::new();
    for i in 0..3 {
        statuses.push(send(login(nodes[i % 2], &email, "wrong password 1")).await.status);
    }
    let locked = send(login(nodes[1], &email, PASSWORD)).await;
    statuses.push(locked.status);
    assert_eq!(statuses, vec![401, 401, 401, 429], "{}", locked.json);
    // The auth limit (8 a minute per address) counts requests on both nodes: register and the
    // 4 logins above were 5; 3 more pass and the 9th is refused, whichever node it hits.
    let mut more = Vec::new();
    for i in 0..4 {
        more.push(send(login(nodes[i % 2], "nobody@example.com", "wrong password 2")).await);
    }
    let codes: Vec<u16> = more.iter().map(|r| r.status).collect();
    assert_eq!(codes, vec![401, 401, 401, 429], "{:?}", more.last().map(|r| &r.json));
    assert_eq!(more[3].json["error"]["code"], "rate_limited");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idempotency_key_used_on_one_node_replays_on_the_other() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let http = reqwest::Client::new();
    let a = start_node(&http, dir.path(), &cluster_env(&redis, "node-a")).await;
    let b = start_node(&http, dir.path(), &cluster_env(&redis, "node-b")).await;
    let deal = deal(&http, &a).await;
    let fund = |node: &Node| {
        http.post(format!("{}/api/contracts/{}/milestones/{}/fund", node.base, deal.contract, deal.milestone))
            .bearer_auth(&deal.client)
            .header("Idempotency-Key", "fund-once")
            .json(&json!({"payment_method_id": deal.card}))
    };
    let first = fund(&a).send().await.expect("fund on A");
    assert_eq!(first.status().as_u16(), 200);
    assert!(first.headers().get("Idempotent-Replayed").is_none());
    let again = fund(&b).send().await.expect("fund again on B");
    assert_eq!(again.status().as_u16(), 200);
    assert_eq!(again.headers().get("Idempotent-Replayed").and_then(|v| v.to_str().ok()), Some("true"));
    let payments = get(&http, &b, "/api/payments", &deal.client).await;
    assert_eq!(result_ids(&payments).len(), 1, "one charge: {}", payments.json);
    let (ok, text) = ledger_verify(dir.path());
    assert!(ok, "{text}");
}
