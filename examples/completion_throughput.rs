//! Completion throughput of the store: `complete_activity` (final stats and
//! the whole route in one transaction, as the checkpointer writes it) on
//! the embedded default, SQLite, and what the change log's append costs
//! inside it, side by side in one run: two databases, rounds alternating,
//! one as it is and one where a trigger drops the `change_log` row (the
//! sequence counter's one-row update stays, so the difference is the row's
//! insert and its index, a lower bound of the append's cost).
//!
//! `cargo run --release --example completion_throughput`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pacer::domain::activity::{ActivityState, ActivityTotals, StatusLog, Visibility};
use pacer::domain::{ActivityId, AthleteId, Fix, Sport};
use pacer::store::{ActivityProgress, DynStore, NewActivityRow, NewAthleteRow};
use sqlx::Connection;

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
    let with_log = Bench::new(&format!("sqlite://{}/with.db", dir.path().display()), false).await;
    let without = Bench::new(
        &format!("sqlite://{}/without.db", dir.path().display()),
        true,
    )
    .await;
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        // Each goes first in every other round: a drift of the machine's
        // load falls on both.
        let (ra, rb) = if round % 2 == 0 {
            let ra = with_log.round(round, n).await;
            (ra, without.round(round, n).await)
        } else {
            let rb = without.round(round, n).await;
            (with_log.round(round, n).await, rb)
        };
        println!(
            "round {round}: {n} completions ({ROUTE} fixes each): with the log {ra:.0}/s, \
             without the log row {rb:.0}/s, ratio {:.3}",
            ra / rb
        );
        a.push(ra);
        b.push(rb);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (ma, mb) = (median(&mut a), median(&mut b));
    println!(
        "change log rows: {} with, {} without",
        with_log.log_rows().await,
        without.log_rows().await
    );
    println!(
        "median: {ma:.0} completions/s with the change log, {mb:.0}/s without its row: \
         ratio {:.3} ({:+.1}%)",
        ma / mb,
        (ma / mb - 1.0) * 100.0
    );
}

struct Bench {
    url: String,
    store: DynStore,
    athlete: i64,
    route: Vec<Fix>,
    log: StatusLog,
}

impl Bench {
    async fn new(url: &str, drop_log_rows: bool) -> Bench {
        let store = pacer::store::connect(url, 16).await.unwrap();
        if drop_log_rows {
            let mut conn = sqlx::SqliteConnection::connect(url).await.unwrap();
            sqlx::query(
                "CREATE TRIGGER bench_no_log BEFORE INSERT ON change_log \
                 BEGIN SELECT RAISE(IGNORE); END",
            )
            .execute(&mut conn)
            .await
            .unwrap();
        }
        let athlete = store
            .create_athlete(&NewAthleteRow::named("bench", "x".into(), "B", "B", 0))
            .await
            .unwrap()
            .id;
        let route: Vec<Fix> = (0..ROUTE)
            .map(|i| Fix::new(i as i64 * 1_000, 59.9 + i as f64 * 2e-5, 10.75))
            .collect();
        let mut log = StatusLog::start(0);
        log.apply(ActivityState::Complete, Some(3_600_000), 3_600_000)
            .unwrap();
        Bench {
            url: url.to_string(),
            store,
            athlete,
            route,
            log,
        }
    }

    /// Rows in the change log: the check that the trigger did its job.
    async fn log_rows(&self) -> i64 {
        let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM change_log")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    }

    /// One round: `n` activities created, then completed; the rate counts
    /// the completions alone.
    async fn round(&self, round: usize, n: usize) -> f64 {
        let store = &self.store;
        let athlete = self.athlete;
        let route = &self.route;
        let log = &self.log;
        let mut ids = Vec::with_capacity(n);
        for i in 0..n {
            let start = (round * n + i) as i64 * 10_000_000;
            let (row, _) = store
                .create_activity(&NewActivityRow {
                    athlete_id: AthleteId(athlete),
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
            store.complete_activity(&progress, route).await.unwrap();
        }
        n as f64 / t0.elapsed().as_secs_f64()
    }
}
