//! Availability commands: a provider profile's owner sets or clears its working hours, and
//! a user issues, rotates or revokes the private token of their calendar feed. Serialized
//! on the provider profile (hours) or the user (feed).

use agora_engine::{ProviderId, WorkingHours};
use agora_storage::market::Provider;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::{Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// The owner sets (`Some`) or clears (`None`: an open calendar again) the working hours
/// of a provider profile. Answers the hours now in force.
#[derive(actix::Message)]
#[rtype(result = "Result<Option<WorkingHours>, ActorError>")]
pub struct SetWorkingHours {
    pub by: Caller,
    pub provider_id: ProviderId,
    pub hours: Option<WorkingHours>,
    pub at: OffsetDateTime,
}

impl Command for SetWorkingHours {
    type Output = Option<WorkingHours>;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("provider", self.provider_id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Option<WorkingHours>, ActorError>> {
        Box::pin(async move {
            let p = cx.store.market().get::<Provider>(self.provider_id).await?.ok_or(ActorError::NotFound)?.value;
            if p.user_id != self.by.id {
                return Err(ActorError::Forbidden("only the owner may set this provider's working hours"));
            }
            let a = cx.store.availability();
            match &self.hours {
                Some(h) => a.set_hours(p.user_id, h).await?,
                None => a.clear_hours(p.user_id).await?,
            }
            tracing::info!(provider = %p.id, set = self.hours.is_some(), "working hours changed");
            Ok(self.hours)
        })
    }
}

/// A user's calendar feed: `Some(hash)` makes the token with that SHA-256 hash the only one
/// (the previous token stops working); `None` revokes it. Answers whether one existed (for
/// a revoke) or `true` (for a new token).
#[derive(actix::Message)]
#[rtype(result = "Result<bool, ActorError>")]
pub struct SetCalendarFeed {
    pub by: Caller,
    pub token_hash: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for SetCalendarFeed {
    type Output = bool;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("calendar_feed", self.by.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<bool, ActorError>> {
        Box::pin(async move {
            let a = cx.store.availability();
            match &self.token_hash {
                Some(hash) => {
                    a.replace_feed(self.by.id, hash).await?;
                    tracing::info!(user = %self.by.id, "calendar feed token issued");
                    Ok(true)
                }
                None => {
                    let existed = a.revoke_feed(self.by.id).await?;
                    tracing::info!(user = %self.by.id, existed, "calendar feed token revoked");
                    Ok(existed)
                }
            }
        })
    }
}
