//! Analytics in the actor layer: recording facts ([`RecordFacts`], the one write path for
//! client batches and server-side actions), the facts each domain event stands for
//! ([`facts_of`]), and the rollup pass ([`roll_up`]) that a periodic job runs.

use std::time::Duration;

use actix::prelude::*;
use agora_engine::analytics::{normalize_query, Fact, Kind, Scope};
use agora_engine::{ledger, BookingStatus, DomainEvent, MilestoneStatus, Money};
use agora_storage::{Store, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use crate::market::{Aggregate, Command, Cx};
use crate::ActorError;

/// Analytics tunables (from the server settings).
#[derive(Debug, Clone, Copy)]
pub struct AnalyticsSettings {
    /// How long recorded facts are kept; rollups are kept for good.
    pub retention: Duration,
    /// How often the rollup runs, and how old a fact must be before it is rolled up (a node
    /// whose clock is behind may still be writing younger ones).
    pub rollup_every: Duration,
    pub settle: Duration,
}

impl Default for AnalyticsSettings {
    fn default() -> Self {
        AnalyticsSettings {
            retention: Duration::from_secs(90 * 86_400),
            rollup_every: Duration::from_secs(1),
            settle: Duration::from_secs(2),
        }
    }
}

/// Records one batch of facts under `key` (a replay under the same key never counts
/// twice). Durable when it answers.
#[derive(Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct RecordFacts {
    pub key: String,
    pub facts: Vec<Fact>,
    pub at: OffsetDateTime,
}

impl RecordFacts {
    /// A batch nobody will replay: a fresh key.
    pub fn once(facts: Vec<Fact>, at: OffsetDateTime) -> RecordFacts {
        RecordFacts { key: format!("s:{}", uuid::Uuid::now_v7().simple()), facts, at }
    }
}

impl Command for RecordFacts {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move { record(&cx.store, &self.key, &self.facts, self.at, cx.analytics.retention).await })
    }
}

/// The one write of facts (commands and the event subscriber use it).
pub async fn record(
    store: &Store,
    key: &str,
    facts: &[Fact],
    at: OffsetDateTime,
    retention: Duration,
) -> Result<(), ActorError> {
    store.analytics().record(key, facts, at, retention).await?;
    for f in facts {
        metrics::counter!("agora_analytics_facts_total", "kind" => f.kind.as_str()).increment(u64::from(f.count));
    }
    Ok(())
}

/// The facts a domain event stands for, each batch under a key that a republished event
/// repeats (so it counts once). Catalog changes need a read, so the subscriber maps them.
pub fn facts_of(event: &DomainEvent, fee_bps: u32) -> Vec<(String, Fact)> {
    use DomainEvent as E;
    match event {
        E::ProposalSubmitted { proposal: p, .. } => {
            let mut f = Fact::new(Kind::ProposalSubmitted, p.created_at).by(Some(p.provider_id));
            (f.provider, f.client) = (Some(p.provider_id), Some(p.job_client_id));
            vec![(format!("d:proposal_submitted:{}", p.id), f)]
        }
        E::ProposalAccepted { proposal: p, by, .. } => {
            let mut f = Fact::new(Kind::ProposalAccepted, p.updated_at).by(Some(*by));
            (f.provider, f.client) = (Some(p.provider_id), Some(p.job_client_id));
            vec![(format!("d:proposal_accepted:{}", p.id), f)]
        }
        E::ContractCreated { contract: c, by } => {
            let mut f = Fact::new(Kind::ContractCreated, c.created_at).by(Some(*by));
            (f.provider, f.client) = (Some(c.provider_id), Some(c.client_id));
            vec![(format!("d:contract_created:{}", c.id), f)]
        }
        E::ContractStatusChanged { contract: c, change, by } => {
            let mut f = Fact::new(Kind::ContractStatus, change.at).by(Some(*by));
            (f.provider, f.client) = (Some(c.provider_id), Some(c.client_id));
            (f.from, f.to) = (change.from.map(|s| s.as_str().to_owned()), Some(change.to.as_str().to_owned()));
            vec![(format!("d:contract_status:{}:{}", c.id, change.version), f)]
        }
        E::BookingRequested { booking: b, .. } => {
            let mut f = Fact::new(Kind::BookingMade, b.created_at).by(Some(b.client_id));
            (f.provider, f.client, f.service) = (Some(b.provider_id), Some(b.client_id), Some(b.service_id));
            vec![(format!("d:booking_made:{}", b.id), f)]
        }
        E::BookingStatusChanged { booking: b, by, .. } => {
            let mut out = Vec::new();
            let mut f = Fact::new(Kind::BookingStatus, b.updated_at).by(Some(*by));
            (f.provider, f.client, f.service) = (Some(b.provider_id), Some(b.client_id), Some(b.service_id));
            f.to = Some(b.status.as_str().to_owned());
            out.push((format!("d:booking_status:{}:{}", b.id, b.status.as_str()), f));
            if b.paid && b.status == BookingStatus::Confirmed {
                out.push((
                    format!("d:booking_paid:{}", b.id),
                    captured(b.price, b.client_id, b.provider_id, b.updated_at),
                ));
            }
            if b.paid && b.status == BookingStatus::Completed {
                let fact = released(b.price, ledger::fee(b.price.minor(), fee_bps), b.provider_id, b.updated_at);
                out.push((format!("d:booking_released:{}", b.id), fact));
            }
            out
        }
        E::ReviewPosted { review: r } => {
            let mut f = Fact::new(Kind::ReviewPosted, r.created_at).by(Some(r.author_id));
            (f.provider, f.service, f.rating) = (Some(r.reviewee_id), r.service_id, Some(r.rating));
            vec![(format!("d:review_posted:{}", r.id), f)]
        }
        E::MilestoneChanged { contract: c, milestone: m, .. } => match m.status {
            MilestoneStatus::Funded => {
                vec![(
                    format!("d:milestone_funded:{}", m.id),
                    captured(m.amount, c.client_id, c.provider_id, m.updated_at),
                )]
            }
            MilestoneStatus::Released | MilestoneStatus::Split if m.released > 0 => {
                let Ok(gross) = Money::of(m.released, m.amount.currency()) else { return Vec::new() };
                let fact = released(gross, ledger::fee(m.released, fee_bps), c.provider_id, m.updated_at);
                vec![(format!("d:milestone_released:{}", m.id), fact)]
            }
            _ => Vec::new(),
        },
        E::JobChanged { job } => {
            let mut f = Fact::new(Kind::JobPosted, job.created_at).by(Some(job.client_id));
            f.client = Some(job.client_id);
            vec![(format!("d:job_posted:{}", job.id), f)]
        }
        E::ServiceLiked { service_id, owner_id, by, liked, at } => {
            let kind = if *liked { Kind::ServiceLiked } else { Kind::ServiceUnliked };
            let mut f = Fact::new(kind, *at).by(Some(*by));
            (f.service, f.provider, f.client) = (Some(*service_id), Some(*owner_id), Some(*by));
            let micros = at.unix_timestamp_nanos() / 1000;
            vec![(format!("d:like:{service_id}:{by}:{micros}"), f)]
        }
        E::SearchPerformed { q, kind, user_id, results, filters, at: when } => {
            let mut f = Fact::new(Kind::Search, *when).by(*user_id);
            (f.query, f.search, f.results) = (Some(normalize_query(q)), Some(kind.clone()), Some(*results));
            f.filters = (!filters.is_empty()).then(|| filters.clone());
            vec![(format!("s:{}", uuid::Uuid::now_v7().simple()), f)]
        }
        E::ProposalWithdrawn { .. }
        | E::JobWithdrawn { .. }
        | E::ReviewEdited { .. }
        | E::ReviewDeleted { .. }
        | E::ReviewReplied { .. }
        | E::CatalogChanged { .. }
        | E::PartRefunded { .. }
        | E::PayoutChanged { .. }
        | E::PaymentFailed { .. } => Vec::new(),
    }
}

fn captured(amount: Money, client: agora_engine::UserId, provider: agora_engine::UserId, at: OffsetDateTime) -> Fact {
    let mut f = Fact::new(Kind::PaymentCaptured, at).by(Some(client));
    (f.amount, f.client, f.provider) = (Some(amount), Some(client), Some(provider));
    f
}

fn released(gross: Money, fee: i64, provider: agora_engine::UserId, at: OffsetDateTime) -> Fact {
    let mut f = Fact::new(Kind::PaymentReleased, at);
    (f.amount, f.fee, f.provider) = (Some(gross), fee, Some(provider));
    f
}

/// One pass of the rollup job: applies what has settled, then refreshes the gauges.
pub async fn roll_up(store: &Store, settle: Duration, now: OffsetDateTime) -> Result<usize, StoreError> {
    let settled = now - time::Duration::try_from(settle).unwrap_or(time::Duration::seconds(2));
    let done = store.analytics().roll_up(settled, 50).await?;
    let lag = match done.last {
        Some(last) if done.batches > 0 => (now - last).as_seconds_f64().max(0.0),
        _ => 0.0,
    };
    metrics::gauge!("agora_analytics_rollup_lag_seconds").set(lag);
    if done.replayed > 0 {
        metrics::counter!("agora_analytics_replayed_total").increment(done.replayed as u64);
    }
    if done.batches > 0 {
        metrics::counter!("agora_analytics_rolled_up_total").increment(done.facts as u64);
        let all = store.analytics().counters(&Scope::Platform.key(), &[agora_engine::analytics::Period::All]).await?;
        if let Some(all) = all.first() {
            // Every status, so one that fell to zero (its counter gone) reads 0.
            for status in agora_engine::ContractStatus::ALL {
                let n = all.get(&format!("contracts:{}", status.as_str())).copied().unwrap_or(0);
                metrics::gauge!("agora_contracts", "status" => status.as_str()).set(n as f64);
            }
        }
    }
    Ok(done.facts)
}

/// Messages sent per sender since the last flush: the conversation actors add to it (a
/// counter bump, nothing written), and a periodic job writes it as `message_sent` facts.
#[derive(Debug, Clone, Default)]
pub struct MessageTally(std::sync::Arc<std::sync::Mutex<std::collections::BTreeMap<agora_engine::UserId, u32>>>);

impl MessageTally {
    pub fn add(&self, sender: agora_engine::UserId) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t.entry(sender).or_default() += 1;
    }

    /// Writes what was counted; on failure it is counted again for the next flush.
    pub async fn flush(&self, store: &Store, now: OffsetDateTime, retention: Duration) -> Result<usize, ActorError> {
        let taken = std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()));
        if taken.is_empty() {
            return Ok(0);
        }
        let facts: Vec<Fact> = taken
            .iter()
            .map(|(user, n)| Fact { count: *n, ..Fact::new(Kind::MessageSent, now).by(Some(*user)) })
            .collect();
        for (i, chunk) in facts.chunks(agora_engine::analytics::MAX_BATCH).enumerate() {
            let key = format!("s:{}", uuid::Uuid::now_v7().simple());
            if let Err(e) = record(store, &key, chunk, now, retention).await {
                // This chunk and the ones after it are counted again for the next flush.
                let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
                for f in &facts[i * agora_engine::analytics::MAX_BATCH..] {
                    if let Some(u) = f.user {
                        *t.entry(u).or_default() += f.count;
                    }
                }
                return Err(e);
            }
        }
        Ok(taken.len())
    }
}
