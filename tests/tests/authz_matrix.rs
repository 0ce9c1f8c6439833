//! The authorization matrix, generated from the route table: every operation of the OpenAPI
//! document (`/api/schema`, which lists the routes the router serves, aliases included)
//! whose path takes an id must have an entry in [`MATRIX`], and a new route without one
//! fails this test. For every entry, on objects made by a client and a provider:
//! - anonymous callers get 401 (public reads: 200);
//! - every other user (another client, another provider, a worker, and the object's other
//!   party where the entry does not allow it) gets 403 or 404, never data and never a write;
//!   or, where the request is refused before any lookup, exactly what a made-up id gets, so
//!   the answer cannot tell that the object exists;
//! - whoever the entry allows (owner, party, admin) is not refused (no 401, 403 or 404).
//!
//! Besides: no answer to another user carries the owners' emails, lists never show another
//! user's private objects, and a conversation's frames never reach a non-member.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use agora_tests::{spawn_app, Encoding, Reply, TestApp, TestUser};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Who may call an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// Anyone, anonymous included (a public read).
    Public,
    /// Any signed-in user, on what is theirs (their blocks, their likes).
    AnyUser,
    /// The fixture's client.
    Client,
    /// The fixture's provider.
    Provider,
    /// Both parties (client and provider).
    Parties,
    /// Both parties; anonymous callers get 404, not 401 (the route also serves public
    /// gallery images, so it does not require a token).
    PartiesAnonymousHidden,
    /// The client, and providers and workers (open jobs).
    ClientAndSellers,
    Admin,
    /// Checked by its own tests (capability URLs and signed webhooks): see the reason.
    Exempt(&'static str),
}

/// `(method, canonical path, who may call it, body)`. Destructive operations come last, in
/// an order that keeps the objects later entries need.
const MATRIX: &[(&str, &str, Who, &str)] = &[
    ("GET", "/api/users/{id}", Who::Public, ""),
    ("GET", "/api/categories/{id}", Who::Public, ""),
    ("PATCH", "/api/categories/{id}", Who::Admin, r#"{"name":"Renamed category"}"#),
    ("GET", "/api/skills/{id}", Who::Public, ""),
    ("PATCH", "/api/skills/{id}", Who::Admin, r#"{"name":"renamed-skill"}"#),
    ("GET", "/api/companies/{id}", Who::Public, ""),
    ("PATCH", "/api/companies/{id}", Who::Provider, r#"{"description":"Edited by its owner."}"#),
    ("GET", "/api/providers/{id}", Who::Public, ""),
    ("PATCH", "/api/providers/{id}", Who::Provider, r#"{"bio":"Edited by its owner."}"#),
    (
        "PUT",
        "/api/providers/{id}",
        Who::Provider,
        r#"{"bio":"Replaced by its owner.","hourly_rate":{"amount":5000,"currency":"USD"}}"#,
    ),
    ("GET", "/api/providers/{id}/availability", Who::Public, ""),
    ("PUT", "/api/providers/{id}/availability", Who::Provider, r#"{"time_zone":"UTC","weekly":{},"overrides":[]}"#),
    ("GET", "/api/providers/{id}/reviews", Who::Public, ""),
    ("GET", "/api/providers/{id}/services", Who::Public, ""),
    ("GET", "/api/services/{id}", Who::Public, ""),
    ("PATCH", "/api/services/{id}", Who::Provider, r#"{"description":"Edited by its owner."}"#),
    (
        "PUT",
        "/api/services/{id}",
        Who::Provider,
        r#"{"title":"Replaced service","description":"Replaced by its owner.","price":{"amount":1000,"currency":"USD"},"duration_minutes":60}"#,
    ),
    ("GET", "/api/services/{id}/comments", Who::Public, ""),
    ("GET", "/api/services/{id}/reviews", Who::Public, ""),
    ("GET", "/api/services/{id}/slots", Who::Public, ""),
    ("PUT", "/api/services/{id}/like", Who::AnyUser, "{}"),
    ("POST", "/api/services/{id}/like", Who::AnyUser, "{}"),
    ("DELETE", "/api/services/{id}/like", Who::AnyUser, ""),
    ("PUT", "/api/blocks/{user_id}", Who::AnyUser, "{}"),
    ("GET", "/api/blocks/{user_id}", Who::AnyUser, ""),
    ("DELETE", "/api/blocks/{user_id}", Who::AnyUser, ""),
    ("GET", "/api/jobs/{id}", Who::ClientAndSellers, ""),
    ("PATCH", "/api/jobs/{id}", Who::Client, r#"{"description":"Edited by its owner."}"#),
    ("PUT", "/api/jobs/{id}", Who::Client, r#"{"title":"Replaced job","description":"Replaced by its owner."}"#),
    // Sellers see their own proposals in it, the client all of them.
    ("GET", "/api/jobs/{id}/proposals", Who::ClientAndSellers, ""),
    ("GET", "/api/proposals/{id}", Who::Parties, ""),
    ("GET", "/api/conversations/{id}", Who::Parties, ""),
    ("GET", "/api/conversations/{id}/messages", Who::Parties, ""),
    ("POST", "/api/conversations/{id}/messages", Who::Parties, r#"{"body":"hello"}"#),
    ("POST", "/api/conversations/{id}/read", Who::Parties, r#"{"seq":1}"#),
    ("PATCH", "/api/messages/{id}", Who::Client, r#"{"body":"edited"}"#),
    ("PUT", "/api/messages/{id}", Who::Client, r#"{"body":"edited again"}"#),
    ("POST", "/api/notifications/{id}/read", Who::Client, "{}"),
    ("GET", "/api/attachments/{id}", Who::Parties, ""),
    ("GET", "/api/attachments/{id}/thumbnail", Who::PartiesAnonymousHidden, ""),
    ("GET", "/api/uploads/{id}", Who::Client, ""),
    // The owner's PATCH without tus headers is refused as a bad chunk, never as a stranger.
    ("PATCH", "/api/uploads/{id}", Who::Client, ""),
    ("PUT", "/api/services/{id}/gallery", Who::Provider, r#"{"attachment_ids":[]}"#),
    ("GET", "/api/payment-methods/{id}", Who::Client, ""),
    ("GET", "/api/contracts/{id}", Who::Parties, ""),
    ("GET", "/api/contracts/{id}/events", Who::Parties, ""),
    ("GET", "/api/contracts/{id}/milestones", Who::Parties, ""),
    (
        "PUT",
        "/api/contracts/{id}/milestones",
        Who::Client,
        r#"{"milestones":[{"title":"All","amount":{"amount":20000,"currency":"USD"}}]}"#,
    ),
    ("POST", "/api/contracts/{id}/fund", Who::Client, r#"{"payment_method_id":"{card}"}"#),
    ("POST", "/api/contracts/{id}/milestones/{m}/fund", Who::Client, r#"{"payment_method_id":"{card}"}"#),
    ("POST", "/api/contracts/{id}/milestones/{m}/submit", Who::Provider, "{}"),
    ("POST", "/api/contracts/{id}/milestones/{m}/request-changes", Who::Client, "{}"),
    ("POST", "/api/contracts/{id}/milestones/{m}/approve", Who::Client, "{}"),
    ("POST", "/api/contracts/{id}/milestones/{m}/remove", Who::Client, "{}"),
    ("GET", "/api/payments/{id}", Who::Parties, ""),
    ("GET", "/api/payments/{id}/receipt", Who::Parties, ""),
    ("POST", "/api/payments/{id}/refund", Who::Provider, r#"{"amount":1}"#),
    ("GET", "/api/payouts/{id}", Who::Provider, ""),
    ("GET", "/api/bookings/{id}", Who::Parties, ""),
    ("POST", "/api/bookings/{id}/status", Who::Provider, r#"{"status":"confirmed"}"#),
    ("GET", "/api/reviews/{id}", Who::Public, ""),
    ("PATCH", "/api/reviews/{id}", Who::Client, r#"{"comment":"Edited by its author."}"#),
    ("POST", "/api/reviews/{id}/reply", Who::Provider, r#"{"reply":"Thank you."}"#),
    ("POST", "/api/contracts/{id}/status", Who::Provider, r#"{"status":"delivered"}"#),
    ("POST", "/api/contracts/{id}/dispute", Who::Parties, r#"{"reason":"not as agreed"}"#),
    ("POST", "/api/admin/disputes/{id}/resolve", Who::Admin, r#"{"release":0,"refund":0}"#),
    ("POST", "/api/jobs/{id}/hire", Who::Client, "{}"),
    ("POST", "/api/proposals/{id}/accept", Who::Client, "{}"),
    ("POST", "/api/proposals/{id}/withdraw", Who::Provider, "{}"),
    ("DELETE", "/api/messages/{id}", Who::Client, ""),
    ("DELETE", "/api/notifications/{id}", Who::Client, ""),
    ("DELETE", "/api/reviews/{id}", Who::Client, ""),
    ("DELETE", "/api/payment-methods/{id}", Who::Client, ""),
    ("DELETE", "/api/payout-methods/{id}", Who::Provider, ""),
    ("DELETE", "/api/providers/{id}/availability", Who::Provider, ""),
    ("DELETE", "/api/services/{id}", Who::Provider, ""),
    ("DELETE", "/api/jobs/{id}", Who::Client, ""),
    ("DELETE", "/api/companies/{id}", Who::Provider, ""),
    ("DELETE", "/api/categories/{id}", Who::Admin, ""),
    ("DELETE", "/api/skills/{id}", Who::Admin, ""),
    ("GET", "/api/calendar/feed/{token}", Who::Exempt("a capability URL: bookings_reviews.rs and availability.rs"), ""),
    ("GET", "/api/attachments/{id}/content", Who::Exempt("a signed link: attachments.rs"), ""),
    ("POST", "/api/payments/webhooks/{gateway}", Who::Exempt("signed by the gateway: payments.rs"), ""),
];

/// The router's aliases (docs/architecture.md, `http/src/routes/mod.rs`): alias path
/// prefix or path, and the canonical one.
const ALIASES: &[(&str, &str)] = &[
    ("/api/requests/", "/api/jobs/"),
    ("/api/job-applications/", "/api/proposals/"),
    ("/api/ratings/", "/api/reviews/"),
    ("/api/service-bookings/", "/api/bookings/"),
    ("/api/appointments/", "/api/bookings/"),
    ("/api/service-categories/", "/api/categories/"),
    ("/api/contracts/{id}/update_status", "/api/contracts/{id}/status"),
    ("/notifications/{id}/read", "/api/notifications/{id}/read"),
];

fn canonical(method: &str, path: &str) -> (String, String) {
    if path == "/notifications/{id}/delete" {
        return ("DELETE".into(), "/api/notifications/{id}".into());
    }
    for (alias, to) in ALIASES {
        if let Some(rest) = path.strip_prefix(alias) {
            return (method.into(), format!("{to}{rest}"));
        }
        if path == *alias {
            return (method.into(), (*to).into());
        }
    }
    (method.into(), path.into())
}

static KEYS: AtomicU64 = AtomicU64::new(0);

fn ts(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).expect("rfc3339")
}

const MISSING: &str = "0190f6b2-7c1a-7d3e-8a4b-1234567890ab";

/// The objects: a client and a provider who did business, and the outsiders.
struct World {
    app: TestApp,
    client: TestUser,
    provider: TestUser,
    admin: TestUser,
    /// Another client, another provider (with a profile) and a worker.
    outsiders: Vec<(&'static str, TestUser)>,
    /// Path parameter values by `(canonical path, parameter)`, falling back to the
    /// parameter's name alone.
    ids: BTreeMap<&'static str, String>,
}

fn id(r: &Reply) -> String {
    r.json["id"].as_str().unwrap_or_else(|| panic!("an id in {}", r.text)).to_string()
}

impl World {
    async fn new() -> World {
        let app = spawn_app().await;
        let client = app.user("authz-client").await;
        let (provider, profile) = app.provider("authz-provider").await;
        let admin = app.admin().await;
        let other_client = app.user("authz-other-client").await;
        let (other_provider, _) = app.provider("authz-other-provider").await;
        let worker = app.member("authz-worker", "worker").await;
        let mut ids = BTreeMap::new();
        ids.insert("user", provider.id.clone());
        ids.insert("profile", profile);

        let r = app.post("/api/categories", json!({"name": "Authz category"}), Some(&admin.token)).await;
        r.expect(201, None);
        ids.insert("category", id(&r));
        let r = app.post("/api/skills", json!({"name": "authz-skill"}), Some(&admin.token)).await;
        r.expect(201, None);
        ids.insert("skill", id(&r));
        let r = app.post("/api/companies", json!({"name": "Authz company"}), Some(&provider.token)).await;
        r.expect(201, None);
        ids.insert("company", id(&r));
        let r = app
            .post(
                "/api/services",
                json!({"title": "Authz service", "description": "Owned by the provider.",
                       "price": {"amount": 1000, "currency": "USD"}, "duration_minutes": 60}),
                Some(&provider.token),
            )
            .await;
        r.expect(201, None);
        ids.insert("service", id(&r));

        // A job with a proposal (left open), a second proposal on another job (to accept
        // through the route), a contract being worked on, and a completed one with a review.
        let r = app
            .post(
                "/api/jobs",
                json!({"title": "Authz job", "description": "Posted by the client."}),
                Some(&client.token),
            )
            .await;
        r.expect(201, None);
        let job = id(&r);
        let r = app
            .post(
                "/api/proposals",
                json!({"job_id": job, "rate": {"amount": 20000, "currency": "USD"}}),
                Some(&provider.token),
            )
            .await;
        r.expect(201, None);
        ids.insert("proposal", id(&r));
        ids.insert("job", job);
        let contract = app.pending_contract(&client, &provider, 20_000).await;
        let funded = app.fund_contract(&client, &contract).await;
        ids.insert("payment", funded["payment"]["id"].as_str().expect("payment").to_string());
        ids.insert("milestone", funded["milestone"]["id"].as_str().expect("milestone").to_string());
        ids.insert("contract", contract);
        let done = app.pending_contract(&client, &provider, 30_000).await;
        app.fund_contract(&client, &done).await;
        for (who, status) in [(&provider, "delivered"), (&client, "completed")] {
            app.post(&format!("/api/contracts/{done}/status"), json!({"status": status}), Some(&who.token))
                .await
                .expect(200, None);
        }
        let r = app
            .post("/api/reviews", json!({"contract_id": done, "rating": 5, "comment": "Good."}), Some(&client.token))
            .await;
        r.expect(201, None);
        ids.insert("review", id(&r));

        // Money: the client's card; the provider's bank account and a payout from the
        // completed contract's release.
        ids.insert("card", app.card(&client, "4242424242424242").await);
        let r = app
            .post(
                "/api/payout-methods",
                json!({"kind": "bank_account", "holder_name": "Authz Provider", "iban": "DE89370400440532013000"}),
                Some(&provider.token),
            )
            .await;
        r.expect(201, None);
        let bank = id(&r);
        let r = app
            .post_keyed(
                "/api/payouts",
                json!({"amount": {"amount": 100, "currency": "USD"}, "payout_method_id": bank}),
                &provider.token,
                Some("authz-payout"),
            )
            .await;
        r.expect(201, None);
        ids.insert("payout", id(&r));
        ids.insert("bank", bank);

        // A booking of the service, a conversation with a message, a notification.
        let start = OffsetDateTime::now_utc().replace_nanosecond(0).expect("s") + time::Duration::days(2);
        let r = app
            .post(
                "/api/bookings",
                json!({"service_id": ids["service"], "start_at": ts(start), "end_at": ts(start + time::Duration::hours(1)),
                       "payment_method_id": ids["card"]}),
                Some(&client.token),
            )
            .await;
        r.expect(201, None);
        ids.insert("booking", id(&r));
        let conversation = app.conversation(&client, &[&provider]).await;
        let r = app
            .post(
                &format!("/api/conversations/{conversation}/messages"),
                json!({"body": "private"}),
                Some(&client.token),
            )
            .await;
        r.expect(201, None);
        ids.insert("message", id(&r));
        // An image attached to a message there, and an upload the client has begun.
        let mut png = std::io::Cursor::new(Vec::new());
        image::RgbaImage::from_pixel(32, 24, image::Rgba([200, 120, 40, 255]))
            .write_to(&mut png, image::ImageFormat::Png)
            .expect("png");
        let r = app.upload(&client.token, "site.png", png.get_ref()).await;
        r.expect(201, None);
        let attachment = id(&r);
        let r = app
            .post(
                &format!("/api/conversations/{conversation}/messages"),
                json!({"body": "a photo", "attachment_ids": [attachment]}),
                Some(&client.token),
            )
            .await;
        r.expect(201, None);
        ids.insert("attachment", attachment);
        let r = app
            .send(
                app.client
                    .post(app.url("/api/uploads"))
                    .bearer_auth(&client.token)
                    .header("Tus-Resumable", "1.0.0")
                    .header("Upload-Length", "100"),
            )
            .await;
        r.expect(201, None);
        let location = r.headers.get("location").and_then(|v| v.to_str().ok()).expect("Location").to_string();
        ids.insert("upload", location.rsplit('/').next().expect("upload id").to_string());
        ids.insert("conversation", conversation);
        let mut notification = None;
        for _ in 0..100 {
            let r = app.get("/api/notifications", Some(&client.token)).await;
            if let Some(n) = r.json["results"].as_array().and_then(|a| a.first()) {
                notification = Some(n["id"].as_str().expect("notification id").to_string());
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        ids.insert("notification", notification.expect("the client was notified (the proposal)"));

        let outsiders =
            vec![("another client", other_client), ("another provider", other_provider), ("a worker", worker)];
        World { app, client, provider, admin, outsiders, ids }
    }

    /// The concrete path: each `{param}` replaced by the object it names in this world.
    fn path(&self, canonical: &str, actual: &str, missing: bool) -> String {
        let resource =
            canonical.trim_start_matches("/api/").trim_start_matches("admin/").split('/').next().unwrap_or("");
        let mut out = String::new();
        let mut rest = actual;
        while let Some(open) = rest.find('{') {
            out.push_str(&rest[..open]);
            let close = rest[open..].find('}').expect("closing brace") + open;
            let param = &rest[open + 1..close];
            let key = match (resource, param) {
                (_, "m") => "milestone",
                (_, "user_id") => "user",
                (_, "gateway") => "sandbox",
                ("users", _) => "user",
                ("categories" | "service-categories", _) => "category",
                ("skills", _) => "skill",
                ("companies", _) => "company",
                ("providers", _) => "profile",
                ("services", _) => "service",
                ("jobs" | "requests", _) => "job",
                ("proposals" | "job-applications", _) => "proposal",
                ("conversations", _) => "conversation",
                ("messages", _) => "message",
                ("notifications", _) => "notification",
                ("payment-methods", _) => "card",
                ("payout-methods", _) => "bank",
                ("payments", _) => "payment",
                ("payouts", _) => "payout",
                ("contracts" | "disputes", _) => "contract",
                ("bookings" | "service-bookings" | "appointments", _) => "booking",
                ("reviews" | "ratings", _) => "review",
                ("attachments", _) => "attachment",
                ("uploads", _) => "upload",
                other => panic!("no object for {other:?} in {canonical}"),
            };
            let value = self.ids.get(key).cloned().unwrap_or_else(|| key.to_string());
            // The made-up id replaces only the object the route is about (its first id).
            out.push_str(if missing && !out.contains(MISSING) { MISSING } else { &value });
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        if canonical.ends_with("/slots") {
            out.push_str("?from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z");
        }
        out
    }

    async fn call(&self, method: &str, path: &str, body: &str, token: Option<&str>) -> Reply {
        let url = self.app.url(path);
        let body = body.replace("{card}", &self.ids["card"]);
        let mut req = match method {
            "GET" => self.app.client.get(url),
            "POST" => self.app.client.post(url),
            "PUT" => self.app.client.put(url),
            "PATCH" => self.app.client.patch(url),
            "DELETE" => self.app.client.delete(url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json").body(body);
        }
        if method != "GET" {
            req = req.header("Idempotency-Key", format!("authz-{}", KEYS.fetch_add(1, Ordering::Relaxed)));
        }
        self.app.send(req).await
    }

    fn allowed(&self, who: Who) -> Vec<(&'static str, &TestUser)> {
        let mut v = match who {
            Who::Client => vec![("the client", &self.client)],
            Who::Provider => vec![("the provider", &self.provider)],
            Who::Parties | Who::PartiesAnonymousHidden => {
                vec![("the client", &self.client), ("the provider", &self.provider)]
            }
            Who::ClientAndSellers => vec![("the client", &self.client), ("the provider", &self.provider)],
            Who::Admin => vec![("an admin", &self.admin)],
            Who::AnyUser | Who::Public | Who::Exempt(_) => Vec::new(),
        };
        if who == Who::ClientAndSellers {
            v.extend(self.outsiders.iter().filter(|(n, _)| *n != "another client").map(|(n, u)| (*n, u)));
        }
        v
    }

    /// Everyone signed in whom the entry does not allow.
    fn refused(&self, who: Who) -> Vec<(&'static str, &TestUser)> {
        if matches!(who, Who::AnyUser | Who::Public | Who::Exempt(_)) {
            return Vec::new();
        }
        let allowed: BTreeSet<&str> = self.allowed(who).iter().map(|(_, u)| u.id.as_str()).collect();
        // Admins are left out: what they may read and moderate (payments, payouts,
        // disputes, verification) is asserted by the tests of those features.
        let mut all = vec![("the client", &self.client), ("the provider", &self.provider)];
        all.extend(self.outsiders.iter().map(|(n, u)| (*n, u)));
        all.into_iter().filter(|(_, u)| !allowed.contains(u.id.as_str())).collect()
    }
}

#[actix_web::test]
async fn every_route_with_an_id_is_authorized_per_object() {
    let w = World::new().await;
    let schema = w.app.get("/api/schema", None).await;
    schema.expect(200, None);
    let matrix: BTreeMap<(String, String), (Who, &str)> =
        MATRIX.iter().map(|(m, p, who, body)| (((*m).to_string(), (*p).to_string()), (*who, *body))).collect();
    assert_eq!(matrix.len(), MATRIX.len(), "an entry twice");

    // Every operation with a path parameter, aliases included.
    let mut operations = Vec::new();
    for (path, item) in schema.json["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() && path.contains('{') {
                operations.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(operations.len() >= 90, "the document lists the routes: {}", operations.len());
    let mut failures = Vec::new();
    let mut covered = BTreeSet::new();
    let emails = [w.client.email.clone(), w.provider.email.clone()];
    for (method, path) in &operations {
        let key = canonical(method, path);
        let Some((who, body)) = matrix.get(&key).copied() else {
            failures.push(format!("{method} {path}: no entry in the authorization matrix"));
            continue;
        };
        covered.insert(key.clone());
        if matches!(who, Who::Exempt(_)) {
            continue;
        }
        let concrete = w.path(&key.1, path, false);
        // Anonymous.
        let r = w.call(method, &concrete, body, None).await;
        let expected = match who {
            Who::Public => 200,
            Who::PartiesAnonymousHidden => 404,
            _ => 401,
        };
        if r.status != expected {
            failures
                .push(format!("{method} {path}: anonymous got {} (expected {expected}): {:.200}", r.status, r.text));
        }
        // Everyone else.
        let missing = w.call(method, &w.path(&key.1, path, true), body, Some(&w.outsiders[0].1.token)).await;
        for (name, user) in w.refused(who) {
            let r = w.call(method, &concrete, body, Some(&user.token)).await;
            let hidden =
                r.status == 403 || r.status == 404 || (r.status == missing.status && r.code() == missing.code());
            if !hidden {
                failures.push(format!("{method} {path}: {name} got {} {:.300}", r.status, r.text));
            }
            if emails.iter().any(|e| e != &user.email && r.text.contains(e.as_str())) {
                failures.push(format!("{method} {path}: {name} was shown another user's email"));
            }
        }
    }
    // The owners, in the matrix's order (destructive entries last), on canonical paths.
    for (method, path, who, body) in MATRIX {
        if matches!(who, Who::Exempt(_) | Who::Public) {
            continue;
        }
        let concrete = w.path(path, path, false);
        let callers: Vec<(&str, &TestUser)> =
            if *who == Who::AnyUser { w.outsiders.iter().map(|(n, u)| (*n, u)).collect() } else { w.allowed(*who) };
        for (name, user) in callers {
            let r = w.call(method, &concrete, body, Some(&user.token)).await;
            if matches!(r.status, 401 | 403 | 404) || r.status >= 500 {
                failures.push(format!("{method} {path}: {name} (allowed) got {} {:.300}", r.status, r.text));
            }
        }
    }
    for (method, path, ..) in MATRIX {
        if !covered.contains(&((*method).to_string(), (*path).to_string())) {
            failures.push(format!("{method} {path}: in the matrix but not in the route table"));
        }
    }
    assert!(failures.is_empty(), "{} authorization failures:\n{}", failures.len(), failures.join("\n"));
}

/// Lists show only the caller's own private objects; a conversation's frames reach only
/// its members.
#[actix_web::test]
async fn lists_and_frames_never_show_other_users_private_objects() {
    let w = World::new().await;
    let private = [
        "contract",
        "booking",
        "conversation",
        "payment",
        "card",
        "bank",
        "payout",
        "notification",
        "message",
        "proposal",
    ];
    let lists = [
        "/api/contracts",
        "/api/bookings",
        "/api/conversations",
        "/api/messages",
        "/api/payments",
        "/api/payment-methods",
        "/api/payout-methods",
        "/api/payouts",
        "/api/notifications",
        "/api/jobs/mine",
        "/api/proposals",
        "/api/wallet/ledger",
    ];
    let mut failures = Vec::new();
    for (name, user) in &w.outsiders {
        for list in lists {
            let r = w.app.get(list, Some(&user.token)).await;
            if r.status >= 500 {
                failures.push(format!("{list} as {name}: {}", r.status));
            }
            for key in private {
                if r.text.contains(w.ids[key].as_str()) {
                    failures.push(format!("{list} as {name} shows the {key}"));
                }
            }
            for email in [&w.client.email, &w.provider.email] {
                if r.text.contains(email.as_str()) {
                    failures.push(format!("{list} as {name} shows another user's email"));
                }
            }
        }
    }
    // Frames: an outsider connected while the members talk hears nothing of it.
    let mut outsider = w.app.ws(&w.outsiders[0].1.token, Encoding::Json).await;
    let mut member = w.app.ws(&w.provider.token, Encoding::Json).await;
    let conversation = &w.ids["conversation"];
    let r = w
        .app
        .post(
            &format!("/api/conversations/{conversation}/messages"),
            json!({"body": "for members"}),
            Some(&w.client.token),
        )
        .await;
    r.expect(201, None);
    let delivered = member.expect("message").await;
    assert_eq!(delivered["body"], "for members", "{delivered}");
    outsider.expect_none("message", Duration::from_millis(500)).await;
    let typing = json!({"type": "typing", "conversation_id": conversation, "active": true});
    outsider.send(typing).await;
    let e = outsider.expect("error").await;
    assert_eq!(e["code"], "not_found", "an outsider's frame about the conversation: {e}");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
