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
pub mod market;
pub mod notify;
pub mod private_fs;
pub mod scylla;
pub mod search;
pub mod sqlite;
mod store;
pub mod tables;

pub use backend::{Backend, BatchOp, CasOutcome, Expect, Order, Page, Row};
pub use error::StoreError;
pub use store::*;
pub use tables::{Table, SCHEMA_VERSION};
