//! Rolling activity statistics, updated in O(1) per fix so a live server can
//! keep one accumulator per activity, and the same code serves file import
//! (see [`compute`]).
//!
//! Distance is the length on the WGS84 ellipsoid (as GPS devices measure
//! it; a sphere makes east-west steps at mid latitudes ~0.3% short)
//! between consecutive *accepted* fixes.
//! A fix is left out of distance when its accuracy is worse than
//! [`MAX_ACCURACY_M`], when reaching it needs an implausible speed for the
//! sport, or when it is within the jitter gate of the last accepted fix
//! (GPS wanders a few metres while standing still). Time between accepted
//! fixes counts as moving only when the average speed over it reaches the
//! sport's auto-pause speed; stopped intervals add no distance either, as a
//! device's auto-pause does.

use geo::{Distance, Geodesic, Haversine, Point};
use serde::{Deserialize, Serialize};

use super::{Fix, Sport};

/// Fixes whose horizontal accuracy is worse than this (metres) are kept out
/// of distance: phones report 50 m+ before a proper lock.
pub const MAX_ACCURACY_M: f32 = 50.0;
/// Fastest plausible running speed (m/s): above a sprinter's top speed.
pub const RUN_MAX_SPEED: f64 = 12.0;
/// Fastest plausible riding speed (m/s), ~126 km/h: fast descents stay in.
pub const RIDE_MAX_SPEED: f64 = 35.0;
/// Below this average speed (m/s) a runner counts as stopped (slower than
/// 33 min/km, well under walking pace).
pub const RUN_MOVING_SPEED: f64 = 0.5;
/// Below this average speed (m/s) a rider counts as stopped (3.2 km/h).
pub const RIDE_MOVING_SPEED: f64 = 0.9;
/// Jitter gate (metres): a fix closer than this to the last accepted one
/// is skipped, so standing still does not accumulate distance.
pub const RUN_MIN_STEP_M: f64 = 2.0;
pub const RIDE_MIN_STEP_M: f64 = 3.0;
/// After this many consecutive implausible fixes the *anchor* was the bad
/// one (or the athlete really moved, e.g. on a train): re-anchor without
/// adding distance.
pub const RESYNC_AFTER_REJECTS: u8 = 3;
/// A silent gap longer than this (ms) is treated as a pause.
pub const MAX_GAP_MS: i64 = 10 * 60 * 1000;
/// Time constant (s) of the exponential moving average for current speed.
pub const SPEED_EMA_TAU_S: f64 = 5.0;
/// Altitude is first smoothed by an EMA with this time constant (s)...
pub const ELEVATION_EMA_TAU_S: f64 = 10.0;
/// ...then gain counts only climbs that exceed this hysteresis (metres).
/// Together they stop GPS/barometer noise from adding phantom climbing.
pub const ELEVATION_HYSTERESIS_M: f64 = 3.0;
/// Splits are per kilometre (Strava's `splits_metric`).
pub const SPLIT_M: f64 = 1000.0;
/// A slow interval that leaves the jitter gate is real (slow) travel, not
/// wander, when it keeps at least this share of the moving speed (GPS
/// drift at a stop is slower) and its net displacement is at least
/// [`SLOW_STRAIGHTNESS`] of the way the fixes took since the anchor (wander
/// zigzags).
pub const SLOW_TRAVEL_SHARE: f64 = 0.5;
pub const SLOW_STRAIGHTNESS: f64 = 0.5;

/// Per-sport thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    pub max_speed: f64,
    pub moving_speed: f64,
    pub min_step_m: f64,
}

impl Thresholds {
    pub const fn for_sport(sport: Sport) -> Thresholds {
        match sport {
            Sport::Run => Thresholds {
                max_speed: RUN_MAX_SPEED,
                moving_speed: RUN_MOVING_SPEED,
                min_step_m: RUN_MIN_STEP_M,
            },
            Sport::Ride => Thresholds {
                max_speed: RIDE_MAX_SPEED,
                moving_speed: RIDE_MOVING_SPEED,
                min_step_m: RIDE_MIN_STEP_M,
            },
        }
    }
}

/// A point-in-time view of an activity's statistics (Strava's names and
/// units: metres, seconds, m/s).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RollingStats {
    pub distance: f64,
    pub moving_time: i64,
    pub elapsed_time: i64,
    pub max_speed: f64,
    /// distance / moving_time.
    pub average_speed: f64,
    /// Smoothed speed now (m/s).
    pub current_speed: f64,
    /// Seconds per km; `None` while stopped.
    pub current_pace: Option<f64>,
    pub total_elevation_gain: f64,
    pub elev_high: Option<f64>,
    pub elev_low: Option<f64>,
    pub point_count: u32,
    pub start_ms: Option<i64>,
    pub last_ms: Option<i64>,
}

/// One kilometre split, in Strava's `splits_metric` shape.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// 1-based.
    pub split: u32,
    pub distance: f64,
    pub elapsed_time: i64,
    pub moving_time: i64,
    pub elevation_difference: f64,
    pub average_speed: f64,
}

/// Where the current split started.
#[derive(Debug, Clone, Copy, Default)]
struct SplitStart {
    t_ms: i64,
    moving_ms: i64,
    distance: f64,
    alt: Option<f32>,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    t_ms: i64,
    lat: f64,
    lng: f64,
}

/// Incremental statistics. Fixes must arrive in strictly increasing time
/// order; out-of-order ones are ignored.
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    limits: Thresholds,
    /// Last fix that counted for distance.
    anchor: Option<Anchor>,
    /// Last plausible fix (set with the anchor): where a stop ended.
    prev: Anchor,
    /// The first fix's time (meaningful once `point_count > 0`).
    first_ms: i64,
    last_ms: i64,
    distance: f64,
    moving_ms: i64,
    /// Where the last interval counted as moving began (the `moving`
    /// stream marks every fix after it up to the one that counted it).
    moving_from_ms: i64,
    max_speed: f64,
    ema_speed: f64,
    /// Last three speed samples, for a median-of-3 spike filter.
    recent: [f32; 3],
    recent_len: u8,
    rejects: u8,
    /// The way the plausible fixes took since the anchor (metres).
    path_since_anchor: f32,
    break_pending: bool,
    elev_ref: Option<f32>,
    elev_gain: f64,
    elev_high: Option<f32>,
    elev_low: Option<f32>,
    last_alt: Option<f32>,
    point_count: u32,
    split_start: SplitStart,
    /// Allocates only once the first kilometre is done.
    splits: Vec<Split>,
}

/// A fix time on the whole-second grid the `time` stream uses (seconds
/// since the start are whole). Moving time adds up steps on this grid, so
/// the `moving` stream's seconds sum to exactly the moving time.
fn on_second_grid(t_ms: i64) -> i64 {
    t_ms.div_euclid(1000) * 1000
}

/// The average speed over the moving time as reported (whole seconds),
/// and the maximum speed, never below it: whoever covered `distance` in
/// `moving_time` went at least that fast at some moment, also before the
/// spike filter has its three samples.
pub fn average_and_max(distance: f64, moving_time: i64, max_speed: f64) -> (f64, f64) {
    let average = if moving_time > 0 {
        distance / moving_time as f64
    } else {
        0.0
    };
    (average, max_speed.max(average))
}

/// Great-circle distance in metres.
pub fn haversine(a_lat: f64, a_lng: f64, b_lat: f64, b_lng: f64) -> f64 {
    Haversine.distance(Point::new(a_lng, a_lat), Point::new(b_lng, b_lat))
}

/// WGS84 semi-major axis (m) and first eccentricity squared.
const WGS84_A: f64 = 6_378_137.0;
const WGS84_E2: f64 = 6.694_379_990_14e-3;

/// Distance in metres on the WGS84 ellipsoid, as GPS devices count it:
/// the step is scaled by the meridional and prime-vertical radii of
/// curvature at the mean latitude (exact to ~1e-6 for steps of a few
/// km); longer ones take the full geodesic.
pub fn ellipsoidal(a_lat: f64, a_lng: f64, b_lat: f64, b_lng: f64) -> f64 {
    let mean = ((a_lat + b_lat) / 2.0).to_radians();
    let mut dlng = b_lng - a_lng;
    if dlng > 180.0 {
        dlng -= 360.0;
    } else if dlng < -180.0 {
        dlng += 360.0;
    }
    let sin = mean.sin();
    let w = 1.0 - WGS84_E2 * sin * sin;
    let meridional = WGS84_A * (1.0 - WGS84_E2) / (w * w.sqrt());
    let prime_vertical = WGS84_A / w.sqrt();
    let north = (b_lat - a_lat).to_radians() * meridional;
    let east = dlng.to_radians() * prime_vertical * mean.cos();
    let d = north.hypot(east);
    if d > 20_000.0 {
        Geodesic.distance(Point::new(a_lng, a_lat), Point::new(b_lng, b_lat))
    } else {
        d
    }
}

fn median3(v: [f32; 3]) -> f32 {
    v[0].max(v[1]).min(v[0].min(v[1]).max(v[2]))
}

impl StatsAccumulator {
    pub fn new(sport: Sport) -> Self {
        Self::with_thresholds(Thresholds::for_sport(sport))
    }

    pub fn with_thresholds(limits: Thresholds) -> Self {
        StatsAccumulator {
            limits,
            anchor: None,
            prev: Anchor {
                t_ms: 0,
                lat: 0.0,
                lng: 0.0,
            },
            first_ms: 0,
            last_ms: 0,
            distance: 0.0,
            moving_ms: 0,
            moving_from_ms: i64::MIN,
            max_speed: 0.0,
            ema_speed: 0.0,
            recent: [0.0; 3],
            recent_len: 0,
            rejects: 0,
            path_since_anchor: 0.0,
            break_pending: false,
            elev_ref: None,
            elev_gain: 0.0,
            elev_high: None,
            elev_low: None,
            last_alt: None,
            point_count: 0,
            split_start: SplitStart::default(),
            splits: Vec::new(),
        }
    }

    /// The athlete paused (timer stopped): the gap up to the next fix adds
    /// neither distance nor moving time.
    pub fn segment_break(&mut self) {
        self.break_pending = true;
    }

    pub fn push(&mut self, fix: &Fix) {
        if self.point_count > 0 && fix.t_ms <= self.last_ms {
            return;
        }
        if self.point_count == 0 {
            self.first_ms = fix.t_ms;
            self.split_start.t_ms = fix.t_ms;
        }
        self.point_count = self.point_count.saturating_add(1);
        let since_prev_s = (fix.t_ms - self.last_ms) as f64 / 1000.0;
        self.last_ms = fix.t_ms;
        // NaN accuracy counts as bad too.
        if fix
            .accuracy
            .is_some_and(|a| a.is_nan() || a > MAX_ACCURACY_M)
        {
            return;
        }
        self.track_elevation(fix.alt, since_prev_s);

        let Some(anchor) = self.anchor else {
            self.reanchor(fix);
            return;
        };
        let dt_ms = fix.t_ms - anchor.t_ms;
        if self.break_pending || dt_ms > MAX_GAP_MS {
            self.reanchor(fix);
            return;
        }
        let dt = dt_ms as f64 / 1000.0;
        let d = ellipsoidal(anchor.lat, anchor.lng, fix.lat, fix.lng);
        let interval_speed = d / dt;
        if interval_speed > self.limits.max_speed {
            self.rejects += 1;
            if self.rejects >= RESYNC_AFTER_REJECTS {
                self.reanchor(fix);
            }
            return;
        }
        self.rejects = 0;
        let sample = fix.speed.map_or(interval_speed, f64::from);
        self.sample_speed(sample, dt);
        let prev = std::mem::replace(
            &mut self.prev,
            Anchor {
                t_ms: fix.t_ms,
                lat: fix.lat,
                lng: fix.lng,
            },
        );
        let step = ellipsoidal(prev.lat, prev.lng, fix.lat, fix.lng);
        self.path_since_anchor += step as f32;
        if d < self.limits.min_step_m {
            // Within the jitter gate: wait for real displacement.
            return;
        }
        if interval_speed >= self.limits.moving_speed {
            self.distance += d;
            self.count_moving(anchor.t_ms, fix.t_ms);
        } else {
            // Slow since the anchor. If the last step was at moving speed
            // the athlete has just set off from a stop, and the way from
            // where they stood is real distance (dropping it cut a few
            // metres at every stop); only that step's time was moving.
            // Otherwise, a straight slow way (a steep climb on foot,
            // pushing a bike) is real distance too, but not moving time;
            // a zigzag is GPS wander at a stop and adds nothing.
            let step_ms = fix.t_ms - prev.t_ms;
            if prev.t_ms > anchor.t_ms && step >= self.limits.moving_speed * step_ms as f64 / 1000.0
            {
                self.distance += d;
                self.count_moving(prev.t_ms, fix.t_ms);
            } else if interval_speed >= SLOW_TRAVEL_SHARE * self.limits.moving_speed
                && d >= SLOW_STRAIGHTNESS * f64::from(self.path_since_anchor)
            {
                self.distance += d;
            }
        }
        self.path_since_anchor = 0.0;
        self.anchor = Some(Anchor {
            t_ms: fix.t_ms,
            lat: fix.lat,
            lng: fix.lng,
        });
        self.close_split_if_due(fix.t_ms);
    }

    fn count_moving(&mut self, from_ms: i64, to_ms: i64) {
        self.moving_ms += on_second_grid(to_ms) - on_second_grid(from_ms);
        self.moving_from_ms = from_ms;
    }

    fn reanchor(&mut self, fix: &Fix) {
        let here = Anchor {
            t_ms: fix.t_ms,
            lat: fix.lat,
            lng: fix.lng,
        };
        self.anchor = Some(here);
        self.prev = here;
        self.path_since_anchor = 0.0;
        self.break_pending = false;
        self.rejects = 0;
        self.recent_len = 0;
        self.ema_speed = fix.speed.map_or(0.0, f64::from);
    }

    fn sample_speed(&mut self, speed: f64, dt: f64) {
        let alpha = 1.0 - (-dt / SPEED_EMA_TAU_S).exp();
        self.ema_speed += alpha * (speed - self.ema_speed);
        self.recent.rotate_left(1);
        self.recent[2] = speed as f32;
        self.recent_len = (self.recent_len + 1).min(3);
        if self.recent_len == 3 {
            // Median of three: one spiky sample cannot set the max.
            self.max_speed = self.max_speed.max(f64::from(median3(self.recent)));
        }
    }

    fn track_elevation(&mut self, alt: Option<f32>, dt: f64) {
        let Some(raw) = alt.filter(|a| a.is_finite()) else {
            return;
        };
        let alt = match self.last_alt {
            Some(prev) => {
                let alpha = 1.0 - (-dt / ELEVATION_EMA_TAU_S).exp();
                (f64::from(prev) + alpha * (f64::from(raw) - f64::from(prev))) as f32
            }
            None => raw,
        };
        self.last_alt = Some(alt);
        self.elev_high = Some(self.elev_high.map_or(alt, |h| h.max(alt)));
        self.elev_low = Some(self.elev_low.map_or(alt, |l| l.min(alt)));
        match self.elev_ref {
            None => self.elev_ref = Some(alt),
            Some(r) => {
                let diff = f64::from(alt) - f64::from(r);
                if diff >= ELEVATION_HYSTERESIS_M {
                    self.elev_gain += diff;
                    self.elev_ref = Some(alt);
                } else if diff <= -ELEVATION_HYSTERESIS_M {
                    self.elev_ref = Some(alt);
                }
            }
        }
    }

    fn split_since(&self, start: &SplitStart, now_ms: i64, number: u32) -> Split {
        let distance = self.distance - start.distance;
        let moving_ms = self.moving_ms - start.moving_ms;
        Split {
            split: number,
            distance,
            elapsed_time: (now_ms - start.t_ms + 500) / 1000,
            moving_time: (moving_ms + 500) / 1000,
            elevation_difference: match (start.alt, self.last_alt) {
                (Some(a), Some(b)) => f64::from(b) - f64::from(a),
                _ => 0.0,
            },
            average_speed: if moving_ms > 0 {
                distance / (moving_ms as f64 / 1000.0)
            } else {
                0.0
            },
        }
    }

    fn close_split_if_due(&mut self, now_ms: i64) {
        // Kilometre N ends at the first fix at or past N km of the whole
        // activity, so overshoots do not accumulate (there are ceil(distance
        // / 1 km) splits, as on Strava), and each split holds exactly what
        // the streams hold between its fixes, so its pace is the chart's.
        let mark = (self.splits.len() + 1) as f64 * SPLIT_M;
        if self.distance < mark {
            return;
        }
        let number = self.splits.len() as u32 + 1;
        let split = self.split_since(&self.split_start, now_ms, number);
        self.splits.push(split);
        self.split_start = SplitStart {
            t_ms: now_ms,
            moving_ms: self.moving_ms,
            distance: self.distance,
            alt: self.last_alt,
        };
    }

    /// Metres counted so far.
    pub fn distance(&self) -> f64 {
        self.distance
    }

    /// Moving milliseconds counted so far.
    pub fn moving_ms(&self) -> i64 {
        self.moving_ms
    }

    /// Completed kilometre splits.
    pub fn splits(&self) -> &[Split] {
        &self.splits
    }

    /// The split in progress, if it has any distance.
    pub fn partial_split(&self) -> Option<Split> {
        let number = self.splits.len() as u32 + 1;
        let split = self.split_since(&self.split_start, self.last_ms, number);
        (split.distance > 0.0).then_some(split)
    }

    /// Completed splits plus the final partial one.
    pub fn all_splits(&self) -> Vec<Split> {
        let mut all = self.splits.clone();
        all.extend(self.partial_split());
        all
    }

    pub fn snapshot(&self) -> RollingStats {
        let moving_time = (self.moving_ms + 500) / 1000;
        let (average_speed, max_speed) =
            average_and_max(self.distance, moving_time, self.max_speed);
        let current_speed = self.ema_speed.max(0.0);
        let moving_now = current_speed >= self.limits.moving_speed;
        RollingStats {
            distance: self.distance,
            moving_time,
            elapsed_time: if self.point_count > 0 {
                (self.last_ms - self.first_ms + 500) / 1000
            } else {
                0
            },
            max_speed,
            average_speed,
            current_speed,
            current_pace: moving_now.then(|| 1000.0 / current_speed),
            total_elevation_gain: self.elev_gain,
            elev_high: self.elev_high.map(f64::from),
            elev_low: self.elev_low.map(f64::from),
            point_count: self.point_count,
            start_ms: (self.point_count > 0).then_some(self.first_ms),
            last_ms: (self.point_count > 0).then_some(self.last_ms),
        }
    }
}

/// Batch statistics: feeds the accumulator in order (the one code path).
pub fn compute(sport: Sport, fixes: &[Fix]) -> (RollingStats, Vec<Split>) {
    compute_with_pauses(sport, fixes, &[])
}

/// As [`compute`], honouring recorded timer pauses (`(stop_ms, start_ms)`,
/// sorted by start): fixes recorded while the timer was stopped are
/// skipped, and the first fix after a pause begins a new segment.
pub fn compute_with_pauses(
    sport: Sport,
    fixes: &[Fix],
    pauses: &[(i64, i64)],
) -> (RollingStats, Vec<Split>) {
    let acc = walk(sport, fixes, pauses, |_, _, _| {});
    (acc.snapshot(), acc.all_splits())
}

/// An accumulator fed in time order that honours timer pauses
/// (`(stop_ms, start_ms)`, sorted by start): fixes recorded while the timer
/// was stopped are skipped, and the first fix after a pause begins a new
/// segment. The live recording keeps one and [`walk`] replays one, so the
/// rolling stats and the final ones are the same computation.
#[derive(Debug, Clone)]
pub struct PausedStats {
    acc: StatsAccumulator,
    /// The first pause that has not ended before the last fix.
    next: usize,
    prev_ms: i64,
}

impl PausedStats {
    pub fn new(sport: Sport) -> Self {
        PausedStats {
            acc: StatsAccumulator::new(sport),
            next: 0,
            prev_ms: i64::MIN,
        }
    }

    /// Feeds the next fix (later than any before); `pauses` may have grown
    /// at the end since the last call. Answers whether the fix counted
    /// (false while the timer was stopped).
    pub fn push(&mut self, fix: &Fix, pauses: &[(i64, i64)]) -> bool {
        // Pauses that ended before this fix: break if one began after the
        // previous fix (or while skipping).
        while let Some(&(stop, start)) = pauses.get(self.next) {
            if start > fix.t_ms {
                break;
            }
            if stop >= self.prev_ms {
                self.acc.segment_break();
            }
            self.next += 1;
        }
        if let Some(&(stop, _)) = pauses.get(self.next) {
            if stop < fix.t_ms {
                // Recorded while the timer was stopped.
                self.acc.segment_break();
                return false;
            }
        }
        self.prev_ms = fix.t_ms;
        self.acc.push(fix);
        true
    }

    pub fn stats(&self) -> &StatsAccumulator {
        &self.acc
    }

    pub fn into_stats(self) -> StatsAccumulator {
        self.acc
    }
}

/// Feeds `fixes` to an accumulator exactly as [`compute_with_pauses`]
/// does, calling `each(index, accumulator, counted)` after every fix
/// (`counted` is false for a fix recorded while the timer was stopped).
pub fn walk(
    sport: Sport,
    fixes: &[Fix],
    pauses: &[(i64, i64)],
    mut each: impl FnMut(usize, &StatsAccumulator, bool),
) -> StatsAccumulator {
    replay(sport, fixes, pauses, |i, acc, counted| {
        each(i, acc, counted)
    })
    .into_stats()
}

/// As [`walk`], answering the paused accumulator itself (to keep feeding).
pub fn replay<'a>(
    sport: Sport,
    fixes: impl IntoIterator<Item = &'a Fix>,
    pauses: &[(i64, i64)],
    mut each: impl FnMut(usize, &StatsAccumulator, bool),
) -> PausedStats {
    let mut paused = PausedStats::new(sport);
    for (i, fix) in fixes.into_iter().enumerate() {
        let counted = paused.push(fix, pauses);
        each(i, &paused.acc, counted);
    }
    paused
}

/// Per-fix series for Strava-style streams, computed by the same code as
/// the activity's stats: cumulative distance (m), whether the interval
/// ending at the fix counted as moving, and the smoothed speed (m/s).
/// Summing the `time` stream's steps (whole seconds since the start) over
/// the fixes marked moving gives exactly the moving time, and over a
/// split's fixes exactly the split's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    pub distance: Vec<f64>,
    pub moving: Vec<bool>,
    pub velocity_smooth: Vec<f64>,
}

pub fn series(sport: Sport, fixes: &[Fix], pauses: &[(i64, i64)]) -> Series {
    let mut out = Series {
        distance: Vec::with_capacity(fixes.len()),
        moving: Vec::with_capacity(fixes.len()),
        velocity_smooth: Vec::with_capacity(fixes.len()),
    };
    let mut moving_from = i64::MIN;
    walk(sport, fixes, pauses, |i, acc, counted| {
        out.distance.push(acc.distance);
        // Each interval counted as moving begins later than the one before.
        let moved = counted && acc.moving_from_ms != moving_from;
        out.moving.push(moved);
        if moved {
            // The interval may reach back over fixes that waited in the
            // jitter gate or were kept out: they moved too. Intervals do
            // not overlap, so this is O(1) per fix overall.
            for j in (0..i).rev() {
                if fixes[j].t_ms <= acc.moving_from_ms || out.moving[j] {
                    break;
                }
                out.moving[j] = true;
            }
        }
        out.velocity_smooth
            .push(if counted { acc.ema_speed.max(0.0) } else { 0.0 });
        moving_from = acc.moving_from_ms;
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;
    /// Metres per degree of latitude, for building tracks.
    const M: f64 = 111_195.0;

    /// Due north at `speed` m/s, one fix per second.
    fn line(n: i64, speed: f64) -> Vec<Fix> {
        (0..n)
            .map(|i| Fix::new(T0 + i * 1_000, 51.0 + i as f64 * speed / M, 0.0))
            .collect()
    }

    fn run(sport: Sport, fixes: &[Fix]) -> StatsAccumulator {
        let mut acc = StatsAccumulator::new(sport);
        for f in fixes {
            acc.push(f);
        }
        acc
    }

    #[test]
    fn steady_ride_distance_and_time() {
        let s = run(Sport::Ride, &line(601, 8.0)).snapshot();
        assert!((s.distance - 4_800.0).abs() < 5.0, "{}", s.distance);
        assert_eq!(s.moving_time, 600);
        assert_eq!(s.elapsed_time, 600);
        assert!((s.average_speed - 8.0).abs() < 0.01);
        assert!((s.current_speed - 8.0).abs() < 0.01);
        assert!((s.max_speed - 8.0).abs() < 0.01);
        assert!((s.current_pace.unwrap() - 125.0).abs() < 0.5);
        assert_eq!(s.point_count, 601);
    }

    #[test]
    fn standing_still_with_jitter_is_not_moving() {
        let mut fixes = line(60, 8.0);
        let (lat, t) = (fixes[59].lat, fixes[59].t_ms);
        // Two minutes at a traffic light, wandering ~1.5 m.
        for i in 1..=120 {
            let wobble = ((i * 37) % 7) as f64 - 3.0;
            fixes.push(Fix::new(t + i * 1_000, lat + wobble * 0.5 / M, 0.0));
        }
        let before = run(Sport::Ride, &fixes[..60]).snapshot();
        let acc = run(Sport::Ride, &fixes);
        let s = acc.snapshot();
        assert!(s.distance - before.distance < 1.0);
        assert_eq!(s.moving_time, before.moving_time);
        assert_eq!(s.elapsed_time, 179);
        assert_eq!(s.current_pace, None);
    }

    /// Ten stops at traffic lights (30 s, wandering ~1 m), each followed
    /// by setting off at 1, 2, 3, 4, 5 m/s: the way out of every stop is
    /// real distance. Dropping the first gate-length of each departure
    /// (the interval from the stop's anchor is "slow") made city rides
    /// systematically short.
    #[test]
    fn setting_off_from_a_stop_keeps_its_distance() {
        let mut fixes = Vec::new();
        let (mut t, mut north, mut truth) = (T0, 0.0_f64, 0.0_f64);
        let mut push = |t: i64, north: f64, east: f64| {
            fixes.push(Fix::new(t, 51.0 + north / M, east / (M * 0.629)));
        };
        for stop in 0..10 {
            for v in [
                1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 3.0, 1.0,
            ] {
                t += 1_000;
                north += v;
                truth += v;
                push(t, north, 0.0);
            }
            for i in 0..30 {
                t += 1_000;
                let wobble = (((i * 37 + stop) % 7) as f64 - 3.0) * 0.3;
                push(t, north + wobble, wobble);
            }
        }
        let s = run(Sport::Ride, &fixes).snapshot();
        assert!(
            (s.distance - truth).abs() < 0.01 * truth,
            "{:.1} m of {truth:.1} m",
            s.distance
        );
        // The stops are not moving time: 14 s of riding per stop, at most.
        assert!(
            s.moving_time <= 140 && s.moving_time >= 120,
            "{}",
            s.moving_time
        );
    }

    #[test]
    fn distance_is_measured_on_the_ellipsoid() {
        // One degree of longitude on the equator, of latitude at 45°:
        // WGS84 values, where a sphere says 111,195 m for both.
        let equator = ellipsoidal(0.0, 10.0, 0.0, 11.0);
        assert!((equator - 111_319.49).abs() < 1.0, "{equator}");
        let meridian = ellipsoidal(44.5, 7.0, 45.5, 7.0);
        assert!((meridian - 111_132.95).abs() < 2.0, "{meridian}");
        // Steps as fixes make them agree with the full geodesic, in any
        // direction and across the antimeridian.
        for (a, b) in [
            ((51.5, -0.1), (51.5, -0.085)),
            ((51.5, -0.1), (51.509, -0.1)),
            ((-33.9, 151.2), (-33.905, 151.207)),
            ((64.1, -21.9), (64.1003, -21.8)),
            ((0.0, 179.999), (0.0, -179.999)),
        ] {
            let ours = ellipsoidal(a.0, a.1, b.0, b.1);
            let exact = Geodesic.distance(Point::new(a.1, a.0), Point::new(b.1, b.0));
            assert!(
                (ours - exact).abs() < 1e-5 * exact,
                "{a:?} {b:?}: {ours} vs {exact}"
            );
        }
        // Long steps take the geodesic itself.
        let far = ellipsoidal(48.0, 2.0, 52.0, 13.0);
        let exact = Geodesic.distance(Point::new(2.0, 48.0), Point::new(13.0, 52.0));
        assert!((far - exact).abs() < 1e-6, "{far} vs {exact}");
    }

    /// Climbing on foot at 0.4 m/s (under the run's moving speed) is slow
    /// but straight: its distance counts (as on the device), its time is
    /// not moving time. Wander at a stop zigzags and adds nothing, even
    /// when it drifts beyond the jitter gate.
    #[test]
    fn slow_straight_travel_counts_and_wander_does_not() {
        let s = run(Sport::Run, &line(301, 0.4)).snapshot();
        assert!((s.distance - 120.0).abs() < 3.0, "{}", s.distance);
        assert_eq!(s.moving_time, 0);

        // Ten minutes standing: each fix 0.3 m from the last in a new
        // direction (wander at 0.3 m/s, over a quarter of the moving
        // speed), drifting north 5 cm/s; then the same drift without the
        // wander (too slow to be travel).
        let (mut north, mut east) = (0.0_f64, 0.0_f64);
        let wander: Vec<Fix> = (0..600)
            .map(|i: i64| {
                let angle = (i * 137 % 360) as f64 * std::f64::consts::PI / 180.0;
                north += 0.05 + 0.3 * angle.cos();
                east += 0.3 * angle.sin();
                Fix::new(T0 + i * 1_000, 51.0 + north / M, east / (M * 0.629))
            })
            .collect();
        let s = run(Sport::Run, &wander).snapshot();
        assert!(s.distance < 3.0, "{}", s.distance);
        assert_eq!(s.moving_time, 0);
        let fixes = line(601, 0.05);
        let s = run(Sport::Run, &fixes).snapshot();
        assert_eq!(s.distance, 0.0);
        assert_eq!(s.moving_time, 0);
    }

    #[test]
    fn inaccurate_and_implausible_fixes_add_no_distance() {
        let mut fixes = line(100, 3.0);
        fixes[40].accuracy = Some(80.0);
        fixes[40].lat += 300.0 / M;
        fixes[70].lng += 200.0 / (M * 0.63); // 200 m sideways spike
        let s = run(Sport::Run, &fixes).snapshot();
        assert!((s.distance - 297.0).abs() < 3.0, "{}", s.distance);
        assert!(s.max_speed < 4.0, "{}", s.max_speed);
    }

    #[test]
    fn persistent_jump_resyncs() {
        let mut fixes = line(20, 3.0);
        // The athlete boards a train: every later fix is far away.
        for f in fixes.iter_mut().skip(10) {
            f.lat += 0.1;
        }
        let acc = run(Sport::Run, &fixes);
        let s = acc.snapshot();
        // 9 s before the jump, and the rest after re-anchoring.
        assert!(s.distance > 40.0 && s.distance < 60.0, "{}", s.distance);
    }

    #[test]
    fn segment_break_skips_the_gap() {
        let fixes = line(200, 4.0);
        let mut acc = StatsAccumulator::new(Sport::Run);
        for f in &fixes[..100] {
            acc.push(f);
        }
        acc.segment_break();
        // Resume 10 minutes later, 1 km away.
        for f in &fixes[100..] {
            let mut f = *f;
            f.t_ms += 300_000;
            f.lat += 1_000.0 / M;
            acc.push(&f);
        }
        let s = acc.snapshot();
        assert!((s.distance - 4.0 * 198.0).abs() < 2.0, "{}", s.distance);
        assert_eq!(s.moving_time, 198);
        assert_eq!(s.elapsed_time, 499);
    }

    #[test]
    fn pauses_from_the_file_are_honoured() {
        let fixes = line(300, 4.0);
        let pauses = [(T0 + 99_500, T0 + 200_000)];
        let (s, _) = compute_with_pauses(Sport::Run, &fixes, &pauses);
        // Fixes 100..200 were recorded while the timer was stopped.
        assert_eq!(s.moving_time, 198);
        assert!((s.distance - 4.0 * 198.0).abs() < 2.0, "{}", s.distance);
    }

    #[test]
    fn elevation_noise_is_suppressed() {
        let mut fixes = line(600, 3.0);
        for (i, f) in fixes.iter_mut().enumerate() {
            let noise = (((i * 7919) % 11) as f32 - 5.0) * 0.4; // ±2 m
            let climb = if i >= 300 {
                (i - 300) as f32 * 0.2
            } else {
                0.0
            }; // +60 m
            f.alt = Some(100.0 + climb + noise);
        }
        let s = run(Sport::Run, &fixes).snapshot();
        let raw: f64 = fixes
            .windows(2)
            .map(|w| f64::from(w[1].alt.unwrap() - w[0].alt.unwrap()).max(0.0))
            .sum();
        assert!(raw > 120.0, "{raw}");
        assert!(
            (s.total_elevation_gain - 60.0).abs() < 6.0,
            "{}",
            s.total_elevation_gain
        );
        assert!(s.elev_high.unwrap() > 155.0 && s.elev_low.unwrap() < 101.0);
    }

    #[test]
    fn kilometre_splits() {
        let acc = run(Sport::Run, &line(1_001, 2.5));
        let splits = acc.splits();
        assert_eq!(splits.len(), 2);
        assert_eq!(splits[0].split, 1);
        assert!((splits[0].distance - 1_000.0).abs() < 3.0);
        assert_eq!(splits[0].moving_time, 400);
        assert!((splits[0].average_speed - 2.5).abs() < 0.01);
        let last = acc.partial_split().unwrap();
        assert_eq!(last.split, 3);
        assert!((last.distance - 500.0).abs() < 5.0);
        let (_, all) = compute(Sport::Run, &line(1_001, 2.5));
        assert_eq!(all.len(), 3);
        let total: f64 = all.iter().map(|s| s.distance).sum();
        assert!((total - acc.snapshot().distance).abs() < 1e-6);
    }

    /// 120 km at 6 m per fix: every kilometre overshoots by a few metres,
    /// and the splits still number ceil(distance / 1 km).
    #[test]
    fn splits_number_the_started_kilometres() {
        let (stats, all) = compute(Sport::Ride, &line(20_001, 6.0));
        let expected = (stats.distance / SPLIT_M).ceil() as usize;
        assert_eq!(all.len(), expected, "{} m", stats.distance);
        // Each split ends at the first fix past its kilometre mark.
        let mut covered = 0.0;
        for s in &all[..expected - 1] {
            covered += s.distance;
            assert!(covered >= f64::from(s.split) * SPLIT_M, "{s:?}");
            assert!(covered < f64::from(s.split) * SPLIT_M + 7.0, "{s:?}");
        }
        let total: f64 = all.iter().map(|s| s.distance).sum();
        assert!((total - stats.distance).abs() < 1e-6);
    }

    #[test]
    fn out_of_order_fixes_are_ignored() {
        let fixes = line(10, 3.0);
        let mut acc = run(Sport::Run, &fixes);
        let before = acc.snapshot();
        acc.push(&fixes[3]);
        assert_eq!(acc.snapshot(), before);
    }

    #[test]
    fn series_matches_the_stats() {
        let mut fixes = line(300, 4.0);
        // A stop of 60 s in the middle.
        for f in fixes.iter_mut().skip(150) {
            f.t_ms += 60_000;
        }
        let pauses = [(T0 + 99_500, T0 + 120_000)];
        let (s, _) = compute_with_pauses(Sport::Run, &fixes, &pauses);
        let series = series(Sport::Run, &fixes, &pauses);
        assert_eq!(series.distance.len(), 300);
        assert_eq!(series.distance.last().copied(), Some(s.distance));
        assert!(series.distance.windows(2).all(|w| w[0] <= w[1]));
        // Fixes recorded during the pause do not move.
        assert!(!series.moving[110]);
        assert!(series.moving[50]);
        assert!(series.velocity_smooth[200] > 3.0);
    }

    #[test]
    fn stays_small() {
        let size = std::mem::size_of::<StatsAccumulator>();
        println!("StatsAccumulator: {size} bytes");
        assert!(size <= 256);
        assert_eq!(StatsAccumulator::new(Sport::Run).splits().len(), 0);
        assert_eq!(StatsAccumulator::new(Sport::Run).snapshot().point_count, 0);
    }
}
