//! The `Store` handle: domain-level methods written once over the backend trait.

use std::sync::Arc;
use std::time::Duration;

use agora_engine::{Email, Role, SessionId, UserId, Username};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::instrumented::Instrumented;
use crate::tables::Table;

use crate::retry::{cas_retry, lost};

/// A cheap-clone handle on the store.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
}

impl Store {
    /// Wraps a backend: storage metrics around it, and the catalog read cache
    /// (storage/src/cache.rs) outside those, so the metrics count real storage operations.
    pub(crate) fn new(backend: Arc<dyn Backend>) -> Self {
        Store { backend: Arc::new(crate::cache::Cached::new(Arc::new(Instrumented::new(backend)))) }
    }

    /// The embedded default: a SQLite file.
    #[cfg(feature = "sqlite")]
    pub fn open_sqlite(path: impl AsRef<std::path::Path>, readers: usize) -> Result<Self, StoreError> {
        Ok(Store::new(Arc::new(crate::sqlite::SqliteBackend::open(path, readers)?)))
    }

    /// The table-level backend (for this crate's tests).
    #[cfg(test)]
    pub(crate) fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.backend.ping().await
    }

    pub fn users(&self) -> Users<'_> {
        Users { b: self.backend.as_ref() }
    }

    pub fn sessions(&self) -> Sessions<'_> {
        Sessions { b: self.backend.as_ref() }
    }

    pub fn one_time_tokens(&self) -> OneTimeTokens<'_> {
        OneTimeTokens { b: self.backend.as_ref() }
    }

    pub fn chat(&self) -> crate::chat::Chat<'_> {
        crate::chat::Chat { b: self.backend.as_ref() }
    }

    pub fn market(&self) -> crate::market::Market<'_> {
        crate::market::Market { b: self.backend.as_ref() }
    }

    pub fn analytics(&self) -> crate::analytics::Analytics<'_> {
        crate::analytics::Analytics { b: self.backend.as_ref() }
    }

    pub fn availability(&self) -> crate::availability::Availability<'_> {
        crate::availability::Availability { b: self.backend.as_ref() }
    }

    pub fn intents(&self) -> crate::intents::Intents<'_> {
        crate::intents::Intents { b: self.backend.as_ref() }
    }

    pub fn ledger(&self) -> crate::ledger::Ledger<'_> {
        crate::ledger::Ledger { b: self.backend.as_ref() }
    }

    pub fn payments(&self) -> crate::payments::Payments<'_> {
        crate::payments::Payments { b: self.backend.as_ref() }
    }

    pub fn attachments(&self) -> crate::attachments::Attachments<'_> {
        crate::attachments::Attachments { b: self.backend.as_ref() }
    }

    pub fn notifications(&self) -> crate::notify::Notifications<'_> {
        crate::notify::Notifications { b: self.backend.as_ref() }
    }
}

/// An object read together with its compare-and-set version.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: i64,
}

pub(crate) async fn get_versioned<T: serde::de::DeserializeOwned>(
    b: &dyn Backend,
    table: Table,
    pk: &str,
    ck: &str,
) -> Result<Option<Versioned<T>>, StoreError> {
    match b.get(table, pk, ck).await? {
        Some(row) => Ok(Some(Versioned { value: decode(table, &row.value)?, version: row.version })),
        None => Ok(None),
    }
}

/// Time left until `expires_at` as a row TTL, rounded up to whole seconds (backends count
/// TTL in seconds): the row may outlive `expires_at` by under a second, never the reverse.
/// Readers that must honour the exact instant compare `expires_at` themselves.
pub(crate) fn remaining(expires_at: OffsetDateTime, now: OffsetDateTime) -> Duration {
    let nanos = (expires_at - now).whole_nanoseconds().max(0);
    let secs = (nanos + 999_999_999) / 1_000_000_000;
    Duration::from_secs(u64::try_from(secs).unwrap_or(u64::MAX).max(1))
}

// ---------------------------------------------------------------------------------------
// Users

/// A stored account. `password_hash` is an argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub username: Option<String>,
    pub role: Role,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: String,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Password-reset tokens carry the value this had when they were issued and work only
    /// while it is unchanged: bumping it (see [`User::revoke_reset_tokens`]) revokes every
    /// outstanding reset token of the account at once.
    #[serde(default)]
    pub reset_generation: u64,
}

impl User {
    /// Invalidates every password-reset token issued so far (call inside `Users::update`).
    pub fn revoke_reset_tokens(&mut self) {
        self.reset_generation = self.reset_generation.wrapping_add(1);
    }
}

/// What registration hands the store: already validated values.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub id: UserId,
    pub email: Email,
    pub username: Option<Username>,
    pub role: Role,
    pub first_name: String,
    pub last_name: String,
    pub password_hash: String,
    pub at: OffsetDateTime,
}

pub struct Users<'a> {
    b: &'a dyn Backend,
}

impl Users<'_> {
    /// Creates the account, keeping email and username unique via insert-if-absent.
    /// The id row is written first, so a crash mid-way leaves only an unreachable row.
    pub async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let user = User {
            id: new.id,
            email: new.email.as_str().to_string(),
            username: new.username.as_ref().map(|u| u.as_str().to_string()),
            role: new.role,
            first_name: new.first_name,
            last_name: new.last_name,
            password_hash: new.password_hash,
            email_verified: false,
            created_at: new.at,
            updated_at: new.at,
            reset_generation: 0,
        };
        let id = user.id.to_string();
        let row = encode(Table::UsersById, &user)?;
        if !self.b.cas(Table::UsersById, &id, "", Expect::Absent, row, None).await?.applied() {
            return Err(StoreError::Duplicate("id"));
        }
        let id_bytes = encode(Table::UsersByEmail, &user.id)?;
        if !self.b.cas(Table::UsersByEmail, &user.email, "", Expect::Absent, id_bytes.clone(), None).await?.applied() {
            self.b.delete(Table::UsersById, &id, "").await?;
            return Err(StoreError::Duplicate("email"));
        }
        if let Some(username) = &user.username {
            if !self.b.cas(Table::UsersByUsername, username, "", Expect::Absent, id_bytes, None).await?.applied() {
                self.b.delete(Table::UsersByEmail, &user.email, "").await?;
                self.b.delete(Table::UsersById, &id, "").await?;
                return Err(StoreError::Duplicate("username"));
            }
        }
        self.b.put(Table::UsersByCreation, "all", &id, Vec::new(), None).await?;
        Ok(user)
    }

    pub async fn get(&self, id: UserId) -> Result<Option<Versioned<User>>, StoreError> {
        get_versioned(self.b, Table::UsersById, &id.to_string(), "").await
    }

    /// User ids in creation order, one page at a time (for scheduled jobs).
    pub async fn ids_page(
        &self,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<UserId>, Option<String>), StoreError> {
        let page = self.b.scan(Table::UsersByCreation, "all", Order::Asc, limit, cursor).await?;
        let ids = page.rows.iter().filter_map(|r| UserId::parse(&r.ck).ok()).collect();
        Ok((ids, page.next_cursor))
    }

    async fn by_index(&self, table: Table, key: &str) -> Result<Option<Versioned<User>>, StoreError> {
        let Some(row) = self.b.get(table, key, "").await? else { return Ok(None) };
        let id: UserId = decode(table, &row.value)?;
        self.get(id).await
    }

    pub async fn find_by_email(&self, email: &Email) -> Result<Option<Versioned<User>>, StoreError> {
        self.by_index(Table::UsersByEmail, email.as_str()).await
    }

    pub async fn find_by_username(&self, username: &Username) -> Result<Option<Versioned<User>>, StoreError> {
        self.by_index(Table::UsersByUsername, username.as_str()).await
    }

    /// Saves `user` if it is still at `version`; a changed username is re-reserved.
    /// Answers the new version, or `Conflict` if someone else changed the account first.
    pub async fn save_if_version(&self, previous: &User, user: &User, version: i64) -> Result<i64, StoreError> {
        let username_changed = previous.username != user.username;
        if username_changed {
            if let Some(new_name) = &user.username {
                let id_bytes = encode(Table::UsersByUsername, &user.id)?;
                if !self.b.cas(Table::UsersByUsername, new_name, "", Expect::Absent, id_bytes, None).await?.applied() {
                    return Err(StoreError::Duplicate("username"));
                }
            }
        }
        let row = encode(Table::UsersById, user)?;
        match self.b.cas(Table::UsersById, &user.id.to_string(), "", Expect::Version(version), row, None).await? {
            CasOutcome::Applied { version } => {
                if username_changed {
                    if let Some(old) = &previous.username {
                        self.b.delete(Table::UsersByUsername, old, "").await?;
                    }
                }
                Ok(version)
            }
            CasOutcome::Conflict { .. } => {
                if username_changed {
                    if let Some(new_name) = &user.username {
                        self.b.delete(Table::UsersByUsername, new_name, "").await?;
                    }
                }
                Err(StoreError::Conflict)
            }
        }
    }

    /// Applies `change` with a compare-and-set retry loop; `None` if the user does not exist.
    pub async fn update(&self, id: UserId, mut change: impl FnMut(&mut User)) -> Result<Option<User>, StoreError> {
        let change = std::sync::Mutex::new(&mut change);
        let change = &change;
        cas_retry(|| async move {
            let Some(current) = self.get(id).await? else { return Ok(Some(None)) };
            let mut next = current.value.clone();
            (change.lock().unwrap_or_else(|p| p.into_inner()))(&mut next);
            Ok(lost(self.save_if_version(&current.value, &next, current.version).await)?.map(|_| Some(next)))
        })
        .await
    }
}

// ---------------------------------------------------------------------------------------
// Sessions: refresh-token families

/// One login session. Its refresh token works once: each refresh replaces `current_jti`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub id: SessionId,
    pub user_id: UserId,
    pub current_jti: String,
    pub revoked: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq)]
pub enum Rotation {
    /// The token was current; the session now expects `new_jti`.
    Rotated(Session),
    /// The token was already used: the whole family has been revoked.
    Reused,
    /// The session was revoked or has expired.
    Invalid,
}

pub struct Sessions<'a> {
    b: &'a dyn Backend,
}

impl Sessions<'_> {
    pub async fn create(&self, s: &Session, now: OffsetDateTime) -> Result<(), StoreError> {
        let ttl = Some(remaining(s.expires_at, now));
        let row = encode(Table::SessionsById, s)?;
        if !self.b.cas(Table::SessionsById, &s.id.to_string(), "", Expect::Absent, row, ttl).await?.applied() {
            return Err(StoreError::Duplicate("session"));
        }
        self.b.put(Table::SessionsByUser, &s.user_id.to_string(), &s.id.to_string(), Vec::new(), ttl).await
    }

    pub async fn get(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        Ok(get_versioned(self.b, Table::SessionsById, &id.to_string(), "").await?.map(|v| v.value))
    }

    /// Whether access tokens of this session are still honoured: one point read.
    pub async fn is_active(&self, id: SessionId) -> Result<bool, StoreError> {
        Ok(self.get(id).await?.is_some_and(|s| !s.revoked))
    }

    /// Exchanges `presented_jti` for `new_jti`, exactly once. A second use of the same
    /// token (a replay, or a stolen copy) revokes the family.
    pub async fn rotate(
        &self,
        id: SessionId,
        presented_jti: &str,
        new_jti: &str,
        now: OffsetDateTime,
    ) -> Result<Rotation, StoreError> {
        let pk = id.to_string();
        cas_retry(|| async {
            let Some(current) = get_versioned::<Session>(self.b, Table::SessionsById, &pk, "").await? else {
                return Ok(Some(Rotation::Invalid));
            };
            if current.value.revoked || current.value.expires_at <= now {
                return Ok(Some(Rotation::Invalid));
            }
            if current.value.current_jti != presented_jti {
                self.revoke(id, now).await?;
                return Ok(Some(Rotation::Reused));
            }
            let mut next = current.value.clone();
            next.current_jti = new_jti.to_string();
            let row = encode(Table::SessionsById, &next)?;
            let ttl = Some(remaining(next.expires_at, now));
            let applied = self.b.cas(Table::SessionsById, &pk, "", Expect::Version(current.version), row, ttl).await?;
            Ok(applied.applied().then_some(Rotation::Rotated(next)))
        })
        .await
    }

    /// Revokes the session (idempotent). Its row lives on until expiry, marked revoked.
    pub async fn revoke(&self, id: SessionId, now: OffsetDateTime) -> Result<(), StoreError> {
        let pk = id.to_string();
        cas_retry(|| async {
            let Some(current) = get_versioned::<Session>(self.b, Table::SessionsById, &pk, "").await? else {
                return Ok(Some(()));
            };
            if current.value.revoked {
                return Ok(Some(()));
            }
            let mut next = current.value;
            next.revoked = true;
            let row = encode(Table::SessionsById, &next)?;
            let ttl = Some(remaining(next.expires_at, now));
            let applied = self.b.cas(Table::SessionsById, &pk, "", Expect::Version(current.version), row, ttl).await?;
            Ok(applied.applied().then_some(()))
        })
        .await
    }

    /// Revokes every session of `user` except `keep`, page by page. Answers how many.
    pub async fn revoke_all_for_user(
        &self,
        user: UserId,
        keep: Option<SessionId>,
        now: OffsetDateTime,
    ) -> Result<usize, StoreError> {
        let pk = user.to_string();
        let mut cursor: Option<String> = None;
        let mut revoked = 0;
        loop {
            let page = self.b.scan(Table::SessionsByUser, &pk, Order::Asc, 200, cursor.as_deref()).await?;
            for row in &page.rows {
                let id = SessionId::parse(&row.ck).map_err(|_| StoreError::Corrupt {
                    table: Table::SessionsByUser.name(),
                    detail: format!("bad session id {:?}", row.ck),
                })?;
                if Some(id) != keep {
                    self.revoke(id, now).await?;
                    revoked += 1;
                }
            }
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => return Ok(revoked),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// One-time tokens: password reset and email verification

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenPurpose {
    PasswordReset,
    EmailVerification,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OneTimeToken {
    purpose: TokenPurpose,
    user_id: UserId,
    used: bool,
    #[serde(with = "time::serde::rfc3339")]
    expires_at: OffsetDateTime,
    /// For password resets: the user's `reset_generation` at issue time.
    #[serde(default)]
    generation: u64,
}

pub struct OneTimeTokens<'a> {
    b: &'a dyn Backend,
}

impl OneTimeTokens<'_> {
    /// Stores a token under its hash (the clear token is never stored).
    pub async fn issue(
        &self,
        hash: &str,
        purpose: TokenPurpose,
        user_id: UserId,
        ttl: Duration,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let expires_at = now + ttl;
        let generation = match purpose {
            TokenPurpose::PasswordReset => self.reset_generation(user_id).await?.unwrap_or(0),
            TokenPurpose::EmailVerification => 0,
        };
        let row =
            encode(Table::OneTimeTokens, &OneTimeToken { purpose, user_id, used: false, expires_at, generation })?;
        if self.b.cas(Table::OneTimeTokens, hash, "", Expect::Absent, row, Some(ttl)).await?.applied() {
            Ok(())
        } else {
            Err(StoreError::Duplicate("token"))
        }
    }

    async fn reset_generation(&self, user_id: UserId) -> Result<Option<u64>, StoreError> {
        Ok(Users { b: self.b }.get(user_id).await?.map(|u| u.value.reset_generation))
    }

    /// Marks the token used and answers its user, exactly once; `None` for an unknown,
    /// expired, already used or wrong-purpose token, and for a reset token revoked since
    /// (a successful reset or a password change bumps the user's `reset_generation`).
    pub async fn consume(
        &self,
        hash: &str,
        purpose: TokenPurpose,
        now: OffsetDateTime,
    ) -> Result<Option<UserId>, StoreError> {
        let Some(current) = get_versioned::<OneTimeToken>(self.b, Table::OneTimeTokens, hash, "").await? else {
            return Ok(None);
        };
        let t = current.value;
        if t.used || t.purpose != purpose || t.expires_at <= now {
            return Ok(None);
        }
        if purpose == TokenPurpose::PasswordReset && self.reset_generation(t.user_id).await? != Some(t.generation) {
            return Ok(None);
        }
        let used = OneTimeToken { used: true, ..t.clone() };
        let row = encode(Table::OneTimeTokens, &used)?;
        let ttl = Some(remaining(t.expires_at, now));
        match self.b.cas(Table::OneTimeTokens, hash, "", Expect::Version(current.version), row, ttl).await? {
            CasOutcome::Applied { .. } => Ok(Some(t.user_id)),
            CasOutcome::Conflict { .. } => Ok(None),
        }
    }
}
