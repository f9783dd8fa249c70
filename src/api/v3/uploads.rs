//! v3 uploads: Strava's `POST /uploads` and `GET /uploads/{id}`, on the
//! same upload path as v1 (files are processed before the answer, so the
//! first answer already says "Your activity is ready.").

use actix_web::{web, HttpRequest, HttpResponse};

use super::V3Caller;
use crate::api::uploads::{receive, UploadView};
use crate::error::ApiError;
use crate::oauth::Scopes;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/uploads", web::post().to(create))
        .route("/uploads/{id}", web::get().to(show));
}

/// `POST /uploads` (`activity:write`): multipart `file`, and `data_type`,
/// `name`, `external_id`, `activity_type`/`sport_type` in the form or the
/// query string; `description`, `trainer`, `commute` are ignored.
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_WRITE)?;
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.query_string().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    receive(&req, &state, caller.athlete, payload, &query).await
}

/// `GET /uploads/{id}` (`activity:write`, as Strava): the athlete's own.
async fn show(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_WRITE)?;
    let row = state
        .store
        .upload(id.into_inner())
        .await?
        .filter(|r| r.athlete_id == caller.athlete.0)
        .ok_or_else(ApiError::upload_not_found)?;
    Ok(HttpResponse::Ok().json(UploadView::new(row)))
}
