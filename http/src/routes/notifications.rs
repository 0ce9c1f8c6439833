//! Notifications over REST: list (`?unread=true`), unread count, mark read, read all,
//! delete, preferences, and an admin announcement route that goes through the broker.
//! Changes push a fresh `unread` frame to the user's live connections.

use std::collections::BTreeMap;

use actix_web::{web, HttpResponse};
use agora_actors::broker::{NewNotification, Notify};
use agora_actors::protocol::NotificationView;
use agora_actors::registry::RefreshUnread;
use agora_engine::{ActionUrl, Channels, Digest, FieldErrors, NotificationId, NotificationType, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `true`: only unread ones.
    pub unread: Option<bool>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// My notifications, newest first.
#[utoipa::path(get, path = "/api/notifications", tag = "notifications", params(ListQuery),
    responses((status = 200, description = "{results: [Notification], next_cursor}"), (status = 400, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let (items, next_cursor) = state
        .store
        .notifications()
        .list(user.id, q.unread.unwrap_or(false), page.limit()?, page.cursor()?, OffsetDateTime::now_utc())
        .await?;
    let results: Vec<NotificationView> = items.iter().map(NotificationView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UnreadCount {
    /// Unread notifications.
    pub count: i64,
    /// Conversations with unread messages (among the 100 most recent).
    pub conversations: u64,
}

#[utoipa::path(get, path = "/api/notifications/unread-count", tag = "notifications",
    responses((status = 200, body = UnreadCount)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn unread_count(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let (count, conversations) = agora_actors::unread_counts(&state.store, user.id, OffsetDateTime::now_utc()).await?;
    Ok(HttpResponse::Ok().json(UnreadCount { count, conversations }))
}

fn notification_id(raw: &str) -> Result<NotificationId, ApiError> {
    NotificationId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// Marks one notification read (idempotent).
#[utoipa::path(post, path = "/api/notifications/{id}/read", tag = "notifications", params(("id" = String, Path)),
    responses((status = 200, description = "the notification"), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn mark_read(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = notification_id(&path)?;
    let n = state
        .store
        .notifications()
        .mark_read(user.id, id, OffsetDateTime::now_utc())
        .await?
        .ok_or(ApiError::NotFound)?;
    state.hub.sessions.do_send(RefreshUnread { user: user.id });
    Ok(HttpResponse::Ok().json(NotificationView::from(&n)))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadAll {
    pub updated: usize,
}

/// Marks every notification read.
#[utoipa::path(post, path = "/api/notifications/read-all", tag = "notifications",
    responses((status = 200, body = ReadAll)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn read_all(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    let updated = state.store.notifications().mark_all_read(user.id, OffsetDateTime::now_utc()).await?;
    state.hub.sessions.do_send(RefreshUnread { user: user.id });
    Ok(HttpResponse::Ok().json(ReadAll { updated }))
}

#[utoipa::path(delete, path = "/api/notifications/{id}", tag = "notifications", params(("id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = notification_id(&path)?;
    if !state.store.notifications().delete(user.id, id, OffsetDateTime::now_utc()).await? {
        return Err(ApiError::NotFound);
    }
    state.hub.sessions.do_send(RefreshUnread { user: user.id });
    Ok(HttpResponse::NoContent().finish())
}

/// Every type with its switches, and the digest cadence.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PreferencesView {
    /// `{"<type>": {"in_app": bool, "email": bool}}` for every type.
    #[schema(value_type = Object)]
    pub types: BTreeMap<String, ChannelsView>,
    /// `none`, `daily` or `weekly`.
    pub digest: String,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelsView {
    pub in_app: bool,
    pub email: bool,
}

fn view(p: &agora_engine::Preferences) -> PreferencesView {
    let complete = p.complete();
    PreferencesView {
        types: complete
            .types
            .iter()
            .map(|(t, c)| (t.as_str().to_string(), ChannelsView { in_app: c.in_app, email: c.email }))
            .collect(),
        digest: complete.digest.as_str().to_string(),
    }
}

#[utoipa::path(get, path = "/api/notifications/preferences", tag = "notifications",
    responses((status = 200, body = PreferencesView)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get_preferences(state: web::Data<AppState>, user: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(view(&state.store.notifications().preferences(user.id).await?)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PreferencesBody {
    /// Types to change; each switch is optional (unchanged when absent).
    #[schema(value_type = Option<Object>)]
    pub types: Option<BTreeMap<String, ChannelsPatch>>,
    pub digest: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ChannelsPatch {
    pub in_app: Option<bool>,
    pub email: Option<bool>,
}

/// Changes preferences (a partial document: what is absent stays as it was).
#[utoipa::path(put, path = "/api/notifications/preferences", tag = "notifications", request_body = PreferencesBody,
    responses((status = 200, body = PreferencesView), (status = 400, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn put_preferences(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<PreferencesBody>,
) -> Result<HttpResponse, ApiError> {
    let mut prefs = state.store.notifications().preferences(user.id).await?;
    let mut f = FieldErrors::new();
    for (name, patch) in body.types.iter().flatten() {
        match NotificationType::parse(name) {
            Ok(t) => {
                let current = prefs.channels(t);
                let next = Channels {
                    in_app: patch.in_app.unwrap_or(current.in_app),
                    email: patch.email.unwrap_or(current.email),
                };
                prefs.types.insert(t, next);
            }
            Err(_) => f.add(format!("types.{name}"), "unknown notification type"),
        }
    }
    if let Some(d) = body.digest.as_deref().and_then(|raw| f.check("digest", Digest::parse(raw))) {
        prefs.digest = d;
    }
    f.into_result()?;
    state.store.notifications().set_preferences(user.id, &prefs).await?;
    Ok(HttpResponse::Ok().json(view(&prefs)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct AnnouncementBody {
    pub user_id: Option<String>,
    /// `info`, `success`, `warning` or `error` (default `info`).
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub title: Option<String>,
    pub message: Option<String>,
    pub action_url: Option<String>,
    /// RFC 3339; after it the notification disappears from lists and counts.
    pub expires_at: Option<String>,
}

/// Admin: sends a notification to one user through the broker (preferences apply).
#[utoipa::path(post, path = "/api/admin/notifications", tag = "notifications", request_body = AnnouncementBody,
    responses((status = 201, description = "the notification"), (status = 202, description = "the user turned in-app off"),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn announce(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<AnnouncementBody>,
) -> Result<HttpResponse, ApiError> {
    if !user.role.is_admin() {
        return Err(ApiError::Forbidden("admins only"));
    }
    let mut f = FieldErrors::new();
    let target = match body.user_id.as_deref().map(UserId::parse) {
        None => {
            f.add("user_id", "is required");
            None
        }
        Some(r) => f.check("user_id", r),
    };
    let kind = match body.kind.as_deref().unwrap_or("info") {
        k @ ("info" | "success" | "warning" | "error") => NotificationType::parse(k).ok(),
        _ => {
            f.add("type", "must be info, success, warning or error");
            None
        }
    };
    use agora_engine::notification::{MAX_MESSAGE_CHARS, MAX_TITLE_CHARS};
    let title = crate::market::required_text(&mut f, "title", body.title.as_deref(), 1, MAX_TITLE_CHARS);
    let message = crate::market::required_text(&mut f, "message", body.message.as_deref(), 1, MAX_MESSAGE_CHARS);
    let now = OffsetDateTime::now_utc();
    let expires_at = match body.expires_at.as_deref() {
        None => None,
        Some(raw) => match OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339) {
            Ok(at) if at > now => Some(at),
            Ok(_) => {
                f.add("expires_at", "must be in the future");
                None
            }
            Err(_) => {
                f.add("expires_at", "must be an RFC 3339 timestamp");
                None
            }
        },
    };
    let action_url = match body.action_url.as_deref() {
        None => None,
        Some(raw) => f.check("action_url", ActionUrl::parse(raw)).map(ActionUrl::into_string),
    };
    f.into_result()?;
    let (Some(target), Some(kind), Some(title), Some(message)) = (target, kind, title, message) else {
        return Err(ApiError::invalid_field("body", "is incomplete"));
    };
    if state.store.users().get(target).await?.is_none() {
        return Err(ApiError::invalid_field("user_id", "no such user"));
    }
    let stored = state
        .hub
        .broker
        .send(Notify(NewNotification {
            user: target,
            kind,
            title,
            message,
            action_url,
            actor_id: Some(user.id),
            object_type: None,
            object_id: None,
            expires_at,
            id: None,
        }))
        .await??;
    Ok(match stored {
        Some(n) => HttpResponse::Created().json(NotificationView::from(&n)),
        None => HttpResponse::Accepted().finish(),
    })
}

pub fn config(cfg: &mut web::ServiceConfig) {
    use super::paths;
    for p in paths("/api/notifications") {
        cfg.service(web::resource(p).route(web::get().to(list)));
    }
    for p in paths("/api/notifications/unread-count") {
        cfg.service(web::resource(p).route(web::get().to(unread_count)));
    }
    for p in paths("/api/notifications/read-all") {
        cfg.service(web::resource(p).route(web::post().to(read_all)));
    }
    for p in paths("/api/notifications/preferences") {
        cfg.service(web::resource(p).route(web::get().to(get_preferences)).route(web::put().to(put_preferences)));
    }
    for p in paths("/api/notifications/{id}/read") {
        cfg.service(web::resource(p).route(web::post().to(mark_read)));
    }
    for p in paths("/api/notifications/{id}") {
        cfg.service(web::resource(p).route(web::delete().to(delete)));
    }
    cfg.service(web::resource("/api/admin/notifications").route(web::post().to(announce)));
}
