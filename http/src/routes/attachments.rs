//! `/api/attachments`: metadata for whoever may see an attachment, and the bytes behind
//! short-lived signed links.
//!
//! `GET /api/attachments/{id}` (authenticated) answers the metadata with signed `url` and
//! `thumbnail_url`, to the uploader and to whoever may see the object it is attached to (a
//! conversation's members); anyone else gets 404. `GET /api/attachments/{id}/thumbnail`
//! (authenticated, the same rule) redirects to the small thumbnail's signed link, which is
//! what message frames point at. `GET /api/attachments/{id}/content?v=&exp=&sig=` needs no
//! token: the HMAC-SHA256 signature (the server secret over id, variant and expiry) is the
//! proof of access; a tampered link is 403 `invalid_signature`, an expired one 403
//! `link_expired`. Downloads honour one `Range` (206, for seeking in audio and video), carry
//! `X-Content-Type-Options: nosniff`, a `Content-Security-Policy` that runs nothing
//! (`default-src 'none'; sandbox`) and `Content-Disposition: attachment` for every type but
//! images, so an uploaded file never runs in the app's origin.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use agora_actors::attachments::Variant;
use agora_engine::AttachmentId;
use agora_storage::attachments::Attachment;
use futures_util::TryStreamExt;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;

use super::ErrorEnvelope;
use crate::auth::{AuthUser, MaybeAuthUser};
use crate::error::ApiError;
use crate::state::AppState;

/// The policy of every download: nothing in it may run or load anything.
pub const DOWNLOAD_CSP: &str = "default-src 'none'; sandbox";

/// Signs and checks download links with the server secret.
#[derive(Clone)]
pub struct Signer {
    key: Vec<u8>,
    ttl: time::Duration,
}

impl Signer {
    pub fn new(secret: &[u8], ttl_secs: u64) -> Signer {
        // A key of its own, derived from the server secret, so a link signature can never
        // be replayed as another kind of token.
        let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
        mac.update(b"agora attachment links v1");
        let key = mac.finalize().into_bytes().to_vec();
        Signer { key, ttl: time::Duration::seconds(i64::try_from(ttl_secs.max(1)).unwrap_or(300)) }
    }

    fn mac(&self, id: AttachmentId, variant: Variant, exp: i64) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(format!("{id}:{}:{exp}", variant.as_str()).as_bytes());
        mac
    }

    /// A link to `variant` of `id` that works until `now` + the link lifetime.
    pub fn url(&self, id: AttachmentId, variant: Variant, now: OffsetDateTime) -> String {
        self.url_until(id, variant, (now + self.ttl).unix_timestamp())
    }

    pub fn url_until(&self, id: AttachmentId, variant: Variant, exp: i64) -> String {
        let sig = hex::encode(self.mac(id, variant, exp).finalize().into_bytes());
        format!("/api/attachments/{id}/content?v={}&exp={exp}&sig={sig}", variant.as_str())
    }

    /// Checks a link: the signature first (403 `invalid_signature`), then the expiry
    /// (403 `link_expired`).
    pub fn check(
        &self,
        id: AttachmentId,
        variant: Variant,
        exp: i64,
        sig: &str,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let bytes = hex::decode(sig).map_err(|_| bad_signature())?;
        self.mac(id, variant, exp).verify_slice(&bytes).map_err(|_| bad_signature())?;
        if exp < now.unix_timestamp() {
            return Err(ApiError::Refused {
                code: "link_expired",
                message: "this download link has expired; ask for a new one",
            });
        }
        Ok(())
    }
}

fn bad_signature() -> ApiError {
    ApiError::Refused { code: "invalid_signature", message: "this download link is not valid" }
}

/// An attachment's metadata.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: String,
    /// `image`, `document`, `audio` or `video`.
    pub kind: String,
    pub name: String,
    /// Bytes of the served copy.
    pub size: u64,
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Voice notes: 64 peak amplitudes (0..=255) for drawing the waveform.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peaks: Option<Vec<u8>>,
    /// PDFs: the page count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// The SHA-256 (hex) of the bytes as uploaded.
    pub sha256: String,
    /// Signed, short-lived link to the small thumbnail (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    /// Signed, short-lived link to the large thumbnail (images).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preview_url: Option<String>,
    /// Signed, short-lived link to the file.
    pub url: String,
    pub url_expires_at: String,
    pub created_at: String,
}

impl AttachmentView {
    pub fn of(a: &Attachment, signer: &Signer, now: OffsetDateTime) -> Self {
        let has = |size: &str| a.thumbnail(size).is_some();
        AttachmentView {
            id: a.id.to_string(),
            kind: a.kind.as_str().to_string(),
            name: a.name.clone(),
            size: a.size,
            content_type: a.content_type.clone(),
            width: a.width,
            height: a.height,
            duration_ms: a.duration_ms,
            peaks: a.peaks.clone(),
            pages: a.pages,
            sha256: a.upload_sha256.clone(),
            thumbnail_url: has("small").then(|| signer.url(a.id, Variant::Small, now)),
            preview_url: has("large").then(|| signer.url(a.id, Variant::Large, now)),
            url: signer.url(a.id, Variant::Original, now),
            url_expires_at: agora_actors::protocol::rfc3339(now + signer.ttl),
            created_at: agora_actors::protocol::rfc3339(a.created_at),
        }
    }
}

fn attachment_id(raw: &str) -> Result<AttachmentId, ApiError> {
    AttachmentId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// An attachment's metadata with fresh signed links (uploader and members only).
#[utoipa::path(get, path = "/api/attachments/{id}", tag = "attachments", params(("id" = String, Path)),
    responses((status = 200, body = AttachmentView), (status = 401, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let a = state.attachments.visible(user.id, attachment_id(&path)?).await?;
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(AttachmentView::of(
        &a,
        &state.signer,
        OffsetDateTime::now_utc(),
    )))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThumbQuery {
    /// `small` (default) or `large`.
    pub size: Option<String>,
}

/// Redirects to a signed link of the thumbnail: for a conversation's members (message
/// frames point here), and for anyone when the image is in a service gallery.
#[utoipa::path(get, path = "/api/attachments/{id}/thumbnail", tag = "attachments", params(("id" = String, Path), ThumbQuery),
    responses((status = 302, description = "to the signed thumbnail link"), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security((), ("bearer" = [])))]
#[tracing::instrument(skip_all)]
pub async fn thumbnail(
    state: web::Data<AppState>,
    user: MaybeAuthUser,
    path: web::Path<String>,
    query: web::Query<ThumbQuery>,
) -> Result<HttpResponse, ApiError> {
    let variant = match query.size.as_deref() {
        None | Some("small") => Variant::Small,
        Some("large") => Variant::Large,
        Some(_) => return Err(ApiError::invalid_field("size", "must be small or large")),
    };
    let a = state.attachments.visible_as(user.0.map(|u| u.id), attachment_id(&path)?).await?;
    if a.thumbnail(variant.as_str()).is_none() {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, state.signer.url(a.id, variant, OffsetDateTime::now_utc())))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// `original` (default), `small` or `large`.
    pub v: Option<String>,
    /// Expiry, Unix seconds.
    pub exp: Option<i64>,
    /// HMAC-SHA256 signature, hex.
    pub sig: Option<String>,
}

/// A `Range` that no byte of the file satisfies (416).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unsatisfiable;

/// One `Range: bytes=...` against `size`: `Ok(None)` for the whole file (no or a
/// multi-range header), `Err(Unsatisfiable)` when no byte matches.
pub fn parse_range(raw: Option<&str>, size: u64) -> Result<Option<std::ops::Range<u64>>, Unsatisfiable> {
    let Some(raw) = raw else { return Ok(None) };
    let Some(spec) = raw.trim().strip_prefix("bytes=") else { return Ok(None) };
    if spec.contains(',') {
        return Ok(None);
    }
    let (a, b) = spec.split_once('-').ok_or(Unsatisfiable)?;
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => {
            let n: u64 = b.parse().map_err(|_| Unsatisfiable)?;
            if n == 0 {
                return Err(Unsatisfiable);
            }
            size.saturating_sub(n)..size
        }
        (false, _) => {
            let start: u64 = a.parse().map_err(|_| Unsatisfiable)?;
            let end = if b.is_empty() {
                size
            } else {
                b.parse::<u64>().map_err(|_| Unsatisfiable)?.saturating_add(1).min(size)
            };
            if start >= size || start >= end {
                return Err(Unsatisfiable);
            }
            start..end
        }
        (true, true) => return Err(Unsatisfiable),
    };
    if range.start >= range.end {
        return Err(Unsatisfiable);
    }
    Ok(Some(range))
}

/// `filename` for `Content-Disposition`: ASCII fallback plus the RFC 5987 UTF-8 form.
fn disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// The bytes behind a signed link (no token needed; the signature is the access proof).
#[utoipa::path(get, path = "/api/attachments/{id}/content", tag = "attachments", params(("id" = String, Path), ContentQuery),
    responses((status = 200, description = "the file"), (status = 206, description = "the requested Range"),
        (status = 403, body = ErrorEnvelope, description = "invalid_signature or link_expired"),
        (status = 404, body = ErrorEnvelope), (status = 416, description = "unsatisfiable Range")))]
#[tracing::instrument(skip_all)]
pub async fn content(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ContentQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = attachment_id(&path)?;
    let variant = Variant::parse(query.v.as_deref().unwrap_or("original")).ok_or_else(bad_signature)?;
    let (Some(exp), Some(sig)) = (query.exp, query.sig.as_deref()) else { return Err(bad_signature()) };
    state.signer.check(id, variant, exp, sig, OffsetDateTime::now_utc())?;
    let a = state.attachments.get(id).await?;
    let (size, blob) = match variant {
        Variant::Original => (a.size, a.blob.clone()),
        Variant::Small | Variant::Large => {
            let t = a.thumbnail(variant.as_str()).ok_or(ApiError::NotFound)?;
            (t.bytes, t.blob.clone())
        }
    };
    let range_header = req.headers().get(header::RANGE).and_then(|v| v.to_str().ok());
    let range = match parse_range(range_header, size) {
        Ok(r) => r,
        Err(Unsatisfiable) => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{size}")))
                .content_type("application/json")
                .body(crate::error::envelope("bad_request", "the requested range is outside the file", None)))
        }
    };
    let download = state.attachments.open(&a, variant, range.clone()).await?;
    let mut res = match &range {
        Some(r) => {
            let mut b = HttpResponse::PartialContent();
            b.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{size}", r.start, r.end - 1)));
            b
        }
        None => HttpResponse::Ok(),
    };
    let length = range.as_ref().map_or(size, |r| r.end - r.start);
    let is_image = download.content_type.starts_with("image/");
    res.insert_header((header::CONTENT_TYPE, download.content_type.clone()))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, DOWNLOAD_CSP))
        .insert_header(("Cross-Origin-Resource-Policy", "same-site"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            disposition(if is_image { "inline" } else { "attachment" }, &a.name),
        ))
        .insert_header((header::ETAG, format!("\"{blob}\"")))
        .insert_header((header::CACHE_CONTROL, "private, max-age=300"))
        // Already compressed or binary: the compression middleware leaves it alone.
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .no_chunking(length);
    Ok(res.streaming(download.stream.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()))))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/attachments/{id}").route(web::get().to(get)))
        .service(web::resource("/api/attachments/{id}/thumbnail").route(web::get().to(thumbnail)))
        .service(web::resource("/api/attachments/{id}/content").route(web::get().to(content)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        type Parsed = Result<Option<std::ops::Range<u64>>, Unsatisfiable>;
        let table: &[(Option<&str>, Parsed)] = &[
            (None, Ok(None)),
            (Some("bytes=0-9"), Ok(Some(0..10))),
            (Some("bytes=90-"), Ok(Some(90..100))),
            (Some("bytes=-10"), Ok(Some(90..100))),
            (Some("bytes=-1000"), Ok(Some(0..100))),
            (Some("bytes=50-1000"), Ok(Some(50..100))),
            (Some("bytes=100-"), Err(Unsatisfiable)),
            (Some("bytes=9-3"), Err(Unsatisfiable)),
            (Some("bytes=-0"), Err(Unsatisfiable)),
            (Some("bytes=x-y"), Err(Unsatisfiable)),
            (Some("bytes=0-1,5-6"), Ok(None)),
            (Some("items=0-1"), Ok(None)),
        ];
        for (raw, want) in table {
            assert_eq!(&parse_range(*raw, 100), want, "{raw:?}");
        }
    }

    #[test]
    fn signed_links() {
        let s = Signer::new(b"0123456789abcdef0123456789abcdef", 300);
        let id = AttachmentId::from_uuid(uuid::Uuid::now_v7());
        let now = OffsetDateTime::now_utc();
        let url = s.url(id, Variant::Original, now);
        let q: std::collections::HashMap<_, _> =
            url.split_once('?').expect("query").1.split('&').filter_map(|p| p.split_once('=')).collect();
        let exp: i64 = q["exp"].parse().expect("exp");
        assert!(s.check(id, Variant::Original, exp, q["sig"], now).is_ok());
        assert_eq!(s.check(id, Variant::Small, exp, q["sig"], now).map_err(|e| e.code()), Err("invalid_signature"));
        assert_eq!(
            s.check(id, Variant::Original, exp + 1, q["sig"], now).map_err(|e| e.code()),
            Err("invalid_signature")
        );
        let old = s.url_until(id, Variant::Original, now.unix_timestamp() - 1);
        let sig = old.rsplit("sig=").next().expect("sig");
        assert_eq!(
            s.check(id, Variant::Original, now.unix_timestamp() - 1, sig, now).map_err(|e| e.code()),
            Err("link_expired")
        );
        assert!(disposition("attachment", "r\u{e9}sum\u{e9} \"x\".pdf")
            .contains("filename*=UTF-8''r%C3%A9sum%C3%A9%20%22x%22.pdf"));
    }
}
