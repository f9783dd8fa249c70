//! Finding efforts: the passes of a track through a segment, in the
//! segment's direction.
//!
//! A pass (the rule, built from what open implementations do):
//! 1. the track comes within [`ENDPOINT_RADIUS_M`] of the segment's start
//!    (Strava: "we choose the GPS points closest to the segment's start
//!    and end"; both ends must be hit);
//! 2. from there on, in order, every point of the segment densified every
//!    [`DENSIFY_M`] is within [`CORRIDOR_M`] of the track: a one-sided
//!    Hausdorff distance, segment to track, as geo-activity-playground,
//!    taken in order as workout-tracker's "every point visited in order",
//!    so the reverse direction or a track that skips the middle fails;
//! 3. the track never strays more than [`DETOUR_M`] from the segment
//!    between start and end for two fixes running (a detour, even one that
//!    comes back, is not a pass; Strava: "even a small detour ... will be
//!    enough to disqualify you");
//! 4. it reaches the end within [`ENDPOINT_RADIUS_M`];
//! 5. its length between the crossings is within
//!    [`MIN_LENGTH_RATIO`]..[`MAX_LENGTH_RATIO`] of the segment's (plus
//!    [`LENGTH_SLACK_M`]): workout-tracker's 0.9 against shortcuts, and an
//!    upper bound against loops the corridor cannot see.
//!
//! Start and end are where the track passes closest to the segment's
//! start and end, interpolated between fixes: the point on the track
//! nearest to them and the time there (Dobiasd, "accurate timing of
//! Strava segments": nearest-fix timing was 4 s off on a 33 s segment).
//! Moving time is the effort's share of the activity's moving intervals,
//! as the activity's own stats decide them (timer pauses honoured).
//! Each lap is its own effort: the search resumes after an effort's end.

use super::geometry::{densify, project, BBox, Frame};
use super::{SegmentId, SegmentPoint};
use crate::domain::stats::{ellipsoidal, series};
use crate::domain::{Fix, Sport};

/// Start and end radius (m). Phone and watch GPS is within about 5 m in
/// open sky and 10 to 20 m under trees or between buildings, and two
/// devices on the same road differ by their sum; geo-activity-playground
/// and workout-tracker both use 20 m. 25 m lets two devices each ~12 m
/// off meet, while two parallel streets (usually 50 m or more apart) stay
/// apart.
pub const ENDPOINT_RADIUS_M: f64 = 25.0;
/// How near the track every densified segment point must be (m): the
/// same GPS error as at the ends.
pub const CORRIDOR_M: f64 = 25.0;
/// Spacing of the densified segment points (m): less than the corridor,
/// so that a track cannot leave and come back between two of them
/// without being seen.
pub const DENSIFY_M: f64 = 10.0;
/// Farther than this (m) from the segment, a fix is off the segment: twice
/// the corridor, since a device that met every segment point within 25 m
/// is not 50 m off by GPS error alone.
pub const DETOUR_M: f64 = 50.0;
/// Shortest accepted track length, as a share of the segment's
/// (workout-tracker: matched length over 0.9 of the segment's).
pub const MIN_LENGTH_RATIO: f64 = 0.9;
/// Longest accepted track length, as a share of the segment's: GPS jitter
/// lengthens a track by a few percent, a loop or an out-and-back detour
/// by much more.
pub const MAX_LENGTH_RATIO: f64 = 1.2;
/// Added to the upper length bound (m): on a 100 m segment the two
/// crossing points alone may add twice a few metres of jitter.
pub const LENGTH_SLACK_M: f64 = 20.0;
/// Segment points looked ahead when following the track (deviation
/// check): 30 × 10 m, more than a fix-to-fix step at any plausible speed
/// with 1 to 10 s sampling.
const LOOKAHEAD: usize = 30;

/// A track prepared once for matching against many segments.
#[derive(Debug, Clone)]
pub struct PreparedTrack {
    frame: Frame,
    t: Vec<i64>,
    xy: Vec<[f64; 2]>,
    /// Cumulative ellipsoidal distance at each fix (m).
    cum: Vec<f64>,
    /// Whether the interval ending at each fix counted as moving.
    moving: Vec<bool>,
    bbox: Option<BBox>,
    /// The box (min x, min y, max x, max y) of each run of [`CHUNK`]
    /// edges: a segment's end is looked for only in the runs near it.
    chunks: Vec<[f64; 4]>,
}

/// Edges per box in [`PreparedTrack`]'s coarse index.
const CHUNK: usize = 32;

impl PreparedTrack {
    /// `timer_off`: the activity's paused intervals (`StatusLog::timer_off`).
    pub fn new(sport: Sport, fixes: &[Fix], timer_off: &[(i64, i64)]) -> PreparedTrack {
        let bbox = BBox::of(fixes.iter().map(|f| (f.lat, f.lng)));
        let frame = match bbox {
            Some(b) => Frame::at((b.min_lat + b.max_lat) / 2.0, (b.min_lng + b.max_lng) / 2.0),
            None => Frame::at(0.0, 0.0),
        };
        let mut cum = Vec::with_capacity(fixes.len());
        let mut d = 0.0;
        for (i, f) in fixes.iter().enumerate() {
            if i > 0 {
                let p = fixes[i - 1];
                d += ellipsoidal(p.lat, p.lng, f.lat, f.lng);
            }
            cum.push(d);
        }
        let xy: Vec<[f64; 2]> = fixes.iter().map(|f| frame.xy(f.lat, f.lng)).collect();
        let edges = xy.len().saturating_sub(1);
        let chunks = (0..edges.div_ceil(CHUNK))
            .map(|c| {
                let to = ((c + 1) * CHUNK).min(edges);
                xy[c * CHUNK..=to].iter().fold(
                    [
                        f64::INFINITY,
                        f64::INFINITY,
                        f64::NEG_INFINITY,
                        f64::NEG_INFINITY,
                    ],
                    |b, p| {
                        [
                            b[0].min(p[0]),
                            b[1].min(p[1]),
                            b[2].max(p[0]),
                            b[3].max(p[1]),
                        ]
                    },
                )
            })
            .collect();
        PreparedTrack {
            frame,
            t: fixes.iter().map(|f| f.t_ms).collect(),
            xy,
            cum,
            moving: series(sport, fixes, timer_off).moving,
            bbox,
            chunks,
        }
    }

    pub fn bbox(&self) -> Option<BBox> {
        self.bbox
    }

    pub fn len(&self) -> usize {
        self.t.len()
    }

    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    fn at(&self, p: Pos) -> (f64, f64) {
        let i = p.edge;
        let j = (i + 1).min(self.t.len() - 1);
        let t = self.t[i] as f64 + (self.t[j] - self.t[i]) as f64 * p.f;
        let c = self.cum[i] + (self.cum[j] - self.cum[i]) * p.f;
        (t, c)
    }

    /// Moving milliseconds between two times.
    fn moving_between(&self, from: Pos, to: Pos, t0: f64, t1: f64) -> f64 {
        let mut total = 0.0;
        for i in from.edge..=to.edge.min(self.t.len().saturating_sub(2)) {
            if !self.moving[i + 1] {
                continue;
            }
            let a = (self.t[i] as f64).max(t0);
            let b = (self.t[i + 1] as f64).min(t1);
            if b > a {
                total += b - a;
            }
        }
        total
    }
}

/// A segment prepared for matching (in a track's frame).
#[derive(Debug, Clone)]
struct PreparedSegment {
    dense: Vec<[f64; 2]>,
    length: f64,
}

/// A position on the track: edge `edge` (fixes `edge`, `edge + 1`) at
/// fraction `f`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Pos {
    edge: usize,
    f: f64,
}

/// One pass through a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effort {
    pub segment_id: SegmentId,
    /// Interpolated, epoch ms.
    pub start_ms: i64,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    /// The fixes nearest the crossings.
    pub start_index: usize,
    pub end_index: usize,
    /// Track length between the crossings (m).
    pub distance: f64,
}

/// The distance from `p` to the track's edge `i` and the fraction along it.
fn edge_dist(track: &PreparedTrack, i: usize, p: [f64; 2]) -> (f64, f64) {
    project(p, track.xy[i], track.xy[(i + 1).min(track.xy.len() - 1)])
}

/// The passes near `p`: for each run of edges within `radius`, the closest
/// position. In track order.
fn passes(track: &PreparedTrack, p: [f64; 2], radius: f64, from: usize) -> Vec<(Pos, f64)> {
    let mut out = Vec::new();
    let mut best: Option<(Pos, f64)> = None;
    let edges = track.xy.len().saturating_sub(1);
    for (c, b) in track.chunks.iter().enumerate() {
        let (lo, hi) = ((c * CHUNK).max(from), ((c + 1) * CHUNK).min(edges));
        if lo >= hi {
            continue;
        }
        // No edge of a run whose box is farther than the radius is near.
        let near = p[0] >= b[0] - radius
            && p[0] <= b[2] + radius
            && p[1] >= b[1] - radius
            && p[1] <= b[3] + radius;
        if !near {
            if let Some(b) = best.take() {
                out.push(b);
            }
            continue;
        }
        for i in lo..hi {
            let (d, f) = edge_dist(track, i, p);
            if d <= radius {
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((Pos { edge: i, f }, d));
                }
            } else if let Some(b) = best.take() {
                out.push(b);
            }
        }
    }
    if let Some(b) = best {
        out.push(b);
    }
    out
}

/// Every pass of the track through the segment, in track order.
pub fn match_segment(
    id: SegmentId,
    points: &[SegmentPoint],
    segment_length: f64,
    track: &PreparedTrack,
) -> Vec<Effort> {
    if track.len() < 2 || points.len() < 2 {
        return Vec::new();
    }
    let line: Vec<[f64; 2]> = points
        .iter()
        .map(|p| track.frame.xy(p.lat, p.lng))
        .collect();
    let seg = PreparedSegment {
        dense: densify(&line, DENSIFY_M),
        length: segment_length,
    };
    let (Some(&start), Some(&end)) = (seg.dense.first(), seg.dense.last()) else {
        return Vec::new();
    };
    let mut efforts = Vec::new();
    let mut resume = Pos { edge: 0, f: 0.0 };
    for (s, _) in passes(track, start, ENDPOINT_RADIUS_M, 0) {
        if s < resume {
            continue;
        }
        if let Some((e, effort)) = follow(id, track, &seg, s, end) {
            efforts.push(effort);
            resume = e;
        }
    }
    efforts
}

/// Follows the segment from the start crossing `s`; the end crossing and
/// the effort if it is a pass.
fn follow(
    id: SegmentId,
    track: &PreparedTrack,
    seg: &PreparedSegment,
    s: Pos,
    end: [f64; 2],
) -> Option<(Pos, Effort)> {
    let (t_s, c_s) = track.at(s);
    let max_len = seg.length * MAX_LENGTH_RATIO + LENGTH_SLACK_M;
    let edges = track.xy.len() - 1;
    // 2. Every densified point near the track, in order, within reach.
    let mut edge = s.edge;
    for &p in &seg.dense[1..] {
        let mut j = edge;
        loop {
            if j >= edges || track.cum[j] - c_s > max_len {
                return None;
            }
            if edge_dist(track, j, p).0 <= CORRIDOR_M {
                break;
            }
            j += 1;
        }
        edge = j;
    }
    // 4. The end crossing: the closest position in this run near the end.
    let mut e: Option<(Pos, f64)> = None;
    let mut j = edge;
    while j < edges {
        let (d, f) = edge_dist(track, j, end);
        let pos = Pos { edge: j, f };
        if d > ENDPOINT_RADIUS_M {
            if e.is_some() {
                break;
            }
        } else if pos > s && e.is_none_or(|(_, bd)| d < bd) {
            e = Some((pos, d));
        }
        if track.cum[j] - c_s > max_len {
            break;
        }
        j += 1;
    }
    let (e, _) = e?;
    let (t_e, c_e) = track.at(e);
    // 5. Length.
    let length = c_e - c_s;
    if length < seg.length * MIN_LENGTH_RATIO || length > max_len {
        return None;
    }
    // 3. No detour between the crossings.
    if strays(track, seg, s, e) {
        return None;
    }
    let start_ms = t_s.round() as i64;
    let end_ms = t_e.round() as i64;
    let moving = track.moving_between(s, e, t_s, t_e);
    Some((
        e,
        Effort {
            segment_id: id,
            start_ms,
            elapsed_ms: end_ms - start_ms,
            moving_ms: (moving.round() as i64).min(end_ms - start_ms),
            start_index: s.edge + usize::from(s.f >= 0.5),
            end_index: e.edge + usize::from(e.f >= 0.5),
            distance: length,
        },
    ))
}

/// Whether two fixes running between the crossings are farther than
/// `DETOUR_M` from the segment. The segment is walked forward with the
/// track (a cursor and a short look-ahead), so each fix costs O(1).
fn strays(track: &PreparedTrack, seg: &PreparedSegment, s: Pos, e: Pos) -> bool {
    let dense = &seg.dense;
    let mut k = 0usize;
    let mut off_run = 0;
    for i in (s.edge + 1)..=e.edge {
        let p = track.xy[i];
        // The nearest segment edge from the cursor on.
        let mut best = f64::INFINITY;
        let mut best_k = k;
        let last = (k + LOOKAHEAD).min(dense.len() - 1);
        for kk in k..last {
            let (d, _) = project(p, dense[kk], dense[kk + 1]);
            if d < best {
                best = d;
                best_k = kk;
            } else if best <= CORRIDOR_M && d > best + DETOUR_M {
                // Past the nearest stretch and moving away: the rest of
                // the look-ahead is farther still (points 10 m apart).
                break;
            }
        }
        if best > DETOUR_M {
            off_run += 1;
            if off_run >= 2 {
                return true;
            }
        } else {
            off_run = 0;
            k = best_k;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::segments::geometry::{self, METRES_PER_DEG_LAT};

    const T0: i64 = 1_700_000_000_000;
    const LAT: f64 = 51.0;
    const LNG: f64 = 0.0;

    fn kx() -> f64 {
        METRES_PER_DEG_LAT * LAT.to_radians().cos()
    }

    /// A fix at (x, y) metres from the origin at time `t_s` seconds.
    fn fix(t_s: f64, x: f64, y: f64) -> Fix {
        Fix::new(
            T0 + (t_s * 1000.0) as i64,
            LAT + y / METRES_PER_DEG_LAT,
            LNG + x / kx(),
        )
    }

    fn pt(x: f64, y: f64) -> SegmentPoint {
        SegmentPoint::new(LAT + y / METRES_PER_DEG_LAT, LNG + x / kx(), None)
    }

    /// A track through `(x, y)` waypoints at `speed` m/s, one fix a second.
    fn track(waypoints: &[(f64, f64)], speed: f64) -> Vec<Fix> {
        let mut out = vec![fix(0.0, waypoints[0].0, waypoints[0].1)];
        let mut t = 0.0;
        let mut carry = 0.0;
        for w in waypoints.windows(2) {
            let (a, b) = (w[0], w[1]);
            let len = (b.0 - a.0).hypot(b.1 - a.1);
            let mut along = speed - carry;
            while along <= len {
                t += 1.0;
                let f = along / len;
                out.push(fix(t, a.0 + (b.0 - a.0) * f, a.1 + (b.1 - a.1) * f));
                along += speed;
            }
            carry = len - (along - speed);
        }
        out
    }

    fn segment_east_1km() -> Vec<SegmentPoint> {
        (0..=10)
            .map(|i| pt(1_000.0 + i as f64 * 100.0, 0.0))
            .collect()
    }

    fn run(points: &[SegmentPoint], fixes: &[Fix]) -> Vec<Effort> {
        let length = geometry::stats(points).distance;
        let t = PreparedTrack::new(Sport::Ride, fixes, &[]);
        match_segment(SegmentId(1), points, length, &t)
    }

    #[test]
    fn a_straight_pass_is_timed_at_the_crossings() {
        // 0 → 3 km east at 10 m/s; the segment is 1 → 2 km: 100 s.
        let fixes = track(&[(0.0, 0.0), (3_000.0, 0.0)], 10.0);
        let e = run(&segment_east_1km(), &fixes);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!((e[0].start_ms - (T0 + 100_000)).abs() <= 5, "{e:?}");
        assert!((e[0].elapsed_ms - 100_000).abs() <= 10, "{e:?}");
        assert!((e[0].moving_ms - 100_000).abs() <= 1_000, "{e:?}");
        assert_eq!(e[0].start_index, 100);
        assert_eq!(e[0].end_index, 200);
    }

    #[test]
    fn interpolates_between_sparse_fixes() {
        // One fix every 7 s at 10 m/s: no fix on the start or the end.
        let fixes: Vec<Fix> = (0..50)
            .map(|i| fix(i as f64 * 7.0, i as f64 * 70.0, 3.0))
            .collect();
        let e = run(&segment_east_1km(), &fixes);
        assert_eq!(e.len(), 1);
        assert!((e[0].start_ms - (T0 + 100_000)).abs() <= 5, "{e:?}");
        assert!((e[0].elapsed_ms - 100_000).abs() <= 10, "{e:?}");
    }

    #[test]
    fn reverse_direction_is_not_a_pass() {
        let fixes = track(&[(3_000.0, 0.0), (0.0, 0.0)], 10.0);
        assert!(run(&segment_east_1km(), &fixes).is_empty());
    }

    #[test]
    fn out_and_back_counts_once() {
        let fixes = track(&[(0.0, 0.0), (3_000.0, 0.0), (0.0, 0.0)], 10.0);
        assert_eq!(run(&segment_east_1km(), &fixes).len(), 1);
    }

    #[test]
    fn detour_and_shortcut_are_not_passes() {
        // Leaves the road 300 m north at 1.4 km and comes back.
        let detour = track(
            &[
                (0.0, 0.0),
                (1_400.0, 0.0),
                (1_400.0, 300.0),
                (1_450.0, 300.0),
                (1_450.0, 0.0),
                (3_000.0, 0.0),
            ],
            10.0,
        );
        assert!(run(&segment_east_1km(), &detour).is_empty());
        // A segment with a bend north; the track cuts straight across.
        let bent = vec![pt(1_000.0, 0.0), pt(1_500.0, 200.0), pt(2_000.0, 0.0)];
        let straight = track(&[(0.0, 0.0), (3_000.0, 0.0)], 10.0);
        assert!(run(&bent, &straight).is_empty());
        // Reaches the end by another road (never the middle).
        let other = track(
            &[
                (0.0, 0.0),
                (1_000.0, 0.0),
                (1_000.0, -400.0),
                (2_000.0, -400.0),
                (2_000.0, 0.0),
            ],
            10.0,
        );
        assert!(run(&segment_east_1km(), &other).is_empty());
    }

    #[test]
    fn small_gps_offset_still_matches() {
        let fixes = track(&[(0.0, 15.0), (3_000.0, 15.0)], 10.0);
        assert_eq!(run(&segment_east_1km(), &fixes).len(), 1);
        let far = track(&[(0.0, 40.0), (3_000.0, 40.0)], 10.0);
        assert!(run(&segment_east_1km(), &far).is_empty());
    }

    #[test]
    fn each_lap_is_an_effort() {
        // A 400 m square circuit, three laps; the segment is one side plus a
        // corner (start and end apart).
        let lap = [
            (0.0, 0.0),
            (400.0, 0.0),
            (400.0, 400.0),
            (0.0, 400.0),
            (0.0, 0.0),
        ];
        let mut w = vec![(0.0, 0.0)];
        for _ in 0..3 {
            w.extend_from_slice(&lap[1..]);
        }
        let fixes = track(&w, 5.0);
        let seg = vec![pt(50.0, 0.0), pt(400.0, 0.0), pt(400.0, 150.0)];
        let e = run(&seg, &fixes);
        assert_eq!(e.len(), 3, "{e:?}");
        for pair in e.windows(2) {
            // One lap (1,600 m at 5 m/s) apart.
            assert!((pair[1].start_ms - pair[0].start_ms - 320_000).abs() < 50);
        }
        // A whole-lap segment (start = end) matches each full lap.
        let circuit: Vec<SegmentPoint> = lap.iter().map(|&(x, y)| pt(x + 0.0, y)).collect();
        let laps = run(&circuit, &fixes);
        assert_eq!(laps.len(), 3, "{laps:?}");
    }

    #[test]
    fn pauses_are_not_moving_time() {
        // Stops for 60 s in the middle of the segment (timer paused).
        let mut fixes = track(&[(0.0, 0.0), (1_500.0, 0.0)], 10.0);
        let last_t = fixes.last().map(|f| f.t_ms).unwrap_or(T0);
        let rest = track(&[(1_500.0, 0.0), (3_000.0, 0.0)], 10.0);
        for f in rest.iter().skip(1) {
            let mut f = *f;
            f.t_ms += last_t - T0 + 60_000;
            fixes.push(f);
        }
        let pause = [(last_t + 1_000, last_t + 59_000)];
        let t = PreparedTrack::new(Sport::Ride, &fixes, &pause);
        let seg = segment_east_1km();
        let e = match_segment(SegmentId(1), &seg, geometry::stats(&seg).distance, &t);
        assert_eq!(e.len(), 1);
        assert!((e[0].elapsed_ms - 160_000).abs() <= 1_100, "{e:?}");
        assert!((e[0].moving_ms - 100_000).abs() <= 2_100, "{e:?}");
    }

    /// Real recordings (tests/fixtures/recordings, SOURCES.md).
    mod recordings {
        use super::*;

        fn load(name: &str) -> Vec<Fix> {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/recordings")
                .join(name);
            let bytes = std::fs::read(&path).unwrap();
            let kind = crate::formats::DataType::from_file_name(name).unwrap();
            crate::formats::parse(kind, &bytes).unwrap().fixes
        }

        fn cut(fixes: &[Fix], from: usize, to: usize) -> Vec<SegmentPoint> {
            fixes[from..=to]
                .iter()
                .map(|f| SegmentPoint::new(f.lat, f.lng, f.alt))
                .collect()
        }

        fn efforts(points: &[SegmentPoint], fixes: &[Fix], sport: Sport) -> Vec<Effort> {
            let t = PreparedTrack::new(sport, fixes, &[]);
            match_segment(SegmentId(1), points, geometry::stats(points).distance, &t)
        }

        const RIDE_A: &str = "corpus/sportslib_20190721_ride_2551623996_strava.gpx.gz";
        const RIDE_B: &str = "corpus/sportslib_20190622_ride_1655245835_strava.tcx.gz";

        #[test]
        fn a_stretch_of_one_ride_matches_it_and_another_ride() {
            let a = load(RIDE_A);
            let b = load(RIDE_B);
            // About 1.3 km of road both rides took, in the same direction
            // (ride A turns back after it; B goes on).
            let seg = cut(&a, 265, 337);
            let own = efforts(&seg, &a, Sport::Ride);
            assert_eq!(own.len(), 1, "{own:?}");
            assert!(own[0].start_index.abs_diff(265) <= 1, "{own:?}");
            assert!(own[0].end_index.abs_diff(337) <= 1, "{own:?}");
            let other = efforts(&seg, &b, Sport::Ride);
            assert_eq!(other.len(), 1, "{other:?}");
            let len = geometry::stats(&seg).distance;
            assert!(
                (other[0].distance / len - 1.0).abs() < 0.05,
                "{other:?} {len}"
            );
            // Reversed, it matches neither.
            let mut reversed = seg.clone();
            reversed.reverse();
            assert!(efforts(&reversed, &a, Sport::Ride).is_empty());
            assert!(efforts(&reversed, &b, Sport::Ride).is_empty());
        }

        #[test]
        fn laps_of_a_real_run_are_separate_efforts() {
            // Three laps pass fixes 94..112 (about 300 m) in the same direction.
            let run = load("corpus/tcxparser_forerunner410_run.tcx");
            let seg = cut(&run, 94, 112);
            let laps = efforts(&seg, &run, Sport::Run);
            assert_eq!(laps.len(), 3, "{laps:?}");
            assert!(laps
                .windows(2)
                .all(|w| w[1].start_ms > w[0].start_ms + w[0].elapsed_ms - 1));
        }

        #[test]
        fn an_out_and_back_run_passes_once_each_way() {
            // Out past fixes 305..387, back the other way later.
            let run = load("20210119_run_garmin_fenix6.tcx");
            let seg = cut(&run, 305, 387);
            assert_eq!(efforts(&seg, &run, Sport::Run).len(), 1);
            let mut back = seg.clone();
            back.reverse();
            assert_eq!(efforts(&back, &run, Sport::Run).len(), 1);
        }
    }
}
