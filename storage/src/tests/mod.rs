//! The crate's own test suites. They live inside the crate because they drive the private
//! table-level backend directly: the conformance suite (every backend behaves the same),
//! the ScyllaDB schema check, and chat storage under torn writes.

mod analytics;
mod attachments;
mod availability;
mod chat;
mod conformance;
mod internals_guard;
#[cfg(feature = "scylla")]
mod scylla_schema;
