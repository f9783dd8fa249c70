//! Segments: create (from an activity's stretch or from points), show,
//! explore, star, rename and delete (creator only). Matching happens in
//! the change-log consumer (`changes::segment_matcher`), never here.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::activities::visible_activity;
use crate::api::privacy::Privacy;
use crate::api::views::rfc3339;
use crate::auth::Caller;
use crate::domain::segments::{parse_name, BBox, SegmentId, SegmentPoint, SegmentShape};
use crate::domain::{now_ms, ActivityId, AthleteId, DomainError, Sport};
use crate::error::{ApiError, Code};
use crate::state::AppState;
use crate::store::segments::{NewSegment, SegmentRow};

/// Largest `POST /segments` body: 10,000 points with altitudes, as JSON.
pub const BODY_LIMIT: usize = 1024 * 1024;
/// At most this many segments answer an explore (Strava's explorer).
pub const EXPLORE_LIMIT: u32 = 10;
const DEFAULT_PER_PAGE: u32 = 30;
const MAX_PER_PAGE: u32 = 200;

const CLIMB_DESC: [&str; 6] = ["NC", "4", "3", "2", "1", "HC"];

#[derive(Debug, Serialize)]
pub struct SegmentMap {
    pub id: String,
    pub polyline: String,
    pub resource_state: u8,
}

/// Strava's DetailedSegment shape.
#[derive(Debug, Serialize)]
pub struct SegmentView {
    pub id: i64,
    pub resource_state: u8,
    pub name: String,
    pub activity_type: Sport,
    pub distance: f64,
    pub average_grade: f64,
    pub maximum_grade: f64,
    pub elevation_high: Option<f64>,
    pub elevation_low: Option<f64>,
    pub total_elevation_gain: f64,
    pub start_latlng: [f64; 2],
    pub end_latlng: [f64; 2],
    pub climb_category: u8,
    pub private: bool,
    pub hazardous: bool,
    pub starred: bool,
    pub athlete_id: i64,
    pub map: SegmentMap,
    pub effort_count: i64,
    pub athlete_count: i64,
    pub created_at: String,
    pub updated_at: String,
    /// `[[lat, lng, alt|null], ...]`: the line with its altitudes, for the
    /// segment page's elevation profile.
    pub points: Vec<(f64, f64, Option<f32>)>,
}

fn polyline_of(points: &[SegmentPoint]) -> String {
    let line: geo::LineString<f64> = points.iter().map(|p| (p.lng, p.lat)).collect();
    polyline::encode_coordinates(line, 5).unwrap_or_default()
}

impl SegmentView {
    pub fn of(row: &SegmentRow, starred: bool) -> SegmentView {
        let points = row.shape.points();
        let stats = row.shape.stats();
        let first = points.first().map_or([0.0, 0.0], |p| [p.lat, p.lng]);
        let last = points.last().map_or([0.0, 0.0], |p| [p.lat, p.lng]);
        SegmentView {
            id: row.id.0,
            resource_state: 3,
            name: row.name.clone(),
            activity_type: row.sport,
            distance: stats.distance,
            average_grade: stats.average_grade,
            maximum_grade: stats.maximum_grade,
            elevation_high: stats.elevation_high,
            elevation_low: stats.elevation_low,
            total_elevation_gain: stats.total_elevation_gain,
            start_latlng: first,
            end_latlng: last,
            climb_category: stats.climb_category,
            private: false,
            hazardous: false,
            starred,
            athlete_id: row.athlete_id.0,
            map: SegmentMap {
                id: format!("s{}", row.id.0),
                polyline: polyline_of(points),
                resource_state: 3,
            },
            effort_count: row.effort_count,
            athlete_count: row.athlete_count,
            created_at: rfc3339(row.created_ms),
            updated_at: rfc3339(row.updated_ms),
            points: points.iter().map(|p| (p.lat, p.lng, p.alt)).collect(),
        }
    }
}

/// Strava's explorer entry.
#[derive(Debug, Serialize)]
pub struct ExplorerSegment {
    pub id: i64,
    pub resource_state: u8,
    pub name: String,
    pub climb_category: u8,
    pub climb_category_desc: &'static str,
    pub avg_grade: f64,
    pub start_latlng: [f64; 2],
    pub end_latlng: [f64; 2],
    pub elev_difference: f64,
    pub distance: f64,
    pub points: String,
    pub starred: bool,
    pub effort_count: i64,
    pub athlete_count: i64,
}

pub fn segment_not_found() -> ApiError {
    ApiError::with(Code::SegmentNotFound, "Segment", "id", "not_found")
}

fn not_creator() -> ApiError {
    ApiError::with(Code::NotSegmentCreator, "Segment", "athlete", "not_creator")
}

/// A shape error as its specific code.
fn shape_error(e: DomainError) -> ApiError {
    let code = match e.code {
        "too_short" => Code::SegmentTooShort,
        "too_long" => Code::SegmentTooLong,
        _ => Code::SegmentPointsInvalid,
    };
    ApiError::with(code, "Segment", e.field, e.code)
}

async fn load(state: &AppState, id: i64) -> Result<SegmentRow, ApiError> {
    state
        .store
        .segment(SegmentId(id))
        .await?
        .ok_or_else(segment_not_found)
}

async fn owned(state: &AppState, caller: &Caller, id: i64) -> Result<SegmentRow, ApiError> {
    let row = load(state, id).await?;
    if row.athlete_id != caller.id {
        return Err(not_creator());
    }
    Ok(row)
}

#[derive(Deserialize)]
pub struct CreateSegment {
    name: Option<String>,
    activity_id: Option<i64>,
    start_index: Option<i64>,
    end_index: Option<i64>,
    activity_type: Option<String>,
    points: Option<Vec<Vec<f64>>>,
}

/// The points a body names: `[[lat, lng(, alt)], ...]`.
fn parse_points(raw: &[Vec<f64>]) -> Result<Vec<SegmentPoint>, ApiError> {
    if raw.len() > crate::domain::segments::MAX_POINTS {
        return Err(shape_error(DomainError::new("points", "too_many")));
    }
    raw.iter()
        .map(|p| match p.as_slice() {
            [lat, lng] => Ok(SegmentPoint::new(*lat, *lng, None)),
            [lat, lng, alt] => Ok(SegmentPoint::new(*lat, *lng, Some(*alt as f32))),
            _ => Err(shape_error(DomainError::new("points", "invalid"))),
        })
        .collect()
}

/// `POST /api/v1/segments`.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<CreateSegment>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = parse_name(body.name.as_deref()).map_err(|e| ApiError::invalid("Segment", [e]))?;
    let (sport, points) = match (body.activity_id, &body.points) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "Segment",
                [DomainError::new("points", "with_activity_id")],
            ))
        }
        (Some(activity), None) => from_activity(&state, &caller, &body, activity).await?,
        (None, Some(raw)) => {
            let sport = match body.activity_type.as_deref() {
                Some(s) => Sport::parse(s).map_err(|_| {
                    ApiError::invalid("Segment", [DomainError::invalid("activity_type")])
                })?,
                None => {
                    return Err(ApiError::invalid(
                        "Segment",
                        [DomainError::missing("activity_type")],
                    ))
                }
            };
            (sport, parse_points(raw)?)
        }
        (None, None) => {
            return Err(ApiError::invalid(
                "Segment",
                [DomainError::missing("points")],
            ));
        }
    };
    let shape = SegmentShape::new(points).map_err(shape_error)?;
    let row = state
        .store
        .create_segment(&NewSegment {
            athlete_id: caller.id,
            name,
            sport,
            shape,
            now_ms: now_ms(),
        })
        .await?;
    state.changes.segments.added(&row);
    Ok(HttpResponse::Created().json(SegmentView::of(&row, false)))
}

/// The stretch `[start_index, end_index]` of an activity's `latlng`
/// stream as the caller sees it (hidden points are not in it).
async fn from_activity(
    state: &AppState,
    caller: &Caller,
    body: &CreateSegment,
    activity: i64,
) -> Result<(Sport, Vec<SegmentPoint>), ApiError> {
    let (Some(start), Some(end)) = (body.start_index, body.end_index) else {
        let field = if body.start_index.is_none() {
            "start_index"
        } else {
            "end_index"
        };
        return Err(ApiError::invalid("Segment", [DomainError::missing(field)]));
    };
    let (row, relation) = visible_activity(state, caller, ActivityId(activity)).await?;
    let privacy = Privacy::for_relation(state, relation, AthleteId(row.athlete_id)).await?;
    let fixes = privacy.fixes(state.store.route(ActivityId(activity)).await?);
    let in_range = |i: i64| usize::try_from(i).ok().filter(|&i| i < fixes.len());
    let (Some(from), Some(to)) = (in_range(start), in_range(end)) else {
        return Err(ApiError::with(
            Code::SegmentIndexOutOfRange,
            "Segment",
            if in_range(start).is_none() {
                "start_index"
            } else {
                "end_index"
            },
            "out_of_range",
        ));
    };
    if from >= to {
        return Err(ApiError::with(
            Code::SegmentIndexOutOfRange,
            "Segment",
            "end_index",
            "not_after_start",
        ));
    }
    let points = fixes[from..=to]
        .iter()
        .map(|f| SegmentPoint::new(f.lat, f.lng, f.alt))
        .collect();
    Ok((row.sport_type, points))
}

/// The segment as `caller` sees it (with their star).
pub async fn shown(state: &AppState, caller: AthleteId, id: i64) -> Result<SegmentView, ApiError> {
    let row = load(state, id).await?;
    let starred = state.store.is_starred(caller, row.id).await?;
    Ok(SegmentView::of(&row, starred))
}

/// `GET /api/v1/segments/{id}`.
pub async fn show(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(shown(&state, caller.id, id.into_inner()).await?))
}

#[derive(Deserialize)]
pub struct ExploreQuery {
    bounds: Option<String>,
    activity_type: Option<String>,
}

/// `sw_lat,sw_lng,ne_lat,ne_lng`.
fn parse_bounds(raw: Option<&str>) -> Result<BBox, ApiError> {
    let bad = || ApiError::invalid("Segment", [DomainError::invalid("bounds")]);
    let raw = raw.ok_or_else(|| ApiError::invalid("Segment", [DomainError::missing("bounds")]))?;
    let v: Vec<f64> = raw
        .split(',')
        .map(|s| s.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| bad())?;
    let [sw_lat, sw_lng, ne_lat, ne_lng] = v.as_slice() else {
        return Err(bad());
    };
    let lat_ok = |l: &f64| l.is_finite() && (-90.0..=90.0).contains(l);
    let lng_ok = |l: &f64| l.is_finite() && (-180.0..=180.0).contains(l);
    if !(lat_ok(sw_lat) && lat_ok(ne_lat) && lng_ok(sw_lng) && lng_ok(ne_lng)) || sw_lat > ne_lat {
        return Err(bad());
    }
    Ok(BBox {
        min_lat: *sw_lat,
        min_lng: *sw_lng,
        max_lat: *ne_lat,
        max_lng: *ne_lng,
    })
}

/// Climb categories to keep (`min_cat`, `max_cat`, 0 to 5).
#[derive(Debug, Clone, Copy, Default)]
pub struct CatRange {
    pub min: Option<u8>,
    pub max: Option<u8>,
}

/// At most 10 segments starting in the box, the most popular first, in
/// the climb categories asked for.
pub async fn explored(
    state: &AppState,
    caller: AthleteId,
    bounds: Option<&str>,
    activity_type: Option<&str>,
    cats: CatRange,
) -> Result<Vec<ExplorerSegment>, ApiError> {
    let bounds = parse_bounds(bounds)?;
    let sport = match activity_type {
        None | Some("riding") => Sport::Ride,
        Some("running") => Sport::Run,
        Some(_) => {
            return Err(ApiError::invalid(
                "Segment",
                [DomainError::invalid("activity_type")],
            ))
        }
    };
    let filtered = cats.min.is_some() || cats.max.is_some();
    // With a category filter, look further and keep the first 10 that pass.
    let looked_at = if filtered {
        EXPLORE_LIMIT * 10
    } else {
        EXPLORE_LIMIT
    };
    let rows = state
        .store
        .explore_segments(&bounds, sport, looked_at)
        .await?;
    let mut segments = Vec::with_capacity(rows.len());
    for row in &rows {
        let stats = row.shape.stats();
        if cats.min.is_some_and(|m| stats.climb_category < m)
            || cats.max.is_some_and(|m| stats.climb_category > m)
        {
            continue;
        }
        if segments.len() == EXPLORE_LIMIT as usize {
            break;
        }
        let points = row.shape.points();
        let elev = match (
            points.first().and_then(|p| p.alt),
            points.last().and_then(|p| p.alt),
        ) {
            (Some(a), Some(b)) => f64::from(b - a),
            _ => 0.0,
        };
        segments.push(ExplorerSegment {
            id: row.id.0,
            resource_state: 2,
            name: row.name.clone(),
            climb_category: stats.climb_category,
            climb_category_desc: CLIMB_DESC[usize::from(stats.climb_category.min(5))],
            avg_grade: stats.average_grade,
            start_latlng: points.first().map_or([0.0, 0.0], |p| [p.lat, p.lng]),
            end_latlng: points.last().map_or([0.0, 0.0], |p| [p.lat, p.lng]),
            elev_difference: elev,
            distance: stats.distance,
            points: polyline_of(points),
            starred: state.store.is_starred(caller, row.id).await?,
            effort_count: row.effort_count,
            athlete_count: row.athlete_count,
        });
    }
    Ok(segments)
}

/// `GET /api/v1/segments/explore?bounds=&activity_type=riding|running`:
/// at most 10 segments starting in the box, the most popular first.
pub async fn explore(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ExploreQuery>,
) -> Result<HttpResponse, ApiError> {
    let segments = explored(
        &state,
        caller.id,
        query.bounds.as_deref(),
        query.activity_type.as_deref(),
        CatRange::default(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(serde_json::json!({ "segments": segments })))
}

#[derive(Deserialize)]
pub struct StarBody {
    starred: Option<Value>,
}

/// `PUT /api/v1/segments/{id}/starred {"starred": true|false}`.
pub async fn star(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<StarBody>,
) -> Result<HttpResponse, ApiError> {
    let starred = match &body.starred {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) if s == "true" => true,
        Some(Value::String(s)) if s == "false" => false,
        Some(_) => {
            return Err(ApiError::invalid(
                "Segment",
                [DomainError::invalid("starred")],
            ))
        }
        None => {
            return Err(ApiError::invalid(
                "Segment",
                [DomainError::missing("starred")],
            ))
        }
    };
    Ok(HttpResponse::Ok().json(set_star(&state, caller.id, id.into_inner(), starred).await?))
}

/// Stars or unstars the segment for `caller`; answers it.
pub async fn set_star(
    state: &AppState,
    caller: AthleteId,
    id: i64,
    starred: bool,
) -> Result<SegmentView, ApiError> {
    let id = SegmentId(id);
    if !state
        .store
        .star_segment(caller, id, starred, now_ms())
        .await?
    {
        return Err(segment_not_found());
    }
    let row = load(state, id.0).await?;
    Ok(SegmentView::of(&row, starred))
}

#[derive(Deserialize)]
pub struct PageQuery {
    page: Option<String>,
    per_page: Option<String>,
}

/// `page` (from 1) and `per_page` (1 to 200) as limit and offset.
pub fn parse_page(page: Option<&str>, per_page: Option<&str>) -> Result<(u32, u32), ApiError> {
    let number = |raw: Option<&str>, field: &'static str, default: u32, max: u32| match raw {
        None => Ok(default),
        Some(s) => s
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| ApiError::bad_request("Segment", field, "invalid")),
    };
    let page = number(page, "page", 1, 100_000)?;
    let per_page = number(per_page, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    Ok((per_page, (page - 1) * per_page))
}

/// `GET /api/v1/segments/starred`: the caller's starred segments.
pub async fn starred(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (limit, offset) = parse_page(query.page.as_deref(), query.per_page.as_deref())?;
    Ok(HttpResponse::Ok().json(starred_views(&state, caller.id, limit, offset).await?))
}

/// The athlete's starred segments, latest star first.
pub async fn starred_views(
    state: &AppState,
    athlete: AthleteId,
    limit: u32,
    offset: u32,
) -> Result<Vec<SegmentView>, ApiError> {
    let rows = state.store.starred_segments(athlete, limit, offset).await?;
    Ok(rows.iter().map(|r| SegmentView::of(r, true)).collect())
}

#[derive(Deserialize)]
pub struct UpdateSegment {
    name: Option<String>,
}

/// `PUT /api/v1/segments/{id} {"name"}`: the creator renames it.
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<UpdateSegment>,
) -> Result<HttpResponse, ApiError> {
    let name = parse_name(body.name.as_deref()).map_err(|e| ApiError::invalid("Segment", [e]))?;
    let row = owned(&state, &caller, id.into_inner()).await?;
    let row = state
        .store
        .rename_segment(row.id, &name, now_ms())
        .await?
        .ok_or_else(segment_not_found)?;
    let starred = state.store.is_starred(caller.id, row.id).await?;
    Ok(HttpResponse::Ok().json(SegmentView::of(&row, starred)))
}

/// `DELETE /api/v1/segments/{id}`: the creator deletes it with its
/// efforts (their leaderboard slots are queued in the same transaction).
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let row = owned(&state, &caller, id.into_inner()).await?;
    if !state.store.delete_segment(row.id, now_ms()).await? {
        return Err(segment_not_found());
    }
    state.changes.segments.removed(row.id);
    Ok(HttpResponse::NoContent().finish())
}
