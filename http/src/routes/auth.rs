//! `/api/auth/*`: registration, login, token refresh with rotation and reuse detection,
//! logout, own account, password change and reset, email verification.

use std::time::Duration;

use actix_web::{web, HttpRequest, HttpResponse};
use agora_engine::{Email, FieldErrors, Password, PersonName, Role, SessionId, UserId, Username};
use agora_storage::{NewUser, Rotation, Session, StoreError, TokenPurpose, User};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::users::UserView;
use super::{optional, required, ErrorEnvelope};
use crate::auth::{bearer_token, cookie, hash_token, one_time_token, AuthUser, TokenKind, TokenPair};
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    pub email: Option<String>,
    pub password: Option<String>,
    /// client (default), worker or provider; admin is refused.
    pub role: Option<String>,
    pub username: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AuthResponse {
    pub user: UserView,
    pub access: String,
    pub refresh: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    pub email: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    pub refresh: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenBody {
    pub token: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LogoutBody {
    pub refresh: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PatchMeBody {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub username: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordChangeBody {
    pub old_password: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordResetBody {
    pub email: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct PasswordResetConfirmBody {
    pub token: Option<String>,
    pub new_password: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Empty {}

fn duplicate(e: StoreError) -> ApiError {
    match e {
        StoreError::Duplicate("email") => {
            ApiError::Conflict { code: "email_taken", message: "an account with this email exists".into() }
        }
        StoreError::Duplicate("username") => {
            ApiError::Conflict { code: "username_taken", message: "this username is taken".into() }
        }
        other => other.into(),
    }
}

/// Starts a session (one refresh-token family) and answers its first token pair.
async fn start_session(state: &AppState, user: &User, now: OffsetDateTime) -> Result<TokenPair, ApiError> {
    let session = Session {
        id: SessionId::from_uuid(Uuid::now_v7()),
        user_id: user.id,
        current_jti: Uuid::new_v4().simple().to_string(),
        revoked: false,
        created_at: now,
        expires_at: now + time::Duration::seconds(state.jwt.refresh_ttl_secs),
    };
    state.store.sessions().create(&session, now).await?;
    Ok(TokenPair {
        access: state.jwt.access_token(user.id, user.role, session.id, now)?,
        refresh: state.jwt.refresh_token(user.id, user.role, session.id, &session.current_jti, now)?,
    })
}

/// Issues a one-time token and mails it (in the background, so the answer's timing says nothing).
async fn mail_token(state: &AppState, user: &User, purpose: TokenPurpose, now: OffsetDateTime) -> Result<(), ApiError> {
    let (token, hash) = one_time_token();
    let (ttl, subject, path) = match purpose {
        TokenPurpose::PasswordReset => {
            (state.settings.password_reset_ttl_secs, "Reset your Agora password", "reset-password")
        }
        TokenPurpose::EmailVerification => {
            (state.settings.email_verification_ttl_secs, "Verify your Agora email address", "verify-email")
        }
    };
    state.store.one_time_tokens().issue(&hash, purpose, user.id, Duration::from_secs(ttl), now).await?;
    let body = format!(
        "Hello,\r\n\r\nUse this token within {} minutes:\r\n\r\nToken: {token}\r\n\r\nor open {}/{path}?token={token}\r\n\r\nIf you did not ask for this, ignore this message.\r\n",
        ttl / 60,
        state.settings.public_url.trim_end_matches('/'),
    );
    let mailer = state.mailer.clone();
    let to = user.email.clone();
    actix_web::rt::spawn(async move { mailer.send(&to, subject, body).await });
    Ok(())
}

/// Tells the owner of `email` that someone tried to register with it (in the background,
/// like every mail). No token, no link to act on: just the fact, and what to do if it was
/// not them.
fn notify_registration_attempt(state: &AppState, email: &Email) {
    metrics::counter!("agora_registration_attempts_on_existing_total").increment(1);
    let body = format!(
        "Hello,\r\n\r\nSomeone just tried to create an Agora account with this email address, \
         which already has one. Nothing about your account has changed.\r\n\r\n\
         If this was you, log in instead, or reset your password at {}/reset-password.\r\n\
         If it was not you, you can ignore this message.\r\n",
        state.settings.public_url.trim_end_matches('/'),
    );
    let mailer = state.mailer.clone();
    let to = email.as_str().to_string();
    actix_web::rt::spawn(async move {
        mailer.send(&to, "Someone tried to register with your email address", body).await;
    });
}

/// Create an account and log in.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = RegisterBody,
    responses((status = 201, body = AuthResponse), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn register(state: web::Data<AppState>, body: web::Json<RegisterBody>) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let email = required(&mut f, "email", body.email.as_deref(), Email::parse);
    let password = required(&mut f, "password", body.password.as_deref(), Password::parse);
    let role = f.check("role", Role::parse_registrable(body.role.as_deref().unwrap_or("client")));
    let username = optional(&mut f, "username", body.username.as_deref(), Username::parse);
    let first_name = optional(&mut f, "first_name", body.first_name.as_deref(), PersonName::parse).unwrap_or_default();
    let last_name = optional(&mut f, "last_name", body.last_name.as_deref(), PersonName::parse).unwrap_or_default();
    f.into_result()?;
    let (Some(email), Some(password), Some(role)) = (email, password, role) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let password_hash = state.hasher.hash(&password).await?;
    let now = OffsetDateTime::now_utc();
    let email_copy = email.clone();
    let user = state
        .store
        .users()
        .create(NewUser {
            id: UserId::from_uuid(Uuid::now_v7()),
            email,
            username,
            role,
            first_name: first_name.as_str().to_string(),
            last_name: last_name.as_str().to_string(),
            password_hash,
            at: now,
        })
        .await;
    let user = match user {
        Ok(user) => user,
        Err(StoreError::Duplicate("email")) => {
            // The 409 is the public contract (API.md) and tells the caller the address is
            // taken; the owner at least learns that someone tried (docs/auth.md).
            notify_registration_attempt(&state, &email_copy);
            return Err(duplicate(StoreError::Duplicate("email")));
        }
        Err(e) => return Err(duplicate(e)),
    };
    tracing::info!(user_id = %user.id, role = role.as_str(), "account registered");
    metrics::counter!("agora_registrations_total", "role" => role.as_str()).increment(1);
    super::analytics::user_registered(&state, user.id, now);
    mail_token(&state, &user, TokenPurpose::EmailVerification, now).await?;
    let tokens = start_session(&state, &user, now).await?;
    Ok(HttpResponse::Created().json(AuthResponse {
        user: UserView::of(&user, true),
        access: tokens.access,
        refresh: tokens.refresh,
    }))
}

/// What a login names the account by, already normalized.
enum LoginName {
    Email(Email),
    Username(Username),
}

impl LoginName {
    /// The failure-counter key: the name as given, never the account it resolves to (see
    /// `LoginFailures`), so that no lock tells which email and username go together.
    fn key(&self) -> String {
        match self {
            LoginName::Email(e) => format!("email:{}", e.as_str()),
            LoginName::Username(u) => format!("user:{}", u.as_str()),
        }
    }
}

/// Log in with email or username and password.
///
/// A source that failed `login_failures_max` times on one login name is refused (429 with
/// `Retry-After`) for that name until the window passes, whether or not the account exists;
/// every other source, the owner's included, is not. Many failures on one name from many
/// sources slow every attempt on it down instead of locking it (docs/auth.md).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = AuthResponse), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let (user, tokens) = password_login(&state, &req, &body).await?;
    Ok(HttpResponse::Ok().json(AuthResponse {
        user: UserView::of(&user, true),
        access: tokens.access,
        refresh: tokens.refresh,
    }))
}

/// Checks a login body and starts a session.
async fn password_login(state: &AppState, req: &HttpRequest, body: &LoginBody) -> Result<(User, TokenPair), ApiError> {
    let mut f = FieldErrors::new();
    let password = body.password.clone();
    if password.as_deref().is_none_or(str::is_empty) {
        f.add("password", "is required");
    }
    let name = match (body.email.as_deref(), body.username.as_deref()) {
        (Some(e), _) => f.check("email", Email::parse(e)).map(LoginName::Email),
        (None, Some(u)) => f.check("username", Username::parse(u)).map(LoginName::Username),
        (None, None) => {
            f.add("email", "email or username is required");
            None
        }
    };
    f.into_result()?;
    let Some(name) = name else { return Err(ApiError::internal("validated login name missing")) };
    let user = check_login(state, req, name, password.as_deref().unwrap_or_default()).await?;
    let tokens = start_session(state, &user, OffsetDateTime::now_utc()).await?;
    Ok((user, tokens))
}

/// The account a login name and password belong to, under the failed-login limits.
async fn check_login(state: &AppState, req: &HttpRequest, name: LoginName, password: &str) -> Result<User, ApiError> {
    let key = name.key();
    let ip = crate::client_ip::client_ip(req);
    // Decided before the account is looked up: the same for names of nobody.
    let delay = state.login_failures.check(&key, ip).await?;
    if !delay.is_zero() {
        actix_web::rt::time::sleep(delay).await;
    }
    let user = match &name {
        LoginName::Email(email) => state.store.users().find_by_email(email).await?,
        LoginName::Username(username) => state.store.users().find_by_username(username).await?,
    }
    .map(|v| v.value);
    let ok = state.hasher.verify(password, user.as_ref().map(|u| u.password_hash.as_str())).await?;
    let Some(user) = user.filter(|_| ok) else {
        state.login_failures.record_failure(&key, ip).await;
        metrics::counter!("agora_logins_total", "outcome" => "failed").increment(1);
        tracing::info!("login failed");
        return Err(ApiError::Unauthorized {
            code: "invalid_credentials",
            message: "wrong email, username or password",
        });
    };
    state.login_failures.clear(&key, ip).await;
    metrics::counter!("agora_logins_total", "outcome" => "ok").increment(1);
    tracing::info!(user_id = %user.id, "logged in");
    Ok(user)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SessionResponse {
    pub user: UserView,
    /// Keep it in memory only; refresh it with `POST /api/auth/refresh` (cookie and
    /// `X-CSRF-Token`).
    pub access: String,
    /// The value of the `agora_csrf` cookie, to send as `X-CSRF-Token`.
    pub csrf: String,
}

/// Browser login: as `POST /api/auth/login`, but the refresh token goes into an `HttpOnly;
/// Secure; SameSite=Strict` cookie scoped to `/api/auth`, with a CSRF cookie beside it
/// (docs/auth.md "Browser sessions").
#[utoipa::path(post, path = "/api/auth/session", tag = "auth", request_body = LoginBody,
    responses((status = 200, body = SessionResponse, description = "sets the agora_refresh and agora_csrf cookies"),
        (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn session_login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let (user, tokens) = password_login(&state, &req, &body).await?;
    let ttl = state.jwt.refresh_ttl_secs;
    let (csrf, csrf_cookie) = cookie::csrf_cookie(ttl);
    Ok(HttpResponse::Ok()
        .cookie(cookie::refresh_cookie(&tokens.refresh, ttl))
        .cookie(csrf_cookie)
        .json(SessionResponse { user: UserView::of(&user, true), access: tokens.access, csrf }))
}

/// Exchange a refresh token for a new pair. A refresh token works once; presenting a used
/// one revokes its whole family. Without `refresh` in the body, a browser session's cookie
/// is used (with `X-CSRF-Token`): the answer is `{access}` and the cookie is rotated.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshBody,
    responses((status = 200, body = TokenPair), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "csrf_failed")))]
#[tracing::instrument(skip_all)]
pub async fn refresh(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<RefreshBody>,
) -> Result<HttpResponse, ApiError> {
    let (token, from_cookie) = match body.refresh.clone() {
        Some(t) => (t, false),
        None => {
            let t =
                cookie::refresh_from_cookie(&req)?.ok_or_else(|| ApiError::invalid_field("refresh", "is required"))?;
            (t, true)
        }
    };
    let claims = state.jwt.verify(&token, TokenKind::Refresh)?;
    let now = OffsetDateTime::now_utc();
    let new_jti = Uuid::new_v4().simple().to_string();
    match state.store.sessions().rotate(claims.sid, &claims.jti, &new_jti, now).await? {
        Rotation::Rotated(session) => {
            let user = state
                .store
                .users()
                .get(session.user_id)
                .await?
                .ok_or(ApiError::Unauthorized { code: "token_revoked", message: "the token has been revoked" })?;
            let role = user.value.role;
            let pair = TokenPair {
                access: state.jwt.access_token(session.user_id, role, session.id, now)?,
                refresh: state.jwt.refresh_token(session.user_id, role, session.id, &new_jti, now)?,
            };
            if from_cookie {
                let cookie = cookie::refresh_cookie(&pair.refresh, state.jwt.refresh_ttl_secs);
                return Ok(HttpResponse::Ok().cookie(cookie).json(serde_json::json!({ "access": pair.access })));
            }
            Ok(HttpResponse::Ok().json(pair))
        }
        Rotation::Reused => {
            metrics::counter!("agora_refresh_reuse_total").increment(1);
            tracing::warn!(user_id = %claims.sub, session_id = %claims.sid, "refresh token reused: session family revoked");
            Err(ApiError::Unauthorized {
                code: "refresh_token_reused",
                message: "this refresh token was already used; the session is revoked",
            })
        }
        Rotation::Invalid => {
            Err(ApiError::Unauthorized { code: "token_revoked", message: "the token has been revoked" })
        }
    }
}

/// Check a token (access or refresh): 200 `{}` when valid and not revoked, else 401.
#[utoipa::path(post, path = "/api/auth/verify", tag = "auth", request_body = TokenBody,
    responses((status = 200, body = Empty), (status = 400, body = ErrorEnvelope, description = "no token"), (status = 401, body = ErrorEnvelope)))]
pub async fn verify(state: web::Data<AppState>, body: web::Json<TokenBody>) -> Result<HttpResponse, ApiError> {
    let token = body.token.as_deref().ok_or_else(|| ApiError::invalid_field("token", "is required"))?;
    let claims = state.jwt.verify_any(token)?;
    let session = state.store.sessions().get(claims.sid).await?;
    let live = match (claims.typ, session) {
        (TokenKind::Access, Some(s)) => !s.revoked,
        (TokenKind::Refresh, Some(s)) => !s.revoked && s.current_jti == claims.jti,
        (_, None) => false,
    };
    if !live {
        return Err(ApiError::Unauthorized { code: "token_revoked", message: "the token has been revoked" });
    }
    Ok(HttpResponse::Ok().json(Empty {}))
}

/// End the session: the refresh family and the presented access token stop working. A
/// browser session's cookie (with `X-CSRF-Token`) ends it too, and the cookies are cleared.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = LogoutBody,
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope, description = "csrf_failed")))]
#[tracing::instrument(skip_all)]
pub async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<LogoutBody>,
) -> Result<HttpResponse, ApiError> {
    let now = OffsetDateTime::now_utc();
    let mut sessions = Vec::new();
    if let Some(token) = body.refresh.as_deref() {
        sessions.push(state.jwt.verify(token, TokenKind::Refresh)?.sid);
    }
    if let Some(token) = bearer_token(&req) {
        sessions.push(state.jwt.verify(token, TokenKind::Access)?.sid);
    }
    let from_cookie = match body.refresh {
        Some(_) => false,
        None => match cookie::refresh_from_cookie(&req)? {
            Some(token) => {
                sessions.push(state.jwt.verify(&token, TokenKind::Refresh)?.sid);
                true
            }
            None => false,
        },
    };
    if sessions.is_empty() {
        return Err(ApiError::invalid_field("refresh", "is required"));
    }
    for sid in sessions {
        state.store.sessions().revoke(sid, now).await?;
        tracing::info!(session_id = %sid, "logged out");
    }
    let mut resp = HttpResponse::NoContent();
    if from_cookie {
        for c in cookie::cleared() {
            resp.cookie(c);
        }
    }
    Ok(resp.finish())
}

async fn load_user(state: &AppState, id: UserId) -> Result<User, ApiError> {
    Ok(state
        .store
        .users()
        .get(id)
        .await?
        .ok_or(ApiError::Unauthorized { code: "token_revoked", message: "the account no longer exists" })?
        .value)
}

/// The caller's own account.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ErrorEnvelope)))]
pub async fn me(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(UserView::of(&load_user(&state, auth.id).await?, true)))
}

/// Change own names or username.
#[utoipa::path(patch, path = "/api/auth/me", tag = "auth", request_body = PatchMeBody, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(user_id = %auth.id))]
pub async fn patch_me(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<PatchMeBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let first = optional(&mut f, "first_name", body.first_name.as_deref(), PersonName::parse);
    let last = optional(&mut f, "last_name", body.last_name.as_deref(), PersonName::parse);
    let username = optional(&mut f, "username", body.username.as_deref(), Username::parse);
    f.into_result()?;
    let now = OffsetDateTime::now_utc();
    let updated = state
        .store
        .users()
        .update(auth.id, |u| {
            if let Some(v) = &first {
                u.first_name = v.as_str().to_string();
            }
            if let Some(v) = &last {
                u.last_name = v.as_str().to_string();
            }
            if let Some(v) = &username {
                u.username = Some(v.as_str().to_string());
            }
            u.updated_at = now;
        })
        .await
        .map_err(duplicate)?
        .ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(UserView::of(&updated, true)))
}

/// Change password; every other session and every outstanding reset token is revoked.
#[utoipa::path(post, path = "/api/auth/password/change", tag = "auth", request_body = PasswordChangeBody, security(("bearer" = [])),
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 401, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(user_id = %auth.id))]
pub async fn password_change(
    state: web::Data<AppState>,
    auth: AuthUser,
    body: web::Json<PasswordChangeBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    if body.old_password.is_none() {
        f.add("old_password", "is required");
    }
    let new = required(&mut f, "new_password", body.new_password.as_deref(), Password::parse);
    f.into_result()?;
    let user = load_user(&state, auth.id).await?;
    if !state.hasher.verify(body.old_password.as_deref().unwrap_or_default(), Some(&user.password_hash)).await? {
        return Err(ApiError::invalid_field("old_password", "is incorrect"));
    }
    let Some(new) = new else { return Err(ApiError::internal("validated password missing")) };
    let hash = state.hasher.hash(&new).await?;
    let now = OffsetDateTime::now_utc();
    state
        .store
        .users()
        .update(auth.id, |u| {
            u.password_hash = hash.clone();
            u.revoke_reset_tokens();
            u.updated_at = now;
        })
        .await?;
    let revoked = state.store.sessions().revoke_all_for_user(auth.id, Some(auth.session), now).await?;
    tracing::info!(revoked, "password changed; other sessions revoked");
    Ok(HttpResponse::NoContent().finish())
}

/// Ask for a password reset email. Always 202, whether or not the account exists.
#[utoipa::path(post, path = "/api/auth/password-reset", tag = "auth", request_body = PasswordResetBody,
    responses((status = 202, body = Empty), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn password_reset(
    state: web::Data<AppState>,
    body: web::Json<PasswordResetBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let email = required(&mut f, "email", body.email.as_deref(), Email::parse);
    f.into_result()?;
    let Some(email) = email else { return Err(ApiError::internal("validated email missing")) };
    // Look up and mail in the background: the answer is the same, and as fast, either way.
    let state = state.into_inner();
    actix_web::rt::spawn(async move {
        let result = async {
            if let Some(user) = state.store.users().find_by_email(&email).await?.map(|v| v.value) {
                mail_token(&state, &user, TokenPurpose::PasswordReset, OffsetDateTime::now_utc()).await?;
            }
            Ok::<_, ApiError>(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(error = %e, "password reset mail failed");
        }
    });
    Ok(HttpResponse::Accepted().json(Empty {}))
}

fn invalid_token() -> ApiError {
    ApiError::BadRequest { code: "invalid_token", message: "the token is invalid, expired or already used".into() }
}

/// Set a new password with the emailed token (single use). Every session and every other
/// reset token of the account is revoked. Alias: `POST /api/auth/password-confirm`.
#[utoipa::path(post, path = "/api/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirmBody,
    responses((status = 204), (status = 400, body = ErrorEnvelope), (status = 429, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn password_reset_confirm(
    state: web::Data<AppState>,
    body: web::Json<PasswordResetConfirmBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let token = required(&mut f, "token", body.token.as_deref(), |t| Ok(t.trim().to_string()));
    let password = required(&mut f, "new_password", body.new_password.as_deref(), Password::parse);
    f.into_result()?;
    let (Some(token), Some(password)) = (token, password) else {
        return Err(ApiError::internal("validated fields missing"));
    };
    let hash = state.hasher.hash(&password).await?;
    let now = OffsetDateTime::now_utc();
    let user_id = state
        .store
        .one_time_tokens()
        .consume(&hash_token(&token), TokenPurpose::PasswordReset, now)
        .await?
        .ok_or_else(invalid_token)?;
    state
        .store
        .users()
        .update(user_id, |u| {
            u.password_hash = hash.clone();
            // The other reset tokens of the account stop working too.
            u.revoke_reset_tokens();
            // Receiving the email proves the address.
            u.email_verified = true;
            u.updated_at = now;
        })
        .await?
        .ok_or_else(invalid_token)?;
    let revoked = state.store.sessions().revoke_all_for_user(user_id, None, now).await?;
    tracing::info!(user_id = %user_id, revoked, "password reset");
    Ok(HttpResponse::NoContent().finish())
}

/// Confirm the email address with the emailed token (single use).
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth", request_body = TokenBody,
    responses((status = 204), (status = 400, body = ErrorEnvelope)))]
pub async fn verify_email(state: web::Data<AppState>, body: web::Json<TokenBody>) -> Result<HttpResponse, ApiError> {
    let token = body.token.as_deref().ok_or_else(|| ApiError::invalid_field("token", "is required"))?;
    let now = OffsetDateTime::now_utc();
    let user_id = state
        .store
        .one_time_tokens()
        .consume(&hash_token(token.trim()), TokenPurpose::EmailVerification, now)
        .await?
        .ok_or_else(invalid_token)?;
    state
        .store
        .users()
        .update(user_id, |u| {
            u.email_verified = true;
            u.updated_at = now;
        })
        .await?
        .ok_or_else(invalid_token)?;
    tracing::info!(user_id = %user_id, "email verified");
    Ok(HttpResponse::NoContent().finish())
}

/// Send a new verification email to the caller.
#[utoipa::path(post, path = "/api/auth/verify-email/resend", tag = "auth", security(("bearer" = [])),
    responses((status = 202, body = Empty), (status = 401, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)))]
pub async fn verify_email_resend(state: web::Data<AppState>, auth: AuthUser) -> Result<HttpResponse, ApiError> {
    let user = load_user(&state, auth.id).await?;
    if user.email_verified {
        return Err(ApiError::Conflict {
            code: "already_verified",
            message: "the email address is already verified".into(),
        });
    }
    mail_token(&state, &user, TokenPurpose::EmailVerification, OffsetDateTime::now_utc()).await?;
    Ok(HttpResponse::Accepted().json(Empty {}))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    use super::paths;
    for p in paths("/api/auth/login") {
        cfg.service(web::resource(p).route(web::post().to(login)));
    }
    for p in paths("/api/auth/refresh") {
        cfg.service(web::resource(p).route(web::post().to(refresh)));
    }
    for p in paths("/api/auth/verify") {
        cfg.service(web::resource(p).route(web::post().to(verify)));
    }
    for p in paths("/api/auth/password-reset/confirm") {
        cfg.service(web::resource(p).route(web::post().to(password_reset_confirm)));
    }
    cfg.service(web::resource("/api/auth/register").route(web::post().to(register)))
        .service(web::resource("/api/auth/session").route(web::post().to(session_login)))
        .service(web::resource("/api/auth/logout").route(web::post().to(logout)))
        .service(web::resource("/api/auth/me").route(web::get().to(me)).route(web::patch().to(patch_me)))
        .service(web::resource("/api/auth/password/change").route(web::post().to(password_change)))
        .service(web::resource("/api/auth/password-reset").route(web::post().to(password_reset)))
        .service(web::resource("/api/auth/verify-email").route(web::post().to(verify_email)))
        .service(web::resource("/api/auth/verify-email/resend").route(web::post().to(verify_email_resend)));
}
