//! Real `agora serve` processes for the multi-process tests: start, wait until ready, kill
//! on drop; and small JSON helpers over reqwest.
#![allow(dead_code)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const SECRET: &str = "accept-race-secret-0123456789-abcdefghijklmnop";
pub const PASSWORD: &str = "correct horse battery 9";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// A running `agora serve`, killed when dropped (also when a test fails).
pub struct Node {
    pub child: Child,
    pub base: String,
    /// Where the process's stderr goes (shown when it exits early).
    pub log: std::path::PathBuf,
    pub port: u16,
}

impl Node {
    pub fn start(data_dir: &std::path::Path) -> Node {
        Node::start_with(data_dir, &[])
    }

    /// Starts a node with extra environment variables (e.g. a fault-injection step).
    pub fn start_with(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Node {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("agora-node-{}-{port}.log", std::process::id()));
        let stderr = std::fs::File::create(&log).expect("node log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agora"));
        cmd.arg("serve")
            .env("AGORA_DATA_DIR", data_dir)
            .env("AGORA_LISTEN", format!("127.0.0.1:{port}"))
            .env("AGORA_JWT_SECRET", SECRET)
            .env("AGORA_RATE_LIMITS", "off")
            .env("AGORA_LOG", "warn")
            .env("AGORA_SHUTDOWN_TIMEOUT_SECS", "5")
            .env_remove("AGORA_REDIS_URL")
            .env_remove("AGORA_STORAGE")
            // The caller's variables last, so they override the defaults above.
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(stderr);
        let child = cmd.spawn().expect("agora serve");
        Node { child, base: format!("http://127.0.0.1:{port}"), log, port }
    }

    pub async fn wait_ready(&mut self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = client.get(format!("{}/api/ready", self.base)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                panic!(
                    "agora serve exited early with {status}: {}",
                    log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                );
            }
            assert!(Instant::now() < deadline, "{} never became ready", self.base);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

pub struct Reply {
    pub status: u16,
    pub json: Value,
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let res = req.send().await.expect("request sent");
    let status = res.status().as_u16();
    let text = res.text().await.expect("body");
    Reply { status, json: serde_json::from_str(&text).unwrap_or(Value::Null) }
}

pub async fn post(client: &reqwest::Client, node: &Node, path: &str, body: Value, token: &str) -> Reply {
    send(client.post(format!("{}{path}", node.base)).bearer_auth(token).json(&body)).await
}

pub async fn get(client: &reqwest::Client, node: &Node, path: &str, token: &str) -> Reply {
    send(client.get(format!("{}{path}", node.base)).bearer_auth(token)).await
}

/// Registers a user with `role` through `node`; answers (id, access token).
pub async fn register(client: &reqwest::Client, node: &Node, tag: &str, role: &str) -> (String, String) {
    let email = format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple());
    let r = send(
        client
            .post(format!("{}/api/auth/register", node.base))
            .json(&json!({"email": email, "password": PASSWORD, "role": role})),
    )
    .await;
    assert_eq!(r.status, 201, "register: {}", r.json);
    (
        r.json["user"]["id"].as_str().expect("user id").to_string(),
        r.json["access"].as_str().expect("access token").to_string(),
    )
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

pub fn result_ids(r: &Reply) -> Vec<String> {
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["results"].as_array().expect("results").iter().map(id_of).collect()
}

impl Node {
    /// Waits until the process has exited (e.g. aborted by a fault hook); answers whether it
    /// died by a signal or a failure rather than exiting cleanly.
    pub async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(Instant::now() < deadline, "{} did not exit", self.base);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The value of a Prometheus counter line `name{labels}` summed over its label sets.
pub async fn counter(client: &reqwest::Client, node: &Node, name: &str, label: &str) -> f64 {
    let text = client.get(format!("{}/metrics", node.base)).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// Silences the unused warning for `json!` in test binaries that don't use it.
pub fn empty() -> Value {
    json!({})
}

/// `agora ledger verify` on a data dir: whether it passed, and what it printed.
pub fn ledger_verify(dir: &std::path::Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_agora"))
        .args(["ledger", "verify"])
        .env("AGORA_DATA_DIR", dir)
        .env("AGORA_LOG", "warn")
        .env_remove("AGORA_STORAGE")
        .output()
        .expect("agora ledger verify");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains("ledger: ok"), text)
}

/// A fresh client and provider, a pending contract between them for 10 000 USD (job,
/// proposal, accept), the client's saved card and the contract's one milestone.
pub struct Deal {
    pub client: String,
    pub provider: String,
    pub contract: String,
    pub card: String,
    pub milestone: String,
}

pub async fn deal(http: &reqwest::Client, node: &Node) -> Deal {
    let (_, client) = register(http, node, "client", "client").await;
    let (_, provider) = register(http, node, "provider", "provider").await;
    let job = json!({"title": "Roof repair", "description": "Three tiles"});
    let job = id_of(&post(http, node, "/api/jobs", job, &client).await.json);
    let rate = json!({"amount": 10_000, "currency": "USD"});
    let proposal =
        id_of(&post(http, node, "/api/proposals", json!({"job_id": job, "rate": rate}), &provider).await.json);
    let r = post(http, node, &format!("/api/proposals/{proposal}/accept"), json!({}), &client).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let contract = id_of(&r.json);
    let card = json!({"kind": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"});
    let r = post(http, node, "/api/payment-methods", card, &client).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let card = id_of(&r.json);
    let milestone =
        result_ids(&get(http, node, &format!("/api/contracts/{contract}/milestones"), &client).await)[0].clone();
    Deal { client, provider, contract, card, milestone }
}

/// A real `redis-server` on a free port with nothing persisted, stopped when dropped.
/// `restart` stops it and starts it again on the same port (an outage).
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let port = free_port();
        let mut redis = Redis { child: None, port };
        redis.spawn();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (the test command installs it)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A JSON WebSocket client of `/ws`.
pub struct Ws {
    stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    /// Connects with `token` and reads the `hello`.
    pub async fn connect(node: &Node, token: &str) -> Ws {
        let url = format!("ws://127.0.0.1:{}/ws?token={token}", node.port);
        let (stream, _) = tokio_tungstenite::connect_async(url).await.expect("websocket handshake");
        let mut ws = Ws { stream };
        ws.expect("hello", Duration::from_secs(5)).await;
        ws
    }

    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        self.stream
            .send(tokio_tungstenite::tungstenite::Message::Text(frame.to_string().into()))
            .await
            .expect("ws send");
    }

    /// The next frame within `wait`, or `None` (timeout or closed).
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let msg = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??.ok()?;
            match msg {
                tokio_tungstenite::tungstenite::Message::Text(t) => return serde_json::from_str(&t).ok(),
                tokio_tungstenite::tungstenite::Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// The first frame of type `kind` within `wait` (others are skipped); panics if none.
    pub async fn expect(&mut self, kind: &str, wait: Duration) -> Value {
        self.first(wait, |f| f["type"] == kind).await.unwrap_or_else(|| panic!("no {kind} frame within {wait:?}"))
    }

    /// The first frame matching `pred` within `wait`, skipping the rest.
    pub async fn first(&mut self, wait: Duration, pred: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let frame = self.next(left).await?;
            if pred(&frame) {
                return Some(frame);
            }
        }
        None
    }
}
