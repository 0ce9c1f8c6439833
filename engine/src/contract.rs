//! The contract state machine. Every allowed transition, and who may make it:
//!
//! | from | to | by |
//! |---|---|---|
//! | pending | active | client, by funding the first milestone (a status call is refused) |
//! | active | delivered | provider |
//! | delivered | completed | client |
//! | pending, active | cancelled | client or provider |
//! | active, delivered | disputed | client or provider |
//! | disputed | completed, cancelled | admin |
//!
//! Anything else is refused with `DomainError::Transition` (or `Forbidden` for the wrong actor).
//! A status call asking pending → active is refused with `funding_required`: only funding
//! ([`Trigger::Funding`]) starts a contract. Completing while a milestone is unfunded is
//! refused with `milestone_unfunded` ([`check_completion`]).

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::error::DomainError;
use crate::market::ymd;
use crate::{ContractId, JobId, Money, ProposalId, UserId};

/// A contract between a job's client and the hired provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Contract {
    pub id: ContractId,
    pub job_id: JobId,
    pub proposal_id: ProposalId,
    pub client_id: UserId,
    pub provider_id: UserId,
    pub title: String,
    pub agreed_rate: Money,
    #[serde(with = "ymd::option")]
    pub deadline: Option<Date>,
    pub status: ContractStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// One stored contract transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContractEvent {
    pub contract_id: ContractId,
    pub from: Option<ContractStatus>,
    pub to: ContractStatus,
    pub actor_id: UserId,
    /// `client`, `provider`, `admin` or `system`.
    pub actor_role: String,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The contract version this transition produced (orders the history).
    pub version: i64,
}

impl Contract {
    /// The side `user` is on, or admin when `admin` and not a party; `None` for anyone else.
    pub fn party(&self, user: UserId, admin: bool) -> Option<ContractActor> {
        match (user, admin) {
            (_, true) if user != self.client_id && user != self.provider_id => Some(ContractActor::Admin),
            (u, _) if u == self.client_id => Some(ContractActor::Client),
            (u, _) if u == self.provider_id => Some(ContractActor::Provider),
            _ => None,
        }
    }
}

impl ContractActor {
    pub fn as_str(self) -> &'static str {
        match self {
            ContractActor::Client => "client",
            ContractActor::Provider => "provider",
            ContractActor::Admin => "admin",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContractStatus {
    Pending,
    Active,
    Delivered,
    Completed,
    Cancelled,
    Disputed,
}

/// Who asks for a transition, relative to the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContractActor {
    Client,
    Provider,
    Admin,
}

/// What asks for a transition: a party's (or an admin's) status call, or the funding of
/// the first milestone (which is the only way pending → active happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Request,
    Funding,
}

/// A client completes a contract only when no milestone is left unfunded (`unfunded`
/// counts them); the client removes a milestone it will not fund first.
pub fn check_completion(to: ContractStatus, by: ContractActor, unfunded: usize) -> Result<(), DomainError> {
    if to == ContractStatus::Completed && by == ContractActor::Client && unfunded > 0 {
        return Err(DomainError::conflict(
            crate::codes::MILESTONE_UNFUNDED,
            format!("{unfunded} milestone(s) are not funded: fund them, or remove them, before completing"),
        ));
    }
    Ok(())
}

/// What a successful transition records (the caller stores it with actor, time and reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusChanged {
    pub from: ContractStatus,
    pub to: ContractStatus,
    pub by: ContractActor,
    /// The provider's `completed_jobs` grows by one exactly when this is true.
    pub completes_job: bool,
}

impl ContractStatus {
    pub const ALL: [ContractStatus; 6] = [
        ContractStatus::Pending,
        ContractStatus::Active,
        ContractStatus::Delivered,
        ContractStatus::Completed,
        ContractStatus::Cancelled,
        ContractStatus::Disputed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Pending => "pending",
            ContractStatus::Active => "active",
            ContractStatus::Delivered => "delivered",
            ContractStatus::Completed => "completed",
            ContractStatus::Cancelled => "cancelled",
            ContractStatus::Disputed => "disputed",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw).ok_or_else(|| {
            DomainError::invalid("must be one of pending, active, delivered, completed, cancelled, disputed")
        })
    }

    pub fn is_terminal(self) -> bool {
        matches!(self, ContractStatus::Completed | ContractStatus::Cancelled)
    }

    /// Who may move a contract from `self` to `to`; empty when the move is never allowed.
    fn allowed_actors(self, to: ContractStatus) -> &'static [ContractActor] {
        use ContractActor::*;
        use ContractStatus::*;
        match (self, to) {
            (Pending, Active) => &[Client],
            (Active, Delivered) => &[Provider],
            (Delivered, Completed) => &[Client],
            (Pending | Active, Cancelled) => &[Client, Provider],
            (Active | Delivered, Disputed) => &[Client, Provider],
            (Disputed, Completed | Cancelled) => &[Admin],
            _ => &[],
        }
    }

    /// Decides a transition; no I/O.
    pub fn transition(
        self,
        to: ContractStatus,
        by: ContractActor,
        trigger: Trigger,
    ) -> Result<StatusChanged, DomainError> {
        let actors = self.allowed_actors(to);
        let activation = (self, to) == (ContractStatus::Pending, ContractStatus::Active);
        if actors.is_empty() || (trigger == Trigger::Funding && !activation) {
            return Err(DomainError::Transition { from: self.as_str(), to: to.as_str() });
        }
        if !actors.contains(&by) {
            return Err(DomainError::Forbidden("this party may not make that status change"));
        }
        if activation && trigger == Trigger::Request {
            return Err(DomainError::conflict(
                crate::codes::FUNDING_REQUIRED,
                "a pending contract becomes active when the client funds its first milestone (POST /api/contracts/{id}/fund)",
            ));
        }
        Ok(StatusChanged { from: self, to, by, completes_job: to == ContractStatus::Completed })
    }
}

#[cfg(test)]
mod tests {
    use super::ContractActor::*;
    use super::ContractStatus::*;
    use super::*;

    /// The whole table: every (from, to, actor) triple and its verdict.
    #[test]
    fn every_transition_is_allowed_or_refused_as_specified() {
        let allowed: &[(ContractStatus, ContractStatus, ContractActor)] = &[
            (Pending, Active, Client),
            (Active, Delivered, Provider),
            (Delivered, Completed, Client),
            (Pending, Cancelled, Client),
            (Pending, Cancelled, Provider),
            (Active, Cancelled, Client),
            (Active, Cancelled, Provider),
            (Active, Disputed, Client),
            (Active, Disputed, Provider),
            (Delivered, Disputed, Client),
            (Delivered, Disputed, Provider),
            (Disputed, Completed, Admin),
            (Disputed, Cancelled, Admin),
        ];
        let mut checked = 0;
        for from in ContractStatus::ALL {
            for to in ContractStatus::ALL {
                let any_allowed = allowed.iter().any(|(f, t, _)| *f == from && *t == to);
                for by in [Client, Provider, Admin] {
                    let result = from.transition(to, by, Trigger::Request);
                    if (from, to, by) == (Pending, Active, Client) {
                        assert!(
                            matches!(result, Err(DomainError::Conflict { code: crate::codes::FUNDING_REQUIRED, .. })),
                            "a status call never activates: {result:?}"
                        );
                        let ev = from.transition(to, by, Trigger::Funding).expect("funding activates");
                        assert_eq!((ev.from, ev.to, ev.by, ev.completes_job), (Pending, Active, Client, false));
                    } else if allowed.contains(&(from, to, by)) {
                        let ev = result.unwrap_or_else(|e| panic!("{from:?}->{to:?} by {by:?} refused: {e}"));
                        assert_eq!((ev.from, ev.to, ev.by), (from, to, by));
                        assert_eq!(ev.completes_job, to == Completed);
                    } else if any_allowed {
                        assert!(
                            matches!(result, Err(DomainError::Forbidden(_))),
                            "{from:?}->{to:?} by {by:?}: {result:?}"
                        );
                    } else {
                        assert_eq!(
                            result,
                            Err(DomainError::Transition { from: from.as_str(), to: to.as_str() }),
                            "{from:?}->{to:?} by {by:?}"
                        );
                    }
                    if (from, to) != (Pending, Active) {
                        assert_eq!(
                            from.transition(to, by, Trigger::Funding),
                            Err(DomainError::Transition { from: from.as_str(), to: to.as_str() }),
                            "funding makes no other change: {from:?}->{to:?} by {by:?}"
                        );
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 6 * 6 * 3);
        // Funding by anyone but the client is refused like any wrong actor.
        assert!(matches!(Pending.transition(Active, Provider, Trigger::Funding), Err(DomainError::Forbidden(_))));
    }

    #[test]
    fn a_client_completes_only_with_every_milestone_funded() {
        assert!(check_completion(Completed, Client, 0).is_ok());
        let r = check_completion(Completed, Client, 2);
        assert!(matches!(r, Err(DomainError::Conflict { code: crate::codes::MILESTONE_UNFUNDED, .. })), "{r:?}");
        // An admin's resolution and other moves are not held back by unfunded milestones.
        assert!(check_completion(Completed, Admin, 2).is_ok());
        assert!(check_completion(Cancelled, Client, 2).is_ok());
    }

    #[test]
    fn terminal_states_go_nowhere() {
        for from in [Completed, Cancelled] {
            assert!(from.is_terminal());
            for to in ContractStatus::ALL {
                for by in [Client, Provider, Admin] {
                    assert!(from.transition(to, by, Trigger::Request).is_err());
                    assert!(from.transition(to, by, Trigger::Funding).is_err());
                }
            }
        }
    }

    #[test]
    fn statuses_parse_by_name() {
        for s in ContractStatus::ALL {
            assert_eq!(ContractStatus::parse(s.as_str()), Ok(s));
        }
        assert!(ContractStatus::parse("done").is_err());
    }
}
