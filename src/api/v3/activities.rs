//! v3 activities: the athlete's list, one activity (get, edit, delete),
//! manual creation, streams, laps, zones, and the friends feed.

use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::{paging, params, parse_bool, views, V3Caller};
use crate::api::activities::{activity_view, apply_update, delete_owned, UpdateActivity};
use crate::api::privacy::views_for;
use crate::api::views::ActivityView;
use crate::domain::activity::{default_name, ActivityState, StatusLog, Visibility};
use crate::domain::completion::complete;
use crate::domain::feed::{FeedCursor, FeedMode};
use crate::domain::fix::{RawTime, MAX_FUTURE_SKEW_MS};
use crate::domain::{now_ms, ActivityId, AthleteId, DomainError, Sport};
use crate::error::ApiError;
use crate::oauth::Scopes;
use crate::state::AppState;
use crate::store::oauth::{ActivityDetails, ActivityPage};
use crate::store::{ActivityProgress, NewActivityRow};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/athlete/activities", web::get().to(list))
        .route("/activities/following", web::get().to(following))
        .route("/activities", web::post().to(create))
        .route("/activities/{id}", web::get().to(show))
        .route("/activities/{id}", web::put().to(update))
        .route("/activities/{id}", web::delete().to(delete))
        .route("/activities/{id}/streams", web::get().to(streams))
        .route(
            "/activities/{id}/streams/{keys}",
            web::get().to(streams_by_path),
        )
        .route("/activities/{id}/laps", web::get().to(laps))
        .route("/activities/{id}/zones", web::get().to(zones));
}

fn invalid(field: &'static str) -> ApiError {
    ApiError::invalid("Activity", [DomainError::invalid(field)])
}

/// Epoch seconds (integer or decimal) as ms.
fn epoch_param(p: &HashMap<String, String>, field: &'static str) -> Result<Option<i64>, ApiError> {
    match p.get(field).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && v.abs() < 1e13)
            .map(|v| Some((v * 1000.0) as i64))
            .ok_or_else(|| invalid(field)),
    }
}

/// `GET /athlete/activities?before&after&page&per_page` (`activity:read`;
/// only_me ones with `activity:read_all`): completed activities, newest
/// first, or oldest first with only `after` (as Strava).
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    let page = ActivityPage {
        athlete: caller.athlete,
        include_only_me: caller.reads_all(),
        before_ms: epoch_param(&p, "before")?,
        after_ms: epoch_param(&p, "after")?,
        limit: per_page,
        offset: (page - 1).saturating_mul(per_page),
    };
    let rows = state.store.athlete_activities(&page).await?;
    let views = views_for(&state, caller.athlete, rows, ActivityView::summary).await?;
    Ok(HttpResponse::Ok().json(summaries(&state, &views).await?))
}

/// `GET /activities/following?page&per_page` (`activity:read`): friends'
/// completed activities, newest first (Strava's retired friends feed).
async fn following(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    // The feed pages by key; walk to the page (bounded: 2,000 rows).
    let skip = (page - 1).saturating_mul(per_page);
    if skip + per_page > 2_000 {
        return Err(invalid("page"));
    }
    let mut cursor: Option<FeedCursor> = None;
    let mut skipped = 0;
    while skipped < skip {
        let n = (skip - skipped).min(200);
        let rows = state
            .store
            .feed(caller.athlete, FeedMode::Friends, cursor, n)
            .await?;
        let Some(last) = rows.last() else {
            return Ok(HttpResponse::Ok().json(Vec::<Value>::new()));
        };
        cursor = Some(FeedCursor {
            start_ms: last.start_ms,
            id: last.id,
        });
        skipped += rows.len() as u32;
        if (rows.len() as u32) < n {
            return Ok(HttpResponse::Ok().json(Vec::<Value>::new()));
        }
    }
    let rows = state
        .store
        .feed(caller.athlete, FeedMode::Friends, cursor, per_page)
        .await?;
    let views = views_for(&state, caller.athlete, rows, ActivityView::summary).await?;
    Ok(HttpResponse::Ok().json(summaries(&state, &views).await?))
}

/// SummaryActivities, with the trainer and commute flags kept for them.
async fn summaries(state: &AppState, views: &[ActivityView]) -> Result<Vec<Value>, ApiError> {
    let ids: Vec<i64> = views.iter().map(|v| v.id).collect();
    let flags = state.store.activity_flags(&ids).await?;
    Ok(views
        .iter()
        .map(|view| {
            let mut v = views::activity(view, false);
            if let Some((_, trainer, commute)) = flags.iter().find(|f| f.0 == view.id) {
                v["trainer"] = json!(trainer);
                v["commute"] = json!(commute);
            }
            v
        })
        .collect())
}

/// Longest description kept, in characters.
const MAX_DESCRIPTION: usize = 10_000;

/// DetailedActivity, with the description, trainer and commute kept for it.
async fn detailed(
    state: &AppState,
    caller: AthleteId,
    view: &ActivityView,
) -> Result<Value, ApiError> {
    let mut v = views::activity(view, true);
    if let Some(efforts) = &view.segment_efforts {
        v["segment_efforts"] =
            json!(super::segments::activity_efforts_json(state, caller, efforts).await?);
    }
    if let Some(d) = state.store.activity_details(view.id).await? {
        v["description"] = json!(d.description);
        v["trainer"] = json!(d.trainer);
        v["commute"] = json!(d.commute);
    }
    Ok(v)
}

/// `description`, `trainer` and `commute` as sent, over `current`; None
/// when none is sent.
fn details_param(
    p: &HashMap<String, String>,
    current: Option<ActivityDetails>,
) -> Result<Option<ActivityDetails>, ApiError> {
    if !["description", "trainer", "commute"]
        .iter()
        .any(|k| p.contains_key(*k))
    {
        return Ok(None);
    }
    let mut d = current.unwrap_or_default();
    if let Some(text) = p.get("description") {
        let text = text.trim();
        if text.chars().count() > MAX_DESCRIPTION {
            return Err(invalid("description"));
        }
        d.description = Some(text.to_string()).filter(|t| !t.is_empty());
    }
    for (field, flag) in [("trainer", &mut d.trainer), ("commute", &mut d.commute)] {
        if let Some(v) = p.get(field) {
            *flag = parse_bool(field, &v.to_ascii_lowercase())?;
        }
    }
    Ok(Some(d))
}

/// The activity as the token may see it: only_me needs `activity:read_all`.
async fn readable(state: &AppState, caller: &V3Caller, id: i64) -> Result<ActivityView, ApiError> {
    caller.require(Scopes::ACTIVITY_READ)?;
    let view = activity_view(state, &caller.caller(), ActivityId(id)).await?;
    if view.visibility == Visibility::OnlyMe {
        caller.require(Scopes::ACTIVITY_READ_ALL)?;
    }
    Ok(view)
}

/// `GET /activities/{id}` (`include_all_efforts` accepted).
async fn show(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = readable(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(detailed(&state, caller.athlete, &view).await?))
}

/// `PUT /activities/{id}` (`activity:write`): `name`, `type`/`sport_type`,
/// `private` (only_me, or back to followers_only), Pacer's `visibility`,
/// `description`, `trainer`, `commute`; Strava's `gear_id` and
/// `hide_from_home` are accepted and ignored.
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_WRITE)?;
    let id = ActivityId(id.into_inner());
    let p = params(&req, &body)?;
    let current = readable(&state, &caller, id.0).await?;
    let visibility = match (p.get("visibility"), p.get("private")) {
        (Some(v), _) => Some(v.clone()),
        (None, Some(private)) => Some(
            if parse_bool("private", private)? {
                Visibility::OnlyMe
            } else if current.visibility == Visibility::OnlyMe {
                Visibility::FollowersOnly
            } else {
                current.visibility
            }
            .as_str()
            .to_string(),
        ),
        (None, None) => None,
    };
    if visibility.as_deref() == Some("only_me") || current.visibility == Visibility::OnlyMe {
        caller.require(Scopes::ACTIVITY_READ_ALL)?;
    }
    let edit = UpdateActivity {
        name: p.get("name").cloned(),
        visibility,
        sport_type: p.get("sport_type").cloned(),
        activity_type: p.get("type").cloned(),
        start_date: None,
    };
    let details = details_param(&p, state.store.activity_details(id.0).await?)?;
    apply_update(&state, &caller.caller(), id, edit).await?;
    if let Some(d) = details {
        state.store.set_activity_details(id.0, &d).await?;
    }
    let view = activity_view(&state, &caller.caller(), id).await?;
    Ok(HttpResponse::Ok().json(detailed(&state, caller.athlete, &view).await?))
}

/// `DELETE /activities/{id}` (`activity:write`; Strava has no such public
/// endpoint any more).
async fn delete(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_WRITE)?;
    let id = id.into_inner();
    readable(&state, &caller, id).await?;
    delete_owned(&state, &caller.caller(), ActivityId(id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `POST /activities` (`activity:write`), fields in the query, a form or
/// JSON: `name`, `type`/`sport_type`, `start_date_local` (taken as UTC),
/// `elapsed_time` (s), `distance` (m), `private`, `description`,
/// `trainer`, `commute`. A manual activity: completed at once, without a
/// route; its distance is the one given.
async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::ACTIVITY_WRITE)?;
    let p = params(&req, &body)?;
    let now = now_ms();
    let mut errors = Vec::new();
    let sport = match p.get("sport_type").or(p.get("type")) {
        Some(s) => Sport::parse(s).map_err(|e| errors.push(e)).ok(),
        None => {
            errors.push(DomainError::missing("sport_type"));
            None
        }
    };
    let start_ms = match p.get("start_date_local").or(p.get("start_date")) {
        None => {
            errors.push(DomainError::missing("start_date_local"));
            None
        }
        Some(s) => RawTime::Text(s.clone())
            .to_millis()
            .ok()
            .filter(|t| *t >= 946_684_800_000 && *t <= now + MAX_FUTURE_SKEW_MS)
            .or_else(|| {
                errors.push(DomainError::invalid("start_date_local"));
                None
            }),
    };
    let elapsed_s = match p.get("elapsed_time") {
        None => {
            errors.push(DomainError::missing("elapsed_time"));
            None
        }
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 30.0 * 86_400.0)
            .map(|v| v.round() as i64)
            .or_else(|| {
                errors.push(DomainError::invalid("elapsed_time"));
                None
            }),
    };
    let distance = match p.get("distance") {
        None => Some(0.0),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0 && *v <= 10_000_000.0)
            .or_else(|| {
                errors.push(DomainError::invalid("distance"));
                None
            }),
    };
    let name = crate::domain::text::activity_name(p.get("name").map(String::as_str))
        .map_err(|e| errors.push(e))
        .ok()
        .flatten();
    let private = match p.get("private") {
        Some(v) => parse_bool("private", v)?,
        None => false,
    };
    let details = match details_param(&p, None) {
        Ok(d) => d,
        Err(e) => {
            errors.extend(e.errors.iter().filter_map(|f| {
                ["description", "trainer", "commute"]
                    .into_iter()
                    .find(|k| *k == f.field)
                    .map(DomainError::invalid)
            }));
            None
        }
    };
    let (Some(sport), Some(start_ms), Some(elapsed_s), Some(distance), true) =
        (sport, start_ms, elapsed_s, distance, errors.is_empty())
    else {
        return Err(ApiError::invalid("Activity", errors));
    };
    if private {
        caller.require(Scopes::ACTIVITY_READ_ALL)?;
    }
    let new = NewActivityRow {
        athlete_id: caller.athlete,
        external_id: None,
        name: name.unwrap_or_else(|| default_name(sport, start_ms)),
        sport_type: sport,
        visibility: if private {
            Visibility::OnlyMe
        } else {
            Visibility::FollowersOnly
        },
        start_ms,
        status_log: StatusLog::start(start_ms),
        now_ms: now,
    };
    let (row, _) = state.store.create_activity(&new).await?;
    let id = ActivityId(row.id);
    let mut log = row.status_log.clone();
    let end = start_ms + elapsed_s * 1000;
    log.apply(ActivityState::Complete, Some(end), end.max(now))
        .map_err(|e| ApiError::invalid("Activity", [e]))?;
    // The one completion, over no route; the stated distance replaces its
    // zero (a manual entry has nothing else to go by).
    let mut done = complete(sport, &[], &log);
    done.totals.distance = distance;
    done.totals.moving_time = elapsed_s;
    if elapsed_s > 0 {
        done.totals.average_speed = distance / elapsed_s as f64;
    }
    state
        .store
        .complete_activity(&ActivityProgress::completed(id, log, done, now_ms()), &[])
        .await?;
    if let Some(d) = details.filter(|d| *d != ActivityDetails::default()) {
        state.store.set_activity_details(id.0, &d).await?;
    }
    let view = activity_view(&state, &caller.caller(), id).await?;
    Ok(HttpResponse::Created().json(detailed(&state, caller.athlete, &view).await?))
}

/// Stream types Pacer has; others asked for are left out (as Strava
/// leaves out what an activity lacks).
fn known_keys(keys: &str) -> String {
    keys.split(',')
        .map(str::trim)
        .filter(|k| crate::api::export::STREAM_KEYS.contains(k))
        .collect::<Vec<_>>()
        .join(",")
}

async fn stream_response(
    state: &AppState,
    caller: &V3Caller,
    id: i64,
    keys: Option<&str>,
    by_type: bool,
) -> Result<HttpResponse, ApiError> {
    readable(state, caller, id).await?;
    // Strava always includes the series it is keyed by.
    let keys = keys.map(known_keys);
    let response =
        crate::api::export::stream_set(state, &caller.caller(), id, keys.as_deref()).await?;
    if by_type {
        return Ok(response);
    }
    // The older list form: the same set as `[{"type", "data", …}]`.
    let bytes = actix_web::body::to_bytes(response.into_body())
        .await
        .map_err(|e| ApiError::internal(format!("streams body: {e}")))?;
    let mut set: serde_json::Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(ApiError::internal)?;
    // In the order asked for (then any others, as the set has them).
    let mut order: Vec<String> = keys
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect();
    order.extend(set.keys().cloned());
    let list: Vec<Value> = order
        .into_iter()
        .filter_map(|k| {
            let mut v = set.remove(&k)?;
            v["type"] = Value::String(k);
            Some(v)
        })
        .collect();
    Ok(HttpResponse::Ok().json(list))
}

/// `GET /activities/{id}/streams?keys=&key_by_type=` (`activity:read`).
async fn streams(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &[])?;
    let by_type = match p.get("key_by_type") {
        Some(v) => parse_bool("key_by_type", v)?,
        None => false,
    };
    stream_response(
        &state,
        &caller,
        id.into_inner(),
        p.get("keys").map(String::as_str),
        by_type,
    )
    .await
}

/// `GET /activities/{id}/streams/{keys}` (the old path form, a list).
async fn streams_by_path(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let (id, keys) = path.into_inner();
    let p = params(&req, &[])?;
    let by_type = match p.get("key_by_type") {
        Some(v) => parse_bool("key_by_type", v)?,
        None => false,
    };
    stream_response(&state, &caller, id, Some(&keys), by_type).await
}

/// `GET /activities/{id}/laps` (`activity:read`): one lap.
async fn laps(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let view = readable(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(views::laps(&view)))
}

/// `GET /activities/{id}/zones` (`activity:read`): Pacer keeps no heart
/// rate or power zones.
async fn zones(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    readable(&state, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(Vec::<Value>::new()))
}
