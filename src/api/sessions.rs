use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::api::athletes::issue_token;
use crate::api::views::AthleteView;
use crate::auth::{self, Caller};
use crate::domain::athlete::MIN_PASSWORD_LEN;
use crate::domain::AthleteId;
use crate::error::{ApiError, Code};
use crate::startup::AppState;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/sessions`: sign in with username and password.
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password } = body.into_inner();
    let wrong = || ApiError::with(Code::Unauthorized, "Athlete", "password", "invalid");
    // Only the demo account has a password this short, and it signs in only
    // while the server runs the demo (on loopback): a database once used for
    // the demo does not expose it later on a public address.
    if !state.config.demo && password.chars().count() < MIN_PASSWORD_LEN {
        return Err(wrong());
    }
    let found = state
        .store
        .credentials(&username.trim().to_ascii_lowercase())
        .await?;
    let Some((athlete, hash)) = found else {
        return Err(wrong());
    };
    if !auth::off_arbiter(move || auth::verify_password(&password, &hash)).await? {
        return Err(wrong());
    }
    let access_token = issue_token(&state, AthleteId(athlete.id)).await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "access_token": access_token,
        "athlete": AthleteView::detailed(athlete),
    })))
}

/// `DELETE /api/v1/sessions`: revokes the token this request carries.
pub async fn delete(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    state.store.revoke_token(&caller.token_hash).await?;
    state.tokens.forget(&caller.token_hash);
    Ok(HttpResponse::NoContent().finish())
}
