//! Blobs in any S3-compatible service, through `object_store`. `AGORA_BLOB_URL` is
//! `s3://bucket/prefix`; credentials, region and endpoint come from the usual `AWS_*`
//! environment variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
//! `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), with explicit options on top.
//!
//! A blob is the object `<prefix>/<key>`. A put hashes the bytes first, then writes only
//! when no object has that key (content addressing: an existing one already holds these
//! bytes), streaming files in multipart chunks.

use std::ops::Range;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{check_range, BlobError, BlobKey, BlobStore, ByteStream, Stored};

pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

fn backend(e: object_store::Error) -> BlobError {
    match e {
        object_store::Error::NotFound { .. } => BlobError::NotFound,
        other => BlobError::Backend(other.to_string()),
    }
}

impl S3Blobs {
    /// `url` is `s3://bucket[/prefix]`; `options` are object_store `aws_*` keys that win
    /// over the environment.
    pub fn open(url: &str, options: &[(String, String)]) -> Result<S3Blobs, BlobError> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| BlobError::Config(format!("blob URL {url:?} must start with s3://")))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(BlobError::Config("the blob URL names no bucket".into()));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (k, v) in options {
            let key = k.parse().map_err(|e| BlobError::Config(format!("{k}: {e}")))?;
            builder = builder.with_config(key, v);
        }
        let store = builder.build().map_err(|e| BlobError::Config(e.to_string()))?;
        Ok(S3Blobs { store: Arc::new(store), prefix: prefix.trim_matches('/').to_string() })
    }

    fn location(&self, key: &BlobKey) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key.as_str())
        } else {
            ObjectPath::from(format!("{}/{}", self.prefix, key))
        }
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobError> {
        Ok(self.size(key).await?.is_some())
    }
}

async fn hash_file(path: &Path) -> Result<(BlobKey, u64), BlobError> {
    let mut f = tokio::fs::File::open(path).await.map_err(|e| BlobError::Backend(e.to_string()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).await.map_err(|e| BlobError::Backend(e.to_string()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((BlobKey::from_digest(hasher.finalize().into()), size))
}

#[async_trait::async_trait]
impl BlobStore for S3Blobs {
    fn name(&self) -> &'static str {
        "s3"
    }

    async fn put_file(&self, path: &Path) -> Result<Stored, BlobError> {
        let (key, size) = hash_file(path).await?;
        if self.exists(&key).await? {
            return Ok(Stored { key, size, written: false });
        }
        let mut src = tokio::fs::File::open(path).await.map_err(|e| BlobError::Backend(e.to_string()))?;
        let mut writer = object_store::buffered::BufWriter::new(self.store.clone(), self.location(&key));
        let copied = tokio::io::copy(&mut src, &mut writer).await;
        match copied {
            Ok(_) => writer.shutdown().await.map_err(|e| BlobError::Backend(e.to_string()))?,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(BlobError::Backend(e.to_string()));
            }
        }
        Ok(Stored { key, size, written: true })
    }

    async fn put_bytes(&self, bytes: Bytes) -> Result<Stored, BlobError> {
        let key = BlobKey::of(&bytes);
        let size = bytes.len() as u64;
        if self.exists(&key).await? {
            return Ok(Stored { key, size, written: false });
        }
        self.store.put(&self.location(&key), PutPayload::from(bytes)).await.map_err(backend)?;
        Ok(Stored { key, size, written: true })
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match self.store.head(&self.location(key)).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<ByteStream, BlobError> {
        let mut opts = GetOptions::default();
        if let Some(r) = &range {
            let size = self.size(key).await?.ok_or(BlobError::NotFound)?;
            check_range(r, size)?;
            opts.range = Some(GetRange::Bounded(r.clone()));
        }
        let got = self.store.get_opts(&self.location(key), opts).await.map_err(backend)?;
        Ok(got.into_stream().map(|c| c.map_err(backend)).boxed())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match self.store.delete(&self.location(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }
}
