//! Share links: an expiring link that lets someone without an account
//! watch one activity (`POST /activities/{id}/shares`) or whatever the
//! athlete records live meanwhile (`POST /athlete/shares`).
//!
//! A link holder may use `?share=TOKEN` on the poll and SSE endpoints of
//! the activities it covers, `GET /api/v1/share?share=TOKEN` (what the link
//! shows) and the page `/share/{token}`; nothing else. The owner's privacy
//! zones apply, whatever the activity's visibility. An expired, revoked or
//! wrong link answers the same 404. Tokens are 256 bits from the OS
//! generator; only their SHA-256 is stored, looked up by digest and
//! compared in constant time.

use actix_web::dev::RequestHead;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, ResponseError};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::api::activities::owned_activity;
use crate::api::live::{poll_activity, stream_activity};
use crate::api::privacy::Privacy;
use crate::api::views::{rfc3339, ActivityView};
use crate::auth::{hash_token, Caller};
use crate::domain::activity::ActivityState;
use crate::domain::{now_ms, ActivityId, AthleteId, DomainError};
use crate::error::{ApiError, Code};
use crate::live::access::{AccessScope, AccessWatch, Verdict};
use crate::live::ws::Recheck;
use crate::state::AppState;
use crate::store::privacy::{NewShare, ShareRow};
use crate::store::ActivityRow;

/// An activity's link lives at most this long after it completes (and,
/// while it is recorded, at most this long from now).
pub const MAX_ACTIVITY_SHARE_S: i64 = 48 * 3600;
/// An athlete's live link lives at most this long.
pub const MAX_ATHLETE_SHARE_S: i64 = 7 * 24 * 3600;
/// The shortest link.
pub const MIN_SHARE_S: i64 = 60;
/// Open links one athlete may have at once.
pub const MAX_OPEN_SHARES: usize = 20;
/// Bytes of randomness in a token (base64url: 43 characters).
const TOKEN_BYTES: usize = 32;
const TOKEN_CHARS: usize = 43;

fn new_share_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The one answer for a link that is wrong, expired, revoked or does not
/// cover what was asked.
fn no_such_link() -> ApiError {
    ApiError::not_found("Activity")
}

/// Headers of everything a link holder is answered: the link is not passed
/// on, indexed or cached.
fn private(mut response: HttpResponse) -> HttpResponse {
    let headers = response.headers_mut();
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("no-referrer"),
    );
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        header::HeaderValue::from_static("noindex, nofollow"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}

fn answer(result: Result<HttpResponse, ApiError>) -> HttpResponse {
    private(result.unwrap_or_else(|e| e.error_response()))
}

/// The open share the token names.
async fn open_share(state: &AppState, token: &str) -> Result<ShareRow, ApiError> {
    let well_formed = token.len() == TOKEN_CHARS
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(no_such_link());
    }
    let digest = hash_token(token);
    let share = state
        .store
        .share_by_hash(&digest)
        .await?
        .ok_or_else(no_such_link)?;
    let same: bool = share.token_hash.as_bytes().ct_eq(digest.as_bytes()).into();
    if !same || !share.is_open(now_ms()) {
        return Err(no_such_link());
    }
    Ok(share)
}

/// Whether the share covers the activity: its own, or for an athlete's
/// share, one of theirs recorded while the link is open.
fn covers(share: &ShareRow, row: &ActivityRow) -> bool {
    match share.activity_id {
        Some(id) => id.0 == row.id,
        None => {
            row.athlete_id == share.athlete_id.0
                && row.start_ms <= share.expires_ms
                && row.completed_ms.is_none_or(|c| c >= share.created_ms)
        }
    }
}

/// The open share and the activity, if the token covers it.
async fn shared_activity(
    state: &AppState,
    token: &str,
    id: ActivityId,
) -> Result<(ShareRow, ActivityRow), ApiError> {
    let share = open_share(state, token).await?;
    let row = state.store.activity(id).await?.ok_or_else(no_such_link)?;
    if !covers(&share, &row) {
        return Err(no_such_link());
    }
    Ok((share, row))
}

/// Routes the request to the link holder's handler when it carries
/// `?share=`.
pub fn by_link(head: &RequestHead) -> bool {
    head.uri
        .query()
        .is_some_and(|q| q.split('&').any(|p| p.starts_with("share=")))
}

#[derive(Deserialize)]
pub struct LinkPoll {
    share: String,
    after: Option<u64>,
}

/// `GET /api/v1/activities/{id}/live?share=TOKEN&after=SEQ`
pub async fn poll(
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<LinkPoll>,
) -> HttpResponse {
    answer(
        async {
            let (share, row) = shared_activity(&state, &query.share, ActivityId(*id)).await?;
            let privacy = Privacy::others(&state, share.athlete_id).await?;
            poll_activity(&state, row, query.after.unwrap_or(0), privacy).await
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct LinkStream {
    share: String,
    last_event_id: Option<u64>,
}

/// `GET /api/v1/activities/{id}/live/sse?share=TOKEN`: the same stream as
/// a friend's, closed (`revoked`) when the link is revoked or expires.
pub async fn sse(
    req: HttpRequest,
    state: web::Data<AppState>,
    id: web::Path<i64>,
    query: web::Query<LinkStream>,
) -> HttpResponse {
    let id = ActivityId(*id);
    let token = query.share.clone();
    answer(
        async move {
            // Subscribed before the check, so no change in between is missed.
            let changes = state.access.subscribe();
            let (share, row) = shared_activity(&state, &token, id).await?;
            let privacy = Privacy::others(&state, share.athlete_id).await?;
            let access = AccessWatch::new(
                changes,
                AccessScope {
                    // No account watches: only the link's own changes concern it.
                    viewer: AthleteId(0),
                    owner: share.athlete_id,
                    activity: id,
                    token_hash: share.token_hash.clone(),
                },
            );
            let checker = state.clone();
            let recheck: Recheck = Box::new(move || {
                let (state, token) = (checker.clone(), token.clone());
                Box::pin(async move {
                    match shared_activity(&state, &token, id).await {
                        Ok(_) => Verdict::Allowed,
                        Err(e) if e.code.status().is_client_error() => Verdict::Denied,
                        Err(_) => Verdict::Unknown,
                    }
                })
            });
            let expires = std::time::Duration::from_millis(
                u64::try_from(share.expires_ms - now_ms()).unwrap_or(0),
            );
            let until = tokio::time::Instant::now() + expires;
            stream_activity(
                &req,
                state.clone(),
                row,
                access,
                recheck,
                privacy,
                query.last_event_id,
                Some(until),
            )
            .await
        }
        .await,
    )
}

#[derive(Deserialize)]
pub struct LinkQuery {
    share: String,
}

/// `GET /api/v1/share?share=TOKEN`: what the link shows: the athlete's
/// name, when it expires and the activities it covers (newest first, with
/// the privacy zones applied). The viewer page starts here.
pub async fn show(state: web::Data<AppState>, query: web::Query<LinkQuery>) -> HttpResponse {
    answer(
        async {
            let share = open_share(&state, &query.share).await?;
            let athlete = state
                .store
                .athlete(share.athlete_id)
                .await?
                .ok_or_else(no_such_link)?;
            let ids = match share.activity_id {
                Some(id) => vec![id],
                None => {
                    state
                        .store
                        .activities_recorded_between(
                            share.athlete_id,
                            share.created_ms,
                            share.expires_ms,
                        )
                        .await?
                }
            };
            let privacy = Privacy::others(&state, share.athlete_id).await?;
            let mut activities = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(row) = state.store.activity(id).await? {
                    if covers(&share, &row) {
                        activities.push(privacy.view(ActivityView::summary(row)));
                    }
                }
            }
            Ok::<_, ApiError>(HttpResponse::Ok().json(serde_json::json!({
                "athlete": {"firstname": athlete.firstname, "lastname": athlete.lastname},
                "expires_at": rfc3339(share.expires_ms),
                "activities": activities,
            })))
        }
        .await,
    )
}

/// `GET /share/{token}`: the page for link holders (404 when the link is
/// not open; the page says so).
pub async fn page(state: web::Data<AppState>, token: web::Path<String>) -> HttpResponse {
    let open = open_share(&state, &token).await;
    let Some(html) = crate::page::index_at_root() else {
        return answer(Err(ApiError::not_found("Route")));
    };
    let mut response = match open {
        Ok(_) => HttpResponse::Ok(),
        Err(e) if e.code == Code::NotFound => HttpResponse::NotFound(),
        Err(e) => return answer(Err(e)),
    };
    private(response.content_type("text/html; charset=utf-8").body(html))
}

#[derive(Deserialize)]
pub struct NewShareBody {
    expires_in_s: Option<i64>,
}

fn share_json(share: &ShareRow, token: Option<&str>, req: &HttpRequest) -> serde_json::Value {
    let mut out = serde_json::json!({
        "id": share.id,
        "activity_id": share.activity_id.map(|a| a.0),
        "created_at": rfc3339(share.created_ms),
        "expires_at": rfc3339(share.expires_ms),
    });
    if let Some(token) = token {
        let info = req.connection_info();
        out["token"] = token.into();
        out["url"] = format!("{}://{}/share/{token}", info.scheme(), info.host()).into();
    }
    out
}

fn expires_in(body: &NewShareBody, max_s: i64) -> Result<i64, ApiError> {
    match body.expires_in_s {
        None => Err(ApiError::invalid(
            "Share",
            [DomainError::missing("expires_in_s")],
        )),
        Some(s) if !(MIN_SHARE_S..=max_s).contains(&s) => Err(ApiError::invalid(
            "Share",
            [DomainError::new("expires_in_s", "out_of_range")],
        )),
        Some(s) => Ok(s),
    }
}

async fn create_share(
    state: &AppState,
    req: &HttpRequest,
    athlete: AthleteId,
    activity: Option<ActivityId>,
    expires_ms: i64,
    now: i64,
) -> Result<HttpResponse, ApiError> {
    if state.store.open_shares(athlete, now).await?.len() >= MAX_OPEN_SHARES {
        return Err(ApiError::with(Code::Invalid, "Share", "count", "too_many"));
    }
    let token = new_share_token();
    let share = state
        .store
        .create_share(&NewShare {
            athlete_id: athlete,
            activity_id: activity,
            token_hash: hash_token(&token),
            now_ms: now,
            expires_ms,
        })
        .await?;
    Ok(private(HttpResponse::Created().json(share_json(
        &share,
        Some(&token),
        req,
    ))))
}

/// `POST /api/v1/activities/{id}/shares` `{expires_in_s}`: up to 48 h
/// after the activity completes (while it is recorded: up to 48 h).
pub async fn create_for_activity(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<NewShareBody>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(*id);
    let row = owned_activity(&state, &caller, id).await?;
    let now = now_ms();
    let seconds = expires_in(&body, MAX_ACTIVITY_SHARE_S)?;
    let expires_ms = now + seconds * 1000;
    if row.state == ActivityState::Complete {
        let completed = row.completed_ms.unwrap_or(row.start_ms);
        if expires_ms > completed + MAX_ACTIVITY_SHARE_S * 1000 {
            return Err(ApiError::invalid(
                "Share",
                [DomainError::new("expires_in_s", "out_of_range")],
            ));
        }
    }
    create_share(&state, &req, caller.id, Some(id), expires_ms, now).await
}

/// `POST /api/v1/athlete/shares` `{expires_in_s}`: up to 7 days of
/// whatever the athlete records live.
pub async fn create_for_athlete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewShareBody>,
) -> Result<HttpResponse, ApiError> {
    let now = now_ms();
    let seconds = expires_in(&body, MAX_ATHLETE_SHARE_S)?;
    create_share(&state, &req, caller.id, None, now + seconds * 1000, now).await
}

/// `GET /api/v1/athlete/shares`: the caller's open links (without tokens,
/// which are not kept).
pub async fn list_for_athlete(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let shares = state.store.open_shares(caller.id, now_ms()).await?;
    let out: Vec<_> = shares.iter().map(|s| share_json(s, None, &req)).collect();
    Ok(private(HttpResponse::Ok().json(out)))
}

/// `GET /api/v1/activities/{id}/shares`: the activity's open links.
pub async fn list_for_activity(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = ActivityId(*id);
    owned_activity(&state, &caller, id).await?;
    let shares = state.store.open_shares(caller.id, now_ms()).await?;
    let out: Vec<_> = shares
        .iter()
        .filter(|s| s.activity_id == Some(id))
        .map(|s| share_json(s, None, &req))
        .collect();
    Ok(private(HttpResponse::Ok().json(out)))
}

async fn revoke(state: &AppState, caller: &Caller, share: i64) -> Result<HttpResponse, ApiError> {
    let revoked = state
        .store
        .revoke_share(caller.id, share, now_ms())
        .await?
        .ok_or_else(|| ApiError::not_found("Share"))?;
    // Open streams of the link end now.
    state.access.token_revoked(&revoked.token_hash);
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /api/v1/athlete/shares/{id}`: revokes at once.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    revoke(&state, &caller, *id).await
}

/// `DELETE /api/v1/activities/{id}/shares/{share_id}`
pub async fn delete_for_activity(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let (activity, share) = path.into_inner();
    let of_activity = state
        .store
        .open_shares(caller.id, now_ms())
        .await?
        .iter()
        .any(|s| s.id == share && s.activity_id == Some(ActivityId(activity)));
    if !of_activity {
        return Err(ApiError::not_found("Share"));
    }
    revoke(&state, &caller, share).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_url_safe() {
        let a = new_share_token();
        let b = new_share_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_CHARS);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    }
}
