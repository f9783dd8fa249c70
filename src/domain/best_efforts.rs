//! Best efforts: the fastest stretch of each standard distance inside an
//! activity, the way Strava's best efforts are (400 m, 1 km, 1 mile, 5 km,
//! 10 km, half marathon, marathon for runs; 10, 20, 40, 100 km for rides).
//!
//! The search runs over the completion's effort samples (cumulative
//! distance and moving time at every fix that counted, from the same walk
//! as the activity's totals), so an effort never disagrees with the
//! activity's distance: stops add no distance, and a pause (timer off)
//! adds neither distance nor samples. Its time passes, though: an effort
//! across a pause includes it, so pausing can only make an effort slower.
//!
//! Time as a function of distance is piecewise linear between samples, so
//! `elapsed(x) = T(x + D) − T(x)` is piecewise linear in the start `x` and
//! its minimum lies where the start or the end falls on a sample. Two
//! sweeps with two pointers visit all those places: O(n) per distance.
//! Where the distance stands still (a stop), the start takes the last
//! moment at that distance and the end the first, as a stopwatch would.

use serde::Serialize;

use super::activity::StatusLog;
use super::completion::{complete, EffortSample};
use super::{DomainError, Fix, Sport};

/// A standard distance. Runs and rides share `10k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum DistanceKey {
    #[serde(rename = "400m")]
    M400,
    #[serde(rename = "1k")]
    K1,
    #[serde(rename = "1mile")]
    Mile,
    #[serde(rename = "5k")]
    K5,
    #[serde(rename = "10k")]
    K10,
    #[serde(rename = "20k")]
    K20,
    #[serde(rename = "40k")]
    K40,
    #[serde(rename = "half_marathon")]
    HalfMarathon,
    #[serde(rename = "marathon")]
    Marathon,
    #[serde(rename = "100k")]
    K100,
}

const RUN_DISTANCES: [DistanceKey; 7] = [
    DistanceKey::M400,
    DistanceKey::K1,
    DistanceKey::Mile,
    DistanceKey::K5,
    DistanceKey::K10,
    DistanceKey::HalfMarathon,
    DistanceKey::Marathon,
];
const RIDE_DISTANCES: [DistanceKey; 4] = [
    DistanceKey::K10,
    DistanceKey::K20,
    DistanceKey::K40,
    DistanceKey::K100,
];

impl DistanceKey {
    pub const ALL: [DistanceKey; 10] = [
        DistanceKey::M400,
        DistanceKey::K1,
        DistanceKey::Mile,
        DistanceKey::K5,
        DistanceKey::K10,
        DistanceKey::K20,
        DistanceKey::K40,
        DistanceKey::HalfMarathon,
        DistanceKey::Marathon,
        DistanceKey::K100,
    ];

    /// The distances ranked for a sport, shortest first.
    pub fn for_sport(sport: Sport) -> &'static [DistanceKey] {
        match sport {
            Sport::Run => &RUN_DISTANCES,
            Sport::Ride => &RIDE_DISTANCES,
        }
    }

    /// The stored and query form (`5k`, `half_marathon`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            DistanceKey::M400 => "400m",
            DistanceKey::K1 => "1k",
            DistanceKey::Mile => "1mile",
            DistanceKey::K5 => "5k",
            DistanceKey::K10 => "10k",
            DistanceKey::K20 => "20k",
            DistanceKey::K40 => "40k",
            DistanceKey::HalfMarathon => "half_marathon",
            DistanceKey::Marathon => "marathon",
            DistanceKey::K100 => "100k",
        }
    }

    /// Strava's display name (`5K`, `1 mile`, `Half-Marathon`).
    pub fn name(self) -> &'static str {
        match self {
            DistanceKey::M400 => "400m",
            DistanceKey::K1 => "1K",
            DistanceKey::Mile => "1 mile",
            DistanceKey::K5 => "5K",
            DistanceKey::K10 => "10K",
            DistanceKey::K20 => "20K",
            DistanceKey::K40 => "40K",
            DistanceKey::HalfMarathon => "Half-Marathon",
            DistanceKey::Marathon => "Marathon",
            DistanceKey::K100 => "100K",
        }
    }

    pub fn metres(self) -> f64 {
        match self {
            DistanceKey::M400 => 400.0,
            DistanceKey::K1 => 1_000.0,
            DistanceKey::Mile => 1_609.344,
            DistanceKey::K5 => 5_000.0,
            DistanceKey::K10 => 10_000.0,
            DistanceKey::K20 => 20_000.0,
            DistanceKey::K40 => 40_000.0,
            DistanceKey::HalfMarathon => 21_097.5,
            DistanceKey::Marathon => 42_195.0,
            DistanceKey::K100 => 100_000.0,
        }
    }

    /// Any stored form (whatever the sport).
    pub fn from_stored(s: &str) -> Option<DistanceKey> {
        DistanceKey::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// A distance ranked for `sport` (field `distance` otherwise).
    pub fn parse(sport: Sport, s: &str) -> Result<DistanceKey, DomainError> {
        Self::for_sport(sport)
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| DomainError::invalid("distance"))
    }
}

/// The fastest stretch of one distance, in effort-sample positions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stretch {
    /// Interpolated start and end, epoch ms.
    pub start_ms: f64,
    pub end_ms: f64,
    /// Moving time inside the stretch (ms), interpolated like the times.
    pub moving_ms: f64,
    /// The sample at or before the start, and the one at or after the end.
    pub start_sample: usize,
    pub end_sample: usize,
}

impl Stretch {
    pub fn elapsed_ms(&self) -> f64 {
        self.end_ms - self.start_ms
    }
}

/// One best effort of an activity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BestEffort {
    pub distance: DistanceKey,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_ms: i64,
    /// Route indices: the fix at or before the start, the one at or after
    /// the end (Strava's stream indices).
    pub start_index: usize,
    pub end_index: usize,
}

/// Linear interpolation between samples `a` and `b` at distance `x`.
fn at(a: &EffortSample, b: &EffortSample, x: f64) -> (f64, f64) {
    let span = b.distance - a.distance;
    let f = if span > 0.0 {
        ((x - a.distance) / span).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (
        a.t_ms as f64 + f * (b.t_ms - a.t_ms) as f64,
        a.moving_ms as f64 + f * (b.moving_ms - a.moving_ms) as f64,
    )
}

/// The fastest stretch of `length` metres among the samples (cumulative
/// distance never decreasing, times increasing), or None if they never
/// cover it.
pub fn fastest(samples: &[EffortSample], length: f64) -> Option<Stretch> {
    let n = samples.len();
    if n < 2
        || length.is_nan()
        || length <= 0.0
        || samples[n - 1].distance - samples[0].distance < length
    {
        return None;
    }
    let mut best: Option<Stretch> = None;
    let mut consider = |s: Stretch| {
        if s.end_ms > s.start_ms && best.is_none_or(|b| s.elapsed_ms() < b.elapsed_ms()) {
            best = Some(s);
        }
    };
    // Starts on a sample: the last one at its distance (leaving a stop).
    // The end is in the first step that reaches start + length.
    let mut k = 1;
    for i in 0..n {
        if i + 1 < n && samples[i + 1].distance <= samples[i].distance {
            continue;
        }
        let target = samples[i].distance + length;
        while k < n && samples[k].distance < target {
            k += 1;
        }
        if k >= n {
            break;
        }
        let k = k.max(i + 1);
        let (end_ms, end_moving) = at(&samples[k - 1], &samples[k], target);
        consider(Stretch {
            start_ms: samples[i].t_ms as f64,
            end_ms,
            moving_ms: end_moving - samples[i].moving_ms as f64,
            start_sample: i,
            end_sample: k,
        });
    }
    // Ends on a sample: the first one at its distance (arriving). The
    // start is in the last step at or before end − length.
    let mut i = 0;
    for k in 1..n {
        if samples[k].distance <= samples[k - 1].distance {
            continue;
        }
        let target = samples[k].distance - length;
        if target < samples[0].distance {
            continue;
        }
        while i + 1 < k && samples[i + 1].distance <= target {
            i += 1;
        }
        let (start_ms, start_moving) = at(&samples[i], &samples[i + 1], target);
        consider(Stretch {
            start_ms,
            end_ms: samples[k].t_ms as f64,
            moving_ms: samples[k].moving_ms as f64 - start_moving,
            start_sample: i,
            end_sample: k,
        });
    }
    best
}

/// The best efforts of the sport's distances in effort samples; `index`
/// maps a sample's position to its route index.
pub fn from_samples(
    sport: Sport,
    samples: &[EffortSample],
    index: impl Fn(usize) -> usize,
) -> Vec<BestEffort> {
    DistanceKey::for_sport(sport)
        .iter()
        .filter_map(|&distance| {
            let s = fastest(samples, distance.metres())?;
            let elapsed_ms = s.elapsed_ms().round() as i64;
            Some(BestEffort {
                distance,
                elapsed_ms,
                moving_ms: (s.moving_ms.round() as i64).clamp(0, elapsed_ms),
                start_ms: s.start_ms.round() as i64,
                start_index: index(s.start_sample),
                end_index: index(s.end_sample),
            })
        })
        .collect()
}

/// A completed activity's best efforts: the one completion's samples
/// searched for each of the sport's distances. `route` is sorted by time
/// with one fix per timestamp (as stored).
pub fn for_activity(sport: Sport, route: &[Fix], log: &StatusLog) -> Vec<BestEffort> {
    let samples = complete(sport, route, log).efforts;
    // Samples are the counted fixes, in route order: find each by time.
    from_samples(sport, &samples, |i| {
        let t = samples[i].t_ms;
        route.partition_point(|f| f.t_ms < t)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_s: f64, distance: f64) -> EffortSample {
        EffortSample {
            t_ms: (t_s * 1000.0) as i64,
            distance,
            moving_ms: (t_s * 1000.0) as i64,
        }
    }

    /// The independent answer: every place a start or an end can fall on
    /// a sample, each end found by scanning from the beginning.
    fn brute(samples: &[EffortSample], length: f64) -> Option<f64> {
        let time_leaving = |x: f64| {
            let i = samples.iter().rposition(|s| s.distance <= x)?;
            match samples.get(i + 1) {
                None => Some(samples[i].t_ms as f64),
                Some(b) => Some(at(&samples[i], b, x).0),
            }
        };
        let time_reaching = |y: f64| {
            let k = samples.iter().position(|s| s.distance >= y)?;
            if k == 0 || samples[k].distance == y {
                return Some(samples[k].t_ms as f64);
            }
            Some(at(&samples[k - 1], &samples[k], y).0)
        };
        let first = samples.first()?.distance;
        let starts = samples
            .iter()
            .map(|s| s.distance)
            .chain(samples.iter().map(|s| s.distance - length))
            .filter(|&x| x >= first);
        starts
            .filter_map(|x| Some(time_reaching(x + length)? - time_leaving(x)?))
            .filter(|&e| e > 0.0)
            .min_by(f64::total_cmp)
    }

    #[test]
    fn even_pace_is_exact_with_interpolation() {
        // 4 m/s, a fix every 3 s: 400 m ends between fixes.
        let samples: Vec<_> = (0..200)
            .map(|i| sample(i as f64 * 3.0, i as f64 * 12.0))
            .collect();
        let s = fastest(&samples, 400.0).unwrap();
        assert!((s.elapsed_ms() - 100_000.0).abs() < 1e-6, "{s:?}");
        assert!((s.moving_ms - 100_000.0).abs() < 1e-6);
        assert_eq!(fastest(&samples, 10_000.0), None);
    }

    #[test]
    fn finds_the_fast_stretch_in_the_middle() {
        // 3 m/s, then 500 m at 5 m/s, then 3 m/s again.
        let mut samples = Vec::new();
        let (mut t, mut d) = (0.0, 0.0);
        for speed in std::iter::repeat_n(3.0, 300)
            .chain(std::iter::repeat_n(5.0, 100))
            .chain(std::iter::repeat_n(3.0, 300))
        {
            samples.push(sample(t, d));
            t += 1.0;
            d += speed;
        }
        let s = fastest(&samples, 400.0).unwrap();
        assert!((s.elapsed_ms() - 80_000.0).abs() < 1e-6, "{s:?}");
        assert!(s.start_sample >= 300 && s.end_sample <= 400, "{s:?}");
        let s = fastest(&samples, 1_000.0).unwrap();
        // 500 m at 5 m/s and 500 m at 3 m/s.
        assert!((s.elapsed_ms() - (100_000.0 + 500.0 / 3.0 * 1000.0)).abs() < 1e-3);
    }

    #[test]
    fn a_stop_counts_its_time_but_not_at_the_ends() {
        // 1 km at 4 m/s, standing 60 s, 1 km at 4 m/s.
        let mut samples: Vec<_> = (0..=250)
            .map(|i| sample(i as f64, i as f64 * 4.0))
            .collect();
        for i in 1..=60 {
            samples.push(sample(250.0 + i as f64, 1_000.0));
        }
        for i in 1..=250 {
            samples.push(sample(310.0 + i as f64, 1_000.0 + i as f64 * 4.0));
        }
        // 1 km fits either side of the stop without it.
        let s = fastest(&samples, 1_000.0).unwrap();
        assert!((s.elapsed_ms() - 250_000.0).abs() < 1e-6, "{s:?}");
        // 2 km must include the stop, but not more.
        let s = fastest(&samples, 2_000.0).unwrap();
        assert!((s.elapsed_ms() - 560_000.0).abs() < 1e-6, "{s:?}");
        assert_eq!(Some(s.elapsed_ms()), brute(&samples, 2_000.0));
    }

    #[test]
    fn never_slower_than_any_whole_stretch_and_agrees_with_brute_force() {
        // A jittery pace with stops, deterministic.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 1000) as f64 / 1000.0
        };
        for round in 0..20 {
            let (mut t, mut d) = (0.0, 0.0);
            let mut samples = Vec::new();
            for _ in 0..400 {
                samples.push(EffortSample {
                    t_ms: (t * 1000.0) as i64,
                    distance: d,
                    moving_ms: (t * 500.0) as i64,
                });
                t += 1.0 + (next() * 4.0).floor();
                d += if next() < 0.1 { 0.0 } else { next() * 15.0 };
            }
            for length in [400.0, 1_000.0, 1_609.344] {
                let fast = fastest(&samples, length);
                let slow = brute(&samples, length);
                match (fast, slow) {
                    (Some(f), Some(b)) => {
                        assert!(
                            (f.elapsed_ms() - b).abs() < 1e-6,
                            "round {round}: {f:?} vs {b}"
                        )
                    }
                    (None, None) => {}
                    other => panic!("round {round} {length}: {other:?}"),
                }
                if let Some(f) = fast {
                    for i in 0..samples.len() {
                        for k in i + 1..samples.len() {
                            if samples[k].distance - samples[i].distance >= length {
                                let whole = (samples[k].t_ms - samples[i].t_ms) as f64;
                                assert!(f.elapsed_ms() <= whole + 1e-6);
                                break;
                            }
                        }
                    }
                    assert!(f.moving_ms >= 0.0 && f.moving_ms <= f.elapsed_ms() + 1e-6);
                }
            }
        }
    }

    #[test]
    fn distance_keys() {
        assert_eq!(DistanceKey::parse(Sport::Run, "5k"), Ok(DistanceKey::K5));
        assert_eq!(DistanceKey::parse(Sport::Ride, "10k"), Ok(DistanceKey::K10));
        assert_eq!(
            DistanceKey::parse(Sport::Ride, "marathon"),
            Err(DomainError::invalid("distance"))
        );
        assert!(DistanceKey::parse(Sport::Run, "100k").is_err());
        for k in DistanceKey::ALL {
            assert_eq!(DistanceKey::from_stored(k.as_str()), Some(k));
        }
    }

    #[test]
    fn efforts_of_a_recorded_run_map_to_route_indices() {
        // 3 m/s north, one fix a second, 2 km.
        let t0 = 1_700_000_000_000;
        let route: Vec<Fix> = (0..700)
            .map(|i| Fix::new(t0 + i * 1000, 59.9 + i as f64 * 3.0 / 111_320.0, 10.7))
            .collect();
        let efforts = for_activity(Sport::Run, &route, &StatusLog::start(t0));
        let keys: Vec<_> = efforts.iter().map(|e| e.distance).collect();
        assert_eq!(
            keys,
            [DistanceKey::M400, DistanceKey::K1, DistanceKey::Mile]
        );
        for e in &efforts {
            let expected = e.distance.metres() / 3.0 * 1000.0;
            assert!(
                (e.elapsed_ms as f64 - expected).abs() < 0.01 * expected,
                "{e:?}"
            );
            assert!(route[e.start_index].t_ms <= e.start_ms);
            assert!(route[e.end_index].t_ms >= e.start_ms + e.elapsed_ms - 1);
        }
    }
}
