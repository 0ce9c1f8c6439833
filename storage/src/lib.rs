//! Agora persistence.
//!
//! Callers hold a cheap-clone [`Store`] with domain-level methods. Those are written once
//! over the narrow table-level [`backend::Backend`] trait (partition key, clustering order,
//! paged scans with an opaque cursor, compare-and-set, TTL, single-partition batches),
//! which the embedded SQLite backend and the ScyllaDB backend implement.

pub mod backend;
pub mod chat;
mod codec;
pub mod error;
mod instrumented;
pub mod intents;
pub mod market;
pub mod notify;
pub mod private_fs;
mod retry;
#[cfg(feature = "scylla")]
pub mod scylla;
pub mod search;
#[cfg(feature = "sqlite")]
pub mod sqlite;
mod store;
pub mod tables;

pub use backend::{Backend, BatchOp, CasOutcome, Expect, Order, Page, Row};
pub use error::StoreError;
pub use retry::{cas_retry, lost, CAS_RETRIES};
pub use store::*;
pub use tables::{Table, SCHEMA_VERSION};

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
