//! The seeds' route names and verbs answer like the canonical routes they alias (the same
//! handler), and each alias is in the OpenAPI document: `/api/service-categories`,
//! `POST /api/contracts/{id}/update_status`, `GET /api/services/{id}/comments`,
//! `POST /api/services/{id}/like`, `POST /api/messages`, `PUT /api/messages/{id}`,
//! `POST /api/payments` (a milestone or a booking), and the API root `GET /api/`.

use agora_tests::{spawn_app, TestApp, TestUser};
use serde_json::{json, Value};

const VISA: &str = "4242424242424242";

fn ids(r: &agora_tests::Reply) -> Vec<String> {
    r.json["results"].as_array().expect("results").iter().map(|x| x["id"].as_str().expect("id").to_string()).collect()
}

/// A one-hour 9 000 USD service of a fresh provider; answers (provider, service id).
async fn service(app: &TestApp) -> (TestUser, String) {
    let (provider, _) = app.provider("barber").await;
    let body = json!({"title": "Beard trim", "description": "A careful trim with hot towels.",
        "price": {"amount": 9_000, "currency": "USD"}, "duration_minutes": 60});
    let r = app.post("/api/services", body, Some(&provider.token)).await;
    r.expect(201, None);
    (provider, r.json["id"].as_str().expect("service id").to_string())
}

#[actix_web::test]
async fn catalog_and_contract_aliases_reach_the_canonical_handlers() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // Categories under their second name: created there, listed under both.
    let r = app.post("/api/service-categories/", json!({"name": "Grooming"}), Some(&admin.token)).await;
    r.expect(201, None);
    let id = r.json["id"].as_str().expect("id").to_string();
    let canonical = app.get("/api/categories", None).await;
    let alias = app.get("/api/service-categories/", None).await;
    assert_eq!(ids(&alias), ids(&canonical));
    assert!(ids(&alias).contains(&id));
    app.get(&format!("/api/service-categories/{id}/"), None).await.expect(200, None);
    app.post("/api/service-categories", json!({"name": "x"}), None).await.expect(401, None);

    // A contract's status under the Zumodra name, with the same rules.
    let client = app.user("client").await;
    let (provider, _) = app.provider("maker").await;
    let contract = app.pending_contract(&client, &provider, 5_000).await;
    let update = format!("/api/contracts/{contract}/update_status/");
    app.post(&update, json!({"status": "active"}), Some(&client.token)).await.expect(409, Some("funding_required"));
    app.fund_contract(&client, &contract).await;
    let r = app.post(&update, json!({"status": "delivered"}), Some(&provider.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "delivered");
    let stranger = app.user("stranger").await;
    app.post(&update, json!({"status": "completed"}), Some(&stranger.token)).await.expect(404, Some("not_found"));

    // Likes by POST as by PUT; comments are the service's reviews.
    let (_, svc) = service(&app).await;
    let r = app.post(&format!("/api/services/{svc}/like/"), json!({}), Some(&client.token)).await;
    assert!(r.status < 300, "{}: {}", r.status, r.text);
    let s = app.get(&format!("/api/services/{svc}"), None).await;
    assert_eq!(s.json["likes_count"], 1, "{}", s.text);
    app.delete(&format!("/api/services/{svc}/like"), Some(&client.token)).await;
    let s = app.get(&format!("/api/services/{svc}"), None).await;
    assert_eq!(s.json["likes_count"], 0, "{}", s.text);
    let comments = app.get(&format!("/api/services/{svc}/comments/"), None).await;
    comments.expect(200, None);
    let reviews = app.get(&format!("/api/services/{svc}/reviews"), None).await;
    assert_eq!(comments.json, reviews.json);
    app.get("/api/services/nope/comments", None).await.expect(404, Some("not_found"));
}

#[actix_web::test]
async fn messages_are_sent_and_edited_under_the_seed_routes() {
    let app = spawn_app().await;
    let (a, b, c) = (app.user("a").await, app.user("b").await, app.user("c").await);
    let conv = app.conversation(&a, &[&b]).await;
    let r = app.post("/api/messages/", json!({"conversation": conv, "body": "hello"}), Some(&a.token)).await;
    r.expect(201, None);
    assert_eq!((r.json["seq"].as_u64(), r.json["body"].as_str()), (Some(1), Some("hello")));
    let id = r.json["id"].as_str().expect("message id").to_string();
    // A retry with the same client_msg_id answers the original.
    let once = json!({"conversation": conv, "body": "once", "client_msg_id": "k-1"});
    app.post("/api/messages", once.clone(), Some(&a.token)).await.expect(201, None);
    let again = app.post("/api/messages", once, Some(&a.token)).await;
    again.expect(200, None);
    assert_eq!(again.json["seq"], 2);
    // Bad input and strangers.
    let r = app.post("/api/messages", json!({"body": "hi"}), Some(&a.token)).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["conversation"].is_array(), "{}", r.text);
    app.post("/api/messages", json!({"conversation": "nope", "body": "hi"}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post("/api/messages", json!({"conversation": conv, "body": ""}), Some(&a.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post("/api/messages", json!({"conversation": conv, "body": "hi"}), Some(&c.token))
        .await
        .expect(404, Some("not_found"));
    // PUT edits as PATCH does.
    let r = app.put(&format!("/api/messages/{id}/"), json!({"body": "hello, edited"}), Some(&a.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["body"], "hello, edited");
    app.put(&format!("/api/messages/{id}"), json!({"body": "mine now"}), Some(&b.token)).await.expect(403, None);
    let history = app.get(&format!("/api/conversations/{conv}/messages"), Some(&b.token)).await;
    let bodies: Vec<&str> =
        history.json["results"].as_array().expect("results").iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, vec!["once", "hello, edited"]);
}

#[actix_web::test]
async fn payments_are_made_for_a_milestone_or_a_booking_through_one_route() {
    let app = spawn_app().await;
    let client = app.user("payer").await;
    let (provider, _) = app.provider("payee").await;
    let contract = app.pending_contract(&client, &provider, 7_000).await;
    let card = app.card(&client, VISA).await;
    // A milestone: the same command and answer as funding it.
    let body = json!({"contract_id": contract, "payment_method_id": card});
    let r = app.post_keyed("/api/payments/", body.clone(), &client.token, Some("pay-1")).await;
    r.expect(200, None);
    assert_eq!(
        (r.json["payment"]["status"].as_str(), r.json["contract_status"].as_str()),
        (Some("succeeded"), Some("active"))
    );
    let replay = app.post_keyed("/api/payments", body.clone(), &client.token, Some("pay-1")).await;
    assert_eq!(replay.headers.get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    app.post("/api/payments", body, Some(&client.token)).await.expect(409, Some("nothing_to_fund"));
    let stranger = app.user("nosy").await;
    let theirs = app.card(&stranger, VISA).await;
    app.post("/api/payments", json!({"contract_id": contract, "payment_method_id": theirs}), Some(&stranger.token))
        .await
        .expect(404, Some("not_found"));
    // Exactly one of contract_id and booking_id.
    for bad in [
        json!({"payment_method_id": card}),
        json!({"contract_id": contract, "booking_id": contract, "payment_method_id": card}),
    ] {
        app.post("/api/payments", bad, Some(&client.token)).await.expect(400, Some("validation_failed"));
    }

    // A booking: the card is the one its confirmation charges.
    let (barber, svc) = service(&app).await;
    let start = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::days(2);
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1))}),
            Some(&client.token),
        )
        .await;
    r.expect(201, None);
    let booking = r.json["id"].as_str().expect("booking id").to_string();
    let mastercard = app.card(&client, "5555555555554444").await;
    // The newest card would pay by default; the chosen one pays instead.
    app.card(&client, VISA).await;
    let pay = json!({"booking_id": booking, "payment_method_id": mastercard});
    app.post("/api/payments", pay.clone(), Some(&barber.token)).await.expect(403, Some("forbidden"));
    app.post("/api/payments", json!({"booking_id": booking, "payment_method_id": theirs}), Some(&client.token))
        .await
        .expect(400, Some("validation_failed"));
    app.post("/api/payments", pay.clone(), Some(&stranger.token)).await.expect(404, Some("not_found"));
    let r = app.post("/api/payments", pay.clone(), Some(&client.token)).await;
    r.expect(202, None);
    assert_eq!(
        (r.json["status"].as_str(), r.json["payment_method_id"].as_str()),
        (Some("requested"), Some(mastercard.as_str()))
    );
    let r =
        app.post(&format!("/api/bookings/{booking}/status"), json!({"status": "confirmed"}), Some(&barber.token)).await;
    r.expect(200, None);
    let payment = r.json["payment_id"].as_str().expect("payment id").to_string();
    let p = app.get(&format!("/api/payments/{payment}"), Some(&client.token)).await;
    assert_eq!(
        (p.json["status"].as_str(), p.json["card"]["last4"].as_str()),
        (Some("succeeded"), Some("4444")),
        "{}",
        p.text
    );
    // Paid: nothing more to choose.
    app.post("/api/payments", pay, Some(&client.token)).await.expect(409, Some("conflict"));
}

#[actix_web::test]
async fn the_api_root_lists_every_resource_and_the_schema_has_every_alias() {
    let app = spawn_app().await;
    let user = app.user("reader").await;
    let r = app.get("/api/", None).await;
    r.expect(200, None);
    let root = r.json.as_object().expect("an object").clone();
    assert!(root.len() >= 15, "{}", r.text);
    for (name, url) in &root {
        let url = url.as_str().expect("a URL");
        let path = url.strip_prefix(&app.url("")).unwrap_or_else(|| panic!("{name}: {url} is not on this server"));
        let res = app.client.get(app.url(path)).bearer_auth(&user.token).send().await.expect("send");
        // A route that exists: answered, redirected, or refused as it documents (the open
        // jobs list is for providers, the reviews list needs a filter), never 404, 405 or a
        // server error.
        let status = res.status().as_u16();
        assert!(!matches!(status, 404 | 405) && status < 500, "{name}: GET {path} is {status}");
    }
    let schema = app.get("/api/schema", None).await;
    let paths = &schema.json["paths"];
    for (path, method) in [
        ("/api/service-categories", "get"),
        ("/api/service-categories/{id}", "patch"),
        ("/api/contracts/{id}/update_status", "post"),
        ("/api/services/{id}/comments", "get"),
        ("/api/services/{id}/like", "post"),
        ("/api/messages", "post"),
        ("/api/messages/{id}", "put"),
        ("/api/payments", "post"),
        ("/api", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} is not in the OpenAPI document");
    }
    // An alias documents the canonical route's operation (under its own operation id).
    let without_id = |v: &Value| {
        let mut v = v.clone();
        v["post"].as_object_mut().expect("post").remove("operationId");
        v
    };
    assert_eq!(
        without_id(&paths["/api/contracts/{id}/update_status"]),
        without_id(&paths["/api/contracts/{id}/status"])
    );
    // Operation ids are unique, and a create links to the operations on what it made.
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths.as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_string()), "operationId {id} twice");
        }
    }
    let links = paths["/api/jobs"]["post"]["responses"]["201"]["links"].as_object().expect("links from POST /api/jobs");
    let get = links
        .values()
        .find(|l| l["operationRef"] == "#/paths/~1api~1jobs~1{id}/get")
        .expect("a link to GET /api/jobs/{id}");
    assert_eq!(get["parameters"]["id"], "$response.body#/id");
    let _: &Value = &paths["/api/services/{id}/comments"];
}

#[actix_web::test]
async fn the_notification_pages_answer_json_for_api_clients() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let (provider, _) = app.provider("maker").await;
    app.pending_contract(&client, &provider, 5_000).await;
    // The provider was told twice (accepted, new contract); the pages list what the API lists.
    let mut listed = Value::Null;
    for _ in 0..50 {
        listed = app.get("/notifications/", Some(&provider.token)).await.json;
        if listed["results"].as_array().is_some_and(|r| r.len() == 2) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(listed, app.get("/api/notifications", Some(&provider.token)).await.json);
    let ids: Vec<String> = listed["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(ids.len(), 2, "{listed}");
    // The unread count follows the stored notifications a moment later.
    let mut count = app.get("/notifications/api/count/", Some(&provider.token)).await;
    for _ in 0..50 {
        if count.json["count"] == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        count = app.get("/notifications/api/count/", Some(&provider.token)).await;
    }
    count.expect(200, None);
    assert_eq!(count.json["count"], 2, "{}", count.text);
    assert_eq!(count.json, app.get("/api/notifications/unread-count", Some(&provider.token)).await.json);
    app.post(&format!("/notifications/{}/read/", ids[0]), json!({}), Some(&provider.token)).await.expect(200, None);
    let count = app.get("/notifications/api/count", Some(&provider.token)).await;
    assert_eq!(count.json["count"], 1, "{}", count.text);
    app.post("/notifications/mark-all-read/", json!({}), Some(&provider.token)).await.expect(200, None);
    assert_eq!(app.get("/notifications/api/count", Some(&provider.token)).await.json["count"], 0);
    app.get("/notifications/preferences/", Some(&provider.token)).await.expect(200, None);
    let r = app.delete(&format!("/notifications/{}/delete/", ids[1]), Some(&provider.token)).await;
    assert!(r.status < 300, "{}: {}", r.status, r.text);
    let left = app.get("/notifications", Some(&provider.token)).await;
    assert_eq!(left.json["results"].as_array().map(Vec::len), Some(1), "{}", left.text);
    // Someone else's is not there; no token is 401, in the envelope.
    app.post(&format!("/notifications/{}/read", ids[0]), json!({}), Some(&client.token))
        .await
        .expect(404, Some("not_found"));
    app.get("/notifications/", None).await.expect(401, Some("unauthorized"));
    let schema = app.get("/api/schema", None).await;
    for (path, method) in [
        ("/notifications", "get"),
        ("/notifications/api/count", "get"),
        ("/notifications/mark-all-read", "post"),
        ("/notifications/{id}/read", "post"),
        ("/notifications/{id}/delete", "delete"),
        ("/notifications/preferences", "get"),
    ] {
        assert!(schema.json["paths"][path][method].is_object(), "{method} {path} is not in the OpenAPI document");
    }
}

#[actix_web::test]
async fn messages_of_all_my_conversations_are_listed_newest_first_in_pages() {
    let app = spawn_app().await;
    let (a, b, c, d) = (app.user("a").await, app.user("b").await, app.user("c").await, app.user("d").await);
    let ab = app.conversation(&a, &[&b]).await;
    let ac = app.conversation(&a, &[&c]).await;
    let bd = app.conversation(&b, &[&d]).await;
    let mut sent = Vec::new();
    for i in 0..7 {
        let (conv, who) = if i % 3 == 0 { (&ac, &c) } else { (&ab, &a) };
        let r =
            app.post("/api/messages", json!({"conversation": conv, "body": format!("m{i}")}), Some(&who.token)).await;
        r.expect(201, None);
        sent.push(r.json["id"].as_str().expect("id").to_string());
    }
    app.post("/api/messages", json!({"conversation": bd, "body": "not a's"}), Some(&b.token)).await.expect(201, None);
    // Pages of 3: every message of a's two conversations once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..5 {
        let path = match &cursor {
            Some(c) => format!("/api/messages/?limit=3&cursor={c}"),
            None => "/api/messages/?limit=3".to_string(),
        };
        let r = app.get(&path, Some(&a.token)).await;
        r.expect(200, None);
        seen.extend(ids(&r));
        if page == 0 {
            // Sent after the first page: it is on the next first page, not in this walk.
            let r = app.post("/api/messages", json!({"conversation": ab, "body": "late"}), Some(&b.token)).await;
            r.expect(201, None);
        }
        cursor = r.json["next_cursor"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    let newest_first: Vec<String> = sent.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every message once, newest first");
    let first = app.get("/api/messages?limit=1", Some(&a.token)).await;
    assert_eq!(first.json["results"][0]["body"], "late");
    // One conversation only; not someone else's.
    let r = app.get(&format!("/api/messages?conversation={ac}"), Some(&a.token)).await;
    let bodies: Vec<&str> =
        r.json["results"].as_array().expect("results").iter().filter_map(|m| m["body"].as_str()).collect();
    assert_eq!(bodies, vec!["m6", "m3", "m0"]);
    app.get(&format!("/api/messages?conversation={bd}"), Some(&a.token)).await.expect(404, Some("not_found"));
    app.get("/api/messages?cursor=garbage", Some(&a.token)).await.expect(400, Some("invalid_cursor"));
    app.get("/api/messages", None).await.expect(401, Some("unauthorized"));
    assert!(ids(&app.get("/api/messages", Some(&d.token)).await).len() == 1, "d sees only its conversation");
}

/// The value of cookie `name` in a reply's `Set-Cookie` headers, and the whole header.
fn set_cookie(r: &agora_tests::Reply, name: &str) -> Option<(String, String)> {
    r.headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()).find_map(|h| {
        let value = h.strip_prefix(&format!("{name}="))?.split(';').next()?.to_string();
        Some((value, h.to_string()))
    })
}

#[actix_web::test]
async fn a_browser_session_keeps_its_refresh_token_in_a_cookie_guarded_by_a_csrf_token() {
    let app = spawn_app().await;
    let user = app.user("browser").await;
    let r = app.post("/api/auth/session", json!({"email": user.email, "password": agora_tests::PASSWORD}), None).await;
    r.expect(200, None);
    assert!(r.json["refresh"].is_null(), "no refresh token for scripts to read: {}", r.text);
    let access = r.json["access"].as_str().expect("access").to_string();
    let csrf = r.json["csrf"].as_str().expect("csrf").to_string();
    let (refresh, header) = set_cookie(&r, "agora_refresh").expect("the refresh cookie");
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/api/auth", "Max-Age="] {
        assert!(header.contains(attr), "{attr} missing: {header}");
    }
    let (csrf_cookie, csrf_header) = set_cookie(&r, "agora_csrf").expect("the CSRF cookie");
    assert_eq!(csrf_cookie, csrf);
    assert!(!csrf_header.contains("HttpOnly") && csrf_header.contains("SameSite=Strict"), "{csrf_header}");
    let me = app.get("/api/auth/me", Some(&access)).await;
    assert_eq!(me.json["email"], user.email.as_str());
    app.post("/api/auth/session", json!({"email": user.email, "password": "wrong password 1"}), None)
        .await
        .expect(401, Some("invalid_credentials"));

    let cookies = |refresh: &str| format!("agora_refresh={refresh}; agora_csrf={csrf}");
    let refresh_with = |cookie: String, token: Option<&str>| {
        let mut req = app.client.post(app.url("/api/auth/refresh")).header("cookie", cookie).json(&json!({}));
        if let Some(t) = token {
            req = req.header("X-CSRF-Token", t);
        }
        app.send(req)
    };
    // A cross-site request carries the cookie but cannot know the token: refused.
    refresh_with(cookies(&refresh), None).await.expect(403, Some("csrf_failed"));
    refresh_with(cookies(&refresh), Some("guess")).await.expect(403, Some("csrf_failed"));
    // The page's own request rotates the cookie and answers a new access token only.
    let r = refresh_with(cookies(&refresh), Some(&csrf)).await;
    r.expect(200, None);
    assert!(r.json["access"].is_string() && r.json["refresh"].is_null(), "{}", r.text);
    let (rotated, _) = set_cookie(&r, "agora_refresh").expect("a rotated refresh cookie");
    assert_ne!(rotated, refresh);
    // The old cookie is spent: using it again revokes the family.
    refresh_with(cookies(&refresh), Some(&csrf)).await.expect(401, Some("refresh_token_reused"));

    // A fresh session, then logout from the cookie clears both cookies and ends it.
    let r = app.post("/api/auth/session", json!({"email": user.email, "password": agora_tests::PASSWORD}), None).await;
    let csrf = r.json["csrf"].as_str().expect("csrf").to_string();
    let access = r.json["access"].as_str().expect("access").to_string();
    let (refresh, _) = set_cookie(&r, "agora_refresh").expect("cookie");
    let jar = format!("agora_refresh={refresh}; agora_csrf={csrf}");
    let logout = |token: Option<&str>| {
        let mut req = app.client.post(app.url("/api/auth/logout")).header("cookie", jar.clone()).json(&json!({}));
        if let Some(t) = token {
            req = req.header("X-CSRF-Token", t);
        }
        app.send(req)
    };
    logout(None).await.expect(403, Some("csrf_failed"));
    let r = logout(Some(&csrf)).await;
    r.expect(204, None);
    for name in ["agora_refresh", "agora_csrf"] {
        let (value, header) = set_cookie(&r, name).unwrap_or_else(|| panic!("{name} is cleared"));
        assert!(value.is_empty() && header.contains("Max-Age=0"), "{header}");
    }
    app.get("/api/auth/me", Some(&access)).await.expect(401, Some("token_revoked"));
    let r = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("agora_refresh={refresh}; agora_csrf={csrf}"))
        .header("X-CSRF-Token", &csrf)
        .json(&json!({}));
    app.send(r).await.expect(401, None);
    // Token clients are unchanged: no cookie, no CSRF token needed.
    let r = app.login(&user.email, agora_tests::PASSWORD).await;
    assert!(set_cookie(&r, "agora_refresh").is_none());
    let body = json!({"refresh": r.json["refresh"]});
    app.post("/api/auth/refresh", body, None).await.expect(200, None);
}

#[actix_web::test]
async fn put_replaces_jobs_services_and_profiles_and_delete_withdraws_an_open_job() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let (provider, profile) = app.provider("maker").await;
    let (other, _) = app.provider("other").await;
    // A job: PUT needs what posting needs, and clears what it leaves out.
    let r = app
        .post(
            "/api/jobs",
            json!({"title": "Paint the fence", "description": "Forty metres, two coats.",
                "budget_min": {"amount": 10_000, "currency": "USD"}, "budget_max": {"amount": 20_000, "currency": "USD"},
                "deadline": "2027-06-30"}),
            Some(&client.token),
        )
        .await;
    r.expect(201, None);
    let job = r.json["id"].as_str().expect("job id").to_string();
    let path = format!("/api/jobs/{job}/");
    let r = app.put(&path, json!({"title": "Paint the gate"}), Some(&client.token)).await;
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"]["description"].is_array(), "{}", r.text);
    app.put(&path, json!({"title": "Paint the gate", "description": "Only the gate."}), Some(&provider.token))
        .await
        .expect(403, None);
    let r =
        app.put(&path, json!({"title": "Paint the gate", "description": "Only the gate."}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["title"].as_str(), r.json["deadline"].as_str()), (Some("Paint the gate"), None), "{}", r.text);
    assert!(r.json["budget_min"].is_null() && r.json["budget_max"].is_null(), "{}", r.text);

    // DELETE withdraws it: cancelled, its pending proposals closed, their proposers told.
    for who in [&provider, &other] {
        let body = json!({"job_id": job, "rate": {"amount": 15_000, "currency": "USD"}});
        app.post("/api/proposals", body, Some(&who.token)).await.expect(201, None);
    }
    app.delete(&path, Some(&provider.token)).await.expect(403, None);
    let r = app.delete(&path, Some(&client.token)).await;
    r.expect(204, None);
    let j = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!(j.json["status"], "cancelled", "{}", j.text);
    let proposals = app.get(&format!("/api/jobs/{job}/proposals"), Some(&client.token)).await;
    let statuses: Vec<&str> =
        proposals.json["results"].as_array().expect("results").iter().filter_map(|p| p["status"].as_str()).collect();
    assert_eq!(statuses, vec!["withdrawn", "withdrawn"]);
    for who in [&provider, &other] {
        let mut titles = Vec::new();
        for _ in 0..50 {
            let n = app.get("/api/notifications", Some(&who.token)).await;
            titles = n.json["results"]
                .as_array()
                .expect("results")
                .iter()
                .filter_map(|x| x["title"].as_str().map(String::from))
                .collect();
            if titles.iter().any(|t| t == "Job withdrawn") {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(titles.iter().filter(|t| *t == "Job withdrawn").count(), 1, "{titles:?}");
    }
    app.delete(&path, Some(&client.token)).await.expect(409, Some("job_not_open"));
    // A job with a hire is not withdrawn: its contract is ended instead.
    let contract_job = {
        let r = app
            .post("/api/jobs", json!({"title": "Fix the roof", "description": "Two tiles."}), Some(&client.token))
            .await;
        r.json["id"].as_str().expect("job").to_string()
    };
    let r = app
        .post(
            "/api/proposals",
            json!({"job_id": contract_job, "rate": {"amount": 9_000, "currency": "USD"}}),
            Some(&provider.token),
        )
        .await;
    let proposal = r.json["id"].as_str().expect("proposal").to_string();
    app.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token)).await.expect(201, None);
    app.delete(&format!("/api/jobs/{contract_job}"), Some(&client.token)).await.expect(409, Some("job_not_open"));

    // A service: the same as creating it; the tags it leaves out are gone.
    let r = app
        .post(
            "/api/services",
            json!({"title": "Garden tidy", "description": "Weeding and pruning.", "price": {"amount": 4_000, "currency": "USD"},
                "tags": ["garden", "weeding"], "duration_minutes": 90}),
            Some(&provider.token),
        )
        .await;
    r.expect(201, None);
    let svc = r.json["id"].as_str().expect("service").to_string();
    let spath = format!("/api/services/{svc}/");
    app.put(&spath, json!({"title": "Garden tidy"}), Some(&provider.token))
        .await
        .expect(400, Some("validation_failed"));
    let full =
        json!({"title": "Big garden tidy", "description": "All day.", "price": {"amount": 9_000, "currency": "USD"}});
    app.put(&spath, full.clone(), Some(&other.token)).await.expect(403, None);
    let r = app.put(&spath, full, Some(&provider.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["title"].as_str(), r.json["price"]["amount"].as_i64()), (Some("Big garden tidy"), Some(9_000)));
    assert_eq!(r.json["tags"], json!([]), "{}", r.text);
    assert!(r.json["duration_minutes"].is_null(), "{}", r.text);

    // A profile: bio and rate required; the city it leaves out is cleared.
    let ppath = format!("/api/providers/{profile}/");
    app.patch(&ppath, json!({"city": "Lyon"}), Some(&provider.token)).await.expect(200, None);
    app.put(&ppath, json!({"bio": "Paints"}), Some(&provider.token)).await.expect(400, Some("validation_failed"));
    let body = json!({"bio": "Paints houses", "hourly_rate": {"amount": 6_000, "currency": "USD"}});
    app.put(&ppath, body.clone(), Some(&other.token)).await.expect(403, None);
    app.put(
        &ppath,
        json!({"bio": "x", "hourly_rate": {"amount": 1, "currency": "USD"}, "is_verified": true}),
        Some(&provider.token),
    )
    .await
    .expect(400, Some("validation_failed"));
    let r = app.put(&ppath, body, Some(&provider.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["bio"].as_str(), r.json["city"].as_str()), (Some("Paints houses"), None), "{}", r.text);
    let schema = app.get("/api/schema", None).await;
    for path in ["/api/jobs/{id}", "/api/services/{id}", "/api/providers/{id}"] {
        assert!(schema.json["paths"][path]["put"].is_object(), "PUT {path} is not documented");
    }
    assert!(schema.json["paths"]["/api/jobs/{id}"]["delete"].is_object());
}

/// Every route of the OpenAPI document (canonical and alias, 186 operations when written)
/// answers a real request with one of its documented statuses, for at least one of the
/// callers a front end would send it as: never 405, never a 404 for objects that exist,
/// never a server error. Reads go first, then writes (with `{}` bodies, which mostly meet
/// validation), then deletes (sub-resources before their resource).
#[actix_web::test]
async fn every_documented_route_answers_with_a_documented_status() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let client = app.user("client").await;
    let (provider, profile) = app.provider("maker").await;
    let (other, _) = app.provider("other").await;
    let spare = app.user("spare").await;
    let id = |r: &agora_tests::Reply| r.json["id"].as_str().unwrap_or_else(|| panic!("no id: {}", r.text)).to_string();
    let category = id(&app.post("/api/categories", json!({"name": "Walk"}), Some(&admin.token)).await);
    let skill = id(&app.post("/api/skills", json!({"name": "Walking"}), Some(&admin.token)).await);
    let company = id(&app.post("/api/companies", json!({"name": "Walkers Ltd"}), Some(&client.token)).await);
    let (_, svc) = {
        let body = json!({"title": "Dog walk", "description": "An hour outside.", "price": {"amount": 2_000, "currency": "USD"}, "duration_minutes": 60});
        let r = app.post("/api/services", body, Some(&provider.token)).await;
        ((), id(&r))
    };
    let job = id(&app
        .post("/api/jobs", json!({"title": "Walk the dog", "description": "Every morning."}), Some(&client.token))
        .await);
    let proposal = id(&app
        .post(
            "/api/proposals",
            json!({"job_id": job, "rate": {"amount": 5_000, "currency": "USD"}}),
            Some(&provider.token),
        )
        .await);
    let contract = id(&app.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token)).await);
    let funded = app.fund_contract(&client, &contract).await;
    let milestone = funded["milestone"]["id"].as_str().expect("milestone").to_string();
    let payment = funded["payment"]["id"].as_str().expect("payment").to_string();
    let status = |to: &str| json!({"status": to});
    app.post(&format!("/api/contracts/{contract}/status"), status("delivered"), Some(&provider.token))
        .await
        .expect(200, None);
    app.post(&format!("/api/contracts/{contract}/status"), status("completed"), Some(&client.token))
        .await
        .expect(200, None);
    let review =
        id(&app.post("/api/reviews", json!({"contract_id": contract, "rating": 5}), Some(&client.token)).await);
    let card = app.card(&client, VISA).await;
    let start = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::days(2);
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let booking = id(&app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1)), "payment_method_id": card}),
            Some(&client.token),
        )
        .await);
    let conversation = app.conversation(&client, &[&provider]).await;
    let message = id(&app
        .post("/api/messages", json!({"conversation": conversation, "body": "hello"}), Some(&client.token))
        .await);
    let bank = json!({"kind": "bank_account", "holder_name": "Ada Lovelace", "iban": "DE89370400440532013000"});
    let payout_method = id(&app.post("/api/payout-methods", bank, Some(&provider.token)).await);
    let payout = id(&app
        .post_keyed(
            "/api/payouts",
            json!({"amount": {"amount": 1_000, "currency": "USD"}, "payout_method_id": payout_method}),
            &provider.token,
            Some("walk-1"),
        )
        .await);
    app.put(&format!("/api/blocks/{}", other.id), json!({}), Some(&provider.token)).await.expect(200, None);
    let feed = app.post("/api/calendar/feed", json!({}), Some(&provider.token)).await;
    let feed_token = feed.json["url"].as_str().and_then(|u| u.rsplit('/').next()).expect("feed url").to_string();
    let mut notification = String::new();
    for _ in 0..50 {
        let n = app.get("/api/notifications", Some(&provider.token)).await;
        if let Some(first) = n.json["results"][0]["id"].as_str() {
            notification = first.to_string();
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(!notification.is_empty(), "the provider has a notification");
    // An image attachment (multipart) and a tus upload in progress, the provider's.
    let mut png = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(image::RgbImage::from_pixel(40, 30, image::Rgb([200, 10, 10])))
        .write_to(&mut png, image::ImageFormat::Png)
        .expect("png");
    let mut body = b"--walk\r\nContent-Disposition: form-data; name=\"file\"; filename=\"red.png\"\r\n\r\n".to_vec();
    body.extend_from_slice(png.get_ref());
    body.extend_from_slice(b"\r\n--walk--\r\n");
    let uploaded = app
        .send(
            app.client
                .post(app.url("/api/uploads"))
                .bearer_auth(&provider.token)
                .header("content-type", "multipart/form-data; boundary=walk")
                .body(body),
        )
        .await;
    let attachment = id(&uploaded);
    let tus = app
        .send(app.client.post(app.url("/api/uploads")).bearer_auth(&provider.token).header("Upload-Length", "100"))
        .await;
    let upload = id(&tus);

    // The object each path parameter stands for.
    let object = |path: &str, param: &str| -> String {
        let resource = path.trim_start_matches('/').split('/').nth(1).unwrap_or("");
        match (param, resource) {
            ("m", _) => milestone.clone(),
            ("user_id", _) => other.id.clone(),
            ("token", _) => feed_token.clone(),
            ("gateway", _) => "sandbox".into(),
            (_, _) if path.starts_with("/notifications/") => notification.clone(),
            (_, "appointments" | "bookings" | "service-bookings") => booking.clone(),
            (_, "attachments") => attachment.clone(),
            (_, "uploads") => upload.clone(),
            (_, "categories" | "service-categories") => category.clone(),
            (_, "companies") => company.clone(),
            (_, "contracts" | "admin") => contract.clone(),
            (_, "conversations") => conversation.clone(),
            (_, "job-applications" | "proposals") => proposal.clone(),
            (_, "jobs" | "requests") => job.clone(),
            (_, "messages") => message.clone(),
            (_, "notifications") => notification.clone(),
            (_, "payment-methods") => card.clone(),
            (_, "payments") => payment.clone(),
            (_, "payout-methods") => payout_method.clone(),
            (_, "payouts") => payout.clone(),
            (_, "providers") => profile.clone(),
            (_, "ratings" | "reviews") => review.clone(),
            (_, "services") => svc.clone(),
            (_, "skills") => skill.clone(),
            (_, "users") => provider.id.clone(),
            other => panic!("no object for {other:?} in {path}"),
        }
    };
    let schema = app.get("/api/schema", None).await;
    let paths = schema.json["paths"].as_object().expect("paths").clone();
    let mut ops: Vec<(u8, String, String)> = Vec::new();
    for (path, item) in &paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item[method].is_object() {
                let phase = match method {
                    "get" => 0,
                    "delete" => 2,
                    _ => 1,
                };
                ops.push((phase, path.clone(), method.to_string()));
            }
        }
    }
    // Deletes of sub-resources before their resource; logout last of all.
    ops.sort_by_key(|(phase, path, _)| {
        (*phase, path.contains("logout"), std::cmp::Reverse(if *phase == 2 { path.len() } else { 0 }), path.clone())
    });
    assert!(ops.len() >= 180, "{} operations", ops.len());
    let mut deleted: Vec<String> = Vec::new();
    let mut failures = Vec::new();
    for (_, path, method) in &ops {
        let mut url = String::new();
        let mut ids_used = Vec::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            url.push('/');
            match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(param) => {
                    let v = object(path, param);
                    ids_used.push(v.clone());
                    url.push_str(&v);
                }
                None => url.push_str(part),
            }
        }
        let documented: Vec<u16> = paths[path][method.as_str()]["responses"]
            .as_object()
            .map(|r| r.keys().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default();
        let callers: Vec<Option<&TestUser>> = if path.ends_with("/logout") {
            vec![Some(&spare)]
        } else {
            vec![Some(&provider), Some(&client), Some(&admin), None]
        };
        let mut answers = Vec::new();
        let mut ok = false;
        for caller in callers {
            let mut req = match method.as_str() {
                "get" => app.client.get(app.url(&url)),
                "post" => app.client.post(app.url(&url)).json(&json!({})),
                "put" => app.client.put(app.url(&url)).json(&json!({})),
                "patch" => app.client.patch(app.url(&url)).json(&json!({})),
                _ => app.client.delete(app.url(&url)),
            };
            if let Some(u) = caller {
                req = req.bearer_auth(&u.token);
            }
            let r = app.send(req).await;
            let gone = r.status == 404 && method == "delete" && ids_used.iter().any(|i| deleted.contains(i));
            if (documented.contains(&r.status) && r.status != 404 && r.status != 405 && r.status < 500) || gone {
                ok = true;
                if method == "delete" && r.status < 300 {
                    deleted.extend(ids_used.iter().cloned());
                }
                break;
            }
            answers.push(format!("{} {}", r.status, r.code()));
        }
        if !ok {
            failures.push(format!("{} {url} ({path}): {answers:?}, documented {documented:?}", method.to_uppercase()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} routes did not answer as documented:\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n")
    );
}

/// Generated clients trust the document's parameter locations: a path parameter must be in
/// its path template, and the list filters and paging are optional query parameters.
#[actix_web::test]
async fn the_schema_puts_each_parameter_where_the_route_reads_it() {
    let app = spawn_app().await;
    let schema = app.get("/api/schema", None).await;
    let paths = schema.json["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, ops) in paths {
        for (method, op) in ops.as_object().expect("operations") {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().expect("parameter name");
                if param["in"] == "path" {
                    assert!(
                        path.contains(&format!("{{{name}}}")),
                        "{method} {path}: path parameter {name} is not in the path"
                    );
                }
                checked += 1;
            }
        }
    }
    assert!(checked > 50, "the document has parameters: {checked}");
    let list = &schema.json["paths"]["/api/services"]["get"]["parameters"];
    for name in ["q", "category", "ordering", "limit", "cursor"] {
        let param = list.as_array().expect("parameters").iter().find(|p| p["name"] == name);
        let param = param.unwrap_or_else(|| panic!("GET /api/services has no {name}"));
        assert_eq!(param["in"], "query", "{name}");
        assert_ne!(param["required"], true, "{name} is optional");
    }
}
