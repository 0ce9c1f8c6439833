//! The REST read path: conditional GET on lists and details (http/src/middleware/etag.rs),
//! and lists that always show this node's own writes although their records come from the
//! catalog read cache (storage/src/cache.rs).

use agora_tests::{spawn_app, Reply, TestApp};
use serde_json::{json, Value};

fn etag(r: &Reply) -> String {
    r.headers.get("etag").and_then(|v| v.to_str().ok()).expect("an ETag").to_string()
}

async fn get_if_none_match(app: &TestApp, path: &str, tag: &str) -> Reply {
    app.send(app.client.get(app.url(path)).header("if-none-match", tag)).await
}

async fn new_service(app: &TestApp, token: &str, title: &str) -> String {
    let body =
        json!({"title": title, "description": "Done well and on time", "price": {"amount": 10_000, "currency": "USD"}});
    let r = app.post("/api/services", body, Some(token)).await;
    r.expect(201, None);
    r.json["id"].as_str().expect("service id").to_string()
}

fn titles(r: &Reply) -> Vec<String> {
    r.json["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|s| s["title"].as_str().unwrap_or("").to_string())
        .collect()
}

#[actix_web::test]
async fn lists_and_details_answer_304_until_they_change() {
    let app = spawn_app().await;
    let (provider, _) = app.provider("etag").await;
    let id = new_service(&app, &provider.token, "Tiling the bathroom").await;

    for path in ["/api/services".to_string(), format!("/api/services/{id}"), "/api/providers".to_string()] {
        let first = app.get(&path, None).await;
        assert_eq!(first.status, 200, "{path}: {}", first.text);
        let tag = etag(&first);
        let again = get_if_none_match(&app, &path, &tag).await;
        assert_eq!(again.status, 304, "{path}");
        assert!(again.text.is_empty(), "{path}: a 304 has no body");
        assert_eq!(etag(&again), tag, "{path}: the 304 names the tag");
        let other = get_if_none_match(&app, &path, "\"0000000000000000-0\"").await;
        assert_eq!(other.status, 200, "{path}: another tag gets the page");
        assert_eq!(other.text, first.text);
    }

    // A change makes a new tag: the old one gets the new page.
    let list = app.get("/api/services", None).await;
    let detail = app.get(&format!("/api/services/{id}"), None).await;
    let r =
        app.patch(&format!("/api/services/{id}"), json!({"title": "Tiling the kitchen"}), Some(&provider.token)).await;
    r.expect(200, None);
    let changed = get_if_none_match(&app, "/api/services", &etag(&list)).await;
    assert_eq!(changed.status, 200);
    assert_eq!(titles(&changed), vec!["Tiling the kitchen"]);
    assert_ne!(etag(&changed), etag(&list));
    let changed = get_if_none_match(&app, &format!("/api/services/{id}"), &etag(&detail)).await;
    assert_eq!(changed.status, 200);
    assert_eq!(changed.json["title"], "Tiling the kitchen");

    // Errors carry no tag; writes are not conditional.
    let missing = app.get("/api/services/0190aaaa-bbbb-7ccc-8ddd-eeeeffff0000", None).await;
    missing.expect(404, Some("not_found"));
    assert!(missing.headers.get("etag").is_none());
}

#[actix_web::test]
async fn a_list_shows_each_write_at_once() {
    let app = spawn_app().await;
    let (provider, _) = app.provider("fresh").await;
    let (fan, _) = app.provider("fan").await;
    let id = new_service(&app, &provider.token, "Garden design").await;
    let listed = |r: &Reply| -> Value { r.json["results"][0].clone() };

    // Read the page (its record is now in the cache), then change the record every way a
    // user can, reading the page after each change.
    assert_eq!(listed(&app.get("/api/services", None).await)["title"], "Garden design");
    app.patch(&format!("/api/services/{id}"), json!({"title": "Garden care"}), Some(&provider.token))
        .await
        .expect(200, None);
    assert_eq!(listed(&app.get("/api/services", None).await)["title"], "Garden care");

    app.post(&format!("/api/services/{id}/like"), json!({}), Some(&fan.token)).await.expect(200, None);
    assert_eq!(listed(&app.get("/api/services", None).await)["likes_count"], 1);
    app.delete(&format!("/api/services/{id}/like"), Some(&fan.token)).await.expect(200, None);
    assert_eq!(listed(&app.get("/api/services", None).await)["likes_count"], 0);

    app.delete(&format!("/api/services/{id}"), Some(&provider.token)).await.expect(204, None);
    let after = app.get("/api/services", None).await;
    assert_eq!(after.json["results"], json!([]), "a deleted service leaves the list: {}", after.text);
}
