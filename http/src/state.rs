//! What every handler gets: built once in `Application::build`.

use std::sync::Arc;

use agora_storage::Store;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::auth::{JwtKeys, PasswordHasher};
use crate::config::Settings;
use crate::mail::Mailer;
use crate::middleware::rate_limit::LoginFailures;

pub struct AppState {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub jwt: JwtKeys,
    pub hasher: PasswordHasher,
    pub mailer: Mailer,
    pub login_failures: LoginFailures,
    pub metrics: PrometheusHandle,
    /// The realtime actors (session registry, conversations, notification broker).
    pub hub: agora_actors::Hub,
    /// The catalog search index (services, jobs, providers), rebuilt from storage at start;
    /// the search projector (a bus subscriber) is its only writer.
    pub search: Arc<agora_storage::search::SearchIndex>,
    /// Hashes client addresses for analytics (with the day), so none is stored raw.
    pub analytics_salt: agora_actors::Secret,
    /// Cluster mode: this node's link to Redis (`None` on a single node).
    pub cluster: Option<agora_actors::cluster::Cluster>,
    /// Whose `X-Forwarded-For` names the client ([`crate::client_ip`]).
    pub proxies: crate::client_ip::TrustedProxies,
    /// Uploads, attachments and their blob store.
    pub attachments: agora_actors::attachments::Attachments,
    /// Signs and checks attachment download links.
    pub signer: crate::routes::attachments::Signer,
}
