use actix_web::{web, HttpResponse};

use crate::error::ApiError;
use crate::state::AppState;

/// The process is up.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// The database is reachable.
pub async fn readyz(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.store.ping().await?;
    Ok(HttpResponse::Ok()
        .json(serde_json::json!({"status": "ready", "backend": state.store.backend()})))
}

/// Settings the web page needs at run time (the tile URL).
pub async fn page_config(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"tile_url": state.config.tile_url}))
}
