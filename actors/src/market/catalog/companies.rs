//! Company commands: any user creates a company and owns it; only the owner edits or
//! deletes it.

use agora_engine::catalog as rules;
use agora_engine::CompanyId;
use agora_storage::market::Company;
use futures_util::future::BoxFuture;
use time::OffsetDateTime;

use super::refused;
use crate::market::{new_id, Aggregate, Caller, Command, Cx};
use crate::ActorError;

/// Creates a company owned by the caller.
#[derive(actix::Message)]
#[rtype(result = "Result<Company, ActorError>")]
pub struct CreateCompany {
    pub by: Caller,
    pub name: String,
    pub description: Option<String>,
    pub website: Option<String>,
    pub at: OffsetDateTime,
}

impl Command for CreateCompany {
    type Output = Company;
    fn aggregate(&self) -> Aggregate {
        Aggregate::New
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Company, ActorError>> {
        Box::pin(async move {
            let c = Company {
                id: new_id(CompanyId::from_uuid),
                owner_id: self.by.id,
                name: self.name,
                description: self.description,
                website: self.website,
                created_at: self.at,
                updated_at: self.at,
            };
            cx.store.market().insert(&c).await?;
            Ok(c)
        })
    }
}

/// The owner edits a company (`None` leaves a field; `Some(None)` clears an optional one).
#[derive(actix::Message)]
#[rtype(result = "Result<Company, ActorError>")]
pub struct UpdateCompany {
    pub by: Caller,
    pub id: CompanyId,
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub website: Option<Option<String>>,
    pub at: OffsetDateTime,
}

impl Command for UpdateCompany {
    type Output = Company;
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("company", self.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<Company, ActorError>> {
        Box::pin(async move {
            let updated = cx
                .store
                .market()
                .update::<Company, ActorError>(self.id, |c| {
                    rules::owner_only(c.owner_id, self.by.id, "only the owner may edit this company")
                        .map_err(refused)?;
                    if let Some(n) = &self.name {
                        c.name = n.clone();
                    }
                    if let Some(d) = &self.description {
                        c.description = d.clone();
                    }
                    if let Some(w) = &self.website {
                        c.website = w.clone();
                    }
                    c.updated_at = self.at;
                    Ok(())
                })
                .await?
                .ok_or(ActorError::NotFound)?;
            Ok(updated.value)
        })
    }
}

/// The owner deletes a company.
#[derive(actix::Message)]
#[rtype(result = "Result<(), ActorError>")]
pub struct DeleteCompany {
    pub by: Caller,
    pub id: CompanyId,
    pub at: OffsetDateTime,
}

impl Command for DeleteCompany {
    type Output = ();
    fn aggregate(&self) -> Aggregate {
        Aggregate::Catalog("company", self.id.to_string())
    }
    fn run(self, cx: Cx) -> BoxFuture<'static, Result<(), ActorError>> {
        Box::pin(async move {
            let m = cx.store.market();
            let c = m.get::<Company>(self.id).await?.ok_or(ActorError::NotFound)?.value;
            rules::owner_only(c.owner_id, self.by.id, "only the owner may delete this company").map_err(refused)?;
            m.remove(&c).await?;
            tracing::info!(company = %c.id, at = %self.at, "company deleted");
            Ok(())
        })
    }
}
