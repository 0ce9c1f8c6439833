//! The limits audit: docs/security.md "Limits" lists every cap on bodies, frames, text
//! fields, lists and pages. This test reads that table and, for every row, sends one
//! request exactly at the cap (it must be accepted) and one just past it (it must be refused
//! with the status and on the field the row names). The cap values come from the table, so
//! the documentation and the code cannot drift apart: a row without a probe, a probe
//! without a row, a cap that moved in the code but not in the table (either way) fails.

use std::collections::BTreeMap;
use std::time::Duration;

use agora_tests::{spawn_app, Encoding, Reply, TestApp, TestUser};
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// `id -> cap` from the table (the cap column's leading number).
fn documented() -> BTreeMap<String, usize> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md")).expect("docs");
    let section = doc.split("\n## Limits\n").nth(1).expect("a Limits section in docs/security.md");
    let section = section.split("\n## ").next().expect("section");
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let id = cells[1].trim_matches('`').to_string();
        let digits: String = cells[3].chars().take_while(|c| c.is_ascii_digit()).collect();
        let cap = digits.parse().unwrap_or_else(|_| panic!("row {id}: the cap column starts with a number"));
        assert!(rows.insert(id.clone(), cap).is_none(), "row {id} twice");
    }
    assert!(rows.len() >= 40, "the table has its rows: {rows:?}");
    rows
}

fn chars(n: usize) -> String {
    "a".repeat(n)
}

/// A password of exactly `n` characters that passes every other rule.
fn password(n: usize) -> String {
    "Ab1!".chars().cycle().take(n).collect()
}

/// An email address of exactly `n` bytes (64-character local part, labels of at most 63).
fn email(n: usize, tag: usize) -> String {
    let local = format!("{tag:0>64}");
    let mut domain_len = n - local.len() - 1 - ".com".len();
    let mut labels = Vec::new();
    while domain_len > 0 {
        let take = domain_len.min(63);
        // Never leave a lone dot for the next label.
        let take = if domain_len > 63 && domain_len - take < 2 { take - 2 } else { take };
        labels.push("b".repeat(take));
        domain_len -= take;
        domain_len = domain_len.saturating_sub(1);
    }
    let email = format!("{local}@{}.com", labels.join("."));
    assert_eq!(email.len(), n, "{email}");
    email
}

/// The refusal past a cap: 400 `validation_failed` with a problem under `field`.
fn refused_on(r: &Reply, field: &str) -> Result<(), String> {
    if r.status != 400 || r.code() != "validation_failed" {
        return Err(format!("past the cap: expected 400 validation_failed on {field}, got {} {}", r.status, r.text));
    }
    let fields = r.json["error"]["fields"].as_object().ok_or_else(|| format!("no fields: {}", r.text))?;
    if !fields.keys().any(|k| k.starts_with(field)) {
        return Err(format!("past the cap: no problem under {field}: {}", r.text));
    }
    Ok(())
}

/// At the cap: accepted with `status`.
fn accepted(r: &Reply, status: u16) -> Result<(), String> {
    if r.status != status {
        return Err(format!("at the cap: expected {status}, got {} {}", r.status, r.text));
    }
    Ok(())
}

/// At the cap, where the request cannot fully succeed (ids that do not exist): whatever
/// the answer, it is not a refusal of the count or length under `field`.
fn not_capped(r: &Reply, field: &str) -> Result<(), String> {
    let capped = r.json["error"]["fields"]
        .as_object()
        .is_some_and(|f| f.iter().any(|(k, v)| k.starts_with(field) && v.to_string().contains("at most")));
    if capped || r.status == 413 {
        return Err(format!("at the cap: refused on {field}: {} {}", r.status, r.text));
    }
    Ok(())
}

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("rfc3339")
}

fn fake_ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("0190f6b2-7c1a-7d3e-8a4b-{i:012}")).collect()
}

/// What the probes share: users and objects made once.
struct World {
    app: TestApp,
    client: TestUser,
    provider: TestUser,
    provider_profile: String,
    admin: TestUser,
    service: String,
    job: String,
}

impl World {
    async fn new() -> World {
        let app = spawn_app().await;
        let client = app.user("limits-client").await;
        let (provider, provider_profile) = app.provider("limits-provider").await;
        let admin = app.admin().await;
        let r = app
            .post(
                "/api/services",
                json!({"title": "Limits service", "description": "Probed at its caps.",
                       "price": {"amount": 1000, "currency": "USD"}, "duration_minutes": 60}),
                Some(&provider.token),
            )
            .await;
        r.expect(201, None);
        let service = r.json["id"].as_str().expect("service").to_string();
        let r = app
            .post(
                "/api/jobs",
                json!({"title": "Limits job", "description": "Probed at its caps."}),
                Some(&client.token),
            )
            .await;
        r.expect(201, None);
        let job = r.json["id"].as_str().expect("job").to_string();
        World { app, client, provider, provider_profile, admin, service, job }
    }

    async fn call(&self, method: &str, path: &str, body: Value, token: Option<&str>) -> Reply {
        match method {
            "POST" => self.app.post(path, body, token).await,
            "PATCH" => self.app.patch(path, body, token).await,
            "PUT" => self.app.put(path, body, token).await,
            other => panic!("method {other}"),
        }
    }

    /// The common probe: `body(n)` sent past the cap, then at it.
    async fn field(
        &self,
        (method, path, token): (&str, &str, Option<&str>),
        field: &str,
        cap: usize,
        ok: Option<u16>,
        body: impl Fn(usize) -> Value,
    ) -> Result<(), String> {
        refused_on(&self.call(method, path, body(cap + 1), token).await, field)?;
        let r = self.call(method, path, body(cap), token).await;
        match ok {
            Some(status) => accepted(&r, status),
            None => not_capped(&r, field),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.app.get(path, Some(&self.client.token)).await
    }

    async fn raw_post(&self, path: &str, bytes: Vec<u8>) -> Reply {
        let req = self
            .app
            .client
            .post(self.app.url(path))
            .bearer_auth(&self.client.token)
            .header("content-type", "application/json")
            .body(bytes);
        self.app.send(req).await
    }

    async fn contract(&self, amount: i64) -> String {
        self.app.pending_contract(&self.client, &self.provider, amount).await
    }

    async fn probe(&self, id: &str, cap: usize) -> Result<(), String> {
        let (c, p, a) =
            (Some(self.client.token.as_str()), Some(self.provider.token.as_str()), Some(self.admin.token.as_str()));
        match id {
            "body.json" => {
                // A JSON string padded to exactly n bytes.
                let body = |n: usize| format!("{{\"title\":\"{}\"}}", "x".repeat(n - 12)).into_bytes();
                let past = self.raw_post("/api/jobs", body(cap + 1)).await;
                if past.status != 413 || past.code() != "payload_too_large" {
                    return Err(format!("past the cap: {} {}", past.status, past.text));
                }
                let at = self.raw_post("/api/jobs", body(cap)).await;
                if at.status == 413 {
                    return Err(format!("at the cap: 413 {}", at.text));
                }
                refused_on(&at, "title")
            }
            "body.analytics" => {
                let body = |n: usize| {
                    let head = r#"{"events":[{"kind":"page_view","path":"/"}],"visitor_id":""#;
                    let tail = r#""}"#;
                    format!("{head}{}{tail}", "v".repeat(n - head.len() - tail.len())).into_bytes()
                };
                let past = self.raw_post("/api/analytics/events", body(cap + 1)).await;
                if past.status != 413 || past.code() != "payload_too_large" {
                    return Err(format!("past the cap: {} {}", past.status, past.text));
                }
                let at = self.raw_post("/api/analytics/events", body(cap)).await;
                if at.status == 413 {
                    return Err(format!("at the cap: 413 {}", at.text));
                }
                Ok(())
            }
            "ws.frame" => self.ws_frame(cap).await,
            "page.limit" => {
                refused_on(&self.get(&format!("/api/services?limit={}", cap + 1)).await, "limit")?;
                accepted(&self.get(&format!("/api/services?limit={cap}")).await, 200)
            }
            "search.q_chars" => {
                refused_on(&self.get(&format!("/api/services?q={}", chars(cap + 1))).await, "q")?;
                accepted(&self.get(&format!("/api/services?q={}", chars(cap))).await, 200)
            }
            "search.q_words" => {
                let words = |n: usize| (0..n).map(|i| format!("w{i}")).collect::<Vec<_>>().join("+");
                refused_on(&self.get(&format!("/api/services?q={}", words(cap + 1))).await, "q")?;
                accepted(&self.get(&format!("/api/services?q={}", words(cap))).await, 200)
            }
            "account.email" => {
                self.field(
                    ("POST", "/api/auth/register", None),
                    "email",
                    cap,
                    Some(201),
                    |n| json!({"email": email(n, n), "password": "correct horse battery 9"}),
                )
                .await
            }
            "account.password" => {
                self.field(
                    ("POST", "/api/auth/register", None),
                    "password",
                    cap,
                    Some(201),
                    |n| json!({"email": format!("password-{n}@example.com"), "password": password(n)}),
                )
                .await?;
                self.field(
                    ("POST", "/api/auth/password/change", c),
                    "new_password",
                    cap,
                    None,
                    |n| json!({"old_password": "wrong horse battery 1", "new_password": password(n)}),
                )
                .await
            }
            "account.name" => {
                for name in ["first_name", "last_name"] {
                    self.field(("PATCH", "/api/auth/me", c), name, cap, Some(200), |n| json!({ name: chars(n) }))
                        .await?;
                }
                Ok(())
            }
            "chat.body" | "chat.client_msg_id" => {
                let conversation = self.app.conversation(&self.client, &[&self.provider]).await;
                let path = format!("/api/conversations/{conversation}/messages");
                let field = if id == "chat.body" { "body" } else { "client_msg_id" };
                self.field(("POST", &path, c), field, cap, Some(201), |n| {
                    if field == "body" {
                        json!({"body": chars(n)})
                    } else {
                        json!({"body": "hi", "client_msg_id": chars(n)})
                    }
                })
                .await
            }
            "chat.title" => {
                let others = [self.provider.id.clone(), self.admin.id.clone()];
                self.field(
                    ("POST", "/api/conversations", c),
                    "title",
                    cap,
                    Some(201),
                    |n| json!({"participant_ids": others, "title": chars(n)}),
                )
                .await
            }
            "chat.participants" => {
                // The creator counts: `cap - 1` others make `cap` members.
                self.field(
                    ("POST", "/api/conversations", c),
                    "participant_ids",
                    cap,
                    None,
                    |n| json!({"participant_ids": fake_ids(n - 1), "title": "many"}),
                )
                .await
            }
            "job.title" | "job.description" => {
                let field = id.trim_start_matches("job.");
                self.field(("POST", "/api/jobs", c), field, cap, Some(201), |n| {
                    let mut body = json!({"title": "A job at the caps", "description": "Described."});
                    body[field] = json!(chars(n));
                    body
                })
                .await
            }
            "service.title" | "service.description" | "service.tags" | "service.tag" => {
                let field = if id == "service.tag" { "tags" } else { id.trim_start_matches("service.") };
                self.field(("POST", "/api/services", p), field, cap, Some(201), |n| {
                    let mut body = json!({"title": "A service at the caps", "description": "Described.",
                                          "price": {"amount": 1000, "currency": "USD"}, "duration_minutes": 60});
                    body[field] = match id {
                        "service.tags" => json!((0..n).map(|i| format!("tag{i}")).collect::<Vec<_>>()),
                        "service.tag" => json!([chars(n)]),
                        _ => json!(chars(n)),
                    };
                    body
                })
                .await
            }
            "proposal.message" => {
                self.field(
                    ("POST", "/api/proposals", p),
                    "message",
                    cap,
                    Some(201),
                    |n| json!({"job_id": self.job, "rate": {"amount": 1000, "currency": "USD"}, "message": chars(n)}),
                )
                .await
            }
            "provider.bio" | "provider.city" | "provider.categories" | "provider.skills" => {
                let path = format!("/api/providers/{}", self.provider_profile);
                let (field, ok) = match id {
                    "provider.bio" => ("bio", Some(200)),
                    "provider.city" => ("city", Some(200)),
                    "provider.categories" => ("category_ids", None),
                    _ => ("skills", None),
                };
                self.field(("PATCH", &path, p), field, cap, ok, |n| match field {
                    "category_ids" => json!({ field: fake_ids(n) }),
                    "skills" => {
                        json!({ field: fake_ids(n).iter().map(|s| json!({"skill_id": s})).collect::<Vec<_>>() })
                    }
                    _ => json!({ field: chars(n) }),
                })
                .await
            }
            "category.name" => {
                self.field(("POST", "/api/categories", a), "name", cap, Some(201), |n| json!({"name": chars(n)})).await
            }
            "skill.name" => {
                self.field(("POST", "/api/skills", a), "name", cap, Some(201), |n| json!({"name": chars(n)})).await
            }
            "company.name" | "company.description" => {
                let field = id.trim_start_matches("company.");
                self.field(("POST", "/api/companies", p), field, cap, Some(201), |n| {
                    let mut body = json!({"name": format!("Company {n}"), "description": "Makes things."});
                    body[field] = json!(if field == "name" {
                        format!("{n}{}", chars(n - n.to_string().len()))
                    } else {
                        chars(n)
                    });
                    body
                })
                .await
            }
            "review.comment" | "review.reply" => {
                let contract = self.contract(20_000).await;
                self.app.fund_contract(&self.client, &contract).await;
                for (who, status) in [(&self.provider, "delivered"), (&self.client, "completed")] {
                    self.app
                        .post(&format!("/api/contracts/{contract}/status"), json!({"status": status}), Some(&who.token))
                        .await
                        .expect(200, None);
                }
                let review = |n: usize| json!({"contract_id": contract, "rating": 5, "comment": chars(n)});
                if id == "review.comment" {
                    return self.field(("POST", "/api/reviews", c), "comment", cap, Some(201), review).await;
                }
                let r = self.app.post("/api/reviews", review(10), c).await;
                r.expect(201, None);
                let path = format!("/api/reviews/{}/reply", r.json["id"].as_str().expect("review id"));
                self.field(("POST", &path, p), "reply", cap, Some(200), |n| json!({"reply": chars(n)})).await
            }
            "booking.note" => {
                let card = self.app.card(&self.client, "4242424242424242").await;
                let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("s") + time::Duration::days(3);
                self.field(("POST", "/api/bookings", c), "note", cap, Some(201), |n| {
                    json!({"service_id": self.service, "start_at": ts(start), "end_at": ts(start + time::Duration::hours(1)),
                           "payment_method_id": card, "note": chars(n)})
                })
                .await
            }
            "contract.reason" => {
                let contract = self.contract(20_000).await;
                let path = format!("/api/contracts/{contract}/status");
                self.field(
                    ("POST", &path, c),
                    "reason",
                    cap,
                    Some(200),
                    |n| json!({"status": "cancelled", "reason": chars(n)}),
                )
                .await
            }
            "milestone.title" | "milestone.count" => {
                let contract = self.contract(5_000).await;
                let path = format!("/api/contracts/{contract}/milestones");
                let milestone = |title: String, amount: i64| json!({"title": title, "amount": {"amount": amount, "currency": "USD"}});
                if id == "milestone.title" {
                    return self
                        .field(
                            ("PUT", &path, c),
                            "milestones[0].title",
                            cap,
                            Some(200),
                            |n| json!({"milestones": [milestone(chars(n), 5_000)]}),
                        )
                        .await;
                }
                // `cap` milestones share the 5,000 exactly; one more cannot, but the count is
                // what is refused.
                self.field(("PUT", &path, c), "milestones", cap, Some(200), |n| {
                    let each = 5_000 / i64::try_from(cap).expect("cap");
                    json!({"milestones": (0..n).map(|i| milestone(format!("Part {i}"), each)).collect::<Vec<_>>()})
                })
                .await
            }
            "payout.holder_name" => {
                self.field(
                    ("POST", "/api/payout-methods", p),
                    "holder_name",
                    cap,
                    Some(201),
                    |n| json!({"kind": "bank_account", "holder_name": chars(n), "iban": "DE89370400440532013000"}),
                )
                .await
            }
            "notification.title" | "notification.message" | "notification.action_url" => {
                let field = id.trim_start_matches("notification.");
                self.field(("POST", "/api/admin/notifications", a), field, cap, Some(201), |n| {
                    let mut body = json!({"user_id": self.client.id, "kind": "announcement", "title": "Hello", "message": "Read this."});
                    body[field] = json!(if field == "action_url" { format!("/{}", chars(n - 1)) } else { chars(n) });
                    body
                })
                .await
            }
            "analytics.batch" | "analytics.path" => {
                let field = if id == "analytics.batch" { "events" } else { "events[0].path" };
                self.field(("POST", "/api/analytics/events", c), field, cap, Some(202), |n| {
                    if id == "analytics.batch" {
                        json!({"events": (0..n).map(|_| json!({"kind": "page_view", "path": "/"})).collect::<Vec<_>>()})
                    } else {
                        json!({"events": [{"kind": "page_view", "path": format!("/{}", chars(n - 1))}]})
                    }
                })
                .await
            }
            "hours.ranges" | "hours.overrides" => {
                let path = format!("/api/providers/{}/availability", self.provider_profile);
                let field = if id == "hours.ranges" { "weekly" } else { "overrides" };
                self.field(("PUT", &path, p), field, cap, Some(200), |n| {
                    if id == "hours.ranges" {
                        // n one-minute ranges, ten minutes apart, from 08:00.
                        let ranges: Vec<Value> = (0..n)
                            .map(|i| {
                                let m = 8 * 60 + 10 * i;
                                json!([format!("{:02}:{:02}", m / 60, m % 60), format!("{:02}:{:02}", m / 60, m % 60 + 1)])
                            })
                            .collect();
                        json!({"time_zone": "UTC", "weekly": {"mon": ranges}, "overrides": []})
                    } else {
                        let first = time::Date::from_calendar_date(2030, time::Month::January, 1).expect("date");
                        let overrides: Vec<Value> = (0..n)
                            .map(|i| json!({"date": (first + time::Duration::days(i64::try_from(i).expect("i"))).to_string(), "ranges": []}))
                            .collect();
                        json!({"time_zone": "UTC", "weekly": {}, "overrides": overrides})
                    }
                })
                .await
            }
            "slots.days" => {
                let from = time::macros::datetime!(2030-01-01 00:00 UTC);
                let path = |days: usize| {
                    let to = from + time::Duration::days(i64::try_from(days).expect("days"));
                    format!("/api/services/{}/slots?from={}&to={}", self.service, ts(from), ts(to))
                };
                refused_on(&self.get(&path(cap + 1)).await, "to")?;
                accepted(&self.get(&path(cap)).await, 200)
            }
            other => Err(format!("no probe for the documented limit {other}")),
        }
    }

    /// A frame of exactly the cap gets no size error; one byte more gets `frame_too_large`
    /// and the connection goes on; past four times the cap, the socket closes 1009.
    async fn ws_frame(&self, cap: usize) -> Result<(), String> {
        use tokio_tungstenite::tungstenite::Message;
        let frame = |n: usize| {
            let head = r#"{"type":"ping","pad":""#;
            format!("{head}{}\"}}", "p".repeat(n - head.len() - 2))
        };
        let mut ws = self.app.ws(&self.client.token, Encoding::Json).await;
        ws.send_raw(Message::Text(frame(cap + 1).into())).await;
        let e = ws.expect("error").await;
        if e["code"] != "frame_too_large" {
            return Err(format!("past the cap: {e}"));
        }
        ws.send_raw(Message::Text(frame(cap).into())).await;
        let next = ws.recv_timeout(Duration::from_secs(5)).await.ok_or("at the cap: no answer")?;
        if next["code"] == "frame_too_large" {
            return Err(format!("at the cap: {next}"));
        }
        ws.send(json!({"type": "ping"})).await;
        ws.expect("pong").await;
        ws.send_raw(Message::Text(frame(4 * cap + 1).into())).await;
        match ws.closed(Duration::from_secs(5)).await {
            Some(1009) => Ok(()),
            other => Err(format!("past four times the cap: closed with {other:?}")),
        }
    }
}

#[actix_web::test]
async fn every_documented_limit_holds_at_its_cap_and_refuses_past_it() {
    let world = World::new().await;
    let limits = documented();
    let mut failures = Vec::new();
    for (id, cap) in &limits {
        if let Err(e) = world.probe(id, *cap).await {
            failures.push(format!("{id} (cap {cap}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{} of {} limits fail:\n{}", failures.len(), limits.len(), failures.join("\n"));
}
