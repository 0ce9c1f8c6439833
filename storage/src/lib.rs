//! Agora persistence.
//!
//! [`open`] gives a cheap-clone [`Store`] with domain-level methods, typed by entity id.
//! Those are written once over a narrow table-level backend trait (partition key,
//! clustering order, paged scans with an opaque cursor, compare-and-set, TTL,
//! single-partition batches), which the embedded SQLite backend and the ScyllaDB backend
//! implement. The trait, the table enum and the backends are private to this crate: no
//! other crate reads or writes a table. The storage benchmark alone reaches them through
//! [`internals`] (cargo feature `internals`, enabled by benches/ only).

pub mod analytics;
pub mod attachments;
pub mod availability;
mod backend;
mod cache;
pub mod chat;
mod codec;
pub mod error;
mod instrumented;
pub mod intents;
pub mod ledger;
pub mod market;
pub mod notify;
pub mod payments;
pub mod private_fs;
mod retry;
#[cfg(feature = "scylla")]
mod scylla;
pub mod search;
#[cfg(feature = "sqlite")]
mod sqlite;
mod store;
mod tables;
#[cfg(test)]
mod tests;

pub use backend::{check_cursor, Order};
pub use error::StoreError;
pub use retry::{cas_retry, lost, CAS_RETRIES};
pub use store::*;
pub use tables::SCHEMA_VERSION;

/// Raw table-level access for the storage benchmark (benches/benches/storage.rs), which
/// measures the backend itself. Not an API: nothing but benches/ enables the feature, and
/// a test in this crate checks that.
#[cfg(feature = "internals")]
pub mod internals {
    pub use crate::backend::{Backend, BatchOp, CasOutcome, Expect, Page, Row};
    #[cfg(feature = "sqlite")]
    pub use crate::sqlite::SqliteBackend;
    pub use crate::tables::Table;
}

/// Which backend to open, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Settings {
    /// The embedded default: one SQLite file (WAL), `readers` reader threads.
    Sqlite { path: std::path::PathBuf, readers: usize },
    /// A ScyllaDB cluster: contact points, keyspace, and the replication factor used when
    /// the keyspace is created.
    Scylla { nodes: Vec<String>, keyspace: String, replication_factor: u32 },
}

/// Opens the configured backend (migrating its schema forward) behind a [`Store`].
pub async fn open(settings: &Settings) -> Result<Store, StoreError> {
    match settings {
        #[cfg(feature = "sqlite")]
        Settings::Sqlite { path, readers } => Store::open_sqlite(path, *readers),
        #[cfg(feature = "scylla")]
        Settings::Scylla { nodes, keyspace, replication_factor } => {
            let backend = scylla::ScyllaBackend::connect(nodes, keyspace, *replication_factor).await?;
            Ok(Store::new(std::sync::Arc::new(backend)))
        }
        #[allow(unreachable_patterns)]
        other => Err(StoreError::Config(format!("this build has no backend for {other:?} (cargo feature off)"))),
    }
}
