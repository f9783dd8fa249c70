use serde::{Deserialize, Serialize};

use super::stats::ellipsoidal;
use super::{DomainError, Fix};

/// Speeds are judged over windows of at least this long (ms): a single
/// step's speed is mostly GPS jitter, ten seconds of displacement is not.
const GUESS_WINDOW_MS: i64 = 10_000;
/// A window longer than this (ms) spans a gap (a pause, lost signal): left out.
const GUESS_MAX_WINDOW_MS: i64 = 60_000;
/// Windows slower than this (m/s) are stops and say nothing of the sport.
const GUESS_MOVING_SPEED: f64 = 1.0;
/// Less moving time than this (ms, two windows) is too little to tell: Run.
const GUESS_MIN_MOVING_MS: i64 = 20_000;
/// A median moving speed above this (m/s, 16.2 km/h, a 3:42 /km pace
/// held for the whole outing) is riding: few runners hold it, almost
/// every ride does.
const GUESS_RIDE_MEDIAN: f64 = 4.5;
/// A 95th percentile above this (m/s, 28.8 km/h over 10 s and more) is
/// riding whatever the median (a slow climb, then descents): no runner
/// holds it for 5% of the time. Below it the run cap (12 m/s) cuts
/// nothing real, so a slow ride guessed as a run loses no distance.
const GUESS_RIDE_P95: f64 = 8.0;

/// The sports Pacer tracks live. Strava's `sport_type` names are canonical;
/// the design's upper-case `RUN`/`RIDE` are accepted on input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Sport {
    Run,
    Ride,
}

impl Sport {
    pub fn parse(s: &str) -> Result<Sport, DomainError> {
        match s {
            "Run" | "RUN" | "run" => Ok(Sport::Run),
            "Ride" | "RIDE" | "ride" => Ok(Sport::Ride),
            _ => Err(DomainError::invalid("sport_type")),
        }
    }

    /// The sport of a track that names none (an upload from a bike
    /// computer without a sport): Ride when it moves at riding speeds
    /// (see [`GUESS_RIDE_MEDIAN`] and [`GUESS_RIDE_P95`]), else Run.
    /// Erring towards Ride is cheap (a run's slowest shuffles may count
    /// as stopped) while a ride taken for a run loses every step above the
    /// run's 12 m/s cap. Fixes in increasing time order.
    pub fn guess(fixes: &[Fix]) -> Sport {
        // (speed m/s, duration ms) of each moving window.
        let mut windows: Vec<(f64, i64)> = Vec::new();
        let mut from = 0;
        for (i, f) in fixes.iter().enumerate() {
            let Some(a) = fixes.get(from) else { break };
            let dt = f.t_ms - a.t_ms;
            if dt < GUESS_WINDOW_MS {
                continue;
            }
            if dt <= GUESS_MAX_WINDOW_MS {
                let speed = ellipsoidal(a.lat, a.lng, f.lat, f.lng) / (dt as f64 / 1000.0);
                if speed >= GUESS_MOVING_SPEED {
                    windows.push((speed, dt));
                }
            }
            from = i;
        }
        let moving: i64 = windows.iter().map(|w| w.1).sum();
        if moving < GUESS_MIN_MOVING_MS {
            return Sport::Run;
        }
        windows.sort_by(|a, b| a.0.total_cmp(&b.0));
        // Time-weighted quantile: the speed held at that share of the time.
        let quantile = |p: f64| {
            let target = (moving as f64 * p) as i64;
            let mut seen = 0;
            for &(speed, dt) in &windows {
                seen += dt;
                if seen > target {
                    return speed;
                }
            }
            windows.last().map_or(0.0, |w| w.0)
        };
        if quantile(0.5) > GUESS_RIDE_MEDIAN || quantile(0.95) > GUESS_RIDE_P95 {
            Sport::Ride
        } else {
            Sport::Run
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Sport::Run => "Run",
            Sport::Ride => "Ride",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strava_and_design_names() {
        assert_eq!(Sport::parse("Run"), Ok(Sport::Run));
        assert_eq!(Sport::parse("RIDE"), Ok(Sport::Ride));
        assert!(Sport::parse("Swim").is_err());
    }

    /// `n` fixes one second apart heading north at `speeds[i % len]` m/s.
    fn track(n: usize, speeds: &[f64]) -> Vec<Fix> {
        let mut lat = 45.0;
        (0..n)
            .map(|i| {
                let f = Fix::new(1_000_000 + i as i64 * 1000, lat, 7.0);
                lat += speeds[i % speeds.len()] / 111_132.0;
                f
            })
            .collect()
    }

    #[test]
    fn guesses_rides_from_their_speed() {
        // A steady road ride at 25 km/h, a jog at 10 km/h, a tempo run at
        // 4:10 /km.
        assert_eq!(Sport::guess(&track(1200, &[7.0])), Sport::Ride);
        assert_eq!(Sport::guess(&track(1200, &[2.8])), Sport::Run);
        assert_eq!(Sport::guess(&track(1200, &[4.0])), Sport::Run);
        // A slow climbing ride (3.5 m/s) with descents at 12 m/s for a tenth
        // of the time: the median says run, the 95th percentile ride.
        let mut speeds = vec![3.5; 90];
        speeds.extend([12.0; 10]);
        assert_eq!(Sport::guess(&track(3000, &speeds)), Sport::Ride);
        // Stops say nothing: a run with long standing waits stays a run.
        let mut speeds = vec![0.0; 60];
        speeds.extend([3.0; 60]);
        assert_eq!(Sport::guess(&track(3000, &speeds)), Sport::Run);
    }

    #[test]
    fn too_little_or_gappy_track_is_a_run() {
        assert_eq!(Sport::guess(&[]), Sport::Run);
        assert_eq!(Sport::guess(&track(15, &[10.0])), Sport::Run);
        // A minute's ride is enough.
        assert_eq!(Sport::guess(&track(60, &[8.0])), Sport::Ride);
        // Fixes ten minutes apart (a car between two points): no window.
        let sparse: Vec<Fix> = (0..20)
            .map(|i| Fix::new(i * 600_000, 45.0 + i as f64 * 0.1, 7.0))
            .collect();
        assert_eq!(Sport::guess(&sparse), Sport::Run);
    }
}
