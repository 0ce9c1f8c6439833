//! Platform hardening, end to end (docs/security.md): bounded search, security headers,
//! envelopes for CORS refusals, codec-level errors over raw TCP, protected metrics,
//! per-user WebSocket caps, blocked senders' edits and deletions, notification links.

use std::time::Duration;

use agora_tests::{spawn_app, spawn_app_with, Encoding, Reply, TestApp, TestUser};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

/// A fresh user registered with `role`.
async fn member(app: &TestApp, tag: &str, role: &str) -> TestUser {
    let email = agora_tests::email(tag);
    let body = app.register(&email, role).await;
    TestUser {
        id: body["user"]["id"].as_str().expect("user id").to_string(),
        email,
        token: body["access"].as_str().expect("access token").to_string(),
    }
}

fn q(text: &str) -> String {
    let mut s = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() {
            s.push(char::from(b));
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[track_caller]
fn refused_on_q(r: &Reply) {
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["q"].is_array(), "the problem is on q: {}", r.text);
}

#[actix_web::test]
async fn hostile_search_queries_are_refused_or_bounded_and_the_server_stays_responsive() {
    let app = spawn_app().await;
    let prov = member(&app, "prov", "provider").await;
    let r = app
        .post("/api/providers", json!({"bio": "pipe plumber on call", "hourly_rate": usd(5000)}), Some(&prov.token))
        .await;
    r.expect(201, None);
    let body = json!({"title": "Pipe plumber on call", "description": "Leaks fixed fast", "price": usd(9000)});
    app.post("/api/services", body, Some(&prov.token)).await.expect(201, None);

    let ones = |n: usize| vec!["a"; n].join(" ");
    let slop = format!("\"{}\"~100000", ones(600));
    let thousand = ones(1000);
    let huge = "x".repeat(10 * 1024);
    let seventeen = ones(17);
    let over_chars = format!("plumber {}", "y".repeat(200));
    let refused = [slop.as_str(), thousand.as_str(), huge.as_str(), seventeen.as_str(), over_chars.as_str()];
    let bounded = ["title:*", "\"pipe plumber", "pipe\" \"plumber\"\"", "body:* OR title:[a TO z]^9 fuzzy~2", "*"];
    for path in ["/api/services", "/api/providers", "/api/jobs"] {
        // Fire every hostile query at once, with a health check alongside: the health
        // check must answer while they run.
        let mut requests = Vec::new();
        for text in refused.iter().chain(bounded.iter()) {
            let client = app.client.clone();
            let url = app.url(&format!("{path}?q={}", q(text)));
            let token = prov.token.clone();
            requests.push(actix_web::rt::spawn(async move {
                let res = client.get(url).bearer_auth(token).send().await.expect("search sent");
                let status = res.status().as_u16();
                let headers = res.headers().clone();
                let text = res.text().await.expect("body");
                let json = serde_json::from_str(&text).unwrap_or(Value::Null);
                Reply { status, headers, text, json }
            }));
        }
        app.get("/api/health", None).await.expect(200, None);
        let mut replies = Vec::new();
        for r in requests {
            replies.push(r.await.expect("search task"));
        }
        for (r, text) in replies.iter().zip(refused.iter().chain(bounded.iter())) {
            let shown: String = text.chars().take(40).collect();
            if refused.contains(text) {
                assert_eq!(r.status, 400, "{path} q={shown}...: {}", r.text);
                refused_on_q(r);
            } else {
                assert_eq!(r.status, 200, "{path} q={shown}: a malformed query is plain words: {}", r.text);
                assert!(r.json["results"].is_array(), "{}", r.text);
            }
        }
    }
    // The caps themselves are inclusive, and plain search still ranks and finds.
    let r = app.get(&format!("/api/services?q={}", q(&ones(16))), None).await;
    r.expect(200, None);
    let r = app.get(&format!("/api/services?q={}", q("\"pipe plumber\"")), None).await;
    r.expect(200, None);
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(1), "phrase found: {}", r.text);
    let r = app.get(&format!("/api/services?q={}", q("\"plumber pipe\"")), None).await;
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(0), "no slop: {}", r.text);
    // `title:*` used to be a 503; now it is the word "title".
    let r = app.get(&format!("/api/services?q={}", q("title:*")), None).await;
    r.expect(200, None);
    app.get("/api/health", None).await.expect(200, None);
}

fn header<'a>(r: &'a Reply, name: &str) -> Option<&'a str> {
    r.headers.get(name).and_then(|v| v.to_str().ok())
}

#[track_caller]
fn hardened(r: &Reply) {
    assert_eq!(header(r, "x-content-type-options"), Some("nosniff"), "{}", r.status);
    assert_eq!(header(r, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(r, "x-frame-options"), Some("DENY"));
    let csp = header(r, "content-security-policy").unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "csp: {csp}");
}

#[actix_web::test]
async fn every_response_carries_the_security_headers() {
    let app = spawn_app().await;
    let u = app.user("h").await;
    let ok = app.get("/api/health", None).await;
    hardened(&ok);
    assert!(header(&ok, "content-security-policy").is_some_and(|c| c.contains("default-src 'none'")));
    assert_eq!(header(&ok, "strict-transport-security"), None, "plain HTTP, no trusted proxy");
    assert_eq!(header(&ok, "cache-control"), None, "anonymous answers may be cached");
    let missing = app.get("/api/nothing-here", None).await;
    missing.expect(404, Some("not_found"));
    hardened(&missing);
    let unauthorized = app.get("/api/auth/me", None).await;
    unauthorized.expect(401, Some("unauthorized"));
    hardened(&unauthorized);
    let wrong_method = app.send(app.client.put(app.url("/api/health"))).await;
    hardened(&wrong_method);
    let me = app.get("/api/auth/me", Some(&u.token)).await;
    me.expect(200, None);
    hardened(&me);
    assert_eq!(header(&me, "cache-control"), Some("no-store"), "authenticated answers are not stored");
    let denied = app.get("/api/auth/me", Some("not-a-token")).await;
    assert_eq!(header(&denied, "cache-control"), Some("no-store"));
    // Swagger UI keeps its scripts: only frame-ancestors there.
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status, 200, "{}", docs.text);
    hardened(&docs);
    assert!(!header(&docs, "content-security-policy").unwrap_or("").contains("default-src"), "docs still render");
    // X-Forwarded-Proto is ignored unless the proxy is trusted.
    let spoofed = app.send(app.client.get(app.url("/api/health")).header("x-forwarded-proto", "https")).await;
    assert_eq!(header(&spoofed, "strict-transport-security"), None);

    let proxied = spawn_app_with(|s| s.trust_proxy = agora_http::config::Switch::On).await;
    let via_tls =
        proxied.send(proxied.client.get(proxied.url("/api/health")).header("x-forwarded-proto", "https")).await;
    assert!(header(&via_tls, "strict-transport-security").is_some_and(|h| h.starts_with("max-age=")));
    let via_http =
        proxied.send(proxied.client.get(proxied.url("/api/health")).header("x-forwarded-proto", "http")).await;
    assert_eq!(header(&via_http, "strict-transport-security"), None);
    let err = proxied.send(proxied.client.get(proxied.url("/api/nope")).header("x-forwarded-proto", "https")).await;
    assert!(header(&err, "strict-transport-security").is_some(), "errors too");
}

#[actix_web::test]
async fn a_refused_cors_preflight_answers_the_error_envelope() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://good.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/services"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
    };
    let good = app.send(preflight("https://good.example")).await;
    assert!(good.status < 300, "allowed preflight: {} {}", good.status, good.text);
    let evil = app.send(preflight("https://evil.example")).await;
    assert_eq!(evil.status, 400, "{}", evil.text);
    evil.expect(400, Some("bad_request"));
    hardened(&evil);
}

/// Sends raw bytes on a fresh TCP connection and reads until the server closes it (or 5 s).
async fn raw(app: &TestApp, request: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", app.port)).await.expect("connect");
    // The server may answer (and close) before it has read everything we send.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[actix_web::test]
async fn codec_level_errors_over_raw_tcp() {
    let app = spawn_app().await;
    // Oversized request head: actix-http answers 431 itself, before any middleware.
    let big = format!("GET /api/health HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(256 * 1024));
    let answer = raw(&app, big.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer:.200}");
    // Malformed request line: 400.
    let answer = raw(&app, b"NOT A REQUEST\x01\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer:.200}");
    // A well-formed request on the same path works and is hardened (errors produced by
    // the codec cannot be: see docs/security.md).
    let answer = raw(&app, b"GET /api/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:.200}");
    assert!(answer.to_ascii_lowercase().contains("x-content-type-options: nosniff"), "{answer:.400}");
    // An unknown API path is the JSON 404 (other unknown paths are the web app's routes:
    // tests/tests/web.rs).
    let answer = raw(&app, b"GET /api/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer:.200}");
    assert!(answer.contains(r#"{"error":{"code":"not_found""#), "{answer:.400}");
}

#[actix_web::test]
async fn metrics_can_require_a_token_or_move_to_their_own_listener() {
    // Default: public, as before.
    let open = spawn_app().await;
    let r = open.get("/metrics", None).await;
    assert_eq!(r.status, 200);
    assert!(r.text.contains("agora_"), "prometheus text: {:.200}", r.text);

    let token = "metrics-token-0123456789";
    let locked = spawn_app_with(|s| s.metrics_token = Some(token.into())).await;
    locked.get("/metrics", None).await.expect(401, Some("unauthorized"));
    locked.get("/metrics", Some("wrong-token")).await.expect(401, Some("unauthorized"));
    locked.get("/metrics", Some(&format!("{token}x"))).await.expect(401, Some("unauthorized"));
    let r = locked.get("/metrics", Some(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("agora_"));

    let apart = spawn_app_with(|s| s.metrics_listen = Some("127.0.0.1:0".into())).await;
    apart.get("/metrics", None).await.expect(404, Some("not_found"));
    let port = apart.metrics_port.expect("metrics listener");
    let r = apart.send(apart.client.get(format!("http://127.0.0.1:{port}/metrics"))).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert!(r.text.contains("agora_"));
    let other = apart.send(apart.client.get(format!("http://127.0.0.1:{port}/api/health"))).await;
    other.expect(404, Some("not_found"));
}

#[actix_web::test]
async fn websocket_connections_per_user_are_capped() {
    let app = spawn_app_with(|s| s.ws_frames_per_sec = 1000).await;
    let u = app.user("many").await;
    let other = app.user("other").await;
    let mut open = Vec::new();
    for _ in 0..20 {
        open.push(app.ws(&u.token, Encoding::Json).await);
    }
    let (mut extra, first) = app.ws_raw(&format!("/ws?token={}", u.token), None, Encoding::Json).await;
    assert!(first.is_none(), "the 21st connection gets no hello: {first:?}");
    assert_eq!(extra.close.as_ref().map(|c| c.0), Some(4008));
    assert_eq!(extra.close.as_ref().map(|c| c.1.as_str()), Some("too many connections"));
    assert!(extra.recv_timeout(Duration::from_millis(100)).await.is_none());
    // The cap is per user.
    let _theirs = app.ws(&other.token, Encoding::Json).await;
    // The first twenty still work.
    for ws in open.iter_mut() {
        ws.send(json!({"type": "ping"})).await;
        ws.expect("pong").await;
    }
    // Closing one makes room for one.
    let mut gone = open.pop().expect("a connection");
    gone.stream.close(None).await.expect("close");
    let mut accepted = None;
    for _ in 0..50 {
        let (ws, first) = app.ws_raw(&format!("/ws?token={}", u.token), None, Encoding::Json).await;
        if first.as_ref().is_some_and(|f| f["type"] == "hello") {
            accepted = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = accepted.expect("a connection is accepted again after one closed");
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

#[actix_web::test]
async fn a_blocked_sender_cannot_edit_or_delete_old_messages() {
    let app = spawn_app().await;
    let (a, b) = (app.user("blocker").await, app.user("blocked").await);
    let conv = app.conversation(&b, &[&a]).await;
    let mut ids = Vec::new();
    for body in ["one", "two"] {
        let r = app.post(&format!("/api/conversations/{conv}/messages"), json!({"body": body}), Some(&b.token)).await;
        r.expect(201, None);
        ids.push(r.json["id"].as_str().or(r.json["message_id"].as_str()).expect("message id").to_string());
    }
    app.put(&format!("/api/blocks/{}", b.id), json!({}), Some(&a.token)).await.expect(200, None);
    // REST.
    let m = &ids[0];
    app.patch(&format!("/api/messages/{m}"), json!({"body": "changed"}), Some(&b.token))
        .await
        .expect(403, Some("blocked"));
    app.delete(&format!("/api/messages/{m}"), Some(&b.token)).await.expect(403, Some("blocked"));
    // WebSocket.
    let mut ws = app.ws(&b.token, Encoding::Json).await;
    ws.send(json!({"type": "edit", "message_id": m, "body": "changed"})).await;
    let e = ws.expect("error").await;
    assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("blocked"), Some(m.as_str())), "{e}");
    ws.send(json!({"type": "delete", "message_id": ids[1]})).await;
    let e = ws.expect("error").await;
    assert_eq!((e["code"].as_str(), e["ref"].as_str()), (Some("blocked"), Some(ids[1].as_str())), "{e}");
    // Nothing changed.
    let history = app.get(&format!("/api/conversations/{conv}/messages"), Some(&a.token)).await;
    history.expect(200, None);
    let bodies: Vec<&str> =
        history.json["results"].as_array().expect("results").iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, vec!["two", "one"], "{}", history.text);
    // Unblocked, editing works again.
    app.delete(&format!("/api/blocks/{}", b.id), Some(&a.token)).await.expect(204, None);
    app.patch(&format!("/api/messages/{m}"), json!({"body": "changed"}), Some(&b.token)).await.expect(200, None);
}

#[actix_web::test]
async fn notification_links_must_be_site_paths_or_http_urls() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let to = app.user("to").await;
    let announce = |url: &'static str| {
        app.post(
            "/api/admin/notifications",
            json!({"user_id": to.id, "title": "Hi", "message": "Look", "action_url": url}),
            Some(&admin.token),
        )
    };
    for bad in
        ["javascript:alert(1)", "JAVASCRIPT:alert(document.cookie)", "//evil.example/x", "data:text/html,x", "/\\evil"]
    {
        let r = announce(bad).await;
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"]["action_url"].is_array(), "{bad}: {}", r.text);
    }
    for good in ["/contracts/123", "https://example.com/help", "http://example.com"] {
        let r = announce(good).await;
        r.expect(201, None);
        assert_eq!(r.json["action_url"], good);
    }
}
