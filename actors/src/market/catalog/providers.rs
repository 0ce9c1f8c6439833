//! Provider profile commands: one profile per user (providers and workers), written by the
//! owner; `is_verified` by admins only. The categories and skills a profile lists must
//! exist.

use agora_engine::catalog::{self as rules, ProfileEdit};
use agora_engine::event::CatalogItem;
use agora_engine::market::Availability;
use agora_engine::{CategoryId, FieldErrors, Money, ProviderId};
use agora_storage::market::{Provider, ProviderSkill};
use agora_storage::{Store, StoreError};
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{publish, refused};
use crate::market::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// The owner's fields of a profile; `None` leaves a field as it is (on create: its default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileFields {
    pub bio: Option<String>,
    pub hourly_rate: Option<Money>,
    /// `Some(None)` clears it.
    pub city: Option<Option<String>>,
    pub country: Option<Option<String>>,
    pub category_ids: Option<Vec<CategoryId>>,
    pub skills: Option<Vec<ProviderSkill>>,
    pub availability: Option<Availability>,
}

impl ProfileFields {
    /// Every field set: what a full replacement leaves out becomes empty (city, country) or
    /// its default (no categories, no skills, available).
    pub fn replacing(self) -> ProfileFields {
        ProfileFields {
            city: Some(self.city.flatten()),
            country: Some(self.country.flatten()),
            category_ids: Some(self.category_ids.unwrap_or_default()),
            skills: Some(self.skills.unwrap_or_default()),
            availability: Some(self.availability.unwrap_or_default()),
            ..self
        }
    }

    fn any(&self) -> bool {
        self.bio.is_some()
            || self.hourly_rate.is_some()
            || self.city.is_some()
            || self.country.is_some()
            || self.category_ids.is_some()
            || self.skills.is_some()
            || self.availability.is_some()
    }

    fn apply(&self, p: &mut Provider) {
        if let Some(b) = &self.bio {
            p.bio = b.clone();
        }
        if let Some(r) = self.hourly_rate {
            p.hourly_rate = r;
        }
        if let Some(c) = &self.city {
            p.city = c.clone();
        }
        if let Some(c) = &self.country {
            p.country = c.clone();
        }
        if let Some(c) = &self.category_ids {
            p.category_ids = c.clone();
        }
        if let Some(s) = &self.skills {
            p.skills = s.clone();
        }
        if let Some(a) = self.availability {
            p.availability = a;
        }
    }
}

/// The listed categories and skills exist.
async fn check_refs(store: &Store, f: &ProfileFields) -> Result<(), ActorError> {
    let m = store.market();
    let mut errors = FieldErrors::new();
    if let Some(ids) = f.category_ids.as_deref().filter(|ids| !ids.is_empty()) {
        let known = m.categories().await?;
        for id in ids.iter().filter(|id| !known.iter().any(|c| c.value.id == **id)) {
            errors.add("category_ids", format!("no category {:?}", id.to_string()));
        }
    }
    if let Some(skills) = f.skills.as_deref().filter(|s| !s.is_empty()) {
        let known = m.skills().await?;
        for s in skills.iter().filter(|s| !known.iter().any(|k| k.value.id == s.skill_id)) {
            errors.add("skills.skill_id", format!("no skill {:?}", s.skill_id.to_string()));
        }
    }
    errors.into_result().map_err(refused)
}

/// A provider or worker creates their one profile.
#[derive(actix::Message)]
#[rtype(result = "Result<Provider, ActorError>")]
pub struct CreateProvider {
    pub by: Caller,
    pub bio: String,
    pub hourly_rate: Money,
    /// The other fields (bio and rate above win).
    pub fields: ProfileFields,
    /// Set when the request asked for it: always refused on create.
    pub is_verified: Option<bool>,
    pub at: OffsetDateTime,
}

impl Command for CreateProvider {
    type Output = Provider;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("provider_of", self.by.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Provider, ActorError>> {
        Box::pin(async move {
            rules::may_create_profile(self.by.role, self.is_verified.is_some()).map_err(refused)?;
            check_refs(&cx.store, &self.fields).await?;
            let f = self.fields;
            let p = Provider {
                id: new_id(ProviderId::from_uuid),
                user_id: self.by.id,
                bio: self.bio,
                hourly_rate: self.hourly_rate,
                city: f.city.flatten(),
                country: f.country.flatten(),
                category_ids: f.category_ids.unwrap_or_default(),
                skills: f.skills.unwrap_or_default(),
                availability: f.availability.unwrap_or_default(),
                is_verified: false,
                rating_avg: 0.0,
                reviews_count: 0,
                completed_jobs: 0,
                created_at: self.at,
                updated_at: self.at,
            };
            cx.store.market().create_provider(&p).await.map_err(|e| match e {
                StoreError::Duplicate(_) => refused(rules::profile_exists()),
                other => other.into(),
            })?;
            publish(&cx, CatalogItem::Provider(p.id), self.at).await;
            Ok(p)
        })
    }
}

/// The owner edits the profile; an admin sets only `is_verified`.
#[derive(actix::Message)]
#[rtype(result = "Result<Provider, ActorError>")]
pub struct UpdateProvider {
    pub by: Caller,
    pub id: ProviderId,
    pub fields: ProfileFields,
    pub is_verified: Option<bool>,
    pub at: OffsetDateTime,
}

impl Command for UpdateProvider {
    type Output = Provider;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("provider", self.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Provider, ActorError>> {
        Box::pin(async move {
            let edit = ProfileEdit { owner_fields: self.fields.any(), verified: self.is_verified.is_some() };
            let m = cx.store.market();
            let current = m.get::<Provider>(self.id).await?.ok_or(ActorError::NotFound)?.value;
            rules::may_edit_profile(current.user_id == self.by.id, self.by.role, edit).map_err(refused)?;
            check_refs(&cx.store, &self.fields).await?;
            let updated = m
                // The owner never changes, so the check above still holds for every attempt.
                .update::<Provider, ActorError>(self.id, |p| {
                    self.fields.apply(p);
                    if let Some(v) = self.is_verified {
                        p.is_verified = v;
                    }
                    p.updated_at = self.at;
                    Ok(())
                })
                .await?
                .ok_or(ActorError::NotFound)?
                .value;
            publish(&cx, CatalogItem::Provider(updated.id), self.at).await;
            Ok(updated)
        })
    }
}
