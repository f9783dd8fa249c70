//! Strava's JSON shapes, mapped from Pacer's views (privacy already
//! applied by `api::privacy`). Integers where Strava has integers.

use serde_json::{json, Value};

use crate::api::views::{rfc3339, ActivityView};
use crate::domain::activity::{ActivityState, Visibility};
use crate::store::AthleteRow;

/// Strava's `sex` is M, F or null (Pacer's X has no Strava value).
fn strava_sex(sex: Option<&str>) -> Option<&str> {
    sex.filter(|s| matches!(*s, "M" | "F"))
}

/// SummaryAthlete (resource_state 2), or DetailedAthlete (3) with the
/// profile details when `detailed` (the `profile:read_all` scope).
pub fn athlete(row: &AthleteRow, detailed: bool) -> Value {
    let mut v = json!({
        "id": row.id,
        "resource_state": if detailed { 3 } else { 2 },
        "username": row.username,
        "firstname": row.firstname,
        "lastname": row.lastname,
        "bio": null,
        "city": row.city,
        "state": row.state,
        "country": row.country,
        "sex": strava_sex(row.sex.as_deref()),
        "premium": false,
        "summit": false,
        "created_at": rfc3339(row.created_ms),
        "updated_at": rfc3339(row.updated_ms),
        "badge_type_id": 0,
        "profile_medium": null,
        "profile": null,
        "friend": null,
        "follower": null,
    });
    if detailed {
        v["weight"] = json!(row.weight_kg);
        v["measurement_preference"] = json!("meters");
        v["ftp"] = Value::Null;
        v["clubs"] = json!([]);
        v["bikes"] = json!([]);
        v["shoes"] = json!([]);
        v["follower_count"] = Value::Null;
        v["friend_count"] = Value::Null;
    }
    v
}

/// A Strava timestamp: whole seconds, `Z`.
pub fn seconds(ms: i64) -> String {
    rfc3339(ms.div_euclid(1000) * 1000)
}

/// SummaryActivity (resource_state 2) or DetailedActivity (3).
pub fn activity(view: &ActivityView, detailed: bool) -> Value {
    let t = &view.totals;
    let latlng = |p: Option<[f64; 2]>| p.map_or(json!([]), |p| json!(p));
    let start = seconds_from_rfc(&view.start_date);
    let mut v = json!({
        "id": view.id,
        "resource_state": if detailed { 3 } else { 2 },
        "external_id": view.external_id,
        "upload_id": null,
        "athlete": {"id": view.athlete.id, "resource_state": 1},
        "name": view.name,
        "distance": t.distance,
        "moving_time": t.moving_time,
        "elapsed_time": t.elapsed_time,
        "total_elevation_gain": t.total_elevation_gain,
        "elev_high": t.elev_high,
        "elev_low": t.elev_low,
        "type": view.sport_type.as_str(),
        "sport_type": view.sport_type.as_str(),
        "start_date": start,
        // Pacer keeps no time zone: local is UTC.
        "start_date_local": start,
        "utc_offset": 0.0,
        "start_latlng": latlng(view.start_latlng),
        "end_latlng": latlng(view.end_latlng),
        "achievement_count": 0,
        "kudos_count": 0,
        "comment_count": 0,
        "athlete_count": 1,
        "photo_count": 0,
        "total_photo_count": 0,
        "map": {
            "id": view.map.id,
            "summary_polyline": view.map.summary_polyline,
            "resource_state": 2,
        },
        "trainer": false,
        "commute": false,
        "manual": t.point_count == 0,
        "private": view.visibility == Visibility::OnlyMe,
        "visibility": view.visibility.as_str(),
        "flagged": false,
        "gear_id": null,
        "average_speed": t.average_speed,
        "max_speed": t.max_speed,
        "has_heartrate": false,
        "has_kudoed": false,
        "pr_count": 0,
        // Pacer's own: a live activity is still being recorded.
        "pacer_state": match view.state {
            ActivityState::Complete => "complete",
            ActivityState::Started => "started",
            ActivityState::Paused => "paused",
        },
    });
    if detailed {
        v["description"] = Value::Null;
        v["calories"] = json!(0.0);
        v["map"]["polyline"] = json!(view.map.summary_polyline);
        v["map"]["resource_state"] = json!(3);
        v["segment_efforts"] = json!([]);
        v["splits_metric"] = json!(view.splits_metric.as_deref().unwrap_or_default());
        v["laps"] = json!(laps(view));
        v["device_name"] = Value::Null;
        v["embed_token"] = Value::Null;
        v["photos"] = json!({"primary": null, "count": 0});
    }
    v
}

fn seconds_from_rfc(s: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| seconds(t.timestamp_millis()))
        .unwrap_or_else(|_| s.to_string())
}

/// Pacer records no laps: one lap spanning the activity, as Strava shows
/// an activity recorded without laps.
pub fn laps(view: &ActivityView) -> Vec<Value> {
    let t = &view.totals;
    let start = seconds_from_rfc(&view.start_date);
    vec![json!({
        "id": view.id,
        "resource_state": 2,
        "name": "Lap 1",
        "activity": {"id": view.id, "resource_state": 1},
        "athlete": {"id": view.athlete.id, "resource_state": 1},
        "elapsed_time": t.elapsed_time,
        "moving_time": t.moving_time,
        "start_date": start,
        "start_date_local": start,
        "distance": t.distance,
        "start_index": 0,
        "end_index": (t.point_count - 1).max(0),
        "total_elevation_gain": t.total_elevation_gain,
        "average_speed": t.average_speed,
        "max_speed": t.max_speed,
        "lap_index": 1,
        "split": 1,
    })]
}
