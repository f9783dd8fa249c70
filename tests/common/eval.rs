//! Shared by `examples/accuracy.rs` and `tests/accuracy.rs`: computes stats
//! for every recording in a folder and compares them with the device's own
//! totals.

use std::path::Path;

use pacer::domain::stats::compute_with_pauses;
use pacer::domain::{Fix, Sport};
use pacer::formats::{parse, DataType, DeviceTotals};

pub struct Case {
    pub name: String,
    pub sport: Sport,
    pub points: usize,
    pub distance: f64,
    pub moving_time: i64,
    pub device: DeviceTotals,
}

impl Case {
    /// Relative distance error, when the device recorded a total.
    pub fn distance_error(&self) -> Option<f64> {
        self.device
            .distance
            .filter(|d| *d > 0.0)
            .map(|d| (self.distance - d) / d)
    }
    /// The device's moving time, or its timer time (auto-pause) if it has
    /// no separate moving time.
    pub fn device_moving(&self) -> Option<f64> {
        self.device.moving_time.or(self.device.timer_time)
    }
    pub fn moving_error(&self) -> Option<f64> {
        self.device_moving()
            .filter(|t| *t > 0.0)
            .map(|t| (self.moving_time as f64 - t) / t)
    }
}

fn case(
    name: String,
    sport: Sport,
    fixes: &[Fix],
    pauses: &[(i64, i64)],
    device: DeviceTotals,
) -> Case {
    let (stats, _) = compute_with_pauses(sport, fixes, pauses);
    Case {
        name,
        sport,
        points: fixes.len(),
        distance: stats.distance,
        moving_time: stats.moving_time,
        device,
    }
}

/// Every Run/Ride recording (or session of a multisport file) in `dir`,
/// sorted by name. Files that fail to parse are reported in the error list.
pub fn evaluate(dir: &Path) -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    for path in paths {
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(data_type) = DataType::from_file_name(&file) else {
            continue;
        };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                errors.push(format!("{file}: {e}"));
                continue;
            }
        };
        let activity = match parse(data_type, &bytes) {
            Ok(a) => a,
            Err(e) => {
                errors.push(format!("{file}: {e}"));
                continue;
            }
        };
        if activity.sessions.len() > 1 {
            for s in &activity.sessions {
                let Some(sport) = s.sport else { continue };
                let fixes: Vec<Fix> = activity
                    .fixes
                    .iter()
                    .filter(|f| (s.start_ms..=s.end_ms).contains(&f.t_ms))
                    .copied()
                    .collect();
                let label = s.sport_name.clone().unwrap_or_default();
                cases.push(case(
                    format!("{file}#{label}"),
                    sport,
                    &fixes,
                    &activity.pauses,
                    s.totals,
                ));
            }
        } else {
            // Unknown sport (e.g. a hike): foot thresholds are the cautious choice.
            let sport = activity.sport.unwrap_or(Sport::Run);
            cases.push(case(
                file,
                sport,
                &activity.fixes,
                &activity.pauses,
                activity.device,
            ));
        }
    }
    (cases, errors)
}

/// Median and worst absolute error.
pub fn summary(errors: &[f64]) -> Option<(f64, f64)> {
    let mut abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    if abs.is_empty() {
        return None;
    }
    abs.sort_by(f64::total_cmp);
    let n = abs.len();
    let median = if n % 2 == 1 {
        abs[n / 2]
    } else {
        (abs[n / 2 - 1] + abs[n / 2]) / 2.0
    };
    Some((median, abs[n - 1]))
}
