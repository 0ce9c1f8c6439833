//! Chat rules: message bodies, conversation membership, client message ids, and who may
//! do what. Time and ids come in as arguments.

use std::collections::BTreeSet;

use crate::error::{DomainError, FieldErrors};
use crate::ids::UserId;

/// The longest message body, in characters.
pub const MAX_BODY_CHARS: usize = 4000;
/// The most members a conversation may have (creator included).
pub const MAX_MEMBERS: usize = 256;
/// The longest client message id.
pub const MAX_CLIENT_MSG_ID: usize = 64;
/// The longest conversation title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;

/// A message body: 1..=4000 characters after trimming, no NUL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.trim().is_empty() {
            return Err(DomainError::invalid("must not be empty"));
        }
        if raw.chars().count() > MAX_BODY_CHARS {
            return Err(DomainError::invalid(format!("must be at most {MAX_BODY_CHARS} characters")));
        }
        if raw.contains('\0') {
            return Err(DomainError::invalid("must not contain NUL characters"));
        }
        Ok(MessageBody(raw.to_string()))
    }

    /// A body that may be empty when the message carries attachments (a photo or a voice
    /// note alone); the other rules are the same.
    pub fn parse_with_attachments(raw: &str, attachments: usize) -> Result<Self, DomainError> {
        if attachments > 0 && raw.trim().is_empty() {
            return Ok(MessageBody(String::new()));
        }
        Self::parse(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The sender's idempotency key for one message: 1..=64 printable ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientMsgId(String);

impl ClientMsgId {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        if raw.is_empty() || raw.len() > MAX_CLIENT_MSG_ID {
            return Err(DomainError::invalid(format!("must be 1 to {MAX_CLIENT_MSG_ID} characters")));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(DomainError::invalid("must be printable ASCII without spaces"));
        }
        Ok(ClientMsgId(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Direct conversations have exactly two members and are unique per pair; groups have a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Direct,
    Group,
}

/// A validated request to start a conversation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConversation {
    pub kind: ConversationKind,
    /// Sorted, creator included, no duplicates.
    pub members: Vec<UserId>,
    pub title: Option<String>,
}

impl NewConversation {
    /// `participants` are the others (the creator may be listed too; duplicates collapse).
    /// Two people without a title make a direct conversation; anything else is a group.
    pub fn parse(creator: UserId, participants: &[UserId], title: Option<&str>) -> Result<Self, DomainError> {
        let mut errors = FieldErrors::new();
        let mut set: BTreeSet<UserId> = participants.iter().copied().collect();
        set.insert(creator);
        if set.len() < 2 {
            errors.add("participant_ids", "must name at least one other user");
        }
        if set.len() > MAX_MEMBERS {
            errors.add("participant_ids", format!("a conversation has at most {MAX_MEMBERS} members"));
        }
        let title = match title.map(str::trim) {
            None | Some("") => None,
            Some(t) if t.chars().count() > MAX_TITLE_CHARS => {
                errors.add("title", format!("must be at most {MAX_TITLE_CHARS} characters"));
                None
            }
            Some(t) => Some(t.to_string()),
        };
        errors.into_result()?;
        let kind = if set.len() == 2 && title.is_none() { ConversationKind::Direct } else { ConversationKind::Group };
        Ok(NewConversation { kind, members: set.into_iter().collect(), title })
    }

    /// The key that makes a direct conversation unique: both ids in sorted order.
    pub fn direct_key(&self) -> Option<String> {
        match (self.kind, self.members.as_slice()) {
            (ConversationKind::Direct, [a, b]) => Some(format!("{a}:{b}")),
            _ => None,
        }
    }
}

/// Only the sender edits or deletes a message, and a deleted message stays deleted.
pub fn may_change_message(actor: UserId, sender: UserId, deleted: bool) -> Result<(), DomainError> {
    if actor != sender {
        return Err(DomainError::Forbidden("only the sender may change a message"));
    }
    if deleted {
        return Err(DomainError::Transition { from: "deleted", to: "changed" });
    }
    Ok(())
}

/// A read receipt never moves backwards and never past the last message.
pub fn next_read_seq(current: u64, requested: u64, last_seq: u64) -> Option<u64> {
    let clamped = requested.min(last_seq);
    (clamped > current).then_some(clamped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn user(n: u128) -> UserId {
        UserId::from_uuid(Uuid::from_u128(n))
    }

    #[test]
    fn bodies_are_bounded() {
        assert!(MessageBody::parse("hi").is_ok());
        assert!(MessageBody::parse("   ").is_err());
        assert!(MessageBody::parse("").is_err());
        assert!(MessageBody::parse_with_attachments("", 1).is_ok(), "a photo alone");
        assert!(MessageBody::parse_with_attachments("  ", 0).is_err());
        assert!(MessageBody::parse_with_attachments(&"x".repeat(4001), 1).is_err());
        assert!(MessageBody::parse(&"x".repeat(MAX_BODY_CHARS)).is_ok());
        assert!(MessageBody::parse(&"x".repeat(MAX_BODY_CHARS + 1)).is_err());
        assert!(MessageBody::parse("a\0b").is_err());
    }

    #[test]
    fn client_msg_ids_are_printable_and_short() {
        assert!(ClientMsgId::parse("c-1").is_ok());
        assert!(ClientMsgId::parse("").is_err());
        assert!(ClientMsgId::parse("has space").is_err());
        assert!(ClientMsgId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn two_people_without_title_make_a_direct_conversation() {
        let c = NewConversation::parse(user(2), &[user(1)], None).expect("valid");
        assert_eq!(c.kind, ConversationKind::Direct);
        assert_eq!(c.members, vec![user(1), user(2)]);
        let same = NewConversation::parse(user(1), &[user(2), user(1)], Some("  ")).expect("valid");
        assert_eq!(c.direct_key(), same.direct_key());
        let group = NewConversation::parse(user(1), &[user(2)], Some("Team")).expect("valid");
        assert_eq!(group.kind, ConversationKind::Group);
        assert_eq!(group.direct_key(), None);
        assert!(NewConversation::parse(user(1), &[user(1)], None).is_err());
        assert!(NewConversation::parse(user(1), &[], None).is_err());
        let many: Vec<UserId> = (2..=(MAX_MEMBERS as u128 + 1)).map(user).collect();
        assert!(NewConversation::parse(user(1), &many, None).is_err());
    }

    #[test]
    fn only_the_sender_changes_a_live_message() {
        assert!(may_change_message(user(1), user(1), false).is_ok());
        assert!(matches!(may_change_message(user(2), user(1), false), Err(DomainError::Forbidden(_))));
        assert!(matches!(may_change_message(user(1), user(1), true), Err(DomainError::Transition { .. })));
    }

    #[test]
    fn read_cursor_only_moves_forward_within_bounds() {
        assert_eq!(next_read_seq(0, 5, 10), Some(5));
        assert_eq!(next_read_seq(5, 3, 10), None);
        assert_eq!(next_read_seq(5, 5, 10), None);
        assert_eq!(next_read_seq(5, 50, 10), Some(10));
        assert_eq!(next_read_seq(10, 50, 10), None);
    }
}
