//! Every logical table, named by access path. Each has a text partition key `pk`, a text
//! clustering key `ck` (byte order), an integer `version` for compare-and-set, an optional
//! expiry, and an opaque `value`. deploy/scylla/schema.cql defines the same tables; a test
//! checks the two agree. Keys are documented in docs/storage.md.

/// The schema version this build writes. Older stores migrate forward; newer ones are refused.
pub const SCHEMA_VERSION: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// pk = user id, ck = "" : the account.
    UsersById,
    /// pk = lower-cased email, ck = "" : user id (uniqueness by insert-if-absent).
    UsersByEmail,
    /// pk = lower-cased username, ck = "" : user id.
    UsersByUsername,
    /// pk = bucket "all", ck = user id : user ids in creation order (admin listing).
    UsersByCreation,
    /// pk = session id, ck = "" : one refresh-token family (TTL = refresh lifetime).
    SessionsById,
    /// pk = user id, ck = session id : that user's sessions (TTL = refresh lifetime).
    SessionsByUser,
    /// pk = sha-256 of a one-time token, ck = "" : reset / verification token (TTL).
    OneTimeTokens,
    /// Used only by the conformance suite and benchmarks: pk/ck chosen by the test.
    Scratch,
    // ---- schema version 2: realtime core
    /// pk = conversation id, ck = "" : the conversation head (members, last seq, last
    /// message, current bucket). Every append is a compare-and-set on its version.
    ConversationsById,
    /// pk = "<user a>:<user b>" (sorted), ck = "" : the one direct conversation of a pair.
    ConversationsDirect,
    /// pk = user id, ck = "<last activity, µs, 20 digits>:<conversation id>" : a member's
    /// conversations, newest activity last in byte order (scanned descending).
    ConversationsByUser,
    /// pk = conversation id, ck = first seq (20 digits) : the time bucket (UTC day) that
    /// starts at that seq.
    ConversationBuckets,
    /// pk = "<conversation id>:<UTC day>", ck = seq (20 digits) : one message.
    MessagesByConversation,
    /// pk = message id, ck = "" : where the message lives (conversation, bucket, seq).
    MessagesById,
    /// pk = "<conversation id>:<sender id>", ck = client_msg_id : the original ack (TTL).
    MessagesByClientId,
    /// pk = conversation id, ck = user id : the member's read cursor.
    ReadCursors,
    /// pk = blocker id, ck = blocked user id : a block.
    BlocksByUser,
    /// pk = user id, ck = notification id (v7, time-ordered) : one notification (TTL = expires_at).
    NotificationsByUser,
    /// pk = user id, ck = notification id : the unread ones only (same TTL).
    NotificationsUnread,
    /// pk = user id, ck = "notifications" : the unread counter.
    UnreadCounters,
    /// pk = user id, ck = "" : notification preferences.
    NotificationPreferences,
    /// pk = user id, ck = "" : when the last digest email went out (claimed by compare-and-set).
    DigestState,
}

impl Table {
    pub const ALL: &'static [Table] = &[
        Table::UsersById,
        Table::UsersByEmail,
        Table::UsersByUsername,
        Table::UsersByCreation,
        Table::SessionsById,
        Table::SessionsByUser,
        Table::OneTimeTokens,
        Table::Scratch,
        Table::ConversationsById,
        Table::ConversationsDirect,
        Table::ConversationsByUser,
        Table::ConversationBuckets,
        Table::MessagesByConversation,
        Table::MessagesById,
        Table::MessagesByClientId,
        Table::ReadCursors,
        Table::BlocksByUser,
        Table::NotificationsByUser,
        Table::NotificationsUnread,
        Table::UnreadCounters,
        Table::NotificationPreferences,
        Table::DigestState,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Table::UsersById => "users_by_id",
            Table::UsersByEmail => "users_by_email",
            Table::UsersByUsername => "users_by_username",
            Table::UsersByCreation => "users_by_creation",
            Table::SessionsById => "sessions_by_id",
            Table::SessionsByUser => "sessions_by_user",
            Table::OneTimeTokens => "one_time_tokens",
            Table::Scratch => "scratch",
            Table::ConversationsById => "conversations_by_id",
            Table::ConversationsDirect => "conversations_direct",
            Table::ConversationsByUser => "conversations_by_user",
            Table::ConversationBuckets => "conversation_buckets",
            Table::MessagesByConversation => "messages_by_conversation",
            Table::MessagesById => "messages_by_id",
            Table::MessagesByClientId => "messages_by_client_id",
            Table::ReadCursors => "read_cursors",
            Table::BlocksByUser => "blocks_by_user",
            Table::NotificationsByUser => "notifications_by_user",
            Table::NotificationsUnread => "notifications_unread",
            Table::UnreadCounters => "unread_counters",
            Table::NotificationPreferences => "notification_preferences",
            Table::DigestState => "digest_state",
        }
    }

    /// The schema version that introduced the table (drives forward migration).
    pub const fn since(self) -> u32 {
        match self {
            Table::UsersById
            | Table::UsersByEmail
            | Table::UsersByUsername
            | Table::UsersByCreation
            | Table::SessionsById
            | Table::SessionsByUser
            | Table::OneTimeTokens
            | Table::Scratch => 1,
            _ => 2,
        }
    }
}
