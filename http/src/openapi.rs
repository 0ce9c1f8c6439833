//! The OpenAPI 3 document (`GET /api/schema`) and the offline Swagger UI (`GET /docs`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    analytics, attachments, auth, availability, bookings, catalog, contracts, conversations, jobs, notifications, ops,
    payments, providers, reviews, services, uploads, users,
};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Agora API", description = "Realtime marketplace engine. Errors use the envelope {\"error\": {\"code\", \"message\", \"fields\"?}}. Lists take ?limit= (default 20, max 100) and ?cursor=."),
    modifiers(&BearerAuth),
    paths(
        auth::register, auth::login, auth::session_login, auth::refresh, auth::verify, auth::logout, auth::me, auth::patch_me,
        auth::password_change, auth::password_reset, auth::password_reset_confirm, auth::verify_email,
        auth::verify_email_resend, users::get_user, ops::root, ops::health, ops::ready, ops::metrics,
        conversations::list, conversations::create, conversations::get, conversations::history, conversations::send, conversations::send_message, conversations::list_messages,
        conversations::read, conversations::edit_message, conversations::delete_message, conversations::list_blocks,
        conversations::get_block, conversations::put_block, conversations::delete_block,
        notifications::list, notifications::unread_count, notifications::mark_read, notifications::read_all,
        notifications::delete, notifications::get_preferences, notifications::put_preferences, notifications::announce,
        catalog::list_categories, catalog::get_category, catalog::create_category, catalog::update_category,
        catalog::delete_category, catalog::list_skills, catalog::get_skill, catalog::create_skill, catalog::update_skill,
        catalog::delete_skill, catalog::list_companies, catalog::get_company, catalog::create_company,
        catalog::update_company, catalog::delete_company,
        providers::list, providers::create, providers::mine, providers::get, providers::update, providers::replace, providers::services, providers::reviews,
        services::list, services::create, services::get, services::update, services::replace, services::delete, services::like,
        services::unlike, services::reviews, services::set_gallery,
        jobs::list, jobs::create, jobs::mine, jobs::get, jobs::update, jobs::replace, jobs::withdraw, jobs::proposals::job_proposals,
        jobs::proposals::hire, jobs::proposals::propose, jobs::proposals::my_proposals, jobs::proposals::get_proposal,
        jobs::proposals::accept, jobs::proposals::withdraw,
        contracts::list, contracts::get, contracts::set_status, contracts::events,
        payments::add_method, payments::list_methods, payments::get_method, payments::delete_method,
        payments::list_milestones, payments::split, payments::fund_milestone, payments::fund_next, payments::submit,
        payments::request_changes, payments::approve, payments::remove, payments::dispute, payments::resolve, payments::fee_totals, payments::list_payments, payments::pay, payments::get_payment, payments::receipt, payments::refund_payment, payments::wallet,
        payments::wallet_ledger, payments::add_payout_method, payments::list_payout_methods,
        payments::delete_payout_method, payments::request_payout, payments::list_payouts, payments::get_payout,
        payments::webhook,
        bookings::create, bookings::list, bookings::get, bookings::set_status, bookings::calendar,
        reviews::create, reviews::list, reviews::get, reviews::update, reviews::delete, reviews::reply,
        availability::get, availability::put, availability::delete, availability::slots, availability::issue_feed,
        availability::revoke_feed, availability::feed,
        analytics::ingest, analytics::dashboard, analytics::provider, analytics::client,
        uploads::options, uploads::create, uploads::head, uploads::get, uploads::patch,
        attachments::get, attachments::thumbnail, attachments::content,
    ),
    tags((name = "auth", description = "Accounts and tokens"), (name = "accounts"), (name = "operations"),
        (name = "messaging", description = "Conversations, messages, read cursors and blocks (live over GET /ws, see docs/protocol.md)"),
        (name = "notifications"), (name = "catalog", description = "Categories, skills, companies"),
        (name = "providers"), (name = "services"), (name = "jobs", description = "Jobs (alias requests), proposals (alias job-applications), accept (alias hire)"),
        (name = "contracts"), (name = "bookings"), (name = "reviews"),
        (name = "availability", description = "Working hours, free slots, private calendar feeds"),
        (name = "payments", description = "Saved cards, milestones and escrow, payments, wallet and ledger (docs/payments.md)"),
        (name = "analytics", description = "Page views and client actions, and the admin, provider and client dashboards (docs/analytics.md)"),
        (name = "attachments", description = "Resumable uploads (tus 1.0), multipart uploads, attachment metadata and signed downloads (docs/attachments.md)"))
)]
struct ApiDoc;

/// POST routes whose 429 comes from the per-user write limit in the rate-limit middleware
/// rather than from their handlers (see `middleware::rate_limit::WriteClass`).
const WRITE_LIMITED: &[&str] = &["/api/conversations", "/api/bookings"];

/// An error answer in the envelope.
fn error_response(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorEnvelope"))).build())
        .build()
        .into()
}

/// The answers that come from the layers in front of every handler rather than from the
/// handlers themselves, added to each operation they can reach: 401 from the bearer
/// extractor (operations with `security`), 400 from the JSON and query extractors, 413 and
/// 415 from the body limit and the JSON content type (operations with a body), and 429
/// from the rate limits (every operation: anonymous and signed-in callers are limited).
fn common_responses(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            let mut add = |code: &str, description: &str| {
                op.responses.responses.entry(code.to_string()).or_insert_with(|| error_response(description));
            };
            let has_body = op.request_body.is_some();
            let has_params = op.parameters.as_ref().is_some_and(|p| !p.is_empty());
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add("401", "unauthorized, invalid_token or token_expired: a valid access token is required");
            }
            if has_body || has_params {
                add("400", "invalid_json, invalid_query or validation_failed");
            }
            if has_body {
                add("413", "payload_too_large: the body is over max_body_bytes");
                add("415", "unsupported_media_type: the body must be application/json");
            }
            add("429", "rate_limited: too many requests; see Retry-After");
        }
    }
}

/// The whole document, aliases included.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    common_responses(&mut doc);
    for path in WRITE_LIMITED {
        if let Some(op) = doc.paths.paths.get_mut(*path).and_then(|item| item.post.as_mut()) {
            op.responses.responses.entry("429".to_string()).or_insert_with(|| {
                utoipa::openapi::Response::new(
                    "rate_limited: too many group conversations or booking requests; see Retry-After",
                )
                .into()
            });
        }
    }
    for (alias, canonical) in crate::routes::ROUTE_ALIASES {
        if let Some(item) = doc.paths.paths.get(*canonical).cloned() {
            doc.paths.paths.insert((*alias).to_string(), item);
        }
    }
    for (path, from, to) in crate::routes::METHOD_ALIASES {
        if let Some(item) = doc.paths.paths.get_mut(*path) {
            let op = match *from {
                "put" => item.put.clone(),
                "patch" => item.patch.clone(),
                _ => None,
            };
            match *to {
                "post" => item.post = op,
                "put" => item.put = op,
                _ => {}
            }
        }
    }
    // Resource aliases: every path under the canonical prefix exists under the alias too.
    for (alias, canonical) in crate::routes::PREFIX_ALIASES {
        let copies: Vec<(String, utoipa::openapi::PathItem)> = doc
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix(canonical)?;
                (rest.is_empty() || rest.starts_with('/') || rest.starts_with('.'))
                    .then(|| (format!("{alias}{rest}"), item.clone()))
            })
            .collect();
        doc.paths.paths.extend(copies);
    }
    unique_operation_ids(&mut doc);
    links(&mut doc);
    doc
}

/// The operations of a path item, with their lower-case method names.
fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut utoipa::openapi::path::Operation)> {
    [
        ("get", &mut item.get),
        ("post", &mut item.post),
        ("put", &mut item.put),
        ("patch", &mut item.patch),
        ("delete", &mut item.delete),
        ("head", &mut item.head),
        ("options", &mut item.options),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.as_mut().map(|op| (m, op)))
}

/// Every operation gets an id unique in the document (`get_api_jobs_id`): handler names
/// repeat across resources (`list`, `get`), and aliases copy their canonical's.
fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let slug: String = path
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect::<String>()
            .split('_')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("_");
        for (method, op) in operations(item) {
            op.operation_id = Some(format!("{method}_{slug}"));
        }
    }
}

/// Where the object a create answers (201 with its `id`) lives, besides under the create's
/// own path: accepting a proposal makes a contract, sending to a conversation a message.
const CREATED_ELSEWHERE: &[(&str, &str)] = &[
    ("/accept", "/api/contracts"),
    ("/hire", "/api/contracts"),
    ("/api/conversations/{id}/messages", "/api/messages"),
];

/// OpenAPI links from each create to the operations on what it made: `POST /api/jobs`
/// (201 `{id}`) links to every operation under `/api/jobs/{id}` whose only path parameter
/// is `id`, with `id = $response.body#/id`, so clients and stateful testing tools follow a
/// created object to its reads, edits and deletes.
fn links(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::link::LinkBuilder;
    let paths: Vec<String> = doc.paths.paths.keys().cloned().collect();
    let targets_of = |base: &str| -> Vec<(String, String)> {
        let prefix = format!("{base}/{{id}}");
        let mut found = Vec::new();
        for path in paths.iter().filter(|p| **p == prefix || p.starts_with(&format!("{prefix}/"))) {
            if path.matches('{').count() != 1 {
                continue;
            }
            if let Some(item) = doc.paths.paths.get(path) {
                for (method, present) in [
                    ("get", item.get.is_some()),
                    ("put", item.put.is_some()),
                    ("patch", item.patch.is_some()),
                    ("delete", item.delete.is_some()),
                    ("post", item.post.is_some()),
                ] {
                    if present {
                        found.push((path.clone(), method.to_string()));
                    }
                }
            }
        }
        found
    };
    let mut plan = Vec::new();
    for path in &paths {
        let base = CREATED_ELSEWHERE
            .iter()
            .find(|(suffix, _)| path.ends_with(suffix))
            .map(|(_, to)| (*to).to_string())
            .unwrap_or_else(|| path.clone());
        let targets = targets_of(&base);
        if !targets.is_empty() {
            plan.push((path.clone(), targets));
        }
    }
    for (path, targets) in plan {
        let Some(op) = doc.paths.paths.get_mut(&path).and_then(|item| item.post.as_mut()) else { continue };
        let Some(utoipa::openapi::RefOr::T(created)) = op.responses.responses.get_mut("201") else { continue };
        for (target, method) in targets {
            let pointer = target.replace('~', "~0").replace('/', "~1");
            let name = format!("{method}_{}", target.trim_start_matches('/').replace(['/', '{', '}', '-'], "_"));
            let link = LinkBuilder::new()
                .operation_ref(format!("#/paths/{pointer}/{method}"))
                .parameter("id", "$response.body#/id")
                .build();
            created.links.insert(name, link.into());
        }
    }
}
