//! Contract actors: one per contract with pending changes, started on demand by the
//! ContractRegistry and stopped when idle. Each status change is decided by the engine's
//! state machine, then persisted by compare-and-set on the contract's version (so changes
//! from other nodes are never overwritten), with the transition stored in the contract's
//! history. The provider's `completed_jobs` grows exactly once: only the one change that
//! moves the contract to completed wins its compare-and-set.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use actix::prelude::*;
use agora_engine::{ContractActor as Party, ContractId, ContractStatus, UserId};
use agora_storage::market::{Contract, ContractEvent, Job, Provider};
use agora_storage::{Store, StoreError};
use time::OffsetDateTime;

use crate::ActorError;

/// A requested status change, by a party or an admin.
#[derive(Message)]
#[rtype(result = "Result<Changed, ActorError>")]
pub struct ChangeStatus {
    pub contract_id: ContractId,
    pub actor_id: UserId,
    pub actor_is_admin: bool,
    pub to: ContractStatus,
    pub reason: Option<String>,
}

/// The contract after the change, and the transition made.
#[derive(Debug, Clone)]
pub struct Changed {
    pub contract: Contract,
    pub event: ContractEvent,
    pub completed_job: bool,
}

pub struct ContractRegistry {
    store: Store,
    idle_after: Duration,
    actors: HashMap<ContractId, Addr<ContractWorker>>,
}

impl ContractRegistry {
    pub fn new(store: Store, idle_after: Duration) -> Self {
        ContractRegistry { store, idle_after, actors: HashMap::new() }
    }
}

impl Actor for ContractRegistry {
    type Context = Context<Self>;
}

impl Handler<ChangeStatus> for ContractRegistry {
    type Result = ResponseFuture<Result<Changed, ActorError>>;

    fn handle(&mut self, msg: ChangeStatus, ctx: &mut Context<Self>) -> Self::Result {
        let id = msg.contract_id;
        let addr = match self.actors.get(&id).filter(|a| a.connected()) {
            Some(a) => a.clone(),
            None => {
                let a = ContractWorker {
                    id,
                    store: self.store.clone(),
                    registry: ctx.address(),
                    idle_after: self.idle_after,
                    last_used: Instant::now(),
                    retiring: false,
                }
                .start();
                self.actors.insert(id, a.clone());
                a
            }
        };
        Box::pin(async move { addr.send(msg).await.map_err(|_| ActorError::Unavailable)? })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct Retire {
    id: ContractId,
    addr: Addr<ContractWorker>,
}

impl Handler<Retire> for ContractRegistry {
    type Result = ();

    fn handle(&mut self, msg: Retire, _: &mut Context<Self>) {
        if self.actors.get(&msg.id).is_some_and(|a| *a == msg.addr) {
            self.actors.remove(&msg.id);
        }
        msg.addr.do_send(StopWorker);
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopWorker;

/// The actor of one contract.
pub struct ContractWorker {
    id: ContractId,
    store: Store,
    registry: Addr<ContractRegistry>,
    idle_after: Duration,
    last_used: Instant,
    retiring: bool,
}

impl Actor for ContractWorker {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Context<Self>) {
        let every = (self.idle_after / 2).max(Duration::from_millis(50));
        ctx.run_interval(every, |act, ctx| {
            if !act.retiring && act.last_used.elapsed() >= act.idle_after {
                act.retiring = true;
                act.registry.do_send(Retire { id: act.id, addr: ctx.address() });
            }
        });
    }
}

impl Handler<StopWorker> for ContractWorker {
    type Result = ();

    fn handle(&mut self, _: StopWorker, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

impl Handler<ChangeStatus> for ContractWorker {
    type Result = AtomicResponse<Self, Result<Changed, ActorError>>;

    fn handle(&mut self, msg: ChangeStatus, _: &mut Context<Self>) -> Self::Result {
        self.last_used = Instant::now();
        let store = self.store.clone();
        AtomicResponse::new(Box::pin(async move { change(&store, msg).await }.into_actor(self)))
    }
}

/// How many compare-and-set rounds a change may lose to other nodes before giving up.
const RETRIES: usize = 16;

async fn change(store: &Store, msg: ChangeStatus) -> Result<Changed, ActorError> {
    let m = store.market();
    for _ in 0..RETRIES {
        let current = m.get::<Contract>(&msg.contract_id.to_string()).await?.ok_or(ActorError::NotFound)?;
        let c = &current.value;
        let party = if msg.actor_id == c.client_id {
            Some(Party::Client)
        } else if msg.actor_id == c.provider_id {
            Some(Party::Provider)
        } else {
            None
        };
        // Admins act as admins (dispute resolution); parties as themselves.
        let by = match (party, msg.actor_is_admin) {
            (_, true) => Party::Admin,
            (Some(p), false) => p,
            (None, false) => return Err(ActorError::NotFound),
        };
        let decided = c.status.transition(msg.to, by).map_err(ActorError::Refused)?;
        let now = OffsetDateTime::now_utc();
        let mut next = c.clone();
        next.status = msg.to;
        next.updated_at = now;
        let version = match m.save(&next, current.version).await {
            Ok(v) => v,
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        };
        let event = ContractEvent {
            contract_id: c.id,
            from: Some(decided.from),
            to: decided.to,
            actor_id: msg.actor_id,
            actor_role: match by {
                Party::Client => "client",
                Party::Provider => "provider",
                Party::Admin => "admin",
            }
            .into(),
            reason: msg.reason.clone(),
            at: now,
            version,
        };
        m.contract_event(&event).await?;
        if decided.completes_job {
            // Exactly once: only this change moved the contract to completed.
            if let Some(p) = m.provider_of(next.provider_id).await? {
                m.update::<Provider, StoreError>(&p.value.id.to_string(), |p| {
                    p.completed_jobs += 1;
                    Ok(())
                })
                .await?;
            }
            m.update::<Job, StoreError>(&next.job_id.to_string(), |j| {
                if j.status == agora_engine::JobStatus::InProgress {
                    j.status = agora_engine::JobStatus::Completed;
                    j.updated_at = now;
                }
                Ok(())
            })
            .await?;
        }
        tracing::info!(contract = %c.id, from = decided.from.as_str(), to = decided.to.as_str(), "contract status changed");
        metrics::counter!("agora_contract_transitions_total", "to" => decided.to.as_str()).increment(1);
        return Ok(Changed { contract: next, event, completed_job: decided.completes_job });
    }
    Err(ActorError::Storage(StoreError::Conflict))
}
