//! Row value encoding: MessagePack with field names, so fields can be added later.

use serde::{de::DeserializeOwned, Serialize};

use crate::error::StoreError;
use crate::tables::Table;

pub(crate) fn encode<T: Serialize>(table: Table, v: &T) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::Corrupt { table: table.name(), detail: e.to_string() })
}

pub(crate) fn decode<T: DeserializeOwned>(table: Table, bytes: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(bytes).map_err(|e| StoreError::Corrupt { table: table.name(), detail: e.to_string() })
}
