//! A segment's figures, and the flat local frame the matcher works in.
//!
//! Distances are on the WGS84 ellipsoid with the same function as an
//! activity's distance (`stats::ellipsoidal`), so a segment cut from an
//! activity is as long as that stretch of the activity.

use serde::{Deserialize, Serialize};

use super::SegmentPoint;
use crate::domain::stats::{ellipsoidal, ELEVATION_HYSTERESIS_M};

/// Grades are measured over at least this much distance (m): altitude is
/// noisy to a metre or more (GPS several metres), which over 10 m would
/// read as a 10 % grade; over 100 m it is at most a percent or two, the
/// resolution Strava's segment pages show.
pub const GRADE_WINDOW_M: f64 = 100.0;
/// Strava's climb categories ("Climb Categorization", Strava support):
/// length (m) times average grade (%) above 8,000 is Cat 4, above 16,000
/// Cat 3, 32,000 Cat 2, 64,000 Cat 1 and 80,000 HC; a climb needs an
/// average grade of at least 3 %.
pub const CLIMB_SCORES: [f64; 5] = [8_000.0, 16_000.0, 32_000.0, 64_000.0, 80_000.0];
pub const CLIMB_MIN_GRADE: f64 = 3.0;

/// A latitude/longitude box.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BBox {
    pub min_lat: f64,
    pub min_lng: f64,
    pub max_lat: f64,
    pub max_lng: f64,
}

impl BBox {
    pub fn of(points: impl IntoIterator<Item = (f64, f64)>) -> Option<BBox> {
        let mut it = points.into_iter();
        let (lat, lng) = it.next()?;
        let mut b = BBox {
            min_lat: lat,
            min_lng: lng,
            max_lat: lat,
            max_lng: lng,
        };
        for (lat, lng) in it {
            b.min_lat = b.min_lat.min(lat);
            b.max_lat = b.max_lat.max(lat);
            b.min_lng = b.min_lng.min(lng);
            b.max_lng = b.max_lng.max(lng);
        }
        Some(b)
    }

    /// The box grown by `m` metres on every side.
    pub fn grown(&self, m: f64) -> BBox {
        let dlat = m / METRES_PER_DEG_LAT;
        let cos = self
            .min_lat
            .abs()
            .max(self.max_lat.abs())
            .to_radians()
            .cos()
            .max(0.01);
        let dlng = dlat / cos;
        BBox {
            min_lat: self.min_lat - dlat,
            min_lng: self.min_lng - dlng,
            max_lat: self.max_lat + dlat,
            max_lng: self.max_lng + dlng,
        }
    }

    pub fn contains(&self, other: &BBox) -> bool {
        self.min_lat <= other.min_lat
            && self.min_lng <= other.min_lng
            && self.max_lat >= other.max_lat
            && self.max_lng >= other.max_lng
    }

    pub fn intersects(&self, other: &BBox) -> bool {
        self.min_lat <= other.max_lat
            && other.min_lat <= self.max_lat
            && self.min_lng <= other.max_lng
            && other.min_lng <= self.max_lng
    }
}

/// A segment's figures, in Strava's names and units (metres, percent).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentStats {
    pub distance: f64,
    pub average_grade: f64,
    pub maximum_grade: f64,
    pub elevation_high: Option<f64>,
    pub elevation_low: Option<f64>,
    pub total_elevation_gain: f64,
    /// 0 (not categorised) to 5 (HC), as Strava's API.
    pub climb_category: u8,
    pub bbox: BBox,
}

/// Cumulative ellipsoidal distance at each point.
pub fn cumulative(points: &[SegmentPoint]) -> Vec<f64> {
    let mut out = Vec::with_capacity(points.len());
    let mut d = 0.0;
    for (i, p) in points.iter().enumerate() {
        if i > 0 {
            let q = points[i - 1];
            d += ellipsoidal(q.lat, q.lng, p.lat, p.lng);
        }
        out.push(d);
    }
    out
}

/// The category of a climb of `distance` m at `average_grade` %.
pub fn climb_category(distance: f64, average_grade: f64) -> u8 {
    if average_grade < CLIMB_MIN_GRADE {
        return 0;
    }
    let score = distance * average_grade;
    CLIMB_SCORES.iter().filter(|&&s| score > s).count() as u8
}

pub fn stats(points: &[SegmentPoint]) -> SegmentStats {
    let dist = cumulative(points);
    let distance = dist.last().copied().unwrap_or(0.0);
    let bbox = BBox::of(points.iter().map(|p| (p.lat, p.lng))).unwrap_or(BBox {
        min_lat: 0.0,
        min_lng: 0.0,
        max_lat: 0.0,
        max_lng: 0.0,
    });
    // Altitude where known, with the distance at which it was taken.
    let alts: Vec<(f64, f64)> = points
        .iter()
        .zip(&dist)
        .filter_map(|(p, &d)| p.alt.map(|a| (d, f64::from(a))))
        .collect();
    let (mut high, mut low) = (None::<f64>, None::<f64>);
    let mut gain = 0.0;
    let mut reference: Option<f64> = None;
    for &(_, a) in &alts {
        high = Some(high.map_or(a, |h| h.max(a)));
        low = Some(low.map_or(a, |l| l.min(a)));
        // Climbs count once they exceed the hysteresis, as activity stats do.
        match reference {
            None => reference = Some(a),
            Some(r) if a - r >= ELEVATION_HYSTERESIS_M => {
                gain += a - r;
                reference = Some(a);
            }
            Some(r) if a < r => reference = Some(a),
            _ => {}
        }
    }
    let average_grade = match (alts.first(), alts.last()) {
        (Some(&(d0, a0)), Some(&(d1, a1))) if d1 - d0 > 0.0 => (a1 - a0) / distance * 100.0,
        _ => 0.0,
    };
    let maximum_grade = maximum_grade(&alts)
        .unwrap_or(average_grade)
        .max(average_grade);
    SegmentStats {
        distance,
        average_grade: round2(average_grade),
        maximum_grade: round2(maximum_grade),
        elevation_high: high,
        elevation_low: low,
        total_elevation_gain: gain,
        climb_category: climb_category(distance, average_grade),
        bbox,
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// The steepest grade over any stretch of at least `GRADE_WINDOW_M`
/// (None when the altitudes span less).
fn maximum_grade(alts: &[(f64, f64)]) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut j = 0;
    for i in 0..alts.len() {
        if j < i {
            j = i;
        }
        while j < alts.len() && alts[j].0 - alts[i].0 < GRADE_WINDOW_M {
            j += 1;
        }
        let Some(&(dj, aj)) = alts.get(j) else {
            break;
        };
        let g = (aj - alts[i].1) / (dj - alts[i].0) * 100.0;
        best = Some(best.map_or(g, |b| b.max(g)));
    }
    best
}

/// Metres per degree of latitude (mean).
pub const METRES_PER_DEG_LAT: f64 = 111_195.0;

/// A flat frame (metres east and north of an origin): fine for comparing
/// nearby points, since a degree of longitude's length is taken at the
/// origin's latitude (within 0.2 % over 10 km at mid latitudes, far below
/// GPS error at the distances compared).
#[derive(Debug, Clone, Copy)]
pub struct Frame {
    lat0: f64,
    lng0: f64,
    kx: f64,
}

impl Frame {
    pub fn at(lat0: f64, lng0: f64) -> Frame {
        Frame {
            lat0,
            lng0,
            kx: METRES_PER_DEG_LAT * lat0.to_radians().cos(),
        }
    }

    pub fn xy(&self, lat: f64, lng: f64) -> [f64; 2] {
        let mut dlng = lng - self.lng0;
        if dlng > 180.0 {
            dlng -= 360.0;
        } else if dlng < -180.0 {
            dlng += 360.0;
        }
        [dlng * self.kx, (lat - self.lat0) * METRES_PER_DEG_LAT]
    }
}

/// Points along the line at most `step` metres apart (the originals
/// included), in the frame.
pub fn densify(points: &[[f64; 2]], step: f64) -> Vec<[f64; 2]> {
    let mut out = Vec::with_capacity(points.len());
    for (i, &p) in points.iter().enumerate() {
        if i > 0 {
            let q = points[i - 1];
            let len = (p[0] - q[0]).hypot(p[1] - q[1]);
            let n = (len / step).ceil() as usize;
            for k in 1..n {
                let f = k as f64 / n as f64;
                out.push([q[0] + (p[0] - q[0]) * f, q[1] + (p[1] - q[1]) * f]);
            }
        }
        out.push(p);
    }
    out
}

/// The closest point of segment `a`-`b` to `p`: (distance, fraction along).
pub fn project(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> (f64, f64) {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let len2 = dx * dx + dy * dy;
    let f = if len2 > 0.0 {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    let (x, y) = (a[0] + dx * f, a[1] + dy * f);
    ((p[0] - x).hypot(p[1] - y), f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climb_categories_as_strava() {
        assert_eq!(climb_category(2_000.0, 3.9), 0); // 7,800
        assert_eq!(climb_category(2_000.0, 4.1), 1); // 8,200: Cat 4
        assert_eq!(climb_category(10_000.0, 7.0), 4); // 70,000: Cat 1
        assert_eq!(climb_category(12_000.0, 8.0), 5); // 96,000: HC
        assert_eq!(climb_category(40_000.0, 2.5), 0); // too flat
    }

    #[test]
    fn grades_and_elevation() {
        // 1 km due north climbing 50 m evenly, then 10 m steeper at the end.
        let mut pts: Vec<SegmentPoint> = (0..=10)
            .map(|i| {
                SegmentPoint::new(
                    51.0 + i as f64 * 100.0 / METRES_PER_DEG_LAT,
                    0.0,
                    Some(100.0 + i as f32 * 5.0),
                )
            })
            .collect();
        pts.push(SegmentPoint::new(
            51.0 + 1_100.0 / METRES_PER_DEG_LAT,
            0.0,
            Some(165.0),
        ));
        let s = stats(&pts);
        assert!((s.distance - 1_100.0).abs() < 5.0, "{}", s.distance);
        assert!(
            (s.average_grade - 65.0 / 11.0).abs() < 0.1,
            "{}",
            s.average_grade
        );
        assert!((s.maximum_grade - 15.0).abs() < 0.3, "{}", s.maximum_grade);
        assert_eq!(s.elevation_high, Some(165.0));
        assert_eq!(s.elevation_low, Some(100.0));
        assert!((s.total_elevation_gain - 65.0).abs() < 5.1);
        assert_eq!(s.climb_category, 0);
    }

    #[test]
    fn same_distance_as_activity_stats() {
        let pts: Vec<SegmentPoint> = (0..50)
            .map(|i| SegmentPoint::new(59.9 + i as f64 * 1e-4, 10.7 + i as f64 * 2e-4, None))
            .collect();
        let s = stats(&pts);
        let mut d = 0.0;
        for w in pts.windows(2) {
            d += ellipsoidal(w[0].lat, w[0].lng, w[1].lat, w[1].lng);
        }
        assert_eq!(s.distance, d);
    }

    #[test]
    fn projection_and_density() {
        let (d, f) = project([5.0, 3.0], [0.0, 0.0], [10.0, 0.0]);
        assert!((d - 3.0).abs() < 1e-9 && (f - 0.5).abs() < 1e-9);
        let dense = densify(&[[0.0, 0.0], [25.0, 0.0]], 10.0);
        assert_eq!(dense.len(), 4);
        assert_eq!(dense[3], [25.0, 0.0]);
    }
}
