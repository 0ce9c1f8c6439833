//! The OpenAPI 3 document (`GET /api/schema`) and the offline Swagger UI (`GET /docs`).

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{auth, ops, users};

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
    ),
    tags((name = "auth", description = "Accounts and tokens"), (name = "accounts"), (name = "operations"))
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
