//! Operator endpoints, enabled only when `PACER_ADMIN_TOKEN` is set (they
//! answer 404 otherwise). `POST /api/v1/admin/provision` creates accounts
//! in bulk for load tests and club imports: sign-up one by one is bound by
//! argon2 (tens of milliseconds each), by design.
//!
//! `POST /api/v1/admin/demo` sets up the demo's accounts for
//! `pacer-tools simulate`; it needs no token but answers only in demo mode
//! (`PACER_DEMO`, which the server accepts on a loopback address only) and
//! only to a caller on this machine.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth;
use crate::domain::activity::default_name;
use crate::domain::activity::{StatusLog, Visibility};
use crate::domain::athlete::{Username, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::domain::{now_ms, AthleteId, DomainError, Sport};
use crate::error::{ApiError, Code};
use crate::state::AppState;
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
        return Err(ApiError::route_not_found());
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
    let activity = sport.map(|sport| NewActivityRow {
        athlete_id: crate::domain::AthleteId(0),
        external_id: None,
        name: default_name(sport, now),
        sport_type: sport,
        visibility: Visibility::FollowersOnly,
        start_ms: now,
        status_log: StatusLog::start(now),
        now_ms: now,
    });
    let batch = ProvisionBatch {
        athletes,
        activity,
        friendships: body.friends,
    };
    let created = match state.store.provision(&batch).await {
        Err(StoreError::Conflict(_)) => {
            return Err(ApiError::already_exists("Athlete", "username"))
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

/// Most simulated friends one demo set-up creates.
pub const MAX_DEMO_FRIENDS: usize = 100;
/// The demo athlete's user name and password (shorter than sign-up allows,
/// so it can only be made here and signs in only in demo mode).
pub const DEMO_USERNAME: &str = "demo";
pub const DEMO_PASSWORD: &str = "demo";
/// Longest first or last name of a simulated friend.
const MAX_NAME_LEN: usize = 100;

#[derive(Deserialize)]
pub struct DemoRequest {
    /// The demo's friends, created if missing and befriended with `demo`.
    friends: Vec<DemoFriend>,
}

#[derive(Deserialize)]
pub struct DemoFriend {
    username: String,
    firstname: String,
    lastname: String,
}

/// `POST /api/v1/admin/demo`: creates (or reuses) `demo`/`demo` and the
/// given friends (random passwords: nobody signs in as them), makes each a
/// friend of `demo`, and answers a fresh access token per friend, for the
/// simulator to stream their activities with. An existing `demo` account
/// is left as it is.
pub async fn demo(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<DemoRequest>,
) -> Result<HttpResponse, ApiError> {
    if !state.config.demo {
        return Err(ApiError::route_not_found());
    }
    // Start-up refuses demo mode on a public address; this also keeps out
    // anything that reaches a loopback listener from elsewhere.
    if !req.peer_addr().is_some_and(|peer| peer.ip().is_loopback()) {
        return Err(ApiError::with(
            Code::Forbidden,
            "Demo",
            "peer",
            "not_loopback",
        ));
    }
    let friends = body.into_inner().friends;
    let mut errors = Vec::new();
    if friends.len() > MAX_DEMO_FRIENDS {
        errors.push(DomainError::invalid("friends"));
    }
    let mut usernames = Vec::with_capacity(friends.len());
    for friend in &friends {
        match Username::parse(&friend.username) {
            Ok(u) if u.as_str() != DEMO_USERNAME && !usernames.contains(&u) => usernames.push(u),
            Ok(_) => errors.push(DomainError::invalid("username")),
            Err(e) => errors.push(e),
        }
        for (name, field) in [
            (&friend.firstname, "firstname"),
            (&friend.lastname, "lastname"),
        ] {
            if !(1..=MAX_NAME_LEN).contains(&name.trim().chars().count()) {
                errors.push(DomainError::invalid(field));
            }
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid("Demo", errors));
    }
    let (demo_hash, friend_hash) = auth::off_arbiter(|| {
        Ok::<_, ApiError>((
            auth::hash_password(DEMO_PASSWORD)?,
            auth::hash_password(&auth::new_token())?,
        ))
    })
    .await??;
    let now = now_ms();
    let demo_name = Username::parse(DEMO_USERNAME).map_err(|e| ApiError::invalid("Demo", [e]))?;
    // Someone's own account named `demo` is not the demo's: leave it alone.
    if let Some((_, hash)) = state.store.credentials(demo_name.as_str()).await? {
        if !auth::off_arbiter(move || auth::verify_password(DEMO_PASSWORD, &hash)).await? {
            return Err(ApiError::already_exists("Demo", "username"));
        }
    }
    let (demo_id, _) = ensure_athlete(&state, &demo_name, &demo_hash, ("Demo", "Athlete")).await?;
    let mut created = Vec::with_capacity(friends.len());
    for (friend, username) in friends.iter().zip(&usernames) {
        let names = (friend.firstname.trim(), friend.lastname.trim());
        let (id, new) = ensure_athlete(&state, username, &friend_hash, names).await?;
        let token = auth::new_token();
        state
            .store
            .insert_token(&auth::hash_token(&token), id, now)
            .await?;
        // A request each way is a friendship (repeats change nothing).
        state.store.request_friend(demo_id, id, now).await?;
        state.store.request_friend(id, demo_id, now).await?;
        created.push(serde_json::json!({
            "id": id.0,
            "username": username.as_str(),
            "access_token": token,
            "new": new,
        }));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "demo": {"id": demo_id.0, "username": DEMO_USERNAME},
        "friends": created,
    })))
}

/// The athlete with this user name, created if missing; the flag says
/// whether it was created now.
async fn ensure_athlete(
    state: &AppState,
    username: &Username,
    password_hash: &str,
    (first, last): (&str, &str),
) -> Result<(AthleteId, bool), ApiError> {
    if let Some((row, _)) = state.store.credentials(username.as_str()).await? {
        return Ok((AthleteId(row.id), false));
    }
    let row = NewAthleteRow::named(
        username.as_str(),
        password_hash.to_string(),
        first,
        last,
        now_ms(),
    );
    match state.store.create_athlete(&row).await {
        Ok(row) => Ok((AthleteId(row.id), true)),
        // Created meanwhile by a concurrent set-up.
        Err(StoreError::Conflict(_)) => match state.store.credentials(username.as_str()).await? {
            Some((row, _)) => Ok((AthleteId(row.id), false)),
            None => Err(ApiError::already_exists("Athlete", "username")),
        },
        Err(e) => Err(e.into()),
    }
}

/// Most members one bulk add takes.
pub const MAX_CLUB_MEMBERS_BATCH: usize = 10_000;

#[derive(Deserialize)]
pub struct ClubMembersRequest {
    athlete_ids: Vec<i64>,
}

/// `POST /api/v1/admin/clubs/{id}/members`: adds existing athletes to a
/// club in one transaction (members already in are left as they are),
/// then puts their this and last week on the club's boards, as a join
/// does. Private clubs too: the operator is the approval.
pub async fn club_members(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    body: web::Json<ClubMembersRequest>,
) -> Result<HttpResponse, ApiError> {
    authorised(&state, &req)?;
    let club_id = crate::domain::clubs::ClubId(id.into_inner());
    let mut ids = body.into_inner().athlete_ids;
    if !(1..=MAX_CLUB_MEMBERS_BATCH).contains(&ids.len()) {
        return Err(ApiError::invalid(
            "ClubMembers",
            [DomainError::invalid("athlete_ids")],
        ));
    }
    ids.sort_unstable();
    ids.dedup();
    let athletes: Vec<AthleteId> = ids.into_iter().map(AthleteId).collect();
    let known = state.store.athlete_names(&athletes).await?;
    if known.len() != athletes.len() {
        return Err(ApiError::invalid(
            "ClubMembers",
            [DomainError::new("athlete_ids", "not_found")],
        ));
    }
    let Some(club) = state.store.board_club(club_id).await? else {
        return Err(ApiError::with(
            Code::ClubNotFound,
            "Club",
            "id",
            "not_found",
        ));
    };
    let added = state
        .store
        .add_club_members(club_id, &athletes, now_ms())
        .await?;
    // Setting totals is idempotent, so members who were in already are
    // simply set again. A failure leaves the membership standing: the
    // board's next rebuild reads the database.
    if let Err(e) = state.club_boards.joined_many(&club, &athletes).await {
        tracing::warn!(club = club_id.0, error = %e, "club boards not updated on a bulk add");
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({
        "club_id": club_id.0,
        "added": added,
        "requested": athletes.len(),
    })))
}
