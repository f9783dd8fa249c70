//! JSON representations. Field names follow Strava's where Strava has one.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::domain::activity::{ActivityState, ActivityTotals, Visibility};
use crate::domain::recording::LiveStats;
use crate::domain::stats::Split;
use crate::domain::Sport;
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
    pub sport_type: Sport,
    #[serde(rename = "type")]
    pub kind: Sport,
    pub state: ActivityState,
    pub visibility: Visibility,
    pub private: bool,
    pub start_date: String,
    pub completed_at: Option<String>,
    /// distance, the times, elevation, speeds, point_count.
    #[serde(flatten)]
    pub totals: ActivityTotals,
    pub map: MapView,
    /// The first and last points shown (`api::privacy::Privacy::view`).
    pub start_latlng: Option<[f64; 2]>,
    pub end_latlng: Option<[f64; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_log: Option<Vec<StatusView>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub splits_metric: Option<Vec<Split>>,
    /// A completed activity's detailed form: its segment efforts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub segment_efforts: Option<Vec<crate::api::segment_efforts::EffortView>>,
    /// A completed activity's best efforts (the detailed view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_efforts: Option<Vec<crate::api::leaderboards::BestEffortView>>,
}

impl ActivityView {
    /// The feed's summary form.
    pub fn summary(row: ActivityRow) -> Self {
        Self::build(row).0
    }

    /// The view and what only the detailed form shows.
    fn build(row: ActivityRow) -> (Self, crate::domain::activity::StatusLog, Vec<Split>) {
        let view = ActivityView {
            id: row.id,
            external_id: row.external_id,
            athlete: AthleteRef {
                id: row.athlete_id,
                username: row.athlete_username,
                firstname: row.athlete_firstname,
                lastname: row.athlete_lastname,
            },
            name: row.name,
            kind: row.sport_type,
            sport_type: row.sport_type,
            state: row.state,
            private: row.visibility == Visibility::OnlyMe,
            visibility: row.visibility,
            start_date: rfc3339(row.start_ms),
            completed_at: row.completed_ms.map(rfc3339),
            totals: row.totals,
            map: MapView {
                id: format!("a{}", row.id),
                summary_polyline: row.summary_polyline,
            },
            start_latlng: None,
            end_latlng: None,
            status_log: None,
            splits_metric: None,
            segment_efforts: None,
            best_efforts: None,
        };
        (view, row.status_log, row.splits)
    }

    /// Overlays the rolling stats of an activity being recorded.
    pub fn apply_live(&mut self, live: &LiveStats, splits: &[Split]) {
        self.state = live.state;
        self.totals = live.totals;
        self.splits_metric = Some(splits.to_vec());
    }

    /// The full form, with the status log and splits.
    pub fn detailed(row: ActivityRow) -> Self {
        let (mut view, log, splits) = Self::build(row);
        view.status_log = Some(
            log.entries()
                .iter()
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
