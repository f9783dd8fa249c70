//! Privacy zones: the athlete's endpoints, and the one filter every read
//! path applies before anything with a position leaves for someone who is
//! not the owner (`Privacy`). Nothing stored is rewritten when zones
//! change: the owner's zones are applied when read, from a cache that a
//! change on this node clears at once and that expires after
//! `ZONE_CACHE_TTL` (other nodes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::{web, HttpResponse};
use dashmap::DashMap;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::api::views::{rfc3339, ActivityView};
use crate::auth::Caller;
use crate::domain::activity::Relation;
use crate::domain::privacy::{ZoneInput, Zones, MAX_ZONES};
use crate::domain::recording::LiveEvent;
use crate::domain::{now_ms, AthleteId, Fix};
use crate::error::{ApiError, Code};
use crate::live::watch::PollReply;
use crate::state::AppState;
use crate::store::privacy::{ZoneAdded, ZoneRow};
use crate::store::ActivityRow;

/// How long another node's zone change may take to show here.
pub const ZONE_CACHE_TTL: Duration = Duration::from_secs(2);
/// Athletes whose zones are cached at most (then the cache starts over).
const ZONE_CACHE_MAX: usize = 100_000;

/// Each athlete's hidden circles, read at most once per `ZONE_CACHE_TTL`.
#[derive(Default)]
pub struct ZoneCache(DashMap<i64, (Instant, Arc<Zones>)>);

impl ZoneCache {
    pub fn forget(&self, athlete: AthleteId) {
        self.0.remove(&athlete.0);
    }
}

/// The owner's zones, cached.
pub async fn zones_of(state: &AppState, owner: AthleteId) -> Result<Arc<Zones>, ApiError> {
    if let Some(entry) = state.privacy.0.get(&owner.0) {
        if entry.0.elapsed() < ZONE_CACHE_TTL {
            return Ok(entry.1.clone());
        }
    }
    let rows = state.store.privacy_zones(owner).await?;
    let zones = Arc::new(Zones::new(rows.into_iter().map(|z| z.hidden).collect()));
    if state.privacy.0.len() >= ZONE_CACHE_MAX {
        state.privacy.0.clear();
    }
    state
        .privacy
        .0
        .insert(owner.0, (Instant::now(), zones.clone()));
    Ok(zones)
}

/// What one viewer may see of one owner's positions. Built by `for_viewer`
/// (or `for_relation`); `owner()` shows everything.
#[derive(Debug, Clone, Default)]
pub struct Privacy {
    /// None: the viewer is the owner.
    zones: Option<Arc<Zones>>,
    owner: Option<AthleteId>,
    loaded: Option<Instant>,
}

#[derive(Deserialize)]
struct Position {
    lat: f64,
    lng: f64,
}

impl Privacy {
    pub fn owner() -> Privacy {
        Privacy::default()
    }

    /// The filter for someone who is not the owner (a friend, a stranger,
    /// a link holder).
    pub async fn others(state: &AppState, owner: AthleteId) -> Result<Privacy, ApiError> {
        Ok(Privacy {
            zones: Some(zones_of(state, owner).await?),
            owner: Some(owner),
            loaded: Some(Instant::now()),
        })
    }

    pub async fn for_relation(
        state: &AppState,
        relation: Relation,
        owner: AthleteId,
    ) -> Result<Privacy, ApiError> {
        match relation {
            Relation::Owner => Ok(Privacy::owner()),
            Relation::Friend | Relation::Stranger => Privacy::others(state, owner).await,
        }
    }

    pub async fn for_viewer(
        state: &AppState,
        viewer: AthleteId,
        owner: AthleteId,
    ) -> Result<Privacy, ApiError> {
        if viewer == owner {
            Ok(Privacy::owner())
        } else {
            Privacy::others(state, owner).await
        }
    }

    /// Reads the owner's zones again when they may have changed (a long
    /// stream); on a failed read it keeps the zones it had.
    pub async fn refresh(&mut self, state: &AppState) {
        let (Some(owner), Some(loaded)) = (self.owner, self.loaded) else {
            return;
        };
        if loaded.elapsed() < ZONE_CACHE_TTL {
            return;
        }
        if let Ok(zones) = zones_of(state, owner).await {
            self.zones = Some(zones);
            self.loaded = Some(Instant::now());
        }
    }

    fn active(&self) -> Option<&Zones> {
        self.zones.as_deref().filter(|z| !z.is_empty())
    }

    pub fn hides(&self, lat: f64, lng: f64) -> bool {
        self.active().is_some_and(|z| z.hides(lat, lng))
    }

    /// An activity's JSON form: the summary polyline without hidden
    /// points, and `start_latlng`/`end_latlng` its first and last points
    /// shown (the summary keeps the route's first and last).
    pub fn view(&self, mut view: ActivityView) -> ActivityView {
        if let Some(zones) = self.active() {
            view.map.summary_polyline = view
                .map
                .summary_polyline
                .as_deref()
                .and_then(|p| zones.filter_polyline(p));
        }
        (view.start_latlng, view.end_latlng) = ends(view.map.summary_polyline.as_deref());
        view
    }

    /// A route: hidden fixes dropped, with every value they carry.
    pub fn fixes(&self, fixes: Vec<Fix>) -> Vec<Fix> {
        match self.active() {
            Some(zones) => zones.filter_fixes(fixes),
            None => fixes,
        }
    }

    /// A point's JSON (`{"lat","lng",..}`) if it may be shown.
    fn raw_shown(&self, raw: &RawValue) -> bool {
        match serde_json::from_str::<Position>(raw.get()) {
            Ok(p) => !self.hides(p.lat, p.lng),
            // Not a position: nothing to hide.
            Err(_) => true,
        }
    }

    /// A live event as this viewer may see it: None for a hidden point
    /// (its id is still sent, so that a resume does not repeat it); a
    /// reset's trail loses its hidden points.
    pub fn event(&self, event: LiveEvent) -> Option<LiveEvent> {
        if self.active().is_none() {
            return Some(event);
        }
        match event.kind {
            "point" => match serde_json::from_str::<Position>(&event.data) {
                Ok(p) if !self.hides(p.lat, p.lng) => Some(event),
                _ => None,
            },
            "reset" => {
                let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&event.data) else {
                    return None;
                };
                if let Some(points) = value.get_mut("points").and_then(|p| p.as_array_mut()) {
                    points.retain(|p| {
                        let lat = p.get("lat").and_then(|v| v.as_f64());
                        let lng = p.get("lng").and_then(|v| v.as_f64());
                        matches!((lat, lng), (Some(lat), Some(lng)) if !self.hides(lat, lng))
                    });
                }
                Some(LiveEvent {
                    data: value.to_string().into(),
                    ..event
                })
            }
            _ => Some(event),
        }
    }

    /// A poll's answer without hidden points or position.
    pub fn poll(&self, mut reply: PollReply) -> PollReply {
        if self.active().is_some() {
            reply.points.retain(|p| self.raw_shown(p));
            reply.position = self.position(reply.position);
        }
        reply
    }

    /// The newest position (point JSON), unless hidden.
    pub fn position(&self, position: Option<Box<RawValue>>) -> Option<Box<RawValue>> {
        position.filter(|p| self.raw_shown(p))
    }
}

/// The first and last points of an encoded polyline, `[lat, lng]`.
fn ends(polyline: Option<&str>) -> (Option<[f64; 2]>, Option<[f64; 2]>) {
    let Some(line) = polyline.and_then(|p| polyline::decode_polyline(p, 5).ok()) else {
        return (None, None);
    };
    let point = |c: &geo::Coord<f64>| [c.y, c.x];
    (line.0.first().map(point), line.0.last().map(point))
}

/// Activity views for `viewer`, each filtered by its owner's zones.
pub async fn views_for(
    state: &AppState,
    viewer: AthleteId,
    rows: Vec<ActivityRow>,
    build: fn(ActivityRow) -> ActivityView,
) -> Result<Vec<ActivityView>, ApiError> {
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let privacy = Privacy::for_viewer(state, viewer, AthleteId(row.athlete_id)).await?;
        out.push(privacy.view(build(row)));
    }
    Ok(out)
}

/// The events stream's activity summary: others' carry no polyline (the
/// stream is built without a store read per watcher); clients read the
/// activity, which is filtered.
pub fn event_summary(viewer: AthleteId, row: ActivityRow) -> ActivityView {
    let owner = AthleteId(row.athlete_id);
    let view = ActivityView::summary(row);
    if owner == viewer {
        Privacy::owner().view(view)
    } else {
        let mut view = view;
        view.map.summary_polyline = None;
        view
    }
}

#[derive(Deserialize)]
pub struct NewZoneBody {
    lat: Option<f64>,
    lng: Option<f64>,
    radius_m: Option<f64>,
}

fn zone_json(zone: &ZoneRow) -> serde_json::Value {
    serde_json::json!({
        "id": zone.id,
        "lat": zone.entered.lat,
        "lng": zone.entered.lng,
        "radius_m": zone.entered.radius_m,
        "created_at": rfc3339(zone.created_ms),
    })
}

/// `POST /api/v1/athlete/privacy_zones` `{lat, lng, radius_m}` → 201.
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewZoneBody>,
) -> Result<HttpResponse, ApiError> {
    let entered = ZoneInput::parse(body.lat, body.lng, body.radius_m)
        .map_err(|errors| ApiError::invalid("PrivacyZone", errors))?;
    let hidden = entered.hide(&mut rand::rngs::OsRng);
    let now = now_ms();
    let added = state
        .store
        .add_privacy_zone(caller.id, &entered, &hidden, MAX_ZONES as u32, now)
        .await?;
    state.privacy.forget(caller.id);
    match added {
        ZoneAdded::TooMany => Err(ApiError::with(
            Code::Invalid,
            "PrivacyZone",
            "count",
            "too_many",
        )),
        ZoneAdded::Added(id) => Ok(HttpResponse::Created().json(zone_json(&ZoneRow {
            id,
            athlete_id: caller.id,
            entered,
            hidden,
            created_ms: now,
        }))),
    }
}

/// `GET /api/v1/athlete/privacy_zones`: the caller's own.
pub async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let zones = state.store.privacy_zones(caller.id).await?;
    let zones: Vec<_> = zones.iter().map(zone_json).collect();
    Ok(HttpResponse::Ok().json(zones))
}

/// `PUT /api/v1/athlete/privacy_zones/{id}` `{lat, lng, radius_m}` → 200:
/// moves or resizes the zone. It gets a new random hidden circle, so the
/// old offset tells nothing about the new one.
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
    body: web::Json<NewZoneBody>,
) -> Result<HttpResponse, ApiError> {
    let entered = ZoneInput::parse(body.lat, body.lng, body.radius_m)
        .map_err(|errors| ApiError::invalid("PrivacyZone", errors))?;
    let hidden = entered.hide(&mut rand::rngs::OsRng);
    let moved = state
        .store
        .move_privacy_zone(caller.id, id.into_inner(), &entered, &hidden, now_ms())
        .await?;
    state.privacy.forget(caller.id);
    match moved {
        Some(zone) => Ok(HttpResponse::Ok().json(zone_json(&zone))),
        None => Err(ApiError::not_found("PrivacyZone")),
    }
}

/// `DELETE /api/v1/athlete/privacy_zones/{id}` → 204.
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let deleted = state
        .store
        .delete_privacy_zone(caller.id, id.into_inner(), now_ms())
        .await?;
    state.privacy.forget(caller.id);
    if !deleted {
        return Err(ApiError::not_found("PrivacyZone"));
    }
    Ok(HttpResponse::NoContent().finish())
}
