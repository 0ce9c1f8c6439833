//! The blob store port: where attachment bytes live, behind one trait. Commands hold an
//! `Arc<dyn BlobStore>` and never a backend's own types (the payment gateway's shape).
//!
//! Blobs are content-addressed: the key is the SHA-256 of the bytes, in lower-case hex, so
//! two uploads of one file share one blob, and a blob, once written, is never overwritten
//! (a second write of the same key keeps the first). Reference counts live in storage
//! (`agora_storage::attachments`); a blob is deleted only when its last reference goes.
//!
//! Two implementations pass one conformance suite (`blob/tests.rs`):
//! - [`local::LocalBlobs`], the default: a directory under the data dir, each blob written
//!   to a temp file, fsynced, then linked into place (an existing blob is never replaced);
//! - [`s3::S3Blobs`]: any S3-compatible service through `object_store`
//!   (`AGORA_BLOB_URL=s3://bucket/prefix` plus the usual `AWS_*` settings).

pub mod local;
pub mod s3;
#[cfg(test)]
mod tests;

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};

/// The SHA-256 of a blob's bytes, 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BlobKey(String);

impl BlobKey {
    pub fn parse(hex: &str) -> Result<BlobKey, BlobError> {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(BlobKey(hex.to_string()))
        } else {
            Err(BlobError::BadKey)
        }
    }

    /// The key of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobKey {
        BlobKey::from_digest(Sha256::digest(bytes).into())
    }

    pub fn from_digest(digest: [u8; 32]) -> BlobKey {
        BlobKey(hex::encode(digest))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BlobKey {
    type Error = BlobError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        BlobKey::parse(&s)
    }
}

impl From<BlobKey> for String {
    fn from(k: BlobKey) -> String {
        k.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobError {
    #[error("no such blob")]
    NotFound,
    #[error("not a blob key (64 lower-case hex digits)")]
    BadKey,
    #[error("the range is outside the blob")]
    BadRange,
    #[error("blob store configuration: {0}")]
    Config(String),
    /// The backend failed (disk, network); the cause is for the logs.
    #[error("blob store: {0}")]
    Backend(String),
}

/// What a put did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub key: BlobKey,
    pub size: u64,
    /// `false` when a blob with the same bytes was already there (it was kept).
    pub written: bool,
}

/// A blob's bytes as a stream of chunks.
pub type ByteStream = BoxStream<'static, Result<Bytes, BlobError>>;

#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// `local` or `s3`: a metric label.
    fn name(&self) -> &'static str;

    /// Stores the bytes of the file at `path` under their SHA-256. The file is left alone.
    async fn put_file(&self, path: &Path) -> Result<Stored, BlobError>;

    /// Stores `bytes` under their SHA-256.
    async fn put_bytes(&self, bytes: Bytes) -> Result<Stored, BlobError>;

    /// The blob's size, `None` when absent.
    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError>;

    /// The bytes in `range` (end exclusive), or all of them. A range must lie within the
    /// blob and not be empty ([`BlobError::BadRange`]).
    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<ByteStream, BlobError>;

    /// Removes the blob; removing an absent one is not an error.
    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError>;
}

/// Reads a whole blob into memory (small blobs: thumbnails, tests).
pub async fn read_all(store: &dyn BlobStore, key: &BlobKey) -> Result<Vec<u8>, BlobError> {
    use futures_util::StreamExt;
    let mut out = Vec::new();
    let mut s = store.read(key, None).await?;
    while let Some(chunk) = s.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

/// Which blob store to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobSettings {
    /// A directory (default `<data dir>/blobs`).
    Local(std::path::PathBuf),
    /// `s3://bucket/prefix`, with `AWS_*` settings from the environment and `options`
    /// (object_store's `aws_*` keys) on top.
    S3 { url: String, options: Vec<(String, String)> },
}

pub fn open(settings: &BlobSettings) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(match settings {
        BlobSettings::Local(dir) => Arc::new(local::LocalBlobs::open(dir)?),
        BlobSettings::S3 { url, options } => Arc::new(s3::S3Blobs::open(url, options)?),
    })
}

/// Checks a requested range against a blob's size.
pub(crate) fn check_range(range: &Range<u64>, size: u64) -> Result<(), BlobError> {
    if range.start >= range.end || range.end > size {
        return Err(BlobError::BadRange);
    }
    Ok(())
}
