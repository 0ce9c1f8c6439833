//! `/api/jobs/` and `/api/jobs` are the same route: one trailing slash is trimmed from API
//! paths before routing, and from the notification and analytics pages' JSON aliases under
//! /notifications/ and /analytics/. (Not elsewhere: the docs pages rely on their own slashes.)

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Uri;
use actix_web::middleware::Next;
use actix_web::Error;

pub async fn trim_trailing_slash(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let path = req.path();
    let trimmed_here = path.starts_with("/api/")
        || path.starts_with("/notifications/")
        || path.starts_with("/analytics/")
        || path == "/metrics/";
    if path.len() > 1 && path.ends_with('/') && trimmed_here {
        let trimmed = path.trim_end_matches('/');
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_string(),
        };
        if let Ok(uri) = new.parse::<Uri>() {
            let head = req.head_mut();
            head.uri = uri.clone();
            req.match_info_mut().get_mut().update(&uri);
        }
    }
    next.call(req).await
}
