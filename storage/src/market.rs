//! Marketplace records and the generic entity access they share: each entity lives in its
//! `<kind>_by_id` table (compare-and-set on its version) with secondary index tables whose
//! rows are `(pk = owner or "all", ck = entity id)`. Entity ids are UUID v7, so index
//! partitions scan in creation order.

use std::future::Future;
use std::ops::ControlFlow;

use agora_engine::market::{Availability, SkillLevel};
pub use agora_engine::{Booking, Contract, ContractEvent, Engagement, Job, Proposal, Review};
use agora_engine::{
    BookingId, CategoryId, CompanyId, ContractId, JobId, Money, ProposalId, ProviderId, ReviewId, ServiceId, SkillId,
    UserId,
};
use futures_util::future::try_join_all;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::{Backend, CasOutcome, Expect, Order};
use crate::codec::{decode, encode};
use crate::error::StoreError;
use crate::retry::{cas_retry, lost};
use crate::store::{get_versioned, Versioned};
use crate::tables::Table;

/// A stored marketplace record, addressed by its typed id.
pub trait Entity: Serialize + DeserializeOwned + Clone + Send + Sync + 'static {
    /// The record's id type (`JobId`, `ServiceId`, ...).
    type Id: Copy + std::fmt::Display + std::str::FromStr + Send + Sync;
    #[doc(hidden)]
    const TABLE: Table;
    fn id(&self) -> Self::Id;
    /// Secondary index partitions this record is listed in: `(table, pk)`, ck = its id.
    #[doc(hidden)]
    fn indexes(&self) -> Vec<(Table, String)> {
        Vec::new()
    }
}

macro_rules! entity {
    ($t:ty, $id:ty, $table:expr, |$s:ident| $indexes:expr) => {
        impl Entity for $t {
            type Id = $id;
            const TABLE: Table = $table;
            fn id(&self) -> $id {
                self.id
            }
            fn indexes(&self) -> Vec<(Table, String)> {
                let $s = self;
                $indexes
            }
        }
    };
}

/// A listing of records of type `T`: one secondary index partition, in id (= creation)
/// order. Built only by the constructors below, so a listing always names an index that
/// holds `T`.
pub struct List<T> {
    table: Table,
    pk: String,
    of: std::marker::PhantomData<fn() -> T>,
}

impl<T> List<T> {
    pub(crate) fn new(table: Table, pk: impl ToString) -> Self {
        List { table, pk: pk.to_string(), of: std::marker::PhantomData }
    }
}

impl List<Company> {
    pub fn companies() -> Self {
        List::new(Table::CompaniesByCreation, ALL)
    }
}

impl List<Provider> {
    pub fn providers() -> Self {
        List::new(Table::ProvidersByCreation, ALL)
    }
}

impl List<Service> {
    pub fn services() -> Self {
        List::new(Table::ServicesByCreation, ALL)
    }
    pub fn services_of_provider(provider: ProviderId) -> Self {
        List::new(Table::ServicesByProvider, provider)
    }
}

impl List<Job> {
    pub fn jobs() -> Self {
        List::new(Table::JobsByCreation, ALL)
    }
    pub fn jobs_of_client(client: UserId) -> Self {
        List::new(Table::JobsByClient, client)
    }
}

impl List<Proposal> {
    pub fn proposals_on_job(job: JobId) -> Self {
        List::new(Table::ProposalsByJob, job)
    }
    pub fn proposals_of_provider(provider: UserId) -> Self {
        List::new(Table::ProposalsByProvider, provider)
    }
}

impl List<Contract> {
    /// The contracts a user is client or provider of.
    pub fn contracts_of_party(user: UserId) -> Self {
        List::new(Table::ContractsByParty, user)
    }
}

impl List<Booking> {
    /// The bookings a user is client or provider of.
    pub fn bookings_of_party(user: UserId) -> Self {
        List::new(Table::BookingsByParty, user)
    }
}

impl List<Review> {
    /// Reviews about a user.
    pub fn reviews_of_user(reviewee: UserId) -> Self {
        List::new(Table::ReviewsByReviewee, reviewee)
    }
    pub fn reviews_of_service(service: ServiceId) -> Self {
        List::new(Table::ReviewsByService, service)
    }
    pub fn reviews_by_author(author: UserId) -> Self {
        List::new(Table::ReviewsByAuthor, author)
    }
}

const ALL: &str = "all";

/// Category names are unique among siblings: `"<parent id or root>:<lower-cased name>"`.
fn category_name_key(c: &Category) -> String {
    format!("{}:{}", c.parent_id.map_or_else(|| "root".to_string(), |p| p.to_string()), c.name.to_lowercase())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Skill {
    pub id: SkillId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Company {
    pub id: CompanyId,
    pub owner_id: UserId,
    pub name: String,
    pub description: Option<String>,
    pub website: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
entity!(Company, CompanyId, Table::CompaniesById, |_c| vec![(Table::CompaniesByCreation, ALL.into())]);

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ProviderSkill {
    pub skill_id: SkillId,
    pub level: SkillLevel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provider {
    pub id: ProviderId,
    pub user_id: UserId,
    pub bio: String,
    pub hourly_rate: Money,
    pub city: Option<String>,
    pub country: Option<String>,
    pub category_ids: Vec<CategoryId>,
    pub skills: Vec<ProviderSkill>,
    pub availability: Availability,
    pub is_verified: bool,
    pub rating_avg: f64,
    pub reviews_count: u64,
    pub completed_jobs: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}
entity!(Provider, ProviderId, Table::ProvidersById, |_p| vec![(Table::ProvidersByCreation, ALL.into())]);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: ServiceId,
    pub provider_id: ProviderId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub category_id: Option<CategoryId>,
    pub price: Money,
    pub duration_minutes: Option<u32>,
    /// Buffers, notice, window, slot interval and daily cap for slot booking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub booking_rules: Option<agora_engine::availability::BookingRules>,
    pub tags: Vec<String>,
    pub rating_avg: f64,
    pub reviews_count: u64,
    pub likes_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The service's public gallery: images, in the owner's order (at most 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gallery: Vec<GalleryImage>,
}

/// One image of a service gallery (an attachment attached to the service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GalleryImage {
    pub id: agora_engine::AttachmentId,
    pub width: Option<u32>,
    pub height: Option<u32>,
}
entity!(Service, ServiceId, Table::ServicesById, |s| vec![
    (Table::ServicesByProvider, s.provider_id.to_string()),
    (Table::ServicesByCreation, ALL.into()),
]);

entity!(Job, JobId, Table::JobsById, |j| vec![
    (Table::JobsByClient, j.client_id.to_string()),
    (Table::JobsByCreation, ALL.into())
]);

entity!(Proposal, ProposalId, Table::ProposalsById, |p| vec![
    (Table::ProposalsByJob, p.job_id.to_string()),
    (Table::ProposalsByProvider, p.provider_id.to_string()),
]);

entity!(Contract, ContractId, Table::ContractsById, |c| vec![
    (Table::ContractsByParty, c.client_id.to_string()),
    (Table::ContractsByParty, c.provider_id.to_string()),
]);

entity!(Booking, BookingId, Table::BookingsById, |b| vec![
    (Table::BookingsByParty, b.client_id.to_string()),
    (Table::BookingsByParty, b.provider_id.to_string()),
]);

/// A provider's taken time: the arbiter of "no two overlapping confirmed bookings", and of
/// the slot holds of requested bookings (providers with working hours only).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Confirmed intervals: (start unix seconds, end unix seconds, booking id).
    pub slots: Vec<(i64, i64, BookingId)>,
    /// Requested bookings holding their slot: (start, end, booking id, held until), unix seconds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<(i64, i64, BookingId, i64)>,
}

/// What a change to a provider's schedule decided.
enum ScheduleChange {
    /// Write the changed schedule.
    Write,
    /// Nothing changed: no write.
    Keep,
    /// Refused: this booking is in the way (nothing written).
    Clash(BookingId),
}

impl Schedule {
    /// Every interval that takes time at `now` (confirmed ones and live holds), other than
    /// `except`'s: `(start, end, booking)`.
    pub fn taken(&self, now: OffsetDateTime, except: Option<BookingId>) -> Vec<(i64, i64, BookingId)> {
        let now = now.unix_timestamp();
        self.slots
            .iter()
            .copied()
            .chain(self.holds.iter().filter(|h| h.3 > now).map(|&(a, b, id, _)| (a, b, id)))
            .filter(|(_, _, id)| Some(*id) != except)
            .collect()
    }

    fn clash(&self, booking: BookingId, s: i64, e: i64, now: OffsetDateTime) -> Option<BookingId> {
        self.taken(now, Some(booking)).into_iter().find(|(a, b, _)| *a < e && s < *b).map(|t| t.2)
    }

    /// Drops past slots, expired holds and everything of `booking`.
    fn prune(&mut self, booking: BookingId, now: OffsetDateTime) {
        let cutoff = now.unix_timestamp();
        self.slots.retain(|(_, b, id)| *b > cutoff && *id != booking);
        self.holds.retain(|h| h.3 > cutoff && h.1 > cutoff && h.2 != booking);
    }
}

entity!(Review, ReviewId, Table::ReviewsById, |r| {
    let mut v =
        vec![(Table::ReviewsByReviewee, r.reviewee_id.to_string()), (Table::ReviewsByAuthor, r.author_id.to_string())];
    if let Some(s) = r.service_id {
        v.push((Table::ReviewsByService, s.to_string()));
    }
    v
});

/// The one "read every page" loop: every row of a partition in clustering order, 1000 a
/// page, until `f` answers `Break`.
pub(crate) async fn each_row(
    b: &dyn Backend,
    table: Table,
    pk: &str,
    mut f: impl FnMut(crate::backend::Row) -> Result<ControlFlow<()>, StoreError>,
) -> Result<(), StoreError> {
    let mut cursor: Option<String> = None;
    loop {
        let page = b.scan(table, pk, Order::Asc, 1000, cursor.as_deref()).await?;
        for row in page.rows {
            if f(row)?.is_break() {
                return Ok(());
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

pub struct Market<'a> {
    pub(crate) b: &'a dyn Backend,
}

impl Market<'_> {
    pub async fn get<T: Entity>(&self, id: T::Id) -> Result<Option<Versioned<T>>, StoreError> {
        get_versioned(self.b, T::TABLE, &id.to_string(), "").await
    }

    /// Inserts a new record (insert-if-absent) and lists it in its indexes.
    pub async fn insert<T: Entity>(&self, v: &T) -> Result<(), StoreError> {
        let key = v.id().to_string();
        if !self.b.cas(T::TABLE, &key, "", Expect::Absent, encode(T::TABLE, v)?, None).await?.applied() {
            return Err(StoreError::Duplicate("record"));
        }
        self.index(v).await
    }

    /// Writes the record's index rows (idempotent).
    pub async fn index<T: Entity>(&self, v: &T) -> Result<(), StoreError> {
        let key = v.id().to_string();
        try_join_all(v.indexes().into_iter().map(|(table, pk)| {
            let key = key.clone();
            async move { self.b.put(table, &pk, &key, Vec::new(), None).await }
        }))
        .await?;
        Ok(())
    }

    /// Saves `v` if it is still at `version`; answers the new version or `Conflict`.
    pub async fn save<T: Entity>(&self, v: &T, version: i64) -> Result<i64, StoreError> {
        match self
            .b
            .cas(T::TABLE, &v.id().to_string(), "", Expect::Version(version), encode(T::TABLE, v)?, None)
            .await?
        {
            CasOutcome::Applied { version } => Ok(version),
            CasOutcome::Conflict { .. } => Err(StoreError::Conflict),
        }
    }

    /// Saves `v` if still at `version`: `Ok(None)` when another write won (retry).
    pub async fn try_save<T: Entity>(&self, v: &T, version: i64) -> Result<Option<i64>, StoreError> {
        lost(self.save(v, version).await)
    }

    /// Read-modify-write with retries. `change` may refuse (its error is returned as is);
    /// `Ok(None)` when the record does not exist.
    pub async fn update<T: Entity, E: From<StoreError>>(
        &self,
        id: T::Id,
        mut change: impl FnMut(&mut T) -> Result<(), E>,
    ) -> Result<Option<Versioned<T>>, E> {
        // The lock is never held across an await: it only lets each attempt call `change`.
        let change = std::sync::Mutex::new(&mut change);
        let change = &change;
        cas_retry(|| async move {
            let Some(current) = self.get::<T>(id).await? else { return Ok(Some(None)) };
            let mut next = current.value.clone();
            (change.lock().unwrap_or_else(|p| p.into_inner()))(&mut next)?;
            Ok(self.try_save(&next, current.version).await?.map(|version| Some(Versioned { value: next, version })))
        })
        .await
    }

    /// Whether `user` has proposed on `job`.
    pub async fn has_proposed(&self, job: JobId, user: UserId) -> Result<bool, StoreError> {
        Ok(self.b.get(Table::ProposalsUnique, &format!("{job}:{user}"), "").await?.is_some())
    }

    /// One page of a listing, loaded (missing records are skipped).
    pub async fn page<T: Entity>(
        &self,
        list: &List<T>,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let page = self.b.scan(list.table, &list.pk, order, limit, cursor).await?;
        let found = self.load_many::<T>(page.rows.iter().map(|r| r.ck.clone()).collect()).await?;
        Ok((found, page.next_cursor))
    }

    /// Loads records by id, keeping order and skipping missing ones.
    pub async fn get_many<T: Entity>(&self, ids: &[T::Id]) -> Result<Vec<T>, StoreError> {
        self.load_many(ids.iter().map(ToString::to_string).collect()).await
    }

    /// Loads records by stored key, keeping order and skipping missing ones.
    async fn load_many<T: Entity>(&self, keys: Vec<String>) -> Result<Vec<T>, StoreError> {
        let keys: Vec<(String, String)> = keys.into_iter().map(|k| (k, String::new())).collect();
        let rows = self.b.get_many(T::TABLE, &keys).await?;
        rows.into_iter().flatten().map(|row| decode(T::TABLE, &row.value)).collect()
    }

    /// Every key of a listing (for rebuilds and small partitions).
    async fn keys<T>(&self, list: &List<T>) -> Result<Vec<String>, StoreError> {
        let mut out = Vec::new();
        each_row(self.b, list.table, &list.pk, |r| {
            out.push(r.ck);
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    /// Calls `f` on every record of a listing, 500 at a time.
    pub async fn for_each<T: Entity, F, Fut>(&self, list: &List<T>, mut f: F) -> Result<u64, StoreError>
    where
        F: FnMut(T) -> Fut,
        Fut: Future<Output = Result<(), StoreError>>,
    {
        let mut n = 0;
        for chunk in self.keys(list).await?.chunks(500) {
            for item in self.load_many::<T>(chunk.to_vec()).await? {
                f(item).await?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// One page of up to `limit` records of a listing that pass `keep`. Reads only as many
    /// index rows as still fit (so the cursor never skips one) and at most `max_pages`
    /// index pages, so a short page may still have a `next_cursor`.
    pub async fn page_where<T: Entity>(
        &self,
        list: &List<T>,
        order: Order,
        limit: usize,
        cursor: Option<&str>,
        max_pages: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let mut cursor = cursor.map(str::to_string);
        let mut results = Vec::new();
        for _ in 0..max_pages.max(1) {
            let want = limit.saturating_sub(results.len()).max(1);
            let (items, next) = self.page(list, order, want, cursor.as_deref()).await?;
            results.extend(items.into_iter().filter(|r| keep(r)));
            cursor = next;
            if cursor.is_none() || results.len() >= limit {
                break;
            }
        }
        Ok((results, cursor))
    }

    // ---- small shared tables (categories, skills): one partition each

    pub async fn categories(&self) -> Result<Vec<Versioned<Category>>, StoreError> {
        self.small_table(Table::Categories).await
    }

    pub async fn skills(&self) -> Result<Vec<Versioned<Skill>>, StoreError> {
        self.small_table(Table::Skills).await
    }

    async fn small_table<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<Versioned<T>>, StoreError> {
        let mut out = Vec::new();
        each_row(self.b, table, ALL, |r| {
            out.push(Versioned { value: decode(table, &r.value)?, version: r.version });
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    pub async fn category(&self, id: CategoryId) -> Result<Option<Versioned<Category>>, StoreError> {
        get_versioned(self.b, Table::Categories, ALL, &id.to_string()).await
    }

    pub async fn skill(&self, id: SkillId) -> Result<Option<Versioned<Skill>>, StoreError> {
        get_versioned(self.b, Table::Skills, ALL, &id.to_string()).await
    }

    /// Creates or renames/moves a category, keeping names unique among siblings.
    pub async fn save_category(&self, c: &Category, previous: Option<&Versioned<Category>>) -> Result<(), StoreError> {
        let key = |c: &Category| category_name_key(c);
        let old = previous.map(|p| (key(&p.value), p.version));
        self.save_named(Table::Categories, Table::CategoriesByName, &c.id.to_string(), &key(c), old, &c.id, c).await
    }

    pub async fn delete_category(&self, c: &Category) -> Result<(), StoreError> {
        self.b.delete(Table::Categories, ALL, &c.id.to_string()).await?;
        self.b.delete(Table::CategoriesByName, &category_name_key(c), "").await
    }

    /// Creates or renames a skill, keeping names unique.
    pub async fn save_skill(&self, s: &Skill, previous: Option<&Versioned<Skill>>) -> Result<(), StoreError> {
        let old = previous.map(|p| (p.value.name.to_lowercase(), p.version));
        self.save_named(Table::Skills, Table::SkillsByName, &s.id.to_string(), &s.name.to_lowercase(), old, &s.id, s)
            .await
    }

    pub async fn delete_skill(&self, s: &Skill) -> Result<(), StoreError> {
        self.b.delete(Table::Skills, ALL, &s.id.to_string()).await?;
        self.b.delete(Table::SkillsByName, &s.name.to_lowercase(), "").await
    }

    /// Saves a row of a small shared table (pk "all") whose name must stay unique: the new
    /// name is claimed first (insert-if-absent in `names`), the row is compare-and-set at
    /// the previous version (or inserted), then the old name is released. A lost race
    /// releases the claim again.
    #[allow(clippy::too_many_arguments)]
    async fn save_named<T: Serialize, I: Serialize>(
        &self,
        table: Table,
        names: Table,
        ck: &str,
        new_name: &str,
        previous: Option<(String, i64)>,
        id: &I,
        value: &T,
    ) -> Result<(), StoreError> {
        let renamed = previous.as_ref().is_none_or(|(old, _)| old != new_name);
        if renamed && !self.b.cas(names, new_name, "", Expect::Absent, encode(names, id)?, None).await?.applied() {
            return Err(StoreError::Duplicate("name"));
        }
        let expect = previous.as_ref().map_or(Expect::Absent, |(_, v)| Expect::Version(*v));
        if !self.b.cas(table, ALL, ck, expect, encode(table, value)?, None).await?.applied() {
            if renamed {
                self.b.delete(names, new_name, "").await?;
            }
            return Err(StoreError::Conflict);
        }
        if let Some((old, _)) = previous.filter(|_| renamed) {
            self.b.delete(names, &old, "").await?;
        }
        Ok(())
    }

    // ---- providers

    /// Creates the user's one provider profile (`Duplicate` if they have one).
    pub async fn create_provider(&self, p: &Provider) -> Result<(), StoreError> {
        let claim = encode(Table::ProvidersByUser, &p.id)?;
        if !self.b.cas(Table::ProvidersByUser, &p.user_id.to_string(), "", Expect::Absent, claim, None).await?.applied()
        {
            return Err(StoreError::Duplicate("provider profile"));
        }
        if let Err(e) = self.insert(p).await {
            self.b.delete(Table::ProvidersByUser, &p.user_id.to_string(), "").await?;
            return Err(e);
        }
        Ok(())
    }

    pub async fn provider_of(&self, user: UserId) -> Result<Option<Versioned<Provider>>, StoreError> {
        let Some(row) = self.b.get(Table::ProvidersByUser, &user.to_string(), "").await? else { return Ok(None) };
        let id: ProviderId = decode(Table::ProvidersByUser, &row.value)?;
        self.get(id).await
    }

    // ---- likes

    /// Likes a service; answers whether this call changed anything.
    pub async fn like(&self, service: ServiceId, user: UserId) -> Result<bool, StoreError> {
        let applied = self
            .b
            .cas(Table::ServiceLikes, &service.to_string(), &user.to_string(), Expect::Absent, Vec::new(), None)
            .await?
            .applied();
        if applied {
            self.update::<Service, StoreError>(service, |s| {
                s.likes_count += 1;
                Ok(())
            })
            .await?;
        }
        Ok(applied)
    }

    pub async fn unlike(&self, service: ServiceId, user: UserId) -> Result<bool, StoreError> {
        let (pk, ck) = (service.to_string(), user.to_string());
        let Some(row) = self.b.get(Table::ServiceLikes, &pk, &ck).await? else { return Ok(false) };
        // Claim the removal by compare-and-set so two concurrent unlikes count once.
        let tomb = self
            .b
            .cas(
                Table::ServiceLikes,
                &pk,
                &ck,
                Expect::Version(row.version),
                vec![0],
                Some(std::time::Duration::from_secs(1)),
            )
            .await?;
        if !tomb.applied() || row.value == vec![0] {
            return Ok(false);
        }
        self.b.delete(Table::ServiceLikes, &pk, &ck).await?;
        self.update::<Service, StoreError>(service, |s| {
            s.likes_count = s.likes_count.saturating_sub(1);
            Ok(())
        })
        .await?;
        Ok(true)
    }

    pub async fn likes(&self, service: ServiceId, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .b
            .get(Table::ServiceLikes, &service.to_string(), &user.to_string())
            .await?
            .is_some_and(|r| r.value.is_empty()))
    }

    // ---- proposals

    /// Claims "one proposal per provider per job"; `false` when one exists.
    pub async fn claim_proposal(&self, job: JobId, provider: UserId, id: ProposalId) -> Result<bool, StoreError> {
        let claim = encode(Table::ProposalsUnique, &id)?;
        Ok(self
            .b
            .cas(Table::ProposalsUnique, &format!("{job}:{provider}"), "", Expect::Absent, claim, None)
            .await?
            .applied())
    }

    // ---- contracts

    pub async fn contract_event(&self, e: &ContractEvent) -> Result<(), StoreError> {
        self.b
            .put(
                Table::ContractEvents,
                &e.contract_id.to_string(),
                &format!("{:020}", e.version),
                encode(Table::ContractEvents, e)?,
                None,
            )
            .await
    }

    pub async fn contract_events(
        &self,
        contract: ContractId,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<ContractEvent>, Option<String>), StoreError> {
        let page = self.b.scan(Table::ContractEvents, &contract.to_string(), Order::Asc, limit, cursor).await?;
        let events =
            page.rows.iter().map(|r| decode(Table::ContractEvents, &r.value)).collect::<Result<Vec<_>, _>>()?;
        Ok((events, page.next_cursor))
    }

    // ---- bookings: the provider schedule

    pub async fn schedule(&self, provider: UserId) -> Result<Option<Versioned<Schedule>>, StoreError> {
        get_versioned(self.b, Table::ProviderSchedule, &provider.to_string(), "").await
    }

    /// Adds a confirmed interval unless it overlaps a confirmed one or another booking's
    /// live hold (compare-and-set on the schedule); the booking's own hold becomes the slot.
    /// Answers the overlapping booking, if any. Past slots and expired holds are pruned.
    pub async fn reserve(
        &self,
        provider: UserId,
        booking: BookingId,
        start: OffsetDateTime,
        end: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<Option<BookingId>, StoreError> {
        let (s, e) = (start.unix_timestamp(), end.unix_timestamp());
        self.change_schedule::<StoreError>(provider, |sched| {
            if let Some(clash) = sched.clash(booking, s, e, now) {
                return Ok(ScheduleChange::Clash(clash));
            }
            sched.prune(booking, now);
            sched.slots.push((s, e, booking));
            Ok(ScheduleChange::Write)
        })
        .await
    }

    /// Holds an interval for a requested booking until `until`, unless `check` refuses the
    /// schedule as it stands (its error): the caller decides what counts as a clash (the
    /// service's buffers) and what else must hold (the daily cap).
    #[allow(clippy::too_many_arguments)]
    pub async fn hold<E: From<StoreError>>(
        &self,
        provider: UserId,
        booking: BookingId,
        start: OffsetDateTime,
        end: OffsetDateTime,
        until: OffsetDateTime,
        now: OffsetDateTime,
        check: impl Fn(&Schedule) -> Result<(), E>,
    ) -> Result<(), E> {
        let (s, e) = (start.unix_timestamp(), end.unix_timestamp());
        self.change_schedule(provider, |sched| {
            check(sched)?;
            sched.prune(booking, now);
            sched.holds.push((s, e, booking, until.unix_timestamp()));
            Ok(ScheduleChange::Write)
        })
        .await
        .map(|_| ())
    }

    /// Whether `booking` holds a confirmed interval on `provider`'s schedule.
    pub async fn holds_slot(&self, provider: UserId, booking: BookingId) -> Result<bool, StoreError> {
        Ok(self.schedule(provider).await?.is_some_and(|s| s.value.slots.iter().any(|(_, _, id)| *id == booking)))
    }

    /// Frees a booking's interval and hold (idempotent).
    pub async fn release(&self, provider: UserId, booking: BookingId) -> Result<(), StoreError> {
        self.change_schedule::<StoreError>(provider, |sched| {
            let before = (sched.slots.len(), sched.holds.len());
            sched.slots.retain(|(_, _, id)| *id != booking);
            sched.holds.retain(|h| h.2 != booking);
            Ok(if (sched.slots.len(), sched.holds.len()) == before {
                ScheduleChange::Keep
            } else {
                ScheduleChange::Write
            })
        })
        .await
        .map(|_| ())
    }

    /// The one read-modify-CAS of a provider's schedule (an absent row starts empty);
    /// answers the clashing booking when `change` refuses with one.
    async fn change_schedule<E: From<StoreError>>(
        &self,
        provider: UserId,
        change: impl Fn(&mut Schedule) -> Result<ScheduleChange, E>,
    ) -> Result<Option<BookingId>, E> {
        let pk = provider.to_string();
        cas_retry(|| async {
            let current = self.schedule(provider).await?;
            let (mut sched, expect) = match current {
                Some(v) => (v.value, Expect::Version(v.version)),
                None => (Schedule::default(), Expect::Absent),
            };
            match change(&mut sched)? {
                ScheduleChange::Clash(clash) => return Ok(Some(Some(clash))),
                ScheduleChange::Keep => return Ok(Some(None)),
                ScheduleChange::Write => {}
            }
            let row = encode(Table::ProviderSchedule, &sched)?;
            Ok(self.b.cas(Table::ProviderSchedule, &pk, "", expect, row, None).await?.applied().then_some(None))
        })
        .await
    }

    // ---- reviews

    /// Claims "one review per engagement and author"; `false` when one exists.
    pub async fn claim_review(
        &self,
        engagement: &Engagement,
        author: UserId,
        id: ReviewId,
    ) -> Result<bool, StoreError> {
        let claim = encode(Table::ReviewsUnique, &id)?;
        let pk = format!("{}:{author}", engagement.key());
        Ok(self.b.cas(Table::ReviewsUnique, &pk, "", Expect::Absent, claim, None).await?.applied())
    }

    pub async fn release_review(&self, engagement: &Engagement, author: UserId) -> Result<(), StoreError> {
        self.b.delete(Table::ReviewsUnique, &format!("{}:{author}", engagement.key()), "").await
    }

    /// Removes a record and its index rows.
    pub async fn remove<T: Entity>(&self, v: &T) -> Result<(), StoreError> {
        let key = v.id().to_string();
        for (table, pk) in v.indexes() {
            self.b.delete(table, &pk, &key).await?;
        }
        self.b.delete(T::TABLE, &key, "").await
    }
}
