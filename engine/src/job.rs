//! The job aggregate: a client's posted work, its capacity (`hires` of `max_hires`) and the
//! status that follows its contracts.
//!
//! | from | to | how |
//! |---|---|---|
//! | open | in_progress | the last hire fills it, or `max_hires` is lowered to `hires` |
//! | open, in_progress | cancelled | the client |
//! | in_progress | completed | the client, or by itself when every contract has ended and one completed |
//!
//! Edits (title, budget, ...) are allowed only while open, by the client.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::codes;
use crate::error::DomainError;
use crate::market::{budget, ymd, JobStatus, MAX_HIRES};
use crate::{CategoryId, ContractId, JobId, Money, Role, SkillId, UserId};

/// One hire of a job: the contract it created and whether that contract has ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hire {
    pub contract_id: ContractId,
    /// The contract reached completed or cancelled.
    #[serde(default)]
    pub ended: bool,
    /// It ended completed.
    #[serde(default)]
    pub completed: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub client_id: UserId,
    pub title: String,
    pub description: String,
    pub budget_min: Option<Money>,
    pub budget_max: Option<Money>,
    #[serde(with = "ymd::option")]
    pub deadline: Option<Date>,
    pub category_id: Option<CategoryId>,
    pub skill_ids: Vec<SkillId>,
    pub max_hires: u32,
    pub hires: u32,
    pub status: JobStatus,
    pub proposals_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The contracts its hires created (the hire step is idempotent by contract id).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hired: Vec<Hire>,
}

/// The fields of a new job, already parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    pub title: String,
    pub description: String,
    pub budget_min: Option<Money>,
    pub budget_max: Option<Money>,
    pub deadline: Option<Date>,
    pub category_id: Option<CategoryId>,
    pub skill_ids: Vec<SkillId>,
    pub max_hires: Option<u32>,
}

/// A client's change to a job: any field set is changed; with `replace`, every content field
/// is set as given (a full replacement: an absent optional field is cleared).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JobEdit {
    pub title: Option<String>,
    pub description: Option<String>,
    pub budget_min: Option<Money>,
    pub budget_max: Option<Money>,
    pub deadline: Option<Date>,
    pub category_id: Option<CategoryId>,
    pub skill_ids: Option<Vec<SkillId>>,
    pub max_hires: Option<u32>,
    pub status: Option<JobStatus>,
    pub replace: bool,
}

impl JobEdit {
    /// The full replacement of a job's content by `new` (as it would be posted).
    pub fn replacing(new: NewJob) -> JobEdit {
        JobEdit {
            title: Some(new.title),
            description: Some(new.description),
            budget_min: new.budget_min,
            budget_max: new.budget_max,
            deadline: new.deadline,
            category_id: new.category_id,
            skill_ids: Some(new.skill_ids),
            max_hires: Some(new.max_hires.unwrap_or(1)),
            status: None,
            replace: true,
        }
    }

    /// Whether it edits content (as opposed to only changing the status).
    pub fn edits_content(&self) -> bool {
        self.replace
            || self.title.is_some()
            || self.description.is_some()
            || self.budget_min.is_some()
            || self.budget_max.is_some()
            || self.deadline.is_some()
            || self.category_id.is_some()
            || self.skill_ids.is_some()
            || self.max_hires.is_some()
    }
}

/// `max_hires` is between 1 and [`MAX_HIRES`].
pub fn max_hires(n: u32) -> Result<u32, DomainError> {
    if n == 0 || n > MAX_HIRES {
        return Err(DomainError::invalid(format!("must be between 1 and {MAX_HIRES}")));
    }
    Ok(n)
}

fn not_open(message: &str) -> DomainError {
    DomainError::conflict(codes::JOB_NOT_OPEN, message)
}

impl Job {
    /// A client posts a job; it starts open.
    pub fn post(id: JobId, by: UserId, role: Role, new: NewJob, at: OffsetDateTime) -> Result<Job, DomainError> {
        if role != Role::Client {
            return Err(DomainError::Forbidden("only clients post jobs"));
        }
        budget(new.budget_min, new.budget_max)?;
        let max_hires = new.max_hires.map(max_hires).transpose()?.unwrap_or(1);
        Ok(Job {
            id,
            client_id: by,
            title: new.title,
            description: new.description,
            budget_min: new.budget_min,
            budget_max: new.budget_max,
            deadline: new.deadline,
            category_id: new.category_id,
            skill_ids: new.skill_ids,
            max_hires,
            hires: 0,
            status: JobStatus::Open,
            proposals_count: 0,
            created_at: at,
            updated_at: at,
            hired: Vec::new(),
        })
    }

    /// Who may see it: its client, admins, and providers/workers while it is open or when
    /// they have proposed on it.
    pub fn visible_to(&self, user: UserId, role: Role, has_proposed: bool) -> bool {
        if self.client_id == user || role.is_admin() {
            return true;
        }
        matches!(role, Role::Provider | Role::Worker) && (self.status == JobStatus::Open || has_proposed)
    }

    /// The client edits it (open only) and/or changes its status.
    /// The client withdraws an open job nobody was hired for (the seeds' `DELETE`): it is
    /// cancelled, and its pending proposals go with it ([`crate::Proposal::close_with_job`]).
    pub fn withdraw(&mut self, by: UserId, at: OffsetDateTime) -> Result<(), DomainError> {
        if by != self.client_id {
            return Err(DomainError::Forbidden("only the job's client may withdraw it"));
        }
        if self.status != JobStatus::Open || self.hires > 0 {
            return Err(not_open("only an open job nobody was hired for can be withdrawn; end its contracts instead"));
        }
        self.status = JobStatus::Cancelled;
        self.updated_at = at;
        Ok(())
    }

    pub fn apply(&mut self, by: UserId, edit: &JobEdit, at: OffsetDateTime) -> Result<(), DomainError> {
        if by != self.client_id {
            return Err(DomainError::Forbidden("only the job's client may change it"));
        }
        if edit.edits_content() && self.status != JobStatus::Open {
            return Err(not_open("only an open job can be edited"));
        }
        if let Some(t) = &edit.title {
            self.title = t.clone();
        }
        if let Some(d) = &edit.description {
            self.description = d.clone();
        }
        if edit.replace || edit.budget_min.is_some() || edit.budget_max.is_some() {
            let (lo, hi) = match edit.replace {
                true => (edit.budget_min, edit.budget_max),
                false => (edit.budget_min.or(self.budget_min), edit.budget_max.or(self.budget_max)),
            };
            budget(lo, hi)?;
            self.budget_min = lo;
            self.budget_max = hi;
        }
        if edit.replace || edit.deadline.is_some() {
            self.deadline = edit.deadline;
        }
        if edit.replace || edit.category_id.is_some() {
            self.category_id = edit.category_id;
        }
        if let Some(s) = &edit.skill_ids {
            self.skill_ids = s.clone();
        }
        if let Some(m) = edit.max_hires {
            let m = max_hires(m).map_err(|_| DomainError::invalid_field("max_hires", "must be between 1 and 100"))?;
            if m < self.hires {
                return Err(DomainError::invalid_field("max_hires", "must not be below the hires already made"));
            }
            self.max_hires = m;
            // A job lowered to the hires it has is full: it stops taking proposals.
            if self.status == JobStatus::Open && self.hires >= self.max_hires {
                self.status = JobStatus::InProgress;
            }
        }
        if let Some(to) = edit.status {
            self.status = self.status.client_transition(to)?;
        }
        self.updated_at = at;
        Ok(())
    }

    /// A proposal arrived.
    pub fn count_proposal(&mut self) {
        self.proposals_count += 1;
    }

    /// Takes one hire for `contract`, only while open and below `max_hires`; the job goes
    /// in progress when full. Idempotent: a contract already hired answers `Ok(false)`.
    pub fn hire(&mut self, contract: ContractId, at: OffsetDateTime) -> Result<bool, DomainError> {
        if self.hired.iter().any(|h| h.contract_id == contract) {
            return Ok(false);
        }
        if self.status != JobStatus::Open || self.hires >= self.max_hires {
            return Err(not_open("the job is not open for hiring"));
        }
        self.hires += 1;
        self.hired.push(Hire { contract_id: contract, ended: false, completed: false });
        if self.hires >= self.max_hires {
            self.status = JobStatus::InProgress;
        }
        self.updated_at = at;
        Ok(true)
    }

    /// One of its contracts ended. The job completes when it is in progress, every
    /// contract it hired has ended, and at least one completed. Answers whether it changed.
    pub fn contract_ended(&mut self, contract: ContractId, completed: bool, at: OffsetDateTime) -> bool {
        let mut changed = false;
        let untracked = self.hired.is_empty();
        match self.hired.iter_mut().find(|h| h.contract_id == contract) {
            Some(h) if !h.ended => {
                h.ended = true;
                h.completed = completed;
                changed = true;
            }
            Some(_) => {}
            // A job hired before hires were tracked: its one contract decides.
            None if untracked => {
                if completed && self.status == JobStatus::InProgress {
                    self.status = JobStatus::Completed;
                    self.updated_at = at;
                    return true;
                }
                return false;
            }
            None => {}
        }
        let all_ended = self.hired.iter().all(|h| h.ended);
        if self.status == JobStatus::InProgress && all_ended && self.hired.iter().any(|h| h.completed) {
            self.status = JobStatus::Completed;
            changed = true;
        }
        if changed {
            self.updated_at = at;
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn uid(n: u128) -> UserId {
        UserId::from_uuid(uuid::Uuid::from_u128(n))
    }
    fn cid(n: u128) -> ContractId {
        ContractId::from_uuid(uuid::Uuid::from_u128(n))
    }
    const AT: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn job(max: u32) -> Job {
        let new = NewJob {
            title: "Paint".into(),
            description: "A fence".into(),
            budget_min: None,
            budget_max: None,
            deadline: None,
            category_id: None,
            skill_ids: vec![],
            max_hires: Some(max),
        };
        Job::post(JobId::from_uuid(uuid::Uuid::from_u128(9)), uid(1), Role::Client, new, AT).expect("post")
    }

    #[test]
    fn only_clients_post() {
        for role in [Role::Provider, Role::Worker, Role::Admin] {
            let mut new_job = job(1);
            new_job.client_id = uid(2);
            let new = NewJob {
                title: "t".into(),
                description: "d".into(),
                budget_min: None,
                budget_max: None,
                deadline: None,
                category_id: None,
                skill_ids: vec![],
                max_hires: None,
            };
            assert!(matches!(Job::post(new_job.id, uid(2), role, new, AT), Err(DomainError::Forbidden(_))));
        }
        assert!(job(1).status == JobStatus::Open && job(1).max_hires == 1);
    }

    /// Every status change a client may ask for, from every status.
    #[test]
    fn every_client_status_change() {
        use JobStatus::*;
        let all = [Open, InProgress, Completed, Cancelled];
        let allowed = [(Open, Cancelled), (InProgress, Cancelled), (InProgress, Completed)];
        let mut checked = 0;
        for from in all {
            for to in all {
                for by in [uid(1), uid(2)] {
                    let mut j = job(1);
                    j.status = from;
                    let edit = JobEdit { status: Some(to), ..JobEdit::default() };
                    let r = j.apply(by, &edit, AT);
                    if by != uid(1) {
                        assert!(matches!(r, Err(DomainError::Forbidden(_))), "{from:?}->{to:?} by stranger");
                    } else if allowed.contains(&(from, to)) {
                        assert!(r.is_ok(), "{from:?}->{to:?}");
                        assert_eq!(j.status, to);
                    } else {
                        assert!(matches!(r, Err(DomainError::Transition { .. })), "{from:?}->{to:?}: {r:?}");
                        assert_eq!(j.status, from, "a refused change leaves the status");
                    }
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, 32);
    }

    #[test]
    fn edits_only_while_open() {
        use JobStatus::*;
        for (from, ok) in [(Open, true), (InProgress, false), (Completed, false), (Cancelled, false)] {
            let mut j = job(1);
            j.status = from;
            let r = j.apply(uid(1), &JobEdit { title: Some("New".into()), ..JobEdit::default() }, AT);
            assert_eq!(r.is_ok(), ok, "{from:?}");
            if !ok {
                assert_eq!(r.expect_err("refused").code(), codes::JOB_NOT_OPEN);
            }
        }
    }

    /// A replacement sets every content field as given: what it leaves out is cleared, with
    /// the rules of an edit (the client only, open only, a valid budget, no fewer hires).
    #[test]
    fn a_replacement_clears_what_it_leaves_out() {
        let usd = |x| Money::parse(x, "USD").expect("usd");
        let mut j = job(3);
        let full = JobEdit {
            budget_min: Some(usd(100)),
            budget_max: Some(usd(200)),
            deadline: Some(AT.date()),
            skill_ids: Some(vec![SkillId::from_uuid(uuid::Uuid::from_u128(5))]),
            ..JobEdit::default()
        };
        j.apply(uid(1), &full, AT).expect("edit");
        let bare = NewJob {
            title: "Paint the gate".into(),
            description: "Only the gate".into(),
            budget_min: None,
            budget_max: None,
            deadline: None,
            category_id: None,
            skill_ids: vec![],
            max_hires: None,
        };
        assert!(JobEdit::replacing(bare.clone()).edits_content());
        j.apply(uid(1), &JobEdit::replacing(bare.clone()), AT).expect("replace");
        assert_eq!((j.title.as_str(), j.budget_min, j.budget_max, j.deadline), ("Paint the gate", None, None, None));
        assert!(j.skill_ids.is_empty());
        assert_eq!(j.max_hires, 1, "max_hires back to its default");
        // Only the client; a bad budget is refused as when posting.
        assert!(matches!(j.apply(uid(2), &JobEdit::replacing(bare.clone()), AT), Err(DomainError::Forbidden(_))));
        let bad = NewJob { budget_min: Some(usd(300)), budget_max: Some(usd(200)), ..bare.clone() };
        assert!(j.apply(uid(1), &JobEdit::replacing(bad), AT).is_err());
        // Not below the hires made; not once the job left open.
        let mut hired = job(2);
        hired.hire(cid(1), AT).expect("hire");
        hired.hire(cid(2), AT).expect("hire");
        assert_eq!(
            hired.apply(uid(1), &JobEdit::replacing(bare), AT).expect_err("in progress").code(),
            codes::JOB_NOT_OPEN
        );
    }

    #[test]
    fn only_an_open_job_without_hires_is_withdrawn() {
        let mut j = job(2);
        assert!(matches!(j.withdraw(uid(2), AT), Err(DomainError::Forbidden(_))));
        j.withdraw(uid(1), AT).expect("withdrawn");
        assert_eq!(j.status, JobStatus::Cancelled);
        assert_eq!(j.withdraw(uid(1), AT).expect_err("again").code(), codes::JOB_NOT_OPEN);
        let mut hired = job(2);
        hired.hire(cid(1), AT).expect("hire");
        assert_eq!(hired.status, JobStatus::Open, "one of two hired: still open");
        assert_eq!(hired.withdraw(uid(1), AT).expect_err("hired").code(), codes::JOB_NOT_OPEN);
    }

    #[test]
    fn capacity_hires_and_lowering() {
        let mut j = job(2);
        assert_eq!(j.hire(cid(1), AT), Ok(true));
        assert_eq!(j.hire(cid(1), AT), Ok(false), "the same contract hires once");
        assert_eq!((j.hires, j.status), (1, JobStatus::Open));
        // Lowering max_hires to the hires made fills the job.
        j.apply(uid(1), &JobEdit { max_hires: Some(1), ..JobEdit::default() }, AT).expect("lower");
        assert_eq!(j.status, JobStatus::InProgress);
        assert_eq!(j.hire(cid(2), AT).expect_err("full").code(), codes::JOB_NOT_OPEN);
        let mut k = job(2);
        k.hire(cid(1), AT).expect("one");
        assert!(k.apply(uid(1), &JobEdit { max_hires: Some(0), ..JobEdit::default() }, AT).is_err());
        k.hire(cid(2), AT).expect("two");
        assert_eq!((k.hires, k.status), (2, JobStatus::InProgress));
        let mut cancelled = job(1);
        cancelled.status = JobStatus::Cancelled;
        assert!(cancelled.hire(cid(1), AT).is_err());
    }

    #[test]
    fn status_follows_contracts() {
        let mut j = job(2);
        j.hire(cid(1), AT).expect("one");
        j.hire(cid(2), AT).expect("two");
        assert!(j.contract_ended(cid(1), true, AT));
        assert_eq!(j.status, JobStatus::InProgress, "another contract is still open");
        assert!(j.contract_ended(cid(2), false, AT));
        assert_eq!(j.status, JobStatus::Completed);
        assert!(!j.contract_ended(cid(2), false, AT), "idempotent");
        // All cancelled: nothing completed, the job stays in progress for the client to close.
        let mut k = job(1);
        k.hire(cid(3), AT).expect("hire");
        k.contract_ended(cid(3), false, AT);
        assert_eq!(k.status, JobStatus::InProgress);
        // An open multi-hire job stays open while it still hires.
        let mut m = job(3);
        m.hire(cid(4), AT).expect("hire");
        m.contract_ended(cid(4), true, AT);
        assert_eq!(m.status, JobStatus::Open);
    }

    #[test]
    fn visibility() {
        let mut j = job(1);
        assert!(j.visible_to(uid(1), Role::Client, false));
        assert!(!j.visible_to(uid(2), Role::Client, false));
        assert!(j.visible_to(uid(2), Role::Provider, false));
        assert!(j.visible_to(uid(2), Role::Admin, false));
        j.status = JobStatus::InProgress;
        assert!(!j.visible_to(uid(2), Role::Provider, false));
        assert!(j.visible_to(uid(2), Role::Worker, true));
    }
}
