//! Operator endpoints, enabled only when `PACER_ADMIN_TOKEN` is set (they
//! answer 404 otherwise). `POST /api/v1/admin/provision` creates accounts
//! in bulk for load tests and club imports: sign-up one by one is bound by
//! argon2 (tens of milliseconds each), by design.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::api::activities::default_name;
use crate::auth;
use crate::domain::activity::{StatusLog, Visibility};
use crate::domain::athlete::{Username, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::domain::{now_ms, DomainError, Sport};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{NewActivityRow, NewAthleteRow, ProvisionBatch, StoreError};

/// Most accounts one provision call creates.
pub const MAX_PROVISION_BATCH: usize = 10_000;

#[derive(Deserialize)]
pub struct ProvisionRequest {
    /// Usernames are the prefix followed by 0, 1, 2, …
    username_prefix: String,
    count: usize,
    /// One password for the whole batch.
    password: String,
    /// Starts one activity per athlete with this sport, when set.
    start_activity: Option<String>,
    /// Friendships as index pairs within the batch.
    #[serde(default)]
    friends: Vec<(usize, usize)>,
}

/// The admin token, compared by digest so timing reveals nothing.
fn authorised(state: &AppState, req: &HttpRequest) -> Result<(), ApiError> {
    let Some(expected) = state
        .config
        .admin_token
        .as_deref()
        .filter(|t| !t.is_empty())
    else {
        return Err(ApiError::not_found("Route"));
    };
    let presented = auth::presented_token(req).unwrap_or_default();
    if Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes()) {
        Ok(())
    } else {
        Err(ApiError::unauthorized())
    }
}

/// `POST /api/v1/admin/provision`: `count` athletes (with tokens, optional
/// started activities and friendships) in one transaction.
pub async fn provision(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ProvisionRequest>,
) -> Result<HttpResponse, ApiError> {
    authorised(&state, &req)?;
    let body = body.into_inner();
    let mut errors = Vec::new();
    if !(1..=MAX_PROVISION_BATCH).contains(&body.count) {
        errors.push(DomainError::invalid("count"));
    }
    let usernames: Vec<Username> = (0..body.count.min(MAX_PROVISION_BATCH))
        .map(|i| Username::parse(&format!("{}{i}", body.username_prefix)))
        .collect::<Result<_, _>>()
        .map_err(|e| errors.push(e))
        .unwrap_or_default();
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&body.password.chars().count()) {
        errors.push(DomainError::invalid("password"));
    }
    let sport = match body.start_activity.as_deref().map(Sport::parse) {
        Some(Err(e)) => {
            errors.push(e);
            None
        }
        Some(Ok(s)) => Some(s),
        None => None,
    };
    if body
        .friends
        .iter()
        .any(|&(a, b)| a >= body.count || b >= body.count || a == b)
    {
        errors.push(DomainError::invalid("friends"));
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid("Provision", errors));
    }
    let password = body.password;
    let password_hash = auth::off_arbiter(move || auth::hash_password(&password)).await??;
    let now = now_ms();
    let mut tokens = Vec::with_capacity(usernames.len());
    let athletes = usernames
        .iter()
        .map(|username| {
            let token = auth::new_token();
            let token_hash = auth::hash_token(&token);
            tokens.push(token);
            let row = NewAthleteRow::named(
                username.as_str(),
                password_hash.clone(),
                username.as_str(),
                "",
                now,
            );
            (row, token_hash)
        })
        .collect();
    let activity = match sport {
        Some(sport) => Some(NewActivityRow {
            athlete_id: crate::domain::AthleteId(0),
            external_id: None,
            name: default_name(sport, now),
            sport_type: sport.as_str().to_string(),
            visibility: Visibility::FollowersOnly.as_str().to_string(),
            start_ms: now,
            status_log: serde_json::to_string(StatusLog::start(now).entries())
                .map_err(ApiError::internal)?,
            now_ms: now,
        }),
        None => None,
    };
    let batch = ProvisionBatch {
        athletes,
        activity,
        friendships: body.friends,
    };
    let created = match state.store.provision(&batch).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::conflict("Athlete", "username", "already_exists"))
        }
        other => other?,
    };
    let athletes: Vec<_> = created
        .iter()
        .zip(&usernames)
        .zip(&tokens)
        .map(|((p, username), token)| {
            serde_json::json!({
                "id": p.athlete.0,
                "username": username.as_str(),
                "access_token": token,
                "activity_id": p.activity.map(|a| a.0),
            })
        })
        .collect();
    Ok(HttpResponse::Created().json(serde_json::json!({ "athletes": athletes })))
}
