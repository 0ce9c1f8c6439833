//! Service commands: a provider profile's owner offers services, edits and withdraws them
//! (a withdrawn service is kept for its bookings and reviews, hidden everywhere); any user
//! likes or unlikes a live service, idempotently. Serialized on the service.

use agora_engine::availability::BookingRules;
use agora_engine::catalog as rules;
use agora_engine::event::CatalogItem;
use agora_engine::{CategoryId, Money, ServiceId};
use agora_storage::market::Service;
use agora_storage::Store;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{publish, refused};
use crate::market::jobs::check_refs;
use crate::market::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// The fields of a service; in an edit, `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceFields {
    pub title: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<CategoryId>,
    pub price: Option<Money>,
    pub duration_minutes: Option<u32>,
    pub tags: Option<Vec<String>>,
    /// Slot booking rules (validated with the duration by the caller).
    pub booking_rules: Option<BookingRules>,
}

/// A live (not withdrawn) service.
async fn live(store: &Store, id: ServiceId) -> Result<Service, ActorError> {
    let s = store.market().get::<Service>(id).await?.map(|v| v.value);
    crate::market::visible(s, |s| !s.deleted)
}

/// The owner of a provider profile offers a service.
#[derive(actix::Message)]
#[rtype(result = "Result<Service, ActorError>")]
pub struct CreateService {
    pub by: Caller,
    pub title: String,
    pub description: String,
    pub price: Money,
    /// Category, duration and tags (title, description and price above win).
    pub fields: ServiceFields,
    pub at: OffsetDateTime,
}

impl Command for CreateService {
    type Output = Service;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Service, ActorError>> {
        Box::pin(async move {
            let m = cx.store.market();
            let provider = m
                .provider_of(self.by.id)
                .await?
                .ok_or(ActorError::Forbidden("create your provider profile first (POST /api/providers)"))?
                .value;
            check_refs(&cx.store, self.fields.category_id, &[]).await?;
            let s = Service {
                id: new_id(ServiceId::from_uuid),
                provider_id: provider.id,
                owner_id: self.by.id,
                title: self.title,
                description: self.description,
                category_id: self.fields.category_id,
                price: self.price,
                duration_minutes: self.fields.duration_minutes,
                booking_rules: self.fields.booking_rules,
                tags: self.fields.tags.unwrap_or_default(),
                rating_avg: 0.0,
                reviews_count: 0,
                likes_count: 0,
                created_at: self.at,
                updated_at: self.at,
                deleted: false,
                gallery: Vec::new(),
            };
            m.insert(&s).await?;
            publish(&cx, CatalogItem::Service(s.id), self.at).await;
            Ok(s)
        })
    }
}

/// Changes a live service as its owner; `f` refuses or edits (`Ok(None)`: absent or withdrawn).
async fn change_own(
    cx: &Cx,
    by: Caller,
    id: ServiceId,
    why: &'static str,
    at: OffsetDateTime,
    f: impl Fn(&mut Service),
) -> Result<Service, ActorError> {
    let updated = cx
        .store
        .market()
        .update::<Service, ActorError>(id, |s| {
            if s.deleted {
                return Err(ActorError::NotFound);
            }
            rules::owner_only(s.owner_id, by.id, why).map_err(refused)?;
            f(s);
            s.updated_at = at;
            Ok(())
        })
        .await?
        .ok_or(ActorError::NotFound)?
        .value;
    publish(cx, CatalogItem::Service(updated.id), at).await;
    Ok(updated)
}

/// The owner edits a live service: the fields given change; with `replace`, every field is
/// set as given (a full replacement: absent category, duration, tags and rules are cleared).
#[derive(actix::Message)]
#[rtype(result = "Result<Service, ActorError>")]
pub struct UpdateService {
    pub by: Caller,
    pub id: ServiceId,
    pub fields: ServiceFields,
    pub replace: bool,
    pub at: OffsetDateTime,
}

impl Command for UpdateService {
    type Output = Service;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Service(self.id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Service, ActorError>> {
        Box::pin(async move {
            let s = live(&cx.store, self.id).await?;
            rules::owner_only(s.owner_id, self.by.id, "only the owner may edit this service").map_err(refused)?;
            check_refs(&cx.store, self.fields.category_id, &[]).await?;
            let f = self.fields;
            let replace = self.replace;
            change_own(&cx, self.by, self.id, "only the owner may edit this service", self.at, |s| {
                if replace {
                    s.category_id = f.category_id;
                    s.duration_minutes = f.duration_minutes;
                    s.tags = f.tags.clone().unwrap_or_default();
                    s.booking_rules = f.booking_rules;
                }
                if let Some(t) = &f.title {
                    s.title = t.clone();
                }
                if let Some(d) = &f.description {
                    s.description = d.clone();
                }
                if let Some(p) = f.price {
                    s.price = p;
                }
                if let Some(c) = f.category_id {
                    s.category_id = Some(c);
                }
                if let Some(d) = f.duration_minutes {
                    s.duration_minutes = Some(d);
                }
                if let Some(t) = &f.tags {
                    s.tags = t.clone();
                }
                if let Some(r) = f.booking_rules {
                    s.booking_rules = Some(r);
                }
            })
            .await
        })
    }
}

/// The owner withdraws a service.
#[derive(actix::Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct DeleteService {
    pub by: Caller,
    pub id: ServiceId,
    pub at: OffsetDateTime,
}

impl Command for DeleteService {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        Aggregate::Service(self.id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move {
            let deleted = change_own(&cx, self.by, self.id, "only the owner may delete this service", self.at, |s| {
                s.deleted = true
            })
            .await?;
            // Its gallery stops being public at once: the images are let go (unattached,
            // removed by the sweeper after the grace period).
            let target = agora_storage::attachments::AttachedTo::Gallery { service_id: self.id };
            for image in &deleted.gallery {
                cx.store.attachments().detach(image.id, target, self.at).await?;
            }
            Ok(())
        })
    }
}

/// Whether the caller likes a service now, and its like count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LikeState {
    pub liked: bool,
    pub likes_count: u64,
}

/// Likes (`liked: true`) or unlikes a live service; repeating it changes nothing. The index
/// is refreshed only when something changed.
#[derive(actix::Message)]
#[rtype(result = "Result<LikeState, ActorError>")]
pub struct SetLike {
    pub by: Caller,
    pub service_id: ServiceId,
    pub liked: bool,
    pub at: OffsetDateTime,
}

impl Command for SetLike {
    type Output = LikeState;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Service(self.service_id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<LikeState, ActorError>> {
        Box::pin(async move {
            live(&cx.store, self.service_id).await?;
            let m = cx.store.market();
            let (id, user) = (self.service_id, self.by.id);
            let changed = if self.liked { m.like(id, user).await? } else { m.unlike(id, user).await? };
            let s = live(&cx.store, id).await?;
            if changed {
                publish(&cx, CatalogItem::Service(id), self.at).await;
                let liked = agora_engine::DomainEvent::ServiceLiked {
                    service_id: id,
                    owner_id: s.owner_id,
                    by: user,
                    liked: self.liked,
                    at: self.at,
                };
                cx.bus.publish([liked], self.at).await;
            }
            Ok(LikeState { liked: self.liked, likes_count: s.likes_count })
        })
    }
}

/// The owner sets the service's gallery: up to 10 of the owner's image attachments, in
/// order. New images are claimed by the service (anyone may then see them); images left
/// out are let go (unattached again, removed by the sweeper after the grace period).
#[derive(actix::Message)]
#[rtype(result = "Result<Service, ActorError>")]
pub struct SetGallery {
    pub by: Caller,
    pub id: ServiceId,
    pub attachment_ids: Vec<agora_engine::AttachmentId>,
    pub at: OffsetDateTime,
}

impl Command for SetGallery {
    type Output = Service;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Service(self.id)
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Service, ActorError>> {
        Box::pin(async move {
            use agora_storage::attachments::AttachedTo;
            use agora_storage::market::GalleryImage;
            let current = live(&cx.store, self.id).await?;
            rules::owner_only(current.owner_id, self.by.id, "only the owner may change this gallery")
                .map_err(refused)?;
            let target = AttachedTo::Gallery { service_id: self.id };
            let kept: Vec<_> = current.gallery.iter().map(|g| g.id).collect();
            let new: Vec<_> = self.attachment_ids.iter().copied().filter(|id| !kept.contains(id)).collect();
            agora_engine::attachment::check_count(&self.attachment_ids).map_err(|e| {
                let mut f = agora_engine::FieldErrors::new();
                f.check::<()>("attachment_ids", Err(e));
                ActorError::Invalid(f)
            })?;
            let fresh =
                crate::attachments::claimable(&cx.store, self.by.id, &new, agora_engine::AttachmentUse::Gallery)
                    .await?;
            let gallery: Vec<GalleryImage> = self
                .attachment_ids
                .iter()
                .filter_map(|id| {
                    current.gallery.iter().find(|g| g.id == *id).cloned().or_else(|| {
                        fresh.iter().find(|a| a.id == *id).map(|a| GalleryImage {
                            id: a.id,
                            width: a.width,
                            height: a.height,
                        })
                    })
                })
                .collect();
            let set = gallery.clone();
            let updated =
                change_own(&cx, self.by, self.id, "only the owner may change this gallery", self.at, move |s| {
                    s.gallery = set.clone()
                })
                .await?;
            let att = cx.store.attachments();
            for a in &fresh {
                att.attach(a.id, self.by.id, target).await?;
            }
            for old in kept.iter().filter(|id| !self.attachment_ids.contains(id)) {
                att.detach(*old, target, self.at).await?;
            }
            Ok(updated)
        })
    }
}
