//! Compares Pacer's stats with the device's own totals for every recording
//! in a folder: `cargo run --release --example accuracy [-- DIR]`.

#[path = "../tests/common/eval.rs"]
mod eval;

use std::path::PathBuf;

fn pct(e: Option<f64>) -> String {
    e.map_or("-".into(), |e| format!("{:+.2}%", e * 100.0))
}

fn main() {
    let dir = std::env::args()
        .nth(1)
        .map_or_else(|| PathBuf::from("tests/fixtures/recordings"), PathBuf::from);
    let (cases, errors) = eval::evaluate(&dir);
    println!(
        "{:<48} {:>5} {:>6} {:>10} {:>10} {:>8} {:>7} {:>7} {:>8}",
        "file", "sport", "points", "dist m", "device m", "dist err", "move s", "device", "move err"
    );
    for c in &cases {
        println!(
            "{:<48} {:>5} {:>6} {:>10.1} {:>10} {:>8} {:>7} {:>7} {:>8}",
            c.name,
            c.sport.as_str(),
            c.points,
            c.distance,
            c.device.distance.map_or("-".into(), |d| format!("{d:.1}")),
            pct(c.distance_error()),
            c.moving_time,
            c.device_moving().map_or("-".into(), |t| format!("{t:.0}")),
            pct(c.moving_error()),
        );
    }
    for e in &errors {
        println!("skipped {e}");
    }
    let dist: Vec<f64> = cases
        .iter()
        .filter_map(eval::Case::distance_error)
        .collect();
    let moving: Vec<f64> = cases.iter().filter_map(eval::Case::moving_error).collect();
    for (label, errs) in [("distance", dist), ("moving time", moving)] {
        match eval::summary(&errs) {
            Some((median, worst)) => println!(
                "{label}: n={} median |error| {:.2}%, worst {:.2}%",
                errs.len(),
                median * 100.0,
                worst * 100.0
            ),
            None => println!("{label}: no device totals"),
        }
    }
}
