//! The default blob store: a directory. A blob lives at `<root>/<2 hex>/<2 hex>/<key>`.
//! A put copies the bytes into `<root>/tmp/<unique>.part` while hashing them, fsyncs the
//! file, then hard-links it to the key's path, which fails if a blob is already there: an
//! existing blob is never replaced, and a crash leaves at most a stray temp file (removed
//! at the next open). The directory entry is fsynced too, so a stored blob survives a
//! power cut.

use std::io::{Read, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::{check_range, BlobError, BlobKey, BlobStore, ByteStream, Stored};

const CHUNK: usize = 256 * 1024;

pub struct LocalBlobs {
    root: PathBuf,
}

/// Makes temp file names unique within the process (the pid tells processes apart).
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

fn io(e: std::io::Error) -> BlobError {
    BlobError::Backend(e.to_string())
}

impl LocalBlobs {
    /// Opens (creating) the directory and clears temp files left by a crash.
    pub fn open(root: &Path) -> Result<LocalBlobs, BlobError> {
        let tmp = root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(io)?;
        for entry in std::fs::read_dir(&tmp).map_err(io)?.flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
        Ok(LocalBlobs { root: root.to_path_buf() })
    }

    fn path(&self, key: &BlobKey) -> PathBuf {
        blob_path(&self.root, key)
    }
}

fn blob_path(root: &Path, key: &BlobKey) -> PathBuf {
    let k = key.as_str();
    root.join(&k[0..2]).join(&k[2..4]).join(k)
}

/// Copies `src` into a temp file while hashing, fsyncs it and links it into place.
fn store_blocking(root: &Path, src: &mut dyn Read) -> Result<Stored, BlobError> {
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = root.join("tmp").join(format!("{}-{n}.part", std::process::id()));
    let result = (|| {
        let mut out = std::fs::File::create(&tmp).map_err(io)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = src.read(&mut buf).map_err(io)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n]).map_err(io)?;
            size += n as u64;
        }
        out.sync_all().map_err(io)?;
        drop(out);
        let key = BlobKey::from_digest(hasher.finalize().into());
        let dest = blob_path(root, &key);
        let dir = dest.parent().ok_or_else(|| BlobError::Backend("blob path has no parent".into()))?;
        std::fs::create_dir_all(dir).map_err(io)?;
        let written = match std::fs::hard_link(&tmp, &dest) {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(io(e)),
        };
        if written {
            std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
        }
        Ok(Stored { key, size, written })
    })();
    let _ = std::fs::remove_file(&tmp);
    result
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| BlobError::Backend(format!("blob task failed: {e}")))?
}

#[async_trait::async_trait]
impl BlobStore for LocalBlobs {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn put_file(&self, path: &Path) -> Result<Stored, BlobError> {
        let (root, path) = (self.root.clone(), path.to_path_buf());
        blocking(move || {
            let mut f = std::fs::File::open(&path).map_err(io)?;
            store_blocking(&root, &mut f)
        })
        .await
    }

    async fn put_bytes(&self, bytes: Bytes) -> Result<Stored, BlobError> {
        let root = self.root.clone();
        blocking(move || store_blocking(&root, &mut &bytes[..])).await
    }

    async fn size(&self, key: &BlobKey) -> Result<Option<u64>, BlobError> {
        match tokio::fs::metadata(self.path(key)).await {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    async fn read(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<ByteStream, BlobError> {
        let mut file = match tokio::fs::File::open(self.path(key)).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(BlobError::NotFound),
            Err(e) => return Err(io(e)),
        };
        let size = file.metadata().await.map_err(io)?.len();
        let range = match range {
            Some(r) => {
                check_range(&r, size)?;
                r
            }
            None => 0..size,
        };
        file.seek(std::io::SeekFrom::Start(range.start)).await.map_err(io)?;
        let left = range.end - range.start;
        let stream = futures_util::stream::try_unfold((file, left), |(mut file, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            let want = usize::try_from(left.min(CHUNK as u64)).unwrap_or(CHUNK);
            let mut buf = vec![0u8; want];
            let n = file.read(&mut buf).await.map_err(io)?;
            if n == 0 {
                return Err(BlobError::Backend("blob shorter than its size".into()));
            }
            buf.truncate(n);
            Ok(Some((Bytes::from(buf), (file, left - n as u64))))
        });
        Ok(stream.boxed())
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }
}
