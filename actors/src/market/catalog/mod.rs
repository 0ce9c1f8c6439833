//! Catalog commands: the category tree and skills (admins), companies (any user creates
//! one and owns it), provider profiles ([`providers`]), services and likes ([`services`]).
//! Rules come from `agora_engine::catalog`; the commands load what the rules look at,
//! write, then publish `CatalogChanged` so the search projector follows. A category or
//! skill change publishes its item, which rebuilds the index (documents carry category
//! lineage and skill names). Companies are not indexed and publish nothing.
//!
//! Category writes serialize on one aggregate, the tree ([`TREE`]): the cycle check reads
//! the whole tree, so two moves must not decide on the same snapshot. Sibling-unique
//! names are claimed in storage (insert-if-absent), which holds across processes too.

pub mod companies;
pub mod providers;
pub mod services;

use agora_engine::catalog::{self as rules};
use agora_engine::event::CatalogItem;
use agora_engine::{CategoryId, DomainEvent, SkillId};
use agora_storage::market::{Category, Skill};
use agora_storage::StoreError;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// The aggregate every category write serializes on.
pub const TREE: (&str, &str) = ("categories", "tree");

fn tree() -> Aggregate {
    Aggregate::Catalog(TREE.0, TREE.1.to_string())
}

/// A domain refusal as the actor error.
pub(crate) fn refused(e: agora_engine::DomainError) -> ActorError {
    ActorError::Refused(e)
}

/// A name claim that lost: the name is taken.
fn named(e: StoreError) -> ActorError {
    match e {
        StoreError::Duplicate(_) => refused(rules::name_taken()),
        other => other.into(),
    }
}

async fn publish(cx: &Cx, item: CatalogItem, at: OffsetDateTime) {
    cx.bus.publish([DomainEvent::CatalogChanged { item }], at).await;
}

/// `(category, parent)` of every category.
async fn category_tree(cx: &Cx) -> Result<Vec<(CategoryId, Option<CategoryId>)>, ActorError> {
    Ok(cx.store.market().categories().await?.into_iter().map(|c| (c.value.id, c.value.parent_id)).collect())
}

/// Admin: creates a category (top-level without a parent).
#[derive(actix::Message)]
#[rtype(result = "Result<Category, ActorError>")]
pub struct CreateCategory {
    pub by: Caller,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    pub at: OffsetDateTime,
}

impl Command for CreateCategory {
    type Output = Category;
    fn aggregate(&self) -> Aggregate {
        tree()
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Category, ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            if let Some(p) = self.parent_id {
                rules::parent(&category_tree(&cx).await?, None, p).map_err(refused)?;
            }
            let c = Category {
                id: new_id(CategoryId::from_uuid),
                name: self.name,
                parent_id: self.parent_id,
                created_at: self.at,
            };
            cx.store.market().save_category(&c, None).await.map_err(named)?;
            publish(&cx, CatalogItem::Category(c.id), self.at).await;
            Ok(c)
        })
    }
}

/// Admin: renames a category and/or moves it (`parent_id: Some(None)` makes it top-level).
#[derive(actix::Message)]
#[rtype(result = "Result<Category, ActorError>")]
pub struct UpdateCategory {
    pub by: Caller,
    pub id: CategoryId,
    pub name: Option<String>,
    pub parent_id: Option<Option<CategoryId>>,
    pub at: OffsetDateTime,
}

impl Command for UpdateCategory {
    type Output = Category;
    fn aggregate(&self) -> Aggregate {
        tree()
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Category, ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            let current = cx.store.market().category(self.id).await?.ok_or(ActorError::NotFound)?;
            let mut next = current.value.clone();
            if let Some(name) = self.name {
                next.name = name;
            }
            if let Some(parent) = self.parent_id {
                if let Some(p) = parent {
                    rules::parent(&category_tree(&cx).await?, Some(self.id), p).map_err(refused)?;
                }
                next.parent_id = parent;
            }
            cx.store.market().save_category(&next, Some(&current)).await.map_err(named)?;
            publish(&cx, CatalogItem::Category(next.id), self.at).await;
            Ok(next)
        })
    }
}

/// Admin: deletes a category that has no subcategories.
#[derive(actix::Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct DeleteCategory {
    pub by: Caller,
    pub id: CategoryId,
    pub at: OffsetDateTime,
}

impl Command for DeleteCategory {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        tree()
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            let c = cx.store.market().category(self.id).await?.ok_or(ActorError::NotFound)?.value;
            rules::may_delete_category(&category_tree(&cx).await?, self.id).map_err(refused)?;
            cx.store.market().delete_category(&c).await?;
            publish(&cx, CatalogItem::Category(self.id), self.at).await;
            Ok(())
        })
    }
}

/// Admin: creates a skill (names unique, case-insensitively).
#[derive(actix::Message)]
#[rtype(result = "Result<Skill, ActorError>")]
pub struct CreateSkill {
    pub by: Caller,
    pub name: String,
    pub at: OffsetDateTime,
}

impl Command for CreateSkill {
    type Output = Skill;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Skill, ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            let s = Skill { id: new_id(SkillId::from_uuid), name: self.name, created_at: self.at };
            cx.store.market().save_skill(&s, None).await.map_err(named)?;
            publish(&cx, CatalogItem::Skill(s.id), self.at).await;
            Ok(s)
        })
    }
}

/// Admin: renames a skill.
#[derive(actix::Message)]
#[rtype(result = "Result<Skill, ActorError>")]
pub struct RenameSkill {
    pub by: Caller,
    pub id: SkillId,
    pub name: String,
    pub at: OffsetDateTime,
}

impl Command for RenameSkill {
    type Output = Skill;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("skill", self.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Skill, ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            let current = cx.store.market().skill(self.id).await?.ok_or(ActorError::NotFound)?;
            let next = Skill { name: self.name, ..current.value.clone() };
            cx.store.market().save_skill(&next, Some(&current)).await.map_err(named)?;
            publish(&cx, CatalogItem::Skill(next.id), self.at).await;
            Ok(next)
        })
    }
}

/// Admin: deletes a skill.
#[derive(actix::Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct DeleteSkill {
    pub by: Caller,
    pub id: SkillId,
    pub at: OffsetDateTime,
}

impl Command for DeleteSkill {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("skill", self.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move {
            rules::admin_only(self.by.role).map_err(refused)?;
            let s = cx.store.market().skill(self.id).await?.ok_or(ActorError::NotFound)?.value;
            cx.store.market().delete_skill(&s).await?;
            publish(&cx, CatalogItem::Skill(self.id), self.at).await;
            Ok(())
        })
    }
}
