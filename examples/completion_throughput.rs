//! Completion throughput of the store: `complete_activity` (final stats and
//! the whole route in one transaction, as the checkpointer writes it) on
//! the embedded default, SQLite. (Before the store's rows were typed, the
//! same file with string fields ran on the commit before the change log
//! to give the append's cost side by side: docs/benchmarks.md.)
//!
//! `cargo run --release --example completion_throughput`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pacer::domain::activity::{ActivityState, ActivityTotals, StatusLog, Visibility};
use pacer::domain::{ActivityId, AthleteId, Fix, Sport};
use pacer::store::{ActivityProgress, NewActivityRow, NewAthleteRow};

const ROUTE: usize = 3_600;

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("PACER_BENCH_COMPLETIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(400);
    let rounds: usize = std::env::var("PACER_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/bench.db", dir.path().display());
    let store = pacer::store::connect(&url, 16).await.unwrap();
    let athlete = store
        .create_athlete(&NewAthleteRow::named("bench", "x".into(), "B", "B", 0))
        .await
        .unwrap();
    let route: Vec<Fix> = (0..ROUTE)
        .map(|i| Fix::new(i as i64 * 1_000, 59.9 + i as f64 * 2e-5, 10.75))
        .collect();
    let mut log = StatusLog::start(0);
    log.apply(ActivityState::Complete, Some(3_600_000), 3_600_000)
        .unwrap();
    let mut rates = Vec::new();
    for round in 0..rounds {
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let start = (round * n + i) as i64 * 10_000_000;
            let (row, _) = store
                .create_activity(&NewActivityRow {
                    athlete_id: AthleteId(athlete.id),
                    external_id: None,
                    name: "Bench".into(),
                    sport_type: Sport::Run,
                    visibility: Visibility::Everyone,
                    start_ms: start,
                    status_log: StatusLog::start(start),
                    now_ms: start,
                })
                .await
                .unwrap();
            ids.push(row.id);
        }
        let t0 = Instant::now();
        for id in &ids {
            let progress = ActivityProgress {
                id: ActivityId(*id),
                status_log: log.clone(),
                totals: ActivityTotals {
                    distance: 8_000.0,
                    moving_time: 3_600,
                    active_time: 3_600,
                    elapsed_time: 3_600,
                    total_elevation_gain: 10.0,
                    max_speed: 3.0,
                    average_speed: 2.2,
                    elev_high: None,
                    elev_low: None,
                    point_count: ROUTE as i64,
                },
                splits: Vec::new(),
                summary_polyline: None,
                now_ms: 3_600_000,
            };
            store.complete_activity(&progress, &route).await.unwrap();
        }
        let rate = n as f64 / t0.elapsed().as_secs_f64();
        println!("round {round}: {n} completions ({ROUTE} fixes each): {rate:.0}/s");
        rates.push(rate);
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} completions/s", rates[rates.len() / 2]);
}
