//! Attachments: uploads in, files checked and processed, blobs stored, downloads out.
//!
//! [`Attachments`] is the one entry point (a cheap-clone handle in `Hub`). An upload is
//! created with its declared length (tus creation, or a multipart POST), its bytes are
//! appended to a partial file `<uploads dir>/<id>.part` (the file's length is the offset,
//! so an upload resumes after a client or server restart), and when the last byte is in,
//! the file is inspected on the blocking pool ([`media::inspect`]): type sniffed from the
//! bytes, the engine's rules applied, images re-encoded without metadata plus two
//! thumbnails, durations and peaks for audio, page counts for PDFs. A refused file is
//! deleted and answered with its refusal; an accepted one becomes blobs (content-addressed,
//! reference-counted) and an unattached attachment row. Messages claim attachments when
//! they are sent; the sweeper ([`Attachments::sweep`]) removes abandoned uploads and
//! attachments never claimed within the grace period (24 h), and releases blobs whose
//! last reference went.
//!
//! Appends to one upload never interleave: each holds the upload's lock (a second
//! concurrent `PATCH` gets `upload_locked`, 409).

pub mod media;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use agora_engine::attachment::{FileName, FileRefusal, Limits, Use};
use agora_engine::{AttachmentId, DomainError, UploadId, UserId};
use agora_storage::attachments::{AttachedTo, Attachment, Thumbnail, Upload};
use agora_storage::Store;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use crate::blob::{BlobError, BlobKey, BlobStore, ByteStream, Stored};
use crate::ActorError;

/// Why an upload step was refused (each has a stable code and an HTTP status).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadRefusal {
    /// `Upload-Offset` is not where the upload stands (409).
    #[error("the upload is at offset {actual}, not {claimed}")]
    OffsetMismatch { claimed: u64, actual: u64 },
    /// The chunk's SHA-256 is not the one the client announced (460).
    #[error("the chunk's checksum does not match")]
    ChecksumMismatch,
    /// The upload's expiry passed (410).
    #[error("the upload has expired")]
    Expired,
    /// More bytes than `Upload-Length` (413).
    #[error("the body goes beyond the declared Upload-Length")]
    BeyondLength,
    /// Another request is appending to this upload right now (409).
    #[error("another request is writing this upload")]
    Locked,
    /// An attachment still uploading, or an upload without its attachment (409).
    #[error("the upload is not complete")]
    Incomplete,
    /// Already attached to another object (409).
    #[error("the attachment is already attached elsewhere")]
    InUse,
}

impl UploadRefusal {
    pub fn code(&self) -> &'static str {
        match self {
            UploadRefusal::OffsetMismatch { .. } => "upload_offset_mismatch",
            UploadRefusal::ChecksumMismatch => "checksum_mismatch",
            UploadRefusal::Expired => "upload_expired",
            UploadRefusal::BeyondLength => "file_too_large",
            UploadRefusal::Locked => "conflict",
            UploadRefusal::Incomplete => "upload_incomplete",
            UploadRefusal::InUse => "attachment_in_use",
        }
    }
}

/// Settings of the attachment pipeline.
#[derive(Debug, Clone)]
pub struct AttachmentSettings {
    pub limits: Limits,
    /// Where partial uploads live (`<data dir>/uploads`).
    pub uploads_dir: PathBuf,
    /// How long an upload may take from creation (tus `Upload-Expires`).
    pub upload_ttl: Duration,
    /// How long an attachment may stay unattached before the sweeper removes it.
    pub unattached_ttl: Duration,
}

/// Which stored copy of an attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Original,
    Small,
    Large,
}

impl Variant {
    pub fn parse(s: &str) -> Option<Variant> {
        match s {
            "original" => Some(Variant::Original),
            "small" => Some(Variant::Small),
            "large" => Some(Variant::Large),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Original => "original",
            Variant::Small => "small",
            Variant::Large => "large",
        }
    }
}

/// Where an upload stands.
#[derive(Debug, Clone)]
pub struct UploadState {
    pub upload: Upload,
    pub offset: u64,
    /// Set once complete and accepted.
    pub attachment: Option<Attachment>,
}

/// The bytes of one stored copy.
pub struct Download {
    pub stream: ByteStream,
    pub size: u64,
    pub content_type: String,
}

struct Inner {
    store: Store,
    blobs: Arc<dyn BlobStore>,
    settings: AttachmentSettings,
    locks: Mutex<HashMap<UploadId, Weak<tokio::sync::Mutex<()>>>>,
}

#[derive(Clone)]
pub struct Attachments {
    inner: Arc<Inner>,
}

const BLOB_TOTAL_KEY: &str = "blobs";

fn blob_err(e: BlobError) -> ActorError {
    ActorError::Storage(agora_storage::StoreError::Unavailable(e.to_string()))
}

fn io_err(e: std::io::Error) -> ActorError {
    ActorError::Storage(agora_storage::StoreError::Unavailable(format!("upload file: {e}")))
}

fn refuse(r: FileRefusal) -> ActorError {
    metrics::counter!("agora_upload_refusals_total", "reason" => r.reason()).increment(1);
    ActorError::Refused(DomainError::File(r))
}

impl Attachments {
    pub fn new(
        store: Store,
        blobs: Arc<dyn BlobStore>,
        settings: AttachmentSettings,
    ) -> Result<Attachments, ActorError> {
        std::fs::create_dir_all(&settings.uploads_dir).map_err(io_err)?;
        Ok(Attachments { inner: Arc::new(Inner { store, blobs, settings, locks: Mutex::new(HashMap::new()) }) })
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.settings.limits
    }

    pub fn blobs(&self) -> &Arc<dyn BlobStore> {
        &self.inner.blobs
    }

    /// Publishes the stored blob bytes (`agora_blob_bytes`) from storage, once at start.
    pub async fn publish_blob_bytes(&self) -> Result<(), ActorError> {
        let total = self.inner.store.attachments().blob_total(BLOB_TOTAL_KEY).await?;
        metrics::gauge!("agora_blob_bytes").set(total as f64);
        Ok(())
    }

    fn part_path(&self, id: UploadId) -> PathBuf {
        self.inner.settings.uploads_dir.join(format!("{id}.part"))
    }

    fn lock(&self, id: UploadId) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, w| w.strong_count() > 0);
        if let Some(l) = locks.get(&id).and_then(Weak::upgrade) {
            return l;
        }
        let l = Arc::new(tokio::sync::Mutex::new(()));
        locks.insert(id, Arc::downgrade(&l));
        l
    }

    /// Starts an upload of `length` bytes (checked against the largest cap and the quota).
    pub async fn create_upload(
        &self,
        owner: UserId,
        length: u64,
        name: FileName,
        metadata: Option<String>,
        now: OffsetDateTime,
    ) -> Result<Upload, ActorError> {
        let limits = self.limits();
        limits.check_declared(length).map_err(refuse)?;
        let used = self.inner.store.attachments().usage(owner).await?;
        limits.check_quota(used, length).map_err(refuse)?;
        let ttl = time::Duration::try_from(self.inner.settings.upload_ttl).unwrap_or(time::Duration::DAY);
        let upload = Upload {
            id: UploadId::from_uuid(uuid::Uuid::now_v7()),
            owner,
            length,
            name: name.as_str().to_string(),
            metadata,
            created_at: now,
            expires_at: now + ttl,
            attachment_id: None,
        };
        let file = tokio::fs::File::create(self.part_path(upload.id)).await.map_err(io_err)?;
        file.sync_all().await.map_err(io_err)?;
        self.inner.store.attachments().create_upload(&upload, now).await?;
        Ok(upload)
    }

    /// The upload as its owner sees it (anyone else: not found).
    pub async fn upload_state(
        &self,
        caller: UserId,
        id: UploadId,
        now: OffsetDateTime,
    ) -> Result<UploadState, ActorError> {
        let upload = self.inner.store.attachments().upload(id).await?.ok_or(ActorError::NotFound)?;
        if upload.owner != caller {
            return Err(ActorError::NotFound);
        }
        if let Some(aid) = upload.attachment_id {
            let attachment = self.inner.store.attachments().get(aid).await?;
            return Ok(UploadState { offset: upload.length, upload, attachment });
        }
        if upload.expires_at <= now {
            return Err(ActorError::Upload(UploadRefusal::Expired));
        }
        let offset = match tokio::fs::metadata(self.part_path(id)).await {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ActorError::NotFound),
            Err(e) => return Err(io_err(e)),
        };
        Ok(UploadState { upload, offset, attachment: None })
    }

    /// Appends `body` at `offset` (tus `PATCH`). With `checksum` (the chunk's SHA-256) a
    /// mismatching chunk is dropped whole; without, whatever arrived before the client went
    /// away is kept, so it resumes from there. The last byte completes the upload.
    pub async fn append<S, E>(
        &self,
        caller: UserId,
        id: UploadId,
        offset: u64,
        checksum: Option<[u8; 32]>,
        mut body: S,
        now: OffsetDateTime,
    ) -> Result<UploadState, ActorError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let lock = self.lock(id);
        let Ok(_guard) = lock.try_lock() else { return Err(ActorError::Upload(UploadRefusal::Locked)) };
        let state = self.upload_state(caller, id, now).await?;
        if state.offset != offset {
            return Err(ActorError::Upload(UploadRefusal::OffsetMismatch { claimed: offset, actual: state.offset }));
        }
        if state.attachment.is_some() || state.upload.attachment_id.is_some() {
            return Ok(state);
        }
        let path = self.part_path(id);
        let mut file = tokio::fs::OpenOptions::new().append(true).open(&path).await.map_err(io_err)?;
        let mut hasher = Sha256::new();
        let mut written = offset;
        let mut failed: Option<ActorError> = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(upload = %id, error = %e, "upload body ended early");
                    failed = Some(ActorError::Invalid(field("body", "the request body ended early")));
                    break;
                }
            };
            if written + chunk.len() as u64 > state.upload.length {
                failed = Some(ActorError::Upload(UploadRefusal::BeyondLength));
                break;
            }
            hasher.update(&chunk);
            if let Err(e) = file.write_all(&chunk).await {
                failed = Some(io_err(e));
                break;
            }
            written += chunk.len() as u64;
        }
        file.flush().await.map_err(io_err)?;
        let checksum_bad = checksum.is_some_and(|want| failed.is_none() && want != <[u8; 32]>::from(hasher.finalize()));
        let drop_chunk = checksum_bad
            || matches!(failed, Some(ActorError::Upload(UploadRefusal::BeyondLength)))
            || (checksum.is_some() && failed.is_some());
        if drop_chunk {
            file.set_len(offset).await.map_err(io_err)?;
            written = offset;
        }
        file.sync_all().await.map_err(io_err)?;
        drop(file);
        if checksum_bad {
            return Err(ActorError::Upload(UploadRefusal::ChecksumMismatch));
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if written < state.upload.length {
            return Ok(UploadState { offset: written, ..state });
        }
        let attachment = self.complete(&state.upload, &path, now).await?;
        let upload = self.inner.store.attachments().complete_upload(id, attachment.id).await?;
        let _ = tokio::fs::remove_file(&path).await;
        Ok(UploadState { upload, offset: written, attachment: Some(attachment) })
    }

    /// A whole file in one request (multipart): an upload created and completed at once.
    /// `path` is a temp file of the caller's, removed here.
    pub async fn upload_file(
        &self,
        owner: UserId,
        name: FileName,
        path: &Path,
        now: OffsetDateTime,
    ) -> Result<Attachment, ActorError> {
        let size = tokio::fs::metadata(path).await.map_err(io_err)?.len();
        let result = async {
            let limits = self.limits();
            limits.check_declared(size).map_err(refuse)?;
            let upload = Upload {
                id: UploadId::from_uuid(uuid::Uuid::now_v7()),
                owner,
                length: size,
                name: name.as_str().to_string(),
                metadata: None,
                created_at: now,
                expires_at: now,
                attachment_id: None,
            };
            self.complete(&upload, path, now).await
        }
        .await;
        let _ = tokio::fs::remove_file(path).await;
        result
    }

    /// A temp file path for a multipart body (under the uploads dir, so on the same disk).
    pub fn temp_path(&self) -> PathBuf {
        self.inner.settings.uploads_dir.join(format!("{}.multipart", uuid::Uuid::now_v7()))
    }

    /// Inspects the complete file, stores its blobs and the attachment row.
    async fn complete(&self, upload: &Upload, path: &Path, now: OffsetDateTime) -> Result<Attachment, ActorError> {
        let (p, limits, length) = (path.to_path_buf(), *self.limits(), upload.length);
        let inspected = tokio::task::spawn_blocking(move || {
            let sha = sha256_file(&p)?;
            Ok::<_, std::io::Error>((sha, media::inspect(&p, length, Use::Message, &limits)))
        })
        .await
        .map_err(|e| ActorError::Storage(agora_storage::StoreError::Unavailable(format!("inspection task: {e}"))))?
        .map_err(io_err)?;
        let (upload_sha, inspected) = inspected;
        let inspected = match inspected {
            Ok(i) => i,
            Err(r) => {
                self.discard(upload, path).await;
                return Err(refuse(r));
            }
        };
        let blobs = &self.inner.blobs;
        let served: Stored = match &inspected.reencoded {
            Some(img) => blobs.put_bytes(Bytes::from(img.bytes.clone())).await.map_err(blob_err)?,
            None => blobs.put_file(path).await.map_err(blob_err)?,
        };
        let content_type = inspected.reencoded.as_ref().map_or(inspected.file.content_type(), |e| e.content_type);
        let mut thumbnails = Vec::new();
        for (size, t) in &inspected.thumbnails {
            let s = blobs.put_bytes(Bytes::from(t.bytes.clone())).await.map_err(blob_err)?;
            thumbnails.push(Thumbnail {
                size: (*size).to_string(),
                blob: s.key.to_string(),
                width: t.width,
                height: t.height,
                bytes: s.size,
                content_type: t.content_type.to_string(),
            });
        }
        let attachment = Attachment {
            id: AttachmentId::from_uuid(uuid::Uuid::now_v7()),
            owner: upload.owner,
            kind: inspected.file.kind(),
            file_type: inspected.file,
            name: upload.name.clone(),
            size: served.size,
            content_type: content_type.to_string(),
            blob: served.key.to_string(),
            upload_sha256: upload_sha,
            upload_size: upload.length,
            width: inspected.width,
            height: inspected.height,
            duration_ms: inspected.duration_ms,
            peaks: inspected.peaks,
            pages: inspected.pages,
            thumbnails,
            created_at: now,
            attached_to: None,
            released_at: None,
        };
        let stored_bytes: u64 = attachment.blobs().iter().map(|(_, s)| *s).sum();
        let att = self.inner.store.attachments();
        let used = att.usage(upload.owner).await?;
        if let Err(r) = self.limits().check_quota(used, stored_bytes) {
            self.discard(upload, path).await;
            self.release_blobs_unreferenced(&attachment).await;
            return Err(refuse(r));
        }
        for (blob, size) in attachment.blobs() {
            self.add_ref(&blob, size).await?;
        }
        att.add_usage(upload.owner, i64::try_from(stored_bytes).unwrap_or(i64::MAX)).await?;
        att.create(&attachment).await?;
        metrics::counter!("agora_uploads_total", "kind" => attachment.kind.as_str()).increment(1);
        Ok(attachment)
    }

    async fn add_ref(&self, blob: &str, size: u64) -> Result<(), ActorError> {
        let att = self.inner.store.attachments();
        if att.add_blob_ref(blob, size, 1).await? == 1 {
            let total = att.add_blob_total(BLOB_TOTAL_KEY, i64::try_from(size).unwrap_or(i64::MAX)).await?;
            metrics::gauge!("agora_blob_bytes").set(total as f64);
        }
        Ok(())
    }

    /// Blobs written for an attachment that was then refused: deleted unless referenced.
    async fn release_blobs_unreferenced(&self, a: &Attachment) {
        for (blob, _) in a.blobs() {
            if let (Ok(0), Ok(key)) = (self.inner.store.attachments().blob_refs(&blob).await, BlobKey::parse(&blob)) {
                let _ = self.inner.blobs.delete(&key).await;
            }
        }
    }

    async fn discard(&self, upload: &Upload, path: &Path) {
        let _ = tokio::fs::remove_file(path).await;
        if upload.expires_at > upload.created_at {
            if let Err(e) = self.inner.store.attachments().delete_upload(upload).await {
                tracing::warn!(upload = %upload.id, error = %e, "refused upload's row not removed; the sweeper will");
            }
        }
    }

    /// The attachment, if `caller` may see it: its owner, or whoever may see the object it
    /// is attached to (a conversation's members). Anyone else: not found.
    pub async fn visible(&self, caller: UserId, id: AttachmentId) -> Result<Attachment, ActorError> {
        let a = self.inner.store.attachments().get(id).await?.ok_or(ActorError::NotFound)?;
        if self.may_view(caller, &a).await? {
            Ok(a)
        } else {
            Err(ActorError::NotFound)
        }
    }

    pub async fn may_view(&self, caller: UserId, a: &Attachment) -> Result<bool, ActorError> {
        self.may_view_as(Some(caller), a).await
    }

    /// [`Attachments::may_view`] for a caller who may be anonymous: a service gallery's
    /// images are public, everything else needs an account that may see it.
    pub async fn may_view_as(&self, caller: Option<UserId>, a: &Attachment) -> Result<bool, ActorError> {
        if caller == Some(a.owner) {
            return Ok(true);
        }
        match (a.attached_to, caller) {
            (Some(AttachedTo::Gallery { .. }), _) => Ok(true),
            (None, _) | (_, None) => Ok(false),
            (Some(AttachedTo::Message { conversation_id, .. }), Some(caller)) => {
                Ok(self.inner.store.chat().get(conversation_id).await?.is_some_and(|c| c.value.is_member(caller)))
            }
        }
    }

    /// The attachment, if `caller` (possibly anonymous) may see it; not found otherwise.
    pub async fn visible_as(&self, caller: Option<UserId>, id: AttachmentId) -> Result<Attachment, ActorError> {
        let a = self.inner.store.attachments().get(id).await?.ok_or(ActorError::NotFound)?;
        if self.may_view_as(caller, &a).await? {
            Ok(a)
        } else {
            Err(ActorError::NotFound)
        }
    }

    /// The attachment without an access check (a signed link already proved access).
    pub async fn get(&self, id: AttachmentId) -> Result<Attachment, ActorError> {
        self.inner.store.attachments().get(id).await?.ok_or(ActorError::NotFound)
    }

    /// Opens a stored copy, optionally a byte range of it.
    pub async fn open(
        &self,
        a: &Attachment,
        variant: Variant,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Download, ActorError> {
        let (blob, size, content_type) = match variant {
            Variant::Original => (a.blob.clone(), a.size, a.content_type.clone()),
            Variant::Small | Variant::Large => {
                let t = a.thumbnail(variant.as_str()).ok_or(ActorError::NotFound)?;
                (t.blob.clone(), t.bytes, t.content_type.clone())
            }
        };
        let key = BlobKey::parse(&blob).map_err(blob_err)?;
        let stream = match self.inner.blobs.read(&key, range).await {
            Ok(s) => s,
            Err(BlobError::NotFound) => return Err(ActorError::NotFound),
            Err(BlobError::BadRange) => return Err(ActorError::Invalid(field("range", "outside the file"))),
            Err(e) => return Err(blob_err(e)),
        };
        Ok(Download { stream, size, content_type })
    }

    /// Checks that `ids` may be attached by `owner` (distinct, at most 10, complete, the
    /// owner's, not attached elsewhere) and answers them in order.
    pub async fn claimable(
        &self,
        owner: UserId,
        ids: &[AttachmentId],
        used_for: Use,
    ) -> Result<Vec<Attachment>, ActorError> {
        claimable(&self.inner.store, owner, ids, used_for).await
    }

    /// Removes abandoned uploads (expired partial files) and attachments left unattached
    /// longer than the grace period, releasing their blobs. Answers how many went.
    pub async fn sweep(&self, now: OffsetDateTime) -> Result<usize, ActorError> {
        let att = self.inner.store.attachments();
        let mut removed = 0;
        for (id, expires_at) in att.uploads_expired(now, 500).await? {
            if let Some(u) = att.upload(id).await? {
                if u.attachment_id.is_none() {
                    let _ = tokio::fs::remove_file(self.part_path(id)).await;
                }
                att.delete_upload(&u).await?;
            } else {
                let _ = tokio::fs::remove_file(self.part_path(id)).await;
                att.forget_upload_index(id, expires_at).await?;
            }
            removed += 1;
        }
        let grace = time::Duration::try_from(self.inner.settings.unattached_ttl).unwrap_or(time::Duration::DAY);
        for id in att.unattached_before(now - grace, 500).await? {
            if let Some(a) = att.get(id).await? {
                if a.attached_to.is_none() {
                    self.remove(&a).await?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// Deletes an attachment: rows, usage, and each blob whose last reference this was.
    pub async fn remove(&self, a: &Attachment) -> Result<(), ActorError> {
        let att = self.inner.store.attachments();
        att.delete(a).await?;
        for (blob, size) in a.blobs() {
            if att.add_blob_ref(&blob, size, -1).await? == 0 {
                if let Ok(key) = BlobKey::parse(&blob) {
                    self.inner.blobs.delete(&key).await.map_err(blob_err)?;
                }
                let total = att.add_blob_total(BLOB_TOTAL_KEY, -i64::try_from(size).unwrap_or(i64::MAX)).await?;
                metrics::gauge!("agora_blob_bytes").set(total as f64);
            }
        }
        let bytes: u64 = a.blobs().iter().map(|(_, s)| *s).sum();
        att.add_usage(a.owner, -i64::try_from(bytes).unwrap_or(i64::MAX)).await?;
        Ok(())
    }
}

/// Checks that `ids` may be attached by `owner` to an object of `used_for` (distinct, at
/// most 10, the owner's, of a kind allowed there, not attached elsewhere) and answers them
/// in order. The conversation actor calls it before committing a message.
pub async fn claimable(
    store: &Store,
    owner: UserId,
    ids: &[AttachmentId],
    used_for: Use,
) -> Result<Vec<Attachment>, ActorError> {
    agora_engine::attachment::check_count(ids).map_err(|e| with_field("attachment_ids", e))?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match store.attachments().get(*id).await? {
            Some(a) if a.owner == owner => {
                if a.attached_to.is_some() {
                    return Err(ActorError::Upload(UploadRefusal::InUse));
                }
                if !used_for.allows(a.kind) {
                    return Err(refuse(FileRefusal::NotAllowedHere { kind: a.kind, used_for }));
                }
                out.push(a);
            }
            _ => return Err(ActorError::Invalid(field("attachment_ids", &format!("no attachment {id} of yours")))),
        }
    }
    Ok(out)
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn field(name: &str, problem: &str) -> agora_engine::FieldErrors {
    let mut f = agora_engine::FieldErrors::new();
    f.add(name, problem);
    f
}

fn with_field(name: &str, e: DomainError) -> ActorError {
    let mut f = agora_engine::FieldErrors::new();
    f.check::<()>(name, Err(e));
    ActorError::Invalid(f)
}
