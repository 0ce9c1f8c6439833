//! Jobs, proposals and accepting a proposal (hire), which creates the contract exactly once.
//!
//! Accept is a multi-step operation over three aggregates, each step a compare-and-set that
//! is the arbiter of one rule, so it holds across threads and processes:
//! (0) an intent is recorded; (1) the proposal moves pending → accepted carrying the new
//! contract id (a repeated accept loses here, before touching the job); (2) the job takes
//! one more hire for that contract id (idempotent by id) only while open and below
//! `max_hires`; if it cannot, the proposal goes back to pending; (3) the contract is
//! inserted with that id; the intent is removed. A crash between any two steps leaves the
//! intent, and [`complete_accept`] (run by the sweeper) finishes the hire or undoes step 1.

use agora_engine::job::{JobEdit, NewJob};
use agora_engine::{
    codes, CategoryId, Contract, ContractEvent, ContractId, ContractStatus, DomainError, DomainEvent, FieldErrors, Job,
    JobId, Money, Proposal, ProposalId, SkillId,
};
use agora_storage::intents::{Intent, Step};
use agora_storage::{Store, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{new_id, visible, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// Category and skills of a job or profile must exist.
pub(crate) async fn check_refs(
    store: &Store,
    category: Option<CategoryId>,
    skills: &[SkillId],
) -> Result<(), ActorError> {
    let m = store.market();
    let mut f = FieldErrors::new();
    if let Some(c) = category {
        if m.category(c).await?.is_none() {
            f.add("category_id", "no such category");
        }
    }
    if !skills.is_empty() {
        let known = m.skills().await?;
        for s in skills {
            if !known.iter().any(|k| k.value.id == *s) {
                f.add("skill_ids", format!("no skill {:?}", s.to_string()));
            }
        }
    }
    f.into_result().map_err(ActorError::Refused)
}

fn refused(e: DomainError) -> ActorError {
    ActorError::Refused(e)
}

/// Loads a job the caller may see.
pub(crate) async fn visible_job(
    store: &Store,
    by: Caller,
    id: JobId,
) -> Result<agora_storage::Versioned<Job>, ActorError> {
    let m = store.market();
    let job = m.get::<Job>(id).await?.ok_or(ActorError::NotFound)?;
    let proposed = job.value.client_id != by.id && m.has_proposed(id, by.id).await?;
    visible(Some(job), |j| j.value.visible_to(by.id, by.role, proposed))
}

/// A client posts a job.
#[derive(actix::Message)]
#[rtype(result = "Result<Job, ActorError>")]
pub struct PostJob {
    pub by: Caller,
    pub new: NewJob,
    pub at: OffsetDateTime,
}

impl Command for PostJob {
    type Output = Job;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Job, ActorError>> {
        Box::pin(async move {
            let job =
                Job::post(new_id(JobId::from_uuid), self.by.id, self.by.role, self.new, self.at).map_err(refused)?;
            check_refs(&cx.store, job.category_id, &job.skill_ids).await?;
            cx.store.market().insert(&job).await?;
            cx.bus.publish([DomainEvent::JobChanged { job: job.clone() }], self.at).await;
            Ok(job)
        })
    }
}

/// The job's client edits it while open, or cancels / completes it.
#[derive(actix::Message)]
#[rtype(result = "Result<Job, ActorError>")]
pub struct EditJob {
    pub by: Caller,
    pub job_id: JobId,
    pub edit: JobEdit,
    pub at: OffsetDateTime,
}

impl Command for EditJob {
    type Output = Job;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Job(self.job_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Job, ActorError>> {
        Box::pin(async move {
            visible_job(&cx.store, self.by, self.job_id).await?;
            check_refs(&cx.store, self.edit.category_id, self.edit.skill_ids.as_deref().unwrap_or_default()).await?;
            let job = cx
                .store
                .market()
                .update::<Job, ActorError>(self.job_id, |j| j.apply(self.by.id, &self.edit, self.at).map_err(refused))
                .await?
                .ok_or(ActorError::NotFound)?
                .value;
            cx.bus.publish([DomainEvent::JobChanged { job: job.clone() }], self.at).await;
            Ok(job)
        })
    }
}

/// A provider or worker proposes on an open job (one proposal per job). Serialized on the
/// job, whose proposal count it raises.
#[derive(actix::Message)]
#[rtype(result = "Result<Proposal, ActorError>")]
pub struct Propose {
    pub by: Caller,
    pub job_id: JobId,
    pub rate: Money,
    pub message: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for Propose {
    type Output = Proposal;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Job(self.job_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Proposal, ActorError>> {
        Box::pin(async move {
            let m = cx.store.market();
            let job = visible_job(&cx.store, self.by, self.job_id).await?.value;
            let id = new_id(ProposalId::from_uuid);
            let p = Proposal::submit(id, &job, self.by.id, self.by.role, self.rate, self.message, self.at)
                .map_err(refused)?;
            if !m.claim_proposal(job.id, self.by.id, id).await? {
                return Err(refused(DomainError::conflict(
                    codes::DUPLICATE_PROPOSAL,
                    "you already proposed on this job",
                )));
            }
            m.insert(&p).await?;
            let job = m
                .update::<Job, StoreError>(job.id, |j| {
                    j.count_proposal();
                    Ok(())
                })
                .await?;
            if let Some(job) = job {
                let job_title = job.value.title.clone();
                cx.bus.publish([DomainEvent::ProposalSubmitted { proposal: p.clone(), job_title }], self.at).await;
            }
            Ok(p)
        })
    }
}

/// The proposal, if the caller may see it.
async fn visible_proposal(store: &Store, by: Caller, id: ProposalId) -> Result<Proposal, ActorError> {
    let p = store.market().get::<Proposal>(id).await?.map(|v| v.value);
    visible(p, |p| p.visible_to(by.id, by.role))
}

/// The proposer withdraws a pending proposal.
#[derive(actix::Message)]
#[rtype(result = "Result<Proposal, ActorError>")]
pub struct Withdraw {
    pub by: Caller,
    pub proposal_id: ProposalId,
    pub at: OffsetDateTime,
}

impl Command for Withdraw {
    type Output = Proposal;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Proposal(self.proposal_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Proposal, ActorError>> {
        Box::pin(async move {
            visible_proposal(&cx.store, self.by, self.proposal_id).await?;
            let p = cx
                .store
                .market()
                .update::<Proposal, ActorError>(self.proposal_id, |p| p.withdraw(self.by.id, self.at).map_err(refused))
                .await?
                .ok_or(ActorError::NotFound)?
                .value;
            cx.bus.publish([DomainEvent::ProposalWithdrawn { proposal: p.clone() }], self.at).await;
            Ok(p)
        })
    }
}

/// The client withdraws an open job nobody was hired for (`DELETE /api/jobs/{id}`): the job
/// is cancelled, then each pending proposal on it is closed and its proposer told. An intent
/// covers the two steps: after a crash the sweeper closes what is left ([`complete_withdraw`]).
#[derive(actix::Message)]
#[rtype(result = "Result<Job, ActorError>")]
pub struct WithdrawJob {
    pub by: Caller,
    pub job_id: JobId,
    pub at: OffsetDateTime,
}

impl Command for WithdrawJob {
    type Output = Job;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Job(self.job_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Job, ActorError>> {
        Box::pin(async move {
            visible_job(&cx.store, self.by, self.job_id).await?;
            let intent = Intent::new(Step::WithdrawJob { job_id: self.job_id }, self.at);
            cx.store.intents().record(&intent).await?;
            let cancelled = cx
                .store
                .market()
                .update::<Job, ActorError>(self.job_id, |j| j.withdraw(self.by.id, self.at).map_err(refused))
                .await;
            let job = match cancelled {
                Ok(Some(j)) => j.value,
                Ok(None) => {
                    cx.store.intents().done(intent.id).await?;
                    return Err(ActorError::NotFound);
                }
                Err(e) => {
                    cx.store.intents().done(intent.id).await?;
                    return Err(e);
                }
            };
            cx.faults.hit("withdraw:job");
            complete_withdraw(&cx, job.id, self.at).await?;
            cx.store.intents().done(intent.id).await?;
            tracing::info!(job = %job.id, "job withdrawn");
            Ok(job)
        })
    }
}

/// Closes the pending proposals of a withdrawn (cancelled) job and tells their proposers;
/// idempotent (a closed proposal is not closed or told again). The sweeper's repair.
pub(crate) async fn complete_withdraw(cx: &Cx, job_id: JobId, at: OffsetDateTime) -> Result<&'static str, ActorError> {
    let m = cx.store.market();
    let Some(job) = m.get::<Job>(job_id).await?.map(|v| v.value) else { return Ok("gone") };
    if job.status != agora_engine::market::JobStatus::Cancelled {
        return Ok("not_withdrawn");
    }
    let mut pending = Vec::new();
    m.for_each(&agora_storage::market::List::proposals_on_job(job.id), |p: Proposal| {
        if p.status == agora_engine::market::ProposalStatus::Pending {
            pending.push(p.id);
        }
        std::future::ready(Ok(()))
    })
    .await?;
    let mut closed = Vec::new();
    for id in pending {
        let mut changed = false;
        let saved = m
            .update::<Proposal, ActorError>(id, |x| {
                changed = x.close_with_job(at);
                Ok(())
            })
            .await?;
        if let Some(saved) = saved.filter(|_| changed) {
            closed.push(saved.value);
        }
    }
    let n = closed.len();
    cx.bus
        .publish(
            [DomainEvent::JobChanged { job: job.clone() }, DomainEvent::JobWithdrawn { job, proposals: closed }],
            at,
        )
        .await;
    metrics::counter!("agora_jobs_withdrawn_total").increment(1);
    tracing::info!(job = %job_id, proposals = n, "pending proposals of a withdrawn job closed");
    Ok("withdrawn")
}

/// The job's client accepts a proposal (alias hire): the contract, exactly once.
#[derive(actix::Message)]
#[rtype(result = "Result<Contract, ActorError>")]
pub struct Accept {
    pub by: Caller,
    pub proposal_id: ProposalId,
    /// Set by the hire alias: the proposal must belong to this job.
    pub job_id: Option<JobId>,
    pub at: OffsetDateTime,
}

impl Command for Accept {
    type Output = Contract;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Proposal(self.proposal_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Contract, ActorError>> {
        Box::pin(accept(cx, self))
    }
}

async fn accept(cx: Cx, cmd: Accept) -> Result<Contract, ActorError> {
    let p = visible_proposal(&cx.store, cmd.by, cmd.proposal_id).await?;
    if cmd.job_id.is_some_and(|j| j != p.job_id) {
        return Err(ActorError::NotFound);
    }
    let contract_id = new_id(ContractId::from_uuid);
    // Decide before writing anything: the wrong caller or a proposal that is not pending.
    p.clone().accept(cmd.by.id, contract_id, cmd.at).map_err(refused)?;
    let m = cx.store.market();
    let step = Step::Accept { proposal_id: p.id, job_id: p.job_id, contract_id, client_id: cmd.by.id };
    let intent = Intent::new(step, cmd.at);
    cx.store.intents().record(&intent).await?;
    cx.faults.hit("accept:intent");
    // (1) The proposal is accepted exactly once: repeats stop here and never touch the job.
    let accepted =
        m.update::<Proposal, ActorError>(p.id, |p| p.accept(cmd.by.id, contract_id, cmd.at).map_err(refused)).await;
    let proposal = match accepted {
        Ok(Some(v)) => v.value,
        other => {
            cx.store.intents().done(intent.id).await?;
            return Err(other.err().unwrap_or(ActorError::NotFound));
        }
    };
    cx.faults.hit("accept:proposal");
    let done = finish_accept(&cx, &proposal, contract_id, cmd.by.id, cmd.at).await;
    cx.store.intents().done(intent.id).await?;
    done
}

/// Steps 2 and 3 of accept, for a proposal accepted for `contract_id`: the hire, then the
/// contract, then the events. If the job cannot take the hire, the proposal goes back to
/// pending. Each step is idempotent, so the sweeper may run it again after a crash.
async fn finish_accept(
    cx: &Cx,
    proposal: &Proposal,
    contract_id: ContractId,
    client: agora_engine::UserId,
    at: OffsetDateTime,
) -> Result<Contract, ActorError> {
    let m = cx.store.market();
    // (2) The job takes one more hire, only while open and below max_hires.
    let hired =
        m.update::<Job, ActorError>(proposal.job_id, |j| j.hire(contract_id, at).map(|_| ()).map_err(refused)).await;
    let job = match hired {
        Ok(Some(v)) => v.value,
        other => {
            m.update::<Proposal, StoreError>(proposal.id, |p| {
                p.revert_accept(contract_id, at);
                Ok(())
            })
            .await?;
            return Err(other.err().unwrap_or(ActorError::NotFound));
        }
    };
    cx.faults.hit("accept:job");
    // (3) The contract (insert-if-absent: a second run finds it there).
    let contract = Contract {
        id: contract_id,
        job_id: job.id,
        proposal_id: proposal.id,
        client_id: job.client_id,
        provider_id: proposal.provider_id,
        title: job.title.clone(),
        agreed_rate: proposal.rate,
        deadline: job.deadline,
        status: ContractStatus::Pending,
        created_at: at,
        updated_at: at,
    };
    let contract = match m.insert(&contract).await {
        Ok(()) => contract,
        Err(StoreError::Duplicate(_)) => m.get::<Contract>(contract_id).await?.ok_or(ActorError::NotFound)?.value,
        Err(e) => return Err(e.into()),
    };
    m.contract_event(&ContractEvent {
        contract_id,
        from: None,
        to: ContractStatus::Pending,
        actor_id: client,
        actor_role: "client".into(),
        reason: Some("proposal accepted".into()),
        at: contract.created_at,
        version: 1,
    })
    .await?;
    cx.faults.hit("accept:contract");
    tracing::info!(proposal = %proposal.id, contract = %contract_id, "proposal accepted");
    let mut accepted = proposal.clone();
    accepted.status = agora_engine::ProposalStatus::Accepted;
    accepted.contract_id = Some(contract_id);
    cx.bus
        .publish(
            [
                DomainEvent::JobChanged { job: job.clone() },
                DomainEvent::ProposalAccepted { proposal: accepted, job_title: job.title.clone(), by: client },
                DomainEvent::ContractCreated { contract: contract.clone(), by: client },
            ],
            at,
        )
        .await;
    Ok(contract)
}

/// Completes or undoes an accept that a crash interrupted (see the module docs).
pub(crate) async fn complete_accept(
    cx: &Cx,
    proposal_id: ProposalId,
    contract_id: ContractId,
    client: agora_engine::UserId,
    at: OffsetDateTime,
) -> Result<&'static str, ActorError> {
    let m = cx.store.market();
    let Some(p) = m.get::<Proposal>(proposal_id).await?.map(|v| v.value) else {
        return Ok("nothing to do");
    };
    if p.contract_id != Some(contract_id) {
        // Step 1 never happened (or was undone): nothing of this accept exists.
        return Ok("nothing to do");
    }
    match finish_accept(cx, &p, contract_id, client, at).await {
        Ok(_) => Ok("completed"),
        Err(ActorError::Refused(_)) => Ok("undone"),
        Err(e) => Err(e),
    }
}
