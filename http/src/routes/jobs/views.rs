//! The wire format of jobs, proposals and contracts (the JSON the API has always answered).

use agora_engine::market::{JobStatus, ProposalStatus};
use agora_engine::{
    CategoryId, Contract, ContractEvent, ContractId, ContractStatus, Job, JobId, Money, Proposal, ProposalId, SkillId,
    UserId,
};
use serde::Serialize;
use time::{Date, OffsetDateTime};

time::serde::format_description!(ymd, Date, "[year]-[month]-[day]");

#[derive(Debug, Serialize)]
pub struct JobView {
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
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        JobView {
            id: j.id,
            client_id: j.client_id,
            title: j.title,
            description: j.description,
            budget_min: j.budget_min,
            budget_max: j.budget_max,
            deadline: j.deadline,
            category_id: j.category_id,
            skill_ids: j.skill_ids,
            max_hires: j.max_hires,
            hires: j.hires,
            status: j.status,
            proposals_count: j.proposals_count,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProposalView {
    pub id: ProposalId,
    pub job_id: JobId,
    pub job_client_id: UserId,
    pub provider_id: UserId,
    pub rate: Money,
    pub message: Option<String>,
    pub status: ProposalStatus,
    pub contract_id: Option<ContractId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Proposal> for ProposalView {
    fn from(p: Proposal) -> Self {
        ProposalView {
            id: p.id,
            job_id: p.job_id,
            job_client_id: p.job_client_id,
            provider_id: p.provider_id,
            rate: p.rate,
            message: p.message,
            status: p.status,
            contract_id: p.contract_id,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ContractView {
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

impl From<Contract> for ContractView {
    fn from(c: Contract) -> Self {
        ContractView {
            id: c.id,
            job_id: c.job_id,
            proposal_id: c.proposal_id,
            client_id: c.client_id,
            provider_id: c.provider_id,
            title: c.title,
            agreed_rate: c.agreed_rate,
            deadline: c.deadline,
            status: c.status,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ContractEventView {
    pub contract_id: ContractId,
    pub from: Option<ContractStatus>,
    pub to: ContractStatus,
    pub actor_id: UserId,
    pub actor_role: String,
    pub reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub version: i64,
}

impl From<ContractEvent> for ContractEventView {
    fn from(e: ContractEvent) -> Self {
        ContractEventView {
            contract_id: e.contract_id,
            from: e.from,
            to: e.to,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            reason: e.reason,
            at: e.at,
            version: e.version,
        }
    }
}

/// Views of a page of records.
pub fn views<T, V: From<T>>(items: Vec<T>) -> Vec<V> {
    items.into_iter().map(V::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The view answers exactly the JSON the stored record used to (minus internal fields).
    #[test]
    fn job_view_is_the_old_wire_format() {
        let at = time::macros::datetime!(2026-12-01 12:00 UTC);
        let new = agora_engine::job::NewJob {
            title: "Paint".into(),
            description: "Fence".into(),
            budget_min: Some(Money::parse(100, "USD").expect("usd")),
            budget_max: None,
            deadline: Some(time::macros::date!(2026 - 12 - 24)),
            category_id: None,
            skill_ids: vec![],
            max_hires: None,
        };
        let mut job = Job::post(
            JobId::from_uuid(uuid::Uuid::from_u128(1)),
            UserId::from_uuid(uuid::Uuid::from_u128(2)),
            agora_engine::Role::Client,
            new,
            at,
        )
        .expect("job");
        let stored = serde_json::to_value(&job).expect("json");
        job.hire(ContractId::from_uuid(uuid::Uuid::from_u128(3)), at).expect("hire");
        let view = serde_json::to_value(JobView::from(job.clone())).expect("json");
        let mut expected = serde_json::to_value(&job).expect("json");
        expected.as_object_mut().expect("object").remove("hired");
        assert_eq!(view, expected);
        assert_eq!(stored["deadline"], "2026-12-24");
        assert!(view.get("hired").is_none());
    }
}
