//! Payment records: saved cards, charges, a contract's milestones and idempotency keys.
//! Money balances are not here: they are the ledger's (`crate::ledger`).

use std::time::Duration;

use agora_engine::payment::{CardSummary, Milestone, MilestoneStatus, Payment, Payout};
use agora_engine::{Contract, ContractId, MilestoneId, PaymentId, PaymentMethodId, PayoutId, PayoutMethodId, UserId};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::market::{Entity, List};
use crate::store::{get_versioned, Versioned};
use crate::tables::Table;

const ALL: &str = "all";

/// How long an idempotency key is remembered.
pub const IDEMPOTENCY_TTL: Duration = Duration::from_secs(24 * 3600);

/// A saved card: the gateway's token and what may be shown. Never the number or the cvc.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentMethod {
    pub id: PaymentMethodId,
    pub user_id: UserId,
    pub gateway: String,
    pub token: String,
    pub card: CardSummary,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Entity for PaymentMethod {
    type Id = PaymentMethodId;
    const TABLE: Table = Table::PaymentMethodsById;
    fn id(&self) -> PaymentMethodId {
        self.id
    }
    fn indexes(&self) -> Vec<(Table, String)> {
        vec![(Table::PaymentMethodsByUser, self.user_id.to_string())]
    }
}

impl List<PaymentMethod> {
    pub fn payment_methods_of(user: UserId) -> Self {
        List::new(Table::PaymentMethodsByUser, user)
    }
}

impl Entity for Payment {
    type Id = PaymentId;
    const TABLE: Table = Table::PaymentsById;
    fn id(&self) -> PaymentId {
        self.id
    }
    fn indexes(&self) -> Vec<(Table, String)> {
        vec![(Table::PaymentsByUser, self.payer_id.to_string()), (Table::PaymentsByUser, self.payee_id.to_string())]
    }
}

impl List<Payment> {
    /// Payments the user made or receives.
    pub fn payments_of(user: UserId) -> Self {
        List::new(Table::PaymentsByUser, user)
    }
}

/// A bank account for payouts: the gateway's token and what may be shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PayoutMethod {
    pub id: PayoutMethodId,
    pub user_id: UserId,
    pub gateway: String,
    pub token: String,
    pub holder_name: String,
    pub country: String,
    pub last4: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Entity for PayoutMethod {
    type Id = PayoutMethodId;
    const TABLE: Table = Table::PayoutMethodsById;
    fn id(&self) -> PayoutMethodId {
        self.id
    }
    fn indexes(&self) -> Vec<(Table, String)> {
        vec![(Table::PayoutMethodsByUser, self.user_id.to_string())]
    }
}

impl List<PayoutMethod> {
    pub fn payout_methods_of(user: UserId) -> Self {
        List::new(Table::PayoutMethodsByUser, user)
    }
}

impl Entity for Payout {
    type Id = PayoutId;
    const TABLE: Table = Table::PayoutsById;
    fn id(&self) -> PayoutId {
        self.id
    }
    fn indexes(&self) -> Vec<(Table, String)> {
        vec![(Table::PayoutsByUser, self.user_id.to_string())]
    }
}

impl List<Payout> {
    pub fn payouts_of(user: UserId) -> Self {
        List::new(Table::PayoutsByUser, user)
    }
}

/// A webhook the built-in sandbox still has to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEvent {
    pub id: String,
    pub body: Vec<u8>,
    pub due_ms: i64,
}

/// How long applied webhook event ids are remembered.
pub const WEBHOOK_EVENT_TTL: Duration = Duration::from_secs(30 * 86_400);

/// A contract's milestones, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MilestoneSet {
    pub contract_id: ContractId,
    pub milestones: Vec<Milestone>,
}

impl MilestoneSet {
    /// What a contract has before anyone splits it: one milestone for the whole agreed
    /// amount. Its id is the contract's, so it is the same wherever it is computed.
    pub fn default_for(c: &Contract) -> MilestoneSet {
        MilestoneSet {
            contract_id: c.id,
            milestones: vec![Milestone::unfunded(
                MilestoneId::from_uuid(c.id.as_uuid()),
                c.id,
                1,
                c.title.clone(),
                c.agreed_rate,
                c.deadline,
                c.created_at,
            )],
        }
    }

    pub fn get(&self, id: MilestoneId) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.id == id)
    }

    pub fn get_mut(&mut self, id: MilestoneId) -> Option<&mut Milestone> {
        self.milestones.iter_mut().find(|m| m.id == id)
    }

    /// The first milestone not yet funded (skipping removed ones).
    pub fn next_unfunded(&self) -> Option<&Milestone> {
        self.milestones.iter().find(|m| m.status == MilestoneStatus::Unfunded)
    }

    /// Minor units in escrow for this contract.
    pub fn in_escrow(&self) -> i64 {
        self.milestones.iter().map(Milestone::held).sum()
    }
}

/// A submitted milestone that is released automatically at `due` unless the client answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDue {
    pub contract_id: ContractId,
    pub milestone_id: MilestoneId,
    /// The submission this release belongs to: a later submission has its own row.
    #[serde(with = "time::serde::rfc3339")]
    pub submitted_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub due: OffsetDateTime,
}

impl ReleaseDue {
    fn ck(&self) -> String {
        format!("{:012}:{}:{}", self.due.unix_timestamp().max(0), self.contract_id, self.milestone_id)
    }
}

/// What is stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    /// SHA-256 (hex) over method, path and body: the same key with another request is refused.
    pub fingerprint: String,
    /// `None` while the first request runs.
    pub response: Option<StoredResponse>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// What claiming a key found.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is new (or its last holder gave up): run the request.
    Run { version: i64 },
    /// The same request was answered: replay this.
    Replay(StoredResponse),
    /// The same request is still running.
    InFlight,
    /// The key was used for a different request.
    Mismatch,
}

pub struct Payments<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Payments<'_> {
    /// The contract's milestones with their version (`None`: never split or funded, so the
    /// default single milestone applies, see [`MilestoneSet::default_for`]).
    pub async fn milestones(&self, contract: ContractId) -> Result<Option<Versioned<MilestoneSet>>, StoreError> {
        get_versioned(self.b, Table::MilestonesByContract, &contract.to_string(), "").await
    }

    /// Saves the set if it is still at `version` (`None`: if it was never saved). `Ok(None)`
    /// when another write won.
    pub async fn save_milestones(&self, set: &MilestoneSet, version: Option<i64>) -> Result<Option<i64>, StoreError> {
        let expect = version.map_or(Expect::Absent, Expect::Version);
        let row = encode(Table::MilestonesByContract, set)?;
        match self.b.cas(Table::MilestonesByContract, &set.contract_id.to_string(), "", expect, row, None).await? {
            CasOutcome::Applied { version } => Ok(Some(version)),
            CasOutcome::Conflict { .. } => Ok(None),
        }
    }

    /// Schedules an automatic release (idempotent).
    pub async fn schedule_release(&self, r: &ReleaseDue) -> Result<(), StoreError> {
        let row = encode(Table::MilestoneReleasesDue, r)?;
        self.b.put(Table::MilestoneReleasesDue, ALL, &r.ck(), row, None).await
    }

    /// Releases due at or before `now`, oldest first, at most `limit`.
    pub async fn due_releases(&self, now: OffsetDateTime, limit: usize) -> Result<Vec<ReleaseDue>, StoreError> {
        let page = self.b.scan(Table::MilestoneReleasesDue, ALL, Order::Asc, limit, None).await?;
        let mut out = Vec::new();
        for row in &page.rows {
            let r: ReleaseDue = decode(Table::MilestoneReleasesDue, &row.value)?;
            if r.due > now {
                break;
            }
            out.push(r);
        }
        Ok(out)
    }

    /// Removes a release from the due list (done, or moot).
    pub async fn done_release(&self, r: &ReleaseDue) -> Result<(), StoreError> {
        self.b.delete(Table::MilestoneReleasesDue, ALL, &r.ck()).await
    }

    /// Whether the webhook event was applied already.
    pub async fn webhook_seen(&self, gateway: &str, event: &str) -> Result<bool, StoreError> {
        Ok(self.b.get(Table::WebhookEvents, &format!("{gateway}:{event}"), "").await?.is_some())
    }

    /// Records an applied webhook event (after applying it: a replay is then a no-op).
    pub async fn webhook_applied(&self, gateway: &str, event: &str, at: OffsetDateTime) -> Result<(), StoreError> {
        let row = encode(Table::WebhookEvents, &at.unix_timestamp())?;
        self.b.put(Table::WebhookEvents, &format!("{gateway}:{event}"), "", row, Some(WEBHOOK_EVENT_TTL)).await
    }

    /// Queues a webhook of `gateway` for delivery at `due_ms` (idempotent by event id).
    pub async fn outbox_put(&self, gateway: &str, e: &OutboxEvent) -> Result<(), StoreError> {
        let row = encode(Table::GatewayOutbox, e)?;
        self.b.put(Table::GatewayOutbox, gateway, &format!("{:015}:{}", e.due_ms.max(0), e.id), row, None).await
    }

    /// Webhooks of `gateway` due at or before `now_ms`, oldest first.
    pub async fn outbox_due(&self, gateway: &str, now_ms: i64, limit: usize) -> Result<Vec<OutboxEvent>, StoreError> {
        let page = self.b.scan(Table::GatewayOutbox, gateway, Order::Asc, limit, None).await?;
        let mut out = Vec::new();
        for row in &page.rows {
            let e: OutboxEvent = decode(Table::GatewayOutbox, &row.value)?;
            if e.due_ms > now_ms {
                break;
            }
            out.push(e);
        }
        Ok(out)
    }

    pub async fn outbox_done(&self, gateway: &str, e: &OutboxEvent) -> Result<(), StoreError> {
        self.b.delete(Table::GatewayOutbox, gateway, &format!("{:015}:{}", e.due_ms.max(0), e.id)).await
    }

    /// Claims `key` for a request with `fingerprint`. A running claim older than `lease` is
    /// taken over (its process died before answering); the command it ran is idempotent by
    /// its own state, so running it again cannot apply it twice.
    pub async fn claim_key(
        &self,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<Claim, StoreError> {
        let fresh = IdempotencyRecord { fingerprint: fingerprint.to_string(), response: None, started_at: now };
        let row = encode(Table::IdempotencyKeys, &fresh)?;
        let current = match self
            .b
            .cas(Table::IdempotencyKeys, key, "", Expect::Absent, row.clone(), Some(IDEMPOTENCY_TTL))
            .await?
        {
            CasOutcome::Applied { version } => return Ok(Claim::Run { version }),
            CasOutcome::Conflict { current: Some(r) } => r,
            // Expired between the two reads: try once more next time.
            CasOutcome::Conflict { current: None } => return Ok(Claim::InFlight),
        };
        let found: IdempotencyRecord = decode(Table::IdempotencyKeys, &current.value)?;
        if found.fingerprint != fingerprint {
            return Ok(Claim::Mismatch);
        }
        match found.response {
            Some(r) => Ok(Claim::Replay(r)),
            None if now - found.started_at > lease => {
                match self
                    .b
                    .cas(Table::IdempotencyKeys, key, "", Expect::Version(current.version), row, Some(IDEMPOTENCY_TTL))
                    .await?
                {
                    CasOutcome::Applied { version } => Ok(Claim::Run { version }),
                    CasOutcome::Conflict { .. } => Ok(Claim::InFlight),
                }
            }
            None => Ok(Claim::InFlight),
        }
    }

    /// Stores the answer of a claimed key (kept for the rest of its 24 h).
    pub async fn answer_key(
        &self,
        key: &str,
        version: i64,
        fingerprint: &str,
        started_at: OffsetDateTime,
        response: StoredResponse,
    ) -> Result<(), StoreError> {
        let done = IdempotencyRecord { fingerprint: fingerprint.to_string(), response: Some(response), started_at };
        let row = encode(Table::IdempotencyKeys, &done)?;
        self.b.cas(Table::IdempotencyKeys, key, "", Expect::Version(version), row, Some(IDEMPOTENCY_TTL)).await?;
        Ok(())
    }

    /// Gives a claimed key up (the request failed before doing anything durable), so a
    /// retry runs it afresh.
    pub async fn release_key(&self, key: &str) -> Result<(), StoreError> {
        self.b.delete(Table::IdempotencyKeys, key, "").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn releases_come_due_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = crate::Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
        let p = s.payments();
        let now = OffsetDateTime::now_utc();
        let r = |secs: i64| ReleaseDue {
            contract_id: ContractId::from_uuid(uuid::Uuid::now_v7()),
            milestone_id: MilestoneId::from_uuid(uuid::Uuid::now_v7()),
            submitted_at: now,
            due: now + time::Duration::seconds(secs),
        };
        let (late, early, future) = (r(-10), r(-100), r(3600));
        for x in [&late, &early, &future] {
            p.schedule_release(x).await.expect("schedule");
        }
        p.schedule_release(&late).await.expect("idempotent");
        assert_eq!(p.due_releases(now, 10).await.expect("due"), vec![early, late]);
        p.done_release(&early).await.expect("done");
        assert_eq!(p.due_releases(now, 10).await.expect("due"), vec![late]);
        assert_eq!(p.due_releases(now + time::Duration::hours(2), 10).await.expect("due").len(), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency_keys_run_once_replay_and_refuse_other_requests() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = crate::Store::open_sqlite(dir.path().join("agora.db"), 2).expect("open");
        let p = s.payments();
        let now = OffsetDateTime::now_utc();
        let lease = time::Duration::seconds(60);
        let Claim::Run { version } = p.claim_key("u:k1", "fp", now, lease).await.expect("claim") else {
            panic!("a new key runs")
        };
        assert_eq!(p.claim_key("u:k1", "fp", now, lease).await.expect("claim"), Claim::InFlight);
        assert_eq!(p.claim_key("u:k1", "other", now, lease).await.expect("claim"), Claim::Mismatch);
        let answer = StoredResponse { status: 201, body: b"{}".to_vec() };
        p.answer_key("u:k1", version, "fp", now, answer.clone()).await.expect("answer");
        assert_eq!(p.claim_key("u:k1", "fp", now, lease).await.expect("claim"), Claim::Replay(answer));
        assert_eq!(p.claim_key("u:k1", "other", now, lease).await.expect("claim"), Claim::Mismatch);
        // A claim whose holder died is taken over after the lease.
        assert!(matches!(p.claim_key("u:k2", "fp", now, lease).await.expect("claim"), Claim::Run { .. }));
        let later = now + time::Duration::seconds(61);
        assert!(matches!(p.claim_key("u:k2", "fp", later, lease).await.expect("claim"), Claim::Run { .. }));
        // A released key runs again.
        p.release_key("u:k2").await.expect("release");
        assert!(matches!(p.claim_key("u:k2", "fp", later, lease).await.expect("claim"), Claim::Run { .. }));
    }
}
