use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::api::views::AthleteView;
use crate::auth::{self, Caller};
use crate::domain::athlete::{NewAthlete, ProfileUpdate, RawNewAthlete, RawProfileUpdate};
use crate::domain::search::AthleteSearch;
use crate::domain::{now_ms, AthleteId};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{AthleteMatch, NewAthleteRow, StoreError};

/// `POST /api/v1/athletes`: sign up; answers with a first access token.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<RawNewAthlete>,
) -> Result<HttpResponse, ApiError> {
    let (athlete, password) = NewAthlete::parse(body.into_inner(), chrono::Utc::now().year())
        .map_err(|errors| ApiError::invalid("Athlete", errors))?;
    // Each sign-up costs a password hash and an account (and answers
    // whether a name is taken): limited per address, as sign-ins are.
    state
        .signin
        .signup_attempt(req.peer_addr().map(|a| a.ip()))?;
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

/// `PUT /api/v1/athlete`: edits the caller's profile (firstname, lastname,
/// sex, birth_year, weight_kg, country, state, city) under the sign-up
/// rules. Absent fields stay; `null` or blank clears. The global
/// leaderboards' place, gender and age filters follow the edit.
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<RawProfileUpdate>,
) -> Result<HttpResponse, ApiError> {
    let row = update_profile(&state, caller.id, body.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AthleteView::detailed(row)))
}

/// The profile edit behind `PUT /api/v1/athlete` and `PUT /api/v3/athlete`.
pub async fn update_profile(
    state: &AppState,
    athlete: AthleteId,
    raw: RawProfileUpdate,
) -> Result<crate::store::AthleteRow, ApiError> {
    let update = ProfileUpdate::parse(raw, chrono::Utc::now().year())
        .map_err(|errors| ApiError::invalid("Athlete", errors))?;
    let row = state
        .store
        .update_profile(athlete, &update, now_ms())
        .await?
        .ok_or_else(ApiError::unauthorized)?;
    state.global_boards.wake();
    Ok(row)
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

#[derive(Deserialize)]
pub struct SearchQuery {
    q: Option<String>,
    page: Option<u32>,
    per_page: Option<u32>,
}

/// One search result: the name, never the profile, and the searcher's
/// friendship with them (`none`, `requested` by the searcher, `incoming`
/// from them, or `friends`).
#[derive(Serialize)]
struct SearchHit {
    id: i64,
    username: String,
    firstname: String,
    lastname: String,
    friend_status: &'static str,
}

impl From<AthleteMatch> for SearchHit {
    fn from(m: AthleteMatch) -> Self {
        let friend_status = match (m.outgoing > 0, m.incoming > 0) {
            (true, true) => "friends",
            (true, false) => "requested",
            (false, true) => "incoming",
            (false, false) => "none",
        };
        SearchHit {
            id: m.id,
            username: m.username,
            firstname: m.firstname,
            lastname: m.lastname,
            friend_status,
        }
    }
}

/// `GET /api/v1/athletes/search?q=&page=&per_page=`: athletes whose user
/// name or name contains `q` (case-insensitive), user-name prefix matches
/// first. Reveals names only.
pub async fn search(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let query = query.into_inner();
    let search = AthleteSearch::parse(query.q.as_deref(), query.page, query.per_page)
        .map_err(|errors| ApiError::invalid("Athlete", errors))?;
    // One more than a page says whether there is a next one.
    let mut found = state
        .store
        .search_athletes(caller.id, &search, search.per_page + 1, search.offset())
        .await?;
    let more = found.len() > search.per_page as usize;
    found.truncate(search.per_page as usize);
    let athletes: Vec<SearchHit> = found.into_iter().map(SearchHit::from).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "athletes": athletes,
        "page": search.page,
        "per_page": search.per_page,
        "next_page": more.then_some(search.page + 1),
    })))
}
