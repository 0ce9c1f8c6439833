//! Configuration: defaults in code, an optional TOML file (`--config`), then `AGORA_*`
//! environment variables. Environment wins over the file, the file over the defaults.
//! Secrets are never printed: `Debug` redacts them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StorageKind {
    Sqlite,
    Scylla,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Switch {
    On,
    Off,
}

/// Every setting, with its default. Keys are the same in the TOML file and (upper-cased,
/// prefixed with `AGORA_`) in the environment.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on; port 0 picks a free port.
    pub listen: String,
    /// Where the SQLite file, the generated JWT secret and the email outbox live.
    pub data_dir: PathBuf,
    pub storage: StorageKind,
    pub scylla_nodes: Vec<String>,
    pub scylla_keyspace: String,
    pub scylla_replication_factor: u32,
    /// Unset: single node. Set: cross-node fan-out, presence and rate limits through Redis.
    pub redis_url: Option<String>,
    /// This node's id in the cluster (`[A-Za-z0-9._-]{1,64}`). Unset: a fresh random id at
    /// every start (a restarted node is a new node; the old one is reaped).
    pub node_id: Option<String>,
    /// How long a node's presence heartbeat lives in Redis; a dead node's users go offline
    /// within this plus a third of it.
    pub presence_ttl_ms: u64,
    /// HMAC secret for JWTs (at least 32 bytes). Unset: generated once and kept in the data dir.
    pub jwt_secret: Option<String>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub password_reset_ttl_secs: u64,
    pub email_verification_ttl_secs: u64,
    pub log: String,
    pub log_format: LogFormat,
    pub rate_limits: Switch,
    /// General API limit per client IP for anonymous requests, per minute.
    pub rate_anonymous_per_min: u32,
    /// General API limit per authenticated user, per minute.
    pub rate_user_per_min: u32,
    /// Login, register and password-reset requests per client IP, per minute.
    pub rate_auth_per_min: u32,
    /// Failed logins allowed per (login name, client IP) within `login_lockout_window_secs`;
    /// beyond, that source gets 429 for that name until the window has passed.
    pub login_failures_max: u32,
    pub login_lockout_window_secs: u64,
    /// Failed logins on one login name from all sources within the window after which every
    /// attempt on it is slowed down (0.5 s more per further failure, at most 5 s).
    pub login_slowdown_after: u32,
    /// Group conversations created, and booking requests sent, per user per minute (each).
    pub rate_writes_per_min: u32,
    /// Origins allowed by CORS; `*` allows any origin.
    pub cors_origins: Vec<String>,
    /// Load balancers whose `X-Forwarded-For` names the client (addresses or CIDR networks);
    /// empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// Largest accepted request body, in bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest accepted WebSocket frame, in bytes (an `error` frame beyond; the socket
    /// closes with 1009 only beyond four times this).
    pub max_frame_bytes: usize,
    /// WebSocket ping interval, announced to clients in `hello.heartbeat_ms`.
    pub ws_heartbeat_ms: u64,
    /// A WebSocket with no traffic (not even a pong) for this long is closed.
    pub ws_timeout_ms: u64,
    /// Inbound frames per second allowed per connection (burst = 2x); beyond, close 4008.
    pub ws_frames_per_sec: u32,
    /// Outbound frames a connection may have queued; beyond, it is closed with 4009.
    pub ws_outbound_queue: usize,
    /// A conversation actor with no command for this many seconds stops.
    pub conversation_idle_secs: u64,
    /// How often the digest scheduler runs, in seconds.
    pub digest_interval_secs: u64,
    /// How often the intent sweeper repairs interrupted multi-step operations, in seconds,
    /// and how old (seconds) an intent must be to count as interrupted.
    pub sweep_interval_secs: u64,
    pub sweep_grace_secs: u64,
    /// How long a requested booking holds its slot (providers with working hours), minutes.
    pub booking_hold_minutes: u64,
    /// The platform fee on released escrow, in basis points (1000 = 10 %; at most 10000).
    pub platform_fee_bps: u32,
    /// How long a client has to answer a submitted milestone before it is released to the
    /// provider, in seconds (14 days), and how often the release job runs, in seconds.
    pub milestone_review_secs: u64,
    pub auto_release_interval_secs: u64,
    /// The secret that signs payment gateway webhooks (`Agora-Signature`). Unset: one is
    /// generated and kept in the data dir (`webhook_secret`). Never logged.
    pub payment_webhook_secret: Option<String>,
    /// How often the reminder scheduler looks for due booking reminders, in seconds.
    pub reminder_interval_secs: u64,
    /// How long recorded analytics facts are kept, in days (rollups are kept for good).
    pub analytics_retention_days: u64,
    /// How often the analytics rollup runs, and how old a fact must be before it is rolled
    /// up (room for a node whose clock is behind), in milliseconds.
    pub analytics_rollup_interval_ms: u64,
    pub analytics_settle_ms: u64,
    /// Test-only fault injection: a step name (e.g. `accept:proposal`) at which the process
    /// aborts. Never set it in production.
    pub fault_at: Option<String>,
    /// Where outgoing email is written when no SMTP server is configured. Default `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// `smtp://` or `smtps://` URL (lettre syntax). Unset: email goes to the outbox folder.
    pub smtp_url: Option<String>,
    pub email_from: String,
    /// Base URL used in links inside emails.
    pub public_url: String,
    pub sqlite_readers: usize,
    pub http_workers: usize,
    pub shutdown_timeout_secs: u64,
    // Security hardening (docs/security.md).
    /// CPU time budget of one catalog search, in milliseconds; beyond it the search stops (503).
    pub search_budget_ms: u64,
    /// When set, `GET /metrics` requires `Authorization: Bearer <this token>`.
    pub metrics_token: Option<String>,
    /// When set, `/metrics` is served only on this address (and no longer on `listen`).
    pub metrics_listen: Option<String>,
    /// Trust `X-Forwarded-Proto` from the reverse proxy (for HSTS). Off unless every request
    /// reaches the server through a proxy that sets the header.
    pub trust_proxy: Switch,
    /// Open WebSockets allowed per user on one node; beyond, the new one is closed with 4008.
    pub ws_max_connections_per_user: usize,
    // Attachments (docs/attachments.md).
    /// Where attachment bytes live: unset = `<data dir>/blobs`; `s3://bucket/prefix` = an
    /// S3-compatible service (credentials, region, endpoint from the usual `AWS_*` variables).
    pub blob_url: Option<String>,
    /// Caps per attachment kind, in bytes (413 beyond), and the longest audio and video, in seconds.
    pub attachment_image_max_bytes: u64,
    pub attachment_audio_max_bytes: u64,
    pub attachment_audio_max_secs: u64,
    pub attachment_document_max_bytes: u64,
    pub attachment_video_max_bytes: u64,
    pub attachment_video_max_secs: u64,
    /// Bytes of attachments one user may keep (413 `quota_exceeded` beyond).
    pub attachment_quota_bytes: u64,
    /// How long a resumable upload may take (tus `Upload-Expires`), and how long a finished
    /// upload may stay unattached before it is removed, in seconds.
    pub upload_expiry_secs: u64,
    pub attachment_unattached_secs: u64,
    /// How often abandoned uploads and unattached attachments are looked for, in seconds.
    pub attachment_sweep_interval_secs: u64,
    /// How long a signed download link works, in seconds.
    pub attachment_link_ttl_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            storage: StorageKind::Sqlite,
            scylla_nodes: vec!["127.0.0.1:9042".into()],
            scylla_keyspace: "agora".into(),
            scylla_replication_factor: 3,
            redis_url: None,
            node_id: None,
            presence_ttl_ms: 10_000,
            jwt_secret: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            password_reset_ttl_secs: 3600,
            email_verification_ttl_secs: 48 * 3600,
            log: "info".into(),
            log_format: LogFormat::Text,
            rate_limits: Switch::On,
            rate_anonymous_per_min: 300,
            rate_user_per_min: 1200,
            rate_auth_per_min: 10,
            login_failures_max: 5,
            login_lockout_window_secs: 15 * 60,
            login_slowdown_after: 20,
            rate_writes_per_min: 30,
            cors_origins: Vec::new(),
            trusted_proxies: Vec::new(),
            max_body_bytes: 256 * 1024,
            max_frame_bytes: 64 * 1024,
            ws_heartbeat_ms: 15_000,
            ws_timeout_ms: 45_000,
            ws_frames_per_sec: 50,
            ws_outbound_queue: 1024,
            conversation_idle_secs: 300,
            digest_interval_secs: 3600,
            sweep_interval_secs: 30,
            sweep_grace_secs: 60,
            booking_hold_minutes: 15,
            platform_fee_bps: 1000,
            milestone_review_secs: 14 * 86_400,
            auto_release_interval_secs: 60,
            payment_webhook_secret: None,
            reminder_interval_secs: 30,
            analytics_retention_days: 90,
            analytics_rollup_interval_ms: 1000,
            analytics_settle_ms: 2000,
            fault_at: None,
            outbox_dir: None,
            smtp_url: None,
            email_from: "Agora <no-reply@agora.localhost>".into(),
            public_url: "http://127.0.0.1:8080".into(),
            sqlite_readers: 4,
            http_workers: 2,
            shutdown_timeout_secs: 30,
            search_budget_ms: 250,
            metrics_token: None,
            metrics_listen: None,
            trust_proxy: Switch::Off,
            ws_max_connections_per_user: 20,
            blob_url: None,
            attachment_image_max_bytes: 10 * 1024 * 1024,
            attachment_audio_max_bytes: 20 * 1024 * 1024,
            attachment_audio_max_secs: 600,
            attachment_document_max_bytes: 25 * 1024 * 1024,
            attachment_video_max_bytes: 100 * 1024 * 1024,
            attachment_video_max_secs: 600,
            attachment_quota_bytes: 1024 * 1024 * 1024,
            upload_expiry_secs: 24 * 3600,
            attachment_unattached_secs: 24 * 3600,
            attachment_sweep_interval_secs: 300,
            attachment_link_ttl_secs: 300,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field("data_dir", &self.data_dir)
            .field("storage", &self.storage)
            .field("scylla_nodes", &self.scylla_nodes)
            .field("scylla_keyspace", &self.scylla_keyspace)
            .field("redis_url", &redact(&self.redis_url))
            .field("node_id", &self.node_id)
            .field("presence_ttl_ms", &self.presence_ttl_ms)
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("payment_webhook_secret", &redact(&self.payment_webhook_secret))
            .field("access_token_ttl_secs", &self.access_token_ttl_secs)
            .field("refresh_token_ttl_secs", &self.refresh_token_ttl_secs)
            .field("rate_limits", &self.rate_limits)
            .field("cors_origins", &self.cors_origins)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("smtp_url", &redact(&self.smtp_url))
            .field("metrics_token", &redact(&self.metrics_token))
            .field("metrics_listen", &self.metrics_listen)
            .field("trust_proxy", &self.trust_proxy)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("config file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    #[error("{0}")]
    Invalid(String),
}

fn list(v: &str) -> Vec<String> {
    v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
}

/// The `AGORA_*` variables that are settings (without the prefix), for typo suggestions.
const ENV_KEYS: &[&str] = &[
    "LISTEN",
    "DATA_DIR",
    "STORAGE",
    "SCYLLA_NODES",
    "SCYLLA_KEYSPACE",
    "SCYLLA_REPLICATION_FACTOR",
    "REDIS_URL",
    "NODE_ID",
    "PRESENCE_TTL_MS",
    "JWT_SECRET",
    "ACCESS_TOKEN_TTL_SECS",
    "REFRESH_TOKEN_TTL_SECS",
    "PASSWORD_RESET_TTL_SECS",
    "EMAIL_VERIFICATION_TTL_SECS",
    "LOG",
    "LOG_FORMAT",
    "RATE_LIMITS",
    "RATE_ANONYMOUS_PER_MIN",
    "RATE_USER_PER_MIN",
    "RATE_AUTH_PER_MIN",
    "LOGIN_FAILURES_MAX",
    "LOGIN_LOCKOUT_WINDOW_SECS",
    "LOGIN_SLOWDOWN_AFTER",
    "RATE_WRITES_PER_MIN",
    "CORS_ORIGINS",
    "TRUSTED_PROXIES",
    "MAX_BODY_BYTES",
    "MAX_FRAME_BYTES",
    "WS_HEARTBEAT_MS",
    "WS_TIMEOUT_MS",
    "WS_FRAMES_PER_SEC",
    "WS_OUTBOUND_QUEUE",
    "CONVERSATION_IDLE_SECS",
    "DIGEST_INTERVAL_SECS",
    "SWEEP_INTERVAL_SECS",
    "SWEEP_GRACE_SECS",
    "BOOKING_HOLD_MINUTES",
    "PLATFORM_FEE_BPS",
    "MILESTONE_REVIEW_SECS",
    "AUTO_RELEASE_INTERVAL_SECS",
    "PAYMENT_WEBHOOK_SECRET",
    "REMINDER_INTERVAL_SECS",
    "ANALYTICS_RETENTION_DAYS",
    "ANALYTICS_ROLLUP_INTERVAL_MS",
    "ANALYTICS_SETTLE_MS",
    "FAULT_AT",
    "OUTBOX_DIR",
    "SMTP_URL",
    "EMAIL_FROM",
    "PUBLIC_URL",
    "SQLITE_READERS",
    "HTTP_WORKERS",
    "SHUTDOWN_TIMEOUT_SECS",
    "SEARCH_BUDGET_MS",
    "METRICS_TOKEN",
    "METRICS_LISTEN",
    "TRUST_PROXY",
    "WS_MAX_CONNECTIONS_PER_USER",
    "BLOB_URL",
    "ATTACHMENT_IMAGE_MAX_BYTES",
    "ATTACHMENT_AUDIO_MAX_BYTES",
    "ATTACHMENT_AUDIO_MAX_SECS",
    "ATTACHMENT_DOCUMENT_MAX_BYTES",
    "ATTACHMENT_VIDEO_MAX_BYTES",
    "ATTACHMENT_VIDEO_MAX_SECS",
    "ATTACHMENT_QUOTA_BYTES",
    "UPLOAD_EXPIRY_SECS",
    "ATTACHMENT_UNATTACHED_SECS",
    "ATTACHMENT_SWEEP_INTERVAL_SECS",
    "ATTACHMENT_LINK_TTL_SECS",
    // Read by the command line itself.
    "CONFIG",
];

/// Levenshtein distance (ASCII keys, so bytes are characters).
fn edit_distance(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The warning for an `AGORA_*` variable that is no setting, naming the closest one.
fn unknown_env_warning(var: &str) -> String {
    let key = var.strip_prefix("AGORA_").unwrap_or(var);
    let closest = ENV_KEYS.iter().min_by_key(|k| edit_distance(key, k)).copied().unwrap_or("LISTEN");
    format!("ignoring unknown environment variable {var} (not an Agora setting); closest known: AGORA_{closest}")
}

/// A TOML error on one line: the message and where it is (toml's own Display spans lines).
fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("; ");
    match e.span() {
        Some(span) => {
            let line = text.get(..span.start).map_or(1, |before| before.matches('\n').count() + 1);
            format!("line {line}: {message}")
        }
        None => message,
    }
}

impl Settings {
    /// Defaults, then the file (if any), then the process environment; also answers the
    /// warnings to log once logging is set up (unknown `AGORA_*` variables).
    pub fn load(file: Option<&Path>) -> Result<(Self, Vec<String>), ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| k.starts_with("AGORA_")).collect();
        Self::load_with_warnings(file, &env)
    }

    /// [`Settings::load_with_warnings`] for callers that have no log to warn in (tests, tools).
    pub fn load_from(file: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        Self::load_with_warnings(file, env).map(|(s, _)| s)
    }

    /// Defaults, then the file, then `env`. Unknown keys in the file are an error (the file
    /// is Agora's own); unknown `AGORA_*` variables only warn (deployment tools set their
    /// own `AGORA_SOMETHING`), naming the closest known setting.
    pub fn load_with_warnings(
        file: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<(Self, Vec<String>), ConfigError> {
        let mut s = match file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
                toml::from_str::<Settings>(&text)
                    .map_err(|e| ConfigError::File { path: path.into(), message: toml_error_line(&text, &e) })?
            }
            None => Settings::default(),
        };
        let mut warnings = Vec::new();
        for (var, value) in env {
            if !s.apply_env(var, value)? {
                warnings.push(unknown_env_warning(var));
            }
        }
        s.validate()?;
        Ok((s, warnings))
    }

    /// Applies one variable; `Ok(false)` when it is not a setting.
    fn apply_env(&mut self, var: &str, value: &str) -> Result<bool, ConfigError> {
        fn parse<T: std::str::FromStr>(var: &str, value: &str) -> Result<T, ConfigError>
        where
            T::Err: fmt::Display,
        {
            value.trim().parse::<T>().map_err(|e| ConfigError::Env { var: var.into(), message: format!("{e}") })
        }
        fn opt(value: &str) -> Option<String> {
            let v = value.trim();
            (!v.is_empty()).then(|| v.to_string())
        }
        fn word<T: for<'de> Deserialize<'de>>(var: &str, value: &str) -> Result<T, ConfigError> {
            T::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(value.trim()))
                .map_err(|e| ConfigError::Env { var: var.into(), message: e.to_string() })
        }
        let Some(key) = var.strip_prefix("AGORA_") else { return Ok(true) };
        match key {
            "LISTEN" => self.listen = value.trim().into(),
            "DATA_DIR" => self.data_dir = PathBuf::from(value.trim()),
            "STORAGE" => self.storage = word(var, value)?,
            "SCYLLA_NODES" => self.scylla_nodes = list(value),
            "SCYLLA_KEYSPACE" => self.scylla_keyspace = value.trim().into(),
            "SCYLLA_REPLICATION_FACTOR" => self.scylla_replication_factor = parse(var, value)?,
            "REDIS_URL" => self.redis_url = opt(value),
            "NODE_ID" => self.node_id = opt(value),
            "PRESENCE_TTL_MS" => self.presence_ttl_ms = parse(var, value)?,
            "JWT_SECRET" => self.jwt_secret = opt(value),
            "ACCESS_TOKEN_TTL_SECS" => self.access_token_ttl_secs = parse(var, value)?,
            "REFRESH_TOKEN_TTL_SECS" => self.refresh_token_ttl_secs = parse(var, value)?,
            "PASSWORD_RESET_TTL_SECS" => self.password_reset_ttl_secs = parse(var, value)?,
            "EMAIL_VERIFICATION_TTL_SECS" => self.email_verification_ttl_secs = parse(var, value)?,
            "LOG" => self.log = value.trim().into(),
            "LOG_FORMAT" => self.log_format = word(var, value)?,
            "RATE_LIMITS" => self.rate_limits = word(var, value)?,
            "RATE_ANONYMOUS_PER_MIN" => self.rate_anonymous_per_min = parse(var, value)?,
            "RATE_USER_PER_MIN" => self.rate_user_per_min = parse(var, value)?,
            "RATE_AUTH_PER_MIN" => self.rate_auth_per_min = parse(var, value)?,
            "LOGIN_FAILURES_MAX" => self.login_failures_max = parse(var, value)?,
            "LOGIN_LOCKOUT_WINDOW_SECS" => self.login_lockout_window_secs = parse(var, value)?,
            "LOGIN_SLOWDOWN_AFTER" => self.login_slowdown_after = parse(var, value)?,
            "RATE_WRITES_PER_MIN" => self.rate_writes_per_min = parse(var, value)?,
            "CORS_ORIGINS" => self.cors_origins = list(value),
            "TRUSTED_PROXIES" => self.trusted_proxies = list(value),
            "MAX_BODY_BYTES" => self.max_body_bytes = parse(var, value)?,
            "MAX_FRAME_BYTES" => self.max_frame_bytes = parse(var, value)?,
            "WS_HEARTBEAT_MS" => self.ws_heartbeat_ms = parse(var, value)?,
            "WS_TIMEOUT_MS" => self.ws_timeout_ms = parse(var, value)?,
            "WS_FRAMES_PER_SEC" => self.ws_frames_per_sec = parse(var, value)?,
            "WS_OUTBOUND_QUEUE" => self.ws_outbound_queue = parse(var, value)?,
            "CONVERSATION_IDLE_SECS" => self.conversation_idle_secs = parse(var, value)?,
            "DIGEST_INTERVAL_SECS" => self.digest_interval_secs = parse(var, value)?,
            "SWEEP_INTERVAL_SECS" => self.sweep_interval_secs = parse(var, value)?,
            "SWEEP_GRACE_SECS" => self.sweep_grace_secs = parse(var, value)?,
            "BOOKING_HOLD_MINUTES" => self.booking_hold_minutes = parse(var, value)?,
            "PLATFORM_FEE_BPS" => self.platform_fee_bps = parse(var, value)?,
            "MILESTONE_REVIEW_SECS" => self.milestone_review_secs = parse(var, value)?,
            "AUTO_RELEASE_INTERVAL_SECS" => self.auto_release_interval_secs = parse(var, value)?,
            "PAYMENT_WEBHOOK_SECRET" => self.payment_webhook_secret = opt(value),
            "REMINDER_INTERVAL_SECS" => self.reminder_interval_secs = parse(var, value)?,
            "ANALYTICS_RETENTION_DAYS" => self.analytics_retention_days = parse(var, value)?,
            "ANALYTICS_ROLLUP_INTERVAL_MS" => self.analytics_rollup_interval_ms = parse(var, value)?,
            "ANALYTICS_SETTLE_MS" => self.analytics_settle_ms = parse(var, value)?,
            "FAULT_AT" => self.fault_at = opt(value),
            "OUTBOX_DIR" => self.outbox_dir = opt(value).map(PathBuf::from),
            "SMTP_URL" => self.smtp_url = opt(value),
            "EMAIL_FROM" => self.email_from = value.trim().into(),
            "PUBLIC_URL" => self.public_url = value.trim().into(),
            "SQLITE_READERS" => self.sqlite_readers = parse(var, value)?,
            "HTTP_WORKERS" => self.http_workers = parse(var, value)?,
            "SHUTDOWN_TIMEOUT_SECS" => self.shutdown_timeout_secs = parse(var, value)?,
            "SEARCH_BUDGET_MS" => self.search_budget_ms = parse(var, value)?,
            "METRICS_TOKEN" => self.metrics_token = opt(value),
            "METRICS_LISTEN" => self.metrics_listen = opt(value),
            "TRUST_PROXY" => self.trust_proxy = word(var, value)?,
            "WS_MAX_CONNECTIONS_PER_USER" => self.ws_max_connections_per_user = parse(var, value)?,
            "BLOB_URL" => self.blob_url = opt(value),
            "ATTACHMENT_IMAGE_MAX_BYTES" => self.attachment_image_max_bytes = parse(var, value)?,
            "ATTACHMENT_AUDIO_MAX_BYTES" => self.attachment_audio_max_bytes = parse(var, value)?,
            "ATTACHMENT_AUDIO_MAX_SECS" => self.attachment_audio_max_secs = parse(var, value)?,
            "ATTACHMENT_DOCUMENT_MAX_BYTES" => self.attachment_document_max_bytes = parse(var, value)?,
            "ATTACHMENT_VIDEO_MAX_BYTES" => self.attachment_video_max_bytes = parse(var, value)?,
            "ATTACHMENT_VIDEO_MAX_SECS" => self.attachment_video_max_secs = parse(var, value)?,
            "ATTACHMENT_QUOTA_BYTES" => self.attachment_quota_bytes = parse(var, value)?,
            "UPLOAD_EXPIRY_SECS" => self.upload_expiry_secs = parse(var, value)?,
            "ATTACHMENT_UNATTACHED_SECS" => self.attachment_unattached_secs = parse(var, value)?,
            "ATTACHMENT_SWEEP_INTERVAL_SECS" => self.attachment_sweep_interval_secs = parse(var, value)?,
            "ATTACHMENT_LINK_TTL_SECS" => self.attachment_link_ttl_secs = parse(var, value)?,
            // Variables read elsewhere (tests, tools) are not settings.
            "TEST_SCYLLA" | "CONFIG" => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.listen
            .parse::<SocketAddr>()
            .map_err(|e| ConfigError::Invalid(format!("listen {:?}: {e}", self.listen)))?;
        if let Some(secret) = &self.jwt_secret {
            if secret.len() < 32 {
                return Err(ConfigError::Invalid("jwt_secret must be at least 32 bytes".into()));
            }
        }
        if self.access_token_ttl_secs == 0 || self.refresh_token_ttl_secs <= self.access_token_ttl_secs {
            return Err(ConfigError::Invalid(
                "access_token_ttl_secs must be > 0 and refresh_token_ttl_secs larger than it".into(),
            ));
        }
        if self.rate_limits == Switch::On
            && [
                self.rate_anonymous_per_min,
                self.rate_user_per_min,
                self.rate_auth_per_min,
                self.rate_writes_per_min,
                self.login_failures_max,
                self.login_slowdown_after,
            ]
            .contains(&0)
        {
            return Err(ConfigError::Invalid("rate limits must be positive (or set rate_limits = \"off\")".into()));
        }
        crate::client_ip::TrustedProxies::parse(&self.trusted_proxies).map_err(ConfigError::Invalid)?;
        if let Some(node) = &self.node_id {
            let ok = (1..=64).contains(&node.len())
                && node.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !ok {
                return Err(ConfigError::Invalid("node_id must be 1 to 64 of A-Z a-z 0-9 . _ -".into()));
            }
        }
        if !(300..=600_000).contains(&self.presence_ttl_ms) {
            return Err(ConfigError::Invalid("presence_ttl_ms must be between 300 and 600000".into()));
        }
        if self.ws_heartbeat_ms < 100 || self.ws_timeout_ms <= self.ws_heartbeat_ms {
            return Err(ConfigError::Invalid("ws_heartbeat_ms must be >= 100 and below ws_timeout_ms".into()));
        }
        if self.ws_frames_per_sec == 0
            || self.ws_outbound_queue == 0
            || self.conversation_idle_secs == 0
            || self.digest_interval_secs == 0
        {
            return Err(ConfigError::Invalid(
                "ws_frames_per_sec, ws_outbound_queue, conversation_idle_secs and digest_interval_secs must be positive".into(),
            ));
        }
        if self.platform_fee_bps > 10_000 {
            return Err(ConfigError::Invalid("platform_fee_bps must be at most 10000 (100 %)".into()));
        }
        if self.max_body_bytes < 1024 || self.max_frame_bytes < 1024 {
            return Err(ConfigError::Invalid("max_body_bytes and max_frame_bytes must be at least 1024".into()));
        }
        if self.search_budget_ms == 0 || self.ws_max_connections_per_user == 0 {
            return Err(ConfigError::Invalid(
                "search_budget_ms and ws_max_connections_per_user must be positive".into(),
            ));
        }
        if let Some(addr) = &self.metrics_listen {
            addr.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid(format!("metrics_listen {addr:?}: {e}")))?;
        }
        if self.storage == StorageKind::Scylla && self.scylla_nodes.is_empty() {
            return Err(ConfigError::Invalid("storage = scylla needs scylla_nodes".into()));
        }
        Ok(())
    }

    /// The attachment caps as the engine's rules take them.
    pub fn attachment_limits(&self) -> agora_engine::AttachmentLimits {
        agora_engine::AttachmentLimits {
            image_max_bytes: self.attachment_image_max_bytes,
            audio_max_bytes: self.attachment_audio_max_bytes,
            audio_max_ms: self.attachment_audio_max_secs.saturating_mul(1000),
            document_max_bytes: self.attachment_document_max_bytes,
            video_max_bytes: self.attachment_video_max_bytes,
            video_max_ms: self.attachment_video_max_secs.saturating_mul(1000),
            quota_bytes: self.attachment_quota_bytes,
            ..agora_engine::AttachmentLimits::default()
        }
    }

    /// Where the attachment blobs live.
    pub fn blob_settings(&self) -> agora_actors::blob::BlobSettings {
        match &self.blob_url {
            Some(url) if url.starts_with("s3://") => {
                agora_actors::blob::BlobSettings::S3 { url: url.clone(), options: Vec::new() }
            }
            Some(dir) => {
                agora_actors::blob::BlobSettings::Local(PathBuf::from(dir.strip_prefix("file://").unwrap_or(dir)))
            }
            None => agora_actors::blob::BlobSettings::Local(self.data_dir.join("blobs")),
        }
    }

    pub fn outbox_dir(&self) -> PathBuf {
        self.outbox_dir.clone().unwrap_or_else(|| self.data_dir.join("outbox"))
    }

    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("agora.db")
    }

    /// The actors' settings with their secrets (the webhook secret is read from, or
    /// generated into, the data dir when not configured).
    pub fn realtime_with_secrets(&self) -> anyhow::Result<agora_actors::RealtimeConfig> {
        let mut config = self.realtime();
        let secret = crate::auth::load_or_generate_secret(
            self.payment_webhook_secret.as_deref(),
            &self.data_dir,
            "webhook_secret",
            "payment webhook",
        )?;
        config.webhook_secret = agora_actors::Secret::new(secret);
        Ok(config)
    }

    pub fn realtime(&self) -> agora_actors::RealtimeConfig {
        agora_actors::RealtimeConfig {
            outbound_queue: self.ws_outbound_queue,
            conversation_idle: std::time::Duration::from_secs(self.conversation_idle_secs),
            digest_every: std::time::Duration::from_secs(self.digest_interval_secs),
            public_url: self.public_url.clone(),
            sweep_every: std::time::Duration::from_secs(self.sweep_interval_secs.max(1)),
            sweep_grace: std::time::Duration::from_secs(self.sweep_grace_secs),
            booking_hold: std::time::Duration::from_secs(self.booking_hold_minutes.clamp(1, 24 * 60) * 60),
            reminder_every: std::time::Duration::from_secs(self.reminder_interval_secs.max(1)),
            fault_at: self.fault_at.clone(),
            max_connections_per_user: self.ws_max_connections_per_user,
            fee_bps: self.platform_fee_bps,
            milestone_review: std::time::Duration::from_secs(self.milestone_review_secs.max(1)),
            auto_release_every: std::time::Duration::from_secs(self.auto_release_interval_secs.max(1)),
            webhook_secret: agora_actors::Secret::default(),
            cluster: None,
            analytics_messages: agora_actors::analytics::MessageTally::default(),
            analytics: agora_actors::analytics::AnalyticsSettings {
                retention: std::time::Duration::from_secs(self.analytics_retention_days.clamp(1, 3650) * 86_400),
                rollup_every: std::time::Duration::from_millis(self.analytics_rollup_interval_ms.max(50)),
                settle: std::time::Duration::from_millis(self.analytics_settle_ms),
            },
        }
    }

    pub fn rate_limits_on(&self) -> bool {
        self.rate_limits == Switch::On
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_then_file_then_env() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agora.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\nrate_user_per_min = 50\ncors_origins = [\"https://a.example\"]\n",
        )
        .expect("write");
        let s =
            Settings::load_from(Some(&file), &env(&[("AGORA_LISTEN", "127.0.0.1:7000"), ("AGORA_RATE_LIMITS", "off")]))
                .expect("loads");
        assert_eq!(s.listen, "127.0.0.1:7000", "env beats file");
        assert_eq!(s.rate_user_per_min, 50, "file beats default");
        assert_eq!(s.rate_anonymous_per_min, 300, "default kept");
        assert_eq!(s.cors_origins, vec!["https://a.example".to_string()]);
        assert_eq!(s.rate_limits, Switch::Off);
    }

    #[test]
    fn bad_values_are_refused_with_the_variable_named() {
        let err = Settings::load_from(None, &env(&[("AGORA_RATE_USER_PER_MIN", "lots")])).expect_err("refused");
        assert!(err.to_string().contains("AGORA_RATE_USER_PER_MIN"), "{err}");
        let err = Settings::load_from(None, &env(&[("AGORA_STORAGE", "postgres")])).expect_err("refused");
        assert!(err.to_string().contains("AGORA_STORAGE"), "{err}");
        assert!(Settings::load_from(None, &env(&[("AGORA_JWT_SECRET", "short")])).is_err());
        assert!(Settings::load_from(None, &env(&[("AGORA_LISTEN", "nowhere")])).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "no_such_key = 1\n").expect("write");
        assert!(Settings::load_from(Some(&file), &[]).is_err(), "unknown file keys are refused");
    }

    #[test]
    fn unknown_env_vars_warn_with_the_closest_key_and_unknown_file_keys_fail() {
        let (s, warnings) = Settings::load_with_warnings(
            None,
            &env(&[("AGORA_LISTN", "127.0.0.1:1"), ("AGORA_DEPLOY_TOOL_REVISION", "42"), ("AGORA_LOG", "debug")]),
        )
        .expect("unknown environment variables do not stop the server");
        assert_eq!(s.listen, "127.0.0.1:8080", "the misspelt variable is ignored");
        assert_eq!(s.log, "debug");
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings[0].contains("AGORA_LISTN") && warnings[0].ends_with("AGORA_LISTEN"), "{}", warnings[0]);
        assert!(warnings[1].contains("AGORA_DEPLOY_TOOL_REVISION"), "{}", warnings[1]);
        let (_, warnings) =
            Settings::load_with_warnings(None, &env(&[("AGORA_RATE_USR_PER_MIN", "5")])).expect("loads");
        assert!(warnings[0].ends_with("AGORA_RATE_USER_PER_MIN"), "{}", warnings[0]);

        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("agora.toml");
        std::fs::write(&file, "listen = \"127.0.0.1:1\"\nlistn = \"x\"\n").expect("write");
        let err = Settings::load_from(Some(&file), &[]).expect_err("unknown file keys stay an error").to_string();
        assert!(err.contains("listn") && err.contains("line 2"), "{err}");
        assert!(!err.contains('\n'), "one line: {err}");
    }

    #[test]
    fn the_suggestion_list_names_every_env_key() {
        // ENV_KEYS (for "closest known key") must list exactly the keys `apply_env` knows.
        let source = include_str!("config.rs");
        let mut applied: Vec<&str> = source
            .lines()
            .filter_map(|l| l.trim().strip_prefix('"')?.split_once("\" => self.").map(|(k, _)| k))
            .collect();
        applied.sort_unstable();
        let mut listed: Vec<&str> = ENV_KEYS.iter().copied().filter(|k| *k != "CONFIG").collect();
        listed.sort_unstable();
        assert!(!applied.is_empty());
        assert_eq!(listed, applied);
    }

    #[test]
    fn every_known_env_key_is_applied() {
        for key in ENV_KEYS {
            let mut s = Settings::default();
            let var = format!("AGORA_{key}");
            // A wrong value is a parse error, never "unknown".
            let applied = s.apply_env(&var, "1").unwrap_or(true);
            assert!(applied, "{var} is listed but not applied");
        }
        assert_eq!(edit_distance("LISTN", "LISTEN"), 1);
        assert_eq!(edit_distance("", "LOG"), 3);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let s = Settings::load_from(None, &env(&[("AGORA_JWT_SECRET", "0123456789abcdef0123456789abcdef-secret")]))
            .expect("loads");
        let shown = format!("{s:?}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
