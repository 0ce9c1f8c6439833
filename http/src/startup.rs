//! `Application::build(settings)` wires storage, state, singleton services and the HTTP
//! server; `run_until_stopped()` serves until SIGTERM/SIGINT, then drains.

use std::sync::Arc;
use std::time::Duration;

use actix::Actor as _;
use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Compress, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use agora_storage::Store;
use anyhow::Context as _;
use tracing_actix_web::TracingLogger;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::{Settings, StorageKind};
use crate::error::ApiError;
use crate::mail::Mailer;
use crate::middleware::rate_limit::{Limiters, LoginFailures};
use crate::middleware::{envelope, etag, observe, rate_limit, security, trailing_slash};
use crate::state::AppState;
use crate::{openapi, routes, telemetry};

/// Pending connections the kernel may queue (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 4096;

pub struct Application {
    port: u16,
    server: Server,
    /// The `/metrics`-only server, when `metrics_listen` is set, and its port.
    metrics_server: Option<(u16, Server)>,
    state: web::Data<AppState>,
}

/// Opens the configured storage backend.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    let which = match settings.storage {
        StorageKind::Sqlite => {
            agora_storage::Settings::Sqlite { path: settings.sqlite_path(), readers: settings.sqlite_readers }
        }
        StorageKind::Scylla => agora_storage::Settings::Scylla {
            nodes: settings.scylla_nodes.clone(),
            keyspace: settings.scylla_keyspace.clone(),
            replication_factor: settings.scylla_replication_factor,
        },
    };
    let store = agora_storage::open(&which).await?;
    tracing::info!(backend = store.backend_name(), settings = ?which, "storage opened");
    Ok(store)
}

fn cors(settings: &Settings) -> Cors {
    let mut cors = Cors::default()
        .allowed_methods(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
        .allowed_headers([
            actix_web::http::header::AUTHORIZATION,
            actix_web::http::header::CONTENT_TYPE,
            actix_web::http::header::HeaderName::from_static("idempotency-key"),
        ])
        .expose_headers(["x-request-id", "retry-after"])
        .max_age(3600);
    for origin in &settings.cors_origins {
        cors = if origin == "*" { cors.allow_any_origin() } else { cors.allowed_origin(origin) };
    }
    cors
}

fn json_error(err: actix_web::error::JsonPayloadError) -> ApiError {
    use actix_web::error::JsonPayloadError as E;
    match err {
        E::Overflow { .. } | E::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
        E::ContentType => ApiError::UnsupportedMediaType("Content-Type must be application/json".into()),
        E::Deserialize(e) => ApiError::BadRequest { code: "invalid_json", message: format!("invalid JSON body: {e}") },
        other => ApiError::BadRequest { code: "invalid_body", message: other.to_string() },
    }
}

/// Cluster mode when `redis_url` is set: this node's link, under its id (a fresh one per
/// start unless `node_id` is set).
fn cluster_link(settings: &Settings) -> anyhow::Result<Option<agora_actors::cluster::Cluster>> {
    let Some(url) = &settings.redis_url else { return Ok(None) };
    let node = settings.node_id.clone().unwrap_or_else(|| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        format!("node-{}", &id[..12])
    });
    let cluster = agora_actors::cluster::Cluster::new(&agora_actors::cluster::ClusterSettings {
        url: url.clone(),
        node,
        presence_ttl: std::time::Duration::from_millis(settings.presence_ttl_ms),
    })
    .context("redis_url is not a valid Redis URL")?;
    tracing::info!(
        node = cluster.node(),
        presence_ttl_ms = settings.presence_ttl_ms,
        "cluster mode: fan-out, presence and rate limits through Redis"
    );
    Ok(Some(cluster))
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let settings = Arc::new(settings);
        agora_storage::private_fs::warn_if_shared(&settings.data_dir);
        agora_storage::private_fs::create_private_dir(&settings.data_dir)
            .with_context(|| format!("cannot create the data dir {}", settings.data_dir.display()))?;
        let metrics = telemetry::metrics_handle()?;
        let store = open_store(&settings).await?;
        let secret = JwtKeys::load_or_generate_secret(settings.jwt_secret.as_deref(), &settings.data_dir)?;
        let jwt = JwtKeys::new(&secret, settings.access_token_ttl_secs, settings.refresh_token_ttl_secs);
        let mailer = Mailer::new(&settings.email_from, settings.outbox_dir(), settings.smtp_url.as_deref())?;
        if settings.smtp_url.is_none() {
            tracing::info!(outbox = %mailer.outbox().display(), "no SMTP configured: email is written to the outbox folder");
        }
        // Singleton actors start here, once, before the HTTP server and its workers.
        let started = time::OffsetDateTime::now_utc();
        let mut realtime = settings.realtime_with_secrets()?;
        realtime.cluster = cluster_link(&settings)?;
        let cluster = realtime.cluster.clone();
        let hub = agora_actors::Hub::start(store.clone(), mailer.clone(), realtime)?;
        // Operations a crash interrupted are completed or undone before the first request.
        let repaired = agora_actors::market::sweeper::sweep(&hub.cx, started, started).await?;
        if repaired > 0 {
            tracing::warn!(repaired, "interrupted operations repaired at start-up");
        }
        let search = Arc::clone(&hub.search);
        let (services, jobs, providers) = agora_actors::subscribers::search::rebuild(&store, &search).await?;
        tracing::info!(services, jobs, providers, "search index built from storage");
        let blobs =
            agora_actors::blob::open(&settings.blob_settings()).map_err(|e| anyhow::anyhow!("blob store: {e}"))?;
        tracing::info!(blob_store = blobs.name(), "attachment blob store opened");
        let attachments = agora_actors::attachments::Attachments::new(
            store.clone(),
            blobs,
            agora_actors::attachments::AttachmentSettings {
                limits: settings.attachment_limits(),
                uploads_dir: settings.data_dir.join("uploads"),
                upload_ttl: Duration::from_secs(settings.upload_expiry_secs.max(1)),
                unattached_ttl: Duration::from_secs(settings.attachment_unattached_secs),
            },
        )
        .map_err(|e| anyhow::anyhow!("attachments: {e}"))?;
        attachments.publish_blob_bytes().await.map_err(|e| anyhow::anyhow!("attachments: {e}"))?;
        let sweeping = attachments.clone();
        let signer = crate::routes::attachments::Signer::new(&secret, settings.attachment_link_ttl_secs);
        let state = web::Data::new(AppState {
            settings: Arc::clone(&settings),
            store,
            jwt,
            hasher: PasswordHasher::new()?,
            mailer,
            login_failures: LoginFailures::new(&settings, cluster.as_ref()),
            metrics: metrics.clone(),
            hub,
            search,
            analytics_salt: agora_actors::Secret::new(crate::auth::load_or_generate_secret(
                None,
                &settings.data_dir,
                "analytics_salt",
                "analytics address hashing",
            )?),
            cluster: cluster.clone(),
            proxies: crate::client_ip::TrustedProxies::parse(&settings.trusted_proxies).map_err(anyhow::Error::msg)?,
            attachments,
            signer,
        });
        let limiters = web::Data::new(Arc::new(Limiters::new(&settings, cluster.as_ref())));
        spawn_housekeeping(state.clone(), limiters.clone(), metrics);

        let rate_limits_on = settings.rate_limits_on();
        let max_body = settings.max_body_bytes;
        let metrics_on_main = settings.metrics_listen.is_none();
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(limiters.clone())
                .app_data(web::JsonConfig::default().limit(max_body).error_handler(|e, _| json_error(e).into()))
                .app_data(web::PayloadConfig::default().limit(max_body))
                .app_data(web::PathConfig::default().error_handler(|_, _| ApiError::NotFound.into()))
                .app_data(web::QueryConfig::default().error_handler(|e, _| {
                    ApiError::BadRequest { code: "invalid_query", message: e.to_string() }.into()
                }))
                .configure(routes::ops::config)
                .configure(|cfg| {
                    if metrics_on_main {
                        routes::ops::metrics_config(cfg)
                    }
                })
                .configure(routes::auth::config)
                .configure(routes::users::config)
                .configure(routes::conversations::config)
                .configure(routes::notifications::config)
                .configure(routes::catalog::config)
                .configure(routes::providers::config)
                .configure(routes::services::config)
                .configure(routes::jobs::config)
                .configure(routes::availability::config)
                .configure(routes::contracts::config)
                .configure(routes::bookings::config)
                .configure(routes::reviews::config)
                .configure(routes::payments::config)
                .configure(routes::analytics::config)
                .configure(routes::uploads::config)
                .configure(routes::attachments::config)
                .configure(crate::ws::config)
                .service(utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}").url("/api/schema", openapi::document()))
                .service(web::resource("/docs").route(web::get().to(|| async {
                    actix_web::HttpResponse::PermanentRedirect().insert_header(("location", "/docs/")).finish()
                })))
                .default_service(web::to(crate::web::fallback))
                .wrap(ErrorHandlers::new().default_handler(envelope::ensure_envelope))
                .wrap(actix_web::middleware::Condition::new(rate_limits_on, from_fn(rate_limit::rate_limit)))
                .wrap(cors(&app_state.settings))
                // CORS refusals (preflights from unknown origins) get the envelope too.
                .wrap(ErrorHandlers::new().default_handler(envelope::ensure_envelope))
                .wrap(from_fn(etag::conditional_get))
                .wrap(Compress::default())
                .wrap(from_fn(observe::observe))
                .wrap(TracingLogger::<telemetry::RedactedRootSpan>::new())
                .wrap(from_fn(security::security_headers))
                .wrap(from_fn(trailing_slash::trim_trailing_slash))
        })
        // Small frames (acks, chat messages) must not wait for Nagle and delayed ACKs.
        .on_connect(|conn, _| {
            if let Some(tcp) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
                if let Err(e) = tcp.set_nodelay(true) {
                    tracing::debug!(error = %e, "TCP_NODELAY not set");
                }
            }
        })
        .workers(settings.http_workers.max(1))
        // A client that closes its side has gone away: drop its in-flight handler (which
        // cancels a running search) instead of finishing work nobody will read.
        .h1_allow_half_closed(false)
        .shutdown_timeout(settings.shutdown_timeout_secs)
        .disable_signals()
        // A deep accept queue: reconnect storms of thousands of WebSockets must not stall
        // on SYN retries (a std listener would be stuck at a backlog of 128).
        .backlog(LISTEN_BACKLOG)
        .bind(&settings.listen)
        .with_context(|| format!("cannot listen on {}", settings.listen))?;
        let port = server.addrs().first().map(|a| a.port()).ok_or_else(|| anyhow::anyhow!("no listening address"))?;
        let server = server.run();
        // The attachments sweeper starts once the listener is bound: an actor started on a
        // start-up that then fails would first run while the runtime is being torn down.
        agora_actors::periodic::Periodic::new(
            "attachments_sweep",
            Duration::from_secs(settings.attachment_sweep_interval_secs.max(1)),
            move |now| {
                let a = sweeping.clone();
                async move { a.sweep(now).await }
            },
        )
        .start();
        let metrics_server = match &settings.metrics_listen {
            Some(addr) => Some(metrics_server(state.clone(), addr)?),
            None => None,
        };
        Ok(Application { port, server, metrics_server, state })
    }

    /// The port actually bound (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the `/metrics` listener, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(port, _)| *port)
    }

    /// A handle that stops the HTTP server (tests use it to restart on the same data dir).
    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    pub fn store(&self) -> Store {
        self.state.store.clone()
    }

    /// Serves until SIGTERM or SIGINT, then drains in-flight requests and returns. The
    /// signal handlers are in place before the ready line is logged.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = signal(SignalKind::terminate())?;
            let mut int = signal(SignalKind::interrupt())?;
            let handle = self.server.handle();
            let metrics_handle = self.metrics_server.as_ref().map(|(_, s)| s.handle());
            let sessions = self.state.hub.sessions.clone();
            let cluster = self.state.cluster.clone();
            actix_web::rt::spawn(async move {
                let which = tokio::select! {
                    _ = term.recv() => "SIGTERM",
                    _ = int.recv() => "SIGINT",
                };
                tracing::info!(signal = which, "shutting down gracefully");
                // WebSockets never finish on their own: close them with 1001 first.
                match sessions.send(agora_actors::registry::CloseEveryone { code: 1001 }).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(connections = n, "closing websockets");
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    _ => {}
                }
                if let Some(cluster) = &cluster {
                    cluster.depart(Duration::from_secs(2)).await;
                }
                handle.stop(true).await;
                if let Some(h) = metrics_handle {
                    h.stop(true).await;
                }
            });
        }
        if let Some((port, server)) = self.metrics_server {
            tracing::info!(port, "metrics listener started");
            actix_web::rt::spawn(server);
        }
        tracing::info!(port = self.port, "agora is ready to serve");
        let result = self.server.await;
        tracing::info!("agora stopped");
        result
    }
}

/// A server for `/metrics` alone (plus the envelope 404 and the security headers), bound
/// to `metrics_listen`, e.g. an address only the monitoring network reaches.
fn metrics_server(state: web::Data<AppState>, addr: &str) -> anyhow::Result<(u16, Server)> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(routes::ops::metrics_config)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::NotFound) }))
            .wrap(ErrorHandlers::new().default_handler(envelope::ensure_envelope))
            .wrap(from_fn(security::security_headers))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)?;
    let port = server.addrs().first().map(|a| a.port()).ok_or_else(|| anyhow::anyhow!("no metrics address"))?;
    Ok((port, server.run()))
}

/// Periodic upkeep: Prometheus histogram upkeep and pruning of idle rate-limit keys.
fn spawn_housekeeping(
    state: web::Data<AppState>,
    limiters: web::Data<Arc<Limiters>>,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) {
    actix_web::rt::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(10));
        loop {
            tick.tick().await;
            metrics.run_upkeep();
            limiters.prune();
            state.login_failures.prune();
        }
    });
}
