//! An activity's route out of Pacer: GPX 1.1, GeoJSON and Strava-style
//! streams. Same visibility as the activity (404). While an activity is
//! recorded the live actor's route is used, else the checkpointed one.
//!
//! Routes can be long (a 300,000-point ride), so every answer is written
//! piece by piece as the client reads them, never built whole, and
//! at most `PACER_HEAVY_RESPONSES` long routes are served at once (more get
//! 503 + Retry-After).

use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::api::activities::visible_activity;
use crate::api::privacy::Privacy;
use crate::auth::Caller;
use crate::domain::activity::ActivityState;
use crate::domain::activity::StatusLog;
use crate::domain::stats::{series, Series};
use crate::domain::{ActivityId, AthleteId, Fix, Sport};
use crate::error::ApiError;
use crate::formats;
use crate::live::hub::ask;
use crate::live::watch::GetRoute;
use crate::state::AppState;
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

/// A route longer than this is a heavy response.
pub const HEAVY_POINTS: i64 = 20_000;
/// Points written per piece of a streamed answer.
const POINTS_PER_PIECE: usize = 4_096;

/// The semaphore bounding heavy responses (one per server):
/// `PACER_HEAVY_RESPONSES` at once.
pub fn heavy_responses(permits: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new(permits.max(1)))
}

struct Route {
    row: ActivityRow,
    sport: Sport,
    fixes: Vec<Fix>,
    /// When the timer was off (`StatusLog::timer_off`).
    pauses: Vec<(i64, i64)>,
    /// The status log, when the stored one is current (not while the
    /// activity is recorded live).
    log: Option<StatusLog>,
    /// Held while a long route is being answered.
    _permit: Option<OwnedSemaphorePermit>,
}

async fn route(state: &AppState, caller: &Caller, id: i64) -> Result<Route, ApiError> {
    let id = ActivityId(id);
    let (row, relation) = visible_activity(state, caller, id).await?;
    // Every representation below is built from `fixes`: for anyone but
    // the owner, without the points in the owner's privacy zones.
    let privacy = Privacy::for_relation(state, relation, AthleteId(row.athlete_id)).await?;
    let permit = if row.totals.point_count > HEAVY_POINTS {
        let permit = state
            .heavy_responses
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::unavailable(1))?;
        Some(permit)
    } else {
        None
    };
    let sport = row.sport_type;
    if row.state != ActivityState::Complete {
        if let Some(addr) = state.live.get(id) {
            if let Ok(live) = ask(&addr, |reply| GetRoute { reply }).await {
                return Ok(Route {
                    row,
                    sport,
                    fixes: privacy.fixes(live.route),
                    pauses: live.pauses,
                    log: None,
                    _permit: permit,
                });
            }
        }
    }
    let fixes = privacy.fixes(state.store.route(id).await?);
    Ok(Route {
        pauses: row.status_log.timer_off(),
        log: Some(row.status_log.clone()),
        row,
        sport,
        fixes,
        _permit: permit,
    })
}

impl Route {
    /// The activity's start: it is never after the first fix.
    fn start_ms(&self) -> i64 {
        let first = self.fixes.first().map_or(i64::MAX, |f| f.t_ms);
        self.row.start_ms.min(first)
    }
}

/// A body written piece by piece: `next` answers the next piece, or None
/// at the end. `hold` (the route and its permit) lives until the end.
fn pieces<H: 'static>(
    hold: H,
    mut next: impl FnMut(&H) -> Option<Vec<u8>> + 'static,
) -> impl futures_util::Stream<Item = Result<Bytes, actix_web::Error>> {
    futures_util::stream::unfold(hold, move |hold| {
        let piece = next(&hold);
        async move { piece.map(|p| (Ok(Bytes::from(p)), hold)) }
    })
}

/// `GET /api/v1/activities/{id}/export.gpx`: GPX 1.1 with times and
/// elevation; a new segment after each pause. Streamed.
pub async fn gpx(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = route(&state, &caller, id.into_inner()).await?;
    let id = r.row.id;
    let timer = formats::GpxTimer {
        start_ms: r.start_ms(),
        end_ms: r.log.as_ref().and_then(StatusLog::completed_ms),
        pauses: r
            .log
            .as_ref()
            .map_or_else(|| r.pauses.clone(), StatusLog::pauses),
    };
    let mut writer = formats::GpxWriter::new(
        Some(&r.row.name),
        Some(r.sport),
        r.pauses.clone(),
        POINTS_PER_PIECE,
    )
    .with_timer(timer);
    // A failure mid-stream ends the body early (the status is sent by then).
    let body = pieces(r, move |r| match writer.next_piece(&r.fixes) {
        Ok(piece) => piece,
        Err(e) => {
            tracing::error!(error = %e, "GPX export failed");
            None
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/gpx+xml")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"activity-{id}.gpx\""),
        ))
        .streaming(body))
}

/// `GET /api/v1/activities/{id}/route.geojson`: an RFC 7946 Feature whose
/// geometry is the route as a LineString, streamed.
pub async fn geojson(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let r = route(&state, &caller, id.into_inner()).await?;
    let mut extra = serde_json::Map::new();
    extra.insert("activity_id".into(), json!(r.row.id));
    let mut writer =
        formats::GeoJsonWriter::new(Some(&r.row.name), Some(r.sport), extra, POINTS_PER_PIECE);
    Ok(HttpResponse::Ok()
        .content_type("application/geo+json")
        .streaming(pieces(r, move |r| writer.next_piece(&r.fixes))))
}

#[derive(Deserialize)]
pub struct StreamsQuery {
    keys: Option<String>,
}

/// Rounds to centimetres or centi-metres-per-second: streams are for charts.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// `GET /api/v1/activities/{id}/streams?keys=latlng,time,...`: a Strava
/// StreamSet keyed by type. Without `keys`, every type. Distance, moving
/// and velocity come from the same code as the activity's stats. Written
/// piece by piece.
pub async fn streams(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    query: web::Query<StreamsQuery>,
) -> Result<HttpResponse, ApiError> {
    stream_set(&state, &caller, id.into_inner(), query.keys.as_deref()).await
}

/// The StreamSet response (v1, and v3 keyed by type) for `keys` (a
/// comma-separated list; None for every type).
pub async fn stream_set(
    state: &AppState,
    caller: &Caller,
    id: i64,
    keys_wanted: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let mut keys: Vec<String> = Vec::new();
    let wanted: Vec<String> = match keys_wanted {
        Some(k) => k
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => STREAM_KEYS.iter().map(|s| s.to_string()).collect(),
    };
    for k in wanted {
        if !STREAM_KEYS.contains(&k.as_str()) {
            tracing::debug!(key = %k, "unknown stream type");
            return Err(ApiError::bad_request("Stream", "keys", "invalid"));
        }
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let r = route(state, caller, id).await?;
    let needs_series = keys
        .iter()
        .any(|k| matches!(k.as_str(), "distance" | "moving" | "velocity_smooth"));
    let set = web::block(move || {
        let series = needs_series.then(|| series(r.sport, &r.fixes, &r.pauses));
        // Optional streams are left out when no fix has the value.
        let keys: Vec<String> = keys
            .into_iter()
            .filter(|k| match k.as_str() {
                "altitude" => r.fixes.iter().any(|f| f.alt.is_some()),
                "heartrate" => r.fixes.iter().any(|f| f.heartrate.is_some()),
                "cadence" => r.fixes.iter().any(|f| f.cadence.is_some()),
                "watts" => r.fixes.iter().any(|f| f.power.is_some()),
                _ => true,
            })
            .collect();
        StreamSet {
            start_ms: r.start_ms(),
            r,
            series,
            keys,
            key: 0,
            at: 0,
            opened: false,
        }
    })
    .await
    .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .streaming(pieces(std::cell::RefCell::new(set), |set| {
            set.borrow_mut().next_piece()
        })))
}

/// A StreamSet, written a key and `POINTS_PER_PIECE` values at a time.
struct StreamSet {
    r: Route,
    start_ms: i64,
    series: Option<Series>,
    keys: Vec<String>,
    key: usize,
    at: usize,
    opened: bool,
}

impl StreamSet {
    fn next_piece(&mut self) -> Option<Vec<u8>> {
        let n = self.r.fixes.len();
        let mut out = Vec::with_capacity(64 * 1024);
        if !self.opened {
            self.opened = true;
            out.push(b'{');
        }
        let Some(key) = self.keys.get(self.key) else {
            if self.key == self.keys.len() {
                self.key += 1;
                out.push(b'}');
                return Some(out);
            }
            return None;
        };
        if self.at == 0 {
            if self.key > 0 {
                out.push(b',');
            }
            let _ = serde_json::to_writer(&mut out, key);
            out.extend_from_slice(b":{\"data\":[");
        }
        let end = (self.at + POINTS_PER_PIECE).min(n);
        for i in self.at..end {
            if i > 0 {
                out.push(b',');
            }
            self.value(key, i, &mut out);
        }
        self.at = end;
        if end == n {
            let tail = json!({"series_type": "distance", "original_size": n, "resolution": "high"});
            out.extend_from_slice(b"],");
            let tail = tail.to_string();
            // `{"original_size":…}` without its braces, after the data.
            out.extend_from_slice(&tail.as_bytes()[1..]);
            self.key += 1;
            self.at = 0;
        }
        Some(out)
    }

    fn value(&self, key: &str, i: usize, out: &mut Vec<u8>) {
        let f = &self.r.fixes[i];
        let s = self.series.as_ref();
        let _ = match key {
            "latlng" => serde_json::to_writer(&mut *out, &[f.lat, f.lng]),
            "time" => serde_json::to_writer(
                &mut *out,
                &(f.t_ms.div_euclid(1000) - self.start_ms.div_euclid(1000)),
            ),
            "distance" => serde_json::to_writer(&mut *out, &s.map(|s| round2(s.distance[i]))),
            "velocity_smooth" => {
                serde_json::to_writer(&mut *out, &s.map(|s| round2(s.velocity_smooth[i])))
            }
            "moving" => serde_json::to_writer(&mut *out, &s.map(|s| s.moving[i])),
            "altitude" => serde_json::to_writer(&mut *out, &f.alt.map(|a| round2(f64::from(a)))),
            "heartrate" => serde_json::to_writer(&mut *out, &f.heartrate),
            "cadence" => serde_json::to_writer(&mut *out, &f.cadence),
            "watts" => serde_json::to_writer(&mut *out, &f.power),
            _ => serde_json::to_writer(&mut *out, &Value::Null),
        };
    }
}
