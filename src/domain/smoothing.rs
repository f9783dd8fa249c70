//! Display-path smoothing for friends watching live. Raw fixes jitter and
//! arrive every few seconds; a map marker that jumps from fix to fix looks
//! broken. The [`Smoother`] filters jitter with an alpha-beta filter (a
//! steady-state constant-velocity Kalman filter) and plays the track back
//! deliberately ~1.5 update intervals behind real time, so any display
//! instant lies between two known filtered points and can be interpolated
//! instead of extrapolated. Memory is a fixed ring of [`BUFFER`] points.

use serde::Serialize;

use super::Fix;

/// Filtered points kept for interpolation.
pub const BUFFER: usize = 4;
/// Position gain of the alpha-beta filter: roughly halves jitter while
/// following real turns within a couple of fixes.
pub const ALPHA: f64 = 0.5;
/// Velocity gain of the alpha-beta filter.
pub const BETA: f64 = 0.1;
/// Playback lag in update intervals ("one to two").
pub const LAG_INTERVALS: f64 = 1.5;
/// Bounds on the playback lag (ms) whatever the update rate.
pub const MIN_LAG_MS: i64 = 1_000;
pub const MAX_LAG_MS: i64 = 30_000;
/// After a silence this long (ms) the filter restarts at the next fix
/// rather than sweeping across the gap.
pub const RESET_GAP_MS: i64 = 60_000;
/// Metres per degree of latitude (mean).
const M_PER_DEG: f64 = 111_320.0;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SmoothedPoint {
    pub t_ms: i64,
    pub lat: f64,
    pub lng: f64,
    pub alt: Option<f32>,
    /// Smoothed ground speed, m/s.
    pub speed: f64,
}

#[derive(Debug, Clone, Copy, Default)]
struct State {
    lat: f64,
    lng: f64,
    /// Degrees per second.
    v_lat: f64,
    v_lng: f64,
}

#[derive(Debug, Clone)]
pub struct Smoother {
    state: Option<State>,
    last_fix_ms: i64,
    /// EMA of the update interval, drives the lag.
    interval_ms: f64,
    ring: [SmoothedPoint; BUFFER],
    len: usize,
    /// Index of the oldest point in `ring`.
    head: usize,
    last_emitted_ms: Option<i64>,
}

impl Default for Smoother {
    fn default() -> Self {
        Self::new()
    }
}

fn lerp(a: f64, b: f64, w: f64) -> f64 {
    a + (b - a) * w
}

impl Smoother {
    pub fn new() -> Self {
        let zero = SmoothedPoint {
            t_ms: 0,
            lat: 0.0,
            lng: 0.0,
            alt: None,
            speed: 0.0,
        };
        Smoother {
            state: None,
            last_fix_ms: 0,
            interval_ms: 1_000.0,
            ring: [zero; BUFFER],
            len: 0,
            head: 0,
            last_emitted_ms: None,
        }
    }

    /// Current playback lag (ms).
    pub fn lag_ms(&self) -> i64 {
        ((self.interval_ms * LAG_INTERVALS) as i64).clamp(MIN_LAG_MS, MAX_LAG_MS)
    }

    /// Feeds a fix (strictly increasing time; others are ignored) and
    /// returns the display point for `fix.t_ms - lag`, when there is one.
    pub fn push(&mut self, fix: &Fix) -> Option<SmoothedPoint> {
        if self.state.is_some() && fix.t_ms <= self.last_fix_ms {
            return None;
        }
        let dt_ms = fix.t_ms - self.last_fix_ms;
        let state = match self.state {
            Some(s) if dt_ms <= RESET_GAP_MS => {
                self.interval_ms += 0.2 * (dt_ms as f64 - self.interval_ms);
                let dt = dt_ms as f64 / 1000.0;
                let (p_lat, p_lng) = (s.lat + s.v_lat * dt, s.lng + s.v_lng * dt);
                let (r_lat, r_lng) = (fix.lat - p_lat, fix.lng - p_lng);
                State {
                    lat: p_lat + ALPHA * r_lat,
                    lng: p_lng + ALPHA * r_lng,
                    v_lat: s.v_lat + BETA * r_lat / dt,
                    v_lng: s.v_lng + BETA * r_lng / dt,
                }
            }
            _ => {
                // First fix or a long silence: start over from this fix.
                self.len = 0;
                State {
                    lat: fix.lat,
                    lng: fix.lng,
                    ..State::default()
                }
            }
        };
        self.state = Some(state);
        self.last_fix_ms = fix.t_ms;
        let v_north = state.v_lat * M_PER_DEG;
        let v_east = state.v_lng * M_PER_DEG * state.lat.to_radians().cos();
        let speed = fix.speed.map_or_else(|| v_north.hypot(v_east), f64::from);
        self.store(SmoothedPoint {
            t_ms: fix.t_ms,
            lat: state.lat,
            lng: state.lng,
            alt: fix.alt,
            speed,
        });
        self.sample(fix.t_ms)
    }

    fn store(&mut self, p: SmoothedPoint) {
        if self.len < BUFFER {
            self.ring[(self.head + self.len) % BUFFER] = p;
            self.len += 1;
        } else {
            self.ring[self.head] = p;
            self.head = (self.head + 1) % BUFFER;
        }
    }

    fn at(&self, i: usize) -> SmoothedPoint {
        self.ring[(self.head + i) % BUFFER]
    }

    /// The display point for wall-clock `now_ms` (interpolated at
    /// `now_ms - lag`), for animation frames between fixes. Returns `None`
    /// when it would not move time forward or there is no history yet.
    pub fn sample(&mut self, now_ms: i64) -> Option<SmoothedPoint> {
        if self.len == 0 {
            return None;
        }
        let newest = self.at(self.len - 1);
        // Never play past the newest filtered point: hold there instead of
        // guessing ahead.
        let t = (now_ms - self.lag_ms()).min(newest.t_ms);
        if self.last_emitted_ms.is_some_and(|last| t <= last) {
            return None;
        }
        let oldest = self.at(0);
        if t < oldest.t_ms {
            // Not enough history yet (start of the activity).
            return None;
        }
        let mut point = newest;
        for i in 1..self.len {
            let (a, b) = (self.at(i - 1), self.at(i));
            if t <= b.t_ms {
                let w = (t - a.t_ms) as f64 / (b.t_ms - a.t_ms) as f64;
                point = SmoothedPoint {
                    t_ms: t,
                    lat: lerp(a.lat, b.lat, w),
                    lng: lerp(a.lng, b.lng, w),
                    alt: match (a.alt, b.alt) {
                        (Some(x), Some(y)) => Some(lerp(f64::from(x), f64::from(y), w) as f32),
                        (x, y) => x.or(y),
                    },
                    speed: lerp(a.speed, b.speed, w),
                };
                break;
            }
        }
        point.t_ms = t;
        self.last_emitted_ms = Some(t);
        Some(point)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise in [-1, 1).
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
        }
    }

    const T0: i64 = 1_700_000_000_000;
    /// True position: due north at 5 m/s.
    fn truth(t_ms: i64) -> (f64, f64) {
        (51.0 + (t_ms - T0) as f64 / 1000.0 * 5.0 / M_PER_DEG, -0.1)
    }
    fn err_m(lat: f64, lng: f64, t_ms: i64) -> f64 {
        let (tl, tg) = truth(t_ms);
        let dn = (lat - tl) * M_PER_DEG;
        let de = (lng - tg) * M_PER_DEG * tl.to_radians().cos();
        dn.hypot(de)
    }

    fn noisy_fixes(n: i64, step_ms: i64) -> Vec<Fix> {
        let mut rng = Lcg(42);
        (0..n)
            .map(|i| {
                let t = T0 + i * step_ms;
                let (lat, lng) = truth(t);
                // ~5 m uniform jitter on each axis.
                Fix::new(
                    t,
                    lat + rng.next() * 5.0 / M_PER_DEG,
                    lng + rng.next() * 5.0 / 70_000.0,
                )
            })
            .collect()
    }

    #[test]
    fn jitter_is_reduced() {
        let fixes = noisy_fixes(300, 1_000);
        let mut s = Smoother::new();
        let (mut raw, mut smooth, mut n) = (0.0, 0.0, 0);
        for (i, f) in fixes.iter().enumerate() {
            let out = s.push(f);
            if i < 30 {
                continue; // let the filter converge
            }
            raw += err_m(f.lat, f.lng, f.t_ms).powi(2);
            let p = out.unwrap();
            smooth += err_m(p.lat, p.lng, p.t_ms).powi(2);
            n += 1;
        }
        let (raw, smooth) = ((raw / n as f64).sqrt(), (smooth / n as f64).sqrt());
        assert!(smooth < raw * 0.8, "raw {raw:.2} m, smoothed {smooth:.2} m");
        let speed = s.sample(fixes[299].t_ms + 10_000).unwrap().speed;
        assert!((speed - 5.0).abs() < 1.0, "{speed}");
    }

    #[test]
    fn output_lags_and_is_monotonic() {
        let fixes = noisy_fixes(60, 2_000);
        let mut s = Smoother::new();
        let mut last = i64::MIN;
        let mut emitted = 0;
        for f in &fixes {
            if let Some(p) = s.push(f) {
                assert!(p.t_ms < f.t_ms, "display point must lag the input");
                assert!(p.t_ms > last);
                last = p.t_ms;
                emitted += 1;
            }
            // Animation frames between fixes move forward too.
            for frame in 1..4 {
                if let Some(p) = s.sample(f.t_ms + frame * 500) {
                    assert!(p.t_ms > last && p.t_ms <= f.t_ms);
                    last = p.t_ms;
                }
            }
            // Going back in time never emits.
            assert_eq!(s.sample(f.t_ms - 60_000), None);
        }
        assert!(emitted > 50);
        let lag = s.lag_ms();
        assert!((2_000..=4_000).contains(&lag), "{lag}");
    }

    #[test]
    fn restarts_after_a_long_gap() {
        let mut s = Smoother::new();
        for f in noisy_fixes(10, 1_000) {
            s.push(&f);
        }
        let far = Fix::new(T0 + 10 * 60_000, 52.0, 0.5);
        s.push(&far);
        let p = s.sample(far.t_ms + 5_000).unwrap();
        assert_eq!((p.lat, p.lng), (52.0, 0.5));
        assert_eq!(p.speed, 0.0);
    }
}
