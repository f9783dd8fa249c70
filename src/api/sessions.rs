use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::api::athletes::issue_token;
use crate::api::views::AthleteView;
use crate::auth::Caller;
use crate::domain::athlete::{Username, MIN_PASSWORD_LEN};
use crate::domain::AthleteId;
use crate::error::{ApiError, Code};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Login {
    username: String,
    password: String,
}

/// `POST /api/v1/sessions`: sign in with username and password. Attempts
/// are limited per client address and per account name (429 +
/// Retry-After); an unknown name costs the same password check as a wrong
/// password; password checks wait for a hashing slot (503 when none frees).
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<Login>,
) -> Result<HttpResponse, ApiError> {
    let Login { username, password } = body.into_inner();
    let (name, username) =
        Username::parse_sign_in(&username).map_err(|e| ApiError::invalid("Athlete", [e]))?;
    let address = req.peer_addr().map(|a| a.ip());
    state.signin.attempt(address, &name)?;
    // Only the demo account has a password this short, and it signs in only
    // while the server runs the demo (on loopback): a database once used for
    // the demo does not expose it later on a public address.
    if !state.config.demo && password.chars().count() < MIN_PASSWORD_LEN {
        return Err(ApiError::with(
            Code::InvalidCredentials,
            "Athlete",
            "password",
            "invalid",
        ));
    }
    let found = match username {
        Some(username) => state.store.credentials(username.as_str()).await?,
        None => None,
    };
    let (athlete, hash) = match found {
        Some((athlete, hash)) => (Some(athlete), Some(hash)),
        None => (None, None),
    };
    let verified = state.signin.verify(password, hash).await?;
    let Some(athlete) = athlete.filter(|_| verified) else {
        return Err(ApiError::with(
            Code::InvalidCredentials,
            "Athlete",
            "password",
            "invalid",
        ));
    };
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
    state.access.token_revoked(&caller.token_hash);
    Ok(HttpResponse::NoContent().finish())
}
