//! Shared by `examples/accuracy.rs` and `tests/accuracy.rs`: runs every
//! recording in a folder (and its `corpus/` subfolder) through the upload
//! path (`uploads::build_activity`, i.e. `domain::completion`) and
//! compares distance and moving time with the device's own totals.

use std::path::{Path, PathBuf};

use pacer::api::uploads::build_activity;
use pacer::domain::stats::{ellipsoidal, haversine};
use pacer::domain::{AthleteId, Fix, Sport};
use pacer::formats::{parse, DataType, DeviceTotals, ParsedActivity};

pub struct Case {
    pub name: String,
    pub sport: Sport,
    /// The file names the sport (Run or Ride) rather than Pacer guessing.
    pub named_sport: bool,
    pub points: usize,
    pub distance: f64,
    /// Plain haversine over consecutive fixes, skipping the file's pauses:
    /// the baseline no filter should fall below.
    pub haversine: f64,
    /// The same over the WGS84 ellipsoid (what Pacer and devices measure
    /// on): the filters' own baseline.
    pub plain_ellipsoidal: f64,
    pub moving_time: i64,
    pub device: DeviceTotals,
}

impl Case {
    /// Signed relative distance error, when the device recorded a total.
    pub fn distance_error(&self) -> Option<f64> {
        self.device
            .distance
            .filter(|d| *d > 0.0)
            .map(|d| (self.distance - d) / d)
    }
    pub fn haversine_error(&self) -> Option<f64> {
        self.device
            .distance
            .filter(|d| *d > 0.0)
            .map(|d| (self.haversine - d) / d)
    }
    pub fn ellipsoidal_error(&self) -> Option<f64> {
        self.device
            .distance
            .filter(|d| *d > 0.0)
            .map(|d| (self.plain_ellipsoidal - d) / d)
    }
    /// What the targets are about: a run or ride (named as such by
    /// the file) of at least 1 km, with a device total. Shorter files are
    /// dominated by where the first and last fix fall.
    pub fn in_target_set(&self) -> bool {
        self.named_sport && self.device.distance.is_some_and(|d| d >= 1_000.0)
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

fn plain_sum(fixes: &[Fix], pauses: &[(i64, i64)], metric: fn(f64, f64, f64, f64) -> f64) -> f64 {
    let paused = |t: i64| pauses.iter().any(|&(a, b)| t >= a && t < b);
    let crosses = |a: i64, b: i64| pauses.iter().any(|&(s, e)| s < b && e > a);
    fixes
        .windows(2)
        .filter(|w| !paused(w[0].t_ms) && !paused(w[1].t_ms) && !crosses(w[0].t_ms, w[1].t_ms))
        .map(|w| metric(w[0].lat, w[0].lng, w[1].lat, w[1].lng))
        .sum()
}

/// One activity as an upload creates it.
fn case(name: String, parsed: ParsedActivity) -> Result<Case, String> {
    // Unknown sport (e.g. a hike): guessed from the track, as uploads do.
    let named_sport = parsed.sport.is_some();
    let sport = parsed.sport.unwrap_or_else(|| Sport::guess(&parsed.fixes));
    let device = parsed.device;
    let plain_ellipsoidal = plain_sum(&parsed.fixes, &parsed.pauses, ellipsoidal);
    let haversine = plain_sum(&parsed.fixes, &parsed.pauses, haversine);
    let points = parsed.fixes.len();
    let imported = build_activity(AthleteId(1), parsed, None, sport, None, 0)
        .map_err(|e| format!("{name}: {e:?}"))?;
    Ok(Case {
        name,
        sport,
        named_sport,
        points,
        distance: imported.progress.totals.distance,
        haversine,
        plain_ellipsoidal,
        moving_time: imported.progress.totals.moving_time,
        device,
    })
}

/// The recordings in `dir` and in `dir/corpus`, sorted by path.
pub fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    for d in [dir.to_path_buf(), dir.join("corpus")] {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        paths.extend(
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file()),
        );
    }
    paths.sort();
    paths
}

/// Every Run/Ride recording (or session of a multisport file), sorted by
/// name. Files that fail to parse are reported in the error list.
pub fn evaluate(dir: &Path) -> (Vec<Case>, Vec<String>) {
    let mut cases = Vec::new();
    let mut errors = Vec::new();
    for path in recordings(dir) {
        let file = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .to_string_lossy()
            .into_owned();
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
        let mut results = Vec::new();
        if activity.sessions.len() > 1 {
            // Each sport session of a multisport file on its own.
            for s in &activity.sessions {
                if s.sport.is_none() {
                    continue;
                }
                let range = s.start_ms..=s.end_ms;
                let session = ParsedActivity {
                    sport: s.sport,
                    name: None,
                    start_ms: Some(s.start_ms),
                    fixes: activity
                        .fixes
                        .iter()
                        .filter(|f| range.contains(&f.t_ms))
                        .copied()
                        .collect(),
                    device: s.totals,
                    sessions: vec![s.clone()],
                    pauses: activity
                        .pauses
                        .iter()
                        .copied()
                        .filter(|&(from, to)| to > s.start_ms && from < s.end_ms)
                        .collect(),
                };
                let label = s.sport_name.clone().unwrap_or_default();
                results.push(case(format!("{file}#{label}"), session));
            }
        } else {
            results.push(case(file, activity));
        }
        for r in results {
            match r {
                Ok(c) => cases.push(c),
                Err(e) => errors.push(e),
            }
        }
    }
    (cases, errors)
}

/// The `p` quantile (0..=1), interpolated between closest ranks.
pub fn quantile(values: &[f64], p: f64) -> Option<f64> {
    let mut v = values.to_vec();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = p * (v.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(v[lo] + (v[hi] - v[lo]) * (rank - lo as f64))
}

/// Signed median, median |error|, p90 |error| and worst |error|.
pub struct Summary {
    pub n: usize,
    pub signed_median: f64,
    pub abs_median: f64,
    pub abs_p90: f64,
    pub abs_max: f64,
}

pub fn summary(errors: &[f64]) -> Option<Summary> {
    let abs: Vec<f64> = errors.iter().map(|e| e.abs()).collect();
    Some(Summary {
        n: errors.len(),
        signed_median: quantile(errors, 0.5)?,
        abs_median: quantile(&abs, 0.5)?,
        abs_p90: quantile(&abs, 0.9)?,
        abs_max: quantile(&abs, 1.0)?,
    })
}
