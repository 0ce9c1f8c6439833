//! Glue the marketplace routes share: keeping the search index in step with catalog
//! changes (and rebuilding it from storage at start-up), parsing money and ids from
//! request bodies, and sending domain events to the notification broker.

use std::collections::HashMap;
use std::sync::Arc;

use actix_web::web;
use agora_actors::broker::{NewNotification, Notify};
use agora_engine::{CategoryId, FieldErrors, Money, NotificationType, UserId};
use agora_storage::market::{Category, Job, Provider, Service};
use agora_storage::search::{Doc, Kind, SearchIndex};
use agora_storage::{Store, StoreError, Table};
use serde::Deserialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Money as it arrives in a body: `{"amount": 12500, "currency": "USD"}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MoneyBody {
    pub amount: Option<i64>,
    pub currency: Option<String>,
}

impl MoneyBody {
    pub fn parse(&self) -> Result<Money, agora_engine::DomainError> {
        let amount = self.amount.ok_or_else(|| agora_engine::DomainError::invalid("amount is required"))?;
        Money::parse(amount, self.currency.as_deref().unwrap_or("USD"))
    }
}

/// Parses an optional money field into `f`.
pub fn money(f: &mut FieldErrors, field: &str, raw: Option<&MoneyBody>) -> Option<Money> {
    raw.and_then(|m| f.check(field, m.parse()))
}

/// Parses a required money field into `f`.
pub fn required_money(f: &mut FieldErrors, field: &str, raw: Option<&MoneyBody>) -> Option<Money> {
    match raw {
        None => {
            f.add(field, "is required");
            None
        }
        Some(m) => f.check(field, m.parse().and_then(agora_engine::market::positive)),
    }
}

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

async fn skill_names(store: &Store) -> Result<HashMap<String, String>, StoreError> {
    Ok(store.market().skills().await?.into_iter().map(|s| (s.value.id.to_string(), s.value.name)).collect())
}

async fn blocking(
    index: Arc<SearchIndex>,
    f: impl FnOnce(&SearchIndex) -> Result<(), StoreError> + Send + 'static,
) -> Result<(), ApiError> {
    web::block(move || f(&index)).await.map_err(ApiError::internal)?.map_err(ApiError::from)
}

/// Index changes, called after the write is durable.
pub async fn index_service(state: &AppState, s: &Service) -> Result<(), ApiError> {
    let doc = service_doc(s, &category_map(&state.store).await?);
    let (kind, deleted, id) = (Kind::Service, s.deleted, s.id.to_string());
    blocking(Arc::clone(&state.search), move |i| if deleted { i.remove(kind, &id) } else { i.upsert(kind, &[doc]) })
        .await
}

pub async fn index_job(state: &AppState, j: &Job) -> Result<(), ApiError> {
    let doc = job_doc(j, &category_map(&state.store).await?);
    blocking(Arc::clone(&state.search), move |i| i.upsert(Kind::Job, &[doc])).await
}

pub async fn index_provider(state: &AppState, p: &Provider) -> Result<(), ApiError> {
    let doc = provider_doc(p, &category_map(&state.store).await?, &skill_names(&state.store).await?);
    blocking(Arc::clone(&state.search), move |i| i.upsert(Kind::Provider, &[doc])).await
}

/// Rebuilds the whole index from storage: at start-up, and after category changes.
pub async fn rebuild_index(store: &Store, index: &Arc<SearchIndex>) -> Result<(usize, usize, usize), StoreError> {
    let cats = category_map(store).await?;
    let names = skill_names(store).await?;
    let m = store.market();
    let mut services = Vec::new();
    m.for_each::<Service, _, _>(Table::ServicesByCreation, "all", |s| {
        if !s.deleted {
            services.push(service_doc(&s, &cats));
        }
        async { Ok(()) }
    })
    .await?;
    let mut jobs = Vec::new();
    m.for_each::<Job, _, _>(Table::JobsByCreation, "all", |j| {
        jobs.push(job_doc(&j, &cats));
        async { Ok(()) }
    })
    .await?;
    let mut providers = Vec::new();
    m.for_each::<Provider, _, _>(Table::ProvidersByCreation, "all", |p| {
        providers.push(provider_doc(&p, &cats, &names));
        async { Ok(()) }
    })
    .await?;
    let counts = (services.len(), jobs.len(), providers.len());
    let index = Arc::clone(index);
    tokio::task::spawn_blocking(move || {
        index.replace_all(Kind::Service, &services)?;
        index.replace_all(Kind::Job, &jobs)?;
        index.replace_all(Kind::Provider, &providers)
    })
    .await
    .map_err(|e| StoreError::Unavailable(e.to_string()))??;
    Ok(counts)
}

/// A domain event for one recipient (fire and forget: the broker logs its own failures).
pub struct Event<'a> {
    pub to: UserId,
    pub kind: NotificationType,
    pub title: String,
    pub message: String,
    pub action_url: String,
    pub actor: Option<UserId>,
    pub object_type: &'a str,
    pub object_id: String,
}

pub fn notify(state: &AppState, e: Event<'_>) {
    state.hub.broker.do_send(Notify(NewNotification {
        user: e.to,
        kind: e.kind,
        title: e.title,
        message: e.message,
        action_url: Some(e.action_url),
        actor_id: e.actor,
        object_type: Some(e.object_type.to_string()),
        object_id: Some(e.object_id),
        expires_at: None,
    }));
}

/// Optional text: trimmed, empty means absent, bounded.
pub fn optional_text(f: &mut FieldErrors, field: &str, raw: Option<&str>, max: usize) -> Option<String> {
    match raw.map(str::trim) {
        None | Some("") => None,
        Some(t) => f.check(field, agora_engine::market::text(t, 1, max)),
    }
}

/// Required text, bounded.
pub fn required_text(f: &mut FieldErrors, field: &str, raw: Option<&str>, min: usize, max: usize) -> Option<String> {
    match raw {
        None => {
            f.add(field, "is required");
            None
        }
        Some(t) => f.check(field, agora_engine::market::text(t, min, max)),
    }
}

/// A search cursor (opaque offset) from `?cursor=`.
pub fn search_offset(cursor: Option<&str>) -> Result<usize, ApiError> {
    match cursor.filter(|c| !c.is_empty()) {
        None => Ok(0),
        Some(c) => agora_storage::search::decode_offset(c).map_err(ApiError::from),
    }
}
