//! Messaging over REST: conversations, message history and sending, read cursors, message
//! edits and deletes, and blocks. Writes go through the same conversation actors as
//! WebSocket frames, so REST sends get the same `seq`, durability and live fan-out.
//! Members only: any conversation or message the caller is not a member of is a 404.

use agora_actors::protocol::rfc3339;
use std::time::Instant;

use actix_web::{web, HttpResponse};
use agora_actors::conversation::{DeleteMessage, EditMessage, MarkRead, SendMessage};
use agora_actors::protocol::MessageView;
use agora_engine::{
    AttachmentId, ClientMsgId, ConversationId, FieldErrors, MessageBody, MessageId, NewConversation, UserId,
};
use agora_storage::chat::{Block, Conversation, MemberView};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{optional, required, ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::state::AppState;

/// A conversation as a member sees it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: String,
    /// `direct` (two people, unique per pair) or `group`.
    pub kind: String,
    pub title: Option<String>,
    pub participant_ids: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    pub last_activity_at: String,
    /// The seq of the newest message (0 when empty).
    pub last_seq: u64,
    #[schema(value_type = Option<Object>)]
    pub last_message: Option<MessageView>,
    pub unread_count: u64,
    /// The caller's read cursor.
    pub read_seq: u64,
    /// Every member's read cursor (member id → seq), as the live `read` frames carry them;
    /// on `GET /api/conversations/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub read_seqs: Option<std::collections::BTreeMap<String, u64>>,
}

impl ConversationView {
    fn of(c: &Conversation, read_seq: u64) -> Self {
        ConversationView {
            id: c.id.to_string(),
            kind: match c.kind {
                agora_engine::ConversationKind::Direct => "direct".into(),
                agora_engine::ConversationKind::Group => "group".into(),
            },
            title: c.title.clone(),
            participant_ids: c.members.iter().map(ToString::to_string).collect(),
            created_by: c.created_by.to_string(),
            created_at: rfc3339(c.created_at),
            last_activity_at: rfc3339(c.last_activity),
            last_seq: c.last_seq,
            last_message: c.last_message.as_ref().map(MessageView::from),
            unread_count: c.last_seq.saturating_sub(read_seq),
            read_seq,
            read_seqs: None,
        }
    }
}

impl From<&MemberView> for ConversationView {
    fn from(v: &MemberView) -> Self {
        ConversationView::of(&v.conversation, v.read_seq)
    }
}

fn conversation_id(raw: &str) -> Result<ConversationId, ApiError> {
    ConversationId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// The conversation, if the caller is a member; 404 otherwise.
async fn member_conversation(state: &AppState, user: UserId, id: ConversationId) -> Result<Conversation, ApiError> {
    state.store.chat().get(id).await?.map(|v| v.value).filter(|c| c.is_member(user)).ok_or(ApiError::NotFound)
}

/// My conversations, newest activity first, each with its last message and unread count.
#[utoipa::path(get, path = "/api/conversations", tag = "messaging", params(PageQuery),
    responses((status = 200, description = "{results: [ConversationView], next_cursor}"), (status = 401, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (views, next_cursor) = state.store.chat().list_for_user(user.id, q.limit()?, q.cursor()?).await?;
    let results: Vec<ConversationView> = views.iter().map(ConversationView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateBody {
    /// The other members (the caller is always a member).
    pub participant_ids: Option<Vec<String>>,
    /// Optional; a titled conversation is a group even with two members.
    pub title: Option<String>,
}

/// Starts a conversation. Two people without a title make a direct conversation, unique
/// per pair: asking again answers the existing one (200 instead of 201).
#[utoipa::path(post, path = "/api/conversations", tag = "messaging", request_body = CreateBody,
    responses((status = 201, body = ConversationView), (status = 200, body = ConversationView),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope, description = "a participant has blocked you")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<CreateBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let mut participants = Vec::new();
    match &body.participant_ids {
        None => f.add("participant_ids", "is required"),
        Some(ids) => {
            for raw in ids {
                match UserId::parse(raw) {
                    Ok(id) => participants.push(id),
                    Err(_) => f.add("participant_ids", format!("{raw:?} is not a user id")),
                }
            }
        }
    }
    f.into_result()?;
    let mut f = FieldErrors::new();
    let new = f.check("participant_ids", NewConversation::parse(user.id, &participants, body.title.as_deref()));
    f.into_result()?;
    let Some(new) = new else { return Err(ApiError::invalid_field("participant_ids", "is invalid")) };
    let mut f = FieldErrors::new();
    for member in new.members.iter().filter(|m| **m != user.id) {
        if state.store.users().get(*member).await?.is_none() {
            f.add("participant_ids", format!("no user {member}"));
        }
    }
    f.into_result()?;
    if !state.store.chat().blocked_by(user.id, &new.members).await?.is_empty() {
        return Err(ApiError::Refused { code: "blocked", message: "you cannot start a conversation with this user" });
    }
    let id = ConversationId::from_uuid(uuid::Uuid::now_v7());
    let (conversation, created) =
        state.store.chat().create_conversation(id, user.id, new, OffsetDateTime::now_utc()).await?;
    let read_seq = state.store.chat().read_cursor(conversation.id, user.id).await?.seq;
    let view = ConversationView::of(&conversation, read_seq);
    tracing::info!(conversation = %conversation.id, created, "conversation");
    Ok(if created { HttpResponse::Created().json(view) } else { HttpResponse::Ok().json(view) })
}

/// One conversation (members only).
#[utoipa::path(get, path = "/api/conversations/{id}", tag = "messaging",
    params(("id" = String, Path)), responses((status = 200, body = ConversationView), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let c = member_conversation(&state, user.id, conversation_id(&path)?).await?;
    let cursors = state.store.chat().read_cursors(c.id).await?;
    let read_seq = cursors.iter().find(|(u, _)| *u == user.id).map_or(0, |(_, r)| r.seq);
    let mut view = ConversationView::of(&c, read_seq);
    view.read_seqs = Some(
        c.members
            .iter()
            .map(|m| (m.to_string(), cursors.iter().find(|(u, _)| u == m).map_or(0, |(_, r)| r.seq)))
            .collect(),
    );
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only messages with a smaller seq (default: from the newest).
    pub before_seq: Option<u64>,
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page (same as `before_seq`).
    pub cursor: Option<String>,
}

/// Message history, newest first. `next_cursor` is the `before_seq` of the next page.
#[utoipa::path(get, path = "/api/conversations/{id}/messages", tag = "messaging",
    params(("id" = String, Path), HistoryQuery),
    responses((status = 200, description = "{results: [Message], next_cursor}"), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn history(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    history_page(&state, &user, conversation_id(&path)?, &q).await
}

/// One page of a conversation's history, newest first (`GET /api/conversations/{id}/messages`
/// and `GET /api/messages?conversation=`).
async fn history_page(
    state: &AppState,
    user: &AuthUser,
    id: ConversationId,
    q: &HistoryQuery,
) -> Result<HttpResponse, ApiError> {
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let c = member_conversation(state, user.id, id).await?;
    let before = match (&q.cursor, q.before_seq) {
        (Some(c), _) if !c.is_empty() => c
            .parse::<u64>()
            .map_err(|_| ApiError::BadRequest { code: "invalid_cursor", message: "invalid cursor".into() })?,
        (_, Some(b)) => b,
        _ => c.last_seq.saturating_add(1),
    };
    let messages = page_before(state, &c, before, limit).await?;
    let next_cursor = messages.last().filter(|m| m.seq > 1 && messages.len() == limit).map(|m| m.seq.to_string());
    let results: Vec<MessageView> = messages.iter().map(MessageView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendBody {
    /// The text; may be empty (or absent) when `attachment_ids` names at least one file.
    pub body: Option<String>,
    /// Idempotency key: a retry with the same value answers the original message.
    pub client_msg_id: Option<String>,
    /// Up to 10 of the caller's uploaded attachments (`POST /api/uploads`), not attached
    /// elsewhere; `attachments` is accepted as an alias.
    #[serde(default, alias = "attachments")]
    pub attachment_ids: Vec<String>,
}

/// Sends a message (also delivered live). 201 with the message; 200 with the original when
/// `client_msg_id` was used before.
#[utoipa::path(post, path = "/api/conversations/{id}/messages", tag = "messaging",
    params(("id" = String, Path)), request_body = SendBody,
    responses((status = 201, description = "the message"), (status = 200, description = "the original message (retry)"),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn send(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<SendBody>,
) -> Result<HttpResponse, ApiError> {
    send_to(&state, &user, conversation_id(&path)?, &body).await
}

/// Up to `limit` messages of `c` with a seq below `before`, newest first. The head's last
/// message is durable even while its rows are being written, so it is taken from the head.
async fn page_before(
    state: &AppState,
    c: &agora_storage::chat::Conversation,
    before: u64,
    limit: usize,
) -> Result<Vec<agora_storage::chat::Message>, ApiError> {
    let mut page = state.store.chat().messages_before(c.id, before, limit).await?;
    if let Some(last) = c.last_message.as_ref().filter(|m| m.seq < before) {
        if page.first().is_none_or(|m| m.seq < last.seq) {
            page.insert(0, last.clone());
            page.truncate(limit);
        }
    }
    Ok(page)
}

/// How many of the caller's conversations (the most recently active) `GET /api/messages`
/// merges when it is not filtered by conversation.
const MERGED_CONVERSATIONS: usize = 100;
/// How many pages of one conversation a merged page reads at most to get past messages
/// newer than its cursor (sent after the previous page was read).
const MERGE_PAGES: usize = 5;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Only this conversation's messages (then `cursor` is its `before_seq`, as in the
    /// conversation's history).
    pub conversation: Option<String>,
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Where a merged page ended: the last message's `(sent_at, id)`, and for each conversation
/// it drew from, the seq below which it goes on.
#[derive(Debug, Default, Serialize, Deserialize)]
struct MergeCursor {
    /// `sent_at` of the last message, in microseconds since the epoch.
    t: i128,
    id: String,
    f: std::collections::BTreeMap<String, u64>,
}

fn invalid_cursor() -> ApiError {
    ApiError::BadRequest { code: "invalid_cursor", message: "invalid cursor".into() }
}

impl MergeCursor {
    fn decode(raw: &str) -> Result<MergeCursor, ApiError> {
        use base64::Engine as _;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid_cursor())?;
        serde_json::from_slice(&bytes).map_err(|_| invalid_cursor())
    }

    fn encode(&self) -> Result<String, ApiError> {
        use base64::Engine as _;
        Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(self).map_err(ApiError::internal)?))
    }
}

/// A message's place in the merged order (newest first: larger is earlier in the list).
fn merge_key(m: &agora_storage::chat::Message) -> (i128, String) {
    (m.sent_at.unix_timestamp_nanos() / 1_000, m.id.to_string())
}

/// Messages of the caller's conversations, newest first (the seeds' `GET /api/messages/`),
/// or of one with `?conversation=`. Unfiltered, it merges the caller's 100 most recently
/// active conversations; its cursor is opaque.
#[utoipa::path(get, path = "/api/messages", tag = "messaging", params(MessagesQuery),
    responses((status = 200, description = "{results: [Message], next_cursor}"), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "not a member of `conversation`")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_messages(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<MessagesQuery>,
) -> Result<HttpResponse, ApiError> {
    if let Some(raw) = q.conversation.as_deref() {
        let history = HistoryQuery { before_seq: None, limit: q.limit, cursor: q.cursor.clone() };
        return history_page(&state, &user, conversation_id(raw)?, &history).await;
    }
    let limit = PageQuery { limit: q.limit, cursor: None }.limit()?;
    let mut cursor = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(raw) => Some(MergeCursor::decode(raw)?),
        None => None,
    };
    let boundary = cursor.as_ref().map(|c| (c.t, c.id.clone()));
    let chat = state.store.chat();
    let conversations = chat.conversations_of(user.id, MERGED_CONVERSATIONS).await?;
    let mut candidates = Vec::new();
    for c in &conversations {
        let key = c.id.to_string();
        let mut before = cursor.as_ref().and_then(|k| k.f.get(&key).copied()).unwrap_or(c.last_seq.saturating_add(1));
        let mut taken = Vec::new();
        for _ in 0..MERGE_PAGES {
            let page = page_before(&state, c, before, limit).await?;
            let full = page.len() == limit;
            let Some(oldest) = page.last().map(|m| m.seq) else { break };
            before = oldest;
            taken.extend(page.into_iter().filter(|m| boundary.as_ref().is_none_or(|b| merge_key(m) < *b)));
            if !full || taken.len() >= limit {
                break;
            }
        }
        taken.truncate(limit);
        candidates.extend(taken);
    }
    candidates.sort_by_key(|m| std::cmp::Reverse(merge_key(m)));
    candidates.truncate(limit);
    let next_cursor = match candidates.last().filter(|_| candidates.len() == limit) {
        Some(last) => {
            let mut next = cursor.take().unwrap_or_default();
            (next.t, next.id) = merge_key(last);
            for m in &candidates {
                let e = next.f.entry(m.conversation_id.to_string()).or_insert(m.seq);
                *e = (*e).min(m.seq);
            }
            Some(next.encode()?)
        }
        None => None,
    };
    let results: Vec<MessageView> = candidates.iter().map(MessageView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct MessageBodyWithConversation {
    /// The conversation's id.
    pub conversation: Option<String>,
    pub body: Option<String>,
    pub client_msg_id: Option<String>,
    #[serde(default, alias = "attachments")]
    pub attachment_ids: Vec<String>,
}

/// Sends a message to `conversation` (the seeds' `POST /api/messages/`): the same as
/// `POST /api/conversations/{conversation}/messages`.
#[utoipa::path(post, path = "/api/messages", tag = "messaging", request_body = MessageBodyWithConversation,
    responses((status = 201, description = "the message"), (status = 200, description = "the original message (retry)"),
        (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn send_message(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<MessageBodyWithConversation>,
) -> Result<HttpResponse, ApiError> {
    let Some(raw) = body.conversation.as_deref() else {
        return Err(ApiError::invalid_field("conversation", "is required"));
    };
    let id = ConversationId::parse(raw).map_err(|_| ApiError::invalid_field("conversation", "must be a UUID"))?;
    let send = SendBody {
        body: body.body.clone(),
        client_msg_id: body.client_msg_id.clone(),
        attachment_ids: body.attachment_ids.clone(),
    };
    send_to(&state, &user, id, &send).await
}

async fn send_to(
    state: &AppState,
    user: &AuthUser,
    conversation_id: ConversationId,
    body: &SendBody,
) -> Result<HttpResponse, ApiError> {
    let origin = Instant::now();
    let mut f = FieldErrors::new();
    let mut attachments = Vec::with_capacity(body.attachment_ids.len());
    for raw in &body.attachment_ids {
        if let Some(id) = f.check("attachment_ids", AttachmentId::parse(raw)) {
            attachments.push(id);
        }
    }
    let n = body.attachment_ids.len();
    let raw_body = body.body.as_deref().or(if n > 0 { Some("") } else { None });
    let text = required(&mut f, "body", raw_body, |b| MessageBody::parse_with_attachments(b, n));
    let client_msg_id = optional(&mut f, "client_msg_id", body.client_msg_id.as_deref(), ClientMsgId::parse);
    f.into_result()?;
    let Some(text) = text else { return Err(ApiError::invalid_field("body", "is required")) };
    let sent = state
        .hub
        .conversations
        .send(SendMessage { conversation_id, sender: user.id, body: text, client_msg_id, attachments, origin })
        .await??;
    let view = MessageView::from(&sent.message);
    Ok(if sent.duplicate { HttpResponse::Ok().json(view) } else { HttpResponse::Created().json(view) })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReadBody {
    pub seq: Option<u64>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadView {
    pub conversation_id: String,
    /// The read cursor afterwards (never moves back, never past the last message).
    pub seq: u64,
}

/// Marks the conversation read up to `seq`; the other members get a `read` receipt.
#[utoipa::path(post, path = "/api/conversations/{id}/read", tag = "messaging",
    params(("id" = String, Path)), request_body = ReadBody,
    responses((status = 200, body = ReadView), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn read(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ReadBody>,
) -> Result<HttpResponse, ApiError> {
    let conversation_id = conversation_id(&path)?;
    let seq = body.seq.ok_or_else(|| ApiError::invalid_field("seq", "is required"))?;
    let seq = state.hub.conversations.send(MarkRead { conversation_id, user: user.id, seq }).await??;
    Ok(HttpResponse::Ok().json(ReadView { conversation_id: conversation_id.to_string(), seq }))
}

fn message_id(raw: &str) -> Result<MessageId, ApiError> {
    MessageId::parse(raw).map_err(|_| ApiError::NotFound)
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct EditBody {
    pub body: Option<String>,
}

/// Edits a message (sender only; members see `message_edited`).
#[utoipa::path(patch, path = "/api/messages/{id}", tag = "messaging",
    params(("id" = String, Path)), request_body = EditBody,
    responses((status = 200, description = "the edited message"), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn edit_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<EditBody>,
) -> Result<HttpResponse, ApiError> {
    let message_id = message_id(&path)?;
    let mut f = FieldErrors::new();
    let text = required(&mut f, "body", body.body.as_deref(), MessageBody::parse);
    f.into_result()?;
    let Some(text) = text else { return Err(ApiError::invalid_field("body", "is required")) };
    let m = state.store.chat().get_message(message_id).await?.ok_or(ApiError::NotFound)?;
    let edited = state
        .hub
        .conversations
        .send(EditMessage { conversation_id: m.conversation_id, actor: user.id, message_id, body: text })
        .await??;
    Ok(HttpResponse::Ok().json(MessageView::from(&edited)))
}

/// Deletes a message (sender only; its seq stays, its body goes; members see `message_deleted`).
#[utoipa::path(delete, path = "/api/messages/{id}", tag = "messaging", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_message(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let message_id = message_id(&path)?;
    let m = state.store.chat().get_message(message_id).await?.ok_or(ApiError::NotFound)?;
    state
        .hub
        .conversations
        .send(DeleteMessage { conversation_id: m.conversation_id, actor: user.id, message_id })
        .await??;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockView {
    pub user_id: String,
    pub created_at: String,
}

impl From<&Block> for BlockView {
    fn from(b: &Block) -> Self {
        BlockView { user_id: b.blocked_id.to_string(), created_at: rfc3339(b.created_at) }
    }
}

/// Users I have blocked.
#[utoipa::path(get, path = "/api/blocks", tag = "messaging", params(PageQuery),
    responses((status = 200, description = "{results: [BlockView], next_cursor}")), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn list_blocks(
    state: web::Data<AppState>,
    user: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (blocks, next_cursor) = state.store.chat().blocks(user.id, q.limit()?, q.cursor()?).await?;
    let results: Vec<BlockView> = blocks.iter().map(BlockView::from).collect();
    Ok(HttpResponse::Ok().json(Paged { results, next_cursor }))
}

fn blocked_user(raw: &str) -> Result<UserId, ApiError> {
    UserId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// Whether I block this user (404 when not).
#[utoipa::path(get, path = "/api/blocks/{user_id}", tag = "messaging", params(("user_id" = String, Path)),
    responses((status = 200, body = BlockView), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn get_block(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let other = blocked_user(&path)?;
    let block = state.store.chat().block_of(user.id, other).await?.ok_or(ApiError::NotFound)?;
    Ok(HttpResponse::Ok().json(BlockView::from(&block)))
}

/// Blocks a user: they can no longer message me or start a conversation with me (idempotent).
#[utoipa::path(put, path = "/api/blocks/{user_id}", tag = "messaging", params(("user_id" = String, Path)),
    responses((status = 200, body = BlockView), (status = 400, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn put_block(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let other = blocked_user(&path)?;
    if other == user.id {
        return Err(ApiError::invalid_field("user_id", "you cannot block yourself"));
    }
    if state.store.users().get(other).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    let block = state.store.chat().block(user.id, other, OffsetDateTime::now_utc()).await?;
    tracing::info!(blocked = %other, "user blocked");
    Ok(HttpResponse::Ok().json(BlockView::from(&block)))
}

/// Lifts a block (404 when there was none).
#[utoipa::path(delete, path = "/api/blocks/{user_id}", tag = "messaging", params(("user_id" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorEnvelope)), security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn delete_block(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let other = blocked_user(&path)?;
    if !state.store.chat().unblock(user.id, other).await? {
        return Err(ApiError::NotFound);
    }
    Ok(HttpResponse::NoContent().finish())
}

pub fn config(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/api/conversations").route(web::get().to(list)).route(web::post().to(create)))
        .service(web::resource("/api/conversations/{id}").route(web::get().to(get)))
        .service(
            web::resource("/api/conversations/{id}/messages").route(web::get().to(history)).route(web::post().to(send)),
        )
        .service(web::resource("/api/conversations/{id}/read").route(web::post().to(read)))
        .service(web::resource("/api/messages").route(web::get().to(list_messages)).route(web::post().to(send_message)))
        .service(
            web::resource("/api/messages/{id}")
                .route(web::patch().to(edit_message))
                .route(web::put().to(edit_message))
                .route(web::delete().to(delete_message)),
        )
        .service(web::resource("/api/blocks").route(web::get().to(list_blocks)))
        .service(
            web::resource("/api/blocks/{user_id}")
                .route(web::get().to(get_block))
                .route(web::put().to(put_block))
                .route(web::delete().to(delete_block)),
        );
}
