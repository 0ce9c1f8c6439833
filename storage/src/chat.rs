//! Conversations, messages, read cursors and blocks.
//!
//! The conversation head (`conversations_by_id`) is the commit point of a message: an
//! append is one compare-and-set that moves `last_seq` to `seq + 1` and stores the new
//! message as `last_message`. The message's own rows (bucket, by id, by client id) are
//! written right after; a crash in between is repaired by [`Chat::roll_forward`], which
//! rewrites the head's `last_message` rows (idempotent) before the next append. So `seq`
//! is gap-free and nothing acknowledged is lost.

use std::time::Duration;

use agora_engine::{ConversationId, ConversationKind, MessageId, NewConversation, UserId};
use futures_util::future::try_join_all;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{encode_cursor, Backend, BatchOp, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::store::{get_versioned, Versioned};
use crate::tables::Table;

/// How long a client message id is remembered for retries.
pub const CLIENT_MSG_ID_TTL: Duration = Duration::from_secs(7 * 86_400);

/// A stored message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub conversation_id: ConversationId,
    pub seq: u64,
    pub sender_id: UserId,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
    pub client_msg_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub edited_at: Option<OffsetDateTime>,
    #[serde(default)]
    pub deleted: bool,
    /// Files sent with the message (at most 10), as they were when it was sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<MessageAttachment>,
}

/// A file attached to a message: a snapshot of the attachment's metadata at send time,
/// so history needs no second read. The bytes are reached through the attachment id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageAttachment {
    pub id: agora_engine::AttachmentId,
    pub kind: agora_engine::AttachmentKind,
    pub name: String,
    pub size: u64,
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peaks: Option<Vec<u8>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// Whether thumbnails exist (images).
    #[serde(default)]
    pub thumbnail: bool,
}

impl From<&crate::attachments::Attachment> for MessageAttachment {
    fn from(a: &crate::attachments::Attachment) -> Self {
        MessageAttachment {
            id: a.id,
            kind: a.kind,
            name: a.name.clone(),
            size: a.size,
            content_type: a.content_type.clone(),
            width: a.width,
            height: a.height,
            duration_ms: a.duration_ms,
            peaks: a.peaks.clone(),
            pages: a.pages,
            thumbnail: !a.thumbnails.is_empty(),
        }
    }
}

/// The conversation head.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub id: ConversationId,
    pub kind: ConversationKind,
    pub title: Option<String>,
    /// Sorted.
    pub members: Vec<UserId>,
    pub created_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_activity: OffsetDateTime,
    pub last_seq: u64,
    pub last_message: Option<Message>,
    /// The UTC day of the current bucket and the seq it starts at.
    pub bucket_day: i64,
    pub bucket_first_seq: u64,
}

impl Conversation {
    pub fn is_member(&self, user: UserId) -> bool {
        self.members.binary_search(&user).is_ok()
    }
}

/// Where a message lives, found by its id.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct MessageRef {
    conversation_id: ConversationId,
    day: i64,
    seq: u64,
}

/// What a retried client message id answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentAck {
    pub message_id: MessageId,
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub sent_at: OffsetDateTime,
}

/// A member's read cursor, and whether an offline "new message" notification has already
/// gone out since the member last read (so one burst makes one notification).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReadCursor {
    pub seq: u64,
    #[serde(default)]
    pub notified: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub blocked_id: UserId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A conversation as one member sees it in a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    pub conversation: Conversation,
    pub read_seq: u64,
}

impl MemberView {
    pub fn unread(&self) -> u64 {
        self.conversation.last_seq.saturating_sub(self.read_seq)
    }
}

pub fn utc_day(at: OffsetDateTime) -> i64 {
    at.unix_timestamp().div_euclid(86_400)
}

fn seq_key(seq: u64) -> String {
    format!("{seq:020}")
}

fn parse_seq(table: Table, ck: &str) -> Result<u64, StoreError> {
    ck.parse().map_err(|_| StoreError::Corrupt { table: table.name(), detail: format!("bad seq key {ck:?}") })
}

fn activity_key(c: &Conversation) -> String {
    let micros = c.last_activity.unix_timestamp_nanos() / 1000;
    format!("{:020}:{}", micros.max(0), c.id)
}

fn bucket_pk(conversation: ConversationId, day: i64) -> String {
    format!("{conversation}:{day}")
}

pub struct Chat<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Chat<'_> {
    /// Starts a conversation, or for a direct pair answers the existing one (`false`).
    pub async fn create_conversation(
        &self,
        id: ConversationId,
        creator: UserId,
        new: NewConversation,
        now: OffsetDateTime,
    ) -> Result<(Conversation, bool), StoreError> {
        let direct_key = new.direct_key();
        if let Some(key) = &direct_key {
            if let Some(existing) = self.direct(key).await? {
                return Ok((existing, false));
            }
        }
        let c = Conversation {
            id,
            kind: new.kind,
            title: new.title,
            members: new.members,
            created_by: creator,
            created_at: now,
            last_activity: now,
            last_seq: 0,
            last_message: None,
            bucket_day: utc_day(now),
            bucket_first_seq: 1,
        };
        let pk = id.to_string();
        if !self
            .b
            .cas(Table::ConversationsById, &pk, "", Expect::Absent, encode(Table::ConversationsById, &c)?, None)
            .await?
            .applied()
        {
            return Err(StoreError::Duplicate("conversation"));
        }
        if let Some(key) = direct_key {
            let claim = self
                .b
                .cas(
                    Table::ConversationsDirect,
                    &key,
                    "",
                    Expect::Absent,
                    encode(Table::ConversationsDirect, &id)?,
                    None,
                )
                .await?;
            if !claim.applied() {
                // Someone created the pair's conversation first: use theirs.
                self.b.delete(Table::ConversationsById, &pk, "").await?;
                return match self.direct(&key).await? {
                    Some(existing) => Ok((existing, false)),
                    None => Err(StoreError::Conflict),
                };
            }
        }
        let ck = activity_key(&c);
        try_join_all(c.members.iter().map(|m| {
            let (pk, ck) = (m.to_string(), ck.clone());
            async move { self.b.put(Table::ConversationsByUser, &pk, &ck, Vec::new(), None).await }
        }))
        .await?;
        Ok((c, true))
    }

    async fn direct(&self, key: &str) -> Result<Option<Conversation>, StoreError> {
        let Some(row) = self.b.get(Table::ConversationsDirect, key, "").await? else { return Ok(None) };
        let id: ConversationId = decode(Table::ConversationsDirect, &row.value)?;
        Ok(self.get(id).await?.map(|v| v.value))
    }

    pub async fn get(&self, id: ConversationId) -> Result<Option<Versioned<Conversation>>, StoreError> {
        get_versioned(self.b, Table::ConversationsById, &id.to_string(), "").await
    }

    /// One page of `user`'s conversations, newest activity first, each with the read cursor.
    pub async fn list_for_user(
        &self,
        user: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<MemberView>, Option<String>), StoreError> {
        let page = self.b.scan(Table::ConversationsByUser, &user.to_string(), Order::Desc, limit, cursor).await?;
        let pk = user.to_string();
        let pk = pk.as_str();
        let views = try_join_all(page.rows.iter().map(|row| async move {
            let Some((_, id)) = row.ck.split_once(':') else { return Ok::<_, StoreError>(None) };
            let Ok(id) = ConversationId::parse(id) else { return Ok(None) };
            let Some(head) = self.get(id).await? else { return Ok(None) };
            if !head.value.is_member(user) {
                return Ok(None);
            }
            // A row older than the head's activity is stale once the row of that activity
            // exists; until then (a message committed, its index move still running or cut
            // short by a crash) it stands for the conversation, so the conversation never
            // drops out of the list.
            let current = activity_key(&head.value);
            if current != row.ck && self.b.get(Table::ConversationsByUser, pk, &current).await?.is_some() {
                return Ok(None);
            }
            let read_seq = self.read_cursor(id, user).await?.seq;
            Ok(Some(MemberView { conversation: head.value, read_seq }))
        }))
        .await?;
        Ok((views.into_iter().flatten().collect(), page.next_cursor))
    }

    /// The heads of `user`'s (at most `limit`) most recently active conversations, each once.
    /// Unlike [`Chat::list_for_user`], an index row that a message being sent right now has
    /// not moved yet still counts (its conversation is there, only its place is old), so a
    /// conversation never drops out of the set while it is active.
    pub async fn conversations_of(&self, user: UserId, limit: usize) -> Result<Vec<Conversation>, StoreError> {
        let page = self.b.scan(Table::ConversationsByUser, &user.to_string(), Order::Desc, limit, None).await?;
        let mut ids: Vec<ConversationId> = Vec::new();
        for row in &page.rows {
            if let Some(id) = row.ck.split_once(':').and_then(|(_, id)| ConversationId::parse(id).ok()) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let heads = try_join_all(ids.into_iter().map(|id| async move { self.get(id).await })).await?;
        Ok(heads.into_iter().flatten().map(|h| h.value).filter(|c| c.is_member(user)).collect())
    }

    /// Rewrites the rows of the head's last message (idempotent): finishes an append that
    /// stopped after its commit point.
    pub async fn roll_forward(&self, head: &Conversation) -> Result<(), StoreError> {
        match &head.last_message {
            Some(m) => self.write_message_rows(head, m).await,
            None => Ok(()),
        }
    }

    async fn write_message_rows(&self, head: &Conversation, m: &Message) -> Result<(), StoreError> {
        let day = if m.seq >= head.bucket_first_seq { head.bucket_day } else { utc_day(m.sent_at) };
        let (conv, seq, id) = (m.conversation_id.to_string(), seq_key(m.seq), m.id.to_string());
        let bucket = bucket_pk(m.conversation_id, day);
        let client_pk = format!("{}:{}", m.conversation_id, m.sender_id);
        let mut writes = Vec::with_capacity(4);
        if m.seq == head.bucket_first_seq {
            writes.push(self.b.put(
                Table::ConversationBuckets,
                &conv,
                &seq,
                encode(Table::ConversationBuckets, &day)?,
                None,
            ));
        }
        writes.push(self.b.put(
            Table::MessagesByConversation,
            &bucket,
            &seq,
            encode(Table::MessagesByConversation, m)?,
            None,
        ));
        let at = MessageRef { conversation_id: m.conversation_id, day, seq: m.seq };
        writes.push(self.b.put(Table::MessagesById, &id, "", encode(Table::MessagesById, &at)?, None));
        if let Some(cmid) = &m.client_msg_id {
            let ack = SentAck { message_id: m.id, seq: m.seq, sent_at: m.sent_at };
            writes.push(self.b.put(
                Table::MessagesByClientId,
                &client_pk,
                cmid,
                encode(Table::MessagesByClientId, &ack)?,
                Some(CLIENT_MSG_ID_TTL),
            ));
        }
        try_join_all(writes).await?;
        Ok(())
    }

    /// Appends `message` (its `seq` must be `head.last_seq + 1`) if the head is still at
    /// `head.version`: [`Chat::commit`] then [`Chat::finish`]. Answers the new head, or
    /// `Conflict` when another writer moved it.
    pub async fn append(
        &self,
        head: &Versioned<Conversation>,
        message: Message,
    ) -> Result<Versioned<Conversation>, StoreError> {
        let next = self.commit(head, &message).await?;
        self.finish(&head.value, &next.value, &message).await?;
        Ok(next)
    }

    /// The commit point of a message: one compare-and-set of the head carrying the message.
    /// Once this returns, the message is durable (the head holds it, and readers and
    /// [`Chat::roll_forward`] use it).
    pub async fn commit(
        &self,
        head: &Versioned<Conversation>,
        message: &Message,
    ) -> Result<Versioned<Conversation>, StoreError> {
        let prev = &head.value;
        let mut next = prev.clone();
        // Buckets only move forward, even if clocks of several nodes disagree.
        let day = utc_day(message.sent_at).max(prev.bucket_day);
        if day != prev.bucket_day || prev.last_seq == 0 {
            next.bucket_day = day;
            next.bucket_first_seq = message.seq;
        }
        next.last_seq = message.seq;
        next.last_activity = message.sent_at.max(prev.last_activity);
        next.last_message = Some(message.clone());
        let row = encode(Table::ConversationsById, &next)?;
        // The message's by-id row goes with the commit (one group commit on SQLite), so an
        // acknowledged message can be edited or deleted at once: the lookup by id finds it
        // in the head until its bucket row is written (`get_message`).
        let id = message.id.to_string();
        let at = MessageRef { conversation_id: message.conversation_id, day: next.bucket_day, seq: message.seq };
        let (_, outcome) = futures_util::future::try_join(
            self.b.put(Table::MessagesById, &id, "", encode(Table::MessagesById, &at)?, None),
            self.b.cas(Table::ConversationsById, &prev.id.to_string(), "", Expect::Version(head.version), row, None),
        )
        .await?;
        match outcome {
            CasOutcome::Applied { version } => Ok(Versioned { value: next, version }),
            CasOutcome::Conflict { .. } => {
                // This id never became a message; `get_message` ignores such a row anyway.
                if let Err(e) = self.b.delete(Table::MessagesById, &id, "").await {
                    tracing::debug!(message = %id, error = %e, "could not drop the by-id row of a lost append");
                }
                Err(StoreError::Conflict)
            }
        }
    }

    /// Writes what a committed message derives: its rows (bucket, by id, by client id) and
    /// each member's activity index entry, all at once. Idempotent; a crash before it ends
    /// is repaired by [`Chat::roll_forward`].
    pub async fn finish(&self, prev: &Conversation, next: &Conversation, message: &Message) -> Result<(), StoreError> {
        futures_util::future::try_join(self.write_message_rows(next, message), self.touch_members(prev, next)).await?;
        Ok(())
    }

    /// Moves the conversation in each member's activity-ordered index (one atomic
    /// single-partition batch per member).
    async fn touch_members(&self, prev: &Conversation, next: &Conversation) -> Result<(), StoreError> {
        let (old, new) = (activity_key(prev), activity_key(next));
        if old == new {
            return Ok(());
        }
        try_join_all(next.members.iter().map(|m| {
            let ops = vec![
                BatchOp::Delete { ck: old.clone() },
                BatchOp::Put { ck: new.clone(), value: Vec::new(), ttl: None },
            ];
            let pk = m.to_string();
            async move { self.b.batch(Table::ConversationsByUser, &pk, ops).await }
        }))
        .await?;
        Ok(())
    }

    /// The original ack of a message the sender already sent with this client id.
    pub async fn find_by_client_id(
        &self,
        conversation: ConversationId,
        sender: UserId,
        client_msg_id: &str,
    ) -> Result<Option<SentAck>, StoreError> {
        let pk = format!("{conversation}:{sender}");
        match self.b.get(Table::MessagesByClientId, &pk, client_msg_id).await? {
            Some(row) => Ok(Some(decode(Table::MessagesByClientId, &row.value)?)),
            None => Ok(None),
        }
    }

    /// A message by id. Its by-id row is written with the commit, its bucket row right
    /// after: in between, the message is the head's `last_message`. A by-id row whose seq
    /// holds another message (an append that lost its compare-and-set) finds nothing.
    pub async fn get_message(&self, id: MessageId) -> Result<Option<Message>, StoreError> {
        let Some(row) = self.b.get(Table::MessagesById, &id.to_string(), "").await? else { return Ok(None) };
        let at: MessageRef = decode(Table::MessagesById, &row.value)?;
        let pk = bucket_pk(at.conversation_id, at.day);
        let found = match self.b.get(Table::MessagesByConversation, &pk, &seq_key(at.seq)).await? {
            Some(row) => Some(decode::<Message>(Table::MessagesByConversation, &row.value)?),
            None => self.get(at.conversation_id).await?.and_then(|h| h.value.last_message),
        };
        Ok(found.filter(|m| m.id == id))
    }

    /// Saves an edited or deleted message. When it is the head's last message the head is
    /// updated first (by compare-and-set), so a later roll-forward cannot undo the change.
    pub async fn save_message(
        &self,
        head: &Versioned<Conversation>,
        m: &Message,
    ) -> Result<Versioned<Conversation>, StoreError> {
        let mut head = head.clone();
        if head.value.last_message.as_ref().is_some_and(|last| last.id == m.id) {
            let mut next = head.value.clone();
            next.last_message = Some(m.clone());
            let row = encode(Table::ConversationsById, &next)?;
            match self
                .b
                .cas(
                    Table::ConversationsById,
                    &m.conversation_id.to_string(),
                    "",
                    Expect::Version(head.version),
                    row,
                    None,
                )
                .await?
            {
                CasOutcome::Applied { version } => head = Versioned { value: next, version },
                CasOutcome::Conflict { .. } => return Err(StoreError::Conflict),
            }
        }
        let Some(row) = self.b.get(Table::MessagesById, &m.id.to_string(), "").await? else {
            return Err(StoreError::Corrupt {
                table: Table::MessagesById.name(),
                detail: format!("no index row for {}", m.id),
            });
        };
        let at: MessageRef = decode(Table::MessagesById, &row.value)?;
        self.b
            .put(
                Table::MessagesByConversation,
                &bucket_pk(at.conversation_id, at.day),
                &seq_key(at.seq),
                encode(Table::MessagesByConversation, m)?,
                None,
            )
            .await?;
        Ok(head)
    }

    /// The bucket scan that starts at the bucket holding `seq`: `(first seq, day)` pairs.
    async fn buckets_from(
        &self,
        conversation: ConversationId,
        seq: u64,
        order: Order,
        limit: usize,
    ) -> Result<Vec<(u64, i64)>, StoreError> {
        let pk = conversation.to_string();
        // The bucket holding `seq` is the last one starting at or before it.
        let first = self
            .b
            .scan(Table::ConversationBuckets, &pk, Order::Desc, 1, Some(&encode_cursor(&seq_key(seq + 1))))
            .await?;
        let Some(start) = first.rows.first() else { return Ok(Vec::new()) };
        let mut out = vec![(
            parse_seq(Table::ConversationBuckets, &start.ck)?,
            decode(Table::ConversationBuckets, &start.value)?,
        )];
        let rest = self.b.scan(Table::ConversationBuckets, &pk, order, limit, Some(&encode_cursor(&start.ck))).await?;
        for row in rest.rows {
            out.push((
                parse_seq(Table::ConversationBuckets, &row.ck)?,
                decode(Table::ConversationBuckets, &row.value)?,
            ));
        }
        Ok(out)
    }

    /// Messages with `seq > after`, oldest first, at most `limit`.
    pub async fn messages_after(
        &self,
        conversation: ConversationId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        self.messages_from(conversation, after, Order::Asc, limit).await
    }

    /// Messages with `seq < before`, newest first, at most `limit`.
    pub async fn messages_before(
        &self,
        conversation: ConversationId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        if before <= 1 {
            return Ok(Vec::new());
        }
        self.messages_from(conversation, before, Order::Desc, limit).await
    }

    /// Messages strictly beyond seq `bound` in `order`, crossing day buckets.
    async fn messages_from(
        &self,
        conversation: ConversationId,
        bound: u64,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Message>, StoreError> {
        let mut out = Vec::new();
        let mut cursor = seq_key(bound);
        let first = if order == Order::Asc { bound + 1 } else { bound - 1 };
        for (_, day) in self.buckets_from(conversation, first, order, 64).await? {
            let pk = bucket_pk(conversation, day);
            while out.len() < limit {
                let after = encode_cursor(&cursor);
                let page =
                    self.b.scan(Table::MessagesByConversation, &pk, order, limit - out.len(), Some(&after)).await?;
                for row in &page.rows {
                    out.push(decode::<Message>(Table::MessagesByConversation, &row.value)?);
                }
                match page.rows.last() {
                    Some(last) if page.next_cursor.is_some() => cursor = last.ck.clone(),
                    _ => break,
                }
            }
            if out.len() >= limit {
                break;
            }
        }
        Ok(out)
    }

    pub async fn read_cursor(&self, conversation: ConversationId, user: UserId) -> Result<ReadCursor, StoreError> {
        match self.b.get(Table::ReadCursors, &conversation.to_string(), &user.to_string()).await? {
            Some(row) => decode(Table::ReadCursors, &row.value),
            None => Ok(ReadCursor::default()),
        }
    }

    /// Every member's cursor (a conversation has at most a few hundred members).
    pub async fn read_cursors(&self, conversation: ConversationId) -> Result<Vec<(UserId, ReadCursor)>, StoreError> {
        let pk = conversation.to_string();
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.b.scan(Table::ReadCursors, &pk, Order::Asc, 500, cursor.as_deref()).await?;
            for row in &page.rows {
                if let Ok(user) = UserId::parse(&row.ck) {
                    out.push((user, decode(Table::ReadCursors, &row.value)?));
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(out),
            }
        }
    }

    /// Written only by the conversation's actor, which serializes changes to it.
    pub async fn set_read_cursor(
        &self,
        conversation: ConversationId,
        user: UserId,
        cursor: ReadCursor,
    ) -> Result<(), StoreError> {
        let row = encode(Table::ReadCursors, &cursor)?;
        self.b.put(Table::ReadCursors, &conversation.to_string(), &user.to_string(), row, None).await
    }

    // ---- blocks

    pub async fn block(&self, blocker: UserId, blocked: UserId, now: OffsetDateTime) -> Result<Block, StoreError> {
        if let Some(existing) = self.block_of(blocker, blocked).await? {
            return Ok(existing);
        }
        let block = Block { blocked_id: blocked, created_at: now };
        self.b
            .put(
                Table::BlocksByUser,
                &blocker.to_string(),
                &blocked.to_string(),
                encode(Table::BlocksByUser, &block)?,
                None,
            )
            .await?;
        Ok(block)
    }

    pub async fn unblock(&self, blocker: UserId, blocked: UserId) -> Result<bool, StoreError> {
        let existed = self.block_of(blocker, blocked).await?.is_some();
        if existed {
            self.b.delete(Table::BlocksByUser, &blocker.to_string(), &blocked.to_string()).await?;
        }
        Ok(existed)
    }

    pub async fn block_of(&self, blocker: UserId, blocked: UserId) -> Result<Option<Block>, StoreError> {
        match self.b.get(Table::BlocksByUser, &blocker.to_string(), &blocked.to_string()).await? {
            Some(row) => Ok(Some(decode(Table::BlocksByUser, &row.value)?)),
            None => Ok(None),
        }
    }

    pub async fn blocks(
        &self,
        blocker: UserId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Block>, Option<String>), StoreError> {
        let page = self.b.scan(Table::BlocksByUser, &blocker.to_string(), Order::Asc, limit, cursor).await?;
        let blocks =
            page.rows.iter().map(|r| decode(Table::BlocksByUser, &r.value)).collect::<Result<Vec<Block>, _>>()?;
        Ok((blocks, page.next_cursor))
    }

    /// The members of `members` (other than `sender`) who have blocked `sender`.
    pub async fn blocked_by(&self, sender: UserId, members: &[UserId]) -> Result<Vec<UserId>, StoreError> {
        let found = try_join_all(
            members
                .iter()
                .filter(|m| **m != sender)
                .map(|m| async move { Ok::<_, StoreError>(self.block_of(*m, sender).await?.map(|_| *m)) }),
        )
        .await?;
        Ok(found.into_iter().flatten().collect())
    }
}
