//! Credentials never reach the log: a real `agora serve` process logs (debug level, text
//! and JSON formats) to a file while clients connect WebSockets with `?token=`, call REST
//! with tokens in headers, bodies and query strings, refresh and log out. Afterwards no
//! access or refresh token issued during the run appears anywhere in the log.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

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
        .env_remove("AGORA_JWT_SECRET")
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

/// Exercises every way a token travels; answers every token the server issued.
async fn traffic(base: &str, port: u16) -> Vec<String> {
    let client = reqwest::Client::new();
    wait_ready(&client, base).await;
    let email = format!("log-{port}@example.com");
    let password = "correct horse battery 9";
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
    let tokens = rt.block_on(traffic(&format!("http://127.0.0.1:{port}"), port));
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
}

#[test]
fn tokens_never_reach_the_text_log() {
    check("text");
}

#[test]
fn tokens_never_reach_the_json_log() {
    check("json");
}
