//! Every logical table, named by access path. Each has a text partition key `pk`, a text
//! clustering key `ck` (byte order), an integer `version` for compare-and-set, an optional
//! expiry, and an opaque `value`. deploy/scylla/schema.cql defines the same tables; a test
//! checks the two agree. Keys are documented in docs/storage.md.

/// The schema version this build writes. Older stores migrate forward; newer ones are refused.
pub const SCHEMA_VERSION: u32 = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// pk = user id, ck = "" : the account.
    UsersById,
    /// pk = lower-cased email, ck = "" : user id (uniqueness by insert-if-absent).
    UsersByEmail,
    /// pk = lower-cased username, ck = "" : user id.
    UsersByUsername,
    /// pk = bucket "all", ck = user id : user ids in creation order (admin listing).
    UsersByCreation,
    /// pk = session id, ck = "" : one refresh-token family (TTL = refresh lifetime).
    SessionsById,
    /// pk = user id, ck = session id : that user's sessions (TTL = refresh lifetime).
    SessionsByUser,
    /// pk = sha-256 of a one-time token, ck = "" : reset / verification token (TTL).
    OneTimeTokens,
    /// Used only by the conformance suite and benchmarks: pk/ck chosen by the test.
    Scratch,
    // ---- schema version 2: realtime core
    /// pk = conversation id, ck = "" : the conversation head (members, last seq, last
    /// message, current bucket). Every append is a compare-and-set on its version.
    ConversationsById,
    /// pk = "<user a>:<user b>" (sorted), ck = "" : the one direct conversation of a pair.
    ConversationsDirect,
    /// pk = user id, ck = "<last activity, µs, 20 digits>:<conversation id>" : a member's
    /// conversations, newest activity last in byte order (scanned descending).
    ConversationsByUser,
    /// pk = conversation id, ck = first seq (20 digits) : the time bucket (UTC day) that
    /// starts at that seq.
    ConversationBuckets,
    /// pk = "<conversation id>:<UTC day>", ck = seq (20 digits) : one message.
    MessagesByConversation,
    /// pk = message id, ck = "" : where the message lives (conversation, bucket, seq).
    MessagesById,
    /// pk = "<conversation id>:<sender id>", ck = client_msg_id : the original ack (TTL).
    MessagesByClientId,
    /// pk = conversation id, ck = user id : the member's read cursor.
    ReadCursors,
    /// pk = blocker id, ck = blocked user id : a block.
    BlocksByUser,
    /// pk = user id, ck = notification id (v7, time-ordered) : one notification (TTL = expires_at).
    NotificationsByUser,
    /// pk = user id, ck = notification id : the unread ones only (same TTL).
    NotificationsUnread,
    /// pk = user id, ck = "notifications" : the unread counter.
    UnreadCounters,
    /// pk = user id, ck = "" : notification preferences.
    NotificationPreferences,
    /// pk = user id, ck = "" : when the last digest email went out (claimed by compare-and-set).
    DigestState,
    // ---- schema version 3: marketplace
    /// pk = "all", ck = category id : the category tree (admin-managed, small).
    Categories,
    /// pk = "<parent id or root>:<lower-cased name>", ck = "" : category id (unique among siblings).
    CategoriesByName,
    /// pk = "all", ck = skill id : skills.
    Skills,
    /// pk = lower-cased name, ck = "" : skill id (unique names).
    SkillsByName,
    /// pk = company id, ck = "" : a company.
    CompaniesById,
    /// pk = "all", ck = company id : companies in creation order.
    CompaniesByCreation,
    /// pk = provider id, ck = "" : a provider profile.
    ProvidersById,
    /// pk = user id, ck = "" : the user's one provider profile (insert-if-absent).
    ProvidersByUser,
    /// pk = "all", ck = provider id : for listing and index rebuilds.
    ProvidersByCreation,
    /// pk = service id, ck = "" : a service offer.
    ServicesById,
    /// pk = provider id, ck = service id : a provider's services.
    ServicesByProvider,
    /// pk = "all", ck = service id : for index rebuilds.
    ServicesByCreation,
    /// pk = service id, ck = user id : likes (idempotent).
    ServiceLikes,
    /// pk = job id, ck = "" : a job.
    JobsById,
    /// pk = client user id, ck = job id : a client's jobs.
    JobsByClient,
    /// pk = "all", ck = job id : for index rebuilds.
    JobsByCreation,
    /// pk = proposal id, ck = "" : a proposal.
    ProposalsById,
    /// pk = job id, ck = proposal id : a job's proposals.
    ProposalsByJob,
    /// pk = proposer user id, ck = proposal id : one's proposals.
    ProposalsByProvider,
    /// pk = "<job id>:<proposer id>", ck = "" : one proposal per provider per job.
    ProposalsUnique,
    /// pk = contract id, ck = "" : a contract (CAS on version for every transition).
    ContractsById,
    /// pk = party user id, ck = contract id : contracts of a client or provider.
    ContractsByParty,
    /// pk = contract id, ck = "<version, 20 digits>" : one status transition.
    ContractEvents,
    /// pk = booking id, ck = "" : a booking.
    BookingsById,
    /// pk = party user id, ck = booking id : bookings of a client or provider.
    BookingsByParty,
    /// pk = provider user id, ck = "" : confirmed booking intervals (CAS: no overlap).
    ProviderSchedule,
    /// pk = review id, ck = "" : a review.
    ReviewsById,
    /// pk = reviewee user id, ck = review id.
    ReviewsByReviewee,
    /// pk = service id, ck = review id.
    ReviewsByService,
    /// pk = author user id, ck = review id.
    ReviewsByAuthor,
    /// pk = "<contract or booking id>:<author id>", ck = "" : one review per engagement and author.
    ReviewsUnique,
    /// pk = UTC day, ck = "<µs, 20 digits>:<uuid>" : recorded searches. Not written since
    /// schema version 7 (searches are analytics facts); rows expire within 90 days.
    SearchQueries,
    /// pk = "all", ck = intent id (UUID v7) : a multi-step operation in flight (accept,
    /// booking confirm), removed when it completes; the sweeper finishes or undoes the rest.
    Intents,
    // ---- schema version 5: availability
    /// pk = provider user id, ck = "" : the provider's working hours (time zone, weekly
    /// ranges, date overrides).
    AvailabilityByProvider,
    /// pk = sha-256 of a calendar feed token (hex), ck = "" : the user whose feed it is.
    CalendarFeeds,
    /// pk = user id, ck = "" : the hash of the user's current feed token (one at a time).
    CalendarFeedByUser,
    /// pk = due hour (unix seconds / 3600), ck = "<due unix secs, 12 digits>:<booking id>:<kind>" :
    /// a booking reminder to send; removed once sent or moot.
    RemindersDue,
    /// pk = "<booking id>:<kind>", ck = "" : the notification id of a reminder sent (claimed
    /// by insert-if-absent, so one is never sent twice).
    RemindersSent,
    // ---- schema version 6: payments
    /// pk = ledger account key (`wallet:<user>:USD`), ck = "" : the head (cached balance,
    /// entry count), moved by compare-and-set together with each entry; ck = "e:<txn id>"
    /// (":r" appended for a reversal) : one entry. Accounts without a floor (`external`) keep
    /// entries only.
    LedgerAccounts,
    /// pk = bucket (one hex digit of a hash of the key), ck = account key : every account, for `ledger verify`.
    LedgerAccountIndex,
    /// pk = owner (user id of a wallet, contract id of an escrow), ck = account key : the owner's accounts.
    LedgerAccountsByOwner,
    /// pk = ledger transaction id, ck = "" : the transaction and its status (applying, posted, rejected).
    LedgerTxns,
    /// pk = "all", ck = transaction id : transactions still being applied (the sweeper finishes them).
    LedgerOpen,
    /// pk = payment method id, ck = "" : a saved card (gateway token, brand, last4, expiry).
    PaymentMethodsById,
    /// pk = user id, ck = payment method id : the user's cards.
    PaymentMethodsByUser,
    /// pk = payment id, ck = "" : one charge.
    PaymentsById,
    /// pk = user id (payer and payee), ck = payment id : the user's payments.
    PaymentsByUser,
    /// pk = contract id, ck = "" : the contract's milestones (one row, compare-and-set).
    MilestonesByContract,
    /// pk = "<user id>:<Idempotency-Key>", ck = "" : the request's fingerprint and, once
    /// answered, its response (TTL 24 h).
    IdempotencyKeys,
    /// pk = "all", ck = "<due unix secs, 12 digits>:<contract id>:<milestone id>" : a submitted
    /// milestone to release automatically when the client has not answered by then.
    MilestoneReleasesDue,
    /// pk = payout method id, ck = "" : a bank account (gateway token, holder, country, last4).
    PayoutMethodsById,
    /// pk = user id, ck = payout method id.
    PayoutMethodsByUser,
    /// pk = payout id, ck = "" : one withdrawal.
    PayoutsById,
    /// pk = user id, ck = payout id.
    PayoutsByUser,
    /// pk = "<gateway>:<event id>", ck = "" : a webhook event applied (TTL 30 days).
    WebhookEvents,
    /// pk = gateway name, ck = "<due ms, 15 digits>:<event id>" : a webhook the built-in
    /// sandbox gateway still has to deliver.
    GatewayOutbox,
    // ---- schema version 7: analytics
    /// pk = UTC hour of receipt (`2026-12-03T14`), ck = "<received µs, 20 digits>:<batch
    /// key>:<index, 4 digits>" : one recorded fact (TTL = the analytics retention).
    AnalyticsEvents,
    /// pk = "all", ck = UTC hour : the hours that hold recorded facts (TTL = the retention).
    AnalyticsHours,
    /// pk = batch key, ck = "" : the received µs of the copy of a batch that counted (TTL =
    /// the retention), so a replayed batch never counts twice.
    AnalyticsSeen,
    /// pk = scope (`platform`, `provider:<user>`, `service:<id>`, `client:<user>`), ck =
    /// period (`d:2026-12-03`, `m:2026-12`, `all`) : counters and the last rollup batch
    /// applied to them (compare-and-set).
    AnalyticsRollups,
    /// pk = "<list>:<scope>" (`services:platform`), ck = period : a ranked list's counts.
    AnalyticsRanks,
    /// pk = user id, ck = "" : the UTC day the user was last active (active-user figures).
    AnalyticsUsers,
    /// pk = "rollup", ck = "" : how far the rollup has read, and the batch it is applying.
    AnalyticsCheckpoint,
    // ---- schema version 8: attachments
    /// pk = upload id, ck = "" : an upload in progress or just completed (TTL = its expiry + 1 day).
    UploadsById,
    /// pk = "all", ck = "<expires unix secs, 12 digits>:<upload id>" : uploads by expiry, so
    /// the sweeper removes the partial files of abandoned ones.
    UploadsByExpiry,
    /// pk = attachment id, ck = "" : a stored file (type, sizes, blobs, what it is attached to).
    AttachmentsById,
    /// pk = "all", ck = "<created unix secs, 12 digits>:<attachment id>" : attachments not
    /// attached to anything yet (removed after 24 h by the sweeper).
    AttachmentsUnattached,
    /// pk = blob key (SHA-256 hex), ck = "" : how many attachments refer to the blob.
    BlobRefs,
    /// pk = user id, ck = "" : the bytes of attachments the user keeps (quota).
    StorageUsage,
}

impl Table {
    pub const ALL: &'static [Table] = &[
        Table::UsersById,
        Table::UsersByEmail,
        Table::UsersByUsername,
        Table::UsersByCreation,
        Table::SessionsById,
        Table::SessionsByUser,
        Table::OneTimeTokens,
        Table::Scratch,
        Table::ConversationsById,
        Table::ConversationsDirect,
        Table::ConversationsByUser,
        Table::ConversationBuckets,
        Table::MessagesByConversation,
        Table::MessagesById,
        Table::MessagesByClientId,
        Table::ReadCursors,
        Table::BlocksByUser,
        Table::NotificationsByUser,
        Table::NotificationsUnread,
        Table::UnreadCounters,
        Table::NotificationPreferences,
        Table::DigestState,
        Table::Categories,
        Table::CategoriesByName,
        Table::Skills,
        Table::SkillsByName,
        Table::CompaniesById,
        Table::CompaniesByCreation,
        Table::ProvidersById,
        Table::ProvidersByUser,
        Table::ProvidersByCreation,
        Table::ServicesById,
        Table::ServicesByProvider,
        Table::ServicesByCreation,
        Table::ServiceLikes,
        Table::JobsById,
        Table::JobsByClient,
        Table::JobsByCreation,
        Table::ProposalsById,
        Table::ProposalsByJob,
        Table::ProposalsByProvider,
        Table::ProposalsUnique,
        Table::ContractsById,
        Table::ContractsByParty,
        Table::ContractEvents,
        Table::BookingsById,
        Table::BookingsByParty,
        Table::ProviderSchedule,
        Table::ReviewsById,
        Table::ReviewsByReviewee,
        Table::ReviewsByService,
        Table::ReviewsByAuthor,
        Table::ReviewsUnique,
        Table::SearchQueries,
        Table::Intents,
        Table::AvailabilityByProvider,
        Table::CalendarFeeds,
        Table::CalendarFeedByUser,
        Table::RemindersDue,
        Table::RemindersSent,
        Table::LedgerAccounts,
        Table::LedgerAccountIndex,
        Table::LedgerAccountsByOwner,
        Table::LedgerTxns,
        Table::LedgerOpen,
        Table::PaymentMethodsById,
        Table::PaymentMethodsByUser,
        Table::PaymentsById,
        Table::PaymentsByUser,
        Table::MilestonesByContract,
        Table::IdempotencyKeys,
        Table::MilestoneReleasesDue,
        Table::PayoutMethodsById,
        Table::PayoutMethodsByUser,
        Table::PayoutsById,
        Table::PayoutsByUser,
        Table::WebhookEvents,
        Table::GatewayOutbox,
        Table::AnalyticsEvents,
        Table::AnalyticsHours,
        Table::AnalyticsSeen,
        Table::AnalyticsRollups,
        Table::AnalyticsRanks,
        Table::AnalyticsUsers,
        Table::AnalyticsCheckpoint,
        Table::UploadsById,
        Table::UploadsByExpiry,
        Table::AttachmentsById,
        Table::AttachmentsUnattached,
        Table::BlobRefs,
        Table::StorageUsage,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Table::UsersById => "users_by_id",
            Table::UsersByEmail => "users_by_email",
            Table::UsersByUsername => "users_by_username",
            Table::UsersByCreation => "users_by_creation",
            Table::SessionsById => "sessions_by_id",
            Table::SessionsByUser => "sessions_by_user",
            Table::OneTimeTokens => "one_time_tokens",
            Table::Scratch => "scratch",
            Table::ConversationsById => "conversations_by_id",
            Table::ConversationsDirect => "conversations_direct",
            Table::ConversationsByUser => "conversations_by_user",
            Table::ConversationBuckets => "conversation_buckets",
            Table::MessagesByConversation => "messages_by_conversation",
            Table::MessagesById => "messages_by_id",
            Table::MessagesByClientId => "messages_by_client_id",
            Table::ReadCursors => "read_cursors",
            Table::BlocksByUser => "blocks_by_user",
            Table::NotificationsByUser => "notifications_by_user",
            Table::NotificationsUnread => "notifications_unread",
            Table::UnreadCounters => "unread_counters",
            Table::NotificationPreferences => "notification_preferences",
            Table::DigestState => "digest_state",
            Table::Categories => "categories",
            Table::CategoriesByName => "categories_by_name",
            Table::Skills => "skills",
            Table::SkillsByName => "skills_by_name",
            Table::CompaniesById => "companies_by_id",
            Table::CompaniesByCreation => "companies_by_creation",
            Table::ProvidersById => "providers_by_id",
            Table::ProvidersByUser => "providers_by_user",
            Table::ProvidersByCreation => "providers_by_creation",
            Table::ServicesById => "services_by_id",
            Table::ServicesByProvider => "services_by_provider",
            Table::ServicesByCreation => "services_by_creation",
            Table::ServiceLikes => "service_likes",
            Table::JobsById => "jobs_by_id",
            Table::JobsByClient => "jobs_by_client",
            Table::JobsByCreation => "jobs_by_creation",
            Table::ProposalsById => "proposals_by_id",
            Table::ProposalsByJob => "proposals_by_job",
            Table::ProposalsByProvider => "proposals_by_provider",
            Table::ProposalsUnique => "proposals_unique",
            Table::ContractsById => "contracts_by_id",
            Table::ContractsByParty => "contracts_by_party",
            Table::ContractEvents => "contract_events",
            Table::BookingsById => "bookings_by_id",
            Table::BookingsByParty => "bookings_by_party",
            Table::ProviderSchedule => "provider_schedule",
            Table::ReviewsById => "reviews_by_id",
            Table::ReviewsByReviewee => "reviews_by_reviewee",
            Table::ReviewsByService => "reviews_by_service",
            Table::ReviewsByAuthor => "reviews_by_author",
            Table::ReviewsUnique => "reviews_unique",
            Table::SearchQueries => "search_queries",
            Table::Intents => "intents",
            Table::AvailabilityByProvider => "availability_by_provider",
            Table::CalendarFeeds => "calendar_feeds",
            Table::CalendarFeedByUser => "calendar_feed_by_user",
            Table::RemindersDue => "reminders_due",
            Table::RemindersSent => "reminders_sent",
            Table::LedgerAccounts => "ledger_accounts",
            Table::LedgerAccountIndex => "ledger_account_index",
            Table::LedgerAccountsByOwner => "ledger_accounts_by_owner",
            Table::LedgerTxns => "ledger_txns",
            Table::LedgerOpen => "ledger_open",
            Table::PaymentMethodsById => "payment_methods_by_id",
            Table::PaymentMethodsByUser => "payment_methods_by_user",
            Table::PaymentsById => "payments_by_id",
            Table::PaymentsByUser => "payments_by_user",
            Table::MilestonesByContract => "milestones_by_contract",
            Table::IdempotencyKeys => "idempotency_keys",
            Table::MilestoneReleasesDue => "milestone_releases_due",
            Table::PayoutMethodsById => "payout_methods_by_id",
            Table::PayoutMethodsByUser => "payout_methods_by_user",
            Table::PayoutsById => "payouts_by_id",
            Table::PayoutsByUser => "payouts_by_user",
            Table::WebhookEvents => "webhook_events",
            Table::GatewayOutbox => "gateway_outbox",
            Table::AnalyticsEvents => "analytics_events",
            Table::AnalyticsHours => "analytics_hours",
            Table::AnalyticsSeen => "analytics_seen",
            Table::AnalyticsRollups => "analytics_rollups",
            Table::AnalyticsRanks => "analytics_ranks",
            Table::AnalyticsUsers => "analytics_users",
            Table::AnalyticsCheckpoint => "analytics_checkpoint",
            Table::UploadsById => "uploads_by_id",
            Table::UploadsByExpiry => "uploads_by_expiry",
            Table::AttachmentsById => "attachments_by_id",
            Table::AttachmentsUnattached => "attachments_unattached",
            Table::BlobRefs => "blob_refs",
            Table::StorageUsage => "storage_usage",
        }
    }

    /// The schema version that introduced the table (drives forward migration).
    pub const fn since(self) -> u32 {
        match self {
            Table::UsersById
            | Table::UsersByEmail
            | Table::UsersByUsername
            | Table::UsersByCreation
            | Table::SessionsById
            | Table::SessionsByUser
            | Table::OneTimeTokens
            | Table::Scratch => 1,
            Table::ConversationsById
            | Table::ConversationsDirect
            | Table::ConversationsByUser
            | Table::ConversationBuckets
            | Table::MessagesByConversation
            | Table::MessagesById
            | Table::MessagesByClientId
            | Table::ReadCursors
            | Table::BlocksByUser
            | Table::NotificationsByUser
            | Table::NotificationsUnread
            | Table::UnreadCounters
            | Table::NotificationPreferences
            | Table::DigestState => 2,
            Table::Intents => 4,
            Table::AvailabilityByProvider
            | Table::CalendarFeeds
            | Table::CalendarFeedByUser
            | Table::RemindersDue
            | Table::RemindersSent => 5,
            Table::LedgerAccounts
            | Table::LedgerAccountIndex
            | Table::LedgerAccountsByOwner
            | Table::LedgerTxns
            | Table::LedgerOpen
            | Table::PaymentMethodsById
            | Table::PaymentMethodsByUser
            | Table::PaymentsById
            | Table::PaymentsByUser
            | Table::MilestonesByContract
            | Table::IdempotencyKeys
            | Table::MilestoneReleasesDue
            | Table::PayoutMethodsById
            | Table::PayoutMethodsByUser
            | Table::PayoutsById
            | Table::PayoutsByUser
            | Table::WebhookEvents
            | Table::GatewayOutbox => 6,
            Table::AnalyticsEvents
            | Table::AnalyticsHours
            | Table::AnalyticsSeen
            | Table::AnalyticsRollups
            | Table::AnalyticsRanks
            | Table::AnalyticsUsers
            | Table::AnalyticsCheckpoint => 7,
            Table::UploadsById
            | Table::UploadsByExpiry
            | Table::AttachmentsById
            | Table::AttachmentsUnattached
            | Table::BlobRefs
            | Table::StorageUsage => 8,
            _ => 3,
        }
    }
}
