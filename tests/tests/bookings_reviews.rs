//! Bookings and reviews end to end, against the real server on port 0: the booking state
//! machine over HTTP (who may make which change, and when), the provider's overlap rule
//! including a race of concurrent confirms, the iCalendar export, and reviews of completed
//! contracts and bookings with exactly recomputed aggregates and live notifications.

use std::time::Duration;

use agora_tests::{spawn_app, spawn_app_with, Encoding, Reply, TestApp, TestUser, WsClient};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

// ---- helpers

async fn provider(app: &TestApp, tag: &str) -> (TestUser, String) {
    app.provider(tag).await
}

/// A service owned by `p` (who has a profile); answers its id.
async fn service(app: &TestApp, p: &TestUser, title: &str) -> String {
    let r = app
        .post(
            "/api/services",
            json!({
                "title": title,
                "description": "A careful, complete service with everything included.",
                "price": {"amount": 12500, "currency": "USD"},
                "duration_minutes": 60,
            }),
            Some(&p.token),
        )
        .await;
    r.expect(201, None);
    r.json["id"].as_str().expect("service id").to_string()
}

/// Now, to the second, plus `secs`.
fn at(secs: i64) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).expect("whole seconds");
    now + time::Duration::seconds(secs)
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("rfc3339")
}

const HOUR: i64 = 3600;
const DAY: i64 = 24 * HOUR;

/// Books with a freshly saved test card (charged when the provider confirms).
async fn book_at(app: &TestApp, client: &TestUser, service: &str, start: OffsetDateTime, end: OffsetDateTime) -> Reply {
    let card = app.card(client, "4242424242424242").await;
    app.post(
        "/api/bookings",
        json!({"service_id": service, "start_at": ts(start), "end_at": ts(end), "payment_method_id": card}),
        Some(&client.token),
    )
    .await
}

/// Books `[day + h0, day + h1)` hours from now, asserting 201; answers the booking id.
async fn book(app: &TestApp, client: &TestUser, service: &str, h0: i64, h1: i64) -> String {
    let base = at(2 * DAY);
    let r = book_at(app, client, service, base + time::Duration::hours(h0), base + time::Duration::hours(h1)).await;
    r.expect(201, None);
    r.json["id"].as_str().expect("booking id").to_string()
}

async fn set_status(app: &TestApp, user: &TestUser, booking: &str, status: &str) -> Reply {
    app.post(&format!("/api/bookings/{booking}/status"), json!({"status": status}), Some(&user.token)).await
}

fn ids(r: &Reply) -> Vec<String> {
    r.json["results"].as_array().expect("results").iter().map(|b| b["id"].as_str().expect("id").to_string()).collect()
}

/// A contract between `client` and `provider` taken through pending → active (funded) →
/// delivered → completed over REST; answers its id.
async fn completed_contract(app: &TestApp, client: &TestUser, provider: &TestUser) -> String {
    let id = contract(app, client, provider).await;
    app.fund_contract(client, &id).await;
    for (who, status) in [(provider, "delivered"), (client, "completed")] {
        app.post(&format!("/api/contracts/{id}/status"), json!({"status": status}), Some(&who.token))
            .await
            .expect(200, None);
    }
    id
}

/// A pending contract: job by `client`, proposal by `provider`, accepted.
async fn contract(app: &TestApp, client: &TestUser, provider: &TestUser) -> String {
    app.pending_contract(client, provider, 20_000).await
}

/// A booking of `service` by `client` that `provider` confirmed and, once it started,
/// completed; answers its id.
async fn completed_booking(app: &TestApp, client: &TestUser, provider: &TestUser, service: &str) -> String {
    let start = at(3);
    let r = book_at(app, client, service, start, start + time::Duration::hours(1)).await;
    r.expect(201, None);
    let id = r.json["id"].as_str().expect("booking id").to_string();
    set_status(app, provider, &id, "confirmed").await.expect(200, None);
    wait_until(start).await;
    set_status(app, provider, &id, "completed").await.expect(200, None);
    id
}

async fn wait_until(t: OffsetDateTime) {
    let left = t - OffsetDateTime::now_utc() + time::Duration::milliseconds(300);
    if left.is_positive() {
        tokio::time::sleep(Duration::from_millis(u64::try_from(left.whole_milliseconds()).expect("ms"))).await;
    }
}

async fn review(app: &TestApp, author: &TestUser, body: Value) -> Reply {
    app.post("/api/reviews", body, Some(&author.token)).await
}

/// `(rating_avg, reviews_count)` of a provider profile.
async fn provider_rating(app: &TestApp, provider_id: &str) -> (f64, u64) {
    let r = app.get(&format!("/api/providers/{provider_id}"), None).await;
    r.expect(200, None);
    (r.json["rating_avg"].as_f64().expect("rating_avg"), r.json["reviews_count"].as_u64().expect("reviews_count"))
}

async fn service_rating(app: &TestApp, service_id: &str) -> (f64, u64) {
    let r = app.get(&format!("/api/services/{service_id}"), None).await;
    r.expect(200, None);
    (r.json["rating_avg"].as_f64().expect("rating_avg"), r.json["reviews_count"].as_u64().expect("reviews_count"))
}

/// The next live `notification` frame of type `kind` (others are skipped); answers its body.
async fn notification(ws: &mut WsClient, kind: &str) -> Value {
    loop {
        let f = ws.expect("notification").await;
        if f["notification"]["type"] == kind {
            return f["notification"].clone();
        }
    }
}

// ---- bookings

#[actix_web::test]
async fn booking_happy_path_notifies_both_parties() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Haircut").await;
    let c = app.user("client").await;
    let mut pws = app.ws(&p.token, Encoding::Json).await;
    let mut cws = app.ws(&c.token, Encoding::Json).await;

    let start = at(DAY);
    let end = start + time::Duration::hours(1);
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": ts(start), "end_at": ts(end), "note": "  Short at the sides  "}),
            Some(&c.token),
        )
        .await;
    r.expect(201, None);
    let b = r.json.clone();
    let id = b["id"].as_str().expect("id").to_string();
    assert_eq!(b["service_id"], svc.as_str());
    assert_eq!(b["client_id"], c.id.as_str());
    assert_eq!(b["provider_id"], p.id.as_str());
    assert_eq!(b["status"], "requested");
    assert_eq!(b["note"], "Short at the sides");
    assert_eq!(b["price"], json!({"amount": 12500, "currency": "USD"}), "price copied from the service");
    let parsed = |v: &Value| OffsetDateTime::parse(v.as_str().expect("timestamp"), &Rfc3339).expect("rfc3339");
    assert_eq!(parsed(&b["start_at"]), start);
    assert_eq!(parsed(&b["end_at"]), end);
    for k in ["created_at", "updated_at"] {
        parsed(&b[k]);
    }

    // The provider hears about it live.
    let n = notification(&mut pws, "booking").await;
    assert!(n["title"].as_str().expect("title").to_lowercase().contains("booking"), "{n}");
    assert_eq!(n["action_url"], format!("/bookings/{id}"));
    assert_eq!(n["object_id"], id.as_str());
    assert_eq!(n["actor_id"], c.id.as_str());

    // Both parties see it, under every alias.
    for who in [&c, &p] {
        for base in ["/api/bookings", "/api/service-bookings", "/api/appointments"] {
            let r = app.get(&format!("{base}/{id}"), Some(&who.token)).await;
            r.expect(200, None);
            assert_eq!(r.json["id"], id.as_str());
        }
        let r = app.get("/api/bookings/", Some(&who.token)).await;
        r.expect(200, None);
        assert_eq!(ids(&r), vec![id.clone()]);
        assert!(r.json["next_cursor"].is_null());
    }
    let r = app.get("/api/bookings?role=provider", Some(&c.token)).await;
    r.expect(200, None);
    assert!(ids(&r).is_empty(), "the client is not the provider: {}", r.text);
    let r = app.get("/api/bookings?role=provider&status=requested", Some(&p.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&r), vec![id.clone()]);
    app.get("/api/bookings?role=admin", Some(&p.token)).await.expect(400, Some("validation_failed"));
    app.get("/api/bookings?status=done", Some(&p.token)).await.expect(400, Some("validation_failed"));
    app.get("/api/bookings", None).await.expect(401, Some("unauthorized"));

    // The provider confirms, which charges the client's saved card; the client hears about it.
    set_status(&app, &p, &id, "confirmed").await.expect(409, Some("payment_method_required"));
    app.card(&c, "4242424242424242").await;
    let r = set_status(&app, &p, &id, "confirmed").await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "confirmed");
    let n = notification(&mut cws, "booking").await;
    assert_eq!(n["action_url"], format!("/bookings/{id}"));
    assert_eq!(n["object_type"], "booking");
    assert!(n["title"].as_str().expect("title").to_lowercase().contains("confirmed"), "{n}");
    let r = app.get("/api/bookings?status=confirmed", Some(&c.token)).await;
    assert_eq!(ids(&r), vec![id.clone()]);
    let r = app.get("/api/bookings?status=requested", Some(&c.token)).await;
    assert!(ids(&r).is_empty());

    // The client cancels (before the start); the provider hears about it.
    set_status(&app, &c, &id, "cancelled").await.expect(200, None);
    let n = notification(&mut pws, "booking").await;
    assert!(n["title"].as_str().expect("title").to_lowercase().contains("cancel"), "{n}");
}

#[actix_web::test]
async fn booking_lists_page_newest_first() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Lesson").await;
    let c = app.user("client").await;
    let mut made = Vec::new();
    for h in 0..5 {
        made.push(book(&app, &c, &svc, h, h + 1).await);
    }
    made.reverse();
    let r = app.get("/api/bookings?limit=2", Some(&c.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&r), made[..2].to_vec());
    let cursor = r.json["next_cursor"].as_str().expect("cursor").to_string();
    let r = app.get(&format!("/api/bookings?limit=2&cursor={cursor}"), Some(&c.token)).await;
    assert_eq!(ids(&r), made[2..4].to_vec());
    let cursor = r.json["next_cursor"].as_str().expect("cursor").to_string();
    let r = app.get(&format!("/api/bookings?limit=2&cursor={cursor}"), Some(&c.token)).await;
    assert_eq!(ids(&r), made[4..].to_vec());
    assert!(r.json["next_cursor"].is_null());
    app.get("/api/bookings?limit=0", Some(&c.token)).await.expect(400, Some("validation_failed"));
}

#[actix_web::test]
async fn booking_validation() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Massage").await;
    let c = app.user("client").await;
    let start = at(DAY);

    let fields = |r: &Reply, name: &str| {
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"][name].is_array(), "expected a problem with {name}: {}", r.text);
    };
    fields(&book_at(&app, &c, &svc, start, start - time::Duration::hours(1)).await, "end_at");
    fields(&book_at(&app, &c, &svc, start, start).await, "end_at");
    fields(&book_at(&app, &c, &svc, at(-HOUR), at(HOUR)).await, "start_at");
    fields(&book_at(&app, &c, &svc, start, start + time::Duration::days(31)).await, "end_at");
    let r = app
        .post("/api/bookings", json!({"service_id": svc, "start_at": "tomorrow", "end_at": ts(start)}), Some(&c.token))
        .await;
    fields(&r, "start_at");
    let r = app
        .post(
            "/api/bookings",
            json!({"start_at": ts(start), "end_at": ts(start + time::Duration::hours(1))}),
            Some(&c.token),
        )
        .await;
    fields(&r, "service_id");
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": "not-a-uuid", "start_at": ts(start), "end_at": ts(start + time::Duration::hours(1))}),
            Some(&c.token),
        )
        .await;
    fields(&r, "service_id");
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": ts(start), "end_at": ts(start + time::Duration::hours(1)), "note": "n".repeat(2001)}),
            Some(&c.token),
        )
        .await;
    fields(&r, "note");

    // An unknown service is a 404; booking your own service is a 403.
    let unknown = uuid::Uuid::now_v7().to_string();
    book_at(&app, &c, &unknown, start, start + time::Duration::hours(1)).await.expect(404, Some("not_found"));
    book_at(&app, &p, &svc, start, start + time::Duration::hours(1)).await.expect(403, Some("forbidden"));
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": ts(start), "end_at": ts(start + time::Duration::hours(1))}),
            None,
        )
        .await;
    r.expect(401, Some("unauthorized"));

    // An offset timestamp is read as the instant it names.
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": "2099-01-01T12:00:00+02:00", "end_at": "2099-01-01T13:30:00+02:00"}),
            Some(&c.token),
        )
        .await;
    r.expect(201, None);
    assert_eq!(r.json["start_at"], "2099-01-01T10:00:00Z");
    assert_eq!(r.json["end_at"], "2099-01-01T11:30:00Z");
}

#[actix_web::test]
async fn refused_booking_transitions() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Tutoring").await;
    let c = app.user("client").await;
    let stranger = app.user("stranger").await;

    let b = book(&app, &c, &svc, 0, 1).await;
    // Strangers can't see it or change it.
    app.get(&format!("/api/bookings/{b}"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    set_status(&app, &stranger, &b, "cancelled").await.expect(404, Some("not_found"));
    assert!(ids(&app.get("/api/bookings", Some(&stranger.token)).await).is_empty());
    app.get("/api/bookings/not-an-id", Some(&c.token)).await.expect(404, Some("not_found"));
    let unknown = uuid::Uuid::now_v7();
    app.get(&format!("/api/bookings/{unknown}"), Some(&c.token)).await.expect(404, Some("not_found"));
    set_status(&app, &c, &unknown.to_string(), "cancelled").await.expect(404, Some("not_found"));

    // Bad bodies.
    set_status(&app, &p, &b, "approved").await.expect(400, Some("validation_failed"));
    app.post(&format!("/api/bookings/{b}/status"), json!({}), Some(&p.token))
        .await
        .expect(400, Some("validation_failed"));

    // The client can't confirm, decline or complete; requested can't complete.
    set_status(&app, &c, &b, "confirmed").await.expect(403, Some("forbidden"));
    set_status(&app, &c, &b, "declined").await.expect(403, Some("forbidden"));
    set_status(&app, &p, &b, "completed").await.expect(409, Some("invalid_transition"));
    set_status(&app, &p, &b, "requested").await.expect(409, Some("invalid_transition"));

    // Declined is final.
    set_status(&app, &p, &b, "declined").await.expect(200, None);
    set_status(&app, &p, &b, "confirmed").await.expect(409, Some("invalid_transition"));
    set_status(&app, &c, &b, "cancelled").await.expect(409, Some("invalid_transition"));
    let r = app.get(&format!("/api/bookings/{b}"), Some(&c.token)).await;
    assert_eq!(r.json["status"], "declined");

    // Confirmed, but it hasn't started: no completing yet; the client can't complete at all.
    let b = book(&app, &c, &svc, 2, 3).await;
    set_status(&app, &p, &b, "confirmed").await.expect(200, None);
    set_status(&app, &p, &b, "confirmed").await.expect(409, Some("invalid_transition"));
    set_status(&app, &c, &b, "completed").await.expect(403, Some("forbidden"));
    set_status(&app, &p, &b, "completed").await.expect(409, Some("invalid_transition"));
    set_status(&app, &p, &b, "declined").await.expect(409, Some("invalid_transition"));
    // Cancelled is final too.
    set_status(&app, &p, &b, "cancelled").await.expect(200, None);
    set_status(&app, &c, &b, "cancelled").await.expect(409, Some("invalid_transition"));
    set_status(&app, &p, &b, "confirmed").await.expect(409, Some("invalid_transition"));

    // Once it has started: no cancelling, and the provider completes it (once).
    let start = at(2);
    let r = book_at(&app, &c, &svc, start, start + time::Duration::hours(1)).await;
    r.expect(201, None);
    let b = r.json["id"].as_str().expect("id").to_string();
    set_status(&app, &p, &b, "confirmed").await.expect(200, None);
    wait_until(start).await;
    set_status(&app, &c, &b, "cancelled").await.expect(409, Some("invalid_transition"));
    set_status(&app, &c, &b, "completed").await.expect(403, Some("forbidden"));
    let r = set_status(&app, &p, &b, "completed").await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "completed");
    set_status(&app, &p, &b, "completed").await.expect(409, Some("invalid_transition"));

    // A requested booking whose start has passed can no longer be confirmed.
    let start = at(2);
    let r = book_at(&app, &c, &svc, start, start + time::Duration::hours(1)).await;
    let late = r.json["id"].as_str().expect("id").to_string();
    wait_until(start).await;
    set_status(&app, &p, &late, "confirmed").await.expect(409, Some("invalid_transition"));
}

#[actix_web::test]
async fn overlapping_confirmations_are_refused() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Consulting").await;
    let other_svc = service(&app, &p, "Second offer").await;
    let c = app.user("client").await;
    let c2 = app.user("client2").await;

    let b1 = book(&app, &c, &svc, 1, 3).await;
    let b2 = book(&app, &c2, &other_svc, 2, 4).await; // overlaps b1, on another of p's services
    let b3 = book(&app, &c, &svc, 3, 5).await; // touches b1's end: no overlap
    let b4 = book(&app, &c2, &svc, 0, 2).await; // overlaps b1 only

    // Requests may overlap; confirmations may not.
    set_status(&app, &p, &b1, "confirmed").await.expect(200, None);
    set_status(&app, &p, &b2, "confirmed").await.expect(409, Some("booking_overlap"));
    set_status(&app, &p, &b4, "confirmed").await.expect(409, Some("booking_overlap"));
    let r = app.get(&format!("/api/bookings/{b2}"), Some(&c2.token)).await;
    assert_eq!(r.json["status"], "requested", "a refused confirm changes nothing");
    set_status(&app, &p, &b3, "confirmed").await.expect(200, None);

    // Another provider's bookings at the same time are unaffected.
    let (q, _) = provider(&app, "prov2").await;
    let q_svc = service(&app, &q, "Other provider").await;
    let qb = book(&app, &c, &q_svc, 1, 3).await;
    set_status(&app, &q, &qb, "confirmed").await.expect(200, None);

    // Cancelling frees the slot.
    set_status(&app, &c, &b1, "cancelled").await.expect(200, None);
    set_status(&app, &p, &b4, "confirmed").await.expect(200, None);
    set_status(&app, &p, &b2, "confirmed").await.expect(409, Some("booking_overlap")); // still b3
    set_status(&app, &p, &b3, "cancelled").await.expect(200, None);
    set_status(&app, &p, &b2, "confirmed").await.expect(200, None);
    let r = app.get("/api/bookings?status=confirmed&role=provider", Some(&p.token)).await;
    let mut confirmed = ids(&r);
    confirmed.sort();
    let mut want = vec![b2, b4];
    want.sort();
    assert_eq!(confirmed, want);
}

#[actix_web::test]
async fn concurrent_confirms_of_overlapping_bookings_let_exactly_one_through() {
    let app = spawn_app_with(|s| s.http_workers = 4).await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Popular slot").await;
    let mut bookings = Vec::new();
    for i in 0..8 {
        let c = app.user(&format!("client{i}")).await;
        // Every pair overlaps: all contain the 30 minutes after the first hour.
        let base = at(3 * DAY) + time::Duration::minutes(5 * i);
        let r = book_at(&app, &c, &svc, base, base + time::Duration::hours(2)).await;
        r.expect(201, None);
        bookings.push(r.json["id"].as_str().expect("id").to_string());
    }
    for round in 0..3 {
        let results =
            futures_util::future::join_all(bookings.iter().map(|b| set_status(&app, &p, b, "confirmed"))).await;
        let ok = results.iter().filter(|r| r.status == 200).count();
        if round == 0 {
            assert_eq!(ok, 1, "exactly one confirm wins: {:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        } else {
            assert_eq!(ok, 0, "the winner is already confirmed");
        }
        for r in results.iter().filter(|r| r.status != 200) {
            assert_eq!(r.status, 409, "{}", r.text);
            assert!(matches!(r.code(), "booking_overlap" | "invalid_transition"), "{}", r.text);
        }
    }
    let r = app.get("/api/bookings?status=confirmed&limit=100", Some(&p.token)).await;
    assert_eq!(ids(&r).len(), 1, "one confirmed booking: {}", r.text);
}

/// Unfolds RFC 5545 content lines (asserting CRLF endings and the 75-octet limit).
fn unfold(ics: &str) -> Vec<String> {
    assert!(ics.ends_with("\r\n"), "ends with CRLF");
    let physical: Vec<&str> = ics.trim_end_matches("\r\n").split("\r\n").collect();
    let mut out: Vec<String> = Vec::new();
    for l in physical {
        assert!(!l.contains('\n') && !l.contains('\r'), "bare line break in {l:?}");
        assert!(l.len() <= 75, "line over 75 octets ({}): {l:?}", l.len());
        match l.strip_prefix(' ') {
            Some(rest) => out.last_mut().expect("a folded line follows a line").push_str(rest),
            None => out.push(l.to_string()),
        }
    }
    out
}

#[actix_web::test]
async fn calendar_export() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let title = "Deep tissue massage, 60 minutes; with hot stones \\ aromatherapy oils and a long title é";
    let svc = service(&app, &p, title).await;
    let c = app.user("client").await;

    let base = at(2 * DAY);
    let (s1, e1) = (base, base + time::Duration::minutes(90));
    let r = app
        .post(
            "/api/bookings",
            json!({"service_id": svc, "start_at": ts(s1), "end_at": ts(e1), "note": "Ring twice, please;\nthen wait"}),
            Some(&c.token),
        )
        .await;
    r.expect(201, None);
    let requested = r.json["id"].as_str().expect("id").to_string();
    // Booked against this test's own `base` (not a second `now`), so DTSTART can be checked to the second.
    let r = book_at(&app, &c, &svc, base + time::Duration::hours(3), base + time::Duration::hours(4)).await;
    r.expect(201, None);
    let confirmed = r.json["id"].as_str().expect("booking id").to_string();
    set_status(&app, &p, &confirmed, "confirmed").await.expect(200, None);
    let cancelled = book(&app, &c, &svc, 5, 6).await;
    set_status(&app, &c, &cancelled, "cancelled").await.expect(200, None);
    let declined = book(&app, &c, &svc, 7, 8).await;
    set_status(&app, &p, &declined, "declined").await.expect(200, None);

    app.get("/api/bookings.ics", None).await.expect(401, Some("unauthorized"));
    for who in [&c, &p] {
        let r = app.get("/api/bookings.ics", Some(&who.token)).await;
        r.expect(200, None);
        let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert_eq!(ct, "text/calendar; charset=utf-8");
        let lines = unfold(&r.text);
        assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCALENDAR"));
        assert_eq!(lines.last().map(String::as_str), Some("END:VCALENDAR"));
        assert!(lines.iter().any(|l| l == "VERSION:2.0"));
        assert!(lines.iter().any(|l| l.starts_with("PRODID:")));
        assert_eq!(lines.iter().filter(|l| *l == "BEGIN:VEVENT").count(), 2, "{}", r.text);
        assert_eq!(lines.iter().filter(|l| *l == "END:VEVENT").count(), 2);
        for gone in [&cancelled, &declined] {
            assert!(!r.text.contains(gone.as_str()), "declined and cancelled bookings are left out");
        }

        // Each event, by UID.
        let event = |id: &str| -> Vec<String> {
            let begin = lines.iter().position(|l| *l == format!("UID:{id}@agora")).expect("event by UID");
            let start = lines[..begin].iter().rposition(|l| l == "BEGIN:VEVENT").expect("BEGIN");
            let end = begin + lines[begin..].iter().position(|l| l == "END:VEVENT").expect("END");
            lines[start..=end].to_vec()
        };
        let basic = |t: OffsetDateTime| {
            format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        };
        let e = event(&requested);
        assert!(e.contains(&format!("DTSTART:{}", basic(s1))), "{e:?}");
        assert!(e.contains(&format!("DTEND:{}", basic(e1))), "{e:?}");
        assert!(e.contains(&"STATUS:TENTATIVE".to_string()), "{e:?}");
        let summary =
            "SUMMARY:Deep tissue massage\\, 60 minutes\\; with hot stones \\\\ aromatherapy oils and a long title é";
        assert!(e.contains(&summary.to_string()), "{e:?}");
        assert!(e.contains(&"DESCRIPTION:Ring twice\\, please\\;\\nthen wait".to_string()), "{e:?}");
        let stamp = e.iter().find(|l| l.starts_with("DTSTAMP:")).expect("DTSTAMP");
        assert_eq!(stamp.len(), "DTSTAMP:".len() + 16, "{stamp}");
        assert!(stamp.ends_with('Z'));
        let e = event(&confirmed);
        assert!(e.contains(&"STATUS:CONFIRMED".to_string()), "{e:?}");
        assert!(e.contains(&format!("DTSTART:{}", basic(base + time::Duration::hours(3)))), "{e:?}");
    }
    // The long summary was folded on the wire.
    let r = app.get("/api/appointments.ics", Some(&c.token)).await;
    r.expect(200, None);
    assert!(r.text.contains("\r\n "), "long lines are folded");

    let stranger = app.user("stranger").await;
    let r = app.get("/api/bookings.ics", Some(&stranger.token)).await;
    r.expect(200, None);
    assert!(!r.text.contains("BEGIN:VEVENT"));
}

// ---- reviews

#[actix_web::test]
async fn reviews_need_a_completed_engagement_and_a_party() {
    let app = spawn_app().await;
    let (p, _) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Gardening").await;
    let c = app.user("client").await;
    let stranger = app.user("stranger").await;

    let pending = contract(&app, &c, &p).await;
    review(&app, &c, json!({"contract_id": pending, "rating": 5})).await.expect(409, Some("not_completed"));
    review(&app, &p, json!({"contract_id": pending, "rating": 5})).await.expect(409, Some("not_completed"));
    review(&app, &stranger, json!({"contract_id": pending, "rating": 5})).await.expect(404, Some("not_found"));
    let booking = book(&app, &c, &svc, 0, 1).await;
    review(&app, &c, json!({"booking_id": booking, "rating": 5})).await.expect(409, Some("not_completed"));
    set_status(&app, &p, &booking, "confirmed").await.expect(200, None);
    review(&app, &c, json!({"booking_id": booking, "rating": 5})).await.expect(409, Some("not_completed"));
    review(&app, &stranger, json!({"booking_id": booking, "rating": 5})).await.expect(404, Some("not_found"));
    let unknown = uuid::Uuid::now_v7().to_string();
    review(&app, &c, json!({"contract_id": unknown, "rating": 5})).await.expect(404, Some("not_found"));
    review(&app, &c, json!({"booking_id": unknown, "rating": 5})).await.expect(404, Some("not_found"));
    app.post("/api/reviews", json!({"contract_id": pending, "rating": 5}), None)
        .await
        .expect(401, Some("unauthorized"));

    // Bad input is a 400 whatever the engagement.
    let done = completed_contract(&app, &c, &p).await;
    let bad = |body: Value, field: &'static str| {
        let app = &app;
        let c = &c;
        async move {
            let r = review(app, c, body).await;
            r.expect(400, Some("validation_failed"));
            assert!(r.json["error"]["fields"][field].is_array(), "expected a problem with {field}: {}", r.text);
        }
    };
    for rating in [json!(0), json!(6), json!(-1), json!("x"), json!("5"), json!(4.5), json!(null)] {
        bad(json!({"contract_id": done, "rating": rating}), "rating").await;
    }
    bad(json!({"contract_id": done}), "rating").await;
    bad(json!({"contract_id": done, "booking_id": booking, "rating": 5}), "contract_id").await;
    bad(json!({"rating": 5}), "contract_id").await;
    bad(json!({"contract_id": "nope", "rating": 5}), "contract_id").await;
    bad(json!({"contract_id": done, "rating": 5, "comment": "x".repeat(2001)}), "comment").await;
    review(&app, &stranger, json!({"contract_id": done, "rating": 5})).await.expect(404, Some("not_found"));

    // Nothing was created along the way.
    let r = app.get(&format!("/api/reviews?reviewee_id={}", p.id), None).await;
    r.expect(200, None);
    assert!(ids(&r).is_empty(), "{}", r.text);
}

#[actix_web::test]
async fn review_lifecycle_with_exact_aggregates() {
    let app = spawn_app().await;
    let (p, pid) = provider(&app, "prov").await;
    let svc = service(&app, &p, "Plumbing").await;
    let c1 = app.user("client1").await;
    let c2 = app.user("client2").await;
    let c3 = app.user("client3").await;
    let k1 = completed_contract(&app, &c1, &p).await;
    let k2 = completed_contract(&app, &c2, &p).await;
    let bk = completed_booking(&app, &c3, &p, &svc).await;
    assert_eq!(provider_rating(&app, &pid).await, (0.0, 0));

    let mut pws = app.ws(&p.token, Encoding::Json).await;

    // Review via a completed contract: the reviewee is notified live.
    let r = review(&app, &c1, json!({"contract_id": k1, "rating": 5, "comment": "  Excellent work  "})).await;
    r.expect(201, None);
    let r1 = r.json["id"].as_str().expect("review id").to_string();
    assert_eq!(r.json["contract_id"], k1.as_str());
    assert!(r.json["booking_id"].is_null());
    assert_eq!(r.json["author_id"], c1.id.as_str());
    assert_eq!(r.json["reviewee_id"], p.id.as_str());
    assert_eq!(r.json["rating"], 5);
    assert_eq!(r.json["comment"], "Excellent work");
    assert!(r.json["reply"].is_null());
    let n = notification(&mut pws, "review").await;
    assert_eq!(n["action_url"], format!("/reviews/{r1}"));
    assert_eq!(n["object_id"], r1.as_str());
    assert_eq!(n["actor_id"], c1.id.as_str());
    assert_eq!(provider_rating(&app, &pid).await, (5.0, 1));

    // Once per engagement and author.
    review(&app, &c1, json!({"contract_id": k1, "rating": 1})).await.expect(409, Some("already_reviewed"));

    let r = review(&app, &c2, json!({"contract_id": k2, "rating": 4})).await;
    r.expect(201, None);
    let r2 = r.json["id"].as_str().expect("review id").to_string();
    assert_eq!(provider_rating(&app, &pid).await, (4.5, 2));

    // Via a completed booking: counts for the provider and for the service.
    let r = review(&app, &c3, json!({"booking_id": bk, "rating": 4})).await;
    r.expect(201, None);
    let r3 = r.json["id"].as_str().expect("review id").to_string();
    assert_eq!(r.json["booking_id"], bk.as_str());
    assert_eq!(r.json["service_id"], svc.as_str());
    assert_eq!(provider_rating(&app, &pid).await, (4.33, 3));
    assert_eq!(service_rating(&app, &svc).await, (4.0, 1));

    // The provider may review the client too; that doesn't count for the provider.
    let r = review(&app, &p, json!({"contract_id": k1, "rating": 3})).await;
    r.expect(201, None);
    assert_eq!(r.json["reviewee_id"], c1.id.as_str());
    let r = review(&app, &p, json!({"booking_id": bk, "rating": 2})).await;
    r.expect(201, None);
    assert!(r.json["service_id"].is_null(), "a review of the client is not a review of the service");
    assert_eq!(provider_rating(&app, &pid).await, (4.33, 3));
    assert_eq!(service_rating(&app, &svc).await, (4.0, 1));

    // Edits: author only, recomputed exactly.
    app.patch(&format!("/api/reviews/{r1}"), json!({"rating": 1}), Some(&c2.token))
        .await
        .expect(403, Some("forbidden"));
    app.patch(&format!("/api/reviews/{r1}"), json!({"rating": 1}), Some(&p.token)).await.expect(403, Some("forbidden"));
    app.patch(&format!("/api/reviews/{r1}"), json!({"rating": 0}), Some(&c1.token))
        .await
        .expect(400, Some("validation_failed"));
    let unknown = uuid::Uuid::now_v7();
    app.patch(&format!("/api/reviews/{unknown}"), json!({"rating": 1}), Some(&c1.token))
        .await
        .expect(404, Some("not_found"));
    let r = app
        .patch(&format!("/api/reviews/{r1}"), json!({"rating": 2, "comment": "Changed my mind"}), Some(&c1.token))
        .await;
    r.expect(200, None);
    assert_eq!(r.json["rating"], 2);
    assert_eq!(r.json["comment"], "Changed my mind");
    assert_eq!(provider_rating(&app, &pid).await, (3.33, 3)); // 2 + 4 + 4
    let r = app.patch(&format!("/api/ratings/{r3}"), json!({"rating": 5}), Some(&c3.token)).await;
    r.expect(200, None);
    assert_eq!(provider_rating(&app, &pid).await, (3.67, 3)); // 2 + 4 + 5
    assert_eq!(service_rating(&app, &svc).await, (5.0, 1));

    // Replies: the reviewee only, once.
    let reply = |who: &TestUser, id: &str, text: &str| {
        let (app, token, path) = (&app, who.token.clone(), format!("/api/reviews/{id}/reply"));
        let body = json!({"reply": text});
        async move { app.post(&path, body, Some(&token)).await }
    };
    reply(&c1, &r1, "Thanks to me").await.expect(403, Some("forbidden"));
    reply(&c2, &r1, "Not mine").await.expect(403, Some("forbidden"));
    reply(&p, &r1, "   ").await.expect(400, Some("validation_failed"));
    reply(&p, &unknown.to_string(), "Hello").await.expect(404, Some("not_found"));
    let mut cws = app.ws(&c1.token, Encoding::Json).await;
    let r = reply(&p, &r1, "Sorry to hear that").await;
    r.expect(200, None);
    assert_eq!(r.json["reply"], "Sorry to hear that");
    assert!(r.json["replied_at"].is_string());
    loop {
        let n = notification(&mut cws, "review").await;
        if n["object_id"] == r1.as_str() {
            break;
        }
    }
    reply(&p, &r1, "Again").await.expect(409, Some("already_replied"));

    // Public reads, filtered, newest first.
    let r = app.get(&format!("/api/reviews/{r1}"), None).await;
    r.expect(200, None);
    assert_eq!(r.json["reply"], "Sorry to hear that");
    app.get("/api/reviews", None).await.expect(400, Some("validation_failed"));
    app.get("/api/reviews?reviewee_id=nope", None).await.expect(400, Some("validation_failed"));
    let r = app.get(&format!("/api/reviews?reviewee_id={}", p.id), None).await;
    r.expect(200, None);
    assert_eq!(ids(&r), vec![r3.clone(), r2.clone(), r1.clone()]);
    let r = app.get(&format!("/api/ratings?service_id={svc}"), None).await;
    assert_eq!(ids(&r), vec![r3.clone()]);
    let r = app.get(&format!("/api/reviews?author_id={}", c1.id), None).await;
    assert_eq!(ids(&r), vec![r1.clone()]);
    let r = app.get(&format!("/api/reviews?author_id={}&reviewee_id={}", p.id, c1.id), None).await;
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(1), "{}", r.text);
    let r = app.get(&format!("/api/reviews?reviewee_id={}&limit=2", p.id), None).await;
    assert_eq!(ids(&r), vec![r3.clone(), r2.clone()]);
    let cursor = r.json["next_cursor"].as_str().expect("cursor").to_string();
    let r = app.get(&format!("/api/reviews?reviewee_id={}&limit=2&cursor={cursor}", p.id), None).await;
    assert_eq!(ids(&r), vec![r1.clone()]);

    // Deletes: author only; recomputed; the author may then review again.
    app.delete(&format!("/api/reviews/{r2}"), Some(&c1.token)).await.expect(403, Some("forbidden"));
    app.delete(&format!("/api/reviews/{r2}"), Some(&p.token)).await.expect(403, Some("forbidden"));
    app.delete(&format!("/api/reviews/{r2}"), None).await.expect(401, Some("unauthorized"));
    app.delete(&format!("/api/reviews/{r2}"), Some(&c2.token)).await.expect(204, None);
    app.get(&format!("/api/reviews/{r2}"), None).await.expect(404, Some("not_found"));
    app.delete(&format!("/api/reviews/{r2}"), Some(&c2.token)).await.expect(404, Some("not_found"));
    assert_eq!(provider_rating(&app, &pid).await, (3.5, 2)); // 2 + 5
    app.delete(&format!("/api/reviews/{r3}"), Some(&c3.token)).await.expect(204, None);
    assert_eq!(provider_rating(&app, &pid).await, (2.0, 1));
    assert_eq!(service_rating(&app, &svc).await, (0.0, 0));
    let r = review(&app, &c2, json!({"contract_id": k2, "rating": 3})).await;
    r.expect(201, None);
    assert_eq!(provider_rating(&app, &pid).await, (2.5, 2));
}

#[actix_web::test]
async fn concurrent_reviews_leave_exact_aggregates() {
    let app = spawn_app_with(|s| s.http_workers = 4).await;
    let (p, pid) = provider(&app, "prov").await;
    let mut authors = Vec::new();
    for i in 0..5 {
        let c = app.user(&format!("client{i}")).await;
        let k = completed_contract(&app, &c, &p).await;
        authors.push((c, k));
    }
    let ratings = [5, 4, 4, 2, 1];
    let results = futures_util::future::join_all(
        authors
            .iter()
            .zip(ratings)
            .map(|((c, k), rating)| review(&app, c, json!({"contract_id": k, "rating": rating}))),
    )
    .await;
    for r in &results {
        r.expect(201, None);
    }
    assert_eq!(provider_rating(&app, &pid).await, (3.2, 5));
}
