//! Provider availability end to end, against the real server on port 0: working hours set
//! by the owner and validated, free slots shown in the caller's time zone, bookings that
//! must fit (and hold their slot against concurrent requests), the private calendar feed,
//! and booking reminders that arrive once.

use std::time::Duration;

use agora_engine::availability::rfc3339_in;
use agora_engine::TimeZoneName;
use agora_tests::{spawn_app, spawn_app_with, Reply, TestApp, TestUser};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("rfc3339")
}

fn parse(raw: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(raw.as_str().expect("a date-time string"), &Rfc3339).expect("rfc3339")
}

fn tz(name: &str) -> TimeZoneName {
    TimeZoneName::parse(name).expect("a known zone")
}

/// A 60-minute service of `p` with `rules` as its booking rules; answers its id.
async fn service(app: &TestApp, p: &TestUser, rules: Value) -> String {
    let body = json!({
        "title": "Piano tuning",
        "description": "Any upright or grand piano.",
        "price": {"amount": 9000, "currency": "EUR"},
        "duration_minutes": 60,
        "booking_rules": rules,
    });
    let r = app.post("/api/services", body, Some(&p.token)).await;
    r.expect(201, None);
    r.json["id"].as_str().expect("service id").to_string()
}

async fn set_hours(app: &TestApp, p: &TestUser, profile: &str, hours: Value) -> Reply {
    app.put(&format!("/api/providers/{profile}/availability"), hours, Some(&p.token)).await
}

/// Books with a freshly saved test card (charged if the provider confirms).
async fn book(app: &TestApp, c: &TestUser, service: &str, start: OffsetDateTime, minutes: i64) -> Reply {
    let card = app.card(c, "4242424242424242").await;
    let end = start + time::Duration::minutes(minutes);
    let body = json!({"service_id": service, "start_at": ts(start), "end_at": ts(end), "payment_method_id": card});
    app.post("/api/bookings", body, Some(&c.token)).await
}

async fn slots(app: &TestApp, service: &str, query: &str) -> Reply {
    app.get(&format!("/api/services/{service}/slots?{query}"), None).await
}

fn starts(r: &Reply) -> Vec<OffsetDateTime> {
    r.expect(200, None);
    r.json["results"].as_array().expect("results").iter().map(|s| parse(&s["start_utc"])).collect()
}

fn field_problem(r: &Reply, prefix: &str) {
    r.expect(400, Some("validation_failed"));
    let fields = r.json["error"]["fields"].as_object().expect("fields");
    assert!(fields.keys().any(|k| k.starts_with(prefix)), "no problem under {prefix}: {}", r.text);
}

#[actix_web::test]
async fn working_hours_are_set_by_the_owner_validated_and_read_by_anyone() {
    let app = spawn_app().await;
    let (p, profile) = app.provider("hours").await;
    let other = app.user("other").await;
    let path = format!("/api/providers/{profile}/availability");

    let r = app.get(&path, None).await;
    r.expect(200, None);
    assert_eq!((r.json["set"].as_bool(), r.json["time_zone"].as_str()), (Some(false), Some("UTC")), "{}", r.text);

    let good = json!({
        "time_zone": "Europe/Paris",
        "weekly": {"mon": [["09:00", "12:00"], ["13:00", "17:00"]], "sat": [["10:00", "14:00"]]},
        "overrides": [{"date": "2027-12-24", "ranges": []}],
    });
    app.put(&path, good.clone(), Some(&other.token)).await.expect(403, Some("forbidden"));
    app.put(&path, good.clone(), None).await.expect(401, Some("unauthorized"));
    let missing = "/api/providers/0190f6b2-7c1a-7d3e-8a4b-1234567890ab/availability";
    app.put(missing, good.clone(), Some(&p.token)).await.expect(404, Some("not_found"));
    app.get(missing, None).await.expect(404, Some("not_found"));

    for (bad, field) in [
        (json!({"time_zone": "Mars/Olympus", "weekly": {}, "overrides": []}), "time_zone"),
        (
            json!({"time_zone": "Europe/Paris", "weekly": {"mon": [["09:00", "12:00"], ["11:00", "13:00"]]}, "overrides": []}),
            "weekly",
        ),
        (json!({"time_zone": "Europe/Paris", "weekly": {"tue": [["12:00", "09:00"]]}, "overrides": []}), "weekly"),
        (json!({"time_zone": "Europe/Paris", "weekly": {"tue": [["9am", "12:00"]]}, "overrides": []}), "weekly"),
        (
            json!({"time_zone": "Europe/Paris", "weekly": {}, "overrides": [{"date": "2027-02-30", "ranges": []}]}),
            "overrides",
        ),
        (json!({"weekly": 3}), "body"),
    ] {
        field_problem(&set_hours(&app, &p, &profile, bad).await, field);
    }

    let r = set_hours(&app, &p, &profile, good).await;
    r.expect(200, None);
    let r = app.get(&path, None).await;
    r.expect(200, None);
    assert_eq!(r.json["set"], true);
    assert_eq!(r.json["time_zone"], "Europe/Paris");
    assert_eq!(r.json["weekly"]["mon"], json!([["09:00", "12:00"], ["13:00", "17:00"]]), "{}", r.text);
    assert_eq!(r.json["weekly"]["sat"], json!([["10:00", "14:00"]]));
    assert_eq!(r.json["overrides"], json!([{"date": "2027-12-24", "ranges": []}]));

    app.delete(&path, Some(&other.token)).await.expect(403, Some("forbidden"));
    app.delete(&path, Some(&p.token)).await.expect(204, None);
    assert_eq!(app.get(&path, None).await.json["set"], false);
}

#[actix_web::test]
async fn a_client_in_another_zone_books_a_free_slot_that_then_disappears_and_races_have_one_winner() {
    let app = spawn_app().await;
    let (p, profile) = app.provider("tuner").await;
    let paris = tz("Europe/Paris");
    // One open day a week ahead, 09:00-12:00 in Paris; closed otherwise.
    let day = paris.local_date(OffsetDateTime::now_utc()) + time::Duration::days(7);
    let hours = json!({"time_zone": "Europe/Paris", "weekly": {}, "overrides": [{"date": day.to_string(), "ranges": [["09:00", "12:00"]]}]});
    set_hours(&app, &p, &profile, hours).await.expect(200, None);
    let svc = service(&app, &p, json!({"buffer_after_minutes": 0})).await;

    let from = OffsetDateTime::new_utc(day, time::Time::MIDNIGHT) - time::Duration::days(1);
    let to = from + time::Duration::days(3);
    let query = format!("from={}&to={}&tz=America/New_York", ts(from).replace('+', "%2B"), ts(to).replace('+', "%2B"));
    let r = slots(&app, &svc, &query).await;
    let free = starts(&r);
    assert_eq!(r.json["available"], true);
    assert_eq!(r.json["time_zone"], "America/New_York");
    assert_eq!(r.json["provider_time_zone"], "Europe/Paris");
    assert_eq!(r.json["duration_minutes"], 60);
    let local_hours: Vec<u8> = free.iter().map(|t| paris.to_local(*t).hour()).collect();
    assert_eq!(local_hours, [9, 10, 11], "three one-hour slots in Paris: {}", r.text);
    let ny = tz("America/New_York");
    for (slot, start) in r.json["results"].as_array().expect("results").iter().zip(&free) {
        assert_eq!(slot["start"].as_str(), Some(rfc3339_in(*start, ny).as_str()), "shown in New York time");
        assert!(slot["start_utc"].as_str().is_some_and(|s| s.ends_with('Z')));
    }

    // One client books 10:00; others no longer see it and cannot take it.
    let (a, b) = (app.user("a").await, app.user("b").await);
    let booked = book(&app, &a, &svc, free[1], 60).await;
    booked.expect(201, None);
    assert_eq!(starts(&slots(&app, &svc, &query).await), [free[0], free[2]], "10:00 is held");
    book(&app, &b, &svc, free[1], 60).await.expect(409, Some("booking_overlap"));
    book(&app, &b, &svc, free[0] + time::Duration::minutes(30), 60).await.expect(409, Some("booking_overlap"));
    // Outside the hours, or not one slot long.
    book(&app, &b, &svc, free[2] + time::Duration::hours(2), 60).await.expect(409, Some("outside_availability"));
    book(&app, &b, &svc, free[0] + time::Duration::days(1), 60).await.expect(409, Some("outside_availability"));
    field_problem(&book(&app, &b, &svc, free[0], 90).await, "end_at");

    // Six clients race for 11:00: exactly one wins.
    let mut clients = Vec::new();
    for i in 0..6 {
        clients.push(app.user(&format!("racer{i}")).await);
    }
    let replies = futures_util::future::join_all(clients.iter().map(|c| book(&app, c, &svc, free[2], 60))).await;
    let won = replies.iter().filter(|r| r.status == 201).count();
    let lost = replies.iter().filter(|r| r.status == 409 && r.code() == "booking_overlap").count();
    assert_eq!((won, lost), (1, 5), "{:?}", replies.iter().map(|r| &r.text).collect::<Vec<_>>());

    // The provider confirms the first request: its slot stays taken.
    let id = booked.json["id"].as_str().expect("booking id");
    let r = app.post(&format!("/api/bookings/{id}/status"), json!({"status": "confirmed"}), Some(&p.token)).await;
    r.expect(200, None);
    assert_eq!(starts(&slots(&app, &svc, &query).await), [free[0]]);

    // Bad queries get the envelope.
    for (q, field) in [
        ("tz=Mars/Olympus".to_string(), "tz"),
        (format!("from={}&to={}", ts(to).replace('+', "%2B"), ts(from).replace('+', "%2B")), "from"),
        (
            format!(
                "from={}&to={}",
                ts(from).replace('+', "%2B"),
                ts(from + time::Duration::days(91)).replace('+', "%2B")
            ),
            "to",
        ),
        ("from=yesterday".to_string(), "from"),
    ] {
        field_problem(&slots(&app, &svc, &q).await, field);
    }
    slots(&app, "0190f6b2-7c1a-7d3e-8a4b-1234567890ab", "").await.expect(404, Some("not_found"));

    // A provider without hours has an open calendar: no slots, and any time may be asked for.
    let (q, _) = app.provider("open").await;
    let open = service(&app, &q, json!({})).await;
    let r = slots(&app, &open, "").await;
    assert_eq!((r.json["available"].as_bool(), starts(&r).len()), (Some(false), 0), "{}", r.text);
    book(&app, &b, &open, free[0] + time::Duration::minutes(7), 90).await.expect(201, None);
}

#[actix_web::test]
async fn service_booking_rules_are_validated_and_shown() {
    let app = spawn_app().await;
    let (p, _) = app.provider("rules").await;
    let body = |rules: Value| {
        json!({"title": "Piano tuning", "description": "Any piano.", "price": {"amount": 9000, "currency": "EUR"},
            "duration_minutes": 60, "booking_rules": rules})
    };
    for (rules, field) in [
        (json!({"buffer_before_minutes": -5}), "booking_rules.buffer_before_minutes"),
        (json!({"daily_cap": 0}), "booking_rules.daily_cap"),
        (json!({"slot_interval_minutes": 1}), "booking_rules.slot_interval_minutes"),
        (json!({"buffer": 5}), "booking_rules"),
    ] {
        field_problem(&app.post("/api/services", body(rules), Some(&p.token)).await, field);
    }
    let r = app.post("/api/services", body(json!({"buffer_after_minutes": 15, "daily_cap": 4})), Some(&p.token)).await;
    r.expect(201, None);
    assert_eq!(
        r.json["booking_rules"],
        json!({"buffer_before_minutes": 0, "buffer_after_minutes": 15, "daily_cap": 4})
    );
}

#[actix_web::test]
async fn the_private_calendar_feed_shows_bookings_and_can_be_rotated_and_revoked() {
    let app = spawn_app().await;
    let (p, _) = app.provider("feed").await;
    let svc = service(&app, &p, json!({})).await;
    let c = app.user("feeder").await;
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::days(3);
    let booked = book(&app, &c, &svc, start, 60).await;
    booked.expect(201, None);
    let booking = booked.json["id"].as_str().expect("id").to_string();

    app.post("/api/calendar/feed", json!({}), None).await.expect(401, Some("unauthorized"));
    let issued = app.post("/api/calendar/feed", json!({}), Some(&c.token)).await;
    issued.expect(201, None);
    let url = issued.json["url"].as_str().expect("url").to_string();
    assert!(url.ends_with(".ics") && url.contains("/api/calendar/feed/"), "{url}");
    let webcal = issued.json["webcal_url"].as_str().expect("webcal url");
    assert!(webcal.starts_with("webcal://") && webcal.ends_with(&url[url.find("/api/").expect("path")..]), "{webcal}");
    let path = |u: &str| u[u.find("/api/").expect("path")..].to_string();

    let feed = app.client.get(app.url(&path(&url))).send().await.expect("feed");
    assert_eq!(feed.status(), 200);
    assert!(feed.headers()["content-type"].to_str().expect("type").starts_with("text/calendar"));
    let text = feed.text().await.expect("body");
    assert!(text.starts_with("BEGIN:VCALENDAR") && text.contains(&format!("UID:{booking}@agora")), "{text}");

    // A new URL replaces the old one; revoking ends it.
    let again = app.post("/api/calendar/feed", json!({}), Some(&c.token)).await;
    again.expect(201, None);
    let url2 = again.json["url"].as_str().expect("url").to_string();
    assert_ne!(url, url2);
    app.get(&path(&url), None).await.expect(404, Some("not_found"));
    assert_eq!(app.client.get(app.url(&path(&url2))).send().await.expect("feed").status(), 200);
    app.delete("/api/calendar/feed", Some(&c.token)).await.expect(204, None);
    app.get(&path(&url2), None).await.expect(404, Some("not_found"));
    app.delete("/api/calendar/feed", Some(&c.token)).await.expect(404, Some("not_found"));
    app.get("/api/calendar/feed/not-a-token.ics", None).await.expect(404, Some("not_found"));
}

/// The user's booking reminders in their notification list.
async fn reminders(app: &TestApp, user: &TestUser) -> usize {
    let r = app.get("/api/notifications?limit=100", Some(&user.token)).await;
    r.expect(200, None);
    r.json["results"].as_array().expect("results").iter().filter(|n| n["title"] == "Booking reminder").count()
}

#[actix_web::test]
async fn a_booking_reminder_reaches_both_parties_once() {
    let app = spawn_app_with(|s| s.reminder_interval_secs = 1).await;
    let (p, profile) = app.provider("remind").await;
    // Open all day, in a zone whose local midnight is not within the next three hours.
    let zone = if (21..=23).contains(&OffsetDateTime::now_utc().hour()) || OffsetDateTime::now_utc().hour() == 0 {
        "Etc/GMT-12"
    } else {
        "UTC"
    };
    let all_day = json!([["00:00", "24:00"]]);
    let weekly = json!({"mon": all_day, "tue": all_day, "wed": all_day, "thu": all_day, "fri": all_day, "sat": all_day, "sun": all_day});
    set_hours(&app, &p, &profile, json!({"time_zone": zone, "weekly": weekly, "overrides": []}))
        .await
        .expect(200, None);
    let svc = service(&app, &p, json!({"min_notice_minutes": 0})).await;
    let c = app.user("remindee").await;
    // Starts in an hour and three seconds: its one-hour reminder is due in three seconds
    // (the 24-hour one is already past and is not sent).
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("seconds") + time::Duration::seconds(3603);
    let booked = book(&app, &c, &svc, start, 60).await;
    booked.expect(201, None);
    let id = booked.json["id"].as_str().expect("id");
    let r = app.post(&format!("/api/bookings/{id}/status"), json!({"status": "confirmed"}), Some(&p.token)).await;
    r.expect(200, None);

    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while reminders(&app, &c).await == 0 || reminders(&app, &p).await == 0 {
        assert!(std::time::Instant::now() < deadline, "no reminder arrived");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Several more scheduler passes send nothing more.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!((reminders(&app, &c).await, reminders(&app, &p).await), (1, 1));
    let r = app.get("/api/notifications?limit=100", Some(&c.token)).await;
    let note =
        r.json["results"].as_array().expect("results").iter().find(|n| n["title"] == "Booking reminder").cloned();
    let note = note.expect("the reminder");
    assert_eq!(note["action_url"], format!("/bookings/{id}"));
    assert!(
        note["message"].as_str().is_some_and(|m| m.contains("Piano tuning") && m.contains("in one hour")),
        "{note}"
    );
}
