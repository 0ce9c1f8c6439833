//! The client address behind a load balancer (`trusted_proxies`, http/src/client_ip.rs):
//! only a trusted proxy's `X-Forwarded-For` is believed, so per-address limits follow the
//! real client behind nginx and nobody else can pick their address.

use agora_tests::*;
use serde_json::json;

async fn login_from(app: &TestApp, forwarded_for: &str, email: &str, password: &str) -> u16 {
    let req = app
        .client
        .post(app.url("/api/auth/login"))
        .header("X-Forwarded-For", forwarded_for)
        .json(&json!({"email": email, "password": password}));
    app.send(req).await.status
}

#[actix_web::test]
async fn behind_a_trusted_proxy_the_lockout_follows_the_forwarded_client() {
    let app = spawn_app_with(|s| {
        s.trusted_proxies = vec!["127.0.0.1".into()];
        s.login_failures_max = 2;
        s.login_slowdown_after = 100;
    })
    .await;
    let owner = app.user("owner").await;
    let attacker = "1.2.3.4, 198.51.100.1";
    assert_eq!(login_from(&app, attacker, &owner.email, "wrong password").await, 401);
    assert_eq!(login_from(&app, attacker, &owner.email, "wrong password").await, 401);
    assert_eq!(login_from(&app, attacker, &owner.email, PASSWORD).await, 429, "that client is locked out");
    // What the attacker writes left of the proxy's entry changes nothing.
    assert_eq!(login_from(&app, "9.9.9.9, 198.51.100.1", &owner.email, PASSWORD).await, 429);
    // The owner, another client behind the same proxy, is not.
    assert_eq!(login_from(&app, "198.51.100.2", &owner.email, PASSWORD).await, 200);
}

#[actix_web::test]
async fn without_trusted_proxies_the_header_is_ignored() {
    let app = spawn_app_with(|s| {
        s.login_failures_max = 2;
        s.login_slowdown_after = 100;
    })
    .await;
    let owner = app.user("owner").await;
    assert_eq!(login_from(&app, "198.51.100.1", &owner.email, "wrong password").await, 401);
    assert_eq!(login_from(&app, "198.51.100.2", &owner.email, "wrong password").await, 401);
    // Both failures came from the peer (127.0.0.1), whatever the header said.
    assert_eq!(login_from(&app, "198.51.100.3", &owner.email, PASSWORD).await, 429);
}
