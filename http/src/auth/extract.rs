//! `AuthUser`: a valid, unrevoked access token. One signature check and one point read.

use std::future::Future;
use std::pin::Pin;

use actix_web::{dev::Payload, http::header, web, FromRequest, HttpRequest};
use agora_engine::{Role, SessionId, UserId};

use super::jwt::TokenKind;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Clone, Copy)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
    pub session: SessionId,
}

/// The bearer token from `Authorization`, if any.
pub fn bearer_token(req: &HttpRequest) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty()).then(|| token.trim())
}

pub(crate) async fn authenticate(state: web::Data<AppState>, token: Option<String>) -> Result<AuthUser, ApiError> {
    let token = token.ok_or(ApiError::Unauthorized { code: "unauthorized", message: "authentication required" })?;
    let claims = state.jwt.verify(&token, TokenKind::Access)?;
    if !state.store.sessions().is_active(claims.sid).await? {
        return Err(ApiError::Unauthorized { code: "token_revoked", message: "the token has been revoked" });
    }
    Ok(AuthUser { id: claims.sub, role: claims.role, session: claims.sid })
}

fn state_of(req: &HttpRequest) -> Result<web::Data<AppState>, ApiError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| ApiError::internal("AppState missing"))
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let token = bearer_token(req).map(str::to_string);
        let state = state_of(req);
        Box::pin(async move { authenticate(state?, token).await })
    }
}

/// An optional `AuthUser`: no token means anonymous; a bad token is still a 401.
#[derive(Debug, Clone, Copy)]
pub struct MaybeAuthUser(pub Option<AuthUser>);

impl FromRequest for MaybeAuthUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        if bearer_token(req).is_none() {
            return Box::pin(async { Ok(MaybeAuthUser(None)) });
        }
        let user = AuthUser::from_request(req, payload);
        Box::pin(async move { user.await.map(|u| MaybeAuthUser(Some(u))) })
    }
}
