//! Analytics end to end: page views and actions sent by a client, user actions recorded
//! from what the API did, and the three dashboards, each figure checked against exactly
//! what this test did (a replayed batch included), who may see what, CSV, and bad input.

use std::time::Duration;

use agora_tests::{spawn_app_with, TestApp, TestUser};
use serde_json::{json, Value};

async fn app() -> TestApp {
    spawn_app_with(|s| {
        s.analytics_rollup_interval_ms = 100;
        s.analytics_settle_ms = 300;
    })
    .await
}

fn today() -> String {
    agora_engine::analytics::ymd(time::OffsetDateTime::now_utc().date())
}

/// Polls `path` as `user` until `done` holds for its JSON (the rollup runs every 100 ms).
async fn until(app: &TestApp, path: &str, user: &TestUser, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..100 {
        let r = app.get(path, Some(&user.token)).await;
        r.expect(200, None);
        if done(&r.json) {
            return r.json;
        }
        last = r.json;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{path} never reached the expected figures; last answer: {last:#}");
}

fn today_row<'a>(v: &'a Value, series: &str) -> &'a Value {
    let rows = v["series"][series].as_array().expect("series rows");
    rows.last().expect("a row for today")
}

async fn metric(app: &TestApp, name: &str) -> f64 {
    let r = app.get("/metrics", None).await;
    r.text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum()
}

#[actix_web::test]
async fn every_dashboard_figure_is_what_the_api_did() {
    let app = app().await;
    let admin = app.admin().await;
    let (provider, _) = app.provider("gardener").await;
    let client = app.user("owner").await;
    let other = app.user("neighbour").await;

    let body = json!({"title": "Garden fence repair", "description": "Panels, posts and gates mended.",
        "price": {"amount": 5_000, "currency": "USD"}, "duration_minutes": 60});
    let r = app.post("/api/services", body, Some(&provider.token)).await;
    r.expect(201, None);
    let service = r.json["id"].as_str().expect("service id").to_string();

    // Three views (two signed in, one anonymous), two likes and one unlike.
    for token in [Some(client.token.as_str()), Some(client.token.as_str()), None] {
        app.get(&format!("/api/services/{service}"), token).await.expect(200, None);
    }
    let like = format!("/api/services/{service}/like");
    app.put(&like, json!({}), Some(&client.token)).await.expect(200, None);
    app.put(&like, json!({}), Some(&other.token)).await.expect(200, None);
    app.delete(&like, Some(&other.token)).await.expect(200, None);
    // Two searches, one without results.
    app.get("/api/services?q=garden", Some(&client.token)).await.expect(200, None);
    let r = app.get("/api/services?q=xylophone", Some(&client.token)).await;
    assert_eq!(r.json["results"].as_array().map(Vec::len), Some(0), "{}", r.text);

    // A client batch of three page views and a click, sent twice (a retry): it counts once.
    let batch = json!({"visitor_id": "visitor-0001", "batch_id": "batch-0001", "events": [
        {"kind": "page_view", "path": "/", "referrer": "https://example.com/?q=secret"},
        {"kind": "page_view", "path": "/services?page=2"},
        {"kind": "page_view", "path": "/jobs"},
        {"kind": "click", "target": "hero.cta"},
    ]});
    for _ in 0..2 {
        let r = app.post("/api/analytics/events", batch.clone(), None).await;
        r.expect(202, None);
        assert_eq!(r.json["accepted"], 4, "{}", r.text);
    }

    // A contract: posted, proposed, accepted, funded, delivered, completed, reviewed.
    let contract = app.pending_contract(&client, &provider, 10_000).await;
    app.fund_contract(&client, &contract).await;
    let status = |to: &str| json!({ "status": to });
    let url = format!("/api/contracts/{contract}/status");
    app.post(&url, status("delivered"), Some(&provider.token)).await.expect(200, None);
    app.post(&url, status("completed"), Some(&client.token)).await.expect(200, None);
    app.post("/api/reviews", json!({"contract_id": contract, "rating": 4}), Some(&client.token))
        .await
        .expect(201, None);
    // A booking request on the service.
    let card = app.card(&client, "4242424242424242").await;
    let start = time::OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::days(3);
    let fmt = |t: time::OffsetDateTime| t.format(&time::format_description::well_known::Rfc3339).expect("rfc3339");
    let booking = json!({"service_id": service, "start_at": fmt(start), "end_at": fmt(start + time::Duration::hours(1)),
        "payment_method_id": card});
    app.post("/api/bookings", booking, Some(&client.token)).await.expect(201, None);

    // Two messages: counted, never kept.
    let conv = app.conversation(&client, &[&provider]).await;
    for body in ["Thanks for the fence", "See you next week"] {
        let r =
            app.post(&format!("/api/conversations/{conv}/messages"), json!({"body": body}), Some(&client.token)).await;
        assert!(r.status < 300, "{}", r.text);
    }

    // The admin dashboard, once the rollup has caught up with the last thing done.
    until(&app, "/api/analytics/dashboard", &admin, |d| {
        d["contracts"]["completed"] == 1
            && today_row(d, "daily")["bookings"] == 1
            && today_row(d, "daily")["messages"] == 2
            && d["page_views"] == 3
    })
    .await;
    // The replayed batch has been read by the rollup, and counted nothing.
    for _ in 0..50 {
        if metric(&app, "agora_analytics_replayed_total").await >= 4.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(metric(&app, "agora_analytics_replayed_total").await >= 4.0, "the replay was rolled up");
    let d = until(&app, "/api/analytics/dashboard", &admin, |_| true).await;
    assert_eq!(d["to"], today());
    assert_eq!(d["page_views"], 3, "the replayed batch counted once: {d:#}");
    assert_eq!(d["users"], json!({"total": 4, "new": 4, "active_1d": 3, "active_7d": 3, "active_30d": 3}));
    assert_eq!(d["services"], json!({"total": 1, "new": 1, "removed": 0}));
    assert_eq!((d["jobs"]["total"].as_i64(), d["jobs"]["posted"].as_i64()), (Some(1), Some(1)));
    assert_eq!(
        d["contracts"],
        json!({"active": 0, "completed": 1, "by_status": {"completed": 1}, "created": 1, "completed_in_range": 1,
            "cancelled_in_range": 0})
    );
    assert_eq!(
        d["money"],
        json!([{"currency": "USD", "gmv": {"amount": 10_000, "currency": "USD"}, "fees": {"amount": 1_000, "currency": "USD"}}])
    );
    assert_eq!(d["popular_services"], json!([{"service_id": service, "title": "Garden fence repair", "views": 3}]));
    assert_eq!(d["top_providers_by_volume"], json!([{"user_id": provider.id, "completed": 1}]));
    let rated = &d["top_providers_by_rating"][0];
    assert_eq!((rated["user_id"].as_str(), rated["rating_avg"].as_f64()), (Some(provider.id.as_str()), Some(4.0)));
    assert_eq!(
        d["search"],
        json!({"total": 2, "zero_results": 1, "trends": [{"q": "garden", "count": 1}, {"q": "xylophone", "count": 1}],
            "zero_result_queries": [{"q": "xylophone", "count": 1}]})
    );
    // The series: 30 days ending today, today's bucket holding everything; the month's too.
    let daily = d["series"]["daily"].as_array().expect("daily");
    assert_eq!(daily.len(), 30);
    assert_eq!(daily[0]["page_views"], 0);
    let row = today_row(&d, "daily");
    let expect = [
        ("date", json!(today())),
        ("page_views", json!(3)),
        ("users_new", json!(4)),
        ("active_users", json!(3)),
        ("services_new", json!(1)),
        ("jobs_posted", json!(1)),
        ("proposals", json!(1)),
        ("contracts_new", json!(1)),
        ("contracts_completed", json!(1)),
        ("bookings", json!(1)),
        ("reviews", json!(1)),
        ("likes", json!(2)),
        ("service_views", json!(3)),
        ("searches", json!(2)),
        ("searches_zero", json!(1)),
        ("messages", json!(2)),
        ("gmv:USD", json!(10_000)),
        ("fees:USD", json!(1_000)),
    ];
    for (k, v) in &expect {
        assert_eq!(&row[k], v, "today's {k}: {row:#}");
    }
    let month = today_row(&d, "monthly");
    assert_eq!((month["month"].as_str().map(str::len), &month["page_views"]), (Some(7), &json!(3)));

    // The provider's own figures.
    let p = until(&app, "/api/analytics/provider", &provider, |p| p["rating"]["reviews_in_range"] == 1).await;
    assert_eq!(
        p["services"],
        json!([{"service_id": service, "title": "Garden fence repair", "views": 3, "likes": 2, "bookings": 1,
            "conversion": 0.3333}])
    );
    assert_eq!((&p["service_views"], &p["likes"], &p["bookings"]), (&json!(3), &json!(2), &json!(1)));
    assert_eq!(p["proposals"], json!({"submitted": 1, "won": 1, "win_rate": 1.0}));
    assert_eq!(p["contracts"], json!({"created": 1, "completed": 1, "cancelled": 0}));
    assert_eq!(p["earnings"], json!([{"amount": 9_000, "currency": "USD"}]), "10 000 released less the 10 % fee");
    assert_eq!(p["rating"]["daily"], json!([{"date": today(), "reviews": 1, "average": 4.0}]));
    assert_eq!(today_row(&p, "daily")["earnings:USD"], 9_000);

    // The client's own figures; another user's id in the query changes nothing.
    let path = format!("/api/analytics/client?user_id={}", other.id);
    let c = until(&app, &path, &client, |c| c["bookings"] == 1).await;
    assert_eq!(c["jobs"], json!({"posted": 1}));
    assert_eq!(c["spend"], json!([{"amount": 10_000, "currency": "USD"}]));
    assert_eq!(c["contracts"], json!({"created": 1, "completed": 1, "cancelled": 0}));
    assert_eq!(c["favourite_services"][0]["service_id"], json!(service));
    assert_eq!(c["search_history"], json!([{"q": "garden", "count": 1}, {"q": "xylophone", "count": 1}]));
    let o = app.get("/api/analytics/client", Some(&other.token)).await;
    o.expect(200, None);
    assert_eq!(
        (&o.json["favourite_services"], &o.json["search_history"]),
        (&json!([]), &json!([])),
        "liked, then unliked"
    );
    let path = format!("/api/analytics/provider?user_id={}", provider.id);
    let stranger = app.get(&path, Some(&client.token)).await;
    assert_eq!((&stranger.json["services"], &stranger.json["earnings"]), (&json!([]), &json!([])), "{}", stranger.text);

    // Who may see the platform: admins only.
    app.get("/api/analytics/dashboard", Some(&client.token)).await.expect(403, Some("forbidden"));
    app.get("/api/analytics/dashboard", Some(&provider.token)).await.expect(403, Some("forbidden"));
    app.get("/api/analytics/dashboard", None).await.expect(401, None);
    app.get("/api/analytics/client", None).await.expect(401, None);
    // The seed's page names answer the same.
    app.get("/analytics/dashboard/", Some(&admin.token)).await.expect(200, None);

    // CSV export of a series.
    let t = today();
    let csv = app.get(&format!("/api/analytics/dashboard?format=csv&from={t}&to={t}"), Some(&admin.token)).await;
    csv.expect(200, None);
    let mut lines = csv.text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let values: Vec<&str> = lines.next().expect("today").split(',').collect();
    assert_eq!(header[..3], ["date", "page_views", "users_new"]);
    assert_eq!(values[..3], [t.as_str(), "3", "4"]);
    assert!(lines.next().is_none(), "one day, one row");
    let csv = app.get("/api/analytics/provider?format=csv&series=monthly", Some(&provider.token)).await;
    assert!(csv.text.starts_with("month,service_views,"), "{}", csv.text);

    // Business counters next to the technical ones, without ids.
    let m = app.get("/metrics", None).await.text;
    assert!(m.lines().any(|l| l.starts_with("agora_analytics_facts_total{kind=\"page_view\"}")), "{m}");
    assert!(m.lines().any(|l| l.starts_with("agora_contracts{status=\"completed\"} 1")), "contracts by status");
    assert!(m.contains("agora_analytics_rollup_lag_seconds"));
}

#[actix_web::test]
async fn bad_analytics_input_gets_the_envelope() {
    let app = app().await;
    let user = app.user("sender").await;
    let post = |body: Value, token: Option<String>| {
        let app = &app;
        async move { app.post("/api/analytics/events", body, token.as_deref()).await }
    };
    let one = |e: Value| json!({"visitor_id": "visitor-0002", "events": [e]});
    let field = |r: &agora_tests::Reply, f: &str| {
        r.expect(400, Some("validation_failed"));
        assert!(r.json["error"]["fields"][f].is_array(), "{f} not named: {}", r.text);
    };
    field(&post(one(json!({"kind": "purchase"})), None).await, "events[0].kind");
    field(&post(one(json!({"kind": "page_view"})), None).await, "events[0].path");
    field(
        &post(one(json!({"kind": "page_view", "path": format!("/{}", "a".repeat(600))})), None).await,
        "events[0].path",
    );
    field(&post(one(json!({"kind": "click", "referrer": "javascript:alert(1)"})), None).await, "events[0].referrer");
    field(&post(one(json!({"kind": "click", "at": "2020-01-01T00:00:00Z"})), None).await, "events[0].at");
    let many: Vec<Value> = (0..101).map(|_| json!({"kind": "click"})).collect();
    field(&post(json!({"visitor_id": "visitor-0002", "events": many}), None).await, "events");
    field(&post(json!({"visitor_id": "visitor-0002", "events": []}), None).await, "events");
    field(&post(json!({"events": [{"kind": "click"}]}), None).await, "visitor_id");
    field(&post(json!({"visitor_id": "x", "events": [{"kind": "click"}]}), None).await, "visitor_id");
    // No field beyond the documented ones is taken (an email, say).
    post(one(json!({"kind": "click", "email": "a@b.c"})), None).await.expect(400, Some("invalid_json"));
    post(json!({"visitor_id": "visitor-0002", "events": [], "name": "Ann"}), None)
        .await
        .expect(400, Some("invalid_json"));
    // A signed-in user needs no visitor id.
    post(json!({"events": [{"kind": "share"}]}), Some(user.token.clone())).await.expect(202, None);
    // Too large.
    let huge = json!({"visitor_id": "visitor-0002", "events": [{"kind": "click", "target": "x".repeat(200 * 1024)}]});
    post(huge, None).await.expect(413, Some("payload_too_large"));

    let admin = app.admin().await;
    for q in [
        "from=2026-13-01",
        "to=yesterday",
        "from=2026-12-05&to=2026-12-01",
        "from=2025-01-01&to=2026-12-01",
        "format=xml",
        "format=csv&series=weekly",
    ] {
        for path in ["/api/analytics/dashboard", "/api/analytics/provider", "/api/analytics/client"] {
            let r = app.get(&format!("{path}?{q}"), Some(&admin.token)).await;
            r.expect(400, Some("validation_failed"));
        }
    }
    let r = app.get("/api/analytics/client?from=2026-01-01&to=2026-01-31", Some(&user.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["series"]["daily"].as_array().map(Vec::len), Some(31));
    assert_eq!(r.json["series"]["monthly"].as_array().map(Vec::len), Some(1));
}
