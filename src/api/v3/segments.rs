//! v3 segments and efforts: a segment (with the caller's stats), the
//! explorer, starring, the caller's efforts, one effort, and Strava's
//! former leaderboard. Thin mappings over `api::segments`,
//! `api::segment_efforts` and `api::segment_leaderboard`.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

use super::{paging, params, parse_bool, views::seconds, V3Caller};
use crate::api::segment_efforts::{list_for, visible_effort, EffortView, ListQuery};
use crate::api::segments::{explored, set_star, shown, starred_views, CatRange, SegmentView};
use crate::domain::activity::Visibility;
use crate::domain::leaderboard_filters::RawLeaderboardQuery;
use crate::domain::segments::SegmentId;
use crate::domain::{AthleteId, DomainError};
use crate::error::ApiError;
use crate::oauth::Scopes;
use crate::state::AppState;

pub fn routes(cfg: &mut web::ServiceConfig) {
    // The fixed paths before `{id}`.
    cfg.route("/segments/explore", web::get().to(explore))
        .route("/segments/starred", web::get().to(starred))
        .route("/segments/{id}", web::get().to(show))
        .route("/segments/{id}/starred", web::put().to(star))
        .route("/segments/{id}/all_efforts", web::get().to(all_efforts))
        .route("/segments/{id}/leaderboard", web::get().to(leaderboard))
        .route("/segment_efforts", web::get().to(efforts))
        .route("/segment_efforts/{id}", web::get().to(effort));
}

/// Own efforts read for a segment's stats, at most (25 pages of 200).
const STATS_PAGES: u32 = 25;
const STATS_PAGE: u32 = 200;

/// An RFC 3339 time as Strava writes it (whole seconds, `Z`).
fn strava_time(s: &str) -> Value {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| json!(seconds(t.timestamp_millis())))
        .unwrap_or_else(|_| json!(s))
}

fn as_object(v: impl serde::Serialize) -> Result<Map<String, Value>, ApiError> {
    match serde_json::to_value(v).map_err(ApiError::internal)? {
        Value::Object(m) => Ok(m),
        _ => Err(ApiError::internal("not an object")),
    }
}

/// Strava's SummarySegment (resource_state 2).
pub fn summary_segment(view: &SegmentView) -> Value {
    json!({
        "id": view.id,
        "resource_state": 2,
        "name": view.name,
        "activity_type": view.activity_type.as_str(),
        "distance": view.distance,
        "average_grade": view.average_grade,
        "maximum_grade": view.maximum_grade,
        "elevation_high": view.elevation_high,
        "elevation_low": view.elevation_low,
        "start_latlng": view.start_latlng,
        "end_latlng": view.end_latlng,
        "climb_category": view.climb_category,
        "city": null,
        "state": null,
        "country": null,
        "private": view.private,
        "hazardous": view.hazardous,
        "starred": view.starred,
    })
}

/// Strava's DetailedSegmentEffort, its segment in the summary form.
fn effort_json(view: EffortView, segment: &Value) -> Result<Value, ApiError> {
    let mut m = as_object(&view)?;
    m.insert("segment".into(), segment.clone());
    m.insert(
        "activity".into(),
        json!({"id": view.activity_id, "resource_state": 1}),
    );
    m.insert(
        "athlete".into(),
        json!({"id": view.athlete_id, "resource_state": 1}),
    );
    m.insert("start_date".into(), strava_time(&view.start_date));
    m.insert(
        "start_date_local".into(),
        strava_time(&view.start_date_local),
    );
    // Pacer records no heart rate, cadence or power on efforts.
    m.insert("device_watts".into(), json!(false));
    m.insert("achievements".into(), json!([]));
    Ok(Value::Object(m))
}

/// An activity's efforts as the detailed activity's `segment_efforts`;
/// an effort on a segment the caller may not see is left out.
pub async fn activity_efforts_json(
    state: &AppState,
    caller: AthleteId,
    efforts: &[EffortView],
) -> Result<Vec<Value>, ApiError> {
    let mut segments: HashMap<i64, Option<Value>> = HashMap::new();
    let mut out = Vec::with_capacity(efforts.len());
    for e in efforts {
        let id = e.segment.id;
        if let Entry::Vacant(slot) = segments.entry(id) {
            slot.insert(match shown(state, caller, id).await {
                Ok(view) => Some(summary_segment(&view)),
                Err(e) if e.is_not_found() => None,
                Err(e) => return Err(e),
            });
        }
        if let Some(Some(segment)) = segments.get(&id) {
            out.push(effort_json(e.clone(), segment)?);
        }
    }
    Ok(out)
}

/// The caller's efforts on a segment, as `GET /segment_efforts` shows
/// them: only_me ones with `activity:read_all`.
async fn own_efforts(
    state: &AppState,
    caller: &V3Caller,
    segment: i64,
    p: &HashMap<String, String>,
    page: u32,
    per_page: u32,
) -> Result<Vec<EffortView>, ApiError> {
    let query = ListQuery {
        segment_id: Some(segment.to_string()),
        athlete_id: None,
        start_date_local: p.get("start_date_local").cloned(),
        end_date_local: p.get("end_date_local").cloned(),
        page: Some(page.to_string()),
        per_page: Some(per_page.to_string()),
    };
    list_for(state, caller.athlete, &query, caller.reads_all()).await
}

/// `athlete_segment_stats` and `athlete_pr_effort`: the caller's effort
/// count and their fastest effort.
async fn athlete_stats(
    state: &AppState,
    caller: &V3Caller,
    segment: i64,
) -> Result<(Value, Value), ApiError> {
    let mut count = 0u64;
    let mut best: Option<EffortView> = None;
    for page in 1..=STATS_PAGES {
        let efforts =
            own_efforts(state, caller, segment, &HashMap::new(), page, STATS_PAGE).await?;
        let n = efforts.len();
        count += n as u64;
        for e in efforts {
            if best
                .as_ref()
                .is_none_or(|b| e.elapsed_time < b.elapsed_time)
            {
                best = Some(e);
            }
        }
        if n < STATS_PAGE as usize {
            break;
        }
    }
    let Some(best) = best else {
        return Ok((
            json!({"pr_elapsed_time": null, "pr_date": null, "effort_count": 0}),
            Value::Null,
        ));
    };
    let date = best.start_date.get(..10).unwrap_or_default().to_string();
    let stats = json!({
        "pr_elapsed_time": best.elapsed_time,
        "pr_date": date,
        "pr_activity_id": best.activity_id,
        "effort_count": count,
    });
    let pr = json!({
        "id": best.id,
        "activity_id": best.activity_id,
        "elapsed_time": best.elapsed_time,
        "distance": best.distance,
        "start_date": strava_time(&best.start_date),
        "start_date_local": strava_time(&best.start_date_local),
        "is_kom": best.kom_rank == Some(1),
        "pr_activity_id": best.activity_id,
        "pr_elapsed_time": best.elapsed_time,
        "pr_date": strava_time(&best.start_date),
        "effort_count": count,
    });
    Ok((stats, pr))
}

/// `GET /segments/{id}` (`read`): Strava's DetailedSegment with the
/// caller's stats and the star count.
async fn show(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    Ok(HttpResponse::Ok().json(detailed(&state, &caller, id.into_inner()).await?))
}

/// Strava's DetailedSegment for the caller.
async fn detailed(state: &AppState, caller: &V3Caller, id: i64) -> Result<Value, ApiError> {
    let view = shown(state, caller.athlete, id).await?;
    let star_count = state.store.star_count(SegmentId(id)).await?;
    let (stats, pr) = athlete_stats(state, caller, id).await?;
    let mut m = as_object(&view)?;
    // Pacer's own: the line with altitudes (the map's polyline has it).
    m.remove("points");
    m.remove("athlete_id");
    let created = strava_time(&view.created_at);
    let updated = strava_time(&view.updated_at);
    for (k, v) in [
        ("city", Value::Null),
        ("state", Value::Null),
        ("country", Value::Null),
        ("star_count", json!(star_count)),
        ("athlete_segment_stats", stats),
        ("athlete_pr_effort", pr),
        ("created_at", created),
        ("updated_at", updated),
        ("elevation_profile", Value::Null),
    ] {
        m.insert(k.into(), v);
    }
    Ok(Value::Object(m))
}

fn cat(p: &HashMap<String, String>, field: &'static str) -> Result<Option<u8>, ApiError> {
    match p.get(field).map(|s| s.trim()).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s
            .parse::<u8>()
            .ok()
            .filter(|c| *c <= 5)
            .map(Some)
            .ok_or_else(|| ApiError::invalid("Segment", [DomainError::invalid(field)])),
    }
}

/// `GET /segments/explore?bounds=&activity_type=&min_cat=&max_cat=`
/// (`read`): `{"segments": [ExplorerSegment…]}`, at most 10.
async fn explore(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let cats = CatRange {
        min: cat(&p, "min_cat")?,
        max: cat(&p, "max_cat")?,
    };
    // stravalib sends its bounds as a bracketed list.
    let bounds = p
        .get("bounds")
        .map(|b| b.trim_matches(|c| c == '[' || c == ']').to_string());
    let segments = explored(
        &state,
        caller.athlete,
        bounds.as_deref(),
        p.get("activity_type").map(String::as_str),
        cats,
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "segments": segments })))
}

/// `GET /segments/starred?page&per_page` (`read`): SummarySegments.
async fn starred(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let (page, per_page) = paging(&p)?;
    let views = starred_views(
        &state,
        caller.athlete,
        per_page,
        (page - 1).saturating_mul(per_page),
    )
    .await?;
    let out: Vec<Value> = views.iter().map(summary_segment).collect();
    Ok(HttpResponse::Ok().json(out))
}

/// `PUT /segments/{id}/starred` (`profile:write`, as Strava), `starred`
/// in the query, a form or JSON: the DetailedSegment.
async fn star(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::PROFILE_WRITE)?;
    let p = params(&req, &body)?;
    let Some(raw) = p.get("starred") else {
        return Err(ApiError::invalid(
            "Segment",
            [DomainError::missing("starred")],
        ));
    };
    let starred = parse_bool("starred", &raw.to_ascii_lowercase())?;
    let id = id.into_inner();
    set_star(&state, caller.athlete, id, starred).await?;
    Ok(HttpResponse::Ok().json(detailed(&state, &caller, id).await?))
}

/// The caller's efforts on a segment, `page`/`per_page` as Strava's.
async fn efforts_on(
    state: &AppState,
    caller: &V3Caller,
    segment: i64,
    p: &HashMap<String, String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let (page, per_page) = paging(p)?;
    let view = shown(state, caller.athlete, segment).await?;
    let summary = summary_segment(&view);
    let out = own_efforts(state, caller, segment, p, page, per_page)
        .await?
        .into_iter()
        .map(|e| effort_json(e, &summary))
        .collect::<Result<Vec<Value>, ApiError>>()?;
    Ok(HttpResponse::Ok().json(out))
}

/// `GET /segment_efforts?segment_id=&start_date_local=&end_date_local=
/// &page=&per_page=` (`read`; only_me efforts with `activity:read_all`):
/// the caller's efforts, by start time (as Strava: `athlete_id` is not
/// honoured).
async fn efforts(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let p = params(&req, &[])?;
    let Some(raw) = p.get("segment_id") else {
        return Err(ApiError::invalid(
            "SegmentEffort",
            [DomainError::missing("segment_id")],
        ));
    };
    let segment = raw
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid("SegmentEffort", [DomainError::invalid("segment_id")]))?;
    efforts_on(&state, &caller, segment, &p).await
}

/// `GET /segments/{id}/all_efforts` (strava-v3's and the old API's path
/// for the same list).
async fn all_efforts(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &[])?;
    efforts_on(&state, &caller, id.into_inner(), &p).await
}

/// `GET /segment_efforts/{id}` (`read`; an effort on an only_me activity
/// needs `activity:read_all`): DetailedSegmentEffort.
async fn effort(
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let (view, visibility) = visible_effort(&state, caller.athlete, id.into_inner()).await?;
    if visibility == Visibility::OnlyMe {
        caller.require(Scopes::ACTIVITY_READ_ALL)?;
    }
    let segment = shown(&state, caller.athlete, view.segment.id).await?;
    Ok(HttpResponse::Ok().json(effort_json(view, &summary_segment(&segment))?))
}

/// `GET /segments/{id}/leaderboard` (`read`; `mine=true`, which shows the
/// caller's only_me efforts, needs `activity:read_all`): Strava's former
/// leaderboard, every v1 filter (gender, age_group, weight_class,
/// date_range, following, club_id, mine, page, per_page,
/// context_entries), answered by the v1 handler.
async fn leaderboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: V3Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    caller.require(Scopes::READ)?;
    let mut p = params(&req, &[])?;
    // Python's and JavaScript's booleans, as the v1 filters spell them.
    for flag in ["following", "mine"] {
        if let Some(v) = p.get_mut(flag) {
            *v = parse_bool(flag, &v.to_ascii_lowercase())?.to_string();
        }
    }
    if p.get("mine").is_some_and(|v| v == "true") {
        caller.require(Scopes::ACTIVITY_READ_ALL)?;
    }
    let take = |k: &str| p.get(k).cloned();
    let raw = RawLeaderboardQuery {
        gender: take("gender"),
        age_group: take("age_group"),
        weight_class: take("weight_class"),
        date_range: take("date_range"),
        following: take("following"),
        club_id: take("club_id"),
        mine: take("mine"),
        page: take("page"),
        per_page: take("per_page"),
        context_entries: take("context_entries"),
    };
    crate::api::segment_leaderboard::show(state, caller.caller(), id, web::Query(raw)).await
}
