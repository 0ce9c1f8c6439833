//! `/api/uploads`: resumable uploads with the tus 1.0 core protocol (creation, expiration
//! and checksum extensions, SHA-256), so tus-js-client and mobile tus clients work as they
//! are, plus a plain multipart `POST` for small files.
//!
//! tus: `OPTIONS` announces the protocol; `POST` with `Upload-Length` (and optional
//! `Upload-Metadata`, whose `filename` or `name` names the file) creates an upload and
//! answers its `Location`; `HEAD` answers `Upload-Offset`; `PATCH` with `Upload-Offset`
//! and `Content-Type: application/offset+octet-stream` appends (409 when the offset is not
//! the stored one, 460 when `Upload-Checksum: sha256 <base64>` does not match the chunk).
//! The partial file lives under the data dir, so an upload resumes after a restart. The
//! `PATCH` that brings the last byte answers, once the file is checked and processed,
//! either 204 with `Agora-Attachment-Id` or the refusal (415, 413, 422). Uploads are
//! authenticated (the owner alone sees one; anyone else gets 404).

use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use agora_actors::attachments::UploadState;
use agora_engine::{FileName, UploadId};
use base64::Engine as _;
use futures_util::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use super::ErrorEnvelope;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::routes::attachments::{AttachmentView, Signer};
use crate::state::AppState;

pub const TUS_VERSION: &str = "1.0.0";
pub const TUS_EXTENSIONS: &str = "creation,expiration,checksum";
/// The largest multipart body accepted (larger files go through tus).
pub const MULTIPART_MAX_BYTES: usize = 16 * 1024 * 1024;

/// An upload as its owner sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UploadView {
    pub id: String,
    pub offset: u64,
    pub length: u64,
    pub name: String,
    pub expires_at: String,
    /// Set once the upload is complete and its file accepted.
    pub attachment: Option<AttachmentView>,
}

fn http_date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    at.format(&fmt).unwrap_or_default()
}

fn tus_headers(res: &mut HttpResponseBuilder) {
    res.insert_header(("Tus-Resumable", TUS_VERSION));
    res.insert_header((header::CACHE_CONTROL, "no-store"));
}

fn upload_id(raw: &str) -> Result<UploadId, ApiError> {
    UploadId::parse(raw).map_err(|_| ApiError::NotFound)
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn parse_u64(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, ApiError> {
    match header_str(headers, name) {
        None => Ok(None),
        Some(v) => {
            v.parse::<u64>().map(Some).map_err(|_| ApiError::invalid_field(name, "must be a non-negative integer"))
        }
    }
}

/// `Tus-Resumable` must name the version we speak when present: the 412 otherwise.
fn version_refusal(req: &HttpRequest) -> Option<HttpResponse> {
    match header_str(req.headers(), "Tus-Resumable") {
        Some(v) if v != TUS_VERSION => Some(
            HttpResponse::PreconditionFailed()
                .insert_header(("Tus-Version", TUS_VERSION))
                .content_type("application/json")
                .body(crate::error::envelope("bad_request", "unsupported Tus-Resumable version", None)),
        ),
        _ => None,
    }
}

/// The file name in `Upload-Metadata` (`filename` or `name`, base64 values).
fn metadata_name(raw: Option<&str>) -> Result<FileName, ApiError> {
    let Some(raw) = raw else { return Ok(FileName::parse("")) };
    for pair in raw.split(',') {
        let mut parts = pair.trim().splitn(2, ' ');
        let key = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("").trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::invalid_field("Upload-Metadata", "keys must be printable ASCII"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .map_err(|_| ApiError::invalid_field("Upload-Metadata", "values must be base64"))?;
        if key == "filename" || key == "name" {
            return Ok(FileName::parse(&String::from_utf8_lossy(&decoded)));
        }
    }
    Ok(FileName::parse(""))
}

/// `OPTIONS /api/uploads`: what this tus server supports.
#[utoipa::path(options, path = "/api/uploads", tag = "attachments",
    responses((status = 204, description = "Tus-Version, Tus-Extension, Tus-Max-Size, Tus-Checksum-Algorithm")))]
pub async fn options(state: web::Data<AppState>) -> HttpResponse {
    let mut res = HttpResponse::NoContent();
    tus_headers(&mut res);
    res.insert_header(("Tus-Version", TUS_VERSION))
        .insert_header(("Tus-Extension", TUS_EXTENSIONS))
        .insert_header(("Tus-Max-Size", state.attachments.limits().largest().to_string()))
        .insert_header(("Tus-Checksum-Algorithm", "sha256"))
        .finish()
}

/// Creates an upload: tus creation (`Upload-Length`, `Upload-Metadata`; 201 with
/// `Location`), or a whole small file as `multipart/form-data` (field `file`; 201 with the
/// attachment).
#[utoipa::path(post, path = "/api/uploads", tag = "attachments",
    params(("Upload-Length" = Option<u64>, Header, description = "tus: the total size in bytes"),
        ("Upload-Metadata" = Option<String>, Header, description = "tus: `filename <base64>`, ...")),
    responses((status = 201, description = "tus: the upload (Location header); multipart: the attachment", body = UploadView),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 413, body = ErrorEnvelope), (status = 415, body = ErrorEnvelope), (status = 422, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = header_str(req.headers(), "content-type").unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        return multipart(&state, &user, &req, payload).await;
    }
    if let Some(res) = version_refusal(&req) {
        return Ok(res);
    }
    if req.headers().contains_key("Upload-Defer-Length") {
        return Err(ApiError::invalid_field("Upload-Defer-Length", "is not supported; send Upload-Length"));
    }
    let length = parse_u64(req.headers(), "Upload-Length")?
        .ok_or_else(|| ApiError::invalid_field("Upload-Length", "is required"))?;
    let metadata = header_str(req.headers(), "Upload-Metadata").filter(|m| !m.is_empty());
    let name = metadata_name(metadata)?;
    let now = OffsetDateTime::now_utc();
    let upload = state.attachments.create_upload(user.id, length, name, metadata.map(str::to_string), now).await?;
    let location = format!("/api/uploads/{}", upload.id);
    let mut res = HttpResponse::Created();
    tus_headers(&mut res);
    Ok(res
        .insert_header((header::LOCATION, location))
        .insert_header(("Upload-Offset", "0"))
        .insert_header(("Upload-Expires", http_date(upload.expires_at)))
        .json(UploadView {
            id: upload.id.to_string(),
            offset: 0,
            length: upload.length,
            name: upload.name.clone(),
            expires_at: agora_actors::protocol::rfc3339(upload.expires_at),
            attachment: None,
        }))
}

fn state_headers(res: &mut HttpResponseBuilder, s: &UploadState) {
    tus_headers(res);
    res.insert_header(("Upload-Offset", s.offset.to_string()))
        .insert_header(("Upload-Length", s.upload.length.to_string()))
        .insert_header(("Upload-Expires", http_date(s.upload.expires_at)));
    if let Some(m) = &s.upload.metadata {
        if let Ok(v) = HeaderValue::from_str(m) {
            res.insert_header(("Upload-Metadata", v));
        }
    }
    if let Some(a) = &s.attachment {
        res.insert_header(("Agora-Attachment-Id", a.id.to_string()));
    }
}

/// `HEAD /api/uploads/{id}`: where the upload stands (`Upload-Offset`, `Upload-Length`).
#[utoipa::path(head, path = "/api/uploads/{id}", tag = "attachments", params(("id" = String, Path)),
    responses((status = 200, description = "Upload-Offset and Upload-Length headers"), (status = 404), (status = 410)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn head(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state.attachments.upload_state(user.id, upload_id(&path)?, OffsetDateTime::now_utc()).await?;
    let mut res = HttpResponse::Ok();
    state_headers(&mut res, &s);
    Ok(res.finish())
}

/// `GET /api/uploads/{id}`: the upload as JSON (offset, and the attachment once complete).
#[utoipa::path(get, path = "/api/uploads/{id}", tag = "attachments", params(("id" = String, Path)),
    responses((status = 200, body = UploadView), (status = 404, body = ErrorEnvelope), (status = 410, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let s = state.attachments.upload_state(user.id, upload_id(&path)?, OffsetDateTime::now_utc()).await?;
    let mut res = HttpResponse::Ok();
    state_headers(&mut res, &s);
    Ok(res.json(view(&state.signer, &s)))
}

fn view(signer: &Signer, s: &UploadState) -> UploadView {
    UploadView {
        id: s.upload.id.to_string(),
        offset: s.offset,
        length: s.upload.length,
        name: s.upload.name.clone(),
        expires_at: agora_actors::protocol::rfc3339(s.upload.expires_at),
        attachment: s.attachment.as_ref().map(|a| AttachmentView::of(a, signer, OffsetDateTime::now_utc())),
    }
}

/// The `Upload-Checksum` digest: only `sha256` is supported (400 otherwise).
fn checksum(headers: &HeaderMap) -> Result<Option<[u8; 32]>, ApiError> {
    let Some(raw) = header_str(headers, "Upload-Checksum") else { return Ok(None) };
    let (algo, value) = raw.split_once(' ').unwrap_or((raw, ""));
    if !algo.eq_ignore_ascii_case("sha256") {
        return Err(ApiError::invalid_field("Upload-Checksum", "only sha256 is supported"));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| ApiError::invalid_field("Upload-Checksum", "the digest must be base64"))?;
    let digest: [u8; 32] =
        bytes.try_into().map_err(|_| ApiError::invalid_field("Upload-Checksum", "a sha256 digest is 32 bytes"))?;
    Ok(Some(digest))
}

/// `PATCH /api/uploads/{id}`: appends the body at `Upload-Offset`. 204 with the new
/// `Upload-Offset`; the last chunk also answers `Agora-Attachment-Id`, or the refusal.
#[utoipa::path(patch, path = "/api/uploads/{id}", tag = "attachments",
    params(("id" = String, Path), ("Upload-Offset" = u64, Header), ("Upload-Checksum" = Option<String>, Header, description = "`sha256 <base64 digest of this chunk>`")),
    request_body(content = Vec<u8>, content_type = "application/offset+octet-stream"),
    responses((status = 204, description = "appended (Upload-Offset header)"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "Upload-Offset is not the stored offset"),
        (status = 410, body = ErrorEnvelope), (status = 413, body = ErrorEnvelope), (status = 415, body = ErrorEnvelope),
        (status = 422, body = ErrorEnvelope), (status = 460, body = ErrorEnvelope, description = "checksum mismatch")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn patch(
    state: web::Data<AppState>,
    user: AuthUser,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if let Some(res) = version_refusal(&req) {
        return Ok(res);
    }
    let id = upload_id(&path)?;
    let content_type = header_str(req.headers(), "content-type").unwrap_or("");
    if !content_type.eq_ignore_ascii_case("application/offset+octet-stream") {
        return Err(ApiError::UnsupportedMediaType("Content-Type must be application/offset+octet-stream".into()));
    }
    let offset = parse_u64(req.headers(), "Upload-Offset")?
        .ok_or_else(|| ApiError::invalid_field("Upload-Offset", "is required"))?;
    let digest = checksum(req.headers())?;
    let s = state.attachments.append(user.id, id, offset, digest, payload, OffsetDateTime::now_utc()).await?;
    let mut res = HttpResponse::NoContent();
    state_headers(&mut res, &s);
    Ok(res.finish())
}

/// A multipart body with a `file` part: stored in a temp file, then checked like a tus upload.
async fn multipart(
    state: &AppState,
    user: &AuthUser,
    req: &HttpRequest,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let content_type = header_str(req.headers(), "content-type").unwrap_or("");
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_string())
        .next()
        .filter(|b| !b.is_empty() && b.len() <= 70)
        .ok_or_else(|| ApiError::BadRequest {
            code: "invalid_body",
            message: "multipart body without a boundary".into(),
        })?;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest { code: "invalid_body", message: e.to_string() })?;
        if body.len() + chunk.len() > MULTIPART_MAX_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let (name, bytes) = multipart_file(&body, &boundary).ok_or_else(|| ApiError::BadRequest {
        code: "invalid_body",
        message: "no `file` part in the multipart body".into(),
    })?;
    let path = state.attachments.temp_path();
    let write = async {
        let mut f = tokio::fs::File::create(&path).await?;
        f.write_all(bytes).await?;
        f.sync_all().await
    };
    if let Err(e) = write.await {
        let _ = tokio::fs::remove_file(&path).await;
        return Err(ApiError::internal(format!("multipart temp file: {e}")));
    }
    let now = OffsetDateTime::now_utc();
    let attachment = state.attachments.upload_file(user.id, FileName::parse(&name), &path, now).await?;
    Ok(HttpResponse::build(StatusCode::CREATED).json(AttachmentView::of(&attachment, &state.signer, now)))
}

/// The file name and bytes of the part named `file` of a multipart body.
pub fn multipart_file<'a>(body: &'a [u8], boundary: &str) -> Option<(String, &'a [u8])> {
    let delimiter = format!("--{boundary}");
    let d = delimiter.as_bytes();
    let find = |hay: &[u8], needle: &[u8], from: usize| -> Option<usize> {
        hay.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|p| p + from)
    };
    let mut pos = find(body, d, 0)? + d.len();
    loop {
        if body.get(pos..pos + 2) == Some(b"--") {
            return None;
        }
        let headers_start = pos + 2;
        let headers_end = find(body, b"\r\n\r\n", headers_start)?;
        let headers = std::str::from_utf8(&body[headers_start..headers_end]).ok()?;
        let content_start = headers_end + 4;
        let end_marker = format!("\r\n{delimiter}");
        let content_end = find(body, end_marker.as_bytes(), content_start)?;
        let disposition = headers.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))?;
        let param = |key: &str| {
            disposition
                .split(';')
                .map(str::trim)
                .find_map(|p| p.strip_prefix(&format!("{key}=")))
                .map(|v| v.trim_matches('"').to_string())
        };
        if param("name").as_deref() == Some("file") {
            return Some((param("filename").unwrap_or_default(), &body[content_start..content_end]));
        }
        pos = content_end + 2 + d.len();
    }
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/uploads")
            .route(web::method(actix_web::http::Method::OPTIONS).to(options))
            .route(web::post().to(create)),
    )
    .service(
        web::resource("/api/uploads/{id}")
            .route(web::head().to(head))
            .route(web::get().to(get))
            .route(web::patch().to(patch))
            .route(web::method(actix_web::http::Method::OPTIONS).to(options)),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_finds_the_file_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\nContent-Type: text/plain\r\n\r\nline1\r\nline2\r\n--XyZ--\r\n";
        let (name, bytes) = multipart_file(body, "XyZ").expect("file part");
        assert_eq!((name.as_str(), bytes), ("a.txt", &b"line1\r\nline2"[..]));
        assert!(
            multipart_file(b"--XyZ\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--XyZ--", "XyZ").is_none()
        );
        assert!(multipart_file(b"garbage", "XyZ").is_none());
    }

    #[test]
    fn metadata_names() {
        assert_eq!(
            metadata_name(Some("filename cGhvdG8uanBn,filetype aW1hZ2UvanBlZw==")).expect("ok").as_str(),
            "photo.jpg"
        );
        assert_eq!(
            metadata_name(Some("relativePath bnVsbA==,name Li4vLi4vZXZpbC5wZGY=")).expect("ok").as_str(),
            "evil.pdf"
        );
        assert_eq!(metadata_name(None).expect("ok").as_str(), "file");
        assert!(metadata_name(Some("filename !!!")).is_err());
        assert_eq!(http_date(OffsetDateTime::UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
