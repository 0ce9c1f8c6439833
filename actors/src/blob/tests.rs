//! The blob store conformance suite: the same tests against every implementation. The
//! local store runs always; the S3 store runs against a real `moto_server` (PyPI `moto`,
//! server mode; `scripts/install-moto.sh` installs it) started on a free port, and prints
//! a visible SKIPPED line when none can start.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{local::LocalBlobs, read_all, s3::S3Blobs, BlobError, BlobKey, BlobStore};

fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

async fn collect(store: &dyn BlobStore, key: &BlobKey, range: std::ops::Range<u64>) -> Result<Vec<u8>, BlobError> {
    use futures_util::StreamExt;
    let mut s = store.read(key, Some(range)).await?;
    let mut out = Vec::new();
    while let Some(c) = s.next().await {
        out.extend_from_slice(&c?);
    }
    Ok(out)
}

async fn content_addressed_and_never_overwritten(store: Arc<dyn BlobStore>) {
    let bytes = Bytes::from_static(b"hello, blob");
    let first = store.put_bytes(bytes.clone()).await.expect("put");
    assert_eq!(first.key, BlobKey::of(b"hello, blob"));
    assert_eq!((first.size, first.written), (11, true));
    let again = store.put_bytes(bytes).await.expect("put again");
    assert_eq!((again.key.clone(), again.written), (first.key.clone(), false));
    assert_eq!(read_all(store.as_ref(), &first.key).await.expect("read"), b"hello, blob");
    assert_eq!(store.size(&first.key).await.expect("size"), Some(11));
}

async fn files_and_ranges(store: Arc<dyn BlobStore>) {
    let data = pattern(3 * 1024 * 1024 + 17);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("big.bin");
    std::fs::write(&path, &data).expect("write");
    let stored = store.put_file(&path).await.expect("put_file");
    assert_eq!(stored.key, BlobKey::of(&data));
    assert_eq!((stored.size, stored.written), (data.len() as u64, true));
    assert!(path.exists(), "the source file is left alone");
    let back = read_all(store.as_ref(), &stored.key).await.expect("read all");
    assert!(back == data, "the whole blob reads back");
    let n = data.len() as u64;
    for r in [0..1, 10..20, 1_000_000..2_000_001, n - 5..n, 0..n] {
        let got = collect(store.as_ref(), &stored.key, r.clone()).await.expect("range");
        assert!(got == data[r.start as usize..r.end as usize], "range {r:?}");
    }
    for bad in [5..5, n..n + 1, 10..n + 1] {
        assert_eq!(collect(store.as_ref(), &stored.key, bad.clone()).await.err(), Some(BlobError::BadRange), "{bad:?}");
    }
    let again = store.put_file(&path).await.expect("put_file again");
    assert!(!again.written);
}

async fn absent_and_delete(store: Arc<dyn BlobStore>) {
    let key = BlobKey::of(b"never stored");
    assert_eq!(store.size(&key).await.expect("size"), None);
    assert_eq!(store.read(&key, None).await.err(), Some(BlobError::NotFound));
    store.delete(&key).await.expect("deleting an absent blob is fine");
    let s = store.put_bytes(Bytes::from_static(b"short-lived")).await.expect("put");
    store.delete(&s.key).await.expect("delete");
    assert_eq!(store.size(&s.key).await.expect("size"), None);
    let s2 = store.put_bytes(Bytes::from_static(b"short-lived")).await.expect("put after delete");
    assert!(s2.written, "a deleted blob can be stored again");
}

async fn empty_and_concurrent(store: Arc<dyn BlobStore>) {
    let empty = store.put_bytes(Bytes::new()).await.expect("empty");
    assert_eq!(empty.key, BlobKey::of(b""));
    assert_eq!(read_all(store.as_ref(), &empty.key).await.expect("read empty"), b"");
    let data = Bytes::from(pattern(200_000));
    let puts = (0..4).map(|_| {
        let (s, d) = (store.clone(), data.clone());
        async move { s.put_bytes(d).await }
    });
    let results = futures_util::future::join_all(puts).await;
    for r in &results {
        assert_eq!(r.as_ref().expect("concurrent put").key, BlobKey::of(&data));
    }
    assert!(read_all(store.as_ref(), &BlobKey::of(&data)).await.expect("read") == data);
}

#[test]
fn keys_parse() {
    assert!(BlobKey::parse(&"a".repeat(64)).is_ok());
    assert!(BlobKey::parse(&"A".repeat(64)).is_err());
    assert!(BlobKey::parse(&"a".repeat(63)).is_err());
    assert!(BlobKey::parse("../../etc/passwd").is_err());
    assert_eq!(BlobKey::of(b"").as_str(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/// A moto S3 server on a free port, stopped on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_binary() -> Option<PathBuf> {
    let which = |name: &str| {
        std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join(name)).find(|p| p.is_file()))
    };
    // Where scripts/install-moto.sh puts it when the system Python refuses pip installs.
    let cached = || {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(cache.join("agora/moto/bin/moto_server")).filter(|p| p.is_file())
    };
    if let Some(p) = which("moto_server").or_else(cached) {
        return Some(p);
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/install-moto.sh");
    let ok = Command::new("bash").arg(&script).stdout(Stdio::null()).status().map(|s| s.success()).unwrap_or(false);
    if ok {
        which("moto_server").or_else(cached)
    } else {
        None
    }
}

fn start_moto() -> Result<Moto, String> {
    let bin = moto_binary().ok_or("moto_server is not installed and scripts/install-moto.sh could not install it")?;
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto_server: {e}"))?;
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if http(port, "PUT", "/agora-test").is_ok_and(|status| status == 200) {
            return Ok(moto);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!("moto_server did not answer on port {port} within 30 s"))
}

/// A bare HTTP/1.1 request (moto does not check signatures); answers the status.
fn http(port: u16, method: &str, path: &str) -> Result<u16, String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).map_err(|e| e.to_string())?;
    std::str::from_utf8(&head[9..12])
        .map_err(|e| e.to_string())?
        .parse()
        .map_err(|e: std::num::ParseIntError| e.to_string())
}

fn s3_store(moto: &Moto, prefix: &str) -> Arc<dyn BlobStore> {
    let options = [
        ("aws_endpoint", format!("http://127.0.0.1:{}", moto.port)),
        ("aws_allow_http", "true".into()),
        ("aws_access_key_id", "test".into()),
        ("aws_secret_access_key", "test".into()),
        ("aws_region", "us-east-1".into()),
        ("aws_virtual_hosted_style_request", "false".into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    Arc::new(S3Blobs::open(&format!("s3://agora-test/{prefix}"), &options).expect("s3 store"))
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local_suite {
            $(
                #[tokio::test]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = std::sync::Arc::new(super::LocalBlobs::open(dir.path()).expect("open"));
                    super::$name(store).await;
                }
            )*
        }
        mod s3_suite {
            $(
                #[tokio::test]
                async fn $name() {
                    let moto = match super::start_moto() {
                        Ok(m) => m,
                        Err(why) => {
                            println!("SKIPPED blob store S3 conformance ({}): {why}", stringify!($name));
                            eprintln!("SKIPPED blob store S3 conformance ({}): {why}", stringify!($name));
                            return;
                        }
                    };
                    super::$name(super::s3_store(&moto, stringify!($name))).await;
                }
            )*
        }
    };
}

conformance!(content_addressed_and_never_overwritten, files_and_ranges, absent_and_delete, empty_and_concurrent);

#[tokio::test]
async fn local_leaves_no_temp_files_and_fsyncs_into_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("tmp")).expect("tmp");
    std::fs::write(dir.path().join("tmp/stale.part"), b"left by a crash").expect("stale");
    let store = LocalBlobs::open(dir.path()).expect("open");
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 0, "stale temp files are cleared");
    let s = store.put_bytes(Bytes::from_static(b"x")).await.expect("put");
    let k = s.key.as_str();
    assert!(dir.path().join(&k[0..2]).join(&k[2..4]).join(k).is_file());
    assert_eq!(std::fs::read_dir(dir.path().join("tmp")).expect("tmp").count(), 0);
}
