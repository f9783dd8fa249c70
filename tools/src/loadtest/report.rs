//! What a load run measured, and how it is printed.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Longest latency recorded (longer ones count as this): ten minutes.
pub const MAX_LATENCY_US: u64 = 600_000_000;

/// Latencies in microseconds, to 3 significant figures.
#[allow(clippy::expect_used, reason = "constant bounds that are valid")]
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

#[derive(Debug, Default, Clone, Copy, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    pub samples: u64,
}

impl Percentiles {
    pub fn of(h: &Histogram<u64>) -> Percentiles {
        let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
        Percentiles {
            p50: ms(h.value_at_quantile(0.50)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
            samples: h.len(),
        }
    }
}

/// The counts one ingest worker (or WebSocket session) gathered.
pub struct IngestStats {
    pub offered_fixes: u64,
    pub acked_fixes: u64,
    pub requests: u64,
    pub errors: BTreeMap<String, u64>,
    /// Send to acknowledgement.
    pub latency: Histogram<u64>,
    /// Scheduled send time to acknowledgement (counts time spent behind).
    pub latency_from_schedule: Histogram<u64>,
}

impl Default for IngestStats {
    fn default() -> Self {
        IngestStats {
            offered_fixes: 0,
            acked_fixes: 0,
            requests: 0,
            errors: BTreeMap::new(),
            latency: histogram(),
            latency_from_schedule: histogram(),
        }
    }
}

impl IngestStats {
    pub fn error(&mut self, kind: impl Into<String>) {
        *self.errors.entry(kind.into()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &IngestStats) {
        self.offered_fixes += other.offered_fixes;
        self.acked_fixes += other.acked_fixes;
        self.requests += other.requests;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_default() += v;
        }
        // Same bounds on both sides: adding cannot fail.
        let _ = self.latency.add(&other.latency);
        let _ = self.latency_from_schedule.add(&other.latency_from_schedule);
    }
}

#[derive(Debug, Serialize)]
pub struct Scenario {
    pub url: String,
    pub backend: Option<String>,
    pub activities: usize,
    pub interval_ms: u64,
    pub watchers: usize,
    pub duration_s: u64,
    pub batch: usize,
    pub ws: bool,
    pub idle: bool,
    pub connections: usize,
}

/// The result; `--json` prints it as the last line of stdout.
#[derive(Debug, Serialize)]
pub struct Report {
    pub scenario: Scenario,
    /// Seconds the warm-up took (every activity's first fix, unmeasured).
    pub warmup_s: f64,
    pub offered_fixes_per_s: f64,
    pub fixes_per_s: f64,
    /// Achieved over offered.
    pub achieved_ratio: f64,
    pub requests: u64,
    /// By HTTP status, or `io`/`timeout` for transport failures.
    pub errors: BTreeMap<String, u64>,
    pub errors_total: u64,
    pub ingest_latency_ms: Percentiles,
    pub ingest_latency_from_schedule_ms: Percentiles,
    /// Acknowledgement to the matching SSE point, minus the reorder hold.
    pub delivery_latency_ms: Percentiles,
    pub watchers_connected: usize,
    /// Of one core: 150 means one and a half cores.
    pub server_cpu_percent: Option<f64>,
    pub client_cpu_percent: f64,
    pub server_rss_start_bytes: Option<f64>,
    pub server_rss_end_bytes: Option<f64>,
    pub server_rss_max_bytes: Option<f64>,
    /// (seconds since the load started, resident bytes).
    pub server_rss_samples: Vec<(f64, f64)>,
    /// Resident memory added per live activity (end minus before setup).
    pub server_rss_per_activity_bytes: Option<f64>,
}

impl Report {
    pub fn print_human(&self) {
        let s = &self.scenario;
        let mode = if s.ws {
            "WebSocket".to_string()
        } else {
            format!("HTTP, {} connections", s.connections)
        };
        println!(
            "pacer-tools loadtest: {} activities, a fix every {} ms, batch {}, {} watchers, {} s, {mode}, backend {}",
            s.activities,
            s.interval_ms,
            s.batch,
            s.watchers,
            s.duration_s,
            s.backend.as_deref().unwrap_or("?")
        );
        println!(
            "fixes/s offered {:.0}, achieved {:.0} ({:.1}%), requests {}",
            self.offered_fixes_per_s,
            self.fixes_per_s,
            self.achieved_ratio * 100.0,
            self.requests
        );
        println!("errors {} {:?}", self.errors_total, self.errors);
        let l = &self.ingest_latency_ms;
        println!(
            "ingest latency ms: p50 {} p99 {} p999 {} max {}",
            l.p50, l.p99, l.p999, l.max
        );
        let l = &self.ingest_latency_from_schedule_ms;
        println!(
            "  from schedule:   p50 {} p99 {} p999 {} max {}",
            l.p50, l.p99, l.p999, l.max
        );
        let d = &self.delivery_latency_ms;
        println!(
            "delivery latency ms ({} watchers, {} samples): p50 {} p99 {} max {}",
            self.watchers_connected, d.samples, d.p50, d.p99, d.max
        );
        let mib =
            |b: Option<f64>| b.map_or("?".to_string(), |b| format!("{:.1} MiB", b / 1048576.0));
        println!(
            "server CPU {}%, client CPU {:.0}%, server RSS {} -> {} (max {}), {} per activity",
            self.server_cpu_percent
                .map_or("?".to_string(), |c| format!("{c:.0}")),
            self.client_cpu_percent,
            mib(self.server_rss_start_bytes),
            mib(self.server_rss_end_bytes),
            mib(self.server_rss_max_bytes),
            self.server_rss_per_activity_bytes
                .map_or("?".to_string(), |b| format!("{b:.0} B")),
        );
    }
}
