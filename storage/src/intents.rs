//! Durable intents of multi-step operations. A use case that writes several aggregates one
//! after the other (accept: proposal, job capacity, contract; booking confirm: schedule,
//! booking) records its intent first and removes it when every step is done. Whatever a
//! crash leaves behind is found here by the sweeper, which completes or undoes it.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use agora_engine::{
    BookingId, ContractId, JobId, LedgerTxnId, MilestoneId, PaymentId, PaymentMethodId, PayoutId, ProposalId, UserId,
};

use crate::backend::{Backend, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::tables::Table;

const ALL: &str = "all";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Accept `proposal` for `job`, creating `contract`.
    Accept { proposal_id: ProposalId, job_id: JobId, contract_id: ContractId, client_id: UserId },
    /// Confirm `booking`, reserving its interval on `provider`'s schedule; a priced booking
    /// is charged first (`charge`: its payment and the saved card).
    ConfirmBooking {
        booking_id: BookingId,
        provider_id: UserId,
        by: UserId,
        #[serde(default)]
        charge: Option<(PaymentId, PaymentMethodId)>,
    },
    /// Post the settlement `txn_id` (release or refund) that a paid `booking` records.
    SettleBooking { booking_id: BookingId, txn_id: LedgerTxnId },
    /// Charge `payment` and fund `milestone` of `contract` with it through ledger transaction `txn_id`.
    FundMilestone {
        contract_id: ContractId,
        milestone_id: MilestoneId,
        payment_id: PaymentId,
        payment_method_id: PaymentMethodId,
        txn_id: LedgerTxnId,
        by: UserId,
    },
    /// Post the settlement `txn_id` (release, refund or split) that `milestone` records.
    SettleMilestone { contract_id: ContractId, milestone_id: MilestoneId, txn_id: LedgerTxnId },
    /// `contract` is moving to a terminal status: settle what is still in escrow (release
    /// on completion, refund on cancellation).
    SettleContract { contract_id: ContractId },
    /// An admin resolves `contract`'s dispute: settle each milestone as planned
    /// (`(milestone, released, refunded)` in minor units), then end the contract.
    ResolveDispute { contract_id: ContractId, plan: Vec<(MilestoneId, i64, i64)>, by: UserId },
    /// The client withdrew `job`: close its pending proposals.
    WithdrawJob { job_id: JobId },
    /// Take `payout`'s amount from the wallet and hand it to the gateway.
    Payout { payout_id: PayoutId },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Intent {
    pub id: uuid::Uuid,
    pub step: Step,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Intent {
    pub fn new(step: Step, at: OffsetDateTime) -> Intent {
        Intent { id: uuid::Uuid::now_v7(), step, created_at: at }
    }
}

pub struct Intents<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Intents<'_> {
    /// Records an intent durably (before its first step).
    pub async fn record(&self, i: &Intent) -> Result<(), StoreError> {
        let row = encode(Table::Intents, i)?;
        if !self.b.cas(Table::Intents, ALL, &i.id.to_string(), Expect::Absent, row, None).await?.applied() {
            return Err(StoreError::Duplicate("intent"));
        }
        Ok(())
    }

    /// Removes a finished (or undone) intent; idempotent.
    pub async fn done(&self, id: uuid::Uuid) -> Result<(), StoreError> {
        self.b.delete(Table::Intents, ALL, &id.to_string()).await
    }

    /// The oldest `limit` intents still in flight.
    pub async fn pending(&self, limit: usize) -> Result<Vec<Intent>, StoreError> {
        let page = self.b.scan(Table::Intents, ALL, Order::Asc, limit, None).await?;
        page.rows.iter().map(|r| decode(Table::Intents, &r.value)).collect()
    }
}
