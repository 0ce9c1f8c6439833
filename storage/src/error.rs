//! The storage layer's one error enum. Backend error types never appear in it.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend could not be reached or failed; the cause is in the message and logs.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The stored schema is newer than this binary understands.
    #[error("the database schema is version {found}, newer than this build supports ({supported}); upgrade agora")]
    SchemaTooNew { found: u32, supported: u32 },
    /// A stored row could not be decoded.
    #[error("corrupt row in {table}: {detail}")]
    Corrupt { table: &'static str, detail: String },
    /// A paging cursor that this store did not issue.
    #[error("invalid cursor")]
    InvalidCursor,
    /// A uniqueness constraint (email, username, ...) was violated.
    #[error("{0} already taken")]
    Duplicate(&'static str),
    /// A compare-and-set lost: the object changed concurrently.
    #[error("concurrent update, retry")]
    Conflict,
    /// A search stopped before it finished: over its time budget, or its caller went away.
    #[error("search stopped: {0}")]
    Aborted(&'static str),
    /// A configuration problem found when opening the store.
    #[error("storage configuration: {0}")]
    Config(String),
}

impl StoreError {
    pub(crate) fn backend(e: impl std::fmt::Display) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}
