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
        providers::list, providers::create, providers::get, providers::update, providers::replace, providers::services, providers::reviews,
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

/// The whole document, aliases included.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
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
    doc
}
