//! The contract state machine. Every allowed transition, and who may make it:
//!
//! | from | to | by |
//! |---|---|---|
//! | pending | active | client (funding, or the client's status call until payments land) |
//! | active | delivered | provider |
//! | delivered | completed | client |
//! | pending, active | cancelled | client or provider |
//! | active, delivered | disputed | client or provider |
//! | disputed | completed, cancelled | admin |
//!
//! Anything else is refused with `DomainError::Transition` (or `Forbidden` for the wrong actor).

use crate::error::DomainError;

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
    pub fn transition(self, to: ContractStatus, by: ContractActor) -> Result<StatusChanged, DomainError> {
        let actors = self.allowed_actors(to);
        if actors.is_empty() {
            return Err(DomainError::Transition { from: self.as_str(), to: to.as_str() });
        }
        if !actors.contains(&by) {
            return Err(DomainError::Forbidden("this party may not make that status change"));
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
                    let result = from.transition(to, by);
                    if allowed.contains(&(from, to, by)) {
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
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 6 * 6 * 3);
    }

    #[test]
    fn terminal_states_go_nowhere() {
        for from in [Completed, Cancelled] {
            assert!(from.is_terminal());
            for to in ContractStatus::ALL {
                for by in [Client, Provider, Admin] {
                    assert!(from.transition(to, by).is_err());
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
