//! The OpenAPI 3 document (`GET /api/schema`) and the offline Swagger UI (`GET /docs`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, conversations, notifications, ops, users};

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
        auth::register, auth::login, auth::refresh, auth::verify, auth::logout, auth::me, auth::patch_me,
        auth::password_change, auth::password_reset, auth::password_reset_confirm, auth::verify_email,
        auth::verify_email_resend, users::get_user, ops::health, ops::ready, ops::metrics,
        conversations::list, conversations::create, conversations::get, conversations::history, conversations::send,
        conversations::read, conversations::edit_message, conversations::delete_message, conversations::list_blocks,
        conversations::get_block, conversations::put_block, conversations::delete_block,
        notifications::list, notifications::unread_count, notifications::mark_read, notifications::read_all,
        notifications::delete, notifications::get_preferences, notifications::put_preferences, notifications::announce,
    ),
    tags((name = "auth", description = "Accounts and tokens"), (name = "accounts"), (name = "operations"),
        (name = "messaging", description = "Conversations, messages, read cursors and blocks (live over GET /ws, see docs/protocol.md)"),
        (name = "notifications"))
)]
struct ApiDoc;

/// The whole document, aliases included.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    for (alias, canonical) in auth::ALIASES {
        if let Some(item) = doc.paths.paths.get(*canonical).cloned() {
            doc.paths.paths.insert((*alias).to_string(), item);
        }
    }
    doc
}
