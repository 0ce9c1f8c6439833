//! Every logical table, named by access path. Each has a text partition key `pk`, a text
//! clustering key `ck` (byte order), an integer `version` for compare-and-set, an optional
//! expiry, and an opaque `value`. deploy/scylla/schema.cql defines the same tables; a test
//! checks the two agree. Keys are documented in docs/storage.md.

/// The schema version this build writes. Older stores migrate forward; newer ones are refused.
pub const SCHEMA_VERSION: u32 = 1;

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
        }
    }

    /// The schema version that introduced the table (drives forward migration).
    pub const fn since(self) -> u32 {
        1
    }
}
