//! The marketplace end to end, against the real server on port 0 with real users: the
//! catalog (categories tree, skills, companies), provider profiles, services (filters,
//! orderings, likes), ranked search with word forms and paging, jobs and proposals,
//! accepting a proposal exactly once (also under concurrent accepts), the contract state
//! machine with its history, and the notifications each of these sends (listed over REST
//! and pushed live over the WebSocket).

use std::collections::HashSet;
use std::time::Duration;

use agora_tests::{spawn_app, test_settings, Encoding, Reply, TestApp, TestUser};
use futures_util::future::join_all;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// How long to keep watching for a duplicate after the expected notifications arrived.
const QUIET: Duration = Duration::from_millis(500);

fn usd(amount: i64) -> Value {
    json!({"amount": amount, "currency": "USD"})
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

fn results(r: &Reply) -> Vec<Value> {
    r.json["results"].as_array().unwrap_or_else(|| panic!("no results in {}", r.text)).clone()
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(id_of).collect()
}

/// `YYYY-MM-DD`, `days` from today (UTC).
fn day(days: i64) -> String {
    let d = (OffsetDateTime::now_utc() + time::Duration::days(days)).date();
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Asserts a 400 `validation_failed` that names `field`.
#[track_caller]
fn invalid(r: &Reply, field: &str) {
    r.expect(400, Some("validation_failed"));
    assert!(r.json["error"]["fields"][field].is_array(), "no problem recorded for {field}: {}", r.text);
}

async fn member(app: &TestApp, tag: &str, role: &str) -> TestUser {
    app.member(tag, role).await
}

async fn provider(app: &TestApp, tag: &str) -> (TestUser, String) {
    app.provider(tag).await
}

async fn category(app: &TestApp, by: &TestUser, name: &str, parent: Option<&str>) -> String {
    let r = app.post("/api/categories", json!({"name": name, "parent_id": parent}), Some(&by.token)).await;
    r.expect(201, None);
    assert_eq!(r.json["name"], name);
    assert_eq!(r.json["parent_id"].as_str(), parent, "parent_id: {}", r.text);
    id_of(&r.json)
}

/// Creates a service as `by` with `extra` merged into a valid body.
async fn service(app: &TestApp, by: &TestUser, extra: Value) -> Reply {
    let mut body = json!({"title": "A fine service", "description": "Done well and on time", "price": usd(10_000)});
    merge(&mut body, extra);
    app.post("/api/services", body, Some(&by.token)).await
}

async fn service_id(app: &TestApp, by: &TestUser, extra: Value) -> String {
    let r = service(app, by, extra).await;
    r.expect(201, None);
    id_of(&r.json)
}

/// Posts a job as `by` with `extra` merged into a valid body.
async fn job(app: &TestApp, by: &TestUser, extra: Value) -> Reply {
    let mut body = json!({"title": "Fix the kitchen sink", "description": "It drips all night"});
    merge(&mut body, extra);
    app.post("/api/jobs", body, Some(&by.token)).await
}

async fn job_id(app: &TestApp, by: &TestUser, extra: Value) -> String {
    let r = job(app, by, extra).await;
    r.expect(201, None);
    id_of(&r.json)
}

async fn propose(app: &TestApp, by: &TestUser, job: &str, amount: i64) -> Reply {
    app.post(
        "/api/proposals",
        json!({"job_id": job, "rate": usd(amount), "message": "I can do it this week"}),
        Some(&by.token),
    )
    .await
}

async fn proposal_id(app: &TestApp, by: &TestUser, job: &str, amount: i64) -> String {
    let r = propose(app, by, job, amount).await;
    r.expect(201, None);
    id_of(&r.json)
}

fn merge(body: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (body.as_object_mut(), extra) {
        for (k, v) in e {
            b.insert(k, v);
        }
    }
}

async fn set_status(app: &TestApp, by: &TestUser, contract: &str, status: &str, reason: Option<&str>) -> Reply {
    app.post(&format!("/api/contracts/{contract}/status"), json!({"status": status, "reason": reason}), Some(&by.token))
        .await
}

async fn notifications(app: &TestApp, user: &TestUser) -> Vec<Value> {
    let r = app.get("/api/notifications?limit=100", Some(&user.token)).await;
    r.expect(200, None);
    results(&r)
}

/// Polls until `user` has `n` notifications, then watches a little longer so a duplicate
/// would show; answers them (newest first, as listed).
async fn exactly_notifications(app: &TestApp, user: &TestUser, n: usize) -> Vec<Value> {
    let mut last = Vec::new();
    for _ in 0..100 {
        last = notifications(app, user).await;
        if last.len() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(QUIET).await;
    let after = notifications(app, user).await;
    assert_eq!(after.len(), n, "expected exactly {n} notifications, have: {after:#?} (earlier {})", last.len());
    after
}

async fn provider_profile(app: &TestApp, profile: &str) -> Value {
    let r = app.get(&format!("/api/providers/{profile}"), None).await;
    r.expect(200, None);
    r.json
}

// ---------------------------------------------------------------------------------------
// Catalog

#[actix_web::test]
async fn categories_are_an_admin_written_tree_with_unique_sibling_names_and_no_cycles() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let someone = app.user("someone").await;
    let (prov, _) = provider(&app, "prov").await;

    // Writing is for admins only.
    for who in [&someone, &prov] {
        app.post("/api/categories", json!({"name": "Home"}), Some(&who.token)).await.expect(403, Some("forbidden"));
    }
    app.post("/api/categories", json!({"name": "Home"}), None).await.expect(401, None);

    let home = category(&app, &root, "Home", None).await;
    let plumbing = category(&app, &root, "Plumbing", Some(&home)).await;
    let pipes = category(&app, &root, "Pipes", Some(&plumbing)).await;
    let garden = category(&app, &root, "Garden", None).await;
    // The same name under another parent is fine...
    let garden_plumbing = category(&app, &root, "Plumbing", Some(&garden)).await;
    // ...but not twice among siblings (case-insensitively), at the top level too.
    app.post("/api/categories", json!({"name": "plumbing", "parent_id": home}), Some(&root.token))
        .await
        .expect(409, Some("name_taken"));
    app.post("/api/categories", json!({"name": "Home"}), Some(&root.token)).await.expect(409, Some("name_taken"));
    invalid(&app.post("/api/categories", json!({"name": ""}), Some(&root.token)).await, "name");
    let nowhere = uuid::Uuid::now_v7().to_string();
    invalid(
        &app.post("/api/categories", json!({"name": "Orphan", "parent_id": nowhere}), Some(&root.token)).await,
        "parent_id",
    );

    // Reading is public.
    let all = app.get("/api/categories", None).await;
    all.expect(200, None);
    let listed: HashSet<String> = ids(&results(&all)).into_iter().collect();
    for c in [&home, &plumbing, &pipes, &garden, &garden_plumbing] {
        assert!(listed.contains(c), "category {c} not listed: {}", all.text);
    }
    let top = app.get("/api/categories?parent_id=root", None).await;
    top.expect(200, None);
    assert_eq!(ids(&results(&top)), vec![garden.clone(), home.clone()], "top level, by name");
    let children = app.get(&format!("/api/categories?parent_id={home}"), None).await;
    children.expect(200, None);
    assert_eq!(ids(&results(&children)), vec![plumbing.clone()]);
    let one = app.get(&format!("/api/categories/{pipes}"), None).await;
    one.expect(200, None);
    assert_eq!(one.json["parent_id"], plumbing.as_str());
    assert_eq!(one.json["name"], "Pipes");

    // Others may not edit or delete.
    app.patch(&format!("/api/categories/{pipes}"), json!({"name": "Tubes"}), Some(&someone.token))
        .await
        .expect(403, Some("forbidden"));
    app.delete(&format!("/api/categories/{pipes}"), Some(&prov.token)).await.expect(403, Some("forbidden"));

    // No cycles: under itself, under a child, under a grandchild.
    for under in [&home, &plumbing, &pipes] {
        let r = app.patch(&format!("/api/categories/{home}"), json!({"parent_id": under}), Some(&root.token)).await;
        invalid(&r, "parent_id");
    }
    let still = app.get(&format!("/api/categories/{home}"), None).await;
    assert!(still.json["parent_id"].is_null(), "a refused move changed nothing: {}", still.text);

    // Moving next to a sibling of the same name is a name clash.
    app.patch(&format!("/api/categories/{garden_plumbing}"), json!({"parent_id": home}), Some(&root.token))
        .await
        .expect(409, Some("name_taken"));
    // Renames and moves that keep names unique work.
    let r = app.patch(&format!("/api/categories/{pipes}"), json!({"name": "Pipework"}), Some(&root.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["name"], "Pipework");
    let r = app.patch(&format!("/api/categories/{pipes}"), json!({"parent_id": null}), Some(&root.token)).await;
    r.expect(200, None);
    assert!(r.json["parent_id"].is_null(), "moved to the top: {}", r.text);
    let r = app.patch(&format!("/api/categories/{pipes}"), json!({"parent_id": plumbing}), Some(&root.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["parent_id"], plumbing.as_str());
    // The old name is free again.
    category(&app, &root, "Pipes", Some(&plumbing)).await;

    // A category with children cannot be deleted; a leaf can.
    app.delete(&format!("/api/categories/{home}"), Some(&root.token)).await.expect(409, Some("has_children"));
    app.delete(&format!("/api/categories/{plumbing}"), Some(&root.token)).await.expect(409, Some("has_children"));
    app.delete(&format!("/api/categories/{garden_plumbing}"), Some(&root.token)).await.expect(204, None);
    app.get(&format!("/api/categories/{garden_plumbing}"), None).await.expect(404, Some("not_found"));
    app.delete(&format!("/api/categories/{garden_plumbing}"), Some(&root.token)).await.expect(404, Some("not_found"));
    // Its name is free under Garden again.
    category(&app, &root, "Plumbing", Some(&garden)).await;
}

#[actix_web::test]
async fn skills_are_admin_written_and_companies_belong_to_their_creator() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let client = app.user("client").await;
    let (prov, _) = provider(&app, "prov").await;

    // Skills: admins write, anyone reads.
    app.post("/api/skills", json!({"name": "Welding"}), Some(&client.token)).await.expect(403, Some("forbidden"));
    app.post("/api/skills", json!({"name": "Welding"}), Some(&prov.token)).await.expect(403, Some("forbidden"));
    let r = app.post("/api/skills", json!({"name": "Welding"}), Some(&root.token)).await;
    r.expect(201, None);
    let welding = id_of(&r.json);
    app.post("/api/skills", json!({"name": "welding"}), Some(&root.token)).await.expect(409, Some("name_taken"));
    invalid(&app.post("/api/skills", json!({}), Some(&root.token)).await, "name");
    let r = app.post("/api/skills", json!({"name": "Carpentry"}), Some(&root.token)).await;
    r.expect(201, None);
    let carpentry = id_of(&r.json);
    let list = app.get("/api/skills", None).await;
    list.expect(200, None);
    assert_eq!(ids(&results(&list)), vec![carpentry.clone(), welding.clone()], "sorted by name");
    app.get(&format!("/api/skills/{welding}"), None).await.expect(200, None);
    app.patch(&format!("/api/skills/{welding}"), json!({"name": "Arc welding"}), Some(&prov.token))
        .await
        .expect(403, Some("forbidden"));
    app.patch(&format!("/api/skills/{welding}"), json!({"name": "Carpentry"}), Some(&root.token))
        .await
        .expect(409, Some("name_taken"));
    let r = app.patch(&format!("/api/skills/{welding}"), json!({"name": "Arc welding"}), Some(&root.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["name"], "Arc welding");
    app.delete(&format!("/api/skills/{carpentry}"), Some(&client.token)).await.expect(403, Some("forbidden"));
    app.delete(&format!("/api/skills/{carpentry}"), Some(&root.token)).await.expect(204, None);
    app.get(&format!("/api/skills/{carpentry}"), None).await.expect(404, Some("not_found"));

    // Companies: any signed-in user creates one and owns it.
    app.post("/api/companies", json!({"name": "Anon Ltd"}), None).await.expect(401, None);
    invalid(
        &app.post("/api/companies", json!({"name": "Bad Site", "website": "ftp://x"}), Some(&client.token)).await,
        "website",
    );
    invalid(&app.post("/api/companies", json!({"description": "nameless"}), Some(&client.token)).await, "name");
    let r = app
        .post(
            "/api/companies",
            json!({"name": "Acme", "description": "Anvils", "website": "https://acme.example"}),
            Some(&client.token),
        )
        .await;
    r.expect(201, None);
    let acme = id_of(&r.json);
    assert_eq!(r.json["owner_id"], client.id.as_str());
    assert_eq!(r.json["website"], "https://acme.example");
    let r = app.post("/api/companies", json!({"name": "Prov Co"}), Some(&prov.token)).await;
    r.expect(201, None);
    assert_eq!(r.json["owner_id"], prov.id.as_str());

    let r = app.get(&format!("/api/companies/{acme}"), None).await;
    r.expect(200, None);
    assert_eq!(r.json["name"], "Acme");
    let list = app.get("/api/companies", None).await;
    list.expect(200, None);
    assert!(ids(&results(&list)).contains(&acme));

    // Only the owner edits or deletes.
    for other in [&prov, &root] {
        app.patch(&format!("/api/companies/{acme}"), json!({"name": "Stolen"}), Some(&other.token))
            .await
            .expect(403, Some("forbidden"));
        app.delete(&format!("/api/companies/{acme}"), Some(&other.token)).await.expect(403, Some("forbidden"));
    }
    let r = app.patch(&format!("/api/companies/{acme}"), json!({"name": "Acme Corp"}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["name"], "Acme Corp");
    assert_eq!(r.json["description"], "Anvils", "absent fields stay");
    app.delete(&format!("/api/companies/{acme}"), Some(&client.token)).await.expect(204, None);
    app.get(&format!("/api/companies/{acme}"), None).await.expect(404, Some("not_found"));
}

// ---------------------------------------------------------------------------------------
// Provider profiles

#[actix_web::test]
async fn provider_profiles_are_one_per_user_owner_written_and_verified_by_admins() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let cat = category(&app, &root, "Electrical", None).await;
    let r = app.post("/api/skills", json!({"name": "Wiring"}), Some(&root.token)).await;
    r.expect(201, None);
    let wiring = id_of(&r.json);
    let client = app.user("client").await;
    let prov = member(&app, "prov", "provider").await;
    let worker = member(&app, "worker", "worker").await;

    let body = json!({
        "bio": "Licensed electrician",
        "hourly_rate": usd(7500),
        "city": "Lisbon",
        "country": "PT",
        "category_ids": [cat],
        "skills": [{"skill_id": wiring, "level": "expert"}],
        "availability": "busy",
    });
    app.post("/api/providers", body.clone(), Some(&client.token)).await.expect(403, Some("forbidden"));
    app.post("/api/providers", body.clone(), None).await.expect(401, None);
    // The owner cannot verify itself.
    let mut self_verified = body.clone();
    merge(&mut self_verified, json!({"is_verified": true}));
    app.post("/api/providers", self_verified, Some(&prov.token)).await.expect(403, Some("forbidden"));
    // Validation.
    invalid(&app.post("/api/providers", json!({"hourly_rate": usd(100)}), Some(&prov.token)).await, "bio");
    invalid(
        &app.post("/api/providers", json!({"bio": "x", "hourly_rate": usd(0)}), Some(&prov.token)).await,
        "hourly_rate",
    );
    invalid(
        &app.post(
            "/api/providers",
            json!({"bio": "x", "hourly_rate": usd(1), "availability": "asleep"}),
            Some(&prov.token),
        )
        .await,
        "availability",
    );
    invalid(
        &app.post(
            "/api/providers",
            json!({"bio": "x", "hourly_rate": usd(1), "skills": [{"skill_id": wiring, "level": "guru"}]}),
            Some(&prov.token),
        )
        .await,
        "skills.level",
    );

    let r = app.post("/api/providers", body.clone(), Some(&prov.token)).await;
    r.expect(201, None);
    let profile = id_of(&r.json);
    let p = &r.json;
    assert_eq!(p["user_id"], prov.id.as_str());
    assert_eq!(p["bio"], "Licensed electrician");
    assert_eq!(p["hourly_rate"], usd(7500));
    assert_eq!((p["city"].as_str(), p["country"].as_str()), (Some("Lisbon"), Some("PT")));
    assert_eq!(p["category_ids"], json!([cat]));
    assert_eq!(p["skills"], json!([{"skill_id": wiring, "level": "expert"}]));
    assert_eq!(p["availability"], "busy");
    assert_eq!(p["is_verified"], false);
    assert_eq!(p["rating_avg"].as_f64(), Some(0.0));
    assert_eq!(p["reviews_count"], 0);
    assert_eq!(p["completed_jobs"], 0);
    // One per user.
    app.post("/api/providers", body.clone(), Some(&prov.token)).await.expect(409, Some("profile_exists"));
    // Workers have profiles too.
    let r = app.post("/api/providers", json!({"bio": "Handy", "hourly_rate": usd(2000)}), Some(&worker.token)).await;
    r.expect(201, None);
    let worker_profile = id_of(&r.json);
    assert_eq!(r.json["availability"], "available", "default availability");

    // Public read.
    let got = provider_profile(&app, &profile).await;
    assert_eq!(got["bio"], "Licensed electrician");
    app.get(&format!("/api/providers/{}", uuid::Uuid::now_v7()), None).await.expect(404, Some("not_found"));

    // Only the owner edits.
    for other in [&worker, &client] {
        app.patch(&format!("/api/providers/{profile}"), json!({"bio": "hijacked"}), Some(&other.token))
            .await
            .expect(403, Some("forbidden"));
        app.patch(&format!("/api/providers/{profile}"), json!({}), Some(&other.token))
            .await
            .expect(403, Some("forbidden"));
    }
    // An admin may not edit the owner's fields either.
    app.patch(&format!("/api/providers/{profile}"), json!({"bio": "admin wrote this"}), Some(&root.token))
        .await
        .expect(403, Some("forbidden"));
    let r = app
        .patch(
            &format!("/api/providers/{profile}"),
            json!({"bio": "Master electrician", "hourly_rate": usd(9000),
                   "availability": "available", "city": "Porto"}),
            Some(&prov.token),
        )
        .await;
    r.expect(200, None);
    assert_eq!(r.json["bio"], "Master electrician");
    assert_eq!(r.json["hourly_rate"], usd(9000));
    assert_eq!(r.json["availability"], "available");
    assert_eq!(r.json["city"], "Porto");
    assert_eq!(r.json["country"], "PT", "absent fields stay");
    assert_eq!(r.json["skills"], json!([{"skill_id": wiring, "level": "expert"}]), "absent fields stay");

    // is_verified: never by the owner (nor anyone else), only by an admin.
    app.patch(&format!("/api/providers/{profile}"), json!({"is_verified": true}), Some(&prov.token))
        .await
        .expect(403, Some("forbidden"));
    app.patch(&format!("/api/providers/{profile}"), json!({"is_verified": true}), Some(&worker.token))
        .await
        .expect(403, Some("forbidden"));
    assert_eq!(provider_profile(&app, &profile).await["is_verified"], false);
    let r = app.patch(&format!("/api/providers/{profile}"), json!({"is_verified": true}), Some(&root.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["is_verified"], true);
    assert_eq!(r.json["bio"], "Master electrician", "an admin's verification changes nothing else");
    assert_eq!(provider_profile(&app, &profile).await["is_verified"], true);

    // Listing filters: verified, city, availability, category.
    let r = app.get("/api/providers?verified=true", None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![profile.clone()]);
    let r = app.get("/api/providers?verified=false", None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![worker_profile.clone()]);
    let r = app.get("/api/providers?city=porto", None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![profile.clone()]);
    let r = app.get(&format!("/api/providers?category={cat}"), None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![profile.clone()]);
    let r = app.get("/api/providers?availability=available&ordering=hourly_rate", None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![worker_profile.clone(), profile.clone()], "cheapest first");
    invalid(&app.get("/api/providers?ordering=shoe_size", None).await, "ordering");
}

// ---------------------------------------------------------------------------------------
// Services

#[actix_web::test]
async fn services_are_provider_owned_validated_filtered_ordered_and_liked() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let home = category(&app, &root, "Home", None).await;
    let plumbing = category(&app, &root, "Plumbing", Some(&home)).await;
    let pipes = category(&app, &root, "Pipes", Some(&plumbing)).await;
    let garden = category(&app, &root, "Garden", None).await;
    let (alice, alice_profile) = provider(&app, "alice").await;
    let (bob, bob_profile) = provider(&app, "bob").await;
    let client = app.user("client").await;
    let no_profile = member(&app, "noprofile", "provider").await;

    // Only a user with a provider profile offers services.
    service(&app, &client, json!({})).await.expect(403, Some("forbidden"));
    service(&app, &no_profile, json!({})).await.expect(403, Some("forbidden"));
    app.post("/api/services", json!({"title": "Anon", "description": "x", "price": usd(1)}), None)
        .await
        .expect(401, None);

    // Validation.
    invalid(&service(&app, &alice, json!({"title": "ab"})).await, "title");
    invalid(&service(&app, &alice, json!({"title": null})).await, "title");
    invalid(&service(&app, &alice, json!({"price": usd(0)})).await, "price");
    invalid(&service(&app, &alice, json!({"price": usd(-5)})).await, "price");
    invalid(&service(&app, &alice, json!({"price": null})).await, "price");
    invalid(&service(&app, &alice, json!({"duration_minutes": 0})).await, "duration_minutes");
    invalid(&service(&app, &alice, json!({"duration_minutes": 7 * 24 * 60 + 1})).await, "duration_minutes");
    invalid(&service(&app, &alice, json!({"tags": ["x".repeat(41)]})).await, "tags");
    let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    invalid(&service(&app, &alice, json!({"tags": many})).await, "tags");
    invalid(&service(&app, &alice, json!({"category_id": uuid::Uuid::now_v7().to_string()})).await, "category_id");

    let r = service(
        &app,
        &alice,
        json!({"title": "Pipe relining", "category_id": pipes, "price": usd(30_000), "duration_minutes": 240,
               "tags": ["Pipes", "pipes", " relining "]}),
    )
    .await;
    r.expect(201, None);
    let relining = id_of(&r.json);
    assert_eq!(r.json["provider_id"], alice_profile.as_str());
    assert_eq!(r.json["owner_id"], alice.id.as_str());
    assert_eq!(r.json["price"], usd(30_000));
    assert_eq!(r.json["duration_minutes"], 240);
    assert_eq!(r.json["tags"], json!(["pipes", "relining"]), "tags are trimmed, lower-cased, unique");
    assert_eq!(r.json["likes_count"], 0);
    let tap =
        service_id(&app, &alice, json!({"title": "Tap fitting", "category_id": plumbing, "price": usd(8_000)})).await;
    let shelves =
        service_id(&app, &bob, json!({"title": "Shelf mounting", "category_id": home, "price": usd(12_000)})).await;
    let lawn =
        service_id(&app, &bob, json!({"title": "Lawn mowing", "category_id": garden, "price": usd(4_000)})).await;

    // Category filter includes subcategories.
    let list = |q: String| {
        let app = &app;
        async move {
            let r = app.get(&format!("/api/services{q}"), None).await;
            r.expect(200, None);
            ids(&results(&r))
        }
    };
    let mut under_home = list(format!("?category={home}")).await;
    under_home.sort();
    let mut expected = vec![relining.clone(), tap.clone(), shelves.clone()];
    expected.sort();
    assert_eq!(under_home, expected, "a parent category finds services in its subcategories");
    let mut under_plumbing = list(format!("?category={plumbing}")).await;
    under_plumbing.sort();
    let mut expected = vec![relining.clone(), tap.clone()];
    expected.sort();
    assert_eq!(under_plumbing, expected);
    assert_eq!(list(format!("?category={pipes}")).await, vec![relining.clone()]);
    assert_eq!(list(format!("?category={garden}")).await, vec![lawn.clone()]);
    // Provider filter.
    let mut bobs = list(format!("?provider={bob_profile}")).await;
    bobs.sort();
    let mut expected = vec![shelves.clone(), lawn.clone()];
    expected.sort();
    assert_eq!(bobs, expected);
    // Price range (inclusive), and min above max is refused.
    assert_eq!(list("?price_min=8000&price_max=12000&ordering=price".into()).await, vec![tap.clone(), shelves.clone()]);
    assert_eq!(list("?price_min=12001".into()).await, vec![relining.clone()]);
    invalid(&app.get("/api/services?price_min=5000&price_max=4000", None).await, "price_min");
    invalid(&app.get("/api/services?ordering=sideways", None).await, "ordering");
    invalid(&app.get("/api/services?category=not-an-id", None).await, "category");
    // Orderings.
    assert_eq!(
        list("?ordering=price".into()).await,
        vec![lawn.clone(), tap.clone(), shelves.clone(), relining.clone()]
    );
    assert_eq!(
        list("?ordering=-price".into()).await,
        vec![relining.clone(), shelves.clone(), tap.clone(), lawn.clone()]
    );
    // (-created_at, the default, is checked in `newest_first_orders_by_creation_time_within_a_second`.)
    let mut everything = list("?ordering=-created_at".into()).await;
    everything.sort();
    let mut expected = vec![relining.clone(), tap.clone(), shelves.clone(), lawn.clone()];
    expected.sort();
    assert_eq!(everything, expected);
    assert_eq!(list("?ordering=rating".into()).await.len(), 4);

    // Likes are idempotent and drive popularity.
    let like = |svc: &str, who: &TestUser| {
        let (url, token) = (format!("/api/services/{svc}/like"), who.token.clone());
        let app = &app;
        async move { app.put(&url, json!({}), Some(&token)).await }
    };
    app.put(&format!("/api/services/{tap}/like"), json!({}), None).await.expect(401, None);
    for _ in 0..2 {
        let r = like(&tap, &client).await;
        r.expect(200, None);
        assert_eq!((r.json["liked"].as_bool(), r.json["likes_count"].as_u64()), (Some(true), Some(1)), "{}", r.text);
    }
    let r = like(&tap, &bob).await;
    r.expect(200, None);
    assert_eq!(r.json["likes_count"], 2);
    let r = like(&lawn, &client).await;
    r.expect(200, None);
    assert_eq!(r.json["likes_count"], 1);
    let r = app.get(&format!("/api/services/{tap}"), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!((r.json["likes_count"].as_u64(), r.json["liked"].as_bool()), (Some(2), Some(true)));
    assert!(r.json["rating_avg"].is_number() && r.json["reviews_count"] == 0, "detail has aggregates: {}", r.text);
    let r = app.get(&format!("/api/services/{tap}"), Some(&alice.token)).await;
    assert_eq!(r.json["liked"], false);
    let popular = list("?ordering=popularity".into()).await;
    assert_eq!(popular[..2], [tap.clone(), lawn.clone()], "most liked first: {popular:?}");
    for _ in 0..2 {
        let r = app.delete(&format!("/api/services/{tap}/like"), Some(&bob.token)).await;
        r.expect(200, None);
        assert_eq!((r.json["liked"].as_bool(), r.json["likes_count"].as_u64()), (Some(false), Some(1)), "{}", r.text);
    }
    let r = app.delete(&format!("/api/services/{shelves}/like"), Some(&bob.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["likes_count"], 0, "unliking what one never liked changes nothing");
    // Concurrent likes by one user count once.
    let burst = join_all((0..6).map(|_| like(&shelves, &client))).await;
    assert!(burst.iter().all(|r| r.status == 200), "{:?}", burst.iter().map(|r| &r.text).collect::<Vec<_>>());
    let r = app.get(&format!("/api/services/{shelves}"), None).await;
    assert_eq!(r.json["likes_count"], 1, "six concurrent likes by one user: {}", r.text);

    // Only the owner edits or deletes.
    for other in [&bob, &client, &root] {
        app.patch(&format!("/api/services/{tap}"), json!({"title": "Mine now"}), Some(&other.token))
            .await
            .expect(403, Some("forbidden"));
        app.delete(&format!("/api/services/{tap}"), Some(&other.token)).await.expect(403, Some("forbidden"));
    }
    invalid(&app.patch(&format!("/api/services/{tap}"), json!({"price": usd(0)}), Some(&alice.token)).await, "price");
    let r = app
        .patch(
            &format!("/api/services/{tap}"),
            json!({"title": "Tap and valve fitting", "price": usd(9_000)}),
            Some(&alice.token),
        )
        .await;
    r.expect(200, None);
    assert_eq!(r.json["title"], "Tap and valve fitting");
    assert_eq!(r.json["price"], usd(9_000));
    assert_eq!(r.json["category_id"], plumbing.as_str(), "absent fields stay");
    assert_eq!(list("?price_min=9000&price_max=9000".into()).await, vec![tap.clone()], "the index follows edits");

    // A deleted service is gone everywhere.
    app.delete(&format!("/api/services/{tap}"), Some(&alice.token)).await.expect(204, None);
    app.get(&format!("/api/services/{tap}"), None).await.expect(404, Some("not_found"));
    app.patch(&format!("/api/services/{tap}"), json!({"title": "Back"}), Some(&alice.token))
        .await
        .expect(404, Some("not_found"));
    app.delete(&format!("/api/services/{tap}"), Some(&alice.token)).await.expect(404, Some("not_found"));
    like(&tap, &client).await.expect(404, Some("not_found"));
    assert!(!list("".into()).await.contains(&tap));
    assert!(!list(format!("?category={plumbing}")).await.contains(&tap));
    assert!(!list("?q=valve".into()).await.contains(&tap));
    let r = app.get(&format!("/api/providers/{alice_profile}/services"), None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![relining.clone()], "the provider's services skip deleted ones");

    // Moving a category moves its services in the tree: Pipes goes under Garden.
    app.patch(&format!("/api/categories/{pipes}"), json!({"parent_id": garden}), Some(&root.token))
        .await
        .expect(200, None);
    assert!(list(format!("?category={garden}")).await.contains(&relining), "found under the new parent");
    assert!(!list(format!("?category={home}")).await.contains(&relining), "gone from the old parent");
    assert!(!list(format!("?category={plumbing}")).await.contains(&relining));
    assert_eq!(list(format!("?category={pipes}")).await, vec![relining.clone()]);
}

/// Lists `path` as `token` and answers the ids.
async fn listed(app: &TestApp, path: &str, token: Option<&str>) -> Vec<String> {
    let r = app.get(path, token).await;
    r.expect(200, None);
    ids(&results(&r))
}

#[actix_web::test]
async fn newest_first_orders_by_creation_time_within_a_second() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let mut profiles = Vec::new();
    let mut people = Vec::new();
    for i in 0..3 {
        let (p, profile) = provider(&app, &format!("p{i}")).await;
        profiles.push(profile);
        people.push(p);
    }
    let prov = &people[0];
    let mut services = Vec::new();
    let mut jobs = Vec::new();
    for i in 0..3 {
        services.push(service_id(&app, prov, json!({"title": format!("Service number {i}")})).await);
        jobs.push(job_id(&app, &client, json!({"title": format!("Job number {i}")})).await);
    }
    let newest_first = |mut v: Vec<String>| {
        v.reverse();
        v
    };
    // The objects were made milliseconds apart, and their created_at (and UUID v7 ids) say so.
    let created: Vec<String> = {
        let mut out = Vec::new();
        for s in &services {
            let r = app.get(&format!("/api/services/{s}"), None).await;
            out.push(r.json["created_at"].as_str().expect("created_at").to_string());
        }
        out
    };
    let mut sorted = created.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 3, "distinct creation times: {created:?}");
    // Creation order must hold within one second too (the index keeps microseconds).
    assert_eq!(listed(&app, "/api/services?ordering=-created_at", None).await, newest_first(services.clone()));
    assert_eq!(listed(&app, "/api/services", None).await, newest_first(services.clone()), "default: newest first");
    assert_eq!(listed(&app, "/api/services?ordering=created_at", None).await, services.clone());
    assert_eq!(
        listed(&app, "/api/jobs", Some(&prov.token)).await,
        newest_first(jobs.clone()),
        "open jobs, newest first"
    );
    assert_eq!(listed(&app, "/api/jobs?ordering=created_at", Some(&prov.token)).await, jobs.clone());
    assert_eq!(listed(&app, "/api/providers?ordering=-created_at", None).await, newest_first(profiles.clone()));
    assert_eq!(listed(&app, "/api/providers", None).await, newest_first(profiles.clone()));
}

// ---------------------------------------------------------------------------------------
// Search

/// A recorded search, as the analytics facts hold it.
#[derive(Debug)]
struct SearchQuery {
    q: String,
    kind: String,
    user_id: Option<agora_engine::UserId>,
    results: u64,
}

/// The searches recorded (analytics facts received today and yesterday, UTC), read through the store.
async fn recorded_searches(app: &TestApp) -> Vec<SearchQuery> {
    let store = agora_http::startup::open_store(&test_settings(&app.data_dir)).await.expect("store opens");
    let today = OffsetDateTime::now_utc().date();
    let mut out = Vec::new();
    for d in [today.previous_day().expect("a day"), today] {
        store
            .analytics()
            .for_each_received(d, |f| {
                if f.kind == agora_engine::analytics::Kind::Search {
                    out.push(SearchQuery {
                        q: f.query.unwrap_or_default(),
                        kind: f.search.unwrap_or_default(),
                        user_id: f.user,
                        results: f.results.unwrap_or(0),
                    });
                }
            })
            .await
            .expect("read recorded searches");
    }
    out
}

#[actix_web::test]
async fn search_is_ranked_tolerates_word_forms_pages_and_is_recorded() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let r = app.post("/api/skills", json!({"name": "Tiling"}), Some(&root.token)).await;
    r.expect(201, None);
    let tiling = id_of(&r.json);
    let (alice, alice_profile) = provider(&app, "alice").await;
    let (bob, _) = provider(&app, "bob").await;
    let client = app.user("client").await;

    let plumbing = service_id(
        &app,
        &alice,
        json!({"title": "Plumbing repairs", "description": "Leaks fixed fast, any hour", "price": usd(5_000)}),
    )
    .await;
    let kitchen = service_id(
        &app,
        &bob,
        json!({"title": "Kitchen makeover", "description": "New cabinets, worktops and a repair of old doors",
               "price": usd(90_000)}),
    )
    .await;
    let garden = service_id(
        &app,
        &bob,
        json!({"title": "Garden cleaning", "description": "Leaves, weeds and hedges", "price": usd(3_000)}),
    )
    .await;
    let found = |q: &str| {
        let app = &app;
        let url = format!("/api/services?q={q}");
        async move {
            let r = app.get(&url, None).await;
            r.expect(200, None);
            ids(&results(&r))
        }
    };
    // Word forms: "repairs" is found by repair, repairing; "plumbing" by plumb.
    assert_eq!(found("plumb").await, vec![plumbing.clone()]);
    assert_eq!(found("plumbing").await, vec![plumbing.clone()]);
    assert_eq!(found("Plumbed").await, vec![plumbing.clone()]);
    // Ranked: a title match outranks a body match.
    assert_eq!(found("repair").await, vec![plumbing.clone(), kitchen.clone()]);
    assert_eq!(found("repairing").await, vec![plumbing.clone(), kitchen.clone()]);
    assert_eq!(found("repairs%20plumbing").await, vec![plumbing.clone()], "every word must match");
    assert_eq!(found("hedge").await, vec![garden.clone()], "descriptions are searched");
    assert!(found("xylophone").await.is_empty());
    // Query syntax is never an error: stray quotes, brackets, operators and field names.
    for odd in ["%22", "(", "repair%20AND", "title:", "*", "%2B%2B", "plumb%22%20OR%20(", "kind:job"] {
        let r = app.get(&format!("/api/services?q={odd}"), None).await;
        r.expect(200, None);
        assert!(r.json["results"].is_array(), "q={odd}: {}", r.text);
    }
    let r = app.get("/api/services?q=kind:job", None).await;
    assert!(results(&r).is_empty(), "a field name in q never reaches other kinds: {}", r.text);
    // Search combines with filters.
    let r = app.get("/api/services?q=repair&price_max=10000", None).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![plumbing.clone()]);

    // Paging with limit and an opaque cursor.
    let mut windows = HashSet::new();
    for i in 0..5 {
        windows.insert(
            service_id(&app, &alice, json!({"title": format!("Window washing {i}"), "price": usd(1_000 + i)})).await,
        );
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let url = match &cursor {
            None => "/api/services?q=windows&limit=2".to_string(),
            Some(c) => format!("/api/services?q=windows&limit=2&cursor={c}"),
        };
        let r = app.get(&url, None).await;
        r.expect(200, None);
        let page = results(&r);
        assert!(page.len() <= 2, "limit honoured: {}", r.text);
        seen.extend(ids(&page));
        pages += 1;
        match r.json["next_cursor"].as_str() {
            Some(c) => {
                assert!(c.parse::<u64>().is_err(), "the cursor is opaque, not a bare offset: {c}");
                cursor = Some(c.to_string());
            }
            None => {
                assert!(r.json["next_cursor"].is_null(), "next_cursor is null at the end: {}", r.text);
                break;
            }
        }
        assert!(pages < 10, "paging never ends");
    }
    assert_eq!(pages, 3, "5 results in pages of 2");
    assert_eq!(seen.len(), 5, "no duplicates across pages: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), windows);
    invalid(&app.get("/api/services?limit=0", None).await, "limit");
    invalid(&app.get("/api/services?limit=101", None).await, "limit");
    app.get("/api/services?cursor=garbage!", None).await.expect(400, None);

    // Jobs: providers search open jobs.
    let leak =
        job_id(&app, &client, json!({"title": "Leaking pipes under the sink", "description": "Water everywhere"}))
            .await;
    let paint = job_id(&app, &client, json!({"title": "Paint the fence", "description": "About twenty metres"})).await;
    let jobs = |q: &str| {
        let app = &app;
        let url = format!("/api/jobs?q={q}");
        let token = bob.token.clone();
        async move {
            let r = app.get(&url, Some(&token)).await;
            r.expect(200, None);
            ids(&results(&r))
        }
    };
    assert_eq!(jobs("leak").await, vec![leak.clone()]);
    assert_eq!(jobs("pipe").await, vec![leak.clone()]);
    assert_eq!(jobs("painting").await, vec![paint.clone()]);
    assert_eq!(jobs("metre").await, vec![paint.clone()]);
    assert!(jobs("roofing").await.is_empty());

    // Providers: by skill names and bio.
    let r = app
        .patch(
            &format!("/api/providers/{alice_profile}"),
            json!({"bio": "Rewiring old houses and fixing faults",
                   "skills": [{"skill_id": tiling, "level": "beginner"}]}),
            Some(&alice.token),
        )
        .await;
    r.expect(200, None);
    let providers = |q: &str| {
        let app = &app;
        let url = format!("/api/providers?q={q}");
        async move {
            let r = app.get(&url, None).await;
            r.expect(200, None);
            ids(&results(&r))
        }
    };
    assert_eq!(providers("rewire").await, vec![alice_profile.clone()]);
    assert_eq!(providers("tile").await, vec![alice_profile.clone()], "skill names are searched");
    assert_eq!(providers("house").await, vec![alice_profile.clone()]);
    assert!(providers("welding").await.is_empty());

    // Every search with `q` is recorded (analytics, written after the answer) and counted in /metrics.
    let mut recorded = recorded_searches(&app).await;
    for _ in 0..50 {
        if recorded.iter().any(|s| s.kind == "providers" && s.q == "welding") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        recorded = recorded_searches(&app).await;
    }
    let find = |kind: &str, q: &str| recorded.iter().filter(|s| s.kind == kind && s.q == q).count();
    assert_eq!(find("services", "plumb"), 1, "recorded: {recorded:?}");
    assert_eq!(find("services", "repair"), 2, "q=repair ran twice (once with a price filter)");
    assert_eq!(find("jobs", "leak"), 1);
    assert_eq!(find("providers", "rewire"), 1);
    let hit = recorded.iter().find(|s| s.kind == "services" && s.q == "xylophone").expect("the empty search too");
    assert_eq!(hit.results, 0);
    let jobs_leak = recorded.iter().find(|s| s.kind == "jobs" && s.q == "leak").expect("jobs search recorded");
    assert_eq!(jobs_leak.user_id.map(|u| u.to_string()).as_deref(), Some(bob.id.as_str()), "the searcher is kept");
    assert_eq!(jobs_leak.results, 1);
    let metrics = app.get("/metrics", None).await;
    metrics.expect(200, None);
    for kind in ["services", "jobs", "providers"] {
        assert!(
            metrics
                .text
                .lines()
                .any(|l| l.starts_with("agora_search_queries_total") && l.contains(&format!("kind=\"{kind}\""))),
            "no agora_search_queries_total for {kind} in /metrics"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Jobs and proposals

#[actix_web::test]
async fn jobs_are_posted_by_clients_and_listed_open_to_providers() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let other_client = app.user("other").await;
    let (prov, _) = provider(&app, "prov").await;
    let worker = member(&app, "worker", "worker").await;

    // Only clients post.
    job(&app, &prov, json!({})).await.expect(403, Some("forbidden"));
    job(&app, &worker, json!({})).await.expect(403, Some("forbidden"));
    app.post("/api/jobs", json!({"title": "Anon job", "description": "x"}), None).await.expect(401, None);
    // Validation.
    invalid(&job(&app, &client, json!({"title": "ab"})).await, "title");
    invalid(&job(&app, &client, json!({"description": null})).await, "description");
    invalid(&job(&app, &client, json!({"budget_min": usd(5_000), "budget_max": usd(4_000)})).await, "budget_min");
    invalid(&job(&app, &client, json!({"budget_min": usd(0)})).await, "budget_min");
    invalid(&job(&app, &client, json!({"deadline": day(-1)})).await, "deadline");
    invalid(&job(&app, &client, json!({"deadline": "next tuesday"})).await, "deadline");
    invalid(&job(&app, &client, json!({"max_hires": 0})).await, "max_hires");

    let deadline = day(30);
    let r = job(
        &app,
        &client,
        json!({"title": "Build a deck", "budget_min": usd(100_000), "budget_max": usd(100_000), "deadline": deadline}),
    )
    .await;
    r.expect(201, None);
    let deck = id_of(&r.json);
    assert_eq!(r.json["client_id"], client.id.as_str());
    assert_eq!(r.json["status"], "open");
    assert_eq!(r.json["max_hires"], 1, "max_hires defaults to 1");
    assert_eq!(r.json["deadline"], deadline.as_str());
    assert_eq!(r.json["budget_min"], usd(100_000));
    let today = job_id(&app, &client, json!({"title": "Due today", "deadline": day(0)})).await;
    // The alias works for posting and reading.
    let r = app
        .post(
            "/api/requests",
            json!({"title": "Via the alias", "description": "requests = jobs"}),
            Some(&other_client.token),
        )
        .await;
    r.expect(201, None);
    let aliased = id_of(&r.json);
    let r = app.get(&format!("/api/jobs/{aliased}"), Some(&other_client.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["title"], "Via the alias");

    // Providers and workers list open jobs; clients see only their own, at /mine.
    app.get("/api/jobs", Some(&client.token)).await.expect(403, Some("forbidden"));
    app.get("/api/requests", Some(&client.token)).await.expect(403, Some("forbidden"));
    app.get("/api/jobs", None).await.expect(401, None);
    for who in [&prov, &worker] {
        let r = app.get("/api/jobs", Some(&who.token)).await;
        r.expect(200, None);
        // (The order, newest first, is checked in `newest_first_orders_by_creation_time_within_a_second`.)
        let listed: HashSet<String> = ids(&results(&r)).into_iter().collect();
        assert_eq!(listed, HashSet::from([aliased.clone(), today.clone(), deck.clone()]), "{}", r.text);
        let r = app.get("/api/requests/", Some(&who.token)).await;
        r.expect(200, None);
        assert_eq!(results(&r).len(), 3);
    }
    let mine = app.get("/api/jobs/mine", Some(&client.token)).await;
    mine.expect(200, None);
    assert_eq!(ids(&results(&mine)), vec![today.clone(), deck.clone()]);
    let mine = app.get("/api/requests/mine", Some(&other_client.token)).await;
    mine.expect(200, None);
    assert_eq!(ids(&results(&mine)), vec![aliased.clone()]);
    // Another client cannot see the job at all.
    app.get(&format!("/api/jobs/{deck}"), Some(&other_client.token)).await.expect(404, Some("not_found"));
    app.patch(&format!("/api/jobs/{deck}"), json!({"title": "Mine now"}), Some(&other_client.token))
        .await
        .expect(404, Some("not_found"));
    // A provider sees it while open but cannot edit it.
    app.get(&format!("/api/jobs/{deck}"), Some(&prov.token)).await.expect(200, None);
    app.patch(&format!("/api/jobs/{deck}"), json!({"title": "Mine now"}), Some(&prov.token))
        .await
        .expect(403, Some("forbidden"));
    let r = app.patch(&format!("/api/jobs/{deck}"), json!({"title": "Build a big deck"}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["title"], "Build a big deck");

    // Once it is no longer open, providers who did not propose stop seeing it.
    let r = app.patch(&format!("/api/jobs/{deck}"), json!({"status": "cancelled"}), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "cancelled");
    app.get(&format!("/api/jobs/{deck}"), Some(&prov.token)).await.expect(404, Some("not_found"));
    app.get(&format!("/api/jobs/{deck}/proposals"), Some(&prov.token)).await.expect(404, Some("not_found"));
    let r = app.get("/api/jobs", Some(&prov.token)).await;
    assert!(!ids(&results(&r)).contains(&deck), "a cancelled job is not listed as open");
    let r = app.get("/api/jobs/mine?status=cancelled", Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![deck.clone()]);
    app.get(&format!("/api/jobs/{deck}"), Some(&client.token)).await.expect(200, None);
}

#[actix_web::test]
async fn proposals_are_one_per_provider_only_on_open_jobs_and_private_to_the_parties() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let stranger = app.user("stranger").await;
    let (alice, _) = provider(&app, "alice").await;
    let (bob, _) = provider(&app, "bob").await;
    let (carol, _) = provider(&app, "carol").await;
    let job = job_id(&app, &client, json!({"title": "Tile the bathroom"})).await;

    // Validation and who may propose.
    invalid(&app.post("/api/proposals", json!({"job_id": job}), Some(&alice.token)).await, "rate");
    invalid(&app.post("/api/proposals", json!({"job_id": job, "rate": usd(0)}), Some(&alice.token)).await, "rate");
    invalid(&app.post("/api/proposals", json!({"rate": usd(100)}), Some(&alice.token)).await, "job_id");
    propose(&app, &alice, &uuid::Uuid::now_v7().to_string(), 100).await.expect(404, Some("not_found"));
    // Never on one's own job (nor as a client at all).
    propose(&app, &client, &job, 100).await.expect(403, Some("forbidden"));
    propose(&app, &stranger, &job, 100).await.expect(404, Some("not_found"));

    let r = propose(&app, &alice, &job, 40_000).await;
    r.expect(201, None);
    let pa = id_of(&r.json);
    assert_eq!(r.json["status"], "pending");
    assert_eq!(r.json["rate"], usd(40_000));
    assert_eq!(r.json["message"], "I can do it this week");
    assert_eq!(r.json["provider_id"], alice.id.as_str());
    assert_eq!(r.json["job_id"], job.as_str());
    // One per provider per job, also via the alias.
    propose(&app, &alice, &job, 39_000).await.expect(409, Some("duplicate_proposal"));
    app.post("/api/job-applications", json!({"job_id": job, "rate": usd(1)}), Some(&alice.token))
        .await
        .expect(409, Some("duplicate_proposal"));
    let r = app
        .post(
            "/api/job-applications",
            json!({"job_id": job, "rate": usd(45_000), "message": "alias"}),
            Some(&bob.token),
        )
        .await;
    r.expect(201, None);
    let pb = id_of(&r.json);
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!(r.json["proposals_count"], 2, "{}", r.text);

    // The job's client sees all proposals; each provider only its own.
    let r = app.get(&format!("/api/jobs/{job}/proposals"), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![pa.clone(), pb.clone()]);
    let r = app.get(&format!("/api/requests/{job}/proposals"), Some(&alice.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![pa.clone()]);
    let r = app.get(&format!("/api/jobs/{job}/proposals"), Some(&carol.token)).await;
    r.expect(200, None);
    assert!(results(&r).is_empty(), "a provider who did not propose sees none: {}", r.text);
    app.get(&format!("/api/jobs/{job}/proposals"), Some(&stranger.token)).await.expect(404, Some("not_found"));
    // One proposal: proposer and the job's client only.
    for who in [&alice, &client] {
        let r = app.get(&format!("/api/proposals/{pa}"), Some(&who.token)).await;
        r.expect(200, None);
        assert_eq!(r.json["id"], pa.as_str());
    }
    app.get(&format!("/api/job-applications/{pa}"), Some(&alice.token)).await.expect(200, None);
    for who in [&bob, &carol, &stranger] {
        app.get(&format!("/api/proposals/{pa}"), Some(&who.token)).await.expect(404, Some("not_found"));
    }
    // My proposals.
    let r = app.get("/api/proposals", Some(&bob.token)).await;
    r.expect(200, None);
    assert_eq!(ids(&results(&r)), vec![pb.clone()]);

    // Withdraw: the proposer only, while pending.
    app.post(&format!("/api/proposals/{pb}/withdraw"), json!({}), Some(&client.token))
        .await
        .expect(403, Some("forbidden"));
    app.post(&format!("/api/proposals/{pb}/withdraw"), json!({}), Some(&alice.token))
        .await
        .expect(404, Some("not_found"));
    let r = app.post(&format!("/api/job-applications/{pb}/withdraw"), json!({}), Some(&bob.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "withdrawn");
    app.post(&format!("/api/proposals/{pb}/withdraw"), json!({}), Some(&bob.token))
        .await
        .expect(409, Some("proposal_not_pending"));
    // A withdrawn proposal cannot be accepted, nor sent again.
    app.post(&format!("/api/proposals/{pb}/accept"), json!({}), Some(&client.token))
        .await
        .expect(409, Some("proposal_not_pending"));
    propose(&app, &bob, &job, 45_000).await.expect(409, Some("duplicate_proposal"));

    // Only while the job is open: once hired, a provider who proposed is told it is not
    // open; one who did not cannot see the job at all.
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&client.token)).await.expect(201, None);
    let r = app.get(&format!("/api/jobs/{job}"), Some(&bob.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "in_progress", "a provider who proposed still sees the job");
    propose(&app, &bob, &job, 1).await.expect(409, Some("job_not_open"));
    propose(&app, &carol, &job, 1).await.expect(404, Some("not_found"));
    // Nor may a proposal be accepted on a job its client cancelled.
    let cancelled = job_id(&app, &client, json!({"title": "Changed my mind"})).await;
    let pending = proposal_id(&app, &carol, &cancelled, 5_000).await;
    app.patch(&format!("/api/jobs/{cancelled}"), json!({"status": "cancelled"}), Some(&client.token))
        .await
        .expect(200, None);
    app.post(&format!("/api/proposals/{pending}/accept"), json!({}), Some(&client.token))
        .await
        .expect(409, Some("job_not_open"));
    let r = app.get(&format!("/api/proposals/{pending}"), Some(&carol.token)).await;
    assert_eq!(r.json["status"], "pending", "{}", r.text);
    let r = app.get("/api/contracts", Some(&client.token)).await;
    assert_eq!(results(&r).len(), 1, "only the one accepted earlier: {}", r.text);
    app.get(&format!("/api/jobs/{job}"), Some(&carol.token)).await.expect(404, Some("not_found"));
    // An accepted proposal cannot be withdrawn.
    app.post(&format!("/api/proposals/{pa}/withdraw"), json!({}), Some(&alice.token))
        .await
        .expect(409, Some("proposal_not_pending"));
}

// ---------------------------------------------------------------------------------------
// Accepting a proposal

#[actix_web::test]
async fn accepting_creates_one_contract_once_and_only_for_the_jobs_client() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let stranger = app.user("stranger").await;
    let (alice, _) = provider(&app, "alice").await;
    let (bob, _) = provider(&app, "bob").await;
    let (carol, _) = provider(&app, "carol").await;
    let deadline = day(14);
    let job = job_id(&app, &client, json!({"title": "Two painters", "deadline": deadline, "max_hires": 2})).await;
    let pa = proposal_id(&app, &alice, &job, 20_000).await;
    let pb = proposal_id(&app, &bob, &job, 22_000).await;
    let pc = proposal_id(&app, &carol, &job, 25_000).await;
    let other_job = job_id(&app, &client, json!({"title": "Something else"})).await;

    // Only the job's client: the proposer is refused, a stranger does not see it.
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&alice.token))
        .await
        .expect(403, Some("forbidden"));
    app.post(&format!("/api/jobs/{job}/hire"), json!({"proposal_id": pa}), Some(&alice.token))
        .await
        .expect(403, Some("forbidden"));
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&bob.token)).await.expect(404, Some("not_found"));
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&stranger.token))
        .await
        .expect(404, Some("not_found"));
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), None).await.expect(401, None);
    // hire: the proposal must belong to that job.
    app.post(&format!("/api/jobs/{other_job}/hire"), json!({"proposal_id": pa}), Some(&client.token))
        .await
        .expect(404, Some("not_found"));
    invalid(&app.post(&format!("/api/jobs/{job}/hire"), json!({}), Some(&client.token)).await, "proposal_id");

    // Accept: 201 with the contract.
    let r = app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&client.token)).await;
    r.expect(201, None);
    let c = r.json.clone();
    let contract = id_of(&c);
    assert_eq!(c["job_id"], job.as_str());
    assert_eq!(c["proposal_id"], pa.as_str());
    assert_eq!(c["client_id"], client.id.as_str());
    assert_eq!(c["provider_id"], alice.id.as_str());
    assert_eq!(c["agreed_rate"], usd(20_000), "agreed rate = the proposal's rate");
    assert_eq!(c["deadline"], deadline.as_str(), "deadline from the job");
    assert_eq!(c["status"], "pending");
    let r = app.get(&format!("/api/proposals/{pa}"), Some(&alice.token)).await;
    assert_eq!(r.json["status"], "accepted");
    assert_eq!(r.json["contract_id"], contract.as_str());
    // One hire of two: the job stays open.
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("open"), Some(1)), "{}", r.text);

    // Again: 409, by either path, and nothing new.
    app.post(&format!("/api/proposals/{pa}/accept"), json!({}), Some(&client.token))
        .await
        .expect(409, Some("already_accepted"));
    app.post(&format!("/api/jobs/{job}/hire"), json!({"proposal_id": pa}), Some(&client.token))
        .await
        .expect(409, Some("already_accepted"));

    // The second hire (via the alias) fills the job.
    let r = app.post(&format!("/api/requests/{job}/hire"), json!({"proposal_id": pb}), Some(&client.token)).await;
    r.expect(201, None);
    assert_eq!(r.json["provider_id"], bob.id.as_str());
    assert_eq!(r.json["agreed_rate"], usd(22_000));
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("in_progress"), Some(2)), "{}", r.text);
    // The job is full: a third proposal cannot be accepted.
    app.post(&format!("/api/proposals/{pc}/accept"), json!({}), Some(&client.token))
        .await
        .expect(409, Some("job_not_open"));
    let r = app.get(&format!("/api/proposals/{pc}"), Some(&carol.token)).await;
    assert_eq!(r.json["status"], "pending");
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!(r.json["hires"], 2, "a refused accept takes no hire: {}", r.text);

    // Contracts: each party sees its own.
    let r = app.get("/api/contracts", Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(results(&r).len(), 2);
    for (who, n) in [(&alice, 1), (&bob, 1), (&carol, 0), (&stranger, 0)] {
        let r = app.get("/api/contracts", Some(&who.token)).await;
        r.expect(200, None);
        assert_eq!(results(&r).len(), n, "{}", r.text);
    }
    app.get(&format!("/api/contracts/{contract}"), Some(&alice.token)).await.expect(200, None);
    for who in [&bob, &carol, &stranger] {
        app.get(&format!("/api/contracts/{contract}"), Some(&who.token)).await.expect(404, Some("not_found"));
        app.get(&format!("/api/contracts/{contract}/events"), Some(&who.token)).await.expect(404, Some("not_found"));
        set_status(&app, who, &contract, "active", None).await.expect(404, Some("not_found"));
    }
}

/// A client's fresh job with `max_hires`, and `providers` providers each with a pending
/// proposal on it, for races.
async fn race_setup(app: &TestApp, providers: usize, max_hires: u32) -> (TestUser, String, Vec<(TestUser, String)>) {
    let client = app.user("client").await;
    let job = job_id(app, &client, json!({"title": "Contested job", "max_hires": max_hires})).await;
    let mut out = Vec::new();
    for i in 0..providers {
        let (p, _) = provider(app, &format!("racer{i}")).await;
        let proposal = proposal_id(app, &p, &job, 10_000 + i as i64).await;
        out.push((p, proposal));
    }
    (client, job, out)
}

#[actix_web::test]
async fn concurrent_accepts_of_one_proposal_create_exactly_one_contract() {
    let app = spawn_app().await;
    for max_hires in [1, 3] {
        let (client, job, props) = race_setup(&app, 1, max_hires).await;
        let (prov, proposal) = &props[0];
        let (accept, hire) = (format!("/api/proposals/{proposal}/accept"), format!("/api/jobs/{job}/hire"));
        let attempts = (0..8).map(|i| {
            if i % 2 == 0 {
                app.post(&accept, json!({}), Some(&client.token))
            } else {
                app.post(&hire, json!({"proposal_id": proposal}), Some(&client.token))
            }
        });
        let replies = join_all(attempts).await;
        let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
        assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "max_hires {max_hires}: {statuses:?}");
        for r in replies.iter().filter(|r| r.status != 201) {
            r.expect(409, None);
            assert!(
                ["already_accepted", "job_not_open"].contains(&r.code()),
                "a losing accept is a conflict: {}",
                r.text
            );
        }
        let winner = replies.iter().find(|r| r.status == 201).expect("a winner");
        let contract = id_of(&winner.json);
        for who in [&client, prov] {
            let r = app.get("/api/contracts", Some(&who.token)).await;
            r.expect(200, None);
            assert_eq!(ids(&results(&r)), vec![contract.clone()], "exactly one contract (max_hires {max_hires})");
        }
        let r = app.get(&format!("/api/proposals/{proposal}"), Some(&client.token)).await;
        assert_eq!(r.json["status"], "accepted");
        assert_eq!(r.json["contract_id"], contract.as_str(), "the proposal points at the one contract");
        let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
        assert_eq!(r.json["hires"], 1, "one hire taken (max_hires {max_hires}): {}", r.text);
        let status = if max_hires == 1 { "in_progress" } else { "open" };
        assert_eq!(r.json["status"], status, "{}", r.text);
        // Exactly one "accepted" and one "new contract" notification for the provider.
        let got = exactly_notifications(&app, prov, 2).await;
        let types: HashSet<&str> = got.iter().filter_map(|n| n["type"].as_str()).collect();
        assert_eq!(types, HashSet::from(["proposal", "contract"]), "{got:#?}");
    }
}

#[actix_web::test]
async fn concurrent_accepts_of_different_proposals_never_overfill_a_job() {
    let app = spawn_app().await;
    // Two proposals on a single-hire job, each accepted four times at once.
    let (client, job, props) = race_setup(&app, 2, 1).await;
    let urls: Vec<String> = (0..8).map(|i| format!("/api/proposals/{}/accept", props[i % 2].1)).collect();
    let replies = join_all(urls.iter().map(|u| app.post(u, json!({}), Some(&client.token)))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == 201 || *s == 409), "{statuses:?}");
    let r = app.get("/api/contracts", Some(&client.token)).await;
    assert_eq!(results(&r).len(), 1, "one contract: {}", r.text);
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("in_progress"), Some(1)), "{}", r.text);
    let mut accepted = 0;
    for (_, proposal) in &props {
        let r = app.get(&format!("/api/proposals/{proposal}"), Some(&client.token)).await;
        match r.json["status"].as_str() {
            Some("accepted") => accepted += 1,
            Some("pending") => {}
            other => panic!("unexpected proposal status {other:?}"),
        }
    }
    assert_eq!(accepted, 1);

    // Three proposals on a two-hire job, each accepted once, all at once: exactly two contracts.
    let (client, job, props) = race_setup(&app, 3, 2).await;
    let hire = format!("/api/jobs/{job}/hire");
    let replies =
        join_all(props.iter().map(|(_, p)| app.post(&hire, json!({"proposal_id": p}), Some(&client.token)))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 2, "{statuses:?}");
    let r = app.get("/api/contracts", Some(&client.token)).await;
    assert_eq!(results(&r).len(), 2, "two contracts: {}", r.text);
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("in_progress"), Some(2)), "{}", r.text);
}

#[actix_web::test]
async fn a_repeated_accept_never_takes_a_hire_from_another_proposal() {
    let app = spawn_app().await;
    // A two-hire job with two proposals: the client double-clicks "accept" on the first
    // (several requests) while accepting the second. The job has room for both, so both
    // must be hired whatever the interleaving.
    for round in 0..5 {
        let (client, job, props) = race_setup(&app, 2, 2).await;
        let (first, second) =
            (format!("/api/proposals/{}/accept", props[0].1), format!("/api/proposals/{}/accept", props[1].1));
        let mut urls = vec![first.clone(); 6];
        urls.insert(3, second.clone());
        let replies = join_all(urls.iter().map(|u| app.post(u, json!({}), Some(&client.token)))).await;
        let outcome: Vec<(bool, u16, String)> =
            urls.iter().zip(&replies).map(|(u, r)| (*u == second, r.status, r.code().to_string())).collect();
        // Repeated accepts of the first proposal must never hold a hire the second one needs.
        let r = app.get("/api/contracts", Some(&client.token)).await;
        assert_eq!(results(&r).len(), 2, "round {round}: both proposals hired; (is second, status, code): {outcome:?}");
        let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
        assert_eq!((r.json["status"].as_str(), r.json["hires"].as_u64()), (Some("in_progress"), Some(2)), "{}", r.text);
    }
}

// ---------------------------------------------------------------------------------------
// Contracts

/// A pending contract between a fresh client and a fresh provider; answers
/// (client, provider, provider profile id, contract id).
async fn pending_contract(app: &TestApp, tag: &str) -> (TestUser, TestUser, String, String) {
    let client = app.user(&format!("{tag}-client")).await;
    let (prov, profile) = provider(app, &format!("{tag}-prov")).await;
    let job = job_id(app, &client, json!({"title": format!("Job {tag}")})).await;
    let proposal = proposal_id(app, &prov, &job, 50_000).await;
    let r = app.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token)).await;
    r.expect(201, None);
    (client, prov, profile, id_of(&r.json))
}

async fn contract_status(app: &TestApp, by: &TestUser, contract: &str) -> String {
    let r = app.get(&format!("/api/contracts/{contract}"), Some(&by.token)).await;
    r.expect(200, None);
    r.json["status"].as_str().expect("status").to_string()
}

#[actix_web::test]
async fn contracts_follow_the_state_machine_with_history_and_count_a_completion_once() {
    let app = spawn_app().await;
    let (client, prov, profile, contract) = pending_contract(&app, "sm").await;
    let stranger = app.user("stranger").await;
    let path = format!("/api/contracts/{contract}");

    // Refused: the wrong party (403), a move the machine never makes (409), bad input (400).
    set_status(&app, &prov, &contract, "active", None).await.expect(403, Some("forbidden"));
    set_status(&app, &prov, &contract, "delivered", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "completed", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "disputed", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "pending", None).await.expect(409, Some("invalid_transition"));
    invalid(&set_status(&app, &client, &contract, "done", None).await, "status");
    invalid(&app.post(&format!("{path}/status"), json!({}), Some(&client.token)).await, "status");
    set_status(&app, &stranger, &contract, "active", None).await.expect(404, Some("not_found"));
    assert_eq!(contract_status(&app, &client, &contract).await, "pending");

    // pending → active (the client's funding) → delivered (provider) → completed (client).
    // A status call never starts a contract: funding its first milestone does.
    set_status(&app, &client, &contract, "active", Some("funded offline")).await.expect(409, Some("funding_required"));
    assert_eq!(contract_status(&app, &client, &contract).await, "pending");
    app.fund_contract(&client, &contract).await;
    assert_eq!(contract_status(&app, &client, &contract).await, "active");
    set_status(&app, &client, &contract, "active", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "delivered", None).await.expect(403, Some("forbidden"));
    set_status(&app, &prov, &contract, "completed", None).await.expect(409, Some("invalid_transition"));
    let r = set_status(&app, &prov, &contract, "delivered", Some("all done")).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "delivered");
    set_status(&app, &prov, &contract, "completed", None).await.expect(403, Some("forbidden"));
    set_status(&app, &client, &contract, "active", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "cancelled", None).await.expect(409, Some("invalid_transition"));
    assert_eq!(provider_profile(&app, &profile).await["completed_jobs"], 0);
    let r = set_status(&app, &client, &contract, "completed", Some("thanks")).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "completed");
    // Completing twice: 409 and the count moves once.
    set_status(&app, &client, &contract, "completed", None).await.expect(409, Some("invalid_transition"));
    for (who, to) in [(&client, "active"), (&prov, "delivered"), (&client, "cancelled"), (&prov, "disputed")] {
        set_status(&app, who, &contract, to, None).await.expect(409, Some("invalid_transition"));
    }
    assert_eq!(provider_profile(&app, &profile).await["completed_jobs"], 1, "completed_jobs grows by exactly one");
    let r = app.get(&path, Some(&prov.token)).await;
    assert_eq!(r.json["status"], "completed");
    // The job is completed with its only contract.
    let job = r.json["job_id"].as_str().expect("job id").to_string();
    let r = app.get(&format!("/api/jobs/{job}"), Some(&client.token)).await;
    assert_eq!(r.json["status"], "completed", "{}", r.text);

    // The history: every transition, in order, with actor, role, time and reason.
    let r = app.get(&format!("{path}/events"), Some(&prov.token)).await;
    r.expect(200, None);
    let events = results(&r);
    let steps: Vec<(Value, Value, Value, Value)> = events
        .iter()
        .map(|e| (e["from"].clone(), e["to"].clone(), e["actor_id"].clone(), e["actor_role"].clone()))
        .collect();
    let (c, p) = (json!(client.id), json!(prov.id));
    assert_eq!(
        steps,
        vec![
            (Value::Null, json!("pending"), c.clone(), json!("client")),
            (json!("pending"), json!("active"), c.clone(), json!("client")),
            (json!("active"), json!("delivered"), p.clone(), json!("provider")),
            (json!("delivered"), json!("completed"), c.clone(), json!("client")),
        ],
        "events: {}",
        r.text
    );
    let reasons: Vec<Value> = events.iter().map(|e| e["reason"].clone()).collect();
    assert_eq!(reasons[1..], [json!("funded"), json!("all done"), json!("thanks")]);
    let mut last = OffsetDateTime::UNIX_EPOCH;
    for e in &events {
        let at = OffsetDateTime::parse(e["at"].as_str().expect("at"), &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339 at");
        assert!(at >= last, "events in time order: {}", r.text);
        last = at;
    }
    let r = app.get(&format!("{path}/events?limit=2"), Some(&client.token)).await;
    r.expect(200, None);
    assert_eq!(results(&r).len(), 2);
    let next = r.json["next_cursor"].as_str().expect("a second page").to_string();
    let r = app.get(&format!("{path}/events?limit=2&cursor={next}"), Some(&client.token)).await;
    assert_eq!(results(&r)[1]["to"], "completed");
}

#[actix_web::test]
async fn concurrent_completions_count_once() {
    let app = spawn_app().await;
    let (client, prov, profile, contract) = pending_contract(&app, "cc").await;
    app.fund_contract(&client, &contract).await;
    set_status(&app, &prov, &contract, "delivered", None).await.expect(200, None);
    let replies = join_all((0..8).map(|_| set_status(&app, &client, &contract, "completed", None))).await;
    let statuses: Vec<u16> = replies.iter().map(|r| r.status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    for r in replies.iter().filter(|r| r.status != 200) {
        r.expect(409, Some("invalid_transition"));
    }
    assert_eq!(provider_profile(&app, &profile).await["completed_jobs"], 1);
    let r = app.get(&format!("/api/contracts/{contract}/events"), Some(&client.token)).await;
    let completions = results(&r).iter().filter(|e| e["to"] == "completed").count();
    assert_eq!(completions, 1, "one completed event: {}", r.text);
    // The provider hears about it once (after "accepted", "new contract", "active" and
    // "milestone funded"), and about the release it made once.
    let got = exactly_notifications(&app, &prov, 6).await;
    let count = |title: &str| got.iter().filter(|n| n["title"] == title).count();
    assert_eq!((count("Contract completed"), count("Milestone released")), (1, 1), "{got:#?}");
}

#[actix_web::test]
async fn disputes_are_settled_by_admins_only_and_cancellations_count_nothing() {
    let app = spawn_app().await;
    let root = app.admin().await;
    let (client, prov, profile, contract) = pending_contract(&app, "dispute").await;
    app.fund_contract(&client, &contract).await;
    let r = set_status(&app, &prov, &contract, "disputed", Some("client went silent")).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "disputed");
    // Neither party may settle; nor move it anywhere else.
    for who in [&client, &prov] {
        set_status(&app, who, &contract, "completed", None).await.expect(403, Some("forbidden"));
        set_status(&app, who, &contract, "cancelled", None).await.expect(403, Some("forbidden"));
        set_status(&app, who, &contract, "active", None).await.expect(409, Some("invalid_transition"));
    }
    // An admin can see it and settle it.
    app.get(&format!("/api/contracts/{contract}"), Some(&root.token)).await.expect(200, None);
    set_status(&app, &root, &contract, "active", None).await.expect(409, Some("invalid_transition"));
    let r = set_status(&app, &root, &contract, "completed", Some("work verified")).await;
    r.expect(200, None);
    assert_eq!(r.json["status"], "completed");
    set_status(&app, &root, &contract, "completed", None).await.expect(409, Some("invalid_transition"));
    assert_eq!(provider_profile(&app, &profile).await["completed_jobs"], 1);
    let r = app.get(&format!("/api/contracts/{contract}/events"), Some(&root.token)).await;
    r.expect(200, None);
    let last = results(&r).last().cloned().expect("events");
    assert_eq!((last["from"].as_str(), last["to"].as_str()), (Some("disputed"), Some("completed")));
    assert_eq!(last["actor_id"], root.id.as_str());
    assert_eq!(last["actor_role"], "admin");
    assert_eq!(last["reason"], "work verified");
    // Both parties hear about the admin's decision.
    // client: the proposal, then disputed and completed, and the escrow's release.
    let got = exactly_notifications(&app, &client, 4).await;
    let contract_notes: Vec<&Value> = got.iter().filter(|n| n["type"] == "contract").collect();
    assert_eq!(contract_notes.len(), 2, "{got:#?}");
    assert!(contract_notes[0]["message"].as_str().is_some_and(|m| m.contains("completed")), "{got:#?}");
    assert_eq!(contract_notes[0]["actor_id"], root.id.as_str());
    assert_eq!(got.iter().filter(|n| n["title"] == "Milestone released").count(), 1, "{got:#?}");
    // provider: accepted, new contract, active, milestone funded, completed, released.
    let got = exactly_notifications(&app, &prov, 6).await;
    let contract_notes: Vec<&Value> = got.iter().filter(|n| n["type"] == "contract").collect();
    assert_eq!(contract_notes.len(), 3, "{got:#?}");
    assert!(contract_notes[0]["message"].as_str().is_some_and(|m| m.contains("completed")), "{got:#?}");
    assert_eq!(got.iter().filter(|n| n["title"] == "Milestone released").count(), 1, "{got:#?}");

    // Cancelling: either party, from pending or active; nothing is counted.
    let (client2, prov2, profile2, contract2) = pending_contract(&app, "cancel").await;
    set_status(&app, &prov2, &contract2, "cancelled", Some("double booked")).await.expect(200, None);
    set_status(&app, &client2, &contract2, "active", None).await.expect(409, Some("invalid_transition"));
    assert_eq!(provider_profile(&app, &profile2).await["completed_jobs"], 0);
    let (client3, _prov3, _profile3, contract3) = pending_contract(&app, "cancel-active").await;
    app.fund_contract(&client3, &contract3).await;
    set_status(&app, &client3, &contract3, "cancelled", None).await.expect(200, None);
    set_status(&app, &root, &contract3, "completed", None).await.expect(409, Some("invalid_transition"));
}

// ---------------------------------------------------------------------------------------
// Notifications

fn assert_notification(n: &Value, kind: &str, object_type: &str, object_id: &str, actor: &str) {
    assert_eq!(n["type"], kind, "{n}");
    assert_eq!(n["object_type"], object_type, "{n}");
    assert_eq!(n["object_id"], object_id, "{n}");
    assert_eq!(n["actor_id"], actor, "{n}");
    assert!(n["title"].as_str().is_some_and(|t| !t.is_empty()), "title: {n}");
    assert!(n["message"].as_str().is_some_and(|t| !t.is_empty()), "message: {n}");
    assert!(n["action_url"].as_str().is_some_and(|u| u.contains(object_id)), "action_url points at the object: {n}");
    assert_eq!(n["read"], false, "{n}");
}

#[actix_web::test]
async fn marketplace_events_notify_the_other_party_exactly_once_live_and_listed() {
    let app = spawn_app().await;
    let client = app.user("client").await;
    let (prov, _) = provider(&app, "prov").await;
    let (other, _) = provider(&app, "other").await;
    let mut client_ws = app.ws(&client.token, Encoding::Json).await;
    let mut prov_ws = app.ws(&prov.token, Encoding::Json).await;

    // Posting a job notifies nobody.
    let job = job_id(&app, &client, json!({"title": "Hang three doors"})).await;

    // Proposal submitted → the job's client, live and listed.
    let proposal = proposal_id(&app, &prov, &job, 30_000).await;
    let f = client_ws.expect("notification").await;
    assert_eq!(f["notification"]["type"], "proposal", "{f}");
    assert_eq!(f["notification"]["object_id"], proposal.as_str(), "{f}");
    let got = exactly_notifications(&app, &client, 1).await;
    assert_notification(&got[0], "proposal", "proposal", &proposal, &prov.id);
    assert!(got[0]["action_url"].as_str().is_some_and(|u| u.contains(&job)), "{}", got[0]);
    assert_eq!(f["notification"]["id"], got[0]["id"], "the live frame is the stored notification");
    // Refused proposals notify nobody.
    propose(&app, &prov, &job, 1).await.expect(409, Some("duplicate_proposal"));
    // A second provider's proposal is a second notification.
    let other_proposal = proposal_id(&app, &other, &job, 31_000).await;
    let f = client_ws.expect("notification").await;
    assert_eq!(f["notification"]["object_id"], other_proposal.as_str(), "{f}");
    exactly_notifications(&app, &client, 2).await;

    // Accepted → the provider: "accepted" and "contract created", live and listed.
    let r = app.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token)).await;
    r.expect(201, None);
    let contract = id_of(&r.json);
    let mut live = Vec::new();
    for _ in 0..2 {
        live.push(prov_ws.expect("notification").await["notification"].clone());
    }
    let live_types: HashSet<&str> = live.iter().filter_map(|n| n["type"].as_str()).collect();
    assert_eq!(live_types, HashSet::from(["proposal", "contract"]), "{live:#?}");
    let got = exactly_notifications(&app, &prov, 2).await;
    let accepted = got.iter().find(|n| n["type"] == "proposal").expect("accepted notification");
    assert_notification(accepted, "proposal", "proposal", &proposal, &client.id);
    let created = got.iter().find(|n| n["type"] == "contract").expect("contract notification");
    assert_notification(created, "contract", "contract", &contract, &client.id);
    // The other provider hears nothing; the client hears nothing about its own accept.
    assert!(notifications(&app, &other).await.is_empty());
    // A repeated accept changes nothing, so it notifies nobody.
    app.post(&format!("/api/proposals/{proposal}/accept"), json!({}), Some(&client.token))
        .await
        .expect(409, Some("already_accepted"));
    exactly_notifications(&app, &prov, 2).await;
    exactly_notifications(&app, &client, 2).await;

    // Every contract status change → the other party only; refused changes → nobody.
    // Funding starts the contract: the provider hears "active" and "milestone funded".
    set_status(&app, &prov, &contract, "active", None).await.expect(403, Some("forbidden"));
    set_status(&app, &client, &contract, "active", None).await.expect(409, Some("funding_required"));
    app.fund_contract(&client, &contract).await;
    let mut live = Vec::new();
    for _ in 0..2 {
        live.push(prov_ws.expect("notification").await["notification"].clone());
    }
    let live_types: HashSet<&str> = live.iter().filter_map(|n| n["type"].as_str()).collect();
    assert_eq!(live_types, HashSet::from(["contract", "payment"]), "{live:#?}");
    let got = exactly_notifications(&app, &prov, 4).await;
    let activated = got.iter().find(|n| n["title"] == "Contract active").expect("active notification");
    assert_notification(activated, "contract", "contract", &contract, &client.id);
    assert!(activated["message"].as_str().is_some_and(|m| m.contains("active")), "{activated}");
    assert!(got.iter().any(|n| n["title"] == "Milestone funded"), "{got:#?}");
    set_status(&app, &prov, &contract, "delivered", None).await.expect(200, None);
    let f = client_ws.expect("notification").await;
    assert_eq!(f["notification"]["type"], "contract", "{f}");
    let got = exactly_notifications(&app, &client, 3).await;
    assert_notification(&got[0], "contract", "contract", &contract, &prov.id);
    assert!(got[0]["message"].as_str().is_some_and(|m| m.contains("delivered")), "{}", got[0]);
    set_status(&app, &prov, &contract, "delivered", None).await.expect(409, Some("invalid_transition"));
    set_status(&app, &client, &contract, "completed", None).await.expect(200, None);
    set_status(&app, &client, &contract, "completed", None).await.expect(409, Some("invalid_transition"));
    // Completing releases the escrow: the provider hears both, the client of the release.
    let got = exactly_notifications(&app, &prov, 6).await;
    let completed = got.iter().find(|n| n["title"] == "Contract completed").expect("completed notification");
    assert_notification(completed, "contract", "contract", &contract, &client.id);
    assert!(completed["message"].as_str().is_some_and(|m| m.contains("completed")), "{completed}");
    let got = exactly_notifications(&app, &client, 4).await;
    assert_eq!(got[0]["title"], "Milestone released", "{got:#?}");
    // Nothing else arrives live either.
    for _ in 0..2 {
        prov_ws.expect("notification").await;
    }
    client_ws.expect("notification").await;
    prov_ws.expect_none("notification", QUIET).await;
    client_ws.expect_none("notification", QUIET).await;
    assert!(notifications(&app, &other).await.is_empty());
}

#[actix_web::test]
async fn a_provider_reads_its_own_profile_at_me() {
    let app = spawn_app().await;
    let worker = member(&app, "me-worker", "worker").await;
    app.get("/api/providers/me", None).await.expect(401, Some("unauthorized"));
    app.get("/api/providers/me", Some(&worker.token)).await.expect(404, Some("not_found"));
    let (p, profile) = provider(&app, "me-provider").await;
    let r = app.get("/api/providers/me", Some(&p.token)).await;
    r.expect(200, None);
    assert_eq!(r.json["id"], profile.as_str(), "{}", r.text);
    assert_eq!(r.json["user_id"], p.id.as_str(), "{}", r.text);
    // Another user's profile is never what `me` answers.
    app.get("/api/providers/me", Some(&worker.token)).await.expect(404, Some("not_found"));
}
