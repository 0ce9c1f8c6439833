//! `agora seed` as operators run it: it fills an empty data dir, refuses a second run, and
//! `agora serve` on that data dir lists, searches and shows what was seeded.

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const PASSWORD: &str = "agora demo password 1";

fn agora(data_dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agora"));
    c.env("AGORA_DATA_DIR", data_dir).env("AGORA_LOG", "warn").env_remove("AGORA_JWT_SECRET");
    c
}

fn seed(data_dir: &std::path::Path) -> Output {
    agora(data_dir)
        .args(["seed", "--providers", "5", "--services", "20", "--jobs", "10", "--clients", "5"])
        .output()
        .expect("agora seed runs")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Kills the server however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn get(client: &reqwest::Client, url: String, token: Option<&str>) -> Value {
    let mut req = client.get(&url);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    let body: Value = res.json().await.expect("json body");
    assert!(status.is_success(), "GET {url}: {status} {body}");
    body
}

async fn login(client: &reqwest::Client, base: &str, email: &str) -> (u16, Value) {
    let res = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    (res.status().as_u16(), res.json().await.expect("json"))
}

fn results(body: &Value) -> &Vec<Value> {
    body["results"].as_array().expect("results array")
}

#[test]
fn seed_fills_an_empty_data_dir_once_and_serve_shows_it() {
    let dir = tempfile::tempdir().expect("tempdir");

    let started = Instant::now();
    let out = seed(dir.path());
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "seed failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(took < Duration::from_secs(30), "seeding took {took:?}");
    for expected in [
        "providers        5",
        "services         20",
        "jobs             10",
        "users            10 (5 providers, 5 clients)",
        "provider1@demo.agora",
        "client1@demo.agora",
        PASSWORD,
        &dir.path().display().to_string(),
    ] {
        assert!(stdout.contains(expected), "the summary lacks {expected:?}:\n{stdout}");
    }
    for kind in ["contracts", "proposals", "conversations", "messages", "notifications", "categories", "skills"] {
        assert!(stdout.lines().any(|l| l.trim_start().starts_with(kind)), "the summary lacks {kind}:\n{stdout}");
    }

    // A second run refuses: the data dir already has accounts.
    let again = seed(dir.path());
    assert!(!again.status.success(), "a second seed was accepted:\n{}", String::from_utf8_lossy(&again.stdout));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(err.contains("already has accounts"), "unclear refusal: {err}");

    let admin = agora(dir.path())
        .args(["admin", "create", "--email", "ops@demo.agora", "--password", PASSWORD])
        .output()
        .expect("agora admin create");
    assert!(admin.status.success(), "{}", String::from_utf8_lossy(&admin.stderr));

    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _server = Server(
        agora(dir.path())
            .arg("serve")
            .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
            .env("AGORA_RATE_LIMITS", "off")
            .stderr(Stdio::null())
            .spawn()
            .expect("agora serve"),
    );
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    rt.block_on(async {
        let client = reqwest::Client::new();
        wait_ready(&client, &base).await;

        // Demo logins work.
        let (status, body) = login(&client, &base, "provider1@demo.agora").await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["user"]["role"], "provider");
        let (status, body) = login(&client, &base, "client1@demo.agora").await;
        assert_eq!(status, 200, "{body}");
        let client_token = body["access"].as_str().expect("access").to_string();

        // Every seeded service is listed (the index was rebuilt from storage).
        let mut services: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                Some(c) => format!("{base}/api/services?limit=100&cursor={c}"),
                None => format!("{base}/api/services?limit=100"),
            };
            let page = get(&client, url, None).await;
            services.extend(results(&page).iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) if !c.is_empty() => cursor = Some(c.to_string()),
                _ => break,
            }
        }
        assert_eq!(services.len(), 20, "listed services");

        // Full-text search finds a word of a seeded title.
        let title = services[0]["title"].as_str().expect("title").to_string();
        let word = title
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| w.len() >= 5)
            .max_by_key(|w| w.len())
            .unwrap_or(&title)
            .to_lowercase();
        let found = get(&client, format!("{base}/api/services?q={word}&limit=100"), None).await;
        assert!(
            results(&found).iter().any(|s| s["id"] == services[0]["id"]),
            "searching {word:?} does not find {title:?}: {found}"
        );

        // Providers are searchable too, with their seeded profile.
        let providers = get(&client, format!("{base}/api/providers?limit=100"), None).await;
        assert_eq!(results(&providers).len(), 5, "{providers}");

        // client1 has conversations with messages.
        let convs = get(&client, format!("{base}/api/conversations"), Some(&client_token)).await;
        let convs = results(&convs);
        assert!(!convs.is_empty(), "client1 has no conversation");
        for c in convs {
            let last_seq = c["last_seq"].as_u64().expect("last_seq");
            assert!((3..=10).contains(&last_seq), "{c}");
            let id = c["id"].as_str().expect("id");
            let msgs =
                get(&client, format!("{base}/api/conversations/{id}/messages?limit=100"), Some(&client_token)).await;
            let msgs = results(&msgs);
            assert_eq!(msgs.len() as u64, last_seq, "every message is readable");
            let seqs: Vec<u64> = msgs.iter().map(|m| m["seq"].as_u64().expect("seq")).collect();
            let expected: Vec<u64> = (1..=last_seq).rev().collect();
            assert_eq!(seqs, expected, "newest first, gap-free");
            assert!(msgs.iter().all(|m| !m["body"].as_str().unwrap_or_default().is_empty()));
        }

        // client1 hired provider1: the contract has its history.
        let contracts = get(&client, format!("{base}/api/contracts"), Some(&client_token)).await;
        let contract = results(&contracts).first().cloned().expect("client1 has a contract");
        let id = contract["id"].as_str().expect("id");
        let events = get(&client, format!("{base}/api/contracts/{id}/events"), Some(&client_token)).await;
        let events = results(&events);
        assert_eq!(events.first().map(|e| e["to"].clone()), Some(json!("pending")));
        assert_eq!(events.last().map(|e| e["to"].clone()), Some(contract["status"].clone()));
        // Every started contract was funded by its client: the milestone is in escrow or
        // released, and its charge is one of the client's payments.
        for c in results(&contracts).iter().filter(|c| c["status"] != "pending") {
            let id = c["id"].as_str().expect("id");
            let ms = get(&client, format!("{base}/api/contracts/{id}/milestones"), Some(&client_token)).await;
            let status = results(&ms)[0]["status"].as_str().unwrap_or("").to_string();
            assert!(["funded", "released"].contains(&status.as_str()), "contract {id}: milestone {status}");
        }
        let payments = get(&client, format!("{base}/api/payments"), Some(&client_token)).await;
        let started = results(&contracts).iter().filter(|c| c["status"] != "pending").count();
        assert_eq!(results(&payments).len(), started, "one charge per started contract: {payments}");
        assert!(started > 0, "client1 started a contract: {contracts}");

        // 90 days of analytics history: page views on every day of the admin's dashboard
        // (fewer on weekends), and the demo's own actions on top.
        let (status, body) = login(&client, &base, "ops@demo.agora").await;
        assert_eq!(status, 200, "{body}");
        let admin_token = body["access"].as_str().expect("access").to_string();
        let today = time::OffsetDateTime::now_utc().date();
        let from = agora_engine::analytics::ymd(today - time::Duration::days(89));
        let url = format!("{base}/api/analytics/dashboard?from={from}");
        let mut d = Value::Null;
        for _ in 0..150 {
            d = get(&client, url.clone(), Some(&admin_token)).await;
            let days = d["series"]["daily"]
                .as_array()
                .map_or(0, |r| r.iter().filter(|r| r["page_views"].as_i64() > Some(0)).count());
            if days == 90 && d["contracts"]["by_status"].as_object().is_some_and(|m| !m.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let daily = d["series"]["daily"].as_array().expect("daily series");
        assert_eq!(daily.len(), 90);
        assert!(daily.iter().all(|r| r["page_views"].as_i64() > Some(0)), "a day without page views: {d}");
        assert_eq!(d["users"]["total"], 10, "the demo users (the admin was made by the command line): {}", d["users"]);
        assert!(
            d["contracts"]["by_status"].as_object().is_some_and(|m| !m.is_empty()) && d["services"]["total"] == 20,
            "{d}"
        );
        assert!(d["search"]["zero_result_queries"].as_array().is_some_and(|q| !q.is_empty()), "{}", d["search"]);
        assert!(d["popular_services"].as_array().is_some_and(|s| s.len() == 10), "{}", d["popular_services"]);
    });
    // The demo's money adds up.
    let verify = agora(dir.path()).args(["ledger", "verify"]).output().expect("agora ledger verify");
    let text = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
    assert!(verify.status.success() && text.contains("ledger: ok"), "{text}");
}
