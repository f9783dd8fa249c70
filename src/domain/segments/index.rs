//! The spatial index of segments: which segments an activity may pass.
//!
//! Segments are kept per sport in an R-tree (`rstar`) of their start
//! points. A track is cut into runs of fixes; each run's box, grown by the
//! start radius, is looked up, so the work grows with the track and with
//! the segments near it, not with the number of segments. A candidate must
//! also have its end near the track and its box inside the track's.

use std::collections::HashMap;

use rstar::primitives::GeomWithData;
use rstar::{RTree, AABB};

use super::geometry::BBox;
use super::matcher::{PreparedTrack, ENDPOINT_RADIUS_M};
use super::SegmentId;
use crate::domain::{Fix, Sport};

/// Fixes per looked-up run: long enough that the look-ups are few (100
/// for 10,000 fixes), short enough that a run's box stays close to the
/// track.
const RUN: usize = 100;

type Start = GeomWithData<[f64; 2], SegmentId>;

/// What the index keeps of a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IndexedSegment {
    pub id: SegmentId,
    pub sport: Sport,
    /// (lat, lng)
    pub start: (f64, f64),
    pub end: (f64, f64),
    pub bbox: BBox,
}

#[derive(Debug, Default)]
pub struct SegmentIndex {
    trees: HashMap<Sport, RTree<Start>>,
    segments: HashMap<SegmentId, IndexedSegment>,
}

fn key(lat: f64, lng: f64) -> [f64; 2] {
    [lng, lat]
}

impl SegmentIndex {
    pub fn new() -> SegmentIndex {
        SegmentIndex::default()
    }

    /// Built at once (bulk loading packs the tree better than inserts).
    pub fn bulk(segments: Vec<IndexedSegment>) -> SegmentIndex {
        let mut by_sport: HashMap<Sport, Vec<Start>> = HashMap::new();
        let mut all = HashMap::with_capacity(segments.len());
        for s in segments {
            by_sport
                .entry(s.sport)
                .or_default()
                .push(Start::new(key(s.start.0, s.start.1), s.id));
            all.insert(s.id, s);
        }
        SegmentIndex {
            trees: by_sport
                .into_iter()
                .map(|(k, v)| (k, RTree::bulk_load(v)))
                .collect(),
            segments: all,
        }
    }

    pub fn len(&self) -> usize {
        self.segments.len()
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    pub fn contains(&self, id: SegmentId) -> bool {
        self.segments.contains_key(&id)
    }

    pub fn insert(&mut self, s: IndexedSegment) {
        self.remove(s.id);
        self.trees
            .entry(s.sport)
            .or_default()
            .insert(Start::new(key(s.start.0, s.start.1), s.id));
        self.segments.insert(s.id, s);
    }

    pub fn remove(&mut self, id: SegmentId) {
        if let Some(s) = self.segments.remove(&id) {
            if let Some(tree) = self.trees.get_mut(&s.sport) {
                tree.remove(&Start::new(key(s.start.0, s.start.1), s.id));
            }
        }
    }

    /// The segments of `sport` whose start and end are near the track and
    /// whose box lies within the track's (grown by the start radius).
    pub fn candidates(&self, sport: Sport, fixes: &[Fix]) -> Vec<SegmentId> {
        let Some(tree) = self.trees.get(&sport) else {
            return Vec::new();
        };
        let Some(track_box) = BBox::of(fixes.iter().map(|f| (f.lat, f.lng))) else {
            return Vec::new();
        };
        let track_box = track_box.grown(ENDPOINT_RADIUS_M);
        let runs: Vec<BBox> = fixes
            .chunks(RUN)
            .enumerate()
            .filter_map(|(i, chunk)| {
                // Runs overlap by one fix, so the edge between them is in one.
                let from = i * RUN;
                let to = (from + chunk.len() + 1).min(fixes.len());
                BBox::of(fixes[from..to].iter().map(|f| (f.lat, f.lng)))
                    .map(|b| b.grown(ENDPOINT_RADIUS_M))
            })
            .collect();
        let mut out = Vec::new();
        for run in &runs {
            let env =
                AABB::from_corners(key(run.min_lat, run.min_lng), key(run.max_lat, run.max_lng));
            for hit in tree.locate_in_envelope(&env) {
                let id = hit.data;
                let Some(s) = self.segments.get(&id) else {
                    continue;
                };
                if !track_box.contains(&s.bbox) {
                    continue;
                }
                let end_near = runs.iter().any(|r| {
                    r.contains(&BBox {
                        min_lat: s.end.0,
                        min_lng: s.end.1,
                        max_lat: s.end.0,
                        max_lng: s.end.1,
                    })
                });
                if end_near {
                    out.push(id);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// As `candidates`, for a prepared track's fixes' box only (a quick
    /// test whether anything can match).
    pub fn any_near(&self, sport: Sport, track: &PreparedTrack) -> bool {
        let (Some(tree), Some(b)) = (self.trees.get(&sport), track.bbox()) else {
            return false;
        };
        let b = b.grown(ENDPOINT_RADIUS_M);
        let env = AABB::from_corners(key(b.min_lat, b.min_lng), key(b.max_lat, b.max_lng));
        tree.locate_in_envelope(&env).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(id: i64, lat: f64, lng: f64, sport: Sport) -> IndexedSegment {
        IndexedSegment {
            id: SegmentId(id),
            sport,
            start: (lat, lng),
            end: (lat + 0.005, lng),
            bbox: BBox {
                min_lat: lat,
                min_lng: lng,
                max_lat: lat + 0.005,
                max_lng: lng,
            },
        }
    }

    #[test]
    fn finds_only_segments_along_the_track() {
        // A track due north from (51.0, 0.0) for about 2.2 km.
        let fixes: Vec<Fix> = (0..200)
            .map(|i| Fix::new(i * 1_000, 51.0 + i as f64 * 1e-4, 0.0))
            .collect();
        let mut index = SegmentIndex::bulk(vec![
            seg(1, 51.001, 0.0, Sport::Ride),
            seg(2, 51.001, 0.01, Sport::Ride), // 700 m east: off the track
            seg(3, 51.001, 0.0, Sport::Run),   // other sport
            seg(4, 51.019, 0.0, Sport::Ride),  // ends past the track's end
        ]);
        assert_eq!(index.candidates(Sport::Ride, &fixes), vec![SegmentId(1)]);
        index.insert(seg(5, 51.005, 0.0001, Sport::Ride));
        assert_eq!(
            index.candidates(Sport::Ride, &fixes),
            vec![SegmentId(1), SegmentId(5)]
        );
        index.remove(SegmentId(1));
        assert_eq!(index.candidates(Sport::Ride, &fixes), vec![SegmentId(5)]);
        assert_eq!(index.len(), 4);
    }
}
