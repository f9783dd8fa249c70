//! Compares Pacer's upload stats with the device's own totals for every
//! recording in a folder and its `corpus/` subfolder, next to plain
//! haversine over the same fixes:
//! `cargo run --release --example accuracy [-- DIR] [-- --markdown]`.

#[path = "../tests/common/eval.rs"]
mod eval;

use std::path::PathBuf;

fn pct(e: Option<f64>) -> String {
    e.map_or("-".into(), |e| format!("{:+.2}%", e * 100.0))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let markdown = args.iter().any(|a| a == "--markdown");
    let dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map_or_else(|| PathBuf::from("tests/fixtures/recordings"), PathBuf::from);
    let (cases, errors) = eval::evaluate(&dir);
    if markdown {
        println!("| file | sport | target set | points | distance m | device m | error | haversine error | moving s | device s | error |");
        println!("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    } else {
        println!(
            "{:<56} {:>5} {:>6} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>8}",
            "file",
            "sport",
            "points",
            "dist m",
            "device m",
            "dist err",
            "hav err",
            "move s",
            "device",
            "move err"
        );
    }
    for c in &cases {
        let device_m = c.device.distance.map_or("-".into(), |d| format!("{d:.1}"));
        let device_s = c.device_moving().map_or("-".into(), |t| format!("{t:.0}"));
        if markdown {
            println!(
                "| {} | {} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                c.name,
                c.sport.as_str(),
                if c.in_target_set() { "yes" } else { "" },
                c.points,
                c.distance,
                device_m,
                pct(c.distance_error()),
                pct(c.haversine_error()),
                c.moving_time,
                device_s,
                pct(c.moving_error()),
            );
        } else {
            println!(
                "{:<56} {:>5} {:>6} {:>10.1} {:>10} {:>8} {:>8} {:>7} {:>7} {:>8}",
                c.name,
                c.sport.as_str(),
                c.points,
                c.distance,
                device_m,
                pct(c.distance_error()),
                pct(c.haversine_error()),
                c.moving_time,
                device_s,
                pct(c.moving_error()),
            );
        }
    }
    for e in &errors {
        println!("skipped {e}");
    }
    let dist: Vec<f64> = cases
        .iter()
        .filter_map(eval::Case::distance_error)
        .collect();
    let hav: Vec<f64> = cases
        .iter()
        .filter_map(eval::Case::haversine_error)
        .collect();
    let moving: Vec<f64> = cases.iter().filter_map(eval::Case::moving_error).collect();
    let target: Vec<&eval::Case> = cases.iter().filter(|c| c.in_target_set()).collect();
    let t_dist: Vec<f64> = target.iter().filter_map(|c| c.distance_error()).collect();
    let t_hav: Vec<f64> = target.iter().filter_map(|c| c.haversine_error()).collect();
    let t_ell: Vec<f64> = target
        .iter()
        .filter_map(|c| c.ellipsoidal_error())
        .collect();
    let t_moving: Vec<f64> = target.iter().filter_map(|c| c.moving_error()).collect();
    for (label, errs) in [
        ("all files: distance", dist),
        ("all files: haversine", hav),
        ("all files: moving time", moving),
        ("runs and rides >= 1 km: distance", t_dist),
        ("runs and rides >= 1 km: haversine", t_hav),
        ("runs and rides >= 1 km: plain sum on the ellipsoid", t_ell),
        ("runs and rides >= 1 km: moving time", t_moving),
    ] {
        match eval::summary(&errs) {
            Some(s) => println!(
                "{label}: n={} signed median {:+.2}%, median |error| {:.2}%, p90 {:.2}%, worst {:.2}%",
                s.n,
                s.signed_median * 100.0,
                s.abs_median * 100.0,
                s.abs_p90 * 100.0,
                s.abs_max * 100.0
            ),
            None => println!("{label}: no device totals"),
        }
    }
}
