//! Logging (tracing, text or JSON) and the Prometheus recorder.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::{fmt, EnvFilter};

use crate::config::{LogFormat, Settings};

/// Installs the global tracing subscriber once; later calls are no-ops (tests build many apps).
pub fn init_logging(settings: &Settings) {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
        let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
        let _ = match settings.log_format {
            LogFormat::Json => builder.json().flatten_event(true).try_init(),
            LogFormat::Text => builder.try_init(),
        };
    });
}

/// The process-global Prometheus recorder, installed on first use.
pub fn metrics_handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets(&[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0])
                .map_err(|e| e.to_string())?
                // A count of writes per SQLite transaction, not a latency.
                .set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Full("agora_storage_group_commit_size".into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

/// Query parameters whose values are credentials: never written to a log line or span.
fn is_secret_param(name: &str) -> bool {
    const EXACT: [&str; 6] = ["access", "refresh", "code", "sig", "jwt", "auth"];
    const CONTAINS: [&str; 8] = ["token", "secret", "password", "passwd", "key", "signature", "credential", "session"];
    let name = name.to_ascii_lowercase();
    EXACT.contains(&name.as_str()) || CONTAINS.iter().any(|w| name.contains(w))
}

/// Decodes `%xx` escapes (and `+`) in a query parameter name, so `%74oken` is `token`.
fn decode_name(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'%'));
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Paths whose last segment is a credential (the private calendar feed token).
const SECRET_PATH_PREFIXES: &[&str] = &["/api/calendar/feed/"];

/// A request target fit for logs: the values of credential-like query parameters
/// (`token`, `access`, `refresh`, `code`, anything named like a token, secret, password,
/// key or signature) are replaced by `[redacted]`, and so is the token segment of
/// [`SECRET_PATH_PREFIXES`] paths.
pub fn redact_target(target: &str) -> std::borrow::Cow<'_, str> {
    if let Some(prefix) = SECRET_PATH_PREFIXES.iter().find(|p| target.starts_with(*p) && target.len() > p.len()) {
        return format!("{prefix}[redacted]").into();
    }
    let Some((path, query)) = target.split_once('?') else { return target.into() };
    if !query.split('&').any(|pair| is_secret_param(&decode_name(pair.split('=').next().unwrap_or("")))) {
        return target.into();
    }
    let redacted: Vec<String> = query
        .split('&')
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or("");
            if is_secret_param(&decode_name(name)) {
                format!("{name}=[redacted]")
            } else {
                pair.to_string()
            }
        })
        .collect();
    format!("{path}?{}", redacted.join("&")).into()
}

/// The request span of tracing-actix-web with the target redacted ([`redact_target`]) and
/// the client address of [`crate::client_ip`] (forwarding headers only from trusted proxies).
pub struct RedactedRootSpan;

impl tracing_actix_web::RootSpanBuilder for RedactedRootSpan {
    fn on_request_start(request: &actix_web::dev::ServiceRequest) -> tracing::Span {
        use actix_web::HttpMessage as _;
        let target = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("");
        let route = request.match_pattern().unwrap_or_else(|| "default".into());
        let request_id = request.extensions().get::<tracing_actix_web::RequestId>().map(|id| id.to_string());
        let user_agent = request.headers().get("user-agent").and_then(|h| h.to_str().ok()).unwrap_or("");
        tracing::info_span!(
            "HTTP request",
            http.method = %request.method(),
            http.route = %route,
            http.target = %redact_target(target),
            http.client_ip = %crate::client_ip::client_ip(request.request()),
            http.user_agent = %user_agent,
            http.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            request_id = %request_id.unwrap_or_default(),
            exception.message = tracing::field::Empty,
            exception.details = tracing::field::Empty,
        )
    }

    fn on_request_end<B: actix_web::body::MessageBody>(
        span: tracing::Span,
        outcome: &Result<actix_web::dev::ServiceResponse<B>, actix_web::Error>,
    ) {
        tracing_actix_web::DefaultRootSpanBuilder::on_request_end(span, outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::redact_target;

    #[test]
    fn credential_query_parameters_are_redacted() {
        assert_eq!(redact_target("/ws?token=eyJabc.def"), "/ws?token=[redacted]");
        assert_eq!(redact_target("/api/calendar/feed/s3cr3t.ics?x=1"), "/api/calendar/feed/[redacted]");
        assert_eq!(redact_target("/api/calendar/feed"), "/api/calendar/feed");
        assert_eq!(
            redact_target("/x?a=1&access=A&refresh=R&code=C&api_key=K&client_secret=S&password=P&signature=G&b=2"),
            "/x?a=1&access=[redacted]&refresh=[redacted]&code=[redacted]&api_key=[redacted]&client_secret=[redacted]&password=[redacted]&signature=[redacted]&b=2"
        );
        assert_eq!(redact_target("/ws?%74oken=abc"), "/ws?%74oken=[redacted]", "escaped names too");
        assert_eq!(redact_target("/ws?Token=abc&TOKEN"), "/ws?Token=[redacted]&TOKEN=[redacted]");
        assert_eq!(redact_target("/api/services?q=plumbing&limit=5"), "/api/services?q=plumbing&limit=5");
        assert_eq!(redact_target("/api/health"), "/api/health");
        assert_eq!(redact_target("/x?%zz=1&%"), "/x?%zz=1&%");
    }
}
