//! An activity's route out of Pacer: GPX 1.1, GeoJSON and Strava-style
//! streams. Same visibility as the activity (404). While an activity is
//! recorded the live actor's route is used, else the checkpointed one.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::api::activities::visible_activity;
use crate::auth::Caller;
use crate::domain::activity::{ActivityState, StatusLog};
use crate::domain::stats::series;
use crate::domain::{ActivityId, Fix, Sport};
use crate::error::ApiError;
use crate::formats;
use crate::live::hub::ask;
use crate::live::watch::GetRoute;
use crate::startup::AppState;
use crate::store::ActivityRow;

/// The stream types served, Strava's names.
pub const STREAM_KEYS: [&str; 9] = [
    "latlng",
    "time",
    "distance",
    "altitude",
    "velocity_smooth",
    "heartrate",
    "cadence",
    "watts",
    "moving",
];

struct Route {
    row: ActivityRow,
    sport: Sport,
    fixes: Vec<Fix>,
    pauses: Vec<(i64, i64)>,
}

async fn route(state: &AppState, caller: &Caller, id: i64) -> Result<Route, ApiError> {
    let id = ActivityId(id);
    let (row, _) = visible_activity(state, caller, id).await?;
    let sport = Sport::parse(&row.sport_type).map_err(ApiError::internal)?;
    if row.state != ActivityState::Complete.as_str() {
        if let Some(addr) = state.live.get(id) {
            if let Ok(live) = ask(&addr, |reply| GetRoute { reply }).await {
                return Ok(Route {
                    row,
                    sport,
                    fixes: live.route,
                    pauses: live.pauses,
                });
            }
        }
    }
    let entries = serde_json::from_str(&row.status_log).map_err(ApiError::internal)?;
    let log = StatusLog::from_entries(entries).map_err(ApiError::internal)?;
    let fixes = state.store.route(id).await?;
    Ok(Route {
        row,
        sport,
        fixes,
        pauses: log.pauses(),
    })
}

/// `GET /api/v1/activities/{id}/export.gpx`: GPX 1.1 with times and
/// elevation; a new segment after each pause.
pub async fn gpx(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = route(&state, &caller, id.into_inner()).await?;
    let id = r.row.id;
    let body = web::block(move || {
        formats::to_gpx_with_pauses(Some(&r.row.name), Some(r.sport), &r.fixes, &r.pauses)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/gpx+xml")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"activity-{id}.gpx\""),
        ))
        .body(body))
}

/// `GET /api/v1/activities/{id}/route.geojson`: an RFC 7946 Feature whose
/// geometry is the route as a LineString.
pub async fn geojson(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = route(&state, &caller, id.into_inner()).await?;
    let mut feature = formats::to_geojson(Some(&r.row.name), Some(r.sport), &r.fixes);
    if let Some(props) = feature.get_mut("properties").and_then(Value::as_object_mut) {
        props.insert("activity_id".into(), json!(r.row.id));
    }
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .json(feature))
}

#[derive(Deserialize)]
pub struct StreamsQuery {
    keys: Option<String>,
}

fn stream(data: Value, n: usize) -> Value {
    json!({"data": data, "series_type": "distance", "original_size": n, "resolution": "high"})
}

/// A stream of an optional per-fix value: omitted when no fix has one,
/// `null` where a fix lacks it.
fn optional<T: serde::Serialize>(fixes: &[Fix], get: impl Fn(&Fix) -> Option<T>) -> Option<Value> {
    if !fixes.iter().any(|f| get(f).is_some()) {
        return None;
    }
    Some(json!(fixes.iter().map(&get).collect::<Vec<_>>()))
}

/// Rounds to centimetres or centi-metres-per-second: streams are for charts.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `GET /api/v1/activities/{id}/streams?keys=latlng,time,...`: a Strava
/// StreamSet keyed by type. Without `keys`, every type. Distance, moving
/// and velocity come from the same code as the activity's stats.
pub async fn streams(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<StreamsQuery>,
) -> Result<HttpResponse, ApiError> {
    let keys: Vec<String> = match query.keys.as_deref() {
        Some(k) => k
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => STREAM_KEYS.iter().map(|s| s.to_string()).collect(),
    };
    if let Some(bad) = keys.iter().find(|k| !STREAM_KEYS.contains(&k.as_str())) {
        tracing::debug!(key = %bad, "unknown stream type");
        return Err(ApiError::bad_request("Stream", "keys", "invalid"));
    }
    let r = route(&state, &caller, id.into_inner()).await?;
    let body = web::block(move || stream_set(&r, &keys))
        .await
        .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().json(body))
}

fn stream_set(r: &Route, keys: &[String]) -> Value {
    let fixes = &r.fixes;
    let n = fixes.len();
    let needs_series = keys
        .iter()
        .any(|k| matches!(k.as_str(), "distance" | "moving" | "velocity_smooth"));
    let s = needs_series.then(|| series(r.sport, fixes, &r.pauses));
    let start = r.row.start_ms;
    let mut out = Map::new();
    for key in keys {
        let data = match (key.as_str(), &s) {
            ("latlng", _) => Some(json!(fixes
                .iter()
                .map(|f| [f.lat, f.lng])
                .collect::<Vec<_>>())),
            ("time", _) => Some(json!(fixes
                .iter()
                .map(|f| (f.t_ms - start).div_euclid(1000))
                .collect::<Vec<_>>())),
            ("distance", Some(s)) => Some(json!(s
                .distance
                .iter()
                .map(|d| round2(*d))
                .collect::<Vec<_>>())),
            ("velocity_smooth", Some(s)) => Some(json!(s
                .velocity_smooth
                .iter()
                .map(|v| round2(*v))
                .collect::<Vec<_>>())),
            ("moving", Some(s)) => Some(json!(s.moving)),
            ("altitude", _) => optional(fixes, |f| f.alt.map(|a| round2(f64::from(a)))),
            ("heartrate", _) => optional(fixes, |f| f.heartrate),
            ("cadence", _) => optional(fixes, |f| f.cadence),
            ("watts", _) => optional(fixes, |f| f.power),
            _ => None,
        };
        if let Some(data) = data {
            out.insert(key.clone(), stream(data, n));
        }
    }
    Value::Object(out)
}
