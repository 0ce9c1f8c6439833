//! Entity ids: `Copy` newtypes over UUIDs (v7, time-ordered, made by the caller).

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::DomainError;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// Parses the textual form; any malformed id is a validation error.
            pub fn parse(s: &str) -> Result<Self, DomainError> {
                Uuid::try_parse(s.trim())
                    .map(Self)
                    .map_err(|_| DomainError::invalid("must be a UUID"))
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = DomainError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    };
}

id_type!(
    /// A user account.
    UserId
);
id_type!(
    /// A login session: one refresh-token family and the access tokens it issued.
    SessionId
);

id_type!(
    /// A conversation (direct or group).
    ConversationId
);
id_type!(
    /// One chat message.
    MessageId
);
id_type!(
    /// One notification.
    NotificationId
);

id_type!(
    /// A catalog category.
    CategoryId
);
id_type!(
    /// A skill.
    SkillId
);
id_type!(
    /// A company.
    CompanyId
);
id_type!(
    /// A provider profile.
    ProviderId
);
id_type!(
    /// A provider's service offer.
    ServiceId
);
id_type!(
    /// A client's job (service request).
    JobId
);
id_type!(
    /// A proposal on a job.
    ProposalId
);
id_type!(
    /// A contract between a client and a provider.
    ContractId
);
id_type!(
    /// A booking of a service.
    BookingId
);
id_type!(
    /// A review.
    ReviewId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let raw = "0190f6b2-7c1a-7d3e-8a4b-1234567890ab";
        let id = UserId::parse(raw).expect("valid uuid");
        assert_eq!(id.to_string(), raw);
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(UserId::parse("").is_err());
    }
}
id_type!(
    /// One charge or refund through the payment gateway.
    PaymentId
);
id_type!(
    /// A milestone of a contract (a part of its agreed amount, funded and released on its own).
    MilestoneId
);
id_type!(
    /// One balanced ledger transaction.
    LedgerTxnId
);
id_type!(
    /// A provider's withdrawal to a payout method.
    PayoutId
);
id_type!(
    /// A user's saved card (a gateway token with brand, last4 and expiry).
    PaymentMethodId
);
id_type!(
    /// A provider's bank account for payouts (a gateway token with country and last4).
    PayoutMethodId
);
id_type!(
    /// A resumable upload (tus) or a multipart upload in progress.
    UploadId
);
id_type!(
    /// A stored file that messages, proposals, deliveries and galleries refer to.
    AttachmentId
);
