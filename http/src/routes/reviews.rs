//! Reviews: a party to a completed contract or booking rates the other party (1..5, with
//! an optional comment), once per engagement; the author edits or deletes it; the reviewee
//! replies once. Reviews are public to read. Every path also answers under `/api/ratings`.
//!
//! The rules live in `agora_engine::review` and the commands in
//! `agora_actors::market::reviews`; the exact aggregates (`rating_avg`, `reviews_count`)
//! are kept by the rating subscriber.
//!
//! Deleting a review releases its "once per engagement" claim: the author may review that
//! engagement again (a fresh review, with a new id), which is what an author who deleted a
//! review by mistake expects; the aggregates stay exact either way.

use actix_web::{web, HttpResponse};
use agora_actors::market::reviews::{DeleteReview, EditReview, PostReview, ReplyToReview};
use agora_actors::protocol::rfc3339;
use agora_engine::market;
use agora_engine::{BookingId, ContractId, Engagement, FieldErrors, Review, ReviewId, ServiceId, UserId};
use agora_storage::market::List;
use agora_storage::Order;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;

use super::{optional, ErrorEnvelope, PageQuery, Paged};
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::market::{caller, optional_text, required_text, run};
use crate::state::AppState;

/// Index pages one filtered list request reads at most.
const LIST_SCAN_PAGES: usize = 10;
const COMMENT_MAX: usize = 2000;

/// A review as anyone sees it. Exactly one of `contract_id` and `booking_id` is set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReviewView {
    pub id: String,
    pub contract_id: Option<String>,
    pub booking_id: Option<String>,
    pub author_id: String,
    pub reviewee_id: String,
    /// The booked service, for a client's review of a booking.
    pub service_id: Option<String>,
    /// 1..5.
    pub rating: u8,
    pub comment: Option<String>,
    /// The reviewee's one reply.
    pub reply: Option<String>,
    pub replied_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Review> for ReviewView {
    fn from(r: &Review) -> Self {
        let (contract_id, booking_id) = match r.engagement {
            Engagement::Contract(id) => (Some(id.to_string()), None),
            Engagement::Booking(id) => (None, Some(id.to_string())),
        };
        ReviewView {
            id: r.id.to_string(),
            contract_id,
            booking_id,
            author_id: r.author_id.to_string(),
            reviewee_id: r.reviewee_id.to_string(),
            service_id: r.service_id.map(|s| s.to_string()),
            rating: r.rating,
            comment: r.comment.clone(),
            reply: r.reply.clone(),
            replied_at: r.replied_at.map(rfc3339),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

fn review_id(raw: &str) -> Result<ReviewId, ApiError> {
    ReviewId::parse(raw).map_err(|_| ApiError::NotFound)
}

/// A rating must be a JSON integer from 1 to 5 (not a string, not 4.5).
fn parse_rating(f: &mut FieldErrors, raw: &Value) -> Option<u8> {
    match raw.as_i64() {
        Some(n) => f.check("rating", market::rating(n)),
        None => {
            f.add("rating", "must be an integer from 1 to 5");
            None
        }
    }
}

// ---- handlers

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewBody {
    /// Exactly one of `contract_id` and `booking_id`.
    pub contract_id: Option<String>,
    pub booking_id: Option<String>,
    /// An integer from 1 to 5.
    #[schema(value_type = i64)]
    pub rating: Option<Value>,
    /// Up to 2000 characters.
    pub comment: Option<String>,
}

/// Reviews the other party of a completed contract or booking (once per engagement).
#[utoipa::path(post, path = "/api/reviews", tag = "reviews", request_body = ReviewBody,
    responses((status = 201, body = ReviewView), (status = 400, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope, description = "no such contract or booking, or not a party to it"),
        (status = 409, body = ErrorEnvelope, description = "`not_completed` or `already_reviewed`")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id))]
pub async fn create(
    state: web::Data<AppState>,
    user: AuthUser,
    body: web::Json<ReviewBody>,
) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let engagement = match (body.contract_id.as_deref(), body.booking_id.as_deref()) {
        (Some(c), None) => f.check("contract_id", ContractId::parse(c)).map(Engagement::Contract),
        (None, Some(b)) => f.check("booking_id", BookingId::parse(b)).map(Engagement::Booking),
        _ => {
            f.add("contract_id", "give exactly one of contract_id and booking_id");
            None
        }
    };
    let rating = match &body.rating {
        None => {
            f.add("rating", "is required");
            None
        }
        Some(raw) => parse_rating(&mut f, raw),
    };
    let comment = optional_text(&mut f, "comment", body.comment.as_deref(), COMMENT_MAX);
    f.into_result()?;
    let (Some(engagement), Some(rating)) = (engagement, rating) else {
        return Err(ApiError::invalid_field("rating", "is required"));
    };
    let cmd = PostReview { by: caller(&user), engagement, rating, comment, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Created().json(ReviewView::from(&run(&state, cmd).await?)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Reviews of this user.
    pub reviewee_id: Option<String>,
    /// Reviews of this service.
    pub service_id: Option<String>,
    /// Reviews written by this user.
    pub author_id: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// One page of a listing, newest first, keeping only reviews that pass `keep`.
/// Reads only as many index rows as still fit (so the cursor never skips one) and at most
/// a bounded number of index pages; a short page may still have a `next_cursor`.
async fn page(
    state: &AppState,
    reviews: List<Review>,
    page: &PageQuery,
    keep: impl Fn(&Review) -> bool,
) -> Result<Paged<ReviewView>, ApiError> {
    let (items, next_cursor) = state
        .store
        .market()
        .page_where(&reviews, Order::Desc, page.limit()?, page.cursor()?, LIST_SCAN_PAGES, keep)
        .await?;
    Ok(Paged { results: items.iter().map(ReviewView::from).collect(), next_cursor })
}

/// Reviews of a user (as reviewee), newest first: for `GET /api/providers/{id}/reviews`.
pub async fn list_for_reviewee(
    state: &AppState,
    reviewee: UserId,
    q: &PageQuery,
) -> Result<Paged<ReviewView>, ApiError> {
    page(state, List::reviews_of_user(reviewee), q, |_| true).await
}

/// Reviews of a service, newest first: for `GET /api/services/{id}/reviews`.
pub async fn list_for_service(
    state: &AppState,
    service: ServiceId,
    q: &PageQuery,
) -> Result<Paged<ReviewView>, ApiError> {
    page(state, List::reviews_of_service(service), q, |_| true).await
}

/// Reviews, newest first, by reviewee, service and/or author (at least one filter).
#[utoipa::path(get, path = "/api/reviews", tag = "reviews", params(ListQuery),
    responses((status = 200, description = "{results: [ReviewView], next_cursor}"), (status = 400, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all)]
pub async fn list(state: web::Data<AppState>, q: web::Query<ListQuery>) -> Result<HttpResponse, ApiError> {
    let mut f = FieldErrors::new();
    let reviewee = optional(&mut f, "reviewee_id", q.reviewee_id.as_deref(), UserId::parse);
    let service = optional(&mut f, "service_id", q.service_id.as_deref(), ServiceId::parse);
    let author = optional(&mut f, "author_id", q.author_id.as_deref(), UserId::parse);
    f.into_result()?;
    let keep = |r: &Review| {
        reviewee.is_none_or(|u| r.reviewee_id == u)
            && service.is_none_or(|s| r.service_id == Some(s))
            && author.is_none_or(|a| r.author_id == a)
    };
    let pq = PageQuery { limit: q.limit, cursor: q.cursor.clone() };
    let paged = match (service, reviewee, author) {
        (Some(s), _, _) => page(&state, List::reviews_of_service(s), &pq, keep).await?,
        (None, Some(u), _) => page(&state, List::reviews_of_user(u), &pq, keep).await?,
        (None, None, Some(a)) => page(&state, List::reviews_by_author(a), &pq, keep).await?,
        (None, None, None) => {
            return Err(ApiError::invalid_field("reviewee_id", "give reviewee_id, service_id or author_id"));
        }
    };
    Ok(HttpResponse::Ok().json(paged))
}

async fn load(state: &AppState, id: ReviewId) -> Result<Review, ApiError> {
    Ok(state.store.market().get::<Review>(id).await?.ok_or(ApiError::NotFound)?.value)
}

/// One review (public).
#[utoipa::path(get, path = "/api/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 200, body = ReviewView), (status = 404, body = ErrorEnvelope)))]
#[tracing::instrument(skip_all, fields(review = %path.as_str()))]
pub async fn get(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let r = load(&state, review_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(ReviewView::from(&r)))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReviewUpdateBody {
    /// An integer from 1 to 5.
    #[schema(value_type = Option<i64>)]
    pub rating: Option<Value>,
    /// Up to 2000 characters; an empty string removes the comment.
    pub comment: Option<String>,
}

/// Edits a review (author only); the aggregates are recomputed.
#[utoipa::path(patch, path = "/api/reviews/{id}", tag = "reviews", params(("id" = String, Path)), request_body = ReviewUpdateBody,
    responses((status = 200, body = ReviewView), (status = 400, body = ErrorEnvelope),
        (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, review = %path.as_str()))]
pub async fn update(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ReviewUpdateBody>,
) -> Result<HttpResponse, ApiError> {
    let id = review_id(&path)?;
    let mut f = FieldErrors::new();
    let rating = body.rating.as_ref().and_then(|raw| parse_rating(&mut f, raw));
    let comment = body.comment.as_deref().map(|c| optional_text(&mut f, "comment", Some(c), COMMENT_MAX));
    f.into_result()?;
    let cmd = EditReview { by: caller(&user), review_id: id, rating, comment, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ReviewView::from(&run(&state, cmd).await?)))
}

/// Deletes a review (author only); the author may then review that engagement again.
#[utoipa::path(delete, path = "/api/reviews/{id}", tag = "reviews", params(("id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorEnvelope), (status = 404, body = ErrorEnvelope)),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, review = %path.as_str()))]
pub async fn delete(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let cmd = DeleteReview { by: caller(&user), review_id: review_id(&path)?, at: OffsetDateTime::now_utc() };
    run(&state, cmd).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ReplyBody {
    /// Up to 2000 characters.
    pub reply: Option<String>,
}

/// The reviewee answers a review, once.
#[utoipa::path(post, path = "/api/reviews/{id}/reply", tag = "reviews", params(("id" = String, Path)), request_body = ReplyBody,
    responses((status = 200, body = ReviewView), (status = 400, body = ErrorEnvelope), (status = 403, body = ErrorEnvelope),
        (status = 404, body = ErrorEnvelope), (status = 409, body = ErrorEnvelope, description = "`already_replied`")),
    security(("bearer" = [])))]
#[tracing::instrument(skip_all, fields(user = %user.id, review = %path.as_str()))]
pub async fn reply(
    state: web::Data<AppState>,
    user: AuthUser,
    path: web::Path<String>,
    body: web::Json<ReplyBody>,
) -> Result<HttpResponse, ApiError> {
    let id = review_id(&path)?;
    let mut f = FieldErrors::new();
    let text = required_text(&mut f, "reply", body.reply.as_deref(), 1, COMMENT_MAX);
    f.into_result()?;
    let Some(text) = text else { return Err(ApiError::invalid_field("reply", "is required")) };
    let cmd = ReplyToReview { by: caller(&user), review_id: id, text, at: OffsetDateTime::now_utc() };
    Ok(HttpResponse::Ok().json(ReviewView::from(&run(&state, cmd).await?)))
}

pub fn config(cfg: &mut web::ServiceConfig) {
    for base in super::names("/api/reviews") {
        cfg.service(web::resource(base).route(web::get().to(list)).route(web::post().to(create)))
            .service(
                web::resource(format!("{base}/{{id}}"))
                    .route(web::get().to(get))
                    .route(web::patch().to(update))
                    .route(web::delete().to(delete)),
            )
            .service(web::resource(format!("{base}/{{id}}/reply")).route(web::post().to(reply)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openapi_paths_and_schemas() {
        use utoipa::OpenApi;
        #[derive(OpenApi)]
        #[openapi(paths(create, list, get, update, delete, reply))]
        struct Doc;
        let doc = serde_json::to_value(Doc::openapi()).expect("json");
        for path in ["/api/reviews", "/api/reviews/{id}", "/api/reviews/{id}/reply"] {
            assert!(doc["paths"][path].is_object(), "{path} documented");
        }
        for schema in ["ReviewBody", "ReviewUpdateBody", "ReplyBody", "ReviewView"] {
            assert!(doc["components"]["schemas"][schema].is_object(), "{schema} collected: {doc}");
        }
    }

    #[test]
    fn ratings_are_json_integers() {
        let mut f = FieldErrors::new();
        assert_eq!(parse_rating(&mut f, &serde_json::json!(5)), Some(5));
        assert!(f.is_empty());
        for bad in [serde_json::json!(0), serde_json::json!(6), serde_json::json!("4"), serde_json::json!(4.5)] {
            let mut f = FieldErrors::new();
            assert_eq!(parse_rating(&mut f, &bad), None, "{bad}");
            assert!(f.fields().contains_key("rating"));
        }
    }
}
