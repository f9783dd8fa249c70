//! The load plan: when each logical activity sends, what it sends, and how
//! the server's own figures are read. Pure logic, unit-tested here.

use rand::Rng;

/// One logical activity (a phone): where it is and where it is heading.
#[derive(Debug, Clone)]
pub struct Walker {
    lat: f64,
    lng: f64,
    heading: f64,
    /// Metres per second.
    speed: f64,
}

const M_PER_DEG: f64 = 111_320.0;

impl Walker {
    /// Somewhere in a 20 km square, running at 2.5–4 m/s.
    pub fn new(rng: &mut impl Rng) -> Walker {
        Walker {
            lat: 51.45 + rng.gen_range(0.0..0.18),
            lng: -0.2 + rng.gen_range(0.0..0.28),
            heading: rng.gen_range(0.0..std::f64::consts::TAU),
            speed: rng.gen_range(2.5..4.0),
        }
    }

    /// Moves on by `dt_s` seconds, turning a little, and answers the fix.
    pub fn step(&mut self, dt_s: f64, rng: &mut impl Rng) -> (f64, f64) {
        self.heading += rng.gen_range(-0.15..0.15);
        let d = self.speed * dt_s;
        self.lat += d * self.heading.cos() / M_PER_DEG;
        self.lng += d * self.heading.sin() / (M_PER_DEG * self.lat.to_radians().cos());
        (self.lat, self.lng)
    }
}

/// The JSON body of one request: `{"location": …}` for a single fix,
/// `{"locations": […]}` for a batch. `times` are epoch ms, oldest first.
pub fn fix_body(walker: &mut Walker, times: &[i64], interval_s: f64, rng: &mut impl Rng) -> String {
    let fixes: Vec<String> = times
        .iter()
        .map(|t| {
            let (lat, lng) = walker.step(interval_s, rng);
            format!(r#"{{"lat":{lat:.7},"lng":{lng:.7},"t":{t},"accuracy":5}}"#)
        })
        .collect();
    match fixes.as_slice() {
        [one] => format!(r#"{{"location":{one}}}"#),
        many => format!(r#"{{"locations":[{}]}}"#, many.join(",")),
    }
}

/// A worker's share of the activities, each sending once per `period_ms`
/// at its own phase, so the load is smooth. Yields (slot, due offset in ms
/// from the start) in time order.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// (phase in ms, slot index), sorted by phase.
    phases: Vec<(u64, usize)>,
    period_ms: u64,
    round: u64,
    next: usize,
}

impl Schedule {
    pub fn new(mut phases: Vec<(u64, usize)>, period_ms: u64) -> Schedule {
        phases.sort_unstable();
        Schedule {
            phases,
            period_ms: period_ms.max(1),
            round: 0,
            next: 0,
        }
    }
}

impl Iterator for Schedule {
    type Item = (usize, u64);

    fn next(&mut self) -> Option<(usize, u64)> {
        let &(phase, slot) = self.phases.get(self.next)?;
        let due = self.round * self.period_ms + phase;
        self.next += 1;
        if self.next == self.phases.len() {
            self.next = 0;
            self.round += 1;
        }
        Some((slot, due))
    }
}

/// Friendships for `watchers` watchers among `n` athletes: athlete 2k
/// watches athlete 2k+1. Answers the pairs that fall in the provisioning
/// batch starting at `offset` with `len` athletes, as batch indices.
pub fn watcher_pairs(watchers: usize, offset: usize, len: usize) -> Vec<(usize, usize)> {
    (0..watchers)
        .map(|k| (2 * k, 2 * k + 1))
        .filter(|&(a, b)| a >= offset && b < offset + len)
        .map(|(a, b)| (a - offset, b - offset))
        .collect()
}

/// A sample from the server's `/metrics`, by metric name suffix (the
/// server prefixes its names).
pub fn metric(text: &str, suffix: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (name, value) = line.split_once(' ')?;
            name.ends_with(suffix).then(|| value.trim().parse().ok())?
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn schedule_spreads_sends_in_time_order() {
        let s = Schedule::new(vec![(500, 0), (0, 1), (1500, 2)], 2000);
        let got: Vec<_> = s.take(7).collect();
        assert_eq!(
            got,
            [
                (1, 0),
                (0, 500),
                (2, 1500),
                (1, 2000),
                (0, 2500),
                (2, 3500),
                (1, 4000)
            ]
        );
        assert_eq!(Schedule::new(vec![], 2000).next(), None);
    }

    #[test]
    fn walker_moves_at_its_speed() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let mut w = Walker::new(&mut rng);
        let speed = w.speed;
        let (lat0, lng0) = (w.lat, w.lng);
        let (lat1, lng1) = w.step(2.0, &mut rng);
        let dy = (lat1 - lat0) * M_PER_DEG;
        let dx = (lng1 - lng0) * M_PER_DEG * lat1.to_radians().cos();
        let d = dx.hypot(dy);
        assert!((d - 2.0 * speed).abs() < 0.01, "moved {d} m");
    }

    #[test]
    fn bodies_parse_as_fix_batches() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let mut w = Walker::new(&mut rng);
        let now = 1_700_000_000_000;
        let one: pacer::domain::fix::RawFixBatch =
            serde_json::from_str(&fix_body(&mut w, &[now], 2.0, &mut rng)).unwrap();
        let (fixes, rejected) = one.parse(now).unwrap();
        assert_eq!((fixes.len(), rejected.len()), (1, 0));
        let five: pacer::domain::fix::RawFixBatch = serde_json::from_str(&fix_body(
            &mut w,
            &[now - 8000, now - 6000, now - 4000, now - 2000, now],
            2.0,
            &mut rng,
        ))
        .unwrap();
        let (fixes, rejected) = five.parse(now).unwrap();
        assert_eq!((fixes.len(), rejected.len()), (5, 0));
        assert_eq!(fixes[4].t_ms, now);
    }

    #[test]
    fn watcher_pairs_split_across_batches() {
        assert_eq!(watcher_pairs(3, 0, 10), [(0, 1), (2, 3), (4, 5)]);
        assert_eq!(watcher_pairs(3, 0, 3), [(0, 1)]);
        // A pair straddling the batch boundary is skipped: batches are even.
        assert_eq!(watcher_pairs(3, 2, 4), [(0, 1), (2, 3)]);
    }

    #[test]
    fn reads_metrics_by_suffix() {
        let text = "# HELP pacer_process_cpu_seconds_total x\n\
                    pacer_process_cpu_seconds_total 12.5\n\
                    pacer_process_resident_memory_bytes 1.048576e+06\n";
        assert_eq!(metric(text, "process_cpu_seconds_total"), Some(12.5));
        assert_eq!(
            metric(text, "process_resident_memory_bytes"),
            Some(1_048_576.0)
        );
        assert_eq!(metric(text, "nope"), None);
    }
}
