//! The proposal aggregate: a provider's or worker's offer on a job.
//!
//! | from | to | by |
//! |---|---|---|
//! | pending | accepted (with the contract id it creates) | the job's client |
//! | pending | withdrawn | the proposer, or the job's client withdrawing the whole job |
//! | accepted | pending | compensation only: the hire it was accepted for could not be made |
//!
//! Accepting an accepted proposal is `already_accepted`; any other change from a state that
//! is not pending is `proposal_not_pending`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::codes;
use crate::error::DomainError;
use crate::job::Job;
use crate::market::{may_propose, ProposalStatus};
use crate::{ContractId, JobId, Money, ProposalId, Role, UserId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposal {
    pub id: ProposalId,
    pub job_id: JobId,
    pub job_client_id: UserId,
    pub provider_id: UserId,
    pub rate: Money,
    pub message: Option<String>,
    pub status: ProposalStatus,
    /// Set when accepted: the contract created for it.
    pub contract_id: Option<ContractId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

fn not_pending(status: ProposalStatus) -> DomainError {
    match status {
        ProposalStatus::Accepted => DomainError::conflict(codes::ALREADY_ACCEPTED, "the proposal is already accepted"),
        other => DomainError::conflict(codes::PROPOSAL_NOT_PENDING, format!("the proposal is {}", other.as_str())),
    }
}

impl Proposal {
    /// A provider or worker proposes on an open job that is not theirs, in the currency of
    /// the job's budget (when it has one).
    pub fn submit(
        id: ProposalId,
        job: &Job,
        by: UserId,
        role: Role,
        rate: Money,
        message: Option<String>,
        at: OffsetDateTime,
    ) -> Result<Proposal, DomainError> {
        may_propose(by, role, job.client_id, job.status).map_err(|e| match e {
            DomainError::Transition { .. } => {
                DomainError::conflict(codes::JOB_NOT_OPEN, "the job is not open for proposals")
            }
            other => other,
        })?;
        if let Some(b) = job.budget_min.or(job.budget_max) {
            if b.currency() != rate.currency() {
                return Err(DomainError::invalid_field(
                    "rate",
                    format!("must be in the job's budget currency ({})", b.currency()),
                ));
            }
        }
        Ok(Proposal {
            id,
            job_id: job.id,
            job_client_id: job.client_id,
            provider_id: by,
            rate,
            message,
            status: ProposalStatus::Pending,
            contract_id: None,
            created_at: at,
            updated_at: at,
        })
    }

    /// Its proposer, the job's client and admins see it.
    pub fn visible_to(&self, user: UserId, role: Role) -> bool {
        self.provider_id == user || self.job_client_id == user || role.is_admin()
    }

    /// The job's client accepts it for `contract`.
    pub fn accept(&mut self, by: UserId, contract: ContractId, at: OffsetDateTime) -> Result<(), DomainError> {
        if by != self.job_client_id {
            return Err(DomainError::Forbidden("only the job's client accepts proposals"));
        }
        if self.status != ProposalStatus::Pending {
            return Err(not_pending(self.status));
        }
        self.status = ProposalStatus::Accepted;
        self.contract_id = Some(contract);
        self.updated_at = at;
        Ok(())
    }

    /// The proposer withdraws it while pending.
    pub fn withdraw(&mut self, by: UserId, at: OffsetDateTime) -> Result<(), DomainError> {
        if by != self.provider_id {
            return Err(DomainError::Forbidden("only the proposer may withdraw"));
        }
        if self.status != ProposalStatus::Pending {
            let message = format!("the proposal is {}", self.status.as_str());
            return Err(DomainError::conflict(codes::PROPOSAL_NOT_PENDING, message));
        }
        self.status = ProposalStatus::Withdrawn;
        self.updated_at = at;
        Ok(())
    }

    /// The job was withdrawn by its client: a pending proposal goes with it. Answers whether
    /// it changed (an accepted or closed one stays as it is).
    pub fn close_with_job(&mut self, at: OffsetDateTime) -> bool {
        if self.status != ProposalStatus::Pending {
            return false;
        }
        self.status = ProposalStatus::Withdrawn;
        self.updated_at = at;
        true
    }

    /// Compensation: the acceptance for `contract` could not complete, so the proposal is
    /// pending again. Answers whether it changed (only the acceptance for that contract is undone).
    pub fn revert_accept(&mut self, contract: ContractId, at: OffsetDateTime) -> bool {
        if self.status == ProposalStatus::Accepted && self.contract_id == Some(contract) {
            self.status = ProposalStatus::Pending;
            self.contract_id = None;
            self.updated_at = at;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::NewJob;
    use time::macros::datetime;

    const AT: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn usd(n: i64) -> Money {
        Money::parse(n, "USD").expect("usd")
    }
    fn job() -> Job {
        let new = NewJob {
            title: "t".into(),
            description: "d".into(),
            budget_min: Some(usd(100)),
            budget_max: None,
            deadline: None,
            category_id: None,
            skill_ids: vec![],
            max_hires: None,
        };
        Job::post(JobId::from_uuid(uuid::Uuid::from_u128(7)), uid(1), Role::Client, new, AT).expect("job")
    }
    fn proposal() -> Proposal {
        Proposal::submit(
            ProposalId::from_uuid(uuid::Uuid::from_u128(8)),
            &job(),
            uid(2),
            Role::Provider,
            usd(90),
            None,
            AT,
        )
        .expect("proposal")
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Action {
        Accept,
        Withdraw,
    }

    /// Every (status, action, actor) triple and its verdict.
    #[test]
    fn every_transition() {
        use ProposalStatus::*;
        let (client, proposer, stranger) = (uid(1), uid(2), uid(3));
        let allowed = [(Pending, Action::Accept, client), (Pending, Action::Withdraw, proposer)];
        let contract = ContractId::from_uuid(uuid::Uuid::from_u128(5));
        let mut checked = 0;
        for from in [Pending, Accepted, Withdrawn, Rejected] {
            for action in [Action::Accept, Action::Withdraw] {
                for by in [client, proposer, stranger] {
                    let mut p = proposal();
                    p.status = from;
                    let r = match action {
                        Action::Accept => p.accept(by, contract, AT),
                        Action::Withdraw => p.withdraw(by, AT),
                    };
                    let owner = match action {
                        Action::Accept => client,
                        Action::Withdraw => proposer,
                    };
                    if allowed.contains(&(from, action, by)) {
                        assert!(r.is_ok(), "{from:?} {action:?} by {by}");
                        assert_eq!(p.status, if action == Action::Accept { Accepted } else { Withdrawn });
                    } else if by != owner {
                        assert!(matches!(r, Err(DomainError::Forbidden(_))), "{from:?} {action:?}: {r:?}");
                    } else {
                        let code = r.expect_err("refused").code();
                        let want = if action == Action::Accept && from == Accepted {
                            codes::ALREADY_ACCEPTED
                        } else {
                            codes::PROPOSAL_NOT_PENDING
                        };
                        assert_eq!(code, want, "{from:?} {action:?}");
                        assert_eq!(p.status, from);
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 24);
    }

    #[test]
    fn a_withdrawn_job_takes_only_its_pending_proposals() {
        use ProposalStatus::*;
        for (from, changes) in [(Pending, true), (Accepted, false), (Withdrawn, false), (Rejected, false)] {
            let mut p = proposal();
            p.status = from;
            assert_eq!(p.close_with_job(AT), changes, "{from:?}");
            assert_eq!(p.status, if changes { Withdrawn } else { from });
        }
    }

    #[test]
    fn revert_undoes_only_its_own_acceptance() {
        let (c1, c2) =
            (ContractId::from_uuid(uuid::Uuid::from_u128(5)), ContractId::from_uuid(uuid::Uuid::from_u128(6)));
        let mut p = proposal();
        p.accept(uid(1), c1, AT).expect("accept");
        assert!(!p.revert_accept(c2, AT));
        assert!(p.revert_accept(c1, AT));
        assert_eq!((p.status, p.contract_id), (ProposalStatus::Pending, None));
        assert!(!p.revert_accept(c1, AT), "idempotent");
    }

    #[test]
    fn submit_rules() {
        let j = job();
        let id = ProposalId::from_uuid(uuid::Uuid::from_u128(8));
        let eur = Money::parse(90, "EUR").expect("eur");
        let r = Proposal::submit(id, &j, uid(2), Role::Provider, eur, None, AT);
        assert!(matches!(r, Err(DomainError::Invalid(_))), "another currency than the budget's: {r:?}");
        assert!(matches!(
            Proposal::submit(id, &j, uid(2), Role::Client, usd(1), None, AT),
            Err(DomainError::Forbidden(_))
        ));
        assert!(matches!(
            Proposal::submit(id, &j, uid(1), Role::Provider, usd(1), None, AT),
            Err(DomainError::Forbidden(_))
        ));
        let mut closed = job();
        closed.status = crate::JobStatus::InProgress;
        let r = Proposal::submit(id, &closed, uid(2), Role::Worker, usd(1), None, AT);
        assert_eq!(r.expect_err("closed").code(), codes::JOB_NOT_OPEN);
        assert!(Proposal::submit(id, &j, uid(2), Role::Worker, usd(1), None, AT).is_ok());
    }
}
