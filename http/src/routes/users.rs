//! User objects as the API shows them, and `GET /api/users/{id}`.

use actix_web::{web, HttpResponse};
use agora_engine::{account::may_see_private_fields, UserId};
use agora_storage::User;
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::MaybeAuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// `{id, email, username, role, first_name, last_name, email_verified, created_at}`;
/// `email` only for the user themself and admins.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UserView {
    #[schema(value_type = String, format = Uuid)]
    pub id: UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub username: Option<String>,
    #[schema(value_type = String, example = "client")]
    pub role: agora_engine::Role,
    pub first_name: String,
    pub last_name: String,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl UserView {
    pub fn of(user: &User, show_private: bool) -> Self {
        UserView {
            id: user.id,
            email: show_private.then(|| user.email.clone()),
            username: user.username.clone(),
            role: user.role,
            first_name: user.first_name.clone(),
            last_name: user.last_name.clone(),
            email_verified: user.email_verified,
            created_at: user.created_at,
        }
    }
}

/// Public profile of a user (email only to that user and admins).
#[utoipa::path(get, path = "/api/users/{id}", tag = "accounts",
    params(("id" = String, Path, description = "user id")),
    responses((status = 200, body = UserView), (status = 404, body = super::ErrorEnvelope)))]
#[tracing::instrument(skip(state, viewer))]
pub async fn get_user(
    state: web::Data<AppState>,
    viewer: MaybeAuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = UserId::parse(&path).map_err(|_| ApiError::NotFound)?;
    let user = state.store.users().get(id).await?.ok_or(ApiError::NotFound)?.value;
    let show = may_see_private_fields(viewer.0.map(|u| (u.id, u.role)), user.id);
    Ok(HttpResponse::Ok().json(UserView::of(&user, show)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/users/{id}").route(web::get().to(get_user)));
}
