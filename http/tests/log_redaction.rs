//! Secrets never reach the log: a real `agora serve` process logs (debug level, text and
//! JSON formats) to a file while clients connect WebSockets with `?token=`, call REST with
//! tokens in headers, bodies and query strings, refresh and log out, log in with a wrong and
//! a right password, reset the password and verify the email with the emailed tokens, save
//! a card and a bank account, and deliver signed (and badly signed) payment webhooks.
//! Afterwards no token issued during the run, no password, no emailed token, no card
//! number, IBAN or CVC, no webhook signature and none of the configured secrets (JWT,
//! webhook, metrics) appears anywhere in the log.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const JWT_SECRET: &str = "jwt-secret-for-the-log-test-0123456789abcdef";
const WEBHOOK_SECRET: &str = "whsec-for-the-log-test-9876543210";
const METRICS_TOKEN: &str = "metrics-token-for-the-log-test-5555";
const PASSWORD: &str = "correct horse battery 9";
const CARD: &str = "4242424242424242";
const CVC: &str = "719";
const IBAN: &str = "DE89370400440532013000";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn serve(data_dir: &std::path::Path, port: u16, log: &std::path::Path, format: &str) -> Child {
    let file = std::fs::File::create(log).expect("log file");
    Command::new(env!("CARGO_BIN_EXE_agora"))
        .arg("serve")
        .env("AGORA_DATA_DIR", data_dir)
        .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
        .env("AGORA_LOG", "debug")
        .env("AGORA_LOG_FORMAT", format)
        .env("AGORA_RATE_LIMITS", "off")
        .env("AGORA_JWT_SECRET", JWT_SECRET)
        .env("AGORA_PAYMENT_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("AGORA_METRICS_TOKEN", METRICS_TOKEN)
        .stdout(Stdio::null())
        .stderr(file)
        .spawn()
        .expect("agora serve")
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.get(format!("{base}/api/health")).send().await.is_err() {
        assert!(Instant::now() < deadline, "server never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    client.post(url).json(&body).send().await.expect("post").json().await.unwrap_or(Value::Null)
}

/// Every token in the outbox's emails (`Token: ...` lines).
fn emailed_tokens(outbox: &std::path::Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(outbox) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("Token: "))
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The secrets a user handles besides tokens: the reset and verification flows, a card, a
/// bank account, webhooks and the metrics token. Answers every secret it used.
async fn more_traffic(client: &reqwest::Client, base: &str, outbox: &std::path::Path, email: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    let wrong = "wrong horse battery 8";
    let _ = post(client, format!("{base}/api/auth/login"), json!({"email": email, "password": wrong})).await;
    secrets.push(wrong.to_string());
    // Verification (the registration's email) and reset (a second email).
    let _ = post(client, format!("{base}/api/auth/password-reset"), json!({"email": email})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut emailed = emailed_tokens(outbox);
    while emailed.len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        emailed = emailed_tokens(outbox);
    }
    assert!(emailed.len() >= 2, "the verification and reset emails carry tokens: {emailed:?}");
    let new_password = "staple battery horse 7";
    for t in &emailed {
        let _ = post(client, format!("{base}/api/auth/verify-email"), json!({"token": t})).await;
        let _ = post(
            client,
            format!("{base}/api/auth/password-reset/confirm"),
            json!({"token": t, "new_password": new_password}),
        )
        .await;
    }
    secrets.extend(emailed);
    secrets.push(new_password.to_string());
    let login = post(client, format!("{base}/api/auth/login"), json!({"email": email, "password": new_password})).await;
    let access = login["access"].as_str().expect("login after the reset").to_string();
    secrets.push(access.clone());
    secrets.push(login["refresh"].as_str().expect("refresh").to_string());
    // A card and a bank account.
    let card = client
        .post(format!("{base}/api/payment-methods"))
        .bearer_auth(&access)
        .json(&json!({"kind": "card", "number": CARD, "exp_month": 12, "exp_year": 2099, "cvc": CVC}))
        .send()
        .await
        .expect("card");
    assert_eq!(card.status(), 201, "the card is saved");
    let bank = client
        .post(format!("{base}/api/payout-methods"))
        .bearer_auth(&access)
        .json(&json!({"kind": "bank_account", "holder_name": "Log Test", "iban": IBAN}))
        .send()
        .await
        .expect("bank account");
    assert_eq!(bank.status(), 201, "the bank account is saved");
    secrets.extend([CARD.into(), "4242 4242 4242 4242".into(), IBAN.into()]);
    // Webhooks: one signed right, one signed with a wrong secret.
    let body = json!({"id": "evt_log_test", "type": "log.test", "data": {}}).to_string();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for secret in [WEBHOOK_SECRET, "not-the-webhook-secret"] {
        let signature = agora_engine::webhook::sign(secret.as_bytes(), now, body.as_bytes());
        let r = client
            .post(format!("{base}/api/payments/webhooks/sandbox"))
            .header("Agora-Signature", &signature)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("webhook");
        let expected = if secret == WEBHOOK_SECRET { 200 } else { 401 };
        assert_eq!(r.status(), expected, "webhook signed with {secret:?}");
        secrets.push(signature.rsplit("v1=").next().expect("tag").to_string());
    }
    // The metrics token, right and wrong.
    let _ = client.get(format!("{base}/metrics")).bearer_auth(METRICS_TOKEN).send().await;
    let _ = client.get(format!("{base}/metrics?token={METRICS_TOKEN}")).send().await;
    secrets.extend([JWT_SECRET.into(), WEBHOOK_SECRET.into(), METRICS_TOKEN.into()]);
    secrets
}

/// Exercises every way a token travels; answers every token the server issued.
async fn traffic(base: &str, port: u16) -> Vec<String> {
    let client = reqwest::Client::new();
    wait_ready(&client, base).await;
    let email = format!("log-{port}@example.com");
    let password = PASSWORD;
    let reg = post(&client, format!("{base}/api/auth/register"), json!({"email": email, "password": password})).await;
    let login = post(&client, format!("{base}/api/auth/login"), json!({"email": email, "password": password})).await;
    let mut tokens = Vec::new();
    for v in [&reg, &login] {
        for k in ["access", "refresh"] {
            tokens.push(v[k].as_str().expect("token").to_string());
        }
    }
    let refreshed = post(&client, format!("{base}/api/auth/refresh"), json!({"refresh": tokens[3]})).await;
    for k in ["access", "refresh"] {
        tokens.push(refreshed[k].as_str().expect("refreshed token").to_string());
    }
    let access = tokens[4].clone();
    // WebSockets with the token in the query string, good and revoked.
    for t in [&tokens[0], &access, &tokens[2]] {
        let url = format!("ws://127.0.0.1:{port}/ws?token={t}&other=1");
        if let Ok((mut ws, _)) = tokio_tungstenite::connect_async(url).await {
            use futures_util::StreamExt as _;
            let _ = tokio::time::timeout(Duration::from_millis(300), ws.next()).await;
        }
    }
    // REST with tokens in headers, bodies and query strings.
    let _ = client.get(format!("{base}/api/auth/me")).bearer_auth(&access).send().await;
    let _ = client.get(format!("{base}/api/auth/me?token={access}&access_token={access}")).send().await;
    let _ = client.get(format!("{base}/api/nothing?refresh={}&api_key={access}", tokens[5])).send().await;
    post(&client, format!("{base}/api/auth/verify"), json!({"token": access})).await;
    post(&client, format!("{base}/api/auth/logout"), json!({"refresh": tokens[5]})).await;
    let _ = client.post(format!("{base}/api/auth/logout?refresh={}", tokens[5])).json(&json!({})).send().await;
    tokens
}

fn check(format: &str) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("agora.log");
    let port = free_port();
    let mut child = serve(&dir.path().join("data"), port, &log, format);
    let base = format!("http://127.0.0.1:{port}");
    let tokens = rt.block_on(traffic(&base, port));
    let email = format!("log-{port}@example.com");
    let secrets = rt.block_on(more_traffic(&reqwest::Client::new(), &base, &dir.path().join("data/outbox"), &email));
    std::thread::sleep(Duration::from_millis(300));
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("/ws?token=[redacted]&other=1"), "the request target is logged, redacted:\n{text:.3000}");
    for t in &tokens {
        // The signature part alone would already be a leak.
        let signature = t.rsplit('.').next().unwrap_or(t);
        assert!(!text.contains(signature), "a token reached the {format} log:\n{text:.3000}");
    }
    for secret in secrets.iter().chain([&PASSWORD.to_string()]) {
        let signature = secret.rsplit('.').next().unwrap_or(secret);
        assert!(!text.contains(signature), "a secret ({} chars) reached the {format} log:\n{text:.3000}", secret.len());
    }
    // The CVC is too short to search for as a bare number; as a string (JSON or Debug) it
    // would be quoted.
    assert!(!text.contains(&format!("\"{CVC}\"")), "the CVC reached the {format} log");
}

#[test]
fn secrets_never_reach_the_text_log() {
    check("text");
}

#[test]
fn secrets_never_reach_the_json_log() {
    check("json");
}
