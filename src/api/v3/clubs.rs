//! v3 clubs: the caller's clubs, a club, its members, its activities and
//! Pacer's weekly leaderboard. Thin mappings over `api::clubs`; a private
//! club's members, activities and board answer 404 to non-members.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{paging, params, V3Caller};
use crate::api::clubs::{club_for, readable, ClubView, LeaderboardQuery};
use crate::api::privacy::views_for;
use crate::api::views::ActivityView;
use crate::domain::activity::Visibility;
use crate::domain::feed::FeedCursor;
use crate::domain::{AthleteId, DomainError};
use crate::error::ApiError;
use crate::oauth::Scopes;
use crate::state::AppState;
use crate::store::clubs::ClubFor;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/athlete/clubs", web::get().to(mine))
        .route("/clubs/{id}", web::get().to(show))
        .route("/clubs/{id}/members", web::get().to(members))
        .route("/clubs/{id}/admins", web::get().to(admins))
        .route("/clubs/{id}/activities", web::get().to(activities))
        .route("/clubs/{id}/leaderboard", web::get().to(leaderboard));
}

/// Club activities reached by page number, at most (the store pages by
/// key: deeper pages walk there).
const MAX_ACTIVITY_DEPTH: u32 = 2_000;

fn invalid(field: &'static str) -> ApiError {
    ApiError::invalid("Club", [DomainError::invalid(field)])
}

/// Strava's club sport: `cycling`, `running` or `other`.
fn strava_sport(sport: &str) -> &'static str {
    match sport {
        "Ride" => "cycling",
        "Run" => "running",
        _ => "other",
    }
}

/// SummaryClub (resource_state 2) or DetailedClub (3).
fn club_json(c: ClubFor, detailed: bool) -> Result<Value, ApiError> {
    let view = ClubView::of(c);
    let sport = strava_sport(view.sport_type);
    let mut v = serde_json::to_value(&view).map_err(ApiError::internal)?;
    v["resource_state"] = json!(if detailed { 3 } else { 2 });
    v["sport_type"] = json!(sport);
    v["localized_sport_type"] = json!(match sport {
        "cycling" => "Cycling",
        "running" => "Running",
        _ => "Other",
    });
    v["created_at"] = json!(super::views::seconds(
        chrono::DateTime::parse_from_rfc3339(&view.created_at)
            .map(|t| t.timestamp_millis())
            .unwrap_or_default()
    ));
    for k in [
        "profile_medium",
        "profile",
        "cover_photo",
        "cover_photo_small",
    ] {
        v[k] = Value::Null;
    }
    if detailed {
        v["following_count"] = json!(0);
    }
    Ok(v)
}

/// `GET /athlete/clubs?page&per_page` (`read`): SummaryClubs.
async fn mine(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    let skip = (page - 1).saturating_mul(per_page) as usize;
    let out = state
        .store
        .clubs_of(caller.athlete)
        .await?
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .map(|c| club_json(c, false))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /clubs/{id}` (`read`): DetailedClub, any club's profile (a
/// private one's too, so that athletes can ask to join, as v1).
async fn show(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let c = club_for(&state, id.into_inner(), caller.athlete).await?;
    Ok(HttpResponse::Ok().json(club_json(c, true)?))
}

/// `GET /clubs/{id}/members?page&per_page` (`read`): ClubAthletes in
/// athlete id order.
async fn members(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    club_athletes(req, state, caller, id.into_inner(), false).await
}

/// `GET /clubs/{id}/admins?page&per_page` (`read`): the owner and admins.
async fn admins(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    club_athletes(req, state, caller, id.into_inner(), true).await
}

async fn club_athletes(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: i64,
    admins_only: bool,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    let c = readable(&state, id, caller.athlete).await?;
    let skip = u64::from(page - 1) * u64::from(per_page);
    let rows = if admins_only {
        state.store.club_admins(c.club.id, skip, per_page).await?
    } else {
        state
            .store
            .club_members(c.club.id, AthleteId(i64::MIN), skip, per_page)
            .await?
    };
    let out: Vec<Value> = rows
        .into_iter()
        .map(|m| {
            json!({
                "id": m.athlete.0,
                "resource_state": 2,
                "firstname": m.firstname,
                "lastname": initial(&m.lastname),
                "membership": "member",
                "member": "member",
                "admin": m.role.is_admin(),
                "owner": m.role == crate::domain::clubs::ClubRole::Owner,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// Strava shows club members' last names as an initial.
fn initial(lastname: &str) -> String {
    lastname
        .chars()
        .next()
        .map(|c| format!("{c}."))
        .unwrap_or_default()
}

/// `GET /clubs/{id}/activities?page&per_page` (`read`): ClubActivities,
/// members' recent completed activities the caller may see, newest first
/// (the caller's own only_me ones with `activity:read_all`).
async fn activities(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    let c = readable(&state, id.into_inner(), caller.athlete).await?;
    let skip = (page - 1).saturating_mul(per_page);
    if skip.saturating_add(per_page) > MAX_ACTIVITY_DEPTH {
        return Err(invalid("page"));
    }
    // Walk by key (the store's paging), 200 at a time; the caller's own
    // only_me activities count only with `activity:read_all`.
    let reads_all = caller.reads_all();
    let shown = |r: &crate::store::ActivityRow| reads_all || r.visibility != Visibility::OnlyMe;
    let mut cursor: Option<FeedCursor> = None;
    let mut skipped = 0;
    let mut rows = Vec::new();
    let mut scanned = 0;
    while rows.len() < per_page as usize && scanned < 2 * MAX_ACTIVITY_DEPTH {
        let batch = state
            .store
            .club_activities(c.club.id, caller.athlete, cursor, 200)
            .await?;
        scanned += batch.len() as u32;
        let Some(last) = batch.last() else {
            break;
        };
        cursor = Some(FeedCursor {
            start_ms: last.start_ms,
            id: last.id,
        });
        let full = batch.len() == 200;
        for r in batch.into_iter().filter(|r| shown(r)) {
            if skipped < skip {
                skipped += 1;
            } else if rows.len() < per_page as usize {
                rows.push(r);
            }
        }
        if !full {
            break;
        }
    }
    let views = views_for(&state, caller.athlete, rows, ActivityView::summary).await?;
    let out: Vec<Value> = views
        .iter()
        .map(|v| {
            let t = &v.totals;
            json!({
                "resource_state": 2,
                "athlete": {
                    "resource_state": 2,
                    "firstname": v.athlete.firstname,
                    "lastname": initial(&v.athlete.lastname),
                },
                "name": v.name,
                "distance": t.distance,
                "moving_time": t.moving_time,
                "elapsed_time": t.elapsed_time,
                "total_elevation_gain": t.total_elevation_gain,
                "type": v.sport_type.as_str(),
                "sport_type": v.sport_type.as_str(),
                "workout_type": null,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /clubs/{id}/leaderboard?week=this|last&sort=&limit=&page=`
/// (`read`): Pacer's weekly club leaderboard, as `/api/v1` answers it.
async fn leaderboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let query = web::Query::<LeaderboardQuery>::from_query(req.query_string()).map_err(|e| {
        let field = if e.to_string().contains("page") {
            "page"
        } else {
            "limit"
        };
        ApiError::invalid("ClubLeaderboard", [DomainError::invalid(field)])
    })?;
    crate::api::clubs::leaderboard(state, caller.caller(), id, query).await
}
