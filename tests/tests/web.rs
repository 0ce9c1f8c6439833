//! The web client as the server serves it (http/src/web.rs), and the committed build's
//! freshness:
//!
//! - `/` and the app's own routes answer `index.html` with the app's CSP and `no-cache`;
//!   every asset it references answers with its type, a year of `immutable` caching, an
//!   `ETag` that revalidates to 304, and its precompressed copy when the client takes it;
//! - the fallback never shadows the API: unknown paths under `/api`, `/ws`, `/metrics`,
//!   `/docs` and the seeds' JSON page aliases, unknown files and other methods stay the
//!   JSON 404 envelope;
//! - `web/dist/source-hash.txt` matches the sources (web/ and clients/js/src/), hashed as
//!   web/scripts/source-hash.mjs does, so a build older than its sources fails here.

use std::path::{Path, PathBuf};

use agora_tests::spawn_app;
use sha2::{Digest, Sha256};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace root").to_path_buf()
}

fn header<'a>(reply: &'a agora_tests::Reply, name: &str) -> &'a str {
    reply.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// The `src`/`href` values of `/assets/` files in index.html.
fn assets_of(index: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attr in ["src=\"", "href=\""] {
        let mut rest = index;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let end = rest.find('"').unwrap_or(0);
            let value = &rest[..end];
            if value.starts_with("/assets/") {
                found.push(value.to_string());
            }
        }
    }
    found
}

#[actix_web::test]
async fn the_app_is_served_with_its_policy_and_caching() {
    let app = spawn_app().await;

    let index = app.get("/", None).await;
    assert_eq!(index.status, 200, "{}", index.text);
    assert!(header(&index, "content-type").starts_with("text/html"), "{:?}", index.headers);
    assert_eq!(header(&index, "cache-control"), "no-cache");
    let csp = header(&index, "content-security-policy");
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    assert!(index.text.contains("<script type=\"module\""), "{}", index.text);
    assert!(!index.text.contains("<script>"), "no inline script: {}", index.text);

    // A deep link of the app is the same page.
    let deep = app.get("/jobs/0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000", None).await;
    assert_eq!(deep.status, 200);
    assert_eq!(deep.text, index.text);

    let assets = assets_of(&index.text);
    assert!(assets.iter().any(|a| a.ends_with(".js")), "index.html loads a script: {assets:?}");
    let dist = repo().join("web/dist");
    for asset in &assets {
        let plain = app.get(asset, None).await;
        assert_eq!(plain.status, 200, "{asset}");
        assert_eq!(header(&plain, "cache-control"), "public, max-age=31536000, immutable", "{asset}");
        let ct = header(&plain, "content-type");
        if asset.ends_with(".js") {
            assert!(ct.contains("javascript"), "{asset}: {ct}");
        } else if asset.ends_with(".css") {
            assert!(ct.starts_with("text/css"), "{asset}: {ct}");
        }
        let on_disk = std::fs::read(dist.join(asset.trim_start_matches('/'))).expect("asset on disk");
        assert_eq!(plain.text.as_bytes(), on_disk.as_slice(), "{asset} served as built");

        let tag = header(&plain, "etag").to_string();
        assert!(tag.starts_with('"'), "{asset}: {tag}");
        let again = app.send(app.client.get(app.url(asset)).header("if-none-match", &tag)).await;
        assert_eq!(again.status, 304, "{asset}");
        assert!(again.text.is_empty());

        for (encoding, suffix) in [("br", "br"), ("gzip", "gz")] {
            let packed = dist.join(format!("{}.{suffix}", asset.trim_start_matches('/')));
            if !packed.exists() {
                continue;
            }
            let res =
                app.client.get(app.url(asset)).header("accept-encoding", encoding).send().await.expect("request sent");
            assert_eq!(res.headers().get("content-encoding").and_then(|v| v.to_str().ok()), Some(encoding));
            let vary = res.headers().get("vary").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            assert!(vary.contains("Accept-Encoding"), "{asset}: vary {vary}");
            let body = res.bytes().await.expect("body");
            assert_eq!(body.as_ref(), std::fs::read(&packed).expect("packed copy").as_slice(), "{asset} {encoding}");
        }
    }

    // HEAD answers the headers without the body.
    let head = app.send(app.client.head(app.url("/"))).await;
    assert_eq!(head.status, 200);
    assert!(head.text.is_empty());
}

#[actix_web::test]
async fn the_app_never_shadows_the_api() {
    let app = spawn_app().await;
    for path in [
        "/api/nope",
        "/api/nope/deeper",
        "/metrics/nope",
        "/docs/nope.js",
        "/analytics/nope",
        "/assets/missing-1234.js",
        "/favicon-nope.png",
    ] {
        let reply = app.get(path, None).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text);
        reply.expect(404, Some("not_found"));
    }
    // Routes that exist keep answering for themselves.
    let health = app.get("/api/health", None).await;
    assert_eq!(health.status, 200);
    assert!(header(&health, "content-type").starts_with("application/json"));
    let ws = app.get("/ws", None).await;
    assert!(!ws.text.contains("<html"), "/ws is not the app: {}", ws.text);
    let notifications = app.get("/notifications", None).await;
    assert_eq!(notifications.status, 401, "the seeds' JSON alias: {}", notifications.text);
    // Other methods on an app path are not the app.
    let post = app.post("/jobs", serde_json::json!({}), None).await;
    post.expect(404, Some("not_found"));
}

/// web/scripts/source-hash.mjs's algorithm: every file under web/ except node_modules,
/// dist, test-results, screenshots and dot-files, plus every file under clients/js/src/;
/// paths relative to the repository root with `/`, sorted; SHA-256 over `path \n bytes \n`.
fn source_hash(root: &Path) -> String {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = entry.path();
            if path.is_dir() {
                if !skip.contains(&name.as_str()) {
                    walk(root, &path, skip, out);
                }
            } else {
                let rel = path.strip_prefix(root).expect("under the root");
                out.push(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"));
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &root.join("web"), &["node_modules", "dist", "test-results", "screenshots"], &mut files);
    walk(root, &root.join("clients/js/src"), &[], &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for file in &files {
        hash.update(file.as_bytes());
        hash.update(b"\n");
        hash.update(std::fs::read(root.join(file)).expect("read a source file"));
        hash.update(b"\n");
    }
    hex::encode(hash.finalize())
}

#[test]
fn the_committed_build_is_as_new_as_its_sources() {
    let root = repo();
    let recorded = std::fs::read_to_string(root.join("web/dist/source-hash.txt"))
        .expect("web/dist/source-hash.txt: build the web client (cd web && npm run build)");
    assert_eq!(
        recorded.trim(),
        source_hash(&root),
        "web/dist is older than its sources: run `cd web && npm run build` and commit web/dist"
    );
}
