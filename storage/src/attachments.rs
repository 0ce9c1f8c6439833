//! Uploads, attachments, blob reference counts and per-user storage usage.
//!
//! An upload is a file on its way in (tus or multipart): its row holds the declared length
//! and metadata; its bytes sit in a partial file under the data dir, whose length is the
//! offset, so an upload resumes after a restart. A completed upload becomes an attachment
//! (its row holds the sniffed type and what processing found) whose bytes are blobs
//! (content-addressed; the served copy and the thumbnails). An attachment starts
//! unattached, listed in `attachments_unattached` until a message (or another object)
//! claims it; the sweeper removes those older than 24 h. Every attachment holds one
//! reference on each of its blobs (`blob_refs`, moved by compare-and-set); a blob is
//! deleted when its count reaches zero. `storage_usage` is the bytes a user keeps, for the
//! quota.

use std::ops::ControlFlow;
use std::time::Duration;

use agora_engine::{AttachmentId, AttachmentKind, ConversationId, FileType, MessageId, UploadId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, Expect};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::market::each_row;
use crate::retry::{cas_retry, lost};
use crate::store::{get_versioned, remaining};
use crate::tables::Table;

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub id: UploadId,
    pub owner: UserId,
    /// The declared total length (`Upload-Length`).
    pub length: u64,
    /// The file name from `Upload-Metadata` (cleaned).
    pub name: String,
    /// The raw `Upload-Metadata` header, echoed on `HEAD`.
    pub metadata: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// Set once the bytes are complete and processed.
    pub attachment_id: Option<AttachmentId>,
}

/// What an attachment is attached to: it decides who may download it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttachedTo {
    Message {
        conversation_id: ConversationId,
        message_id: MessageId,
    },
    /// A service's public gallery: anyone may see it.
    Gallery {
        service_id: agora_engine::ServiceId,
    },
}

/// A thumbnail: a re-encoded, smaller copy of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// `small` or `large`.
    pub size: String,
    pub blob: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: String,
}

/// A stored file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    pub id: AttachmentId,
    pub owner: UserId,
    pub kind: AttachmentKind,
    pub file_type: FileType,
    pub name: String,
    /// The served copy's size and type (images: re-encoded without metadata).
    pub size: u64,
    pub content_type: String,
    /// The served copy's blob key (SHA-256, hex).
    pub blob: String,
    /// The SHA-256 of the bytes as uploaded.
    pub upload_sha256: String,
    pub upload_size: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub duration_ms: Option<u64>,
    /// Voice notes: peak amplitudes (0..=255) over equal slices of the recording.
    pub peaks: Option<Vec<u8>>,
    /// PDFs: the page count.
    pub pages: Option<u32>,
    pub thumbnails: Vec<Thumbnail>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub attached_to: Option<AttachedTo>,
    /// When it last became unattached after being attached (its message deleted); the
    /// grace period runs from here. `None`: unattached since `created_at`.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub released_at: Option<OffsetDateTime>,
}

impl Attachment {
    /// Where the grace period of an unattached attachment starts.
    pub fn unattached_since(&self) -> OffsetDateTime {
        self.released_at.unwrap_or(self.created_at)
    }

    /// Every blob this attachment holds a reference on (served copy and thumbnails).
    pub fn blobs(&self) -> Vec<(String, u64)> {
        let mut v = vec![(self.blob.clone(), self.size)];
        for t in &self.thumbnails {
            if !v.iter().any(|(b, _)| *b == t.blob) {
                v.push((t.blob.clone(), t.bytes));
            }
        }
        v
    }

    pub fn thumbnail(&self, size: &str) -> Option<&Thumbnail> {
        self.thumbnails.iter().find(|t| t.size == size)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct BlobRef {
    refs: u64,
    size: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Usage {
    bytes: u64,
}

const ALL: &str = "all";

fn time_key(at: OffsetDateTime, id: &str) -> String {
    format!("{:012}:{id}", at.unix_timestamp().max(0))
}

fn id_of_key<T: std::str::FromStr>(table: Table, ck: &str) -> Result<T, StoreError> {
    ck.split_once(':')
        .and_then(|(_, id)| id.parse().ok())
        .ok_or_else(|| StoreError::Corrupt { table: table.name(), detail: format!("bad key {ck:?}") })
}

pub struct Attachments<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Attachments<'_> {
    // ---- uploads

    /// Records a new upload (and indexes it by expiry for the sweeper).
    pub async fn create_upload(&self, u: &Upload, now: OffsetDateTime) -> Result<(), StoreError> {
        let ttl = remaining(u.expires_at, now) + Duration::from_secs(86_400);
        let applied = self
            .b
            .cas(Table::UploadsById, &u.id.to_string(), "", Expect::Absent, encode(Table::UploadsById, u)?, Some(ttl))
            .await?;
        if !applied.applied() {
            return Err(StoreError::Duplicate("upload"));
        }
        let ck = time_key(u.expires_at, &u.id.to_string());
        self.b.put(Table::UploadsByExpiry, ALL, &ck, encode(Table::UploadsByExpiry, &u.owner)?, Some(ttl)).await
    }

    pub async fn upload(&self, id: UploadId) -> Result<Option<Upload>, StoreError> {
        match self.b.get(Table::UploadsById, &id.to_string(), "").await? {
            Some(row) => decode(Table::UploadsById, &row.value).map(Some),
            None => Ok(None),
        }
    }

    /// Marks the upload complete with its attachment (the row stays until it expires, so
    /// a repeated final `PATCH` or `HEAD` still finds it).
    pub async fn complete_upload(&self, id: UploadId, attachment: AttachmentId) -> Result<Upload, StoreError> {
        let pk = id.to_string();
        cas_retry(|| async {
            let Some(cur) = get_versioned::<Upload>(self.b, Table::UploadsById, &pk, "").await? else {
                return Err(StoreError::Corrupt {
                    table: Table::UploadsById.name(),
                    detail: format!("upload {pk} vanished"),
                });
            };
            let mut next = cur.value.clone();
            next.attachment_id = Some(attachment);
            let out = self
                .b
                .cas(
                    Table::UploadsById,
                    &pk,
                    "",
                    Expect::Version(cur.version),
                    encode(Table::UploadsById, &next)?,
                    Some(Duration::from_secs(2 * 86_400)),
                )
                .await?;
            Ok(out.applied().then_some(next))
        })
        .await
    }

    pub async fn delete_upload(&self, u: &Upload) -> Result<(), StoreError> {
        self.b.delete(Table::UploadsById, &u.id.to_string(), "").await?;
        self.b.delete(Table::UploadsByExpiry, ALL, &time_key(u.expires_at, &u.id.to_string())).await
    }

    /// Drops the expiry index entry of an upload whose row is already gone.
    pub async fn forget_upload_index(&self, id: UploadId, expires_at: OffsetDateTime) -> Result<(), StoreError> {
        self.b.delete(Table::UploadsByExpiry, ALL, &time_key(expires_at, &id.to_string())).await
    }

    /// Uploads whose expiry is before `before` (id and expiry), oldest first, at most
    /// `limit`. Their rows may already be gone (TTL); the index entry stays until
    /// [`Attachments::forget_upload_index`], so the partial file is always found.
    pub async fn uploads_expired(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<(UploadId, OffsetDateTime)>, StoreError> {
        let cutoff = time_key(before, "");
        let mut out = Vec::new();
        each_row(self.b, Table::UploadsByExpiry, ALL, |row| {
            if row.ck >= cutoff || out.len() >= limit {
                return Ok(ControlFlow::Break(()));
            }
            let secs: i64 = row.ck.split(':').next().and_then(|s| s.parse().ok()).unwrap_or(0);
            let at = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
            out.push((id_of_key(Table::UploadsByExpiry, &row.ck)?, at));
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    // ---- attachments

    /// Stores a new, unattached attachment.
    pub async fn create(&self, a: &Attachment) -> Result<(), StoreError> {
        let applied = self
            .b
            .cas(
                Table::AttachmentsById,
                &a.id.to_string(),
                "",
                Expect::Absent,
                encode(Table::AttachmentsById, a)?,
                None,
            )
            .await?;
        if !applied.applied() {
            return Err(StoreError::Duplicate("attachment"));
        }
        if a.attached_to.is_none() {
            let ck = time_key(a.created_at, &a.id.to_string());
            self.b
                .put(Table::AttachmentsUnattached, ALL, &ck, encode(Table::AttachmentsUnattached, &a.owner)?, None)
                .await?;
        }
        Ok(())
    }

    pub async fn get(&self, id: AttachmentId) -> Result<Option<Attachment>, StoreError> {
        match self.b.get(Table::AttachmentsById, &id.to_string(), "").await? {
            Some(row) => decode(Table::AttachmentsById, &row.value).map(Some),
            None => Ok(None),
        }
    }

    /// Attaches an unattached attachment of `owner` to `target`. `Ok(None)` when it does
    /// not exist or is someone else's; `StoreError::Duplicate` when already attached
    /// elsewhere (attaching again to the same target is a no-op).
    pub async fn attach(
        &self,
        id: AttachmentId,
        owner: UserId,
        target: AttachedTo,
    ) -> Result<Option<Attachment>, StoreError> {
        let pk = id.to_string();
        let out = cas_retry(|| async {
            let Some(cur) = get_versioned::<Attachment>(self.b, Table::AttachmentsById, &pk, "").await? else {
                return Ok(Some(None));
            };
            if cur.value.owner != owner {
                return Ok(Some(None));
            }
            match cur.value.attached_to {
                Some(t) if t == target => return Ok(Some(Some(cur.value))),
                Some(_) => return Err(StoreError::Duplicate("attachment")),
                None => {}
            }
            let mut next = cur.value.clone();
            next.attached_to = Some(target);
            let applied = lost(
                self.b
                    .cas(
                        Table::AttachmentsById,
                        &pk,
                        "",
                        Expect::Version(cur.version),
                        encode(Table::AttachmentsById, &next)?,
                        None,
                    )
                    .await
                    .and_then(|o| if o.applied() { Ok(()) } else { Err(StoreError::Conflict) }),
            )?;
            Ok(applied.map(|()| Some(next)))
        })
        .await?;
        if let Some(a) = &out {
            self.b
                .delete(Table::AttachmentsUnattached, ALL, &time_key(a.unattached_since(), &a.id.to_string()))
                .await?;
        }
        Ok(out)
    }

    /// Lets an attachment go from `target` (its message was deleted): unattached again,
    /// listed for the sweeper from `now`. A no-op when attached elsewhere or absent.
    pub async fn detach(&self, id: AttachmentId, target: AttachedTo, now: OffsetDateTime) -> Result<(), StoreError> {
        let pk = id.to_string();
        let released = cas_retry(|| async {
            let Some(cur) = get_versioned::<Attachment>(self.b, Table::AttachmentsById, &pk, "").await? else {
                return Ok(Some(None));
            };
            if cur.value.attached_to != Some(target) {
                return Ok(Some(None));
            }
            let mut next = cur.value.clone();
            next.attached_to = None;
            next.released_at = Some(now);
            let out = self
                .b
                .cas(
                    Table::AttachmentsById,
                    &pk,
                    "",
                    Expect::Version(cur.version),
                    encode(Table::AttachmentsById, &next)?,
                    None,
                )
                .await?;
            Ok(out.applied().then_some(Some(next)))
        })
        .await?;
        if let Some(a) = released {
            let ck = time_key(a.unattached_since(), &a.id.to_string());
            self.b
                .put(Table::AttachmentsUnattached, ALL, &ck, encode(Table::AttachmentsUnattached, &a.owner)?, None)
                .await?;
        }
        Ok(())
    }

    /// Removes the attachment's rows (its blob references are released by the caller).
    pub async fn delete(&self, a: &Attachment) -> Result<(), StoreError> {
        self.b.delete(Table::AttachmentsById, &a.id.to_string(), "").await?;
        self.b.delete(Table::AttachmentsUnattached, ALL, &time_key(a.unattached_since(), &a.id.to_string())).await
    }

    /// Unattached attachments created before `before`, oldest first, at most `limit`.
    pub async fn unattached_before(
        &self,
        before: OffsetDateTime,
        limit: usize,
    ) -> Result<Vec<AttachmentId>, StoreError> {
        let cutoff = time_key(before, "");
        let mut out = Vec::new();
        each_row(self.b, Table::AttachmentsUnattached, ALL, |row| {
            if row.ck >= cutoff || out.len() >= limit {
                return Ok(ControlFlow::Break(()));
            }
            out.push(id_of_key(Table::AttachmentsUnattached, &row.ck)?);
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    // ---- blob references and usage

    /// Moves a blob's reference count by `delta` and answers the new count (0: the blob
    /// may be deleted). The row goes when the count reaches zero.
    pub async fn add_blob_ref(&self, blob: &str, size: u64, delta: i64) -> Result<u64, StoreError> {
        cas_retry(|| async {
            let cur = get_versioned::<BlobRef>(self.b, Table::BlobRefs, blob, "").await?;
            let (value, expect) = match &cur {
                Some(v) => (v.value, Expect::Version(v.version)),
                None => (BlobRef { refs: 0, size }, Expect::Absent),
            };
            let refs = if delta >= 0 {
                value.refs.saturating_add(delta.unsigned_abs())
            } else {
                value.refs.saturating_sub(delta.unsigned_abs())
            };
            if refs == 0 {
                if let Some(v) = &cur {
                    // Zero references: remove the row, guarded by its version.
                    let gone = BlobRef { refs: 0, size: v.value.size };
                    let out = self
                        .b
                        .cas(
                            Table::BlobRefs,
                            blob,
                            "",
                            Expect::Version(v.version),
                            encode(Table::BlobRefs, &gone)?,
                            Some(Duration::from_secs(1)),
                        )
                        .await?;
                    return Ok(out.applied().then_some(0));
                }
                return Ok(Some(0));
            }
            let next = BlobRef { refs, size: value.size.max(size) };
            let out = self.b.cas(Table::BlobRefs, blob, "", expect, encode(Table::BlobRefs, &next)?, None).await?;
            Ok(out.applied().then_some(refs))
        })
        .await
    }

    /// A blob's reference count (0 when unknown).
    pub async fn blob_refs(&self, blob: &str) -> Result<u64, StoreError> {
        Ok(get_versioned::<BlobRef>(self.b, Table::BlobRefs, blob, "").await?.map_or(0, |v| v.value.refs))
    }

    /// Bytes the user keeps.
    pub async fn usage(&self, user: UserId) -> Result<u64, StoreError> {
        self.counter(&user.to_string()).await
    }

    /// Moves the user's usage by `delta` bytes; answers the new figure.
    pub async fn add_usage(&self, user: UserId, delta: i64) -> Result<u64, StoreError> {
        self.add_counter(&user.to_string(), delta).await
    }

    /// Bytes of all blobs stored, kept under `key` (not a user id) in the same table.
    pub async fn blob_total(&self, key: &str) -> Result<u64, StoreError> {
        self.counter(key).await
    }

    pub async fn add_blob_total(&self, key: &str, delta: i64) -> Result<u64, StoreError> {
        self.add_counter(key, delta).await
    }

    async fn counter(&self, pk: &str) -> Result<u64, StoreError> {
        Ok(get_versioned::<Usage>(self.b, Table::StorageUsage, pk, "").await?.map_or(0, |v| v.value.bytes))
    }

    async fn add_counter(&self, pk: &str, delta: i64) -> Result<u64, StoreError> {
        cas_retry(|| async {
            let cur = get_versioned::<Usage>(self.b, Table::StorageUsage, pk, "").await?;
            let (bytes, expect) = match &cur {
                Some(v) => (v.value.bytes, Expect::Version(v.version)),
                None => (0, Expect::Absent),
            };
            let bytes = if delta >= 0 {
                bytes.saturating_add(delta.unsigned_abs())
            } else {
                bytes.saturating_sub(delta.unsigned_abs())
            };
            let out = self
                .b
                .cas(Table::StorageUsage, pk, "", expect, encode(Table::StorageUsage, &Usage { bytes })?, None)
                .await?;
            Ok(out.applied().then_some(bytes))
        })
        .await
    }
}
