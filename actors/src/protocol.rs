//! The WebSocket protocol (`agora.v1.json` and `agora.v1.msgpack`): client and server
//! frames, decoding with precise errors, and [`SharedFrame`], a server frame serialized at
//! most once per encoding however many connections receive it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use agora_storage::chat::Message;
use agora_storage::notify::Notification;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const SUBPROTOCOL_JSON: &str = "agora.v1.json";
pub const SUBPROTOCOL_MSGPACK: &str = "agora.v1.msgpack";

/// Close codes.
pub const CLOSE_UNAUTHORIZED: u16 = 4001;
pub const CLOSE_POLICY: u16 = 4008;
pub const CLOSE_TOO_SLOW: u16 = 4009;
pub const CLOSE_GOING_AWAY: u16 = 1001;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Text frames, JSON.
    Json,
    /// Binary frames, MessagePack maps with field names (same shapes as JSON).
    Msgpack,
}

impl Encoding {
    /// Picks the encoding from the offered subprotocols (first known one wins; none = JSON).
    pub fn negotiate<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<Encoding> {
        for p in offered {
            match p.trim() {
                SUBPROTOCOL_JSON => return Some(Encoding::Json),
                SUBPROTOCOL_MSGPACK => return Some(Encoding::Msgpack),
                _ => {}
            }
        }
        None
    }

    pub fn subprotocol(self) -> &'static str {
        match self {
            Encoding::Json => SUBPROTOCOL_JSON,
            Encoding::Msgpack => SUBPROTOCOL_MSGPACK,
        }
    }
}

/// Frames a client sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    Send {
        conversation_id: String,
        client_msg_id: String,
        body: String,
        /// Uploaded attachment ids (at most 10); with any, `body` may be empty.
        #[serde(default, alias = "attachments")]
        attachment_ids: Vec<String>,
    },
    Edit {
        message_id: String,
        body: String,
    },
    Delete {
        message_id: String,
    },
    Read {
        conversation_id: String,
        seq: u64,
    },
    Typing {
        conversation_id: String,
        active: bool,
    },
    Sync {
        #[serde(default)]
        conversations: BTreeMap<String, u64>,
        #[serde(default)]
        notifications_after: Option<String>,
    },
    Ping {},
}

impl ClientFrame {
    pub const TYPES: [&'static str; 7] = ["send", "edit", "delete", "read", "typing", "sync", "ping"];

    /// The frame type, as a static metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientFrame::Send { .. } => "send",
            ClientFrame::Edit { .. } => "edit",
            ClientFrame::Delete { .. } => "delete",
            ClientFrame::Read { .. } => "read",
            ClientFrame::Typing { .. } => "typing",
            ClientFrame::Sync { .. } => "sync",
            ClientFrame::Ping {} => "ping",
        }
    }

    /// What an `error` frame about this frame points at.
    pub fn reference(&self) -> Option<String> {
        match self {
            ClientFrame::Send { client_msg_id, .. } => Some(client_msg_id.clone()),
            ClientFrame::Edit { message_id, .. } | ClientFrame::Delete { message_id } => Some(message_id.clone()),
            ClientFrame::Read { conversation_id, .. } | ClientFrame::Typing { conversation_id, .. } => {
                Some(conversation_id.clone())
            }
            ClientFrame::Sync { .. } | ClientFrame::Ping {} => None,
        }
    }
}

/// Why an inbound frame could not be used. Each becomes an `error` frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError {
    pub code: &'static str,
    pub message: String,
}

#[derive(Deserialize)]
struct TypeOnly {
    #[serde(rename = "type")]
    kind: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct TypeOnlyMsgpack {
    #[serde(rename = "type")]
    kind: Option<String>,
}

/// Decodes one inbound frame, telling apart bad encoding, a missing or unknown `type`,
/// and bad fields.
pub fn decode(bytes: &[u8], encoding: Encoding) -> Result<ClientFrame, FrameError> {
    let invalid = |m: String| FrameError { code: "invalid_frame", message: m };
    let (parsed, kind) = match encoding {
        Encoding::Json => {
            let parsed = serde_json::from_slice::<ClientFrame>(bytes).map_err(|e| e.to_string());
            let kind = match serde_json::from_slice::<TypeOnly>(bytes) {
                Ok(TypeOnly { kind: Some(serde_json::Value::String(s)) }) => Ok(Some(s)),
                Ok(TypeOnly { kind: Some(_) }) => Err(invalid("`type` must be a string".into())),
                Ok(TypeOnly { kind: None }) => Ok(None),
                Err(e) => Err(invalid(format!("not a JSON object: {e}"))),
            };
            (parsed, kind)
        }
        Encoding::Msgpack => {
            let parsed = rmp_serde::from_slice::<ClientFrame>(bytes).map_err(|e| e.to_string());
            let kind = rmp_serde::from_slice::<TypeOnlyMsgpack>(bytes)
                .map(|t| t.kind)
                .map_err(|e| invalid(format!("not a MessagePack map with a string `type`: {e}")));
            (parsed, kind)
        }
    };
    match parsed {
        Ok(frame) => Ok(frame),
        Err(detail) => match kind? {
            None => Err(FrameError { code: "invalid_frame", message: "every frame needs a `type`".into() }),
            Some(k) if !ClientFrame::TYPES.contains(&k.as_str()) => {
                Err(FrameError { code: "unknown_type", message: format!("unknown frame type {k:?}") })
            }
            Some(k) => Err(invalid(format!("bad `{k}` frame: {detail}"))),
        },
    }
}

/// A timestamp as the API writes it everywhere: RFC 3339, UTC.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

/// A chat message as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageView {
    pub id: String,
    pub conversation_id: String,
    pub seq: u64,
    pub sender_id: String,
    pub body: String,
    pub sent_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub client_msg_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub edited_at: Option<String>,
    pub deleted: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attachments: Vec<AttachmentView>,
}

/// A file attached to a message, as clients see it. `thumbnail_url` (images) answers,
/// for a member, a redirect to a short-lived signed link; `GET /api/attachments/{id}`
/// gives the signed `url` of the file itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachmentView {
    pub id: String,
    pub kind: String,
    pub name: String,
    pub size: u64,
    #[serde(rename = "type")]
    pub content_type: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub duration_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub peaks: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pages: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub thumbnail_url: Option<String>,
}

impl From<&agora_storage::chat::MessageAttachment> for AttachmentView {
    fn from(a: &agora_storage::chat::MessageAttachment) -> Self {
        AttachmentView {
            id: a.id.to_string(),
            kind: a.kind.as_str().to_string(),
            name: a.name.clone(),
            size: a.size,
            content_type: a.content_type.clone(),
            width: a.width,
            height: a.height,
            duration_ms: a.duration_ms,
            peaks: a.peaks.clone(),
            pages: a.pages,
            thumbnail_url: a.thumbnail.then(|| format!("/api/attachments/{}/thumbnail", a.id)),
        }
    }
}

impl From<&Message> for MessageView {
    fn from(m: &Message) -> Self {
        MessageView {
            id: m.id.to_string(),
            conversation_id: m.conversation_id.to_string(),
            seq: m.seq,
            sender_id: m.sender_id.to_string(),
            body: if m.deleted { String::new() } else { m.body.clone() },
            sent_at: rfc3339(m.sent_at),
            client_msg_id: m.client_msg_id.clone(),
            edited_at: m.edited_at.map(rfc3339),
            deleted: m.deleted,
            attachments: if m.deleted { Vec::new() } else { m.attachments.iter().map(AttachmentView::from).collect() },
        }
    }
}

/// A notification as clients see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationView {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub action_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub object_id: Option<String>,
    pub read: bool,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expires_at: Option<String>,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        NotificationView {
            id: n.id.to_string(),
            kind: n.kind.as_str().to_string(),
            title: n.title.clone(),
            message: n.message.clone(),
            action_url: n.action_url.clone(),
            actor_id: n.actor_id.map(|a| a.to_string()),
            object_type: n.object_type.clone(),
            object_id: n.object_id.clone(),
            read: n.read,
            created_at: rfc3339(n.created_at),
            expires_at: n.expires_at.map(rfc3339),
        }
    }
}

/// Frames the server sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    Hello {
        user_id: String,
        connection_id: u64,
        heartbeat_ms: u64,
        server_time: String,
    },
    Message {
        conversation_id: String,
        message_id: String,
        seq: u64,
        sender_id: String,
        body: String,
        sent_at: String,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        client_msg_id: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        edited_at: Option<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not", default)]
        deleted: bool,
        #[serde(skip_serializing_if = "Vec::is_empty", default)]
        attachments: Vec<AttachmentView>,
    },
    MessageEdited {
        conversation_id: String,
        message_id: String,
        seq: u64,
        body: String,
        edited_at: String,
    },
    MessageDeleted {
        conversation_id: String,
        message_id: String,
        seq: u64,
    },
    Read {
        conversation_id: String,
        user_id: String,
        seq: u64,
    },
    Typing {
        conversation_id: String,
        user_id: String,
        active: bool,
    },
    Presence {
        user_id: String,
        online: bool,
    },
    /// The notification object sits under `notification` (its own `type` field would
    /// clash with the frame's).
    Notification {
        notification: NotificationView,
    },
    Unread {
        notifications: i64,
        conversations: u64,
    },
    Ack {
        conversation_id: String,
        client_msg_id: String,
        message_id: String,
        seq: u64,
        sent_at: String,
    },
    Error {
        code: String,
        message: String,
        #[serde(rename = "ref", skip_serializing_if = "Option::is_none", default)]
        reference: Option<String>,
    },
    Pong {},
    Synced {},
}

impl ServerFrame {
    pub fn message(m: &Message) -> Self {
        let v = MessageView::from(m);
        ServerFrame::Message {
            conversation_id: v.conversation_id,
            message_id: v.id,
            seq: v.seq,
            sender_id: v.sender_id,
            body: v.body,
            sent_at: v.sent_at,
            client_msg_id: v.client_msg_id,
            edited_at: v.edited_at,
            deleted: v.deleted,
            attachments: v.attachments,
        }
    }

    pub fn error(code: &str, message: impl Into<String>, reference: Option<String>) -> Self {
        ServerFrame::Error { code: code.to_string(), message: message.into(), reference }
    }

    /// The frame type, as a static metric label.
    pub fn kind(&self) -> &'static str {
        match self {
            ServerFrame::Hello { .. } => "hello",
            ServerFrame::Message { .. } => "message",
            ServerFrame::MessageEdited { .. } => "message_edited",
            ServerFrame::MessageDeleted { .. } => "message_deleted",
            ServerFrame::Read { .. } => "read",
            ServerFrame::Typing { .. } => "typing",
            ServerFrame::Presence { .. } => "presence",
            ServerFrame::Notification { .. } => "notification",
            ServerFrame::Unread { .. } => "unread",
            ServerFrame::Ack { .. } => "ack",
            ServerFrame::Error { .. } => "error",
            ServerFrame::Pong {} => "pong",
            ServerFrame::Synced {} => "synced",
        }
    }

    pub fn encode(&self, encoding: Encoding) -> Arc<[u8]> {
        let bytes = match encoding {
            Encoding::Json => serde_json::to_vec(self).unwrap_or_default(),
            Encoding::Msgpack => rmp_serde::to_vec_named(self).unwrap_or_default(),
        };
        Arc::from(bytes)
    }
}

/// A server frame shared by every recipient of one fan-out: serialized lazily, at most once
/// per encoding. `origin` is when the client frame that caused it arrived (for latency).
#[derive(Debug)]
pub struct SharedFrame {
    pub frame: ServerFrame,
    pub origin: Option<Instant>,
    /// Fanned out by another node (its delivery latency is counted apart).
    pub remote: bool,
    json: OnceLock<Arc<[u8]>>,
    msgpack: OnceLock<Arc<[u8]>>,
}

impl SharedFrame {
    pub fn new(frame: ServerFrame) -> Arc<Self> {
        Arc::new(SharedFrame { frame, origin: None, remote: false, json: OnceLock::new(), msgpack: OnceLock::new() })
    }

    pub fn with_origin(frame: ServerFrame, origin: Instant) -> Arc<Self> {
        Arc::new(SharedFrame {
            frame,
            origin: Some(origin),
            remote: false,
            json: OnceLock::new(),
            msgpack: OnceLock::new(),
        })
    }

    /// A frame another node fanned out: decoded once, its MessagePack bytes kept as they
    /// came (MessagePack clients get them unchanged). A message's delivery latency runs
    /// from `sent`, the sending node's clock. `None` if the bytes are not a server frame.
    pub fn from_msgpack(bytes: &[u8], sent: time::OffsetDateTime) -> Option<Arc<Self>> {
        let frame: ServerFrame = rmp_serde::from_slice(bytes).ok()?;
        let origin = matches!(frame, ServerFrame::Message { .. })
            .then(|| {
                let age = std::time::Duration::try_from(time::OffsetDateTime::now_utc() - sent).unwrap_or_default();
                Instant::now().checked_sub(age)
            })
            .flatten();
        let msgpack = OnceLock::new();
        let _ = msgpack.set(Arc::<[u8]>::from(bytes));
        Some(Arc::new(SharedFrame { frame, origin, remote: true, json: OnceLock::new(), msgpack }))
    }

    pub fn bytes(&self, encoding: Encoding) -> Arc<[u8]> {
        let cell = match encoding {
            Encoding::Json => &self.json,
            Encoding::Msgpack => &self.msgpack,
        };
        Arc::clone(cell.get_or_init(|| self.frame.encode(encoding)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_json_and_msgpack_alike() {
        let frame = ClientFrame::Send {
            conversation_id: "c".into(),
            client_msg_id: "m1".into(),
            body: "hi".into(),
            attachment_ids: Vec::new(),
        };
        let json = serde_json::to_vec(&frame).expect("json");
        let mp = rmp_serde::to_vec_named(&frame).expect("msgpack");
        assert_eq!(decode(&json, Encoding::Json).expect("json frame"), frame);
        assert_eq!(decode(&mp, Encoding::Msgpack).expect("msgpack frame"), frame);
        assert_eq!(decode(br#"{"type":"ping"}"#, Encoding::Json).expect("ping"), ClientFrame::Ping {});
    }

    #[test]
    fn a_frame_from_another_node_keeps_its_bytes() {
        let frame = ServerFrame::Message {
            conversation_id: "c".into(),
            message_id: "m".into(),
            seq: 7,
            sender_id: "u".into(),
            body: "hi".into(),
            sent_at: "2026-12-04T00:00:00Z".into(),
            client_msg_id: Some("x".into()),
            edited_at: None,
            deleted: false,
            attachments: Vec::new(),
        };
        let local = SharedFrame::new(frame.clone());
        let bytes = local.bytes(Encoding::Msgpack);
        let sent = time::OffsetDateTime::now_utc() - time::Duration::milliseconds(5);
        let remote = SharedFrame::from_msgpack(&bytes, sent).expect("a server frame");
        assert_eq!(remote.frame, frame);
        assert!(remote.remote && !local.remote);
        assert_eq!(remote.bytes(Encoding::Msgpack), bytes, "MessagePack clients get the bytes as sent");
        assert_eq!(remote.bytes(Encoding::Json), local.bytes(Encoding::Json));
        let age = remote.origin.expect("a message carries its origin").elapsed();
        assert!(age >= std::time::Duration::from_millis(5), "latency counts from the sender's clock: {age:?}");
        let presence = SharedFrame::new(ServerFrame::Presence { user_id: "u".into(), online: true });
        let presence = SharedFrame::from_msgpack(&presence.bytes(Encoding::Msgpack), sent).expect("frame");
        assert!(presence.origin.is_none(), "only messages have a delivery latency");
        assert!(SharedFrame::from_msgpack(b"\x81\xa4type\xa4nope", sent).is_none());
        assert!(SharedFrame::from_msgpack(b"", sent).is_none());
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let code = |b: &[u8]| decode(b, Encoding::Json).expect_err("must fail").code;
        assert_eq!(code(b"not json"), "invalid_frame");
        assert_eq!(code(b"[1,2]"), "invalid_frame");
        assert_eq!(code(br#"{"body":"x"}"#), "invalid_frame");
        assert_eq!(code(br#"{"type":7}"#), "invalid_frame");
        assert_eq!(code(br#"{"type":"launch"}"#), "unknown_type");
        assert_eq!(code(br#"{"type":"send","body":"x"}"#), "invalid_frame");
        assert_eq!(code(br#"{"type":"read","conversation_id":"c","seq":-1}"#), "invalid_frame");
        assert_eq!(decode(&[0xc1], Encoding::Msgpack).expect_err("bad msgpack").code, "invalid_frame");
    }

    #[test]
    fn shared_frames_serialize_once_per_encoding() {
        let shared = SharedFrame::new(ServerFrame::Pong {});
        let a = shared.bytes(Encoding::Json);
        let b = shared.bytes(Encoding::Json);
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, br#"{"type":"pong"}"#);
        let m = shared.bytes(Encoding::Msgpack);
        let back: ServerFrame = rmp_serde::from_slice(&m).expect("msgpack round trip");
        assert_eq!(back, ServerFrame::Pong {});
    }

    #[test]
    fn subprotocol_negotiation() {
        assert_eq!(Encoding::negotiate(["x", SUBPROTOCOL_MSGPACK]), Some(Encoding::Msgpack));
        assert_eq!(Encoding::negotiate([SUBPROTOCOL_JSON]), Some(Encoding::Json));
        assert_eq!(Encoding::negotiate(["nope"]), None);
    }
}
