//! Completion throughput of the store: `complete_activity` (final stats and
//! the whole route in one transaction, as the checkpointer writes it) on
//! the embedded default, SQLite. Uses only the store API that predates the
//! change log, so the same file runs on the commit before it to give the
//! append's cost side by side (docs/benchmarks.md).
//!
//! `cargo run --release --example completion_throughput`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pacer::domain::{ActivityId, AthleteId, Fix};
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
                    sport_type: "Run".into(),
                    visibility: "everyone".into(),
                    start_ms: start,
                    status_log: format!(r#"[{{"state":"STARTED","at":{start}}}]"#),
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
                state: "COMPLETE".into(),
                start_ms: 0,
                completed_ms: Some(3_600_000),
                status_log: r#"[{"state":"STARTED","at":0},{"state":"COMPLETE","at":3600000}]"#
                    .into(),
                distance: 8_000.0,
                moving_time: 3_600,
                active_time: 3_600,
                elapsed_time: 3_600,
                total_elevation_gain: 10.0,
                max_speed: 3.0,
                average_speed: 2.2,
                elev_high: None,
                elev_low: None,
                splits: "[]".into(),
                summary_polyline: None,
                point_count: ROUTE as i64,
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
