//! Simulated movement: a course to follow (a real recording's geometry or
//! a smooth random walk) and an athlete moving along it at a varying pace,
//! with GPS noise, the occasional jump and stops. Pure logic.

use rand::Rng;

use pacer::domain::stats::haversine;
use pacer::domain::Fix;

const M_PER_DEG: f64 = 111_320.0;
/// The steepest grade a course keeps (6 %, well inside the 8 % a demo
/// run or ride may sustain): a recording's altitude can jump (GPS
/// altitude, a barometer settling) and a random walk would wander; neither
/// should make a runner climb 266 m in a kilometre.
pub const MAX_GRADE: f64 = 0.06;
/// Altitude is averaged over this distance either side of each point
/// before the grade is bounded (a road's profile, not its noise).
const ELEVATION_SMOOTHING_M: f64 = 100.0;
/// Climbing per kilometre (hysteresis 3 m) from which a course is hilly.
pub const HILLY_M_PER_KM: f64 = 12.0;

/// A line to follow, with cumulative distances.
#[derive(Debug, Clone)]
pub struct Course {
    points: Vec<(f64, f64, Option<f32>)>,
    /// Metres from the start to each point.
    cumulative: Vec<f64>,
}

impl Course {
    /// The geometry of a recording, thinned to points at least 3 m apart
    /// (a stationary watch's jitter is not a course). None under 500 m.
    pub fn from_fixes(fixes: &[Fix]) -> Option<Course> {
        let mut points: Vec<(f64, f64, Option<f32>)> = Vec::new();
        for f in fixes {
            let far_enough = points
                .last()
                .is_none_or(|&(lat, lng, _)| haversine(lat, lng, f.lat, f.lng) >= 3.0);
            if far_enough {
                points.push((f.lat, f.lng, f.alt));
            }
        }
        let course = Course::new(points);
        (course.length() >= 500.0).then_some(course)
    }

    /// A smooth random walk from a point: 10 m steps whose heading drifts,
    /// like streets and paths that bend rather than zig-zag.
    pub fn random_walk(lat: f64, lng: f64, length_m: f64, rng: &mut impl Rng) -> Course {
        const STEP_M: f64 = 10.0;
        let mut heading = rng.gen_range(0.0..std::f64::consts::TAU);
        let mut turn = 0.0_f64;
        let mut alt = rng.gen_range(20.0..300.0_f32);
        let (mut lat, mut lng) = (lat, lng);
        let steps = (length_m / STEP_M).ceil().max(1.0) as usize;
        let mut points = Vec::with_capacity(steps + 1);
        points.push((lat, lng, Some(alt)));
        for _ in 0..steps {
            turn = (turn * 0.9 + rng.gen_range(-0.02..0.02)).clamp(-0.12, 0.12);
            heading += turn;
            lat += STEP_M * heading.cos() / M_PER_DEG;
            lng += STEP_M * heading.sin() / (M_PER_DEG * lat.to_radians().cos());
            alt = (alt + rng.gen_range(-0.4..0.4_f32)).max(0.0);
            points.push((lat, lng, Some(alt)));
        }
        Course::new(points)
    }

    fn new(mut points: Vec<(f64, f64, Option<f32>)>) -> Course {
        let mut cumulative = Vec::with_capacity(points.len());
        let mut total = 0.0;
        for (i, p) in points.iter().enumerate() {
            if i > 0 {
                let q = points[i - 1];
                total += haversine(q.0, q.1, p.0, p.1);
            }
            cumulative.push(total);
        }
        plausible_elevation(&mut points, &cumulative);
        Course { points, cumulative }
    }

    /// Metres climbed per kilometre, counting climbs past a 3 m hysteresis
    /// (as activity stats do); the same both ways of an out and back.
    pub fn climb_per_km(&self) -> f64 {
        let mut climb = 0.0;
        let mut reference: Option<f64> = None;
        for alt in self.points.iter().filter_map(|p| p.2).map(f64::from) {
            match reference {
                None => reference = Some(alt),
                Some(r) if alt - r >= 3.0 => {
                    climb += alt - r;
                    reference = Some(alt);
                }
                Some(r) if r - alt >= 3.0 => reference = Some(alt),
                _ => {}
            }
        }
        if self.length() > 0.0 {
            climb / (self.length() / 1000.0)
        } else {
            0.0
        }
    }

    pub fn is_hilly(&self) -> bool {
        self.climb_per_km() >= HILLY_M_PER_KM
    }

    pub fn length(&self) -> f64 {
        self.cumulative.last().copied().unwrap_or(0.0)
    }

    pub fn start(&self) -> (f64, f64) {
        self.points.first().map_or((0.0, 0.0), |p| (p.0, p.1))
    }

    /// The position `d` metres along. Past the end the athlete turns back
    /// (out and back, as many times as needed).
    pub fn at(&self, d: f64) -> (f64, f64, Option<f32>) {
        let length = self.length();
        if self.points.len() < 2 || length <= 0.0 {
            return self.points.first().copied().unwrap_or((0.0, 0.0, None));
        }
        let lap = d.max(0.0) % (2.0 * length);
        let d = if lap > length {
            2.0 * length - lap
        } else {
            lap
        };
        let i = self
            .cumulative
            .partition_point(|&c| c <= d)
            .clamp(1, self.points.len() - 1);
        let (a, b) = (self.points[i - 1], self.points[i]);
        let span = self.cumulative[i] - self.cumulative[i - 1];
        let f = if span > 0.0 {
            (d - self.cumulative[i - 1]) / span
        } else {
            0.0
        };
        let alt = match (a.2, b.2) {
            (Some(x), Some(y)) => Some(x + (y - x) * f as f32),
            (x, y) => x.or(y),
        };
        (a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f, alt)
    }
}

/// Turns a course's altitudes into a plausible profile: gaps filled from
/// the nearest known altitude, averaged over `ELEVATION_SMOOTHING_M` either
/// side, then bounded to `MAX_GRADE` between neighbouring points. A course
/// without any altitude keeps none.
fn plausible_elevation(points: &mut [(f64, f64, Option<f32>)], cumulative: &[f64]) {
    let Some(first) = points.iter().find_map(|p| p.2) else {
        return;
    };
    let mut raw = Vec::with_capacity(points.len());
    let mut last = f64::from(first);
    for p in points.iter() {
        if let Some(a) = p.2.filter(|a| a.is_finite()) {
            last = f64::from(a);
        }
        raw.push(last);
    }
    // A moving average over distance (two pointers: O(n)).
    let mut smooth = Vec::with_capacity(raw.len());
    let (mut lo, mut hi, mut sum) = (0, 0, 0.0);
    for i in 0..raw.len() {
        while hi < raw.len() && cumulative[hi] <= cumulative[i] + ELEVATION_SMOOTHING_M {
            sum += raw[hi];
            hi += 1;
        }
        while cumulative[lo] < cumulative[i] - ELEVATION_SMOOTHING_M {
            sum -= raw[lo];
            lo += 1;
        }
        smooth.push(sum / (hi - lo) as f64);
    }
    for i in 1..smooth.len() {
        let step = MAX_GRADE * (cumulative[i] - cumulative[i - 1]);
        smooth[i] = smooth[i].clamp(smooth[i - 1] - step, smooth[i - 1] + step);
    }
    for (p, a) in points.iter_mut().zip(smooth) {
        p.2 = Some(a as f32);
    }
}

/// One second's fix as the phone reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub lat: f64,
    pub lng: f64,
    pub alt: Option<f32>,
    pub accuracy: f32,
    /// What the device reports, m/s.
    pub speed: f64,
    pub heartrate: u8,
}

/// An athlete on a course: the pace drifts, traffic lights stop them, and
/// the GPS error wanders (it is correlated from second to second) with the
/// occasional jump.
#[derive(Debug, Clone)]
pub struct Mover {
    course: Course,
    /// Metres along the course.
    pub distance: f64,
    /// Typical speed, m/s.
    base_speed: f64,
    seconds: u64,
    phase: f64,
    stopped_for: u32,
    /// The GPS error, metres north and east.
    error: (f64, f64),
    sigma: f64,
}

/// Per-second chance of a stop (a crossing, a drink) and of a GPS jump.
const STOP_CHANCE: f64 = 1.0 / 600.0;
const JUMP_CHANCE: f64 = 1.0 / 400.0;

impl Mover {
    pub fn new(course: Course, base_speed: f64, rng: &mut impl Rng) -> Mover {
        Mover {
            course,
            distance: 0.0,
            base_speed,
            seconds: 0,
            phase: rng.gen_range(0.0..std::f64::consts::TAU),
            stopped_for: 0,
            error: (0.0, 0.0),
            sigma: rng.gen_range(2.0..4.0),
        }
    }

    pub fn course(&self) -> &Course {
        &self.course
    }

    /// Where the athlete really is (no GPS error).
    pub fn true_position(&self) -> (f64, f64, Option<f32>) {
        self.course.at(self.distance)
    }

    /// Advances one second and answers what the phone reports.
    pub fn step(&mut self, rng: &mut impl Rng) -> Sample {
        self.seconds += 1;
        let speed = if self.stopped_for > 0 {
            self.stopped_for -= 1;
            0.0
        } else if rng.gen_bool(STOP_CHANCE) {
            self.stopped_for = rng.gen_range(10..60);
            0.0
        } else {
            let t = self.seconds as f64;
            let drift = 0.08 * (t / 90.0 + self.phase).sin() + 0.03 * (t / 17.0).sin();
            self.base_speed * (1.0 + drift + rng.gen_range(-0.03..0.03))
        };
        self.distance += speed;
        // AR(1): the error wanders with a standard deviation of `sigma`.
        let kick = self.sigma * (1.0_f64 - 0.9 * 0.9).sqrt();
        self.error = (
            0.9 * self.error.0 + kick * gaussian(rng),
            0.9 * self.error.1 + kick * gaussian(rng),
        );
        let (mut north, mut east) = self.error;
        let mut accuracy = (self.sigma * 1.5) as f32;
        if rng.gen_bool(JUMP_CHANCE) {
            let heading = rng.gen_range(0.0..std::f64::consts::TAU);
            let size = rng.gen_range(40.0..120.0);
            north += size * heading.cos();
            east += size * heading.sin();
            accuracy = rng.gen_range(30.0..60.0);
        }
        let (lat, lng, alt) = self.true_position();
        let effort = speed / self.base_speed.max(0.1);
        Sample {
            lat: lat + north / M_PER_DEG,
            lng: lng + east / (M_PER_DEG * lat.to_radians().cos()),
            alt,
            accuracy,
            speed: (speed + rng.gen_range(-0.2..0.2)).max(0.0),
            heartrate: (95.0 + 70.0 * effort.min(1.3) + rng.gen_range(-3.0..3.0)) as u8,
        }
    }
}

/// A standard normal sample (Box–Muller).
fn gaussian(rng: &mut impl Rng) -> f64 {
    let u: f64 = rng.gen_range(f64::EPSILON..1.0);
    let v: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
    (-2.0 * u.ln()).sqrt() * v.cos()
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    fn straight_course() -> Course {
        // About 1.1 km due north.
        let fixes: Vec<Fix> = (0..=100)
            .map(|i| Fix::new(i * 1000, 51.0 + f64::from(i as i32) * 0.0001, 0.0))
            .collect();
        Course::from_fixes(&fixes).unwrap()
    }

    #[test]
    fn course_interpolates_and_turns_back_at_the_end() {
        let c = straight_course();
        assert!((c.length() - 1111.95).abs() < 1.0, "{}", c.length());
        let (lat, _, _) = c.at(c.length() / 2.0);
        assert!((lat - 51.005).abs() < 1e-6);
        // 100 m past the end is 100 m before it, on the way back.
        let back = c.at(c.length() + 100.0);
        let before = c.at(c.length() - 100.0);
        assert!((back.0 - before.0).abs() < 1e-9);
        assert_eq!(c.at(2.0 * c.length()).0, c.start().0);
    }

    #[test]
    fn short_or_stationary_recordings_are_not_courses() {
        let still: Vec<Fix> = (0..1000).map(|i| Fix::new(i * 1000, 51.0, 0.0)).collect();
        assert!(Course::from_fixes(&still).is_none());
    }

    #[test]
    fn random_walks_bend_smoothly() {
        let mut rng = StdRng::seed_from_u64(7);
        let c = Course::random_walk(51.5, -0.1, 5_000.0, &mut rng);
        assert!((c.length() - 5_000.0).abs() < 20.0, "{}", c.length());
        // Consecutive 10 m steps never turn by more than about 7 degrees.
        let bearing = |a: (f64, f64, Option<f32>), b: (f64, f64, Option<f32>)| {
            ((b.1 - a.1) * a.0.to_radians().cos()).atan2(b.0 - a.0)
        };
        for w in c.points.windows(3) {
            let turn = (bearing(w[1], w[2]) - bearing(w[0], w[1]) + std::f64::consts::PI)
                .rem_euclid(std::f64::consts::TAU)
                - std::f64::consts::PI;
            assert!(turn.abs() < 0.13, "turned {turn}");
        }
    }

    #[test]
    fn mover_keeps_its_pace_and_noise_stays_near_the_course() {
        let mut rng = StdRng::seed_from_u64(3);
        let course = Course::random_walk(51.5, -0.1, 50_000.0, &mut rng);
        let mut mover = Mover::new(course, 3.0, &mut rng);
        let mut far = 0;
        let mut errors = Vec::new();
        for _ in 0..3_600 {
            let s = mover.step(&mut rng);
            let (lat, lng, _) = mover.true_position();
            let e = haversine(lat, lng, s.lat, s.lng);
            if e > 30.0 {
                far += 1;
            }
            errors.push(e);
        }
        // An hour at ~3 m/s, less the stops.
        assert!(
            (8_000.0..11_500.0).contains(&mover.distance),
            "{}",
            mover.distance
        );
        errors.sort_by(f64::total_cmp);
        let median = errors[errors.len() / 2];
        assert!((1.0..8.0).contains(&median), "median GPS error {median} m");
        // Jumps happen, but rarely.
        assert!((1..40).contains(&far), "{far} jumps");
    }
}
