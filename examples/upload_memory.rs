//! Peak heap memory and time of processing one large upload (parse + stats),
//! measured with a counting global allocator:
//! `cargo run --release --example upload_memory`.

#[path = "../benches/support/counting.rs"]
mod counting;
#[path = "../benches/support/gen.rs"]
mod gen;

use std::sync::atomic::Ordering;

use counting::{Counting, CURRENT, PEAK};
use std::time::Instant;

use pacer::api::uploads::process;
use pacer::domain::AthleteId;
use pacer::formats::DataType;

#[global_allocator]
static ALLOC: Counting = Counting;

const MIB: f64 = 1024.0 * 1024.0;

fn main() {
    let points = 10 * 3_600;
    let fixes = gen::ride(points);
    let files = [
        ("FIT", DataType::Fit, gen::fit(&fixes)),
        ("GPX", DataType::Gpx, gen::gpx(&fixes)),
        ("TCX", DataType::Tcx, gen::tcx(&fixes)),
    ];
    drop(fixes);
    for (name, t, bytes) in &files {
        let base = CURRENT.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let start = Instant::now();
        let result = process(AthleteId(1), *t, bytes, None, None, None, 0);
        let elapsed = start.elapsed();
        let peak = PEAK.load(Ordering::Relaxed) - base;
        let kept = CURRENT.load(Ordering::Relaxed) - base;
        let ok = result.as_ref().map(|a| a.route.len()).unwrap_or(0);
        drop(result);
        println!(
            "{name}: {points} points, file {:.1} MiB, {:.0} ms ({:.0} points/s), \
             peak heap above the file {:.1} MiB, result {:.1} MiB, {ok} fixes",
            bytes.len() as f64 / MIB,
            elapsed.as_secs_f64() * 1e3,
            points as f64 / elapsed.as_secs_f64(),
            peak as f64 / MIB,
            kept as f64 / MIB,
        );
    }
}
