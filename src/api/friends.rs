use actix_web::{web, HttpResponse};

use crate::api::views::AthleteView;
use crate::auth::Caller;
use crate::domain::{now_ms, AthleteId};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::store::FriendOutcome;

fn athletes(rows: Vec<crate::store::AthleteRow>) -> Vec<AthleteView> {
    rows.into_iter().map(AthleteView::public).collect()
}

/// `GET /api/v1/friends`
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(athletes(state.store.friends(caller.id).await?)))
}

/// `GET /api/v1/friends/requests`: incoming requests not yet accepted.
pub async fn requests(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(athletes(
        state.store.incoming_friend_requests(caller.id).await?,
    )))
}

/// `POST /api/v1/friends/{athlete_id}`: requests friendship, or accepts the
/// other athlete's pending request.
pub async fn add(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let other = AthleteId(id.into_inner());
    if other == caller.id {
        return Err(ApiError::with(
            Code::Invalid,
            "Friend",
            "athlete_id",
            "self",
        ));
    }
    if state.store.athlete(other).await?.is_none() {
        return Err(ApiError::athlete_not_found());
    }
    let outcome = state
        .store
        .request_friend(caller.id, other, now_ms())
        .await?;
    let (status, friends) = match outcome {
        FriendOutcome::Requested => ("requested", false),
        FriendOutcome::AlreadyRequested => ("requested", false),
        FriendOutcome::Accepted | FriendOutcome::AlreadyFriends => ("friends", true),
    };
    let body = serde_json::json!({"athlete_id": other.0, "status": status, "friends": friends});
    Ok(match outcome {
        FriendOutcome::Requested | FriendOutcome::Accepted => HttpResponse::Created().json(body),
        _ => HttpResponse::Ok().json(body),
    })
}

/// `DELETE /api/v1/friends/{athlete_id}`: ends the friendship (or a request).
pub async fn remove(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let other = AthleteId(id.into_inner());
    if state.store.remove_friend(caller.id, other).await? {
        state.access.unfriended(caller.id, other);
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::with(
            Code::FriendNotFound,
            "Friend",
            "id",
            "not_found",
        ))
    }
}

/// `POST /api/v1/friends/requests/{athlete_id}/decline`: turns down the
/// athlete's pending request (404 when there is none; friends stay
/// friends: `DELETE /friends/{athlete_id}` ends a friendship).
pub async fn decline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let other = AthleteId(id.into_inner());
    let pending = state
        .store
        .incoming_friend_requests(caller.id)
        .await?
        .iter()
        .any(|r| r.id == other.0);
    if !pending || !state.store.remove_friend(caller.id, other).await? {
        return Err(ApiError::not_found("FriendRequest"));
    }
    Ok(HttpResponse::NoContent().finish())
}
