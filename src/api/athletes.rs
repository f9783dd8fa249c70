use actix_web::{web, HttpResponse};
use chrono::Datelike;

use crate::api::views::AthleteView;
use crate::auth::{self, Caller};
use crate::domain::athlete::{NewAthlete, RawNewAthlete};
use crate::domain::{now_ms, AthleteId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{NewAthleteRow, StoreError};

/// `POST /api/v1/athletes`: sign up; answers with a first access token.
pub async fn create(
    state: web::Data<AppState>,
    body: web::Json<RawNewAthlete>,
) -> Result<HttpResponse, ApiError> {
    let (athlete, password) = NewAthlete::parse(body.into_inner(), chrono::Utc::now().year())
        .map_err(|errors| ApiError::invalid("Athlete", errors))?;
    if state
        .store
        .credentials(athlete.username.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::already_exists("Athlete", "username"));
    }
    let password_hash = state.signin.hash(password).await?;
    let row = NewAthleteRow {
        username: athlete.username.as_str().to_string(),
        password_hash,
        firstname: athlete.firstname,
        lastname: athlete.lastname,
        sex: athlete.sex.map(|s| format!("{s:?}")),
        birth_year: athlete.birth_year.map(i64::from),
        weight_kg: athlete.weight_kg,
        country: athlete.country,
        state: athlete.state,
        city: athlete.city,
        now_ms: now_ms(),
    };
    let created = match state.store.create_athlete(&row).await {
        // Two sign-ups raced for the name.
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::already_exists("Athlete", "username"))
        }
        other => other?,
    };
    let access_token = issue_token(&state, AthleteId(created.id)).await?;
    Ok(HttpResponse::Created().json(serde_json::json!({
        "athlete": AthleteView::detailed(created),
        "access_token": access_token,
    })))
}

/// A new token for the athlete; their expired ones are deleted on the way
/// (so the table holds no more than each athlete's live tokens and these).
pub async fn issue_token(state: &AppState, athlete: AthleteId) -> Result<String, ApiError> {
    let token = auth::new_token();
    let now = now_ms();
    state
        .store
        .insert_token(&auth::hash_token(&token), athlete, now)
        .await?;
    let expired_before = now.saturating_sub(state.config.token_ttl_ms());
    state
        .store
        .purge_expired_tokens(athlete, expired_before)
        .await?;
    Ok(token)
}

/// `GET /api/v1/athlete`: the caller.
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let row = state
        .store
        .athlete(caller.id)
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    Ok(HttpResponse::Ok().json(AthleteView::detailed(row)))
}

/// `GET /api/v1/athletes/{id}`: a public profile.
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = AthleteId(id.into_inner());
    let row = state
        .store
        .athlete(id)
        .await?
        .ok_or_else(ApiError::athlete_not_found)?;
    let view = if id == caller.id {
        AthleteView::detailed(row)
    } else {
        AthleteView::public(row)
    };
    Ok(HttpResponse::Ok().json(view))
}
