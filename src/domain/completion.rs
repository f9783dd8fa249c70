//! The one completion: a sport, an ordered route and a status log become
//! the final activity (totals, splits, best-effort inputs, summary
//! polyline). Live completion, upload, offline sync and auto-complete all
//! call [`complete`]; nothing else computes final stats.

use serde::Serialize;

use super::activity::{ActivityTotals, StatusLog};
use super::stats::{average_and_max, walk, Split};
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
/// while the log says paused, or after it says complete, count neither
/// distance nor time. The activity starts at its first fix if that is
/// before the log's start. A log that is not complete ends at its last fix
/// (or its start).
///
/// The totals agree with one another: moving ≤ active ≤ elapsed, and
/// average (distance / moving time) ≤ maximum speed.
pub fn complete(sport: Sport, route: &[Fix], log: &StatusLog) -> CompletedActivity {
    let mut log = log.clone();
    if let Some(first) = route.first() {
        log.start_no_later_than(first.t_ms);
    }
    let end = log
        .completed_ms()
        .or_else(|| route.last().map(|f| f.t_ms.max(log.start_ms())))
        .unwrap_or_else(|| log.start_ms());
    let pauses = log.timer_off();
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
    let (average_speed, max_speed) = average_and_max(stats.distance, moving_time, stats.max_speed);
    CompletedActivity {
        totals: ActivityTotals {
            distance: stats.distance,
            moving_time,
            active_time,
            elapsed_time: log.elapsed_time(end),
            total_elevation_gain: stats.total_elevation_gain,
            max_speed,
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
        // 199 s before the pause and 200 s after it; the timer ran 199.5 s
        // and 200 s, 199 and 200 whole seconds of the clock.
        assert!((t.distance - 4.0 * 399.0).abs() < 3.0, "{}", t.distance);
        assert_eq!(t.moving_time, 399);
        assert_eq!(t.active_time, 399);
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

    /// The README tour's ride: four fixes 3 s apart, the last one just
    /// after the app created the activity. The ride starts at its first
    /// fix, so the fixes count for time as they do for distance.
    #[test]
    fn fixes_before_the_start_move_the_start_back() {
        let created = T0 + 250;
        let route: Vec<Fix> = (0..4)
            .map(|i| {
                Fix::new(
                    created - 9_000 + i * 3_000,
                    59.91 + i as f64 * 0.0002,
                    10.75 + i as f64 * 0.0004,
                )
            })
            .collect();
        let mut log = StatusLog::start(created);
        log.apply(ActivityState::Complete, Some(created + 5_000), i64::MAX / 2)
            .unwrap();
        let done = complete(Sport::Ride, &route, &log);
        let t = done.totals;
        assert_eq!(done.start_ms, created - 9_000);
        assert_eq!((t.moving_time, t.active_time, t.elapsed_time), (9, 14, 14));
        assert!((t.distance - 94.0).abs() < 2.0, "{}", t.distance);
        assert!(t.average_speed <= t.max_speed, "{t:?}");
        // About 37.6 km/h, not the 68 km/h of 94 m over 5 s.
        assert!((t.average_speed * 3.6 - 37.6).abs() < 1.0, "{t:?}");
    }

    mod invariants {
        //! Property tests over generated tracks: whatever the fixes (sub-
        //! second times, stops, jitter, spikes, bad accuracy, device speeds),
        //! the pauses, and where the start and the completion fall, every
        //! figure agrees with every other one.
        use proptest::prelude::*;

        use super::*;
        use crate::domain::recording::Recording;
        use crate::domain::stats::{series, SPLIT_M};
        use crate::domain::{ActivityId, AthleteId};

        /// One generated step: (ms since the previous fix, speed in
        /// 1/16 m/s, flags, heading change).
        type Step = (u16, u8, u8, i8);

        fn track(steps: &[Step]) -> Vec<Fix> {
            let (mut t, mut north, mut east, mut heading, mut alt) =
                (T0 + 137, 0.0_f64, 0.0_f64, 0.0_f64, 100.0_f32);
            let mut out = Vec::with_capacity(steps.len());
            for &(gap, speed, flags, turn) in steps {
                let dt = 200 + i64::from(gap % 2_800);
                t += dt;
                let v = f64::from(speed) / 16.0;
                heading += f64::from(turn) * 0.05;
                north += v * dt as f64 / 1000.0 * heading.cos();
                east += v * dt as f64 / 1000.0 * heading.sin();
                alt += f32::from(turn) * 0.02;
                let mut f = Fix::new(t, 51.0 + north / M, east / (M * 0.629));
                if flags & 1 != 0 {
                    f.accuracy = Some(80.0);
                } else if flags & 2 != 0 {
                    f.accuracy = Some(5.0);
                }
                if flags & 4 != 0 {
                    f.speed = Some((v * 1.1) as f32);
                }
                if flags & 8 != 0 {
                    // A spike 150 m sideways.
                    f.lng += 150.0 / (M * 0.629);
                }
                if flags & 16 == 0 {
                    f.alt = Some(alt);
                }
                out.push(f);
            }
            out
        }

        /// A status log over the track: the start `start_shift` ms from the
        /// first fix, pauses at per-mille positions of the track, and the
        /// completion `end_shift` ms from the last fix.
        fn log_for(
            route: &[Fix],
            start_shift: i32,
            pauses: &[(u16, u16)],
            end_shift: i32,
        ) -> StatusLog {
            let first = route[0].t_ms;
            let last = route[route.len() - 1].t_ms;
            let at = |permille: u16| first + (last - first) * i64::from(permille % 1000) / 1000;
            let mut log = StatusLog::start(first + i64::from(start_shift));
            let far = i64::MAX / 2;
            let mut marks: Vec<i64> = pauses.iter().flat_map(|&(a, b)| [at(a), at(b)]).collect();
            marks.sort_unstable();
            for pair in marks.chunks(2) {
                if let [from, to] = *pair {
                    if from > log.start_ms() && to > from {
                        let _ = log.apply(ActivityState::Paused, Some(from), far);
                        let _ = log.apply(ActivityState::Started, Some(to), far);
                    }
                }
            }
            let last_entry = log.entries()[log.entries().len() - 1].at;
            let end = (last + i64::from(end_shift)).max(last_entry);
            log.apply(ActivityState::Complete, Some(end), far).unwrap();
            log
        }

        /// The `time` stream: whole seconds since the start.
        fn time_stream(route: &[Fix], start_ms: i64) -> Vec<i64> {
            route
                .iter()
                .map(|f| f.t_ms.div_euclid(1000) - start_ms.div_euclid(1000))
                .collect()
        }

        fn moving_seconds(time: &[i64], moving: &[bool], from: usize, to: usize) -> i64 {
            (from.max(1)..=to)
                .filter(|&i| moving[i])
                .map(|i| time[i] - time[i - 1])
                .sum()
        }

        fn sport(ride: bool) -> Sport {
            if ride {
                Sport::Ride
            } else {
                Sport::Run
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn completed_figures_agree(
                steps in prop::collection::vec(any::<Step>(), 2..600),
                ride in any::<bool>(),
                start_shift in -60_000i32..60_000,
                pauses in prop::collection::vec(any::<(u16, u16)>(), 0..3),
                end_shift in -20_000i32..20_000,
            ) {
                let route = track(&steps);
                let log = log_for(&route, start_shift, &pauses, end_shift);
                let done = complete(sport(ride), &route, &log);
                let t = done.totals;
                prop_assert!(t.average_speed <= t.max_speed, "{:?}", t);
                prop_assert!(t.moving_time <= t.active_time, "{:?}", t);
                prop_assert!(t.active_time <= t.elapsed_time, "{:?}", t);
                prop_assert!(done.start_ms <= route[0].t_ms);

                // The streams, as `/streams` serves them.
                let mut moved = log.clone();
                moved.start_no_later_than(route[0].t_ms);
                prop_assert_eq!(moved.start_ms(), done.start_ms);
                let s = series(sport(ride), &route, &moved.timer_off());
                let time = time_stream(&route, done.start_ms);
                let n = route.len();
                prop_assert_eq!(moving_seconds(&time, &s.moving, 0, n - 1), t.moving_time);
                prop_assert!((s.distance[n - 1] - t.distance).abs() < 1e-6);

                // Each split: its distance and moving time are what the
                // streams give between the fixes where it starts and ends.
                let mut from = 0;
                let mut split_start = 0.0;
                let mut splits = done.splits.iter();
                for i in 0..n {
                    let last = i == n - 1;
                    let mark = (done.splits.len() - splits.len() + 1) as f64 * SPLIT_M;
                    if s.distance[i] >= mark || (last && s.distance[i] > split_start) {
                        let split = splits.next();
                        prop_assert!(split.is_some(), "a split is missing at fix {}", i);
                        let split = split.unwrap();
                        prop_assert!((split.distance - (s.distance[i] - s.distance[from])).abs() < 1e-6);
                        prop_assert_eq!(split.moving_time, moving_seconds(&time, &s.moving, from + 1, i));
                        from = i;
                        split_start = s.distance[i];
                    }
                }
                prop_assert!(splits.next().is_none());
            }

            #[test]
            fn live_figures_agree_at_every_batch(
                steps in prop::collection::vec(any::<Step>(), 2..300),
                ride in any::<bool>(),
                start_shift in -30_000i32..30_000,
                batch in 1usize..20,
            ) {
                let route = track(&steps);
                let mut r = Recording::resume(
                    ActivityId(1),
                    AthleteId(1),
                    sport(ride),
                    StatusLog::start(route[0].t_ms + i64::from(start_shift)),
                    Vec::new(),
                    1,
                );
                for chunk in route.chunks(batch) {
                    let now = chunk[chunk.len() - 1].t_ms + 400;
                    r.ingest(chunk, now);
                    let live = r.live_stats(now);
                    prop_assert!(live.totals.average_speed <= live.totals.max_speed, "{:?}", live);
                    prop_assert!(live.totals.moving_time <= live.totals.active_time, "{:?}", live);
                    prop_assert!(live.totals.active_time <= live.totals.elapsed_time, "{:?}", live);
                    prop_assert!(r.log().start_ms() <= route[0].t_ms);
                }
                let end = route[route.len() - 1].t_ms;
                r.apply_state(ActivityState::Complete, Some(end), end).unwrap();
                let live = r.live_stats(end);
                let done = r.finish().1.totals;
                prop_assert_eq!(live.totals.moving_time, done.moving_time);
                prop_assert_eq!(live.totals.elapsed_time, done.elapsed_time);
                prop_assert_eq!(live.totals.max_speed, done.max_speed);
                prop_assert!((live.totals.distance - done.distance).abs() < 1e-6);
            }
        }
    }
}
