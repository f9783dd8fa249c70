//! Every real recording with device totals must match them: distance within
//! 1 %, moving time within 5 %.

mod common;

use std::path::Path;

#[test]
fn recordings_match_device_totals() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/recordings");
    let (cases, errors) = common::eval::evaluate(&dir);
    // hrv-activity.fit is an indoor ride without GPS: the only expected skip.
    assert_eq!(errors.len(), 1, "{errors:?}");
    let mut checked = 0;
    for c in &cases {
        println!(
            "{} ({}, {} points): {:.1} m, {} s moving",
            c.name,
            c.sport.as_str(),
            c.points,
            c.distance,
            c.moving_time
        );
        if let Some(e) = c.distance_error() {
            assert!(
                e.abs() <= 0.01,
                "{}: distance off by {:.2}%",
                c.name,
                e * 100.0
            );
            checked += 1;
        }
        if let Some(e) = c.moving_error() {
            assert!(
                e.abs() <= 0.05,
                "{}: moving time off by {:.2}%",
                c.name,
                e * 100.0
            );
        }
    }
    let dist: Vec<f64> = cases.iter().filter_map(|c| c.distance_error()).collect();
    if let Some((median, worst)) = common::eval::summary(&dist) {
        println!(
            "distance: median {:.2}%, worst {:.2}%",
            median * 100.0,
            worst * 100.0
        );
    }
    assert!(checked >= 5, "only {checked} recordings with device totals");
}
