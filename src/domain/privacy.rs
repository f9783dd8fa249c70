//! Privacy zones: what of a route others may see.
//!
//! An athlete enters a point and a radius `r` (200 to 1,600 m). Hiding
//! exactly that disc would give the point away (the visible track would end
//! at the same distance from it every time, and the centre of the gap is the
//! address), so each zone hides a larger circle of radius `R` whose centre is
//! offset from the entered point, both drawn at random once when the zone is
//! created and kept with it. The hidden circle always contains the entered
//! disc with a margin:
//!
//! `offset + r + MARGIN_M <= R`
//!
//! so by the triangle inequality a shown point (farther than `R` from the
//! hidden centre) is farther than `r + MARGIN_M` from the entered point.
//! The guarantee: **no point shown to anyone but the owner lies within `r`
//! of the point the athlete entered**. The margin also covers the rounding
//! of encoded polylines (about a metre at precision 5).

use rand::Rng;

use crate::domain::{DomainError, Fix};

pub const MIN_RADIUS_M: f64 = 200.0;
pub const MAX_RADIUS_M: f64 = 1_600.0;
/// Zones one athlete may have.
pub const MAX_ZONES: usize = 10;
/// What a shown point keeps from the entered disc, at the least.
pub const MARGIN_M: f64 = 10.0;
/// Mean Earth radius (IUGG), the haversine's sphere.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// Great-circle distance in metres between two (lat, lng) in degrees.
pub fn distance_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lat2) = (a.0.to_radians(), b.0.to_radians());
    let dlat = lat2 - lat1;
    let dlng = (b.1 - a.1).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// The point `distance_m` from `from` on the initial `bearing` (radians).
pub fn destination(from: (f64, f64), bearing: f64, distance_m: f64) -> (f64, f64) {
    let d = distance_m / EARTH_RADIUS_M;
    let (lat1, lng1) = (from.0.to_radians(), from.1.to_radians());
    let lat2 = (lat1.sin() * d.cos() + lat1.cos() * d.sin() * bearing.cos()).asin();
    let lng2 =
        lng1 + (bearing.sin() * d.sin() * lat1.cos()).atan2(d.cos() - lat1.sin() * lat2.sin());
    let lng2 = (lng2.to_degrees() + 540.0).rem_euclid(360.0) - 180.0;
    (lat2.to_degrees(), lng2)
}

/// A zone as the athlete entered it, parsed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ZoneInput {
    pub lat: f64,
    pub lng: f64,
    pub radius_m: f64,
}

impl ZoneInput {
    /// Checks every field; all problems at once.
    pub fn parse(
        lat: Option<f64>,
        lng: Option<f64>,
        radius_m: Option<f64>,
    ) -> Result<ZoneInput, Vec<DomainError>> {
        let mut errors = Vec::new();
        let mut check = |v: Option<f64>, field: &'static str, lo: f64, hi: f64| match v {
            None => {
                errors.push(DomainError::missing(field));
                0.0
            }
            Some(v) if !v.is_finite() || v < lo || v > hi => {
                errors.push(DomainError::new(field, "out_of_range"));
                0.0
            }
            Some(v) => v,
        };
        // Near the poles a circle is not worth the trouble: nobody lives there.
        let lat = check(lat, "lat", -85.0, 85.0);
        let lng = check(lng, "lng", -180.0, 180.0);
        let radius_m = check(radius_m, "radius_m", MIN_RADIUS_M, MAX_RADIUS_M);
        if errors.is_empty() {
            Ok(ZoneInput { lat, lng, radius_m })
        } else {
            Err(errors)
        }
    }

    /// Draws the hidden circle: radius `r * U(1.2, 1.5) + U(20, 120)` m,
    /// centre offset from the entered point by up to `R - r - MARGIN_M` in
    /// any direction.
    pub fn hide(&self, rng: &mut impl Rng) -> HiddenCircle {
        let r = self.radius_m;
        let radius_m = r * rng.gen_range(1.2..1.5) + rng.gen_range(20.0..120.0);
        let max_offset = radius_m - r - MARGIN_M;
        // Uniform over the disc of possible offsets, not bunched at its centre.
        let offset = max_offset * rng.gen_range(0.0f64..1.0).sqrt();
        let bearing = rng.gen_range(0.0..std::f64::consts::TAU);
        let (lat, lng) = destination((self.lat, self.lng), bearing, offset);
        HiddenCircle { lat, lng, radius_m }
    }
}

/// The circle a zone hides (what is stored beside the entered point).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HiddenCircle {
    pub lat: f64,
    pub lng: f64,
    pub radius_m: f64,
}

impl HiddenCircle {
    pub fn contains(&self, lat: f64, lng: f64) -> bool {
        distance_m((self.lat, self.lng), (lat, lng)) <= self.radius_m
    }
}

/// One athlete's hidden circles: the filter every read path applies for
/// anyone but the owner.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zones(Vec<HiddenCircle>);

impl Zones {
    pub fn new(circles: Vec<HiddenCircle>) -> Zones {
        Zones(circles)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the point must not be shown.
    pub fn hides(&self, lat: f64, lng: f64) -> bool {
        // Non-finite coordinates are never shown.
        !lat.is_finite() || !lng.is_finite() || self.0.iter().any(|c| c.contains(lat, lng))
    }

    /// The fixes that may be shown, in order (every stream of a fix goes
    /// with it).
    pub fn filter_fixes(&self, fixes: Vec<Fix>) -> Vec<Fix> {
        if self.is_empty() {
            return fixes;
        }
        fixes
            .into_iter()
            .filter(|f| !self.hides(f.lat, f.lng))
            .collect()
    }

    /// An encoded polyline (precision 5) without its hidden points; None
    /// when nothing is left or it does not decode.
    pub fn filter_polyline(&self, encoded: &str) -> Option<String> {
        if self.is_empty() {
            return Some(encoded.to_string());
        }
        let line = polyline::decode_polyline(encoded, 5).ok()?;
        let kept: Vec<geo::Coord<f64>> = line
            .0
            .into_iter()
            .filter(|c| !self.hides(c.y, c.x))
            .collect();
        if kept.is_empty() {
            return None;
        }
        polyline::encode_coordinates(kept, 5).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn fix(t: i64, (lat, lng): (f64, f64)) -> Fix {
        Fix {
            t_ms: t,
            lat,
            lng,
            alt: None,
            accuracy: None,
            speed: None,
            heartrate: None,
            cadence: None,
            power: None,
        }
    }

    #[test]
    fn parse_checks_ranges() {
        assert!(ZoneInput::parse(Some(52.0), Some(13.0), Some(200.0)).is_ok());
        assert!(ZoneInput::parse(Some(52.0), Some(13.0), Some(1_600.0)).is_ok());
        let errors = ZoneInput::parse(Some(91.0), Some(181.0), Some(199.0)).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(
            fields,
            [
                ("lat", "out_of_range"),
                ("lng", "out_of_range"),
                ("radius_m", "out_of_range")
            ]
        );
        let errors = ZoneInput::parse(None, Some(f64::NAN), Some(1_601.0)).unwrap_err();
        assert_eq!(errors.len(), 3);
        assert_eq!(errors[0], DomainError::missing("lat"));
    }

    #[test]
    fn distances_match_known_values() {
        // One degree of latitude is about 111.2 km.
        let d = distance_m((0.0, 0.0), (1.0, 0.0));
        assert!((d - 111_195.0).abs() < 10.0, "{d}");
        let there = destination((52.5, 13.4), 1.0, 1_234.0);
        assert!((distance_m((52.5, 13.4), there) - 1_234.0).abs() < 0.01);
    }

    #[test]
    fn hidden_circles_differ_between_zones() {
        let zone = ZoneInput::parse(Some(48.1), Some(11.5), Some(400.0)).unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let a = zone.hide(&mut rng);
        let b = zone.hide(&mut rng);
        assert_ne!(a, b);
        for c in [a, b] {
            let offset = distance_m((zone.lat, zone.lng), (c.lat, c.lng));
            assert!(offset + zone.radius_m + MARGIN_M <= c.radius_m + 1e-6);
        }
    }

    #[test]
    fn polylines_lose_their_hidden_points() {
        let zone = ZoneInput::parse(Some(0.0), Some(0.0), Some(200.0)).unwrap();
        let zones = Zones::new(vec![zone.hide(&mut rand::rngs::StdRng::seed_from_u64(1))]);
        let coords: Vec<geo::Coord<f64>> = (0..100)
            .map(|i| geo::coord! { x: f64::from(i) * 0.0002, y: 0.0 })
            .collect();
        let encoded = polyline::encode_coordinates(coords, 5).unwrap();
        let filtered = zones.filter_polyline(&encoded).unwrap();
        let kept = polyline::decode_polyline(&filtered, 5).unwrap();
        assert!(!kept.0.is_empty() && kept.0.len() < 100);
        for c in kept.0 {
            assert!(distance_m((0.0, 0.0), (c.y, c.x)) > 200.0);
        }
        assert_eq!(Zones::default().filter_polyline(&encoded), Some(encoded));
        // A line wholly inside has nothing left to show.
        let inside = polyline::encode_coordinates([geo::coord! { x: 0.0, y: 0.0 }], 5).unwrap();
        assert_eq!(zones.filter_polyline(&inside), None);
    }

    /// A track from inside the zone out, past it, and back home.
    fn track(centre: (f64, f64), out_bearing: f64, len_m: f64) -> Vec<Fix> {
        let mut fixes = Vec::new();
        let step = 7.0;
        let n = (len_m / step) as i64;
        for i in 0..=n {
            fixes.push(fix(
                i * 1000,
                destination(centre, out_bearing, i as f64 * step),
            ));
        }
        for i in 0..=n {
            let back = destination(centre, out_bearing + 0.3, (n - i) as f64 * step);
            fixes.push(fix((n + 1 + i) * 1000, back));
        }
        fixes
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The guarantee, over generated zones and tracks that start, end
        /// and pass through them.
        #[test]
        fn no_shown_point_lies_within_the_radius(
            lat in -80.0f64..80.0,
            lng in -179.9f64..179.9,
            radius in MIN_RADIUS_M..=MAX_RADIUS_M,
            seed in any::<u64>(),
            bearing in 0.0f64..std::f64::consts::TAU,
            len in 100.0f64..5_000.0,
        ) {
            let zone = ZoneInput::parse(Some(lat), Some(lng), Some(radius)).unwrap();
            let hidden = zone.hide(&mut rand::rngs::StdRng::seed_from_u64(seed));
            let zones = Zones::new(vec![hidden]);
            let centre = (lat, lng);
            let fixes = track(centre, bearing, len);
            let shown = zones.filter_fixes(fixes.clone());
            for f in &shown {
                prop_assert!(distance_m(centre, (f.lat, f.lng)) > radius + MARGIN_M - 0.01);
            }
            // Everything farther than the hidden circle's reach is kept.
            let reach = distance_m(centre, (hidden.lat, hidden.lng)) + hidden.radius_m;
            let far = fixes.iter().filter(|f| distance_m(centre, (f.lat, f.lng)) > reach + 0.01).count();
            prop_assert!(shown.len() >= far);
            let coords: Vec<geo::Coord<f64>> =
                fixes.iter().map(|f| geo::coord! { x: f.lng, y: f.lat }).collect();
            let encoded = polyline::encode_coordinates(coords, 5).unwrap();
            if let Some(p) = zones.filter_polyline(&encoded) {
                for c in polyline::decode_polyline(&p, 5).unwrap().0 {
                    prop_assert!(distance_m(centre, (c.y, c.x)) > radius);
                }
            }
        }
    }

    #[test]
    fn the_first_shown_point_varies_between_directions() {
        let centre = (47.37, 8.54);
        let zone = ZoneInput::parse(Some(centre.0), Some(centre.1), Some(300.0)).unwrap();
        // A circle offset by a fair amount (most are; see `hide`).
        let hidden = (0..)
            .map(|seed| zone.hide(&mut rand::rngs::StdRng::seed_from_u64(seed)))
            .find(|c| distance_m(centre, (c.lat, c.lng)) > 50.0)
            .unwrap();
        let offset = distance_m(centre, (hidden.lat, hidden.lng));
        let zones = Zones::new(vec![hidden]);
        let firsts: Vec<f64> = (0..8)
            .map(|k| {
                let shown = zones.filter_fixes(track(centre, f64::from(k) * 0.785, 2_000.0));
                distance_m(centre, (shown[0].lat, shown[0].lng))
            })
            .collect();
        let (lo, hi) = firsts
            .iter()
            .fold((f64::MAX, f64::MIN), |(lo, hi), &d| (lo.min(d), hi.max(d)));
        assert!(lo > 300.0 + MARGIN_M);
        // Tracks leaving towards the offset end sooner than those leaving away.
        assert!(
            hi - lo > 1.5 * offset - 14.0,
            "{firsts:?} with offset {offset}"
        );
    }
}
