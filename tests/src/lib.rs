//! Black-box test helpers: `spawn_app()` starts the real application on port 0 with a
//! fresh temporary data dir and hands back a real HTTP client with typed helpers.

use std::path::PathBuf;
use std::time::Duration;

use agora_http::{Application, Settings};
use serde_json::{json, Value};

/// A known secret, so tests can mint tokens (expired ones, say) with the server's key.
pub const TEST_JWT_SECRET: &str = "agora-test-secret-0123456789-abcdefghijklmnop";
pub const PASSWORD: &str = "correct horse battery 9";

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub data_dir: PathBuf,
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
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
        data_dir,
        _dir: None,
    }
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

    pub async fn patch(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = self.client.patch(self.url(path)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        self.send(req).await
    }

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

/// A unique email address for a test.
pub fn email(tag: &str) -> String {
    format!("{tag}-{}@example.com", uuid::Uuid::new_v4().simple())
}
