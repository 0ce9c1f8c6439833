//! Metrics around any backend, with static labels only (op, backend, outcome).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::backend::{Backend, BatchOp, CasOutcome, Expect, Order, Page, Row};
use crate::error::StoreError;
use crate::tables::Table;

pub(crate) struct Instrumented {
    inner: Arc<dyn Backend>,
}

impl Instrumented {
    pub(crate) fn new(inner: Arc<dyn Backend>) -> Self {
        Instrumented { inner }
    }

    async fn timed<T>(
        &self,
        op: &'static str,
        fut: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let result = fut.await;
        let backend = self.inner.name();
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("agora_storage_ops_total", "op" => op, "backend" => backend, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("agora_storage_op_duration_seconds", "op" => op, "backend" => backend)
            .record(start.elapsed().as_secs_f64());
        result
    }
}

#[async_trait::async_trait]
impl Backend for Instrumented {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.timed("ping", self.inner.ping()).await
    }

    async fn get(&self, table: Table, pk: &str, ck: &str) -> Result<Option<Row>, StoreError> {
        self.timed("get", self.inner.get(table, pk, ck)).await
    }

    async fn get_many(&self, table: Table, keys: &[(String, String)]) -> Result<Vec<Option<Row>>, StoreError> {
        self.timed("get_many", self.inner.get_many(table, keys)).await
    }

    async fn scan(
        &self,
        table: Table,
        pk: &str,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<Page, StoreError> {
        self.timed("scan", self.inner.scan(table, pk, order, limit, cursor)).await
    }

    async fn put(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<(), StoreError> {
        self.timed("put", self.inner.put(table, pk, ck, value, ttl)).await
    }

    async fn cas(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        ttl: Option<Duration>,
    ) -> Result<CasOutcome, StoreError> {
        let result = self.timed("cas", self.inner.cas(table, pk, ck, expect, value, ttl)).await;
        if let Ok(CasOutcome::Conflict { .. }) = &result {
            metrics::counter!("agora_storage_cas_conflicts_total", "backend" => self.inner.name()).increment(1);
        }
        result
    }

    async fn cas_batch(
        &self,
        table: Table,
        pk: &str,
        ck: &str,
        expect: Expect,
        value: Vec<u8>,
        others: Vec<BatchOp>,
    ) -> Result<CasOutcome, StoreError> {
        let result = self.timed("cas_batch", self.inner.cas_batch(table, pk, ck, expect, value, others)).await;
        if let Ok(CasOutcome::Conflict { .. }) = &result {
            metrics::counter!("agora_storage_cas_conflicts_total", "backend" => self.inner.name()).increment(1);
        }
        result
    }

    async fn delete(&self, table: Table, pk: &str, ck: &str) -> Result<(), StoreError> {
        self.timed("delete", self.inner.delete(table, pk, ck)).await
    }

    async fn batch(&self, table: Table, pk: &str, ops: Vec<BatchOp>) -> Result<(), StoreError> {
        self.timed("batch", self.inner.batch(table, pk, ops)).await
    }
}
