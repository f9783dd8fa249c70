//! Segment matching (issue 14 target: an activity of 10,000 fixes against
//! 100,000 segments, of which 50 lie along its route, in at most 20 ms).
//!
//! Builds 100,000 ride segments over a 100 km square: 50 cut from the
//! activity's route (with 3 m of GPS noise added), the rest random lines
//! of about 1 km. Times what the matcher does per activity: the spatial
//! index's candidates, the track's preparation (distances and the moving
//! rule of the activity's stats) and matching every candidate. The
//! candidates' lines are in memory here; the server reads them from the
//! database in one query (`segments_by_id`), not timed.
//!
//! `cargo run --release --example segment_matching` (docs/benchmarks.md).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Instant;

use pacer::domain::segments::geometry;
use pacer::domain::segments::index::{IndexedSegment, SegmentIndex};
use pacer::domain::segments::matcher::{match_segment, PreparedTrack};
use pacer::domain::segments::{SegmentId, SegmentPoint};
use pacer::domain::{Fix, Sport};
use rand::{Rng, SeedableRng};

const FIXES: usize = 10_000;
const SEGMENTS: usize = 100_000;
const NEAR: usize = 50;
const RUNS: usize = 200;
const LAT0: f64 = 45.2;
const LNG0: f64 = 5.7;
const M: f64 = 111_195.0;

fn main() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(14);
    let kx = M * LAT0.to_radians().cos();
    // The route: a ride at about 8 m/s, one fix a second, heading wandering.
    let mut fixes = Vec::with_capacity(FIXES);
    let (mut x, mut y, mut heading) = (0.0f64, 0.0f64, 0.3f64);
    for i in 0..FIXES {
        heading += rng.gen_range(-0.05..0.05);
        x += 8.0 * heading.cos();
        y += 8.0 * heading.sin();
        let mut f = Fix::new(
            1_700_000_000_000 + i as i64 * 1_000,
            LAT0 + y / M,
            LNG0 + x / kx,
        );
        f.alt = Some(200.0 + (i as f32 / 300.0).sin() * 30.0);
        fixes.push(f);
    }
    let mut lines: HashMap<SegmentId, (Vec<SegmentPoint>, f64)> = HashMap::new();
    let mut entries = Vec::with_capacity(SEGMENTS);
    let mut add = |id: i64, points: Vec<SegmentPoint>| {
        let stats = geometry::stats(&points);
        let (first, last) = (points[0], points[points.len() - 1]);
        entries.push(IndexedSegment {
            id: SegmentId(id),
            sport: Sport::Ride,
            start: (first.lat, first.lng),
            end: (last.lat, last.lng),
            bbox: stats.bbox,
        });
        lines.insert(SegmentId(id), (points, stats.distance));
    };
    // 50 segments along the route: 500 m to 3 km, every third fix, noisy.
    for id in 0..NEAR {
        let len = rng.gen_range(60..380);
        let from = rng.gen_range(0..FIXES - len - 1);
        let points = fixes[from..=from + len]
            .iter()
            .step_by(3)
            .map(|f| {
                SegmentPoint::new(
                    f.lat + rng.gen_range(-3.0..3.0) / M,
                    f.lng + rng.gen_range(-3.0..3.0) / kx,
                    f.alt,
                )
            })
            .collect();
        add(id as i64 + 1, points);
    }
    // The rest anywhere in a 100 km square around the route's start.
    for id in NEAR..SEGMENTS {
        let (sx, sy) = (
            rng.gen_range(-50_000.0..50_000.0),
            rng.gen_range(-50_000.0..50_000.0),
        );
        let dir: f64 = rng.gen_range(0.0..std::f64::consts::TAU);
        let points = (0..50)
            .map(|k| {
                let d = k as f64 * 20.0;
                SegmentPoint::new(
                    LAT0 + (sy + d * dir.sin()) / M,
                    LNG0 + (sx + d * dir.cos()) / kx,
                    None,
                )
            })
            .collect();
        add(id as i64 + 1, points);
    }
    let built = Instant::now();
    let index = SegmentIndex::bulk(entries);
    let build_ms = built.elapsed().as_secs_f64() * 1e3;

    let mut times = Vec::with_capacity(RUNS);
    // Time in each part: candidates, track preparation, matching.
    let mut parts = [0.0f64; 3];
    let mut found = 0;
    let mut candidates = 0;
    for _ in 0..RUNS {
        let t = Instant::now();
        let ids = index.candidates(Sport::Ride, &fixes);
        let t1 = t.elapsed().as_secs_f64();
        let track = PreparedTrack::new(Sport::Ride, &fixes, &[]);
        let t2 = t.elapsed().as_secs_f64();
        let mut efforts = 0;
        for id in &ids {
            let (points, length) = &lines[id];
            efforts += match_segment(*id, points, *length, &track).len();
        }
        let t3 = t.elapsed().as_secs_f64();
        parts[0] += t1;
        parts[1] += t2 - t1;
        parts[2] += t3 - t2;
        times.push(t3 * 1e3);
        found = efforts;
        candidates = ids.len();
    }
    times.sort_by(f64::total_cmp);
    let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    // The same work without the index: every segment's box tested.
    let t = Instant::now();
    let track = PreparedTrack::new(Sport::Ride, &fixes, &[]);
    let bbox = track.bbox().unwrap().grown(25.0);
    let mut scanned = 0;
    for (id, (points, length)) in &lines {
        let b = geometry::stats(points).bbox;
        if bbox.contains(&b) {
            scanned += match_segment(*id, points, *length, &track).len();
        }
    }
    let scan_ms = t.elapsed().as_secs_f64() * 1e3;
    println!("segments: {SEGMENTS}, along the route: {NEAR}, fixes: {FIXES}");
    println!("index build: {build_ms:.1} ms");
    println!(
        "per activity ({RUNS} runs): median {:.2} ms, p99 {:.2} ms, max {:.2} ms; candidates {candidates}, efforts {found}",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    println!(
        "mean per part: candidates {:.2} ms, track {:.2} ms, matching {:.2} ms",
        parts[0] * 1e3 / RUNS as f64,
        parts[1] * 1e3 / RUNS as f64,
        parts[2] * 1e3 / RUNS as f64
    );
    println!(
        "without the index (every segment's box and stats): {scan_ms:.1} ms, efforts {scanned}"
    );
    assert!(found >= NEAR, "every segment cut from the route is found");
}
