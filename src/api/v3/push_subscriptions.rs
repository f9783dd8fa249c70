//! Strava's push subscriptions: `POST`, `GET`, `DELETE
//! /api/v3/push_subscriptions`, authenticated by the app's client id and
//! secret (no athlete token), one subscription per app.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

use super::params;
use crate::api::oauth::authenticate_app;
use crate::api::views::rfc3339;
use crate::domain::{now_ms, DomainError};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::store::webhooks::SubscriptionRow;
use crate::webhooks::{check_callback, verify_callback, CallbackError};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/push_subscriptions", web::post().to(create))
        .route("/push_subscriptions", web::get().to(list))
        .route("/push_subscriptions/{id}", web::delete().to(delete));
}

fn view(s: &SubscriptionRow) -> serde_json::Value {
    json!({
        "id": s.id,
        "resource_state": 2,
        "application_id": s.app_id,
        "callback_url": s.callback_url,
        "created_at": rfc3339(s.created_ms),
        "updated_at": rfc3339(s.created_ms),
    })
}

/// `POST /push_subscriptions` `client_id, client_secret, callback_url,
/// verify_token`: checks the callback (Strava's `hub.challenge` GET) and
/// answers `{"id"}` (201).
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &body)?;
    let app = authenticate_app(&state, &p).await?;
    let (Some(callback), Some(verify_token)) = (p.get("callback_url"), p.get("verify_token"))
    else {
        let missing = if p.contains_key("callback_url") {
            "verify_token"
        } else {
            "callback_url"
        };
        return Err(ApiError::invalid(
            "PushSubscription",
            [DomainError::missing(missing)],
        ));
    };
    if !state.store.subscriptions_of_app(app.id).await?.is_empty() {
        return Err(ApiError::already_exists(
            "PushSubscription",
            "application_id",
        ));
    }
    let url = check_callback(callback, state.config.webhook_allow_private)
        .await
        .map_err(|e| {
            let code = match e {
                CallbackError::BadUrl => "invalid",
                CallbackError::Private => "private_address",
                CallbackError::Unresolved => "unresolved",
            };
            ApiError::with(Code::Invalid, "PushSubscription", "callback_url", code)
        })?;
    if !verify_callback(&state.strava.webhook_client, &url, verify_token).await {
        return Err(ApiError::with(
            Code::CallbackUnverified,
            "PushSubscription",
            "callback url",
            "GET to callback URL does not return 200",
        ));
    }
    let Some(row) = state
        .store
        .create_subscription(app.id, url.as_str(), now_ms())
        .await?
    else {
        return Err(ApiError::already_exists(
            "PushSubscription",
            "application_id",
        ));
    };
    Ok(HttpResponse::Created().json(json!({"id": row.id})))
}

/// `GET /push_subscriptions?client_id&client_secret`: the app's (0 or 1).
async fn list(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &[])?;
    let app = authenticate_app(&state, &p).await?;
    let subs = state.store.subscriptions_of_app(app.id).await?;
    Ok(HttpResponse::Ok().json(subs.iter().map(view).collect::<Vec<_>>()))
}

/// `DELETE /push_subscriptions/{id}?client_id&client_secret`: 204; its
/// undelivered events go with it.
async fn delete(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &body)?;
    let app = authenticate_app(&state, &p).await?;
    if !state
        .store
        .delete_subscription(app.id, id.into_inner())
        .await?
    {
        return Err(ApiError::with(
            Code::SubscriptionNotFound,
            "PushSubscription",
            "id",
            "not_found",
        ));
    }
    Ok(HttpResponse::NoContent().finish())
}
