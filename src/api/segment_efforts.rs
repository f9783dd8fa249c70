//! Segment efforts: one, a segment's list, and an activity's (in its
//! detailed form). An effort shows only to who may see its activity.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::api::activities::relation;
use crate::api::segments::parse_page;
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::domain::activity::Visibility;
use crate::domain::segments::{EffortId, SegmentId};
use crate::domain::{ActivityId, AthleteId, DomainError};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::store::segments::{EffortQuery, EffortRow};

/// Strava shows PR ranks 1 to 3 only.
const SHOWN_PR_RANKS: i64 = 3;

#[derive(Debug, Clone, Serialize)]
pub struct Ref {
    pub id: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SegmentRef {
    pub id: i64,
    pub name: String,
    pub distance: f64,
}

/// Strava's DetailedSegmentEffort (times in seconds).
#[derive(Debug, Clone, Serialize)]
pub struct EffortView {
    pub id: i64,
    pub resource_state: u8,
    pub name: String,
    pub segment: SegmentRef,
    pub activity: Ref,
    pub athlete: Ref,
    pub athlete_id: i64,
    pub activity_id: i64,
    pub elapsed_time: i64,
    pub moving_time: i64,
    pub start_date: String,
    pub start_date_local: String,
    pub start_index: Option<i64>,
    pub end_index: Option<i64>,
    pub distance: Option<f64>,
    pub pr_rank: Option<i64>,
    /// The rank on the segment's overall board (the leaderboards fill it).
    pub kom_rank: Option<i64>,
    pub hidden: bool,
}

fn seconds(ms: i64) -> i64 {
    (ms + 500).div_euclid(1_000)
}

impl EffortView {
    pub fn of(row: EffortRow) -> EffortView {
        EffortView {
            id: row.id.0,
            resource_state: 3,
            name: row.segment_name.clone(),
            segment: SegmentRef {
                id: row.segment_id.0,
                name: row.segment_name,
                distance: row.segment_distance,
            },
            activity: Ref {
                id: row.activity_id.0,
            },
            athlete: Ref {
                id: row.athlete_id.0,
            },
            athlete_id: row.athlete_id.0,
            activity_id: row.activity_id.0,
            elapsed_time: seconds(row.elapsed_ms),
            moving_time: seconds(row.moving_ms),
            start_date: rfc3339(row.start_ms),
            // No time zone is recorded: local time is UTC.
            start_date_local: rfc3339(row.start_ms),
            start_index: row.start_index,
            end_index: row.end_index,
            distance: row.distance,
            pr_rank: Some(row.pr_rank).filter(|&r| r <= SHOWN_PR_RANKS),
            kom_rank: None,
            hidden: false,
        }
    }
}

fn effort_not_found() -> ApiError {
    ApiError::with(
        Code::SegmentEffortNotFound,
        "SegmentEffort",
        "id",
        "not_found",
    )
}

/// An activity's efforts (the caller may see the activity).
pub async fn of_activity(state: &AppState, id: ActivityId) -> Result<Vec<EffortView>, ApiError> {
    Ok(state
        .store
        .activity_efforts(id)
        .await?
        .into_iter()
        .map(|r| EffortView::of(r).ranked(&state.segment_boards))
        .collect())
}

/// An effort the caller may see (who may see its activity), with its
/// activity's visibility.
pub async fn visible_effort(
    state: &AppState,
    caller: AthleteId,
    id: i64,
) -> Result<(EffortView, Visibility), ApiError> {
    let row = state
        .store
        .effort(EffortId(id))
        .await?
        .ok_or_else(effort_not_found)?;
    let rel = relation(state, caller, row.athlete_id).await?;
    if !row.visibility.allows(rel) {
        return Err(effort_not_found());
    }
    let visibility = row.visibility;
    Ok((
        EffortView::of(row).ranked(&state.segment_boards),
        visibility,
    ))
}

/// `GET /api/v1/segment_efforts/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let (view, _) = visible_effort(&state, caller.id, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view))
}

#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub segment_id: Option<String>,
    /// Absent: the caller's own efforts (Strava's rule).
    pub athlete_id: Option<String>,
    pub start_date_local: Option<String>,
    pub end_date_local: Option<String>,
    pub page: Option<String>,
    pub per_page: Option<String>,
}

fn id_param(raw: &str, field: &'static str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| ApiError::bad_request("SegmentEffort", field, "invalid"))
}

/// An ISO 8601 date-time (with or without zone, taken as UTC) or a date.
fn date_param(raw: &str, field: &'static str) -> Result<i64, ApiError> {
    let bad = || ApiError::bad_request("SegmentEffort", field, "invalid");
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(raw) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(t) = chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S") {
        return Ok(t.and_utc().timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis())
            .ok_or_else(bad);
    }
    Err(bad())
}

/// `GET /api/v1/segment_efforts?segment_id=&athlete_id=&start_date_local=
/// &end_date_local=&page=&per_page=`: a segment's efforts the caller may
/// see, by start time; without `athlete_id`, the caller's own (as Strava).
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(list_for(&state, caller.id, &query, true).await?))
}

/// A segment's efforts by start time, of `athlete_id` (the caller's own
/// when absent), as the caller may see them; only_me ones only with
/// `include_only_me`.
pub async fn list_for(
    state: &AppState,
    caller: AthleteId,
    query: &ListQuery,
    include_only_me: bool,
) -> Result<Vec<EffortView>, ApiError> {
    let Some(segment) = query.segment_id.as_deref() else {
        return Err(ApiError::invalid(
            "SegmentEffort",
            [DomainError::missing("segment_id")],
        ));
    };
    let segment = SegmentId(id_param(segment, "segment_id")?);
    let athlete = match query.athlete_id.as_deref() {
        Some(a) => AthleteId(id_param(a, "athlete_id")?),
        None => caller,
    };
    let from_ms = query
        .start_date_local
        .as_deref()
        .map(|d| date_param(d, "start_date_local"))
        .transpose()?;
    let to_ms = query
        .end_date_local
        .as_deref()
        .map(|d| date_param(d, "end_date_local"))
        .transpose()?;
    if let (Some(a), Some(b)) = (from_ms, to_ms) {
        if a > b {
            return Err(ApiError::bad_request(
                "SegmentEffort",
                "end_date_local",
                "before_start",
            ));
        }
    }
    let (limit, offset) = parse_page(query.page.as_deref(), query.per_page.as_deref())?;
    if state.store.segment(segment).await?.is_none() {
        return Err(crate::api::segments::segment_not_found());
    }
    let rows = state
        .store
        .efforts(&EffortQuery {
            viewer: caller,
            segment_id: segment,
            athlete_id: Some(athlete),
            from_ms,
            to_ms,
            include_only_me,
            limit,
            offset,
        })
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| EffortView::of(r).ranked(&state.segment_boards))
        .collect())
}
