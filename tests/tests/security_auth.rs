//! Security fixes around accounts, end to end against the real server on port 0: the
//! failed-login policy (a lock reaches only the source that caused it and tells nothing
//! about accounts), reset-token revocation, the registration-attempt email, the auth and
//! write rate-limit classes, owner-only files, money validation and the reset alias.

use std::net::IpAddr;

use agora_tests::{client_from, email, spawn_app, spawn_app_with, start, test_settings, TestApp, TestUser, PASSWORD};
use serde_json::{json, Value};

const WRONG: &str = "not my password 1";

fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

async fn login_from(app: &TestApp, client: &reqwest::Client, body: Value) -> agora_tests::Reply {
    app.send(client.post(app.url("/api/auth/login")).json(&body)).await
}

/// Registers `addr` with a username; answers the username.
async fn register_with_username(app: &TestApp, addr: &str, tag: &str) -> String {
    let username = format!("{tag}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let r = app
        .post(
            "/api/auth/register",
            json!({"email": addr, "password": PASSWORD, "role": "client", "username": username}),
            None,
        )
        .await;
    r.expect(201, None);
    username
}

// ---- 1. lockout abuse

#[actix_web::test]
async fn a_locked_out_source_does_not_lock_the_owner_out() {
    let app = spawn_app().await;
    let addr = email("owner");
    app.register(&addr, "client").await;
    let attacker = client_from(ip(2));
    for _ in 0..5 {
        login_from(&app, &attacker, json!({"email": addr, "password": WRONG}))
            .await
            .expect(401, Some("invalid_credentials"));
    }
    // The source that caused the lock is refused, even with the right password, and told when to come back.
    let locked = login_from(&app, &attacker, json!({"email": addr, "password": PASSWORD})).await;
    locked.expect(429, Some("rate_limited"));
    let retry: u64 =
        locked.headers.get("retry-after").expect("Retry-After").to_str().expect("ascii").parse().expect("secs");
    assert!((1..=15 * 60).contains(&retry), "{retry}");
    // The owner, from another address, still logs in.
    let owner = client_from(ip(1));
    login_from(&app, &owner, json!({"email": addr, "password": PASSWORD})).await.expect(200, None);
    login_from(&app, &owner, json!({"email": addr, "password": WRONG})).await.expect(401, Some("invalid_credentials"));
}

#[actix_web::test]
async fn locking_a_username_does_not_reveal_which_email_is_its() {
    let app = spawn_app().await;
    let victim = email("victim");
    let username = register_with_username(&app, &victim, "victim").await;
    let bystander = email("bystander");
    app.register(&bystander, "client").await;
    let attacker = client_from(ip(3));
    for _ in 0..5 {
        login_from(&app, &attacker, json!({"username": username, "password": WRONG}))
            .await
            .expect(401, Some("invalid_credentials"));
    }
    login_from(&app, &attacker, json!({"username": username, "password": WRONG}))
        .await
        .expect(429, Some("rate_limited"));
    // Probing emails from the locked source: the victim's, a bystander's and nobody's all
    // answer exactly like a wrong password.
    let mut answers = Vec::new();
    for addr in [victim.as_str(), bystander.as_str(), &email("nobody")] {
        let r = login_from(&app, &attacker, json!({"email": addr, "password": WRONG})).await;
        r.expect(401, Some("invalid_credentials"));
        assert!(r.headers.get("retry-after").is_none(), "{addr}: {:?}", r.headers);
        answers.push(r.text);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
}

#[actix_web::test]
async fn a_locked_out_source_gets_the_same_429_for_existing_and_unknown_accounts() {
    let app = spawn_app().await;
    let existing = email("exists");
    app.register(&existing, "client").await;
    let unknown = email("unknown");
    let attacker = client_from(ip(4));
    let mut answers = Vec::new();
    for addr in [&existing, &unknown] {
        for _ in 0..5 {
            login_from(&app, &attacker, json!({"email": addr, "password": WRONG}))
                .await
                .expect(401, Some("invalid_credentials"));
        }
        let r = login_from(&app, &attacker, json!({"email": addr, "password": WRONG})).await;
        r.expect(429, Some("rate_limited"));
        assert!(r.headers.get("retry-after").is_some());
        answers.push(r.text);
    }
    assert_eq!(answers[0], answers[1]);
}

// ---- 2. reset tokens

/// Every reset token mailed to `to` so far, oldest first, once there are `n` of them.
async fn reset_tokens(app: &TestApp, to: &str, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let mut files: Vec<_> = std::fs::read_dir(app.data_dir.join("outbox"))
            .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "eml")).collect())
            .unwrap_or_default();
        files.sort();
        let tokens: Vec<String> = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .filter(|t| t.contains(&format!("To: {to}")) && t.contains("Reset your Agora password"))
            .filter_map(|t| {
                let start = t.find("\nToken: ")? + "\nToken: ".len();
                Some(t[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect())
            })
            .collect();
        if tokens.len() >= n {
            return tokens;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} reset emails to {to}");
}

#[actix_web::test]
async fn a_successful_reset_revokes_every_other_reset_token() {
    let app = spawn_app().await;
    let addr = email("reset");
    app.register(&addr, "client").await;
    app.post("/api/auth/password-reset", json!({"email": addr}), None).await.expect(202, None);
    reset_tokens(&app, &addr, 1).await;
    app.post("/api/auth/password-reset", json!({"email": addr}), None).await.expect(202, None);
    let tokens = reset_tokens(&app, &addr, 2).await;
    let new = "a brand new secret 42";
    app.post("/api/auth/password-reset/confirm", json!({"token": tokens[0], "new_password": new}), None)
        .await
        .expect(204, None);
    app.post(
        "/api/auth/password-reset/confirm",
        json!({"token": tokens[1], "new_password": "a sneaky takeover 99"}),
        None,
    )
    .await
    .expect(400, Some("invalid_token"));
    app.login(&addr, new).await.expect(200, None);
}

#[actix_web::test]
async fn a_password_change_revokes_outstanding_reset_tokens() {
    let app = spawn_app().await;
    let addr = email("change");
    let body = app.register(&addr, "client").await;
    let token = body["access"].as_str().expect("access").to_string();
    app.post("/api/auth/password-reset", json!({"email": addr}), None).await.expect(202, None);
    let reset = reset_tokens(&app, &addr, 1).await.remove(0);
    let new = "a brand new secret 42";
    app.post("/api/auth/password/change", json!({"old_password": PASSWORD, "new_password": new}), Some(&token))
        .await
        .expect(204, None);
    app.post("/api/auth/password-reset/confirm", json!({"token": reset, "new_password": "a sneaky takeover 99"}), None)
        .await
        .expect(400, Some("invalid_token"));
    app.login(&addr, new).await.expect(200, None);
}

// ---- 3. registration enumeration

#[actix_web::test]
async fn registering_an_existing_email_tells_its_owner_and_is_rate_limited() {
    let app = spawn_app_with(|s| s.rate_auth_per_min = 3).await;
    let addr = email("taken");
    let r = app.post("/api/auth/register", json!({"email": addr, "password": PASSWORD}), None).await;
    r.expect(201, None);
    let again = app.post("/api/auth/register", json!({"email": addr, "password": "another secret 77"}), None).await;
    again.expect(409, Some("email_taken"));
    let mail = app.email_with_subject(&addr, "Someone tried to register").await.expect("the owner is told");
    assert!(!mail.contains("Token:"), "no token in the notice: {mail}");
    // Registration is in the strict per-IP auth class: the 4th attempt in a minute is refused.
    app.post("/api/auth/register", json!({"email": email("x"), "password": PASSWORD}), None).await.expect(201, None);
    let limited = app.post("/api/auth/register", json!({"email": email("y"), "password": PASSWORD}), None).await;
    limited.expect(429, Some("rate_limited"));
    assert!(limited.headers.get("retry-after").is_some());
}

// ---- 4. password change in the auth class

#[actix_web::test]
async fn password_change_attempts_are_in_the_auth_rate_limit_class() {
    let app = spawn_app_with(|s| s.rate_auth_per_min = 10).await;
    // Registered from another address, so the test's own address starts with a full bucket.
    let addr = email("guess");
    let r = app
        .send(
            client_from(ip(5)).post(app.url("/api/auth/register")).json(&json!({"email": addr, "password": PASSWORD})),
        )
        .await;
    r.expect(201, None);
    let token = r.json["access"].as_str().expect("access").to_string();
    let attempt = json!({"old_password": "guess number one 1", "new_password": "a brand new secret 42"});
    for _ in 0..10 {
        app.post("/api/auth/password/change", attempt.clone(), Some(&token))
            .await
            .expect(400, Some("validation_failed"));
    }
    let limited = app.post("/api/auth/password/change", attempt, Some(&token)).await;
    limited.expect(429, Some("rate_limited"));
    let retry: u64 =
        limited.headers.get("retry-after").expect("Retry-After").to_str().expect("ascii").parse().expect("secs");
    assert!((1..=60).contains(&retry), "{retry}");
}

// ---- 6. write limits

#[actix_web::test]
async fn group_conversations_are_limited_per_user() {
    let app = spawn_app_with(|s| s.rate_writes_per_min = 3).await;
    let (a, b, c) = (app.user("a").await, app.user("b").await, app.user("c").await);
    let group = json!({"participant_ids": [b.id, c.id], "title": "Team"});
    for _ in 0..3 {
        app.post("/api/conversations", group.clone(), Some(&a.token)).await.expect(201, None);
    }
    let limited = app.post("/api/conversations", group.clone(), Some(&a.token)).await;
    limited.expect(429, Some("rate_limited"));
    assert!(limited.headers.get("retry-after").is_some());
    // Direct conversations (unique per pair) are not in this class, nor are other users.
    let direct = app.post("/api/conversations", json!({"participant_ids": [b.id]}), Some(&a.token)).await;
    assert!(direct.status == 200 || direct.status == 201, "{}", direct.text);
    let other = json!({"participant_ids": [a.id, c.id], "title": "Other"});
    app.post("/api/conversations", other, Some(&b.token)).await.expect(201, None);
    let schema = app.get("/api/schema", None).await;
    for path in ["/api/conversations", "/api/bookings"] {
        assert!(schema.json["paths"][path]["post"]["responses"]["429"].is_object(), "{path}: no 429 documented");
    }
}

async fn provider_with_service(app: &TestApp) -> (TestUser, String) {
    let addr = email("prov");
    let body = app.register(&addr, "provider").await;
    let p = TestUser {
        id: body["user"]["id"].as_str().expect("id").to_string(),
        email: addr,
        token: body["access"].as_str().expect("access").to_string(),
    };
    app.post(
        "/api/providers",
        json!({"bio": "Experienced and friendly", "hourly_rate": {"amount": 5000, "currency": "USD"}}),
        Some(&p.token),
    )
    .await
    .expect(201, None);
    let r = app
        .post(
            "/api/services",
            json!({"title": "Deep clean", "description": "A careful, complete service with everything included.",
                "price": {"amount": 12500, "currency": "USD"}, "duration_minutes": 60}),
            Some(&p.token),
        )
        .await;
    r.expect(201, None);
    let id = r.json["id"].as_str().expect("service id").to_string();
    (p, id)
}

#[actix_web::test]
async fn booking_requests_are_limited_per_user() {
    use time::format_description::well_known::Rfc3339;
    let app = spawn_app_with(|s| s.rate_writes_per_min = 3).await;
    let (_, service) = provider_with_service(&app).await;
    let client = app.user("booker").await;
    let day = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("secs") + time::Duration::days(3);
    let booking = |i: i64| {
        let start = day + time::Duration::hours(2 * i);
        json!({"service_id": service, "start_at": start.format(&Rfc3339).expect("fmt"),
            "end_at": (start + time::Duration::hours(1)).format(&Rfc3339).expect("fmt")})
    };
    for i in 0..3 {
        app.post("/api/bookings", booking(i), Some(&client.token)).await.expect(201, None);
    }
    let limited = app.post("/api/appointments", booking(3), Some(&client.token)).await;
    limited.expect(429, Some("rate_limited"));
    assert!(limited.headers.get("retry-after").is_some());
    let limited = app.post("/api/bookings/", booking(4), Some(&client.token)).await;
    limited.expect(429, Some("rate_limited"));
    let other = app.user("other-booker").await;
    app.post("/api/bookings", booking(5), Some(&other.token)).await.expect(201, None);
}

// ---- 7. file modes

#[cfg(unix)]
#[actix_web::test]
async fn data_dir_database_secret_and_outbox_are_owner_only() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().expect("tempdir");
    // A data dir that does not exist yet: the server creates it.
    let mut settings = test_settings(&root.path().join("data"));
    settings.jwt_secret = None;
    let app = start(settings).await;
    let addr = email("modes");
    app.register(&addr, "client").await;
    app.post("/api/auth/password-reset", json!({"email": addr}), None).await.expect(202, None);
    reset_tokens(&app, &addr, 1).await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    let dir = &app.data_dir;
    assert_eq!(mode(dir), 0o700, "data dir");
    assert_eq!(mode(&dir.join("outbox")), 0o700, "outbox");
    for name in ["agora.db", "agora.db-wal", "agora.db-shm", "jwt_secret"] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    let emails: Vec<_> = std::fs::read_dir(dir.join("outbox")).expect("outbox").flatten().map(|e| e.path()).collect();
    assert!(emails.len() >= 2, "verification and reset emails: {emails:?}");
    for e in emails {
        assert_eq!(mode(&e), 0o600, "{}", e.display());
    }
}

// ---- 8. money

#[actix_web::test]
async fn a_price_in_an_unknown_currency_or_beyond_the_cap_is_a_field_error() {
    let app = spawn_app().await;
    let (p, _) = provider_with_service(&app).await;
    for price in
        [json!({"amount": 100, "currency": "ABC"}), json!({"amount": 1_000_000_000_001_i64, "currency": "USD"})]
    {
        let r = app
            .post(
                "/api/services",
                json!({"title": "Window cleaning", "description": "Streak-free windows, inside and out.", "price": price}),
                Some(&p.token),
            )
            .await;
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"]["price"].as_array().is_some_and(|a| !a.is_empty()), "{}", r.text);
    }
}

// ---- 9. the password-confirm alias

#[actix_web::test]
async fn password_confirm_is_an_alias_of_reset_confirm() {
    let app = spawn_app().await;
    let addr = email("alias");
    app.register(&addr, "client").await;
    app.post("/api/auth/password-reset", json!({"email": addr}), None).await.expect(202, None);
    let token = reset_tokens(&app, &addr, 1).await.remove(0);
    let new = "a brand new secret 42";
    app.post("/api/auth/password-confirm", json!({"token": token, "new_password": new}), None).await.expect(204, None);
    app.post("/api/auth/password-confirm/", json!({"token": token, "new_password": new}), None)
        .await
        .expect(400, Some("invalid_token"));
    app.login(&addr, new).await.expect(200, None);
    let schema = app.get("/api/schema", None).await;
    assert!(
        schema.json["paths"]["/api/auth/password-confirm"]["post"].is_object(),
        "alias not in the OpenAPI document"
    );
}
