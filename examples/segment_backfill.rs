//! A new segment's backfill against 100,000 existing activities (issue
//! 14: "visible within a minute for 100,000 activities"), on the embedded
//! default (SQLite file, WAL, synchronous FULL).
//!
//! 100,000 completed rides of one athlete: 200 pass along the segment
//! (imported through the store with a 2,000-fix route each), the rest are
//! rows with bounding boxes elsewhere in a 100 km square (as the matcher
//! keeps them), some of which contain the segment by chance and are read.
//! Times from the segment's creation until its backfill is done and its
//! efforts are stored.
//!
//! `cargo run --release --example segment_backfill` (docs/benchmarks.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use pacer::changes::segment_matcher::backfill_round;
use pacer::domain::activity::{StatusLog, Visibility};
use pacer::domain::completion::complete;
use pacer::domain::segments::{SegmentPoint, SegmentShape};
use pacer::domain::{Fix, Sport};
use pacer::store::segments::NewSegment;
use pacer::store::{
    ActivityProgress, ImportedActivity, NewActivityRow, NewAthleteRow, NewUploadRow,
};
use rand::{Rng, SeedableRng};

const ACTIVITIES: usize = 100_000;
const PASSING: usize = 200;
const LAT0: f64 = 45.2;
const LNG0: f64 = 5.7;
const M: f64 = 111_195.0;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pacer.db");
    let url = format!("sqlite://{}", path.display());
    let store = pacer::store::connect(&url, 8).await.unwrap();
    let athlete = store
        .create_athlete(&NewAthleteRow::named("ann", "x".into(), "Ann", "T", 0))
        .await
        .unwrap();
    let athlete_id = pacer::domain::AthleteId(athlete.id);
    let kx = M * LAT0.to_radians().cos();
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let setup = Instant::now();
    // The rides along the segment: 2 km north-east then the segment's
    // kilometre due east, then on; 1 fix a second at 8 m/s.
    for i in 0..PASSING {
        let start_ms = 1_600_000_000_000 + i as i64 * 86_400_000;
        let route: Vec<Fix> = (0..2_000)
            .map(|k| {
                let d = k as f64 * 8.0;
                Fix::new(
                    start_ms + k as i64 * 1_000,
                    LAT0 + rng.gen_range(-3.0..3.0) / M,
                    LNG0 + (d - 4_000.0 + rng.gen_range(-3.0..3.0)) / kx,
                )
            })
            .collect();
        let end_ms = route[route.len() - 1].t_ms;
        let mut log = StatusLog::start(start_ms);
        log.apply(
            pacer::domain::activity::ActivityState::Complete,
            Some(end_ms),
            i64::MAX / 2,
        )
        .unwrap();
        let done = complete(Sport::Ride, &route, &log);
        let imported = ImportedActivity {
            activity: NewActivityRow {
                athlete_id,
                external_id: Some(format!("pass-{i}")),
                name: "Ride".into(),
                sport_type: Sport::Ride,
                visibility: Visibility::Everyone,
                start_ms,
                status_log: log.clone(),
                now_ms: 0,
            },
            progress: ActivityProgress::completed(pacer::domain::ActivityId(0), log, done, 0),
            route,
        };
        let upload = NewUploadRow {
            athlete_id,
            external_id: Some(format!("pass-{i}")),
            data_type: "gpx".into(),
            now_ms: 0,
        };
        store.import_activity(&upload, &imported).await.unwrap();
    }
    // The others, written in bulk beside the store (rows and boxes only).
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut tx = pool.begin().await.unwrap();
    for i in 0..ACTIVITIES - PASSING {
        let start = 1_500_000_000_000i64 + i as i64 * 60_000;
        let mut log = StatusLog::start(start);
        log.apply(
            pacer::domain::activity::ActivityState::Complete,
            Some(start + 3_600_000),
            i64::MAX / 2,
        )
        .unwrap();
        let (x, y) = (
            rng.gen_range(-50_000.0..50_000.0),
            rng.gen_range(-50_000.0..50_000.0),
        );
        let (w, h) = (
            rng.gen_range(2_000.0..20_000.0),
            rng.gen_range(2_000.0..20_000.0),
        );
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO activities (athlete_id, name, sport_type, visibility, state, start_ms, \
             completed_ms, status_log, created_ms, updated_ms) VALUES ($1, 'Ride', 'Ride', \
             'everyone', 'COMPLETE', $2, $3, $4, 0, 0) RETURNING id",
        )
        .bind(athlete.id)
        .bind(start)
        .bind(start + 3_600_000)
        .bind(log.to_json())
        .fetch_one(&mut *tx)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO activity_bounds (activity_id, sport_type, min_lat, min_lng, max_lat, \
             max_lng) VALUES ($1, 'Ride', $2, $3, $4, $5)",
        )
        .bind(id)
        .bind(LAT0 + y / M)
        .bind(LNG0 + x / kx)
        .bind(LAT0 + (y + h) / M)
        .bind(LNG0 + (x + w) / kx)
        .execute(&mut *tx)
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let containing: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM activity_bounds WHERE min_lat <= $1 AND max_lat >= $1 \
         AND min_lng <= $2 AND max_lng >= $3",
    )
    .bind(LAT0)
    .bind(LNG0)
    .bind(LNG0 + 1_000.0 / kx)
    .fetch_one(&pool)
    .await
    .unwrap();
    println!(
        "setup: {ACTIVITIES} activities ({PASSING} along the segment, {containing} others whose box contains it) in {:.1} s",
        setup.elapsed().as_secs_f64()
    );

    let points: Vec<SegmentPoint> = (0..=20)
        .map(|k| SegmentPoint::new(LAT0, LNG0 + k as f64 * 50.0 / kx, None))
        .collect();
    let t = Instant::now();
    let segment = store
        .create_segment(&NewSegment {
            athlete_id,
            name: "Flat kilometre".into(),
            sport: Sport::Ride,
            shape: SegmentShape::new(points).unwrap(),
            now_ms: 0,
        })
        .await
        .unwrap();
    let mut rounds = 0;
    while backfill_round(&store).await.unwrap() {
        rounds += 1;
    }
    let elapsed = t.elapsed();
    let row = store.segment(segment.id).await.unwrap().unwrap();
    println!(
        "backfill: {:.2} s in {rounds} steps, {} efforts by {} athlete(s)",
        elapsed.as_secs_f64(),
        row.effort_count,
        row.athlete_count
    );
    assert_eq!(row.effort_count, PASSING as i64);
}
