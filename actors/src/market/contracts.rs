//! Contract status changes. Each is decided by the engine's state machine, then persisted by
//! compare-and-set on the contract's version (so changes from other nodes are never
//! overwritten), with the transition stored in the contract's history. The provider's
//! `completed_jobs` grows exactly once: only the one change that moves the contract to
//! completed wins its compare-and-set. The job's status follows its contracts.
//!
//! A status call never starts a contract: pending → active happens only when the client
//! funds the first milestone ([`activate_by_funding`]). The client completes only when no
//! milestone is unfunded.

use agora_engine::contract::{check_completion, Trigger};
use agora_engine::payment::MilestoneStatus;
use agora_engine::{Contract, ContractActor, ContractEvent, ContractId, ContractStatus, DomainEvent, Job, UserId};
use agora_storage::intents::{Intent, Step};
use agora_storage::market::Provider;
use agora_storage::{cas_retry, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// A requested status change, by a party or an admin.
#[derive(actix::Message)]
#[rtype(result = "Result<Contract, ActorError>")]
pub struct ChangeContractStatus {
    pub by: Caller,
    pub contract_id: ContractId,
    pub to: ContractStatus,
    pub reason: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for ChangeContractStatus {
    type Output = Contract;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Contract(self.contract_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Contract, ActorError>> {
        Box::pin(change(cx, self, Trigger::Request))
    }
}

/// Funding the first milestone starts a pending contract (the funding command's last step;
/// a repeat finds it active and changes nothing).
pub(crate) async fn activate_by_funding(
    cx: &Cx,
    by: Caller,
    contract_id: ContractId,
    at: OffsetDateTime,
) -> Result<Contract, ActorError> {
    let to = ContractStatus::Active;
    let msg = ChangeContractStatus { by, contract_id, to, reason: Some("funded".into()), at };
    match change(cx.clone(), msg, Trigger::Funding).await {
        // Activated meanwhile by the same funding finishing elsewhere (its webhook, or the
        // sweeper), or moved on since: the contract is as it is.
        Err(ActorError::Refused(agora_engine::DomainError::Transition { .. })) => {
            Ok(cx.store.market().get::<Contract>(contract_id).await?.ok_or(ActorError::NotFound)?.value)
        }
        other => other,
    }
}

/// A status change; a terminal one also settles what is still in escrow (release on
/// completion, refund on cancellation), under an intent the sweeper completes after a crash.
pub(crate) async fn change(cx: Cx, msg: ChangeContractStatus, trigger: Trigger) -> Result<Contract, ActorError> {
    if !msg.to.is_terminal() {
        return change_status(cx, msg, trigger).await;
    }
    let at = msg.at;
    let intent = Intent::new(Step::SettleContract { contract_id: msg.contract_id }, at);
    cx.store.intents().record(&intent).await?;
    let changed = change_status(cx.clone(), msg, trigger).await;
    if let Ok(c) = &changed {
        cx.faults.hit("contract:ended");
        super::milestones::settle_contract(&cx, c, at).await?;
    }
    cx.store.intents().done(intent.id).await?;
    changed
}

async fn change_status(cx: Cx, msg: ChangeContractStatus, trigger: Trigger) -> Result<Contract, ActorError> {
    let m = cx.store.market();
    let (next, change, completes_job) = cas_retry(|| async {
        let current = m.get::<Contract>(msg.contract_id).await?.ok_or(ActorError::NotFound)?;
        let c = &current.value;
        // Admins act as admins (dispute resolution); parties as themselves.
        let by = c.party(msg.by.id, msg.by.is_admin()).ok_or(ActorError::NotFound)?;
        let decided = c.status.transition(msg.to, by, trigger).map_err(ActorError::Refused)?;
        if decided.to == ContractStatus::Completed && by == ContractActor::Client {
            let (set, _) = super::milestones::milestone_set(&cx, c).await?;
            let unfunded = set.milestones.iter().filter(|m| m.status == MilestoneStatus::Unfunded).count();
            check_completion(decided.to, by, unfunded).map_err(ActorError::Refused)?;
        }
        let mut next = c.clone();
        next.status = msg.to;
        next.updated_at = msg.at;
        let Some(version) = m.try_save(&next, current.version).await? else { return Ok(None) };
        let change = ContractEvent {
            contract_id: c.id,
            from: Some(decided.from),
            to: decided.to,
            actor_id: msg.by.id,
            actor_role: by.as_str().into(),
            reason: msg.reason.clone(),
            at: msg.at,
            version,
        };
        Ok::<_, ActorError>(Some((next, change, decided.completes_job)))
    })
    .await?;
    m.contract_event(&change).await?;
    let mut events = vec![DomainEvent::ContractStatusChanged { contract: next.clone(), change, by: msg.by.id }];
    if completes_job {
        // Exactly once: only this change moved the contract to completed.
        if let Some(p) = m.provider_of(next.provider_id).await? {
            m.update::<Provider, StoreError>(p.value.id, |p| {
                p.completed_jobs += 1;
                Ok(())
            })
            .await?;
            events.push(DomainEvent::CatalogChanged { item: agora_engine::event::CatalogItem::Provider(p.value.id) });
        }
    }
    if next.status.is_terminal() {
        let completed = next.status == ContractStatus::Completed;
        let job = m
            .update::<Job, StoreError>(next.job_id, |j| {
                j.contract_ended(next.id, completed, msg.at);
                Ok(())
            })
            .await?;
        if let Some(job) = job {
            events.push(DomainEvent::JobChanged { job: job.value });
        }
    }
    tracing::info!(contract = %next.id, to = next.status.as_str(), "contract status changed");
    metrics::counter!("agora_contract_transitions_total", "to" => next.status.as_str()).increment(1);
    cx.bus.publish(events, msg.at).await;
    Ok(next)
}

/// The parties of a contract other than `by` (who are told about a change).
pub fn others(c: &Contract, by: UserId) -> impl Iterator<Item = UserId> {
    [c.client_id, c.provider_id].into_iter().filter(move |u| *u != by)
}
