//! The search projector: the only writer of the tantivy index. It keeps each catalog
//! document (services, jobs, providers) in step with storage: on an event it reloads the
//! object and upserts (or removes) its document; a category or skill change rebuilds the
//! index. The index is a projection: it is rebuilt from storage at start-up, which is also
//! the safety net for a failure that outlasts the retries.

use std::collections::HashMap;
use std::sync::Arc;

use actix::prelude::*;
use agora_engine::event::CatalogItem;
use agora_engine::{CategoryId, DomainEvent, Job};
use agora_storage::market::List;
use agora_storage::market::{Category, Provider, Service};
use agora_storage::search::{Doc, Kind, SearchIndex};
use agora_storage::{Store, StoreError};

use crate::bus::Published;

const NAME: &str = "search";

/// Creation time in microseconds: "newest first" must hold within a second too.
fn micros(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1000).unwrap_or(i64::MAX)
}

/// Each category with all its ancestors, as index terms.
fn lineage(categories: &HashMap<CategoryId, Category>, id: Option<CategoryId>) -> Vec<String> {
    let mut out = Vec::new();
    let mut next = id;
    while let Some(c) = next.and_then(|id| categories.get(&id)) {
        if out.contains(&c.id.to_string()) {
            break;
        }
        out.push(c.id.to_string());
        next = c.parent_id;
    }
    out
}

async fn category_map(store: &Store) -> Result<HashMap<CategoryId, Category>, StoreError> {
    Ok(store.market().categories().await?.into_iter().map(|c| (c.value.id, c.value)).collect())
}

async fn skill_names(store: &Store) -> Result<HashMap<String, String>, StoreError> {
    Ok(store.market().skills().await?.into_iter().map(|s| (s.value.id.to_string(), s.value.name)).collect())
}

fn service_doc(s: &Service, cats: &HashMap<CategoryId, Category>) -> Doc {
    Doc {
        id: s.id.to_string(),
        title: s.title.clone(),
        body: format!("{} {}", s.description, s.tags.join(" ")),
        owner: s.provider_id.to_string(),
        categories: lineage(cats, s.category_id),
        price: s.price.minor(),
        created: micros(s.created_at),
        rating: s.rating_avg,
        popularity: s.likes_count,
        ..Doc::default()
    }
}

fn job_doc(j: &Job, cats: &HashMap<CategoryId, Category>) -> Doc {
    Doc {
        id: j.id.to_string(),
        title: j.title.clone(),
        body: j.description.clone(),
        owner: j.client_id.to_string(),
        categories: lineage(cats, j.category_id),
        status: j.status.as_str().to_string(),
        price: j.budget_max.or(j.budget_min).map_or(0, |m| m.minor()),
        created: micros(j.created_at),
        ..Doc::default()
    }
}

fn provider_doc(p: &Provider, cats: &HashMap<CategoryId, Category>, skill_names: &HashMap<String, String>) -> Doc {
    let mut categories: Vec<String> = Vec::new();
    for c in &p.category_ids {
        for id in lineage(cats, Some(*c)) {
            if !categories.contains(&id) {
                categories.push(id);
            }
        }
    }
    let skills: Vec<&str> =
        p.skills.iter().filter_map(|s| skill_names.get(&s.skill_id.to_string()).map(String::as_str)).collect();
    Doc {
        id: p.id.to_string(),
        title: skills.join(" "),
        body: p.bio.clone(),
        owner: p.user_id.to_string(),
        categories,
        city: p.city.clone().unwrap_or_default(),
        country: p.country.clone().unwrap_or_default(),
        verified: p.is_verified,
        availability: p.availability.as_str().to_string(),
        price: p.hourly_rate.minor(),
        created: micros(p.created_at),
        rating: p.rating_avg,
        popularity: p.reviews_count,
        completed_jobs: p.completed_jobs,
        ..Doc::default()
    }
}

async fn blocking(
    index: &Arc<SearchIndex>,
    f: impl FnOnce(&SearchIndex) -> Result<(), StoreError> + Send + 'static,
) -> Result<(), StoreError> {
    let index = Arc::clone(index);
    tokio::task::spawn_blocking(move || f(&index)).await.map_err(|e| StoreError::Unavailable(e.to_string()))?
}

/// Rebuilds the whole index from storage: at start-up, and after category or skill changes.
pub async fn rebuild(store: &Store, index: &Arc<SearchIndex>) -> Result<(usize, usize, usize), StoreError> {
    let cats = category_map(store).await?;
    let names = skill_names(store).await?;
    let m = store.market();
    let mut services = Vec::new();
    m.for_each(&List::services(), |s| {
        if !s.deleted {
            services.push(service_doc(&s, &cats));
        }
        async { Ok(()) }
    })
    .await?;
    let mut jobs = Vec::new();
    m.for_each(&List::jobs(), |j| {
        jobs.push(job_doc(&j, &cats));
        async { Ok(()) }
    })
    .await?;
    let mut providers = Vec::new();
    m.for_each(&List::providers(), |p| {
        providers.push(provider_doc(&p, &cats, &names));
        async { Ok(()) }
    })
    .await?;
    let counts = (services.len(), jobs.len(), providers.len());
    blocking(index, move |index| {
        index.replace_all(Kind::Service, &services)?;
        index.replace_all(Kind::Job, &jobs)?;
        index.replace_all(Kind::Provider, &providers)
    })
    .await?;
    Ok(counts)
}

/// What one event asks of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Work {
    Service(agora_engine::ServiceId),
    Job(agora_engine::JobId),
    Provider(agora_engine::ProviderId),
    Rebuild,
}

/// The events that change the index.
pub fn wants(event: &DomainEvent) -> bool {
    work(event).is_some()
}

fn work(event: &DomainEvent) -> Option<Work> {
    match event {
        DomainEvent::JobChanged { job } => Some(Work::Job(job.id)),
        DomainEvent::CatalogChanged { item } => Some(match item {
            CatalogItem::Service(id) => Work::Service(*id),
            CatalogItem::Job(id) => Work::Job(*id),
            CatalogItem::Provider(id) => Work::Provider(*id),
            CatalogItem::Category(_) | CatalogItem::Skill(_) => Work::Rebuild,
        }),
        _ => None,
    }
}

async fn project(store: &Store, index: &Arc<SearchIndex>, w: Work) -> Result<(), StoreError> {
    let m = store.market();
    match w {
        Work::Rebuild => rebuild(store, index).await.map(|_| ()),
        Work::Service(id) => {
            let key = id.to_string();
            match m.get::<Service>(id).await?.map(|s| s.value).filter(|s| !s.deleted) {
                Some(s) => {
                    let doc = service_doc(&s, &category_map(store).await?);
                    blocking(index, move |i| i.upsert(Kind::Service, &[doc])).await
                }
                None => blocking(index, move |i| i.remove(Kind::Service, &key)).await,
            }
        }
        Work::Job(id) => {
            let Some(j) = m.get::<Job>(id).await? else { return Ok(()) };
            let doc = job_doc(&j.value, &category_map(store).await?);
            blocking(index, move |i| i.upsert(Kind::Job, &[doc])).await
        }
        Work::Provider(id) => {
            let Some(p) = m.get::<Provider>(id).await? else { return Ok(()) };
            let doc = provider_doc(&p.value, &category_map(store).await?, &skill_names(store).await?);
            blocking(index, move |i| i.upsert(Kind::Provider, &[doc])).await
        }
    }
}

pub struct SearchProjector {
    store: Store,
    index: Arc<SearchIndex>,
}

impl SearchProjector {
    pub fn new(store: Store, index: Arc<SearchIndex>) -> SearchProjector {
        SearchProjector { store, index }
    }
}

impl Actor for SearchProjector {
    type Context = Context<Self>;
}

/// A retry of one piece of work.
#[derive(Message)]
#[rtype(result = "()")]
struct Retry {
    work: Work,
    event: &'static str,
    attempt: u32,
}

impl SearchProjector {
    fn attempt(&self, work: Work, event: &'static str, attempt: u32) -> ResponseActFuture<Self, ()> {
        let (store, index) = (self.store.clone(), Arc::clone(&self.index));
        Box::pin(async move { project(&store, &index, work).await }.into_actor(self).map(move |r, _, ctx| {
            if let Err(e) = r {
                super::failed(NAME, event, attempt, &e);
                if attempt < super::ATTEMPTS {
                    ctx.notify_later(Retry { work, event, attempt: attempt + 1 }, super::backoff(attempt));
                }
            }
        }))
    }
}

impl Handler<Published> for SearchProjector {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Published, _: &mut Context<Self>) -> Self::Result {
        match work(&msg.event) {
            Some(w) => self.attempt(w, msg.event.name(), 1),
            None => Box::pin(actix::fut::ready(())),
        }
    }
}

impl Handler<Retry> for SearchProjector {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, msg: Retry, _: &mut Context<Self>) -> Self::Result {
        self.attempt(msg.work, msg.event, msg.attempt)
    }
}

/// Rebuild the index from storage: after a Redis outage this node may have missed other
/// nodes' catalog events.
#[derive(Message)]
#[rtype(result = "()")]
pub struct Resync;

impl Handler<Resync> for SearchProjector {
    type Result = ResponseActFuture<Self, ()>;

    fn handle(&mut self, _: Resync, _: &mut Context<Self>) -> Self::Result {
        metrics::counter!("agora_search_resyncs_total").increment(1);
        self.attempt(Work::Rebuild, "resync", 1)
    }
}
