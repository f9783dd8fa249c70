//! The segments store role: segments, stars, efforts, the leaderboard work
//! queue (`segment_effort_changes`) and the backfill of new segments. The
//! SQL is in `segments_sql.rs`, compiled for each backend like `sql.rs`.
//!
//! Every write that adds or removes efforts, or changes whether one shows
//! on a board, appends one `segment_effort_changes` row per affected
//! (segment, athlete) slot in the same transaction.

use async_trait::async_trait;

use super::changes::Statement;
use super::{StoreError, StoreResult};
use crate::domain::activity::Visibility;
use crate::domain::segments::index::IndexedSegment;
use crate::domain::segments::{BBox, EffortId, SegmentId, SegmentPoint, SegmentShape};
use crate::domain::{ActivityId, AthleteId, Sport};

/// A stored segment with its line.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRow {
    pub id: SegmentId,
    pub athlete_id: AthleteId,
    pub name: String,
    pub sport: Sport,
    pub shape: SegmentShape,
    pub effort_count: i64,
    pub athlete_count: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewSegment {
    pub athlete_id: AthleteId,
    pub name: String,
    pub sport: Sport,
    pub shape: SegmentShape,
    pub now_ms: i64,
}

/// What the spatial index holds of a segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SegmentIndexEntry {
    pub id: SegmentId,
    pub sport: Sport,
    pub start: (f64, f64),
    pub bbox: BBox,
}

/// A stored effort, with its segment's name and the athlete's PR rank.
#[derive(Debug, Clone, PartialEq)]
pub struct EffortRow {
    pub id: EffortId,
    pub segment_id: SegmentId,
    pub segment_name: String,
    pub segment_distance: f64,
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    pub visibility: Visibility,
    pub start_ms: i64,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_index: Option<i64>,
    pub end_index: Option<i64>,
    pub distance: Option<f64>,
    /// 1 for the athlete's fastest effort on the segment, and so on.
    pub pr_rank: i64,
    pub created_ms: i64,
}

/// An effort found by the matcher, before it is stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewEffort {
    pub segment_id: SegmentId,
    pub start_ms: i64,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_index: i64,
    pub end_index: i64,
    pub distance: f64,
}

/// `GET /segment_efforts`: one segment's efforts the viewer may see.
#[derive(Debug, Clone)]
pub struct EffortQuery {
    pub viewer: AthleteId,
    pub segment_id: SegmentId,
    pub athlete_id: Option<AthleteId>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    /// False leaves out efforts on only_me activities (even the viewer's:
    /// an app token without `activity:read_all`).
    pub include_only_me: bool,
    pub limit: u32,
    pub offset: u32,
}

/// An activity the backfill of a segment may have to read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackfillCandidate {
    pub activity_id: ActivityId,
    /// False when its box is not known yet (matched before the matcher
    /// kept boxes): it must be read to know.
    pub has_bounds: bool,
}

/// One activity's result in a backfill step.
#[derive(Debug, Clone)]
pub struct BackfillResult {
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    /// The activity's version when its route was read: the efforts are
    /// written only if it is still the same (else its own change event
    /// matches it again).
    pub version: i64,
    pub bounds: Option<(Sport, BBox)>,
    pub efforts: Vec<NewEffort>,
}

#[async_trait]
pub trait SegmentStore: Send + Sync {
    async fn create_segment(&self, new: &NewSegment) -> StoreResult<SegmentRow>;
    async fn segment(&self, id: SegmentId) -> StoreResult<Option<SegmentRow>>;
    async fn segments_by_id(&self, ids: &[SegmentId]) -> StoreResult<Vec<SegmentRow>>;
    /// Index entries with ids above `after`, in id order, at most `limit`.
    async fn segment_index_entries(
        &self,
        after: SegmentId,
        limit: u32,
    ) -> StoreResult<Vec<IndexedSegment>>;
    async fn rename_segment(
        &self,
        id: SegmentId,
        name: &str,
        now_ms: i64,
    ) -> StoreResult<Option<SegmentRow>>;
    /// Deletes the segment, its efforts and stars, with a work-queue row
    /// per slot it had. False when there was no such segment.
    async fn delete_segment(&self, id: SegmentId, now_ms: i64) -> StoreResult<bool>;
    /// Segments of the sport starting inside the box, most athletes first.
    async fn explore_segments(
        &self,
        bounds: &BBox,
        sport: Sport,
        limit: u32,
    ) -> StoreResult<Vec<SegmentRow>>;
    /// Stars or unstars; false when there is no such segment.
    async fn star_segment(
        &self,
        athlete: AthleteId,
        id: SegmentId,
        starred: bool,
        now_ms: i64,
    ) -> StoreResult<bool>;
    async fn is_starred(&self, athlete: AthleteId, id: SegmentId) -> StoreResult<bool>;
    /// How many athletes starred the segment.
    async fn star_count(&self, id: SegmentId) -> StoreResult<i64>;
    /// The athlete's starred segments, latest star first.
    async fn starred_segments(
        &self,
        athlete: AthleteId,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<SegmentRow>>;

    async fn effort(&self, id: EffortId) -> StoreResult<Option<EffortRow>>;
    /// An activity's efforts in the order they started.
    async fn activity_efforts(&self, activity: ActivityId) -> StoreResult<Vec<EffortRow>>;
    /// A segment's efforts the viewer may see, by start time.
    async fn efforts(&self, query: &EffortQuery) -> StoreResult<Vec<EffortRow>>;

    /// The activity's current version (None when it is gone).
    async fn activity_version(&self, id: ActivityId) -> StoreResult<Option<i64>>;
    /// Segments whose backfill is not done, with the last activity id done.
    async fn pending_backfills(&self, limit: u32) -> StoreResult<Vec<(SegmentId, ActivityId)>>;
    /// Completed activities of the sport with ids above `after`, whose box
    /// (grown by the caller) meets `bounds` or is not known, in id order.
    /// Answers also the highest id looked at (to move past the rest).
    async fn backfill_candidates(
        &self,
        sport: Sport,
        bounds: &BBox,
        after: ActivityId,
        limit: u32,
    ) -> StoreResult<(Vec<BackfillCandidate>, Option<ActivityId>)>;
    /// In one transaction: the results' boxes and efforts, their
    /// work-queue rows, the segment's counts, and the backfill position
    /// (`done` ends it). An activity no longer at the version read is
    /// left for the next step (the position stops before it): answers the
    /// position actually reached.
    async fn commit_backfill(
        &self,
        segment: SegmentId,
        to: ActivityId,
        done: bool,
        results: &[BackfillResult],
        now_ms: i64,
    ) -> StoreResult<ActivityId>;
}

/// Encodes a segment's points (postcard, as route chunks).
pub fn encode_points(points: &[SegmentPoint]) -> StoreResult<Vec<u8>> {
    postcard::to_allocvec(points).map_err(|e| StoreError::decode("segment points", e))
}

pub fn decode_points(bytes: &[u8]) -> StoreResult<Vec<SegmentPoint>> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::decode("segment points", e))
}

/// A pass already stored (the backfill and the change-log matcher can
/// race on one activity) is updated, never added twice.
pub const EFFORT_UPSERT: &str = "ON CONFLICT (activity_id, segment_id, start_ms) DO UPDATE SET \
     elapsed_ms = excluded.elapsed_ms, moving_ms = excluded.moving_ms, \
     start_index = excluded.start_index, end_index = excluded.end_index, \
     distance = excluded.distance";

/// The matcher's effect for one activity, run in the change-log
/// consumer's transaction: its efforts replaced (nothing if the activity
/// is gone by then), a work-queue row for every slot it
/// had or has, its box, and the counts of the segments concerned
/// (`old_segments`: those it had efforts on when read).
pub fn replace_efforts(
    activity: ActivityId,
    athlete: AthleteId,
    bounds: Option<(Sport, BBox)>,
    efforts: &[NewEffort],
    old_segments: &[SegmentId],
    now_ms: i64,
) -> Vec<Statement> {
    let guard = "EXISTS (SELECT 1 FROM activities WHERE id = $1 AND 0 <= $2)";
    let version = 0;
    let slots = format!(
        "INSERT INTO segment_effort_changes (segment_id, athlete_id, at_ms) \
         SELECT DISTINCT segment_id, athlete_id, $3 FROM segment_efforts \
         WHERE activity_id = $1 AND {guard}"
    );
    let mut out = vec![
        // Old slots: their efforts go.
        Statement::new(slots.clone())
            .int(activity.0)
            .int(version)
            .int(now_ms),
        Statement::new(format!(
            "DELETE FROM segment_efforts WHERE activity_id = $1 AND {guard}"
        ))
        .int(activity.0)
        .int(version),
    ];
    let mut touched: Vec<i64> = old_segments.iter().map(|s| s.0).collect();
    for e in efforts {
        out.push(
            Statement::new(format!(
                "INSERT INTO segment_efforts (segment_id, activity_id, athlete_id, start_ms, \
                 elapsed_ms, moving_ms, start_index, end_index, distance, created_ms) \
                 SELECT $3, $1, $4, $5, $6, $7, $8, $9, $10, $11 WHERE {guard} \
                 AND EXISTS (SELECT 1 FROM segments WHERE id = $3) {EFFORT_UPSERT}"
            ))
            .int(activity.0)
            .int(version)
            .int(e.segment_id.0)
            .int(athlete.0)
            .int(e.start_ms)
            .int(e.elapsed_ms)
            .int(e.moving_ms)
            .int(e.start_index)
            .int(e.end_index)
            .real(e.distance)
            .int(now_ms),
        );
        if !touched.contains(&e.segment_id.0) {
            touched.push(e.segment_id.0);
        }
    }
    // New slots.
    out.push(
        Statement::new(slots)
            .int(activity.0)
            .int(version)
            .int(now_ms),
    );
    if let Some((sport, b)) = bounds {
        out.push(
            Statement::new(format!(
                "INSERT INTO activity_bounds (activity_id, sport_type, min_lat, min_lng, \
                 max_lat, max_lng) SELECT $1, $3, $4, $5, $6, $7 WHERE {guard} \
                 ON CONFLICT (activity_id) DO UPDATE SET sport_type = excluded.sport_type, \
                 min_lat = excluded.min_lat, min_lng = excluded.min_lng, \
                 max_lat = excluded.max_lat, max_lng = excluded.max_lng"
            ))
            .int(activity.0)
            .int(version)
            .text(sport.as_str())
            .real(b.min_lat)
            .real(b.min_lng)
            .real(b.max_lat)
            .real(b.max_lng),
        );
    }
    if let Some(recount) = recount(&touched) {
        out.push(recount);
    }
    out
}

/// Recomputes `effort_count` and `athlete_count` of these segments.
pub fn recount(segments: &[i64]) -> Option<Statement> {
    if segments.is_empty() {
        return None;
    }
    let ids = segments
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    Some(Statement::new(format!(
        "UPDATE segments SET \
         effort_count = (SELECT COUNT(*) FROM segment_efforts e WHERE e.segment_id = segments.id), \
         athlete_count = (SELECT COUNT(DISTINCT e.athlete_id) FROM segment_efforts e \
         WHERE e.segment_id = segments.id) WHERE id IN ({ids})"
    )))
}
