//! The one completion: a sport, an ordered route and a status log become
//! the final activity (totals, splits, best-effort inputs, summary
//! polyline). Live completion, upload, offline sync and auto-complete all
//! call [`complete`]; nothing else computes final stats.

use serde::Serialize;

use super::activity::{ActivityTotals, StatusLog};
use super::stats::{walk, Split};
use super::{Fix, Sport};

/// Most points in the summary polyline (the full route is stored apart).
pub const SUMMARY_POINTS: usize = 1_000;

/// What best efforts (fastest 1 km, 5 km, ...) and segment matching search
/// over: for each fix that counted, the cumulative distance and moving
/// time at that fix, computed by the same walk as the totals.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EffortSample {
    pub t_ms: i64,
    /// Metres since the start.
    pub distance: f64,
    /// Moving milliseconds since the start.
    pub moving_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompletedActivity {
    pub totals: ActivityTotals,
    pub start_ms: i64,
    pub completed_ms: i64,
    pub splits: Vec<Split>,
    pub efforts: Vec<EffortSample>,
    pub summary_polyline: Option<String>,
}

/// Completes an activity. `route` must be sorted by time with one fix per
/// timestamp (as the live route and a parsed file are); fixes recorded
/// while the log says paused count neither distance nor time. A log that
/// is not complete ends at its last fix (or its start).
pub fn complete(sport: Sport, route: &[Fix], log: &StatusLog) -> CompletedActivity {
    let end = log
        .completed_ms()
        .or_else(|| route.last().map(|f| f.t_ms.max(log.start_ms())))
        .unwrap_or_else(|| log.start_ms());
    let pauses = log.pauses();
    let mut efforts = Vec::with_capacity(route.len());
    let acc = walk(sport, route, &pauses, |i, acc, counted| {
        if counted {
            efforts.push(EffortSample {
                t_ms: route[i].t_ms,
                distance: acc.distance(),
                moving_ms: acc.moving_ms(),
            });
        }
    });
    let stats = acc.snapshot();
    let active_time = log.active_time(end);
    // Without fixes (a manual activity) the timer's time is all there is.
    let moving_time = if route.is_empty() {
        active_time
    } else {
        stats.moving_time.min(active_time)
    };
    let average_speed = if moving_time > 0 {
        stats.distance / moving_time as f64
    } else {
        0.0
    };
    CompletedActivity {
        totals: ActivityTotals {
            distance: stats.distance,
            moving_time,
            active_time,
            elapsed_time: log.elapsed_time(end),
            total_elevation_gain: stats.total_elevation_gain,
            max_speed: stats.max_speed,
            average_speed,
            elev_high: stats.elev_high,
            elev_low: stats.elev_low,
            point_count: route.len() as i64,
        },
        start_ms: log.start_ms(),
        completed_ms: end,
        splits: acc.all_splits(),
        efforts,
        summary_polyline: summary_polyline(route),
    }
}

/// Google's encoded polyline (precision 5) of the route, thinned to at
/// most [`SUMMARY_POINTS`] points (always keeping the last).
pub fn summary_polyline(route: &[Fix]) -> Option<String> {
    if route.is_empty() {
        return None;
    }
    let step = route.len().div_ceil(SUMMARY_POINTS).max(1);
    let mut coords: Vec<geo::Coord<f64>> = route
        .iter()
        .step_by(step)
        .map(|f| geo::coord! { x: f.lng, y: f.lat })
        .collect();
    if let Some(last) = route.last() {
        if !(route.len() - 1).is_multiple_of(step) {
            coords.push(geo::coord! { x: last.lng, y: last.lat });
        }
    }
    polyline::encode_coordinates(coords, 5).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::ActivityState;

    const T0: i64 = 1_700_000_000_000;
    const M: f64 = 111_195.0;

    /// Due north at 4 m/s, one fix per second.
    fn line(n: i64) -> Vec<Fix> {
        (0..n)
            .map(|i| {
                let mut f = Fix::new(T0 + i * 1_000, 51.0 + i as f64 * 4.0 / M, 0.0);
                f.alt = Some(10.0 + (i / 10) as f32);
                f
            })
            .collect()
    }

    fn log(entries: &[(ActivityState, i64)]) -> StatusLog {
        let mut log = StatusLog::start(T0);
        for &(state, at) in entries {
            log.apply(state, Some(at), i64::MAX / 2).unwrap();
        }
        log
    }

    #[test]
    fn completes_a_steady_run() {
        let route = line(601);
        let done = complete(
            Sport::Run,
            &route,
            &log(&[(ActivityState::Complete, T0 + 600_000)]),
        );
        let t = done.totals;
        assert!((t.distance - 2_400.0).abs() < 3.0, "{}", t.distance);
        assert_eq!(
            (t.moving_time, t.active_time, t.elapsed_time),
            (600, 600, 600)
        );
        assert!((t.average_speed - 4.0).abs() < 0.01);
        assert_eq!(t.point_count, 601);
        assert_eq!(done.completed_ms, T0 + 600_000);
        assert!(t.total_elevation_gain > 50.0);
        assert_eq!(done.splits.len(), 3);
        let split_sum: f64 = done.splits.iter().map(|s| s.distance).sum();
        assert!((split_sum - t.distance).abs() < 1e-6);
        // Best-effort inputs: one per counted fix, ending at the totals.
        assert_eq!(done.efforts.len(), 601);
        let last = done.efforts[600];
        assert!((last.distance - t.distance).abs() < 1e-9);
        assert_eq!((last.moving_ms + 500) / 1_000, t.moving_time);
        assert!(done
            .efforts
            .windows(2)
            .all(|w| w[0].distance <= w[1].distance));
        let decoded =
            polyline::decode_polyline(done.summary_polyline.as_deref().unwrap(), 5).unwrap();
        assert_eq!(decoded.0.len(), 601);
    }

    #[test]
    fn pauses_in_the_log_count_neither_distance_nor_time() {
        let route = line(601);
        let paused = log(&[
            (ActivityState::Paused, T0 + 199_500),
            (ActivityState::Started, T0 + 400_000),
            (ActivityState::Complete, T0 + 600_000),
        ]);
        let done = complete(Sport::Run, &route, &paused);
        let t = done.totals;
        // 199 s before the pause and 200 s after it.
        assert!((t.distance - 4.0 * 399.0).abs() < 3.0, "{}", t.distance);
        assert_eq!(t.moving_time, 399);
        assert_eq!(t.active_time, 400);
        assert_eq!(t.elapsed_time, 600);
        assert!(done
            .efforts
            .iter()
            .all(|e| e.t_ms < T0 + 199_500 || e.t_ms >= T0 + 400_000));
    }

    #[test]
    fn no_fixes_is_a_manual_activity() {
        let done = complete(
            Sport::Ride,
            &[],
            &log(&[(ActivityState::Complete, T0 + 90_000)]),
        );
        assert_eq!(done.totals.distance, 0.0);
        assert_eq!(done.totals.moving_time, 90);
        assert_eq!(done.totals.average_speed, 0.0);
        assert_eq!(done.summary_polyline, None);
        assert!(done.splits.is_empty() && done.efforts.is_empty());
    }

    #[test]
    fn moving_time_never_exceeds_the_timer() {
        // Fixes run on 60 s past a completion the athlete backdated.
        let route = line(601);
        let done = complete(
            Sport::Run,
            &route,
            &log(&[(ActivityState::Complete, T0 + 540_000)]),
        );
        assert_eq!(done.totals.active_time, 540);
        assert_eq!(done.totals.moving_time, 540);
    }

    #[test]
    fn summary_polyline_is_thinned_and_keeps_the_end() {
        let route = line(2_500);
        let encoded = summary_polyline(&route).unwrap();
        let decoded = polyline::decode_polyline(&encoded, 5).unwrap();
        assert!(decoded.0.len() <= SUMMARY_POINTS + 1);
        let end = decoded.0.last().unwrap();
        assert!((end.y - route[2_499].lat).abs() < 1e-5);
        assert_eq!(summary_polyline(&[]), None);
    }
}
