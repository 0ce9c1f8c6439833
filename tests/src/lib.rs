//! Black-box test helpers: `spawn_app()` starts the real application on port 0 with a
//! fresh temporary data dir and hands back a real HTTP client with typed helpers.

use std::path::PathBuf;
use std::time::Duration;

use agora_http::{Application, Settings};
use serde_json::{json, Value};

pub mod fuzz;

/// A known secret, so tests can mint tokens (expired ones, say) with the server's key.
pub const TEST_JWT_SECRET: &str = "agora-test-secret-0123456789-abcdefghijklmnop";
pub const PASSWORD: &str = "correct horse battery 9";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
    /// The `/metrics` listener's port, when `metrics_listen` is set.
    pub metrics_port: Option<u16>,
    _dir: Option<tempfile::TempDir>,
}

/// Settings for a test server: port 0, its own data dir, generous rate limits.
pub fn test_settings(data_dir: &std::path::Path) -> Settings {
    let mut s = Settings::load_from(None, &[]).expect("default settings");
    s.listen = "127.0.0.1:0".into();
    s.data_dir = data_dir.to_path_buf();
    s.jwt_secret = Some(TEST_JWT_SECRET.into());
    s.rate_auth_per_min = 10_000;
    s.rate_anonymous_per_min = 100_000;
    s.rate_user_per_min = 100_000;
    s.log = "warn".into();
    s
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path());
    tweak(&mut settings);
    let mut app = start(settings).await;
    app._dir = Some(dir);
    app
}

/// Starts an app on exactly these settings (e.g. a second node on the same data dir).
pub async fn start(settings: Settings) -> TestApp {
    agora_http::telemetry::init_logging(&settings);
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        data_dir,
        metrics_port,
        _dir: None,
    }
}

/// Starts an app on these settings and answers, with it, a handle that stops its HTTP
/// server (`handle.stop(false)`), so a test can restart on the same data dir.
pub async fn start_stoppable(settings: Settings) -> (TestApp, actix_web::dev::ServerHandle) {
    agora_http::telemetry::init_logging(&settings);
    let data_dir = settings.data_dir.clone();
    let app = Application::build(settings).await.expect("app builds");
    let port = app.port();
    let metrics_port = app.metrics_port();
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    (TestApp { address: format!("http://127.0.0.1:{port}"), port, client, data_dir, metrics_port, _dir: None }, handle)
}

/// A response read whole: status, headers and JSON body (`Value::Null` when empty or not JSON).
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.json["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status and, for errors, the API.md envelope with the given code.
    #[track_caller]
    pub fn expect(&self, status: u16, code: Option<&str>) -> &Self {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.text);
        if let Some(code) = code {
            assert_eq!(self.code(), code, "unexpected error code; body: {}", self.text);
            assert!(self.json["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "no message: {}", self.text);
            let ct = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
            assert!(ct.starts_with("application/json"), "error is not JSON ({ct}): {}", self.text);
        }
        self
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, headers, text, json }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn post(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.client.post(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// POSTs `body` as `token`'s user with `Idempotency-Key: key` when a key is given.
    pub async fn post_keyed(&self, path: &str, body: Value, token: &str, key: Option<&str>) -> Reply {
        let mut req = self.client.post(self.url(path)).bearer_auth(token).json(&body);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        self.send(req).await
    }

    pub async fn patch(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.client.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn put(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.client.put(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = self.client.delete(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

    /// A fresh user promoted to admin through the store, logged in again so its access
    /// token carries the admin role.
    pub async fn admin(&self) -> TestUser {
        let user = self.user("admin").await;
        let store = agora_http::startup::open_store(&test_settings(&self.data_dir)).await.expect("store opens");
        let id = agora_engine::UserId::parse(&user.id).expect("user id");
        store
            .users()
            .update(id, |u| u.role = agora_engine::Role::Admin)
            .await
            .expect("promote")
            .expect("the user exists");
        let r = self.login(&user.email, PASSWORD).await;
        r.expect(200, None);
        assert_eq!(r.json["user"]["role"], "admin", "promoted: {}", r.text);
        TestUser { token: r.json["access"].as_str().expect("access token").to_string(), ..user }
    }

    /// Registers a fresh client and answers its id, email and access token.
    pub async fn user(&self, tag: &str) -> TestUser {
        self.member(tag, "client").await
    }

    /// A fresh user with `role` (provider, worker or client).
    pub async fn member(&self, tag: &str, role: &str) -> TestUser {
        let addr = email(tag);
        let body = self.register(&addr, role).await;
        assert_eq!(body["user"]["role"], role, "registered role: {body}");
        TestUser {
            id: body["user"]["id"].as_str().expect("user id").to_string(),
            email: addr,
            token: body["access"].as_str().expect("access token").to_string(),
        }
    }

    /// A provider with a profile; answers the user and the profile id.
    pub async fn provider(&self, tag: &str) -> (TestUser, String) {
        let user = self.member(tag, "provider").await;
        let profile =
            json!({"bio": format!("{tag} does good work"), "hourly_rate": {"amount": 5000, "currency": "USD"}});
        let r = self.post("/api/providers", profile, Some(&user.token)).await;
        r.expect(201, None);
        let id = r.json["id"].as_str().expect("provider id").to_string();
        (user, id)
    }

    /// A pending contract between `client` and `provider` for `amount` minor units of USD
    /// (job, proposal, accept); answers its id.
    pub async fn pending_contract(&self, client: &TestUser, provider: &TestUser, amount: i64) -> String {
        let job = json!({"title": "Fix the garden fence", "description": "Two broken panels need replacing soon."});
        let r = self.post("/api/jobs", job, Some(&client.token)).await;
        r.expect(201, None);
        let job = r.json["id"].as_str().expect("job id").to_string();
        let proposal = json!({"job_id": job, "rate": {"amount": amount, "currency": "USD"}});
        let r = self.post("/api/proposals", proposal, Some(&provider.token)).await;
        r.expect(201, None);
        let proposal = r.json["id"].as_str().expect("proposal id").to_string();
        let r = self.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token)).await;
        r.expect(201, None);
        assert_eq!(r.json["status"], "pending", "{}", r.text);
        r.json["id"].as_str().expect("contract id").to_string()
    }

    /// The client funds a pending contract's next milestone (the whole agreed amount unless
    /// it was split) with a fresh test card, which makes the contract active; answers the
    /// reply's `{payment, milestone, contract_status}`.
    pub async fn fund_contract(&self, client: &TestUser, contract: &str) -> Value {
        let card = self.card(client, "4242424242424242").await;
        let r = self
            .post(&format!("/api/contracts/{contract}/fund"), json!({"payment_method_id": card}), Some(&client.token))
            .await;
        r.expect(200, None);
        assert_eq!(r.json["contract_status"], "active", "{}", r.text);
        r.json
    }

    /// Saves the card `number` (expiring 12/2099, cvc 123) for `user`; answers its id.
    pub async fn card(&self, user: &TestUser, number: &str) -> String {
        let body = json!({"kind": "card", "number": number, "exp_month": 12, "exp_year": 2099, "cvc": "123"});
        let r = self.post("/api/payment-methods", body, Some(&user.token)).await;
        r.expect(201, None);
        r.json["id"].as_str().expect("payment method id").to_string()
    }

    /// Uploads `bytes` named `name` as `token` with the plain multipart `POST /api/uploads`
    /// (the declared type is always image/jpeg: the server sniffs the bytes).
    pub async fn upload(&self, token: &str, name: &str, bytes: &[u8]) -> Reply {
        let boundary = "agoraTestBoundary7MA4YWxk";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: image/jpeg\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        self.send(
            self.client
                .post(self.url("/api/uploads"))
                .bearer_auth(token)
                .header("content-type", format!("multipart/form-data; boundary={boundary}"))
                .body(body),
        )
        .await
    }

    /// Creates a conversation as `by` with `others`; answers its id.
    pub async fn conversation(&self, by: &TestUser, others: &[&TestUser]) -> String {
        let ids: Vec<&str> = others.iter().map(|u| u.id.as_str()).collect();
        let r = self.post("/api/conversations", json!({"participant_ids": ids}), Some(&by.token)).await;
        assert!(r.status == 201 || r.status == 200, "create conversation: {} {}", r.status, r.text);
        r.json["id"].as_str().expect("conversation id").to_string()
    }

    /// Opens a WebSocket as `token` (JSON or MessagePack) and waits for `hello`.
    pub async fn ws(&self, token: &str, encoding: Encoding) -> WsClient {
        let (client, hello) = self.ws_raw(&format!("/ws?token={token}"), None, encoding).await;
        let hello = hello.expect("hello frame");
        assert_eq!(hello["type"], "hello", "first frame must be hello: {hello}");
        client
    }

    /// Opens a WebSocket at `path_and_query` (optionally with a Bearer header) and answers
    /// the client and its first frame (or `None` if the socket closed first).
    pub async fn ws_raw(
        &self,
        path_and_query: &str,
        bearer: Option<&str>,
        encoding: Encoding,
    ) -> (WsClient, Option<Value>) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req =
            format!("ws://127.0.0.1:{}{}", self.port, path_and_query).into_client_request().expect("ws request");
        let proto = match encoding {
            Encoding::Json => "agora.v1.json",
            Encoding::Msgpack => "agora.v1.msgpack",
        };
        req.headers_mut().insert("sec-websocket-protocol", proto.parse().expect("header"));
        if let Some(b) = bearer {
            req.headers_mut().insert("authorization", format!("Bearer {b}").parse().expect("header"));
        }
        let (stream, response) = tokio_tungstenite::connect_async(req).await.expect("websocket handshake");
        let negotiated =
            response.headers().get("sec-websocket-protocol").and_then(|v| v.to_str().ok()).map(str::to_string);
        assert_eq!(negotiated.as_deref(), Some(proto), "subprotocol negotiated");
        let mut client = WsClient { stream, encoding, close: None };
        let first = client.recv_timeout(Duration::from_secs(5)).await;
        (client, first)
    }
}

impl TestApp {
    /// A WebSocket client that never writes after its handshake, so it never answers the
    /// server's pings (a real client library answers them on every read). It reads raw
    /// frames, which keeps the server's close frame readable even after the server has
    /// dropped the TCP connection.
    pub async fn ws_silent(&self, token: &str) -> SilentWs {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.expect("connect");
        let request = format!(
            "GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Protocol: agora.v1.json\r\n\r\n",
            self.port
        );
        tcp.write_all(request.as_bytes()).await.expect("send the handshake");
        let mut buf = Vec::new();
        let end = loop {
            let mut chunk = [0u8; 1024];
            let n = tcp.read(&mut chunk).await.expect("read the handshake");
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        assert!(head.starts_with("HTTP/1.1 101"), "handshake refused: {head}");
        SilentWs { tcp, buf: buf[end..].to_vec() }
    }
}

/// See [`TestApp::ws_silent`].
pub struct SilentWs {
    tcp: tokio::net::TcpStream,
    buf: Vec<u8>,
}

impl SilentWs {
    /// The next whole server frame `(opcode, payload)` within the deadline (server frames
    /// are never masked); `None` on timeout or end of stream.
    async fn frame(&mut self, deadline: tokio::time::Instant) -> Option<(u8, Vec<u8>)> {
        use tokio::io::AsyncReadExt;
        loop {
            if let Some((frame, used)) = parse_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout_at(deadline, self.tcp.read(&mut chunk)).await.ok()?.ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The first text frame (the `hello`), parsed.
    pub async fn hello(&mut self) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            match self.frame(deadline).await {
                Some((0x1, payload)) => return serde_json::from_slice(&payload).expect("a JSON frame"),
                Some(_) => continue,
                None => panic!("no hello frame"),
            }
        }
    }

    /// Reads (without answering anything) until the server's close frame; its code.
    pub async fn closed(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match self.frame(deadline).await? {
                (0x8, payload) if payload.len() >= 2 => return Some(u16::from_be_bytes([payload[0], payload[1]])),
                (0x8, _) => return Some(1005),
                _ => continue,
            }
        }
    }
}

/// Splits one unmasked frame off the front of `buf`: `((opcode, payload), bytes used)`.
fn parse_frame(buf: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, start) = match b1 & 0x7f {
        126 => (usize::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])), 4),
        127 => (usize::try_from(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)).ok()?, 10),
        n => (usize::from(n), 2),
    };
    let payload = buf.get(start..start + len)?;
    Some(((b0 & 0x0f, payload.to_vec()), start + len))
}

#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: String,
    pub email: String,
    pub token: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Json,
    Msgpack,
}

/// A real WebSocket client speaking either encoding; frames are `serde_json::Value`s.
pub struct WsClient {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    pub encoding: Encoding,
    /// The close frame's (code, reason), once the server closed the socket.
    pub close: Option<(u16, String)>,
}

impl WsClient {
    pub async fn send(&mut self, frame: Value) {
        use futures_util::SinkExt;
        use tokio_tungstenite::tungstenite::Message;
        let msg = match self.encoding {
            Encoding::Json => Message::Text(frame.to_string().into()),
            Encoding::Msgpack => Message::Binary(rmp_serde::to_vec_named(&frame).expect("msgpack").into()),
        };
        self.stream.send(msg).await.expect("ws send");
    }

    /// Sends a raw WebSocket message (for malformed-input tests).
    pub async fn send_raw(&mut self, msg: tokio_tungstenite::tungstenite::Message) {
        use futures_util::SinkExt;
        self.stream.send(msg).await.expect("ws send raw");
    }

    /// The next application frame within `wait`, or `None` on timeout or close.
    pub async fn recv_timeout(&mut self, wait: Duration) -> Option<Value> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let next = tokio::time::timeout_at(deadline, self.stream.next()).await.ok()??;
            match next {
                Ok(Message::Text(t)) => {
                    assert_eq!(self.encoding, Encoding::Json, "text frame on a msgpack connection");
                    return Some(serde_json::from_str(&t).expect("server sends JSON objects"));
                }
                Ok(Message::Binary(b)) => {
                    assert_eq!(self.encoding, Encoding::Msgpack, "binary frame on a JSON connection");
                    return Some(rmp_serde::from_slice(&b).expect("server sends MessagePack maps"));
                }
                Ok(Message::Close(c)) => {
                    self.close = c.map(|c| (u16::from(c.code), c.reason.to_string()));
                    return None;
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next frame of type `kind` within 5 s, skipping frames of other types.
    pub async fn expect(&mut self, kind: &str) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.recv_timeout(left).await {
                Some(f) if f["type"] == kind => return f,
                Some(_) => continue,
                None => panic!("no {kind:?} frame (closed: {:?})", self.close),
            }
        }
    }

    /// Asserts that no frame of type `kind` arrives within `wait` (other types are skipped).
    pub async fn expect_none(&mut self, kind: &str, wait: Duration) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return;
            }
            if let Some(f) = self.recv_timeout(left).await {
                assert_ne!(f["type"], kind, "unexpected {kind} frame: {f}");
            } else {
                return;
            }
        }
    }

    /// Waits for the server to close the socket; answers the close code.
    pub async fn closed(&mut self, wait: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + wait;
        while self.close.is_none() {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            if self.recv_timeout(left).await.is_none() && self.close.is_none() {
                return None;
            }
        }
        self.close.as_ref().map(|c| c.0)
    }
}

impl TestApp {
    /// Registers and answers the 201 body `{user, access, refresh}`.
    pub async fn register(&self, email: &str, role: &str) -> Value {
        let r =
            self.post("/api/auth/register", json!({"email": email, "password": PASSWORD, "role": role}), None).await;
        r.expect(201, None);
        r.json
    }

    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.post("/api/auth/login", json!({"email": email, "password": password}), None).await
    }

    /// Waits for an email to `to` in the outbox whose subject contains `subject`, and answers
    /// the token in it.
    pub async fn token_from_email(&self, to: &str, subject: &str) -> String {
        let outbox = self.data_dir.join("outbox");
        for _ in 0..100 {
            if let Ok(entries) = std::fs::read_dir(&outbox) {
                let mut files: Vec<_> =
                    entries.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect();
                files.sort();
                for f in files.iter().rev() {
                    let text = std::fs::read_to_string(f).unwrap_or_default();
                    if text.contains(&format!("To: {to}")) && text.contains(subject) {
                        let start = text.find("\nToken: ").expect("token line in the email") + "\nToken: ".len();
                        return text[start..]
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                            .collect();
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no email to {to} with subject {subject:?} in {}", outbox.display());
    }

    /// How many outbox emails went to `to`.
    pub fn emails_to(&self, to: &str) -> usize {
        std::fs::read_dir(self.data_dir.join("outbox"))
            .map(|entries| {
                entries
                    .flatten()
                    .filter(|e| std::fs::read_to_string(e.path()).unwrap_or_default().contains(&format!("To: {to}")))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address reaches the server
/// on 127.0.0.1 and is seen as a different client IP).
pub fn client_from(ip: std::net::IpAddr) -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).local_address(ip).build().expect("client")
}

impl TestApp {
    /// Waits for an email to `to` whose subject contains `subject`; answers the whole file.
    pub async fn email_with_subject(&self, to: &str, subject: &str) -> Option<String> {
        let outbox = self.data_dir.join("outbox");
        for _ in 0..100 {
            if let Ok(entries) = std::fs::read_dir(&outbox) {
                for e in entries.flatten().filter(|e| e.path().extension().is_some_and(|x| x == "eml")) {
                    let text = std::fs::read_to_string(e.path()).unwrap_or_default();
                    if text.contains(&format!("To: {to}")) && text.contains(subject) {
                        return Some(text);
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

/// A unique email address for a test.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}
