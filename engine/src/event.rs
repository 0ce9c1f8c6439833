//! Domain events: what a command did, published after its write is durable. Subscribers
//! (notifications, the search projector, rating aggregates, analytics) react to them; none
//! of them can turn a committed write into an error. Events are plain data (serde), so a
//! bus between nodes can carry them unchanged.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    Booking, CategoryId, Contract, ContractEvent, Job, JobId, Proposal, ProviderId, Review, ServiceId, SkillId, UserId,
};

/// A catalog object whose search document or listing may have changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum CatalogItem {
    Service(ServiceId),
    Job(JobId),
    Provider(ProviderId),
    /// A category changed: every document that lists it (with its ancestors) may have.
    Category(CategoryId),
    /// A skill was renamed or removed: provider documents carry skill names.
    Skill(SkillId),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DomainEvent {
    ProposalSubmitted {
        proposal: Proposal,
        job_title: String,
    },
    ProposalWithdrawn {
        proposal: Proposal,
    },
    /// The client withdrew an open job; `proposals` are the pending ones closed with it.
    JobWithdrawn {
        job: Job,
        proposals: Vec<Proposal>,
    },
    /// The job's client accepted it; the contract exists.
    ProposalAccepted {
        proposal: Proposal,
        job_title: String,
        by: UserId,
    },
    ContractCreated {
        contract: Contract,
        by: UserId,
    },
    ContractStatusChanged {
        contract: Contract,
        change: ContractEvent,
        by: UserId,
    },
    BookingRequested {
        booking: Booking,
        service_title: String,
    },
    BookingStatusChanged {
        booking: Booking,
        by: UserId,
        service_title: Option<String>,
    },
    ReviewPosted {
        review: Review,
    },
    ReviewEdited {
        review: Review,
    },
    ReviewDeleted {
        review: Review,
    },
    ReviewReplied {
        review: Review,
        by: UserId,
    },
    JobChanged {
        job: Job,
    },
    CatalogChanged {
        item: CatalogItem,
    },
    /// A milestone moved (funded, submitted, changes requested, released, refunded, split).
    MilestoneChanged {
        contract: Contract,
        milestone: crate::payment::Milestone,
        /// `None` for the system (auto-release, cancellation).
        by: Option<UserId>,
    },
    /// The provider gave part of a milestone's escrow back to the client.
    PartRefunded {
        contract: Contract,
        milestone: crate::payment::Milestone,
        amount: crate::money::Money,
        by: UserId,
    },
    /// A payout was paid or failed.
    PayoutChanged {
        payout: crate::payment::Payout,
    },
    /// The gateway declined a charge.
    PaymentFailed {
        payment: crate::payment::Payment,
    },
    /// A user liked (`liked`) or unliked a service; only changes are published.
    ServiceLiked {
        service_id: ServiceId,
        /// The provider's user.
        owner_id: UserId,
        by: UserId,
        liked: bool,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A search was answered (analytics).
    SearchPerformed {
        q: String,
        kind: String,
        user_id: Option<UserId>,
        results: u64,
        /// The filters it used (`category`, `city`, `price_min`, ...), by name.
        #[serde(default)]
        filters: Vec<String>,
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl DomainEvent {
    /// A static name, for logs and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            DomainEvent::ProposalSubmitted { .. } => "proposal_submitted",
            DomainEvent::ProposalWithdrawn { .. } => "proposal_withdrawn",
            DomainEvent::JobWithdrawn { .. } => "job_withdrawn",
            DomainEvent::ProposalAccepted { .. } => "proposal_accepted",
            DomainEvent::ContractCreated { .. } => "contract_created",
            DomainEvent::ContractStatusChanged { .. } => "contract_status_changed",
            DomainEvent::BookingRequested { .. } => "booking_requested",
            DomainEvent::BookingStatusChanged { .. } => "booking_status_changed",
            DomainEvent::ReviewPosted { .. } => "review_posted",
            DomainEvent::ReviewEdited { .. } => "review_edited",
            DomainEvent::ReviewDeleted { .. } => "review_deleted",
            DomainEvent::ReviewReplied { .. } => "review_replied",
            DomainEvent::JobChanged { .. } => "job_changed",
            DomainEvent::CatalogChanged { .. } => "catalog_changed",
            DomainEvent::MilestoneChanged { .. } => "milestone_changed",
            DomainEvent::PartRefunded { .. } => "part_refunded",
            DomainEvent::PaymentFailed { .. } => "payment_failed",
            DomainEvent::PayoutChanged { .. } => "payout_changed",
            DomainEvent::ServiceLiked { .. } => "service_liked",
            DomainEvent::SearchPerformed { .. } => "search_performed",
        }
    }
}
