//! The wire format of the catalog: categories, skills, companies, provider profiles and
//! services (the JSON the API has always answered for them).

use agora_engine::market::{Availability, SkillLevel};
use agora_engine::{CategoryId, CompanyId, Money, ProviderId, ServiceId, SkillId, UserId};
use agora_storage::market::{Category, Company, Provider, ProviderSkill, Service, Skill};
use serde::Serialize;
use time::OffsetDateTime;

#[derive(Debug, Serialize)]
pub struct CategoryView {
    pub id: CategoryId,
    pub name: String,
    pub parent_id: Option<CategoryId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Category> for CategoryView {
    fn from(c: Category) -> Self {
        CategoryView { id: c.id, name: c.name, parent_id: c.parent_id, created_at: c.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct SkillView {
    pub id: SkillId,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Skill> for SkillView {
    fn from(s: Skill) -> Self {
        SkillView { id: s.id, name: s.name, created_at: s.created_at }
    }
}

#[derive(Debug, Serialize)]
pub struct CompanyView {
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

impl From<Company> for CompanyView {
    fn from(c: Company) -> Self {
        CompanyView {
            id: c.id,
            owner_id: c.owner_id,
            name: c.name,
            description: c.description,
            website: c.website,
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProviderSkillView {
    pub skill_id: SkillId,
    pub level: SkillLevel,
}

impl From<ProviderSkill> for ProviderSkillView {
    fn from(s: ProviderSkill) -> Self {
        ProviderSkillView { skill_id: s.skill_id, level: s.level }
    }
}

#[derive(Debug, Serialize)]
pub struct ProviderView {
    pub id: ProviderId,
    pub user_id: UserId,
    pub bio: String,
    pub hourly_rate: Money,
    pub city: Option<String>,
    pub country: Option<String>,
    pub category_ids: Vec<CategoryId>,
    pub skills: Vec<ProviderSkillView>,
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

impl From<Provider> for ProviderView {
    fn from(p: Provider) -> Self {
        ProviderView {
            id: p.id,
            user_id: p.user_id,
            bio: p.bio,
            hourly_rate: p.hourly_rate,
            city: p.city,
            country: p.country,
            category_ids: p.category_ids,
            skills: crate::routes::jobs::views(p.skills),
            availability: p.availability,
            is_verified: p.is_verified,
            rating_avg: p.rating_avg,
            reviews_count: p.reviews_count,
            completed_jobs: p.completed_jobs,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A live service; `liked` (whether the caller likes it) where the route answers it.
#[derive(Debug, Serialize)]
pub struct ServiceView {
    pub id: ServiceId,
    pub provider_id: ProviderId,
    pub owner_id: UserId,
    pub title: String,
    pub description: String,
    pub category_id: Option<CategoryId>,
    pub price: Money,
    pub duration_minutes: Option<u32>,
    /// Slot booking rules (buffers, notice, window, interval, daily cap), when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub booking_rules: Option<agora_engine::availability::BookingRules>,
    pub tags: Vec<String>,
    pub rating_avg: f64,
    pub reviews_count: u64,
    pub likes_count: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liked: Option<bool>,
    /// The public gallery, in order (`PUT /api/services/{id}/gallery`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gallery: Vec<GalleryImageView>,
}

/// One gallery image: `thumbnail_url` (320 px) and `preview_url` (1280 px) answer anyone
/// with a redirect to a short-lived signed link.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct GalleryImageView {
    pub id: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub thumbnail_url: String,
    pub preview_url: String,
}

impl ServiceView {
    /// With `liked`.
    pub fn liked(s: Service, liked: bool) -> Self {
        ServiceView { liked: Some(liked), ..ServiceView::from(s) }
    }
}

impl From<Service> for ServiceView {
    fn from(s: Service) -> Self {
        ServiceView {
            id: s.id,
            provider_id: s.provider_id,
            owner_id: s.owner_id,
            title: s.title,
            description: s.description,
            category_id: s.category_id,
            price: s.price,
            duration_minutes: s.duration_minutes,
            booking_rules: s.booking_rules,
            tags: s.tags,
            rating_avg: s.rating_avg,
            reviews_count: s.reviews_count,
            likes_count: s.likes_count,
            created_at: s.created_at,
            updated_at: s.updated_at,
            liked: None,
            gallery: s
                .gallery
                .iter()
                .map(|g| GalleryImageView {
                    id: g.id.to_string(),
                    width: g.width,
                    height: g.height,
                    thumbnail_url: format!("/api/attachments/{}/thumbnail", g.id),
                    preview_url: format!("/api/attachments/{}/thumbnail?size=large", g.id),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn at() -> OffsetDateTime {
        time::macros::datetime!(2026-12-01 12:00:30.5 UTC)
    }

    fn uuid(n: u128) -> uuid::Uuid {
        uuid::Uuid::from_u128(n)
    }

    fn json<T: Serialize>(v: &T) -> Value {
        serde_json::to_value(v).expect("json")
    }

    fn category() -> Category {
        Category {
            id: CategoryId::from_uuid(uuid(1)),
            name: "Plumbing".into(),
            parent_id: Some(CategoryId::from_uuid(uuid(2))),
            created_at: at(),
        }
    }

    fn provider() -> Provider {
        Provider {
            id: ProviderId::from_uuid(uuid(3)),
            user_id: UserId::from_uuid(uuid(4)),
            bio: "Fixes things".into(),
            hourly_rate: Money::parse(5000, "EUR").expect("eur"),
            city: Some("Porto".into()),
            country: None,
            category_ids: vec![CategoryId::from_uuid(uuid(1))],
            skills: vec![ProviderSkill { skill_id: SkillId::from_uuid(uuid(5)), level: SkillLevel::Expert }],
            availability: Availability::Busy,
            is_verified: true,
            rating_avg: 4.5,
            reviews_count: 2,
            completed_jobs: 7,
            created_at: at(),
            updated_at: at() + time::Duration::hours(1),
        }
    }

    fn service() -> Service {
        Service {
            id: ServiceId::from_uuid(uuid(6)),
            provider_id: ProviderId::from_uuid(uuid(3)),
            owner_id: UserId::from_uuid(uuid(4)),
            title: "Tap fitting".into(),
            description: "Any tap".into(),
            category_id: None,
            price: Money::parse(8000, "USD").expect("usd"),
            duration_minutes: Some(60),
            booking_rules: None,
            tags: vec!["taps".into()],
            rating_avg: 0.0,
            reviews_count: 0,
            likes_count: 3,
            created_at: at(),
            updated_at: at(),
            deleted: false,
            gallery: Vec::new(),
        }
    }

    #[test]
    fn category_view_is_the_stored_json() {
        assert_eq!(json(&CategoryView::from(category())), json(&category()));
        let top = Category { parent_id: None, ..category() };
        assert_eq!(json(&CategoryView::from(top.clone())), json(&top));
    }

    #[test]
    fn skill_view_is_the_stored_json() {
        let s = Skill { id: SkillId::from_uuid(uuid(5)), name: "Welding".into(), created_at: at() };
        assert_eq!(json(&SkillView::from(s.clone())), json(&s));
    }

    #[test]
    fn company_view_is_the_stored_json() {
        let c = Company {
            id: CompanyId::from_uuid(uuid(7)),
            owner_id: UserId::from_uuid(uuid(4)),
            name: "Acme".into(),
            description: None,
            website: Some("https://acme.test".into()),
            created_at: at(),
            updated_at: at(),
        };
        assert_eq!(json(&CompanyView::from(c.clone())), json(&c));
    }

    #[test]
    fn provider_view_is_the_stored_json() {
        let p = provider();
        let view = json(&ProviderView::from(p.clone()));
        assert_eq!(view, json(&p));
        assert_eq!(view["skills"], json!([{"skill_id": uuid(5).to_string(), "level": "expert"}]));
    }

    #[test]
    fn service_view_is_the_stored_json_plus_liked() {
        let s = service();
        assert_eq!(json(&ServiceView::from(s.clone())), json(&s), "lists answer the stored record");
        let mut expected = json(&s);
        expected.as_object_mut().expect("object").insert("liked".into(), json!(true));
        assert_eq!(json(&ServiceView::liked(s.clone(), true)), expected);
        // A withdrawn service's internal flag never reaches the wire.
        let gone = Service { deleted: true, ..s };
        assert!(json(&ServiceView::from(gone)).get("deleted").is_none());
    }
}
