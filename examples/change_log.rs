//! The activity change log, measured on the embedded default (SQLite, WAL,
//! synchronous FULL), in one run:
//!
//! 1. lag from a write's commit to a consumer's committed effect, with
//!    activities started at a steady rate through the real write path;
//! 2. sustained events through a partitioned consumer (8 partitions);
//! 3. with `PACER_NATS_URL` set, (2) again through NATS JetStream.
//!
//! `cargo run --release --example change_log` (see docs/benchmarks.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pacer::changes::consumer::{self, Consumer, ConsumerError, RunnerSettings};
use pacer::changes::event::ChangeEvent;
use pacer::domain::activity::{StatusLog, Visibility};
use pacer::domain::AthleteId;
use pacer::domain::Sport;
use pacer::store::changes::Statement;
use pacer::store::{DynStore, NewActivityRow, NewAthleteRow, ProvisionBatch};

/// Counts events: one statement per batch, so the figure is the
/// framework's (read, route, commit with position), not an effect's.
struct Counter {
    name: &'static str,
    seen: Mutex<HashMap<i64, Instant>>,
    done: Mutex<usize>,
}

#[async_trait]
impl Consumer for Counter {
    fn name(&self) -> &'static str {
        self.name
    }

    fn partitions(&self) -> u32 {
        8
    }

    async fn apply(
        &self,
        _store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        Ok(vec![Statement::new(
            "UPDATE bench_counts SET n = n + $1 WHERE id = 1",
        )
        .int(events.len() as i64)])
    }

    fn after_commit(&self, events: &[ChangeEvent]) {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap();
        for e in events {
            seen.insert(e.seq, now);
        }
        *self.done.lock().unwrap() += events.len();
    }
}

fn counter(name: &'static str) -> Arc<Counter> {
    Arc::new(Counter {
        name,
        seen: Mutex::new(HashMap::new()),
        done: Mutex::new(0),
    })
}

fn started(now: i64) -> NewActivityRow {
    NewActivityRow {
        athlete_id: AthleteId(0),
        external_id: None,
        name: "Bench".into(),
        sport_type: Sport::Run,
        visibility: Visibility::Everyone,
        start_ms: now,
        status_log: StatusLog::start(now),
        now_ms: now,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

async fn setup_counts(store: &DynStore) {
    store.consumer_positions("bench_setup", 1, 0).await.unwrap();
    store
        .commit_consumer(
            "bench_setup",
            0,
            1,
            &[
                Statement::new(
                    "CREATE TABLE bench_counts (id BIGINT PRIMARY KEY, n BIGINT NOT NULL)",
                ),
                Statement::new("INSERT INTO bench_counts (id, n) VALUES (1, 0)"),
            ],
            0,
        )
        .await
        .unwrap();
}

/// Events appended in bulk (provisioning: one `Started` per athlete).
async fn fill(store: &DynStore, n: usize, tag: &str) {
    let now = pacer::domain::now_ms();
    for chunk in 0..n.div_ceil(10_000) {
        let size = 10_000.min(n - chunk * 10_000);
        let batch = ProvisionBatch {
            athletes: (0..size)
                .map(|i| {
                    (
                        NewAthleteRow::named(
                            &format!("{tag}{chunk}_{i}"),
                            "x".into(),
                            "B",
                            "B",
                            now,
                        ),
                        format!("{tag}{chunk}_{i}"),
                    )
                })
                .collect(),
            activity: Some(started(now)),
            friendships: Vec::new(),
        };
        store.provision(&batch).await.unwrap();
    }
}

async fn lag(store: &DynStore) {
    let probe = counter("bench_lag");
    // From the end of the log: the lag of new events, not a backlog.
    let head = store.change_head().await.unwrap();
    store
        .consumer_positions("bench_lag", 8, head)
        .await
        .unwrap();
    let _running = consumer::start(store.clone(), probe.clone(), RunnerSettings::default())
        .await
        .unwrap();
    let athlete = store
        .create_athlete(&NewAthleteRow::named("lag", "x".into(), "L", "L", 0))
        .await
        .unwrap();
    let rate = 200.0;
    let seconds = 10.0;
    let mut written = Vec::new();
    let t0 = Instant::now();
    for i in 0..(rate * seconds) as usize {
        let due = t0 + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(due.into()).await;
        let mut row = started(pacer::domain::now_ms());
        row.athlete_id = AthleteId(athlete.id);
        store.create_activity(&row).await.unwrap();
        written.push(Instant::now());
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let seen = probe.seen.lock().unwrap().clone();
    // The probe's events are the last ones written, in order.
    let head = store.change_head().await.unwrap();
    let first = head - written.len() as i64 + 1;
    let mut lags: Vec<Duration> = written
        .iter()
        .enumerate()
        .map(|(i, at)| {
            seen.get(&(first + i as i64))
                .map_or(Duration::MAX, |done| done.saturating_duration_since(*at))
        })
        .collect();
    lags.sort();
    println!(
        "lag commit→effect ({} activities started at {rate}/s): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lags.len(),
        percentile(&lags, 0.5).as_secs_f64() * 1e3,
        percentile(&lags, 0.99).as_secs_f64() * 1e3,
        lags.last().unwrap().as_secs_f64() * 1e3,
    );
}

async fn throughput(
    store: &DynStore,
    n: usize,
    name: &'static str,
    changes: Option<&pacer::changes::Changes>,
) {
    let c = counter(name);
    let t0 = Instant::now();
    let _running = match changes {
        Some(ch) => ch.start_consumer(c.clone()).await.unwrap(),
        None => consumer::start(store.clone(), c.clone(), RunnerSettings::default())
            .await
            .unwrap(),
    };
    // NATS hands out one message per partition at a time: give it a minute.
    let limit = Duration::from_secs(if changes.is_some() { 60 } else { 600 });
    while *c.done.lock().unwrap() < n && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let done = *c.done.lock().unwrap();
    let s = t0.elapsed().as_secs_f64();
    println!(
        "{name}: {done} of {n} events through 8 partitions in {s:.2} s: {:.0} events/s",
        done as f64 / s
    );
}

#[tokio::main]
async fn main() {
    // Warnings (a failed relay round, a retried batch) go to stderr.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        ))
        .with_writer(std::io::stderr)
        .init();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = pacer::store::connect(&url, 16).await.unwrap();
    setup_counts(&store).await;
    let n: usize = std::env::var("PACER_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let t = Instant::now();
    fill(&store, n, "a").await;
    println!(
        "appended {n} events (bulk) in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    throughput(&store, n, "embedded", None).await;
    lag(&store).await;
    if let Ok(nats) = std::env::var("PACER_NATS_URL") {
        let changes = pacer::changes::Changes::start(
            store.clone(),
            pacer::changes::ChangesConfig {
                retention: Duration::from_secs(86_400),
                poll: Duration::from_millis(250),
                watcher_queue: 16,
                nats_url: Some(nats),
            },
            Default::default(),
        )
        .await
        .unwrap();
        let total = store.change_head().await.unwrap() as usize;
        // Once relayed, every event so far goes through NATS.
        throughput(&store, total, "nats", Some(&changes)).await;
    }
}
