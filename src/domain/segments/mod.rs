//! Segments: a stretch of road or trail that efforts are timed over.
//!
//! - this module: the validated segment (points, limits) and its ids;
//! - `geometry`: distance, grades, elevation and climb category;
//! - `matcher`: finding efforts (passes in the segment's direction) in a track;
//! - `index`: the spatial index that keeps candidate search independent of
//!   how many segments exist.
//!
//! Pure: no actix, no sqlx.

use serde::{Deserialize, Serialize};

use super::DomainError;

pub mod geometry;
pub mod index;
pub mod matcher;

pub use geometry::{BBox, SegmentStats};

/// Fewest points a segment has: a start and an end.
pub const MIN_POINTS: usize = 2;
/// Most points a segment has (issue 14): bounds the stored row, the work
/// per candidate and a request's body.
pub const MAX_POINTS: usize = 10_000;
/// Shortest segment (m). Strava requires 500 m for new segments since 2022;
/// we allow down to 100 m (the limit) since a track sprint or a
/// short steep climb is a fair segment for a self-hosted club, while
/// anything shorter is mostly GPS noise (Strava support, "Optimizing
/// segment creation": very short segments are prone to matching errors).
pub const MIN_DISTANCE_M: f64 = 100.0;
/// Longest segment (m): 100 km, the limit.
pub const MAX_DISTANCE_M: f64 = 100_000.0;
/// Longest name, in characters.
pub const MAX_NAME_CHARS: usize = 255;

macro_rules! id_type {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(SegmentId);
id_type!(EffortId);

/// One point of a segment's line; altitude in metres when known.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SegmentPoint {
    pub lat: f64,
    pub lng: f64,
    pub alt: Option<f32>,
}

impl SegmentPoint {
    pub fn new(lat: f64, lng: f64, alt: Option<f32>) -> SegmentPoint {
        SegmentPoint { lat, lng, alt }
    }
}

/// A segment's line, validated: 2 to 10,000 points with coordinates in
/// range, 100 m to 100 km long. Its stats are computed once, here.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentShape {
    points: Vec<SegmentPoint>,
    stats: SegmentStats,
}

impl SegmentShape {
    /// Validates the points (errors name the field `points` and say why:
    /// `too_few`, `too_many`, `out_of_range`, `too_short`, `too_long`).
    pub fn new(points: Vec<SegmentPoint>) -> Result<SegmentShape, DomainError> {
        if points.len() < MIN_POINTS {
            return Err(DomainError::new("points", "too_few"));
        }
        if points.len() > MAX_POINTS {
            return Err(DomainError::new("points", "too_many"));
        }
        for p in &points {
            let ok = p.lat.is_finite()
                && p.lng.is_finite()
                && (-90.0..=90.0).contains(&p.lat)
                && (-180.0..=180.0).contains(&p.lng)
                && p.alt
                    .is_none_or(|a| a.is_finite() && (-1_000.0..=10_000.0).contains(&a));
            if !ok {
                return Err(DomainError::new("points", "out_of_range"));
            }
        }
        let stats = geometry::stats(&points);
        if stats.distance < MIN_DISTANCE_M {
            return Err(DomainError::new("points", "too_short"));
        }
        if stats.distance > MAX_DISTANCE_M {
            return Err(DomainError::new("points", "too_long"));
        }
        Ok(SegmentShape { points, stats })
    }

    /// A stored shape, trusted (it was validated when created); the stats
    /// are the stored ones.
    pub fn stored(points: Vec<SegmentPoint>, stats: SegmentStats) -> SegmentShape {
        SegmentShape { points, stats }
    }

    pub fn points(&self) -> &[SegmentPoint] {
        &self.points
    }

    pub fn stats(&self) -> &SegmentStats {
        &self.stats
    }

    pub fn into_points(self) -> Vec<SegmentPoint> {
        self.points
    }
}

/// A segment's name: trimmed, 1 to 255 characters, no control characters.
pub fn parse_name(raw: Option<&str>) -> Result<String, DomainError> {
    let Some(raw) = raw else {
        return Err(DomainError::missing("name"));
    };
    let name = raw.trim();
    if name.is_empty() {
        return Err(DomainError::missing("name"));
    }
    if name.chars().count() > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(DomainError::invalid("name"));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Metres per degree of latitude.
    const M: f64 = 111_195.0;

    fn north(n: usize, step_m: f64) -> Vec<SegmentPoint> {
        (0..n)
            .map(|i| SegmentPoint::new(51.0 + i as f64 * step_m / M, 0.0, None))
            .collect()
    }

    #[test]
    fn limits() {
        assert_eq!(
            SegmentShape::new(north(1, 10.0)).unwrap_err().code,
            "too_few"
        );
        assert_eq!(
            SegmentShape::new(north(2, 50.0)).unwrap_err().code,
            "too_short"
        );
        assert!(SegmentShape::new(north(2, 150.0)).is_ok());
        assert_eq!(
            SegmentShape::new(north(3, 60_000.0)).unwrap_err().code,
            "too_long"
        );
        assert_eq!(
            SegmentShape::new(north(10_001, 1.0)).unwrap_err().code,
            "too_many"
        );
        let mut bad = north(3, 100.0);
        bad[1].lat = 91.0;
        assert_eq!(SegmentShape::new(bad).unwrap_err().code, "out_of_range");
        let mut nan = north(3, 100.0);
        nan[2].lng = f64::NAN;
        assert_eq!(SegmentShape::new(nan).unwrap_err().code, "out_of_range");
    }

    #[test]
    fn names() {
        assert_eq!(parse_name(Some("  Hill ")).unwrap(), "Hill");
        assert_eq!(parse_name(None).unwrap_err().code, "missing");
        assert_eq!(parse_name(Some("  ")).unwrap_err().code, "missing");
        assert_eq!(parse_name(Some("a\u{0}b")).unwrap_err().code, "invalid");
        assert!(parse_name(Some(&"x".repeat(256))).is_err());
    }
}
