//! Strava's rate limits, per app (or per athlete for their own tokens):
//! an overall and a read limit, each per 15 minutes (windows start at :00,
//! :15, :30, :45 UTC) and per UTC day. Counters live in a DashMap keyed by
//! window; windows that ended are dropped when a new one starts, and the
//! map is cleared past `MAX_KEYS` (memory stays bounded).

use std::sync::atomic::{AtomicI64, Ordering};

use dashmap::DashMap;

const SHORT_MS: i64 = 15 * 60 * 1000;
const DAY_MS: i64 = 86_400_000;
/// Past this many counters the map starts afresh.
const MAX_KEYS: usize = 200_000;

/// Who is counted: an app, or an athlete using their own token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateKey {
    App(i64),
    Athlete(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub short: u32,
    pub daily: u32,
    pub read_short: u32,
    pub read_daily: u32,
}

/// What the headers say: the limits and the usage after this request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub limits: Limits,
    pub short: u32,
    pub daily: u32,
    pub read_short: u32,
    pub read_daily: u32,
    /// Seconds until the exhausted window ends, when refused.
    pub refused_for_s: Option<u64>,
}

impl Usage {
    pub fn none(limits: Limits) -> Usage {
        Usage {
            limits,
            short: 0,
            daily: 0,
            read_short: 0,
            read_daily: 0,
            refused_for_s: None,
        }
    }

    /// The four headers, Strava's way (`15-minute,daily`).
    pub fn headers(&self) -> [(&'static str, String); 4] {
        let l = self.limits;
        [
            ("X-RateLimit-Limit", format!("{},{}", l.short, l.daily)),
            (
                "X-RateLimit-Usage",
                format!("{},{}", self.short, self.daily),
            ),
            (
                "X-ReadRateLimit-Limit",
                format!("{},{}", l.read_short, l.read_daily),
            ),
            (
                "X-ReadRateLimit-Usage",
                format!("{},{}", self.read_short, self.read_daily),
            ),
        ]
    }
}

/// [overall, read] requests in one window.
type Counts = [u32; 2];

pub struct RateLimiter {
    limits: Limits,
    counters: DashMap<(RateKey, bool, i64), Counts>,
    current_short: AtomicI64,
}

impl RateLimiter {
    pub fn new(limits: Limits) -> RateLimiter {
        RateLimiter {
            limits,
            counters: DashMap::new(),
            current_short: AtomicI64::new(0),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn forget_old(&self, short: i64, day: i64) {
        let seen = self.current_short.load(Ordering::Relaxed);
        if short > seen
            && self
                .current_short
                .compare_exchange(seen, short, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.counters
                .retain(|(_, daily, w), _| if *daily { *w >= day } else { *w >= short });
        }
        if self.counters.len() >= MAX_KEYS {
            self.counters.clear();
        }
    }

    fn read(&self, key: (RateKey, bool, i64)) -> Counts {
        self.counters.get(&key).map_or([0, 0], |c| *c)
    }

    /// Counts one request (a read when `read`), or refuses it when a limit
    /// is reached (a refused request is not counted).
    pub fn check(&self, key: RateKey, read: bool, now_ms: i64) -> Result<Usage, Usage> {
        let short = now_ms - now_ms.rem_euclid(SHORT_MS);
        let day = now_ms - now_ms.rem_euclid(DAY_MS);
        self.forget_old(short, day);
        let (sk, dk) = ((key, false, short), (key, true, day));
        let (s, d) = (self.read(sk), self.read(dk));
        let l = self.limits;
        let short_left_s = ((short + SHORT_MS - now_ms) / 1000).max(1) as u64;
        let day_left_s = ((day + DAY_MS - now_ms) / 1000).max(1) as u64;
        let refused = if s[0] >= l.short || (read && s[1] >= l.read_short) {
            Some(short_left_s)
        } else if d[0] >= l.daily || (read && d[1] >= l.read_daily) {
            Some(day_left_s)
        } else {
            None
        };
        if let Some(wait) = refused {
            return Err(Usage {
                limits: l,
                short: s[0],
                daily: d[0],
                read_short: s[1],
                read_daily: d[1],
                refused_for_s: Some(wait),
            });
        }
        let bump = |k| {
            let mut c = self.counters.entry(k).or_insert([0, 0]);
            c[0] += 1;
            if read {
                c[1] += 1;
            }
            *c
        };
        let (s, d) = (bump(sk), bump(dk));
        Ok(Usage {
            limits: l,
            short: s[0],
            daily: d[0],
            read_short: s[1],
            read_daily: d[1],
            refused_for_s: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_refuses_per_window() {
        let limiter = RateLimiter::new(Limits {
            short: 3,
            daily: 5,
            read_short: 2,
            read_daily: 10,
        });
        let app = RateKey::App(1);
        let t = 1_000 * SHORT_MS;
        assert_eq!(limiter.check(app, true, t).unwrap().read_short, 1);
        assert_eq!(limiter.check(app, true, t).unwrap().read_short, 2);
        // Reads are used up; a write still goes.
        let refused = limiter.check(app, true, t).unwrap_err();
        assert_eq!(refused.read_short, 2);
        assert!(refused.refused_for_s.is_some());
        assert_eq!(limiter.check(app, false, t).unwrap().short, 3);
        assert!(limiter.check(app, false, t).is_err());
        // Another app is not affected; the next window starts afresh.
        assert!(limiter.check(RateKey::App(2), true, t).is_ok());
        let next = limiter.check(app, false, t + SHORT_MS).unwrap();
        assert_eq!((next.short, next.daily), (1, 4));
        assert_eq!(next.headers()[0], ("X-RateLimit-Limit", "3,5".to_string()));
    }
}
