//! Notifications end to end: the REST API (list, unread count, mark read, read all,
//! delete, preferences, the admin announcement route) and its live WebSocket side
//! (`notification` and `unread` frames, `sync` with `notifications_after`), against the
//! real server on port 0.

use std::time::Duration;

use agora_tests::{spawn_app, Encoding, TestApp, TestUser, WsClient};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

const QUIET: Duration = Duration::from_millis(400);

const ALL_TYPES: [&str; 10] =
    ["info", "success", "warning", "error", "proposal", "contract", "payment", "review", "message", "booking"];

/// POST /api/admin/notifications as `by` to `to` with `extra` merged into a valid body.
async fn announce(app: &TestApp, by: &TestUser, to: &TestUser, extra: Value) -> agora_tests::Reply {
    let mut body = json!({"user_id": to.id, "type": "info", "title": "Heads up", "message": "Something happened"});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    app.post("/api/admin/notifications", body, Some(&by.token)).await
}

/// Announces and answers the new notification's id (asserting 201).
async fn announce_id(app: &TestApp, by: &TestUser, to: &TestUser, title: &str) -> String {
    let r = announce(app, by, to, json!({"title": title})).await;
    r.expect(201, None);
    r.json["id"].as_str().expect("notification id").to_string()
}

async fn list(app: &TestApp, user: &TestUser, query: &str) -> Vec<Value> {
    let r = app.get(&format!("/api/notifications{query}"), Some(&user.token)).await;
    r.expect(200, None);
    r.json["results"].as_array().expect("results").clone()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|n| n["id"].as_str().expect("id").to_string()).collect()
}

async fn unread_count(app: &TestApp, user: &TestUser) -> Value {
    let r = app.get("/api/notifications/unread-count", Some(&user.token)).await;
    r.expect(200, None);
    r.json
}

async fn count(app: &TestApp, user: &TestUser) -> i64 {
    unread_count(app, user).await["count"].as_i64().expect("count")
}

/// Polls the list until it has exactly `n` notifications (they are created asynchronously).
async fn wait_for_list_len(app: &TestApp, user: &TestUser, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..100 {
        last = list(app, user, "").await;
        if last.len() == n {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} notifications, have {}: {last:?}", last.len());
}

/// Polls the unread count until it reaches `n` (or 5 s pass); answers the last document.
async fn wait_for_count(app: &TestApp, user: &TestUser, n: i64) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        last = unread_count(app, user).await;
        if last["count"] == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    last
}

async fn send_rest(app: &TestApp, by: &TestUser, conversation: &str, body: &str) -> Value {
    let r =
        app.post(&format!("/api/conversations/{conversation}/messages"), json!({"body": body}), Some(&by.token)).await;
    r.expect(201, None);
    r.json
}

/// Reads frames until `synced`, answering the `notification` frames' notifications in order.
async fn notifications_until_synced(ws: &mut WsClient) -> Vec<Value> {
    let mut got = Vec::new();
    loop {
        let f = ws.recv_timeout(Duration::from_secs(5)).await.expect("sync frames, then synced");
        match f["type"].as_str() {
            Some("notification") => got.push(f["notification"].clone()),
            Some("synced") => return got,
            Some("error") => panic!("sync failed: {f}"),
            _ => {}
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).expect("formats")
}

fn parse_time(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(v.as_str().expect("a timestamp string"), &Rfc3339).expect("RFC 3339")
}

/// The outbox emails addressed to `to`, as text.
fn emails(app: &TestApp, to: &str) -> Vec<String> {
    std::fs::read_dir(app.data_dir.join("outbox"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                .filter(|t| t.contains(&format!("To: {to}")))
                .collect()
        })
        .unwrap_or_default()
}

#[actix_web::test]
async fn offline_members_get_one_message_notification_per_unread_burst() {
    let app = spawn_app().await;
    let (a, b) = (app.user("a").await, app.user("b").await);
    let conv = app.conversation(&a, &[&b]).await;

    // While b is online the message arrives live and makes no notification.
    let mut wb = app.ws(&b.token, Encoding::Json).await;
    send_rest(&app, &a, &conv, "you are online").await;
    assert_eq!(wb.expect("message").await["body"], "you are online");
    tokio::time::sleep(QUIET).await;
    assert!(list(&app, &b, "").await.is_empty(), "no notification for a member with a live connection");
    app.post(&format!("/api/conversations/{conv}/read"), json!({"seq": 1}), Some(&b.token)).await.expect(200, None);
    drop(wb);
    // Let the server notice the disconnect.
    tokio::time::sleep(Duration::from_millis(300)).await;

    send_rest(&app, &a, &conv, "hello there, offline b").await;
    let items = wait_for_list_len(&app, &b, 1).await;
    let n = &items[0];
    assert_eq!(n["type"], "message", "{n}");
    assert_eq!(n["title"], "New message");
    assert_eq!(n["message"], "hello there, offline b");
    assert_eq!(n["action_url"], format!("/conversations/{conv}"));
    assert_eq!(n["actor_id"], a.id);
    assert_eq!(n["object_type"], "conversation");
    assert_eq!(n["object_id"], conv);
    assert_eq!(n["read"], false);
    assert!(n["id"].as_str().is_some_and(|s| uuid::Uuid::parse_str(s).is_ok()), "id is a UUID: {n}");
    let created = parse_time(&n["created_at"]);
    assert!((OffsetDateTime::now_utc() - created).abs() < time::Duration::seconds(30), "created just now: {n}");
    assert!(n.get("expires_at").is_none_or(Value::is_null), "no expiry on a message notification: {n}");
    let first = n["id"].as_str().expect("id").to_string();
    // The sender is not notified of their own message.
    assert!(list(&app, &a, "").await.is_empty(), "the sender gets no notification");

    // A second message before b reads makes no second notification.
    send_rest(&app, &a, &conv, "are you there?").await;
    tokio::time::sleep(QUIET).await;
    let items = list(&app, &b, "").await;
    assert_eq!(ids(&items), vec![first.clone()], "one notification per unread burst");
    assert_eq!(unread_count(&app, &b).await, json!({"count": 1, "conversations": 1}));

    // After b reads, the next message starts a new burst: a new notification, newest first.
    app.post(&format!("/api/conversations/{conv}/read"), json!({"seq": 3}), Some(&b.token)).await.expect(200, None);
    send_rest(&app, &a, &conv, "third time lucky").await;
    let items = wait_for_list_len(&app, &b, 2).await;
    assert_eq!(items[0]["message"], "third time lucky", "newest first: {items:?}");
    assert_eq!(items[1]["id"], first.as_str());
    assert_ne!(items[0]["id"], first.as_str());
    assert!(parse_time(&items[0]["created_at"]) >= parse_time(&items[1]["created_at"]));
    // The notification is stored, then counted (the broker works in the background): wait for it.
    assert_eq!(wait_for_count(&app, &b, 2).await, json!({"count": 2, "conversations": 1}));
    assert_eq!(unread_count(&app, &a).await, json!({"count": 0, "conversations": 0}));
}

#[actix_web::test]
async fn list_filter_mark_read_read_all_and_delete_keep_the_count_right() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let (u, v) = (app.user("u").await, app.user("v").await);
    assert_eq!(unread_count(&app, &u).await, json!({"count": 0, "conversations": 0}));

    let r = announce(
        &app,
        &boss,
        &u,
        json!({"type": "warning", "title": "one", "message": "first", "action_url": "/settings/billing"}),
    )
    .await;
    r.expect(201, None);
    let n1 = r.json["id"].as_str().expect("id").to_string();
    assert_eq!(r.json["type"], "warning");
    assert_eq!(r.json["title"], "one");
    assert_eq!(r.json["message"], "first");
    assert_eq!(r.json["action_url"], "/settings/billing");
    assert_eq!(r.json["actor_id"], boss.id, "the admin is the actor: {}", r.text);
    assert_eq!(r.json["read"], false);
    let n2 = announce_id(&app, &boss, &u, "two").await;
    let n3 = announce_id(&app, &boss, &u, "three").await;

    let items = list(&app, &u, "").await;
    assert_eq!(ids(&items), vec![n3.clone(), n2.clone(), n1.clone()], "newest first");
    let titles: Vec<&str> = items.iter().map(|n| n["title"].as_str().expect("title")).collect();
    assert_eq!(titles, ["three", "two", "one"]);
    for n in &items {
        for field in ["id", "type", "title", "message", "action_url", "read", "created_at"] {
            assert!(n.get(field).is_some(), "{field} missing: {n}");
        }
    }
    assert_eq!(items[2], r.json, "the list shows what the announcement answered");
    assert_eq!(count(&app, &u).await, 3);

    // Mark read: answers the notification, read; idempotent (the count drops once).
    let r = app.post(&format!("/api/notifications/{n2}/read"), json!({}), Some(&u.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["id"], n2.as_str());
    assert_eq!(r.json["read"], true);
    assert_eq!(count(&app, &u).await, 2);
    let r = app.post(&format!("/api/notifications/{n2}/read"), json!({}), Some(&u.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["read"], true);
    assert_eq!(count(&app, &u).await, 2, "marking read twice counts once");

    assert_eq!(ids(&list(&app, &u, "?unread=true").await), vec![n3.clone(), n1.clone()]);
    assert_eq!(ids(&list(&app, &u, "?unread=false").await), vec![n3.clone(), n2.clone(), n1.clone()]);
    let all = list(&app, &u, "").await;
    let read: Vec<bool> = all.iter().map(|n| n["read"].as_bool().expect("read")).collect();
    assert_eq!(read, [false, true, false]);

    // Unknown ids and other people's notifications are 404s.
    let unknown = uuid::Uuid::now_v7().to_string();
    app.post(&format!("/api/notifications/{unknown}/read"), json!({}), Some(&u.token))
        .await
        .expect(404, Some("not_found"));
    app.post("/api/notifications/not-a-uuid/read", json!({}), Some(&u.token)).await.expect(404, Some("not_found"));
    app.delete(&format!("/api/notifications/{unknown}"), Some(&u.token)).await.expect(404, Some("not_found"));
    app.post(&format!("/api/notifications/{n1}/read"), json!({}), Some(&v.token)).await.expect(404, Some("not_found"));
    app.delete(&format!("/api/notifications/{n1}"), Some(&v.token)).await.expect(404, Some("not_found"));
    assert!(list(&app, &v, "").await.is_empty(), "v sees none of u's notifications");
    assert_eq!(count(&app, &v).await, 0);
    assert_eq!(
        ids(&list(&app, &u, "?unread=true").await),
        vec![n3.clone(), n1.clone()],
        "v's attempts changed nothing"
    );

    // Deleting an unread one lowers the count; a second delete is a 404.
    app.delete(&format!("/api/notifications/{n3}"), Some(&u.token)).await.expect(204, None);
    assert_eq!(count(&app, &u).await, 1);
    app.delete(&format!("/api/notifications/{n3}"), Some(&u.token)).await.expect(404, Some("not_found"));
    app.post(&format!("/api/notifications/{n3}/read"), json!({}), Some(&u.token)).await.expect(404, Some("not_found"));
    assert_eq!(ids(&list(&app, &u, "").await), vec![n2.clone(), n1.clone()]);
    // Deleting a read one leaves the count alone.
    app.delete(&format!("/api/notifications/{n2}"), Some(&u.token)).await.expect(204, None);
    assert_eq!(count(&app, &u).await, 1);
    assert_eq!(ids(&list(&app, &u, "").await), vec![n1.clone()]);

    // Read all: answers how many changed and zeroes the count.
    let n4 = announce_id(&app, &boss, &u, "four").await;
    let n5 = announce_id(&app, &boss, &u, "five").await;
    assert_eq!(count(&app, &u).await, 3);
    let r = app.post("/api/notifications/read-all", json!({}), Some(&u.token)).await;
    r.expect(200, None);
    assert_eq!(r.json, json!({"updated": 3}));
    assert_eq!(unread_count(&app, &u).await, json!({"count": 0, "conversations": 0}));
    assert!(list(&app, &u, "?unread=true").await.is_empty());
    let all = list(&app, &u, "").await;
    assert_eq!(ids(&all), vec![n5, n4, n1]);
    assert!(all.iter().all(|n| n["read"] == true), "{all:?}");
    let r = app.post("/api/notifications/read-all", json!({}), Some(&u.token)).await;
    r.expect(200, None);
    assert_eq!(r.json, json!({"updated": 0}), "nothing left to mark");
    // v's notifications were never touched.
    let w = announce_id(&app, &boss, &v, "for v").await;
    app.post("/api/notifications/read-all", json!({}), Some(&u.token)).await.expect(200, None);
    assert_eq!(ids(&list(&app, &v, "?unread=true").await), vec![w]);
}

#[actix_web::test]
async fn lists_paginate_with_limit_and_cursor() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let u = app.user("u").await;
    let mut created = Vec::new();
    for i in 1..=5 {
        created.push(announce_id(&app, &boss, &u, &format!("n{i}")).await);
    }
    created.reverse();

    for filter in ["", "&unread=true"] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = Vec::new();
        loop {
            let query = match &cursor {
                Some(c) => format!("/api/notifications?limit=2{filter}&cursor={c}"),
                None => format!("/api/notifications?limit=2{filter}"),
            };
            let r = app.get(&query, Some(&u.token)).await;
            r.expect(200, None);
            let page = r.json["results"].as_array().expect("results").clone();
            assert!(page.len() <= 2, "limit respected: {}", r.text);
            pages.push(page.len());
            seen.extend(ids(&page));
            match r.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => {
                    assert!(r.json["next_cursor"].is_null(), "{}", r.text);
                    break;
                }
            }
            assert!(pages.len() < 10, "pagination does not end");
        }
        assert_eq!(seen, created, "every notification once, newest first (filter {filter:?})");
        assert_eq!(pages[..3], [2, 2, 1], "pages of 2, 2, 1 (filter {filter:?})");
    }

    let r = app.get("/api/notifications?limit=5", Some(&u.token)).await;
    assert_eq!(ids(r.json["results"].as_array().expect("results")), created);
    let r = app.get("/api/notifications", Some(&u.token)).await;
    assert_eq!(r.json["results"].as_array().expect("results").len(), 5, "default limit is 20");
    assert!(r.json["next_cursor"].is_null(), "{}", r.text);

    for bad in ["limit=0", "limit=101"] {
        let r = app.get(&format!("/api/notifications?{bad}"), Some(&u.token)).await;
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"]["limit"].is_array(), "{}", r.text);
    }
    let r = app.get("/api/notifications?cursor=%21%21%21", Some(&u.token)).await;
    assert_eq!(r.status, 400, "a garbage cursor is bad input: {}", r.text);
}

#[actix_web::test]
async fn live_connections_get_notification_and_unread_frames() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let (u, v) = (app.user("u").await, app.user("v").await);
    let mut wu = app.ws(&u.token, Encoding::Json).await;
    let mut wu2 = app.ws(&u.token, Encoding::Msgpack).await;
    let mut wv = app.ws(&v.token, Encoding::Json).await;
    let initial = wu.expect("unread").await;
    assert_eq!(initial, json!({"type": "unread", "notifications": 0, "conversations": 0}));
    wu2.expect("unread").await;
    wv.expect("unread").await;

    let r = announce(
        &app,
        &boss,
        &u,
        json!({"type": "success", "title": "Payout sent", "message": "USD 12.00 is on its way", "action_url": "/payouts"}),
    )
    .await;
    r.expect(201, None);
    let first = r.json.clone();
    for ws in [&mut wu, &mut wu2] {
        let f = ws.expect("notification").await;
        assert_eq!(f["notification"], first, "the frame carries the notification: {f}");
        assert_eq!(f["notification"]["type"], "success");
        let f = ws.expect("unread").await;
        assert_eq!(f, json!({"type": "unread", "notifications": 1, "conversations": 0}));
    }

    let second = announce_id(&app, &boss, &u, "Second").await;
    let f = wu.expect("notification").await;
    assert_eq!(f["notification"]["id"], second.as_str());
    assert_eq!(f["notification"]["title"], "Second");
    assert_eq!(wu.expect("unread").await["notifications"], 2);

    // Marking read over REST pushes the new count.
    let id = first["id"].as_str().expect("id");
    app.post(&format!("/api/notifications/{id}/read"), json!({}), Some(&u.token)).await.expect(200, None);
    assert_eq!(wu.expect("unread").await["notifications"], 1);
    app.post("/api/notifications/read-all", json!({}), Some(&u.token)).await.expect(200, None);
    let f = wu.expect("unread").await;
    assert_eq!(f, json!({"type": "unread", "notifications": 0, "conversations": 0}));
    assert_eq!(wu2.expect("notification").await["notification"]["id"], second.as_str());

    // Deleting an unread one pushes the lower count too.
    let third = announce_id(&app, &boss, &u, "Third").await;
    wu.expect("notification").await;
    assert_eq!(wu.expect("unread").await["notifications"], 1);
    app.delete(&format!("/api/notifications/{third}"), Some(&u.token)).await.expect(204, None);
    assert_eq!(wu.expect("unread").await["notifications"], 0);
    wu.expect_none("notification", QUIET).await;

    // v got none of it.
    while let Some(f) = wv.recv_timeout(QUIET).await {
        assert!(f["type"] != "notification" && f["type"] != "unread", "an outsider got {f}");
    }
    // A notification for v reaches v only.
    let mine = announce_id(&app, &boss, &v, "For v").await;
    assert_eq!(wv.expect("notification").await["notification"]["id"], mine.as_str());
    assert_eq!(wv.expect("unread").await["notifications"], 1);
    wu.expect_none("notification", QUIET).await;
}

#[actix_web::test]
async fn preferences_default_update_validate_and_apply() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let (u, v) = (app.user("u").await, app.user("v").await);

    let r = app.get("/api/notifications/preferences", Some(&u.token)).await;
    r.expect(200, None);
    let types = r.json["types"].as_object().expect("types");
    let mut names: Vec<&str> = types.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut expected = ALL_TYPES.to_vec();
    expected.sort_unstable();
    assert_eq!(names, expected, "every type: {}", r.text);
    for t in ALL_TYPES {
        assert_eq!(r.json["types"][t], json!({"in_app": true, "email": true}), "default for {t}");
    }
    assert_eq!(r.json["digest"], "weekly");
    let defaults = r.json.clone();

    // A partial update changes only what it names and answers the whole document.
    let r = app
        .put(
            "/api/notifications/preferences",
            json!({"types": {"message": {"email": false}}, "digest": "daily"}),
            Some(&u.token),
        )
        .await;
    r.expect(200, None);
    assert_eq!(r.json["types"]["message"], json!({"in_app": true, "email": false}));
    assert_eq!(r.json["digest"], "daily");
    assert_eq!(r.json["types"].as_object().expect("types").len(), 10, "the full document: {}", r.text);
    for t in ALL_TYPES.iter().filter(|t| **t != "message") {
        assert_eq!(r.json["types"][t], json!({"in_app": true, "email": true}), "{t} unchanged");
    }
    let after_first = r.json.clone();
    let r = app.get("/api/notifications/preferences", Some(&u.token)).await;
    assert_eq!(r.json, after_first, "persisted");
    let r = app
        .put("/api/notifications/preferences", json!({"types": {"message": {"in_app": false}}}), Some(&u.token))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["types"]["message"], json!({"in_app": false, "email": false}), "email stays off");
    assert_eq!(r.json["digest"], "daily", "digest unchanged when absent");
    let r = app.put("/api/notifications/preferences", json!({"digest": "none"}), Some(&u.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["digest"], "none");
    assert_eq!(r.json["types"]["message"], json!({"in_app": false, "email": false}));
    let saved = r.json.clone();
    // v's preferences are v's own.
    assert_eq!(app.get("/api/notifications/preferences", Some(&v.token)).await.json, defaults);

    // Bad input: 400 with fields, and nothing applied.
    let r =
        app.put("/api/notifications/preferences", json!({"types": {"bogus": {"email": false}}}), Some(&u.token)).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["types.bogus"].is_array(), "{}", r.text);
    let r = app.put("/api/notifications/preferences", json!({"digest": "hourly"}), Some(&u.token)).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["digest"].is_array(), "{}", r.text);
    let r = app
        .put(
            "/api/notifications/preferences",
            json!({"types": {"info": {"email": false}, "nope": {"in_app": true}}, "digest": "daily"}),
            Some(&u.token),
        )
        .await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["types.nope"].is_array(), "{}", r.text);
    assert_eq!(
        app.get("/api/notifications/preferences", Some(&u.token)).await.json,
        saved,
        "a rejected update changes nothing"
    );

    // Email on (the default for info): the announcement lands in the outbox too.
    app.token_from_email(&u.email, "Verify your Agora email address").await;
    let before = app.emails_to(&u.email);
    let r = announce(&app, &boss, &u, json!({"title": "Mailed announcement", "message": "check your inbox"})).await;
    r.expect(201, None);
    assert_eq!(app.emails_to(&u.email), before + 1, "an email for an email-enabled type");
    assert!(
        emails(&app, &u.email).iter().any(|m| m.contains("Mailed announcement") && m.contains("check your inbox")),
        "the email carries the title and message"
    );

    // Email off: listed, but no email.
    let r =
        app.put("/api/notifications/preferences", json!({"types": {"info": {"email": false}}}), Some(&u.token)).await;
    assert_eq!(r.json["types"]["info"], json!({"in_app": true, "email": false}));
    let quiet = announce_id(&app, &boss, &u, "Not mailed").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.emails_to(&u.email), before + 1, "no email when email is off");
    assert_eq!(list(&app, &u, "").await[0]["id"], quiet.as_str());

    // In-app off: 202, nothing stored, listed or pushed; email still goes when on.
    let mut wu = app.ws(&u.token, Encoding::Json).await;
    wu.expect("unread").await;
    let listed = ids(&list(&app, &u, "").await);
    let unread = count(&app, &u).await;
    app.put("/api/notifications/preferences", json!({"types": {"info": {"in_app": false}}}), Some(&u.token))
        .await
        .expect(200, None);
    let r = announce(&app, &boss, &u, json!({"title": "Invisible"})).await;
    r.expect(202, None);
    assert_eq!(ids(&list(&app, &u, "").await), listed, "nothing listed when in-app is off");
    assert_eq!(count(&app, &u).await, unread);
    wu.expect_none("notification", QUIET).await;
    assert_eq!(app.emails_to(&u.email), before + 1, "info email is still off");
    app.put("/api/notifications/preferences", json!({"types": {"info": {"email": true}}}), Some(&u.token))
        .await
        .expect(200, None);
    announce(&app, &boss, &u, json!({"title": "Email only"})).await.expect(202, None);
    assert_eq!(app.emails_to(&u.email), before + 2, "email-only delivery");
    assert!(emails(&app, &u.email).iter().any(|m| m.contains("Email only")));
    assert_eq!(ids(&list(&app, &u, "").await), listed);
    wu.expect_none("notification", QUIET).await;

    // Other types are not affected by info's switches.
    let r = announce(&app, &boss, &u, json!({"type": "warning", "title": "Still shown"})).await;
    r.expect(201, None);
    assert_eq!(wu.expect("notification").await["notification"]["title"], "Still shown");
}

#[actix_web::test]
async fn expiring_notifications_leave_the_list_and_the_count() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let u = app.user("u").await;
    let keep = announce_id(&app, &boss, &u, "Stays").await;
    let expires_at = OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let r = announce(&app, &boss, &u, json!({"title": "Flash sale", "expires_at": rfc3339(expires_at)})).await;
    r.expect(201, None);
    let flash = r.json["id"].as_str().expect("id").to_string();
    assert_eq!(parse_time(&r.json["expires_at"]), expires_at, "expires_at echoed: {}", r.text);

    let items = list(&app, &u, "").await;
    assert_eq!(ids(&items), vec![flash.clone(), keep.clone()]);
    assert_eq!(parse_time(&items[0]["expires_at"]), expires_at);
    assert_eq!(ids(&list(&app, &u, "?unread=true").await), vec![flash.clone(), keep.clone()]);
    assert_eq!(count(&app, &u).await, 2);

    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(ids(&list(&app, &u, "").await), vec![keep.clone()], "expired notifications are not listed");
    assert_eq!(ids(&list(&app, &u, "?unread=true").await), vec![keep.clone()]);
    assert_eq!(count(&app, &u).await, 1, "expired notifications are not counted");
    app.post(&format!("/api/notifications/{flash}/read"), json!({}), Some(&u.token))
        .await
        .expect(404, Some("not_found"));
    app.delete(&format!("/api/notifications/{flash}"), Some(&u.token)).await.expect(404, Some("not_found"));
    let r = app.post("/api/notifications/read-all", json!({}), Some(&u.token)).await;
    assert_eq!(r.json, json!({"updated": 1}), "only the live one is marked");
    assert_eq!(count(&app, &u).await, 0);
}

// Listing and counting must both honour the exact `expires_at` (not whole seconds), and
// change at the same moment.
#[actix_web::test]
async fn an_expiring_notification_is_listed_and_counted_until_its_expires_at() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let u = app.user("u").await;
    // 2.1 to 3.9 s from now, 0.1 s before a whole second.
    let now = OffsetDateTime::now_utc();
    let expires_at = now.replace_nanosecond(900_000_000).expect("valid nanosecond") + time::Duration::seconds(3);
    let r = announce(&app, &boss, &u, json!({"title": "Ends soon", "expires_at": rfc3339(expires_at)})).await;
    r.expect(201, None);
    let id = r.json["id"].as_str().expect("id").to_string();

    let margin = time::Duration::milliseconds(60);
    let mut checks = 0;
    while OffsetDateTime::now_utc() < expires_at - margin {
        let counted = count(&app, &u).await;
        let listed = ids(&list(&app, &u, "").await).contains(&id);
        let done = OffsetDateTime::now_utc();
        if done < expires_at - margin {
            checks += 1;
            assert!(listed, "still before expires_at {expires_at} (now {done}) but no longer listed");
            assert_eq!(counted, 1, "listed before expires_at {expires_at} (now {done}) but not counted");
        }
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    assert!(checks > 10, "the window was checked ({checks} times)");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(list(&app, &u, "").await.is_empty(), "gone after expires_at");
    assert_eq!(count(&app, &u).await, 0, "not counted after expires_at");
}

#[actix_web::test]
async fn only_admins_announce_and_every_route_needs_a_token() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let (u, v) = (app.user("u").await, app.user("v").await);

    // Not an admin: 403, even with an otherwise invalid body (no hint about validation).
    announce(&app, &u, &v, json!({})).await.expect(403, Some("forbidden"));
    app.post("/api/admin/notifications", json!({"user_id": v.id}), Some(&u.token)).await.expect(403, Some("forbidden"));
    assert!(list(&app, &v, "").await.is_empty(), "nothing was sent");

    // No token: 401 everywhere; a garbage token too.
    let some_id = uuid::Uuid::now_v7().to_string();
    for token in [None, Some("not-a-jwt")] {
        let expected = if token.is_none() { "unauthorized" } else { "invalid_token" };
        app.get("/api/notifications", token).await.expect(401, Some(expected));
        app.get("/api/notifications?unread=true", token).await.expect(401, Some(expected));
        app.get("/api/notifications/unread-count", token).await.expect(401, Some(expected));
        app.post(&format!("/api/notifications/{some_id}/read"), json!({}), token).await.expect(401, Some(expected));
        app.post("/api/notifications/read-all", json!({}), token).await.expect(401, Some(expected));
        app.delete(&format!("/api/notifications/{some_id}"), token).await.expect(401, Some(expected));
        app.get("/api/notifications/preferences", token).await.expect(401, Some(expected));
        app.put("/api/notifications/preferences", json!({"digest": "daily"}), token).await.expect(401, Some(expected));
        app.post(
            "/api/admin/notifications",
            json!({"user_id": v.id, "type": "info", "title": "t", "message": "m"}),
            token,
        )
        .await
        .expect(401, Some(expected));
    }

    // Admin validation: 400 with the offending fields.
    let cases = [
        (json!({"title": null}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"message": null}), "message"),
        (json!({"type": "promo"}), "type"),
        (json!({"type": "message"}), "type"),
        (json!({"expires_at": rfc3339(OffsetDateTime::now_utc() - time::Duration::minutes(5))}), "expires_at"),
        (json!({"expires_at": "tomorrow"}), "expires_at"),
        (json!({"user_id": null}), "user_id"),
        (json!({"user_id": "nobody"}), "user_id"),
        (json!({"user_id": uuid::Uuid::now_v7().to_string()}), "user_id"),
    ];
    for (extra, field) in cases {
        let r = announce(&app, &boss, &v, extra.clone()).await;
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"][field].is_array(), "{extra} must flag {field}: {}", r.text);
    }
    let r = app.post("/api/admin/notifications", json!({"user_id": v.id}), Some(&boss.token)).await;
    r.expect(400, Some("validation_failed"));
    for field in ["title", "message"] {
        assert!(r.json["error"]["fields"][field].is_array(), "{field}: {}", r.text);
    }
    assert!(list(&app, &v, "").await.is_empty(), "rejected announcements create nothing");
    assert_eq!(count(&app, &v).await, 0);

    // The type defaults to info; a valid announcement works with the same admin token.
    let r = app
        .post(
            "/api/admin/notifications",
            json!({"user_id": v.id, "title": "Hi", "message": "there"}),
            Some(&boss.token),
        )
        .await;
    r.expect(201, None);
    assert_eq!(r.json["type"], "info");
    assert_eq!(ids(&list(&app, &v, "").await), vec![r.json["id"].as_str().expect("id").to_string()]);
}

#[actix_web::test]
async fn sync_replays_only_newer_notifications_oldest_first() {
    let app = spawn_app().await;
    let boss = app.admin().await;
    let u = app.user("u").await;
    let n1 = announce_id(&app, &boss, &u, "one").await;
    let n2 = announce_id(&app, &boss, &u, "two").await;
    let n3 = announce_id(&app, &boss, &u, "three").await;
    let n4 = announce_id(&app, &boss, &u, "four").await;

    let mut ws = app.ws(&u.token, Encoding::Json).await;
    ws.send(json!({"type": "sync", "conversations": {}, "notifications_after": n2})).await;
    let got = notifications_until_synced(&mut ws).await;
    assert_eq!(ids(&got), vec![n3.clone(), n4.clone()], "only newer ones, oldest first");
    assert_eq!(got[0]["title"], "three");
    assert_eq!(got[0]["type"], "info");
    assert_eq!(got[0]["read"], false);

    // Without notifications_after: everything, oldest first.
    ws.send(json!({"type": "sync"})).await;
    assert_eq!(ids(&notifications_until_synced(&mut ws).await), vec![n1.clone(), n2.clone(), n3.clone(), n4.clone()]);

    // After the newest: nothing, just synced.
    ws.send(json!({"type": "sync", "conversations": {}, "notifications_after": n4})).await;
    assert!(notifications_until_synced(&mut ws).await.is_empty(), "nothing newer than the newest");

    // Deleted ones are not replayed; read ones come with read = true. MessagePack alike.
    app.delete(&format!("/api/notifications/{n3}"), Some(&u.token)).await.expect(204, None);
    app.post(&format!("/api/notifications/{n4}/read"), json!({}), Some(&u.token)).await.expect(200, None);
    let n5 = announce_id(&app, &boss, &u, "five").await;
    let mut mp = app.ws(&u.token, Encoding::Msgpack).await;
    mp.send(json!({"type": "sync", "notifications_after": n1})).await;
    let got = notifications_until_synced(&mut mp).await;
    assert_eq!(ids(&got), vec![n2, n4, n5]);
    assert_eq!(got[1]["read"], true);
    assert_eq!(got[2]["read"], false);

    // A malformed notifications_after is an error frame; the connection stays usable.
    ws.send(json!({"type": "sync", "notifications_after": "not-an-id"})).await;
    let e = ws.expect("error").await;
    assert_eq!(e["code"], "invalid", "{e}");
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}
