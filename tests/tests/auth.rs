//! Accounts and auth end to end: real server on port 0, real HTTP client.

use agora_engine::{Role, SessionId, UserId};
use agora_http::auth::JwtKeys;
use agora_tests::{email, spawn_app, spawn_app_with, start, test_settings, PASSWORD, TEST_JWT_SECRET};
use serde_json::json;

fn s(v: &serde_json::Value) -> String {
    v.as_str().expect("string").to_string()
}

#[actix_web::test]
async fn register_login_me_refresh_logout() {
    let app = spawn_app().await;
    let addr = email("flow");
    let reg = app
        .post(
            "/api/auth/register",
            json!({"email": addr.to_uppercase(), "password": PASSWORD, "role": "provider", "username": "Flow_User", "first_name": " Ann ", "last_name": "Lee"}),
            None,
        )
        .await;
    reg.expect(201, None);
    let user = &reg.json["user"];
    assert_eq!(user["email"], json!(addr), "email is normalized to lower case");
    assert_eq!(user["role"], "provider");
    assert_eq!(user["username"], "flow_user");
    assert_eq!(user["first_name"], "Ann");
    assert_eq!(user["email_verified"], false);
    assert!(user.get("password_hash").is_none() && !reg.text.contains("argon2"), "no hash leaks: {}", reg.text);

    let login = app.login(&addr, PASSWORD).await;
    login.expect(200, None);
    let access = s(&login.json["access"]);
    let refresh = s(&login.json["refresh"]);
    assert_eq!(login.json["user"]["id"], user["id"]);

    // Username login works too.
    app.post("/api/auth/login", json!({"username": "flow_user", "password": PASSWORD}), None).await.expect(200, None);

    let me = app.get("/api/auth/me", Some(&access)).await;
    me.expect(200, None);
    assert_eq!(me.json["email"], json!(addr));

    // Rotation: the refresh token works once.
    let r1 = app.post("/api/auth/refresh", json!({"refresh": refresh}), None).await;
    r1.expect(200, None);
    let (access2, refresh2) = (s(&r1.json["access"]), s(&r1.json["refresh"]));
    assert_ne!(refresh2, refresh);
    app.get("/api/auth/me", Some(&access2)).await.expect(200, None);

    // Logout revokes the family and the presented access token.
    let out = app
        .send(app.client.post(app.url("/api/auth/logout")).bearer_auth(&access2).json(&json!({"refresh": refresh2})))
        .await;
    out.expect(204, None);
    app.get("/api/auth/me", Some(&access2)).await.expect(401, Some("token_revoked"));
    app.get("/api/auth/me", Some(&access)).await.expect(401, Some("token_revoked"));
    app.post("/api/auth/refresh", json!({"refresh": refresh2}), None).await.expect(401, Some("token_revoked"));

    // Other sessions (the username login) are untouched.
    let again = app.login(&addr, PASSWORD).await;
    app.get("/api/auth/me", Some(&s(&again.json["access"]))).await.expect(200, None);
}

#[actix_web::test]
async fn reusing_a_rotated_refresh_token_revokes_the_family() {
    let app = spawn_app().await;
    let addr = email("reuse");
    let reg = app.register(&addr, "client").await;
    let refresh = s(&reg["refresh"]);
    let rotated = app.post("/api/auth/refresh", json!({"refresh": refresh}), None).await;
    rotated.expect(200, None);
    let new_access = s(&rotated.json["access"]);
    let new_refresh = s(&rotated.json["refresh"]);

    // The old one again: refused, and the whole family dies.
    app.post("/api/auth/refresh", json!({"refresh": refresh}), None).await.expect(401, Some("refresh_token_reused"));
    app.post("/api/auth/refresh", json!({"refresh": new_refresh}), None).await.expect(401, Some("token_revoked"));
    app.get("/api/auth/me", Some(&new_access)).await.expect(401, Some("token_revoked"));
    app.post("/api/auth/verify", json!({"token": new_access}), None).await.expect(401, Some("token_revoked"));
}

#[actix_web::test]
async fn aliases_and_trailing_slashes() {
    let app = spawn_app().await;
    let addr = email("alias");
    app.register(&addr, "worker").await;
    let tok = app.post("/api/auth/token/", json!({"email": addr, "password": PASSWORD}), None).await;
    tok.expect(200, None);
    let access = s(&tok.json["access"]);
    app.post("/api/auth/token/verify", json!({"token": access}), None).await.expect(200, None);
    app.post("/api/auth/verify/", json!({"token": access}), None).await.expect(200, None);
    let r = app.post("/api/auth/token/refresh/", json!({"refresh": tok.json["refresh"]}), None).await;
    r.expect(200, None);
    app.get("/api/auth/me/", Some(&access)).await.expect(200, None);
    app.get("/api/health/", None).await.expect(200, None);
}

#[actix_web::test]
async fn bad_input_gets_the_envelope_with_the_right_status() {
    let app = spawn_app_with(|s| s.max_body_bytes = 4096).await;
    let post_raw = |body: &'static str, ct: &'static str| {
        app.client.post(app.url("/api/auth/register")).header("content-type", ct).body(body)
    };

    app.send(post_raw("{\"email\": ", "application/json")).await.expect(400, Some("invalid_json"));
    app.send(post_raw("{\"email\": 5, \"password\": true}", "application/json"))
        .await
        .expect(400, Some("invalid_json"));
    app.send(post_raw("[1,2,3]", "application/json")).await.expect(400, Some("invalid_json"));
    app.send(post_raw("email=a", "application/x-www-form-urlencoded"))
        .await
        .expect(415, Some("unsupported_media_type"));
    let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(10_000));
    app.send(app.client.post(app.url("/api/auth/register")).header("content-type", "application/json").body(huge))
        .await
        .expect(413, Some("payload_too_large"));

    let r = app
        .post("/api/auth/register", json!({"email": "not-an-email", "password": "short", "role": "client"}), None)
        .await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["email"].is_array(), "{}", r.text);
    assert!(r.json["error"]["fields"]["password"].is_array(), "{}", r.text);

    let r = app.post("/api/auth/register", json!({"email": email("weak"), "password": "password123"}), None).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["password"].is_array());

    let r = app.post("/api/auth/register", json!({}), None).await;
    r.expect(400, Some("validation_failed"));
    assert_eq!(r.json["error"]["fields"]["email"][0], "is required");

    let r = app
        .post("/api/auth/register", json!({"email": email("adm"), "password": PASSWORD, "role": "admin"}), None)
        .await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["role"].is_array());
    app.post("/api/auth/register", json!({"email": email("r"), "password": PASSWORD, "role": "wizard"}), None)
        .await
        .expect(400, Some("validation_failed"));

    let dup = email("dup");
    app.register(&dup, "client").await;
    app.post("/api/auth/register", json!({"email": dup.to_uppercase(), "password": PASSWORD}), None)
        .await
        .expect(409, Some("email_taken"));
    app.post("/api/auth/register", json!({"email": email("u1"), "password": PASSWORD, "username": "same_name"}), None)
        .await
        .expect(201, None);
    app.post("/api/auth/register", json!({"email": email("u2"), "password": PASSWORD, "username": "Same_Name"}), None)
        .await
        .expect(409, Some("username_taken"));

    app.login(&dup, "wrong password 123").await.expect(401, Some("invalid_credentials"));
    app.login(&email("nobody"), PASSWORD).await.expect(401, Some("invalid_credentials"));
    app.post("/api/auth/login", json!({"password": PASSWORD}), None).await.expect(400, Some("validation_failed"));
    app.post("/api/auth/refresh", json!({}), None).await.expect(400, Some("validation_failed"));
    app.post("/api/auth/refresh", json!({"refresh": "garbage"}), None).await.expect(401, Some("invalid_token"));

    // Unknown routes and wrong methods: envelope, never HTML.
    app.get("/api/nope", None).await.expect(404, Some("not_found"));
    app.get("/nope.html", None).await.expect(404, Some("not_found"));
    let r = app.get("/api/auth/login", None).await;
    r.expect(405, Some("method_not_allowed"));
    app.send(app.client.delete(app.url("/api/auth/me"))).await.expect(405, Some("method_not_allowed"));
    app.get("/api/users/not-a-uuid", None).await.expect(404, Some("not_found"));
    app.get(&format!("/api/users/{}", uuid::Uuid::now_v7()), None).await.expect(404, Some("not_found"));
}

#[actix_web::test]
async fn tampered_expired_revoked_and_wrong_kind_tokens_are_refused() {
    let app = spawn_app().await;
    let reg = app.register(&email("tok"), "client").await;
    let access = s(&reg["access"]);
    let refresh = s(&reg["refresh"]);
    let user_id = UserId::parse(reg["user"]["id"].as_str().expect("id")).expect("uuid");

    app.get("/api/auth/me", None).await.expect(401, Some("unauthorized"));
    let bad = app.send(app.client.get(app.url("/api/auth/me")).header("authorization", "Basic abc")).await;
    bad.expect(401, Some("unauthorized"));

    let mut tampered = access.clone();
    let last = tampered.pop().expect("non-empty");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    app.get("/api/auth/me", Some(&tampered)).await.expect(401, Some("invalid_token"));
    // Same payload, signed with another key.
    let foreign = JwtKeys::new(b"some-other-secret-some-other-secret", 900, 3600);
    let sid = SessionId::from_uuid(uuid::Uuid::now_v7());
    let forged = foreign.access_token(user_id, Role::Admin, sid, time::OffsetDateTime::now_utc()).expect("sign");
    app.get("/api/auth/me", Some(&forged)).await.expect(401, Some("invalid_token"));

    // Expired: minted with the server's key an hour ago.
    let keys = JwtKeys::new(TEST_JWT_SECRET.as_bytes(), 900, 3600);
    let expired = keys
        .access_token(user_id, Role::Client, sid, time::OffsetDateTime::now_utc() - time::Duration::hours(2))
        .expect("sign");
    app.get("/api/auth/me", Some(&expired)).await.expect(401, Some("token_expired"));
    app.post("/api/auth/verify", json!({"token": expired}), None).await.expect(401, Some("token_expired"));

    // A valid signature for a session that never existed is not honoured.
    let ghost = keys.access_token(user_id, Role::Client, sid, time::OffsetDateTime::now_utc()).expect("sign");
    app.get("/api/auth/me", Some(&ghost)).await.expect(401, Some("token_revoked"));

    // A refresh token is not an access token, nor the reverse.
    app.get("/api/auth/me", Some(&refresh)).await.expect(401, Some("wrong_token_type"));
    app.post("/api/auth/refresh", json!({"refresh": access}), None).await.expect(401, Some("wrong_token_type"));

    app.post("/api/auth/verify", json!({"token": access}), None).await.expect(200, None);
    app.post("/api/auth/verify", json!({"token": refresh}), None).await.expect(200, None);
    app.post("/api/auth/logout", json!({"refresh": refresh}), None).await.expect(204, None);
    app.get("/api/auth/me", Some(&access)).await.expect(401, Some("token_revoked"));
    app.post("/api/auth/verify", json!({"token": access}), None).await.expect(401, Some("token_revoked"));
}

#[actix_web::test]
async fn password_reset_by_email_is_single_use_and_revokes_sessions() {
    let app = spawn_app().await;
    let addr = email("reset");
    let reg = app.register(&addr, "client").await;
    let old_access = s(&reg["access"]);

    // Unknown accounts get the same answer, and no email.
    let ghost = email("ghost");
    app.post("/api/auth/password-reset", json!({"email": ghost}), None).await.expect(202, None);
    app.post("/api/auth/password-reset/", json!({"email": addr}), None).await.expect(202, None);
    app.post("/api/auth/password-reset", json!({"email": "nope"}), None).await.expect(400, Some("validation_failed"));
    let token = app.token_from_email(&addr, "Reset your Agora password").await;
    assert_eq!(app.emails_to(&ghost), 0);

    app.post("/api/auth/password-reset/confirm", json!({"token": token, "new_password": "short"}), None)
        .await
        .expect(400, Some("validation_failed"));
    app.post(
        "/api/auth/password-reset/confirm",
        json!({"token": "not-a-real-token", "new_password": "a brand new secret 7"}),
        None,
    )
    .await
    .expect(400, Some("invalid_token"));
    app.post("/api/auth/password-reset/confirm", json!({"token": token, "new_password": "a brand new secret 7"}), None)
        .await
        .expect(204, None);
    app.post("/api/auth/password-reset/confirm", json!({"token": token, "new_password": "another new secret 8"}), None)
        .await
        .expect(400, Some("invalid_token"));

    app.get("/api/auth/me", Some(&old_access)).await.expect(401, Some("token_revoked"));
    app.login(&addr, PASSWORD).await.expect(401, Some("invalid_credentials"));
    let fresh = app.login(&addr, "a brand new secret 7").await;
    fresh.expect(200, None);
    assert_eq!(fresh.json["user"]["email_verified"], true, "a reset proves the address");
}

#[actix_web::test]
async fn email_verification_token_is_single_use() {
    let app = spawn_app().await;
    let addr = email("verify");
    let reg = app.register(&addr, "worker").await;
    let access = s(&reg["access"]);
    let token = app.token_from_email(&addr, "Verify your Agora email address").await;
    app.post("/api/auth/verify-email", json!({"token": "bogus"}), None).await.expect(400, Some("invalid_token"));
    app.post("/api/auth/verify-email", json!({"token": token}), None).await.expect(204, None);
    app.post("/api/auth/verify-email", json!({"token": token}), None).await.expect(400, Some("invalid_token"));
    let me = app.get("/api/auth/me", Some(&access)).await;
    assert_eq!(me.json["email_verified"], true);
    app.post("/api/auth/verify-email/resend", json!({}), Some(&access)).await.expect(409, Some("already_verified"));
    app.post("/api/auth/verify-email/resend", json!({}), None).await.expect(401, Some("unauthorized"));
}

#[actix_web::test]
async fn password_change_revokes_other_sessions_and_profile_edits_validate() {
    let app = spawn_app().await;
    let addr = email("chg");
    let a = app.register(&addr, "client").await;
    let other = app.login(&addr, PASSWORD).await;
    let (access, other_access) = (s(&a["access"]), s(&other.json["access"]));

    app.post(
        "/api/auth/password/change",
        json!({"old_password": "wrong one 12345", "new_password": "fresh secret 42x"}),
        Some(&access),
    )
    .await
    .expect(400, Some("validation_failed"));
    app.post("/api/auth/password/change", json!({"old_password": PASSWORD, "new_password": "weak"}), Some(&access))
        .await
        .expect(400, Some("validation_failed"));
    app.post(
        "/api/auth/password/change",
        json!({"old_password": PASSWORD, "new_password": "fresh secret 42x"}),
        Some(&access),
    )
    .await
    .expect(204, None);
    app.get("/api/auth/me", Some(&access)).await.expect(200, None);
    app.get("/api/auth/me", Some(&other_access)).await.expect(401, Some("token_revoked"));
    app.login(&addr, "fresh secret 42x").await.expect(200, None);

    let r = app.patch("/api/auth/me", json!({"first_name": "Zoë", "username": "zoe.k"}), Some(&access)).await;
    r.expect(200, None);
    assert_eq!((r.json["first_name"].as_str(), r.json["username"].as_str()), (Some("Zoë"), Some("zoe.k")));
    app.patch("/api/auth/me", json!({"username": "x"}), Some(&access)).await.expect(400, Some("validation_failed"));
    app.patch("/api/auth/me", json!({"first_name": "a".repeat(101)}), Some(&access))
        .await
        .expect(400, Some("validation_failed"));
    let b = app.register(&email("other"), "client").await;
    app.patch("/api/auth/me", json!({"username": "zoe.k"}), Some(&s(&b["access"])))
        .await
        .expect(409, Some("username_taken"));
    // The old username is released on change.
    app.patch("/api/auth/me", json!({"username": "zoe.new"}), Some(&access)).await.expect(200, None);
    app.patch("/api/auth/me", json!({"username": "zoe.k"}), Some(&s(&b["access"]))).await.expect(200, None);
}

#[actix_web::test]
async fn public_profiles_hide_email_from_others() {
    let app = spawn_app().await;
    let a = app.register(&email("pa"), "provider").await;
    let b = app.register(&email("pb"), "client").await;
    let path = format!("/api/users/{}", s(&a["user"]["id"]));
    let own = app.get(&path, Some(&s(&a["access"]))).await;
    own.expect(200, None);
    assert!(own.json["email"].is_string());
    let seen = app.get(&path, Some(&s(&b["access"]))).await;
    seen.expect(200, None);
    assert!(seen.json.get("email").is_none(), "{}", seen.text);
    assert_eq!(seen.json["role"], "provider");
    let anon = app.get(&path, None).await;
    assert!(anon.json.get("email").is_none());
}

#[actix_web::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(|s| {
        s.rate_auth_per_min = 3;
        s.rate_anonymous_per_min = 5;
    })
    .await;
    for _ in 0..3 {
        app.login(&email("rl"), PASSWORD).await.expect(401, Some("invalid_credentials"));
    }
    let limited = app.login(&email("rl"), PASSWORD).await;
    limited.expect(429, Some("rate_limited"));
    let retry: u64 =
        limited.headers.get("retry-after").expect("Retry-After").to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");

    for _ in 0..5 {
        app.get("/api/users/00000000-0000-0000-0000-000000000000", None).await.expect(404, Some("not_found"));
    }
    app.get("/api/users/00000000-0000-0000-0000-000000000000", None).await.expect(429, Some("rate_limited"));
    // Health, readiness and metrics are exempt.
    for _ in 0..10 {
        app.get("/api/health", None).await.expect(200, None);
        app.get("/api/ready", None).await.expect(200, None);
    }
    app.get("/metrics", None).await.expect(200, None);
}

#[actix_web::test]
async fn failed_logins_lock_the_account_for_a_while() {
    let app = spawn_app().await;
    let addr = email("lock");
    app.register(&addr, "client").await;
    for _ in 0..5 {
        app.login(&addr, "not my password 1").await.expect(401, Some("invalid_credentials"));
    }
    // Even the right password is refused now, and says when to come back.
    let r = app.login(&addr, PASSWORD).await;
    r.expect(429, Some("rate_limited"));
    assert!(r.headers.get("retry-after").is_some());
    // Other accounts are unaffected.
    let other = email("free");
    app.register(&other, "client").await;
    app.login(&other, PASSWORD).await.expect(200, None);
}

#[actix_web::test]
async fn rate_limits_off_turns_everything_off() {
    let app = spawn_app_with(|s| {
        s.rate_limits = agora_http::config::Switch::Off;
        s.rate_auth_per_min = 1;
    })
    .await;
    let addr = email("off");
    app.register(&addr, "client").await;
    for _ in 0..7 {
        app.login(&addr, "not my password 1").await.expect(401, Some("invalid_credentials"));
    }
    app.login(&addr, PASSWORD).await.expect(200, None);
}

#[actix_web::test]
async fn tokens_survive_a_restart_with_a_generated_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = test_settings(dir.path());
    settings.jwt_secret = None;
    let first = start(settings.clone()).await;
    let reg = first.register(&email("restart"), "client").await;
    assert!(dir.path().join("jwt_secret").exists(), "the generated secret is kept in the data dir");
    // A second server on the same data dir (same file, same secret) honours the token.
    let second = start(settings).await;
    second.get("/api/auth/me", Some(&s(&reg["access"]))).await.expect(200, None);
}

#[actix_web::test]
async fn operations_endpoints() {
    let app = spawn_app().await;
    let h = app.get("/api/health", None).await;
    h.expect(200, None);
    assert_eq!(h.json, json!({"status": "ok"}));
    assert!(h.headers.get("x-request-id").is_some(), "request ids are returned");
    let r = app.get("/api/ready", None).await;
    r.expect(200, None);
    assert_eq!(r.json["storage"], "sqlite");

    let reg = app.register(&email("m"), "client").await;
    app.get(&format!("/api/users/{}", s(&reg["user"]["id"])), None).await.expect(200, None);
    let m = app.get("/metrics", None).await;
    m.expect(200, None);
    assert!(m.text.contains("agora_http_requests_total"), "{}", m.text);
    assert!(m.text.contains(r#"route="/api/users/{id}""#), "route patterns, not paths");
    assert!(!m.text.contains(reg["user"]["id"].as_str().expect("id")), "ids never become labels");
    assert!(m.text.contains("agora_http_request_duration_seconds"));
    assert!(m.text.contains("agora_storage_ops_total"));
    assert!(m.text.contains("agora_storage_op_duration_seconds"));

    let schema = app.get("/api/schema", None).await;
    schema.expect(200, None);
    assert!(schema.json["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/auth/register",
        "/api/auth/login",
        "/api/auth/token",
        "/api/auth/refresh",
        "/api/auth/token/refresh",
        "/api/auth/verify",
        "/api/auth/token/verify",
        "/api/auth/logout",
        "/api/auth/me",
        "/api/auth/password/change",
        "/api/auth/password-reset",
        "/api/auth/password-reset/confirm",
        "/api/auth/verify-email",
        "/api/auth/verify-email/resend",
        "/api/users/{id}",
        "/api/health",
        "/api/ready",
        "/metrics",
    ] {
        assert!(schema.json["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    let docs = app.get("/docs/", None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text.contains("swagger-ui"), "docs page: {}", &docs.text[..docs.text.len().min(300)]);
    let redirect = app.get("/docs", None).await;
    assert!(matches!(redirect.status, 301 | 308), "{}", redirect.status);
}

#[actix_web::test]
async fn cors_allows_only_configured_origins() {
    let app = spawn_app_with(|s| s.cors_origins = vec!["https://app.example".into()]).await;
    let ok = app
        .send(
            app.client
                .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
                .header("origin", "https://app.example")
                .header("access-control-request-method", "POST"),
        )
        .await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.headers.get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("https://app.example")
    );
    let other = app.send(app.client.get(app.url("/api/health")).header("origin", "https://evil.example")).await;
    assert!(other.headers.get("access-control-allow-origin").is_none());
}
