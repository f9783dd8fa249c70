//! JSON representations. Field names follow Strava's where Strava has one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::activity::StatusEntry;
use crate::store::{ActivityRow, AthleteRow};

/// RFC 3339 UTC, with milliseconds only when they are not zero.
pub fn rfc3339(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

#[derive(Debug, Serialize)]
pub struct AthleteView {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only shown to the athlete themself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub birth_year: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
}

impl AthleteView {
    pub fn public(row: AthleteRow) -> Self {
        let mut view = Self::detailed(row);
        view.birth_year = None;
        view.weight = None;
        view
    }

    pub fn detailed(row: AthleteRow) -> Self {
        AthleteView {
            id: row.id,
            username: row.username,
            firstname: row.firstname,
            lastname: row.lastname,
            sex: row.sex,
            city: row.city,
            state: row.state,
            country: row.country,
            created_at: rfc3339(row.created_ms),
            updated_at: rfc3339(row.updated_ms),
            birth_year: row.birth_year,
            weight: row.weight_kg,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AthleteRef {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
}

#[derive(Debug, Serialize)]
pub struct MapView {
    pub id: String,
    pub summary_polyline: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StatusView {
    pub state: &'static str,
    pub at: String,
}

#[derive(Debug, Serialize)]
pub struct ActivityView {
    pub id: i64,
    pub external_id: Option<String>,
    pub athlete: AthleteRef,
    pub name: String,
    pub sport_type: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub state: String,
    pub visibility: String,
    pub private: bool,
    pub start_date: String,
    pub completed_at: Option<String>,
    pub distance: f64,
    pub moving_time: i64,
    pub active_time: i64,
    pub elapsed_time: i64,
    pub total_elevation_gain: f64,
    pub average_speed: f64,
    pub max_speed: f64,
    pub elev_high: Option<f64>,
    pub elev_low: Option<f64>,
    pub point_count: i64,
    pub map: MapView,
    /// The first and last points shown (`api::privacy::Privacy::view`).
    pub start_latlng: Option<[f64; 2]>,
    pub end_latlng: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_log: Option<Vec<StatusView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub splits_metric: Option<serde_json::Value>,
}

impl ActivityView {
    /// The feed's summary form.
    pub fn summary(row: ActivityRow) -> Self {
        ActivityView {
            id: row.id,
            external_id: row.external_id,
            athlete: AthleteRef {
                id: row.athlete_id,
                username: row.athlete_username,
                firstname: row.athlete_firstname,
                lastname: row.athlete_lastname,
            },
            name: row.name,
            kind: row.sport_type.clone(),
            sport_type: row.sport_type,
            state: row.state,
            private: row.visibility == "only_me",
            visibility: row.visibility,
            start_date: rfc3339(row.start_ms),
            completed_at: row.completed_ms.map(rfc3339),
            distance: row.distance,
            moving_time: row.moving_time,
            active_time: row.active_time,
            elapsed_time: row.elapsed_time,
            total_elevation_gain: row.total_elevation_gain,
            average_speed: row.average_speed,
            max_speed: row.max_speed,
            elev_high: row.elev_high,
            elev_low: row.elev_low,
            point_count: row.point_count,
            map: MapView {
                id: format!("a{}", row.id),
                summary_polyline: row.summary_polyline,
            },
            start_latlng: None,
            end_latlng: None,
            status_log: None,
            splits_metric: None,
        }
    }

    /// Overlays the rolling stats of an activity being recorded.
    pub fn apply_live(
        &mut self,
        live: &crate::domain::recording::LiveStats,
        splits: &[crate::domain::stats::Split],
    ) {
        self.state = live.state.as_str().to_string();
        self.distance = live.distance;
        self.moving_time = live.moving_time;
        self.active_time = live.active_time;
        self.elapsed_time = live.elapsed_time;
        self.total_elevation_gain = live.total_elevation_gain;
        self.average_speed = live.average_speed;
        self.max_speed = live.max_speed;
        self.point_count = i64::from(live.point_count);
        self.splits_metric = serde_json::to_value(splits).ok();
    }

    /// The full form, with the status log and splits.
    pub fn detailed(row: ActivityRow) -> Self {
        let log: Vec<StatusEntry> = serde_json::from_str(&row.status_log).unwrap_or_default();
        let splits =
            serde_json::from_str(&row.splits).unwrap_or(serde_json::Value::Array(Vec::new()));
        let mut view = Self::summary(row);
        view.status_log = Some(
            log.into_iter()
                .map(|e| StatusView {
                    state: e.state.as_str(),
                    at: rfc3339(e.at),
                })
                .collect(),
        );
        view.splits_metric = Some(splits);
        view
    }
}
