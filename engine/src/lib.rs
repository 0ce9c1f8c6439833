//! Agora's pure domain: ids, validated newtypes, roles, money, permission rules and
//! state machines. No I/O, no async runtime, no actix, no SQL or CQL: time, ids and
//! randomness come in as arguments.

pub mod account;
pub mod analytics;
pub mod attachment;
pub mod availability;
pub mod booking;
pub mod card;
pub mod catalog;
pub mod chat;
pub mod codes;
pub mod contract;
pub mod error;
pub mod event;
pub mod ids;
pub mod job;
pub mod ledger;
pub mod market;
pub mod money;
pub mod notification;
pub mod payment;
pub mod proposal;
pub mod review;
pub mod search;
pub mod webhook;

pub use account::{Email, Password, PersonName, Role, Username};
pub use attachment::{
    FileName, FileRefusal, FileType, Kind as AttachmentKind, Limits as AttachmentLimits, Use as AttachmentUse,
};
pub use availability::{SlotPolicy, TimeZoneName, WorkingHours};
pub use booking::Booking;
pub use chat::{ClientMsgId, ConversationKind, MessageBody, NewConversation};
pub use contract::{Contract, ContractActor, ContractEvent, ContractStatus, StatusChanged};
pub use error::{DomainError, FieldErrors};
pub use event::DomainEvent;
pub use ids::{
    AttachmentId, BookingId, CategoryId, CompanyId, ContractId, ConversationId, JobId, LedgerTxnId, MessageId,
    MilestoneId, NotificationId, PaymentId, PaymentMethodId, PayoutId, PayoutMethodId, ProposalId, ProviderId,
    ReviewId, ServiceId, SessionId, SkillId, UploadId, UserId,
};
pub use job::Job;
pub use market::{Availability, BookingActor, BookingStatus, JobStatus, ProposalStatus, SkillLevel};
pub use money::{Currency, Money};
pub use notification::{ActionUrl, Channels, Digest, NotificationType, Preferences};
pub use payment::{Milestone, MilestoneStatus, Payment, PaymentStatus};
pub use proposal::Proposal;
pub use review::{Engagement, Review};
pub use search::{SearchClause, SearchText};
