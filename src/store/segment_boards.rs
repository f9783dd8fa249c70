//! The segment leaderboards' store role: what the in-memory boards are
//! built and kept current from. The efforts and the work queue
//! (`segment_efforts`, `segment_effort_changes`) are written by the
//! segment matcher; this role only reads them and prunes the queue. The
//! SQL is in `segment_boards_sql.rs`, compiled for each backend.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::activity::Visibility;
use crate::domain::athlete::Sex;
use crate::domain::{ActivityId, AthleteId};

/// One effort with what decides its place on the boards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardEffort {
    pub id: i64,
    pub segment_id: i64,
    pub athlete_id: AthleteId,
    pub activity_id: ActivityId,
    pub start_ms: i64,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub visibility: Visibility,
}

/// A queued change to one (segment, athlete) slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotChange {
    pub seq: i64,
    pub segment_id: i64,
    pub athlete_id: AthleteId,
    pub at_ms: i64,
}

/// An athlete's name and the details that decide their boards.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardAthlete {
    pub id: AthleteId,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
    pub weight_kg: Option<f64>,
    pub updated_ms: i64,
}

/// A club's approved members, and whether only they may see the club.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClubMembers {
    pub private: bool,
    pub members: Vec<AthleteId>,
}

#[async_trait]
pub trait SegmentBoardStore: Send + Sync {
    /// The highest queued seq (0 when the queue is empty).
    async fn slot_change_head(&self) -> StoreResult<i64>;
    /// Queued slot changes after `after`, in seq order.
    async fn slot_changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<SlotChange>>;
    /// Deletes queued changes up to `up_to` queued before `before_ms`.
    async fn prune_slot_changes(&self, up_to: i64, before_ms: i64) -> StoreResult<u64>;
    /// Efforts with ids above `after_id`, in id order (the start-up load).
    async fn board_efforts_after(&self, after_id: i64, limit: u32)
        -> StoreResult<Vec<BoardEffort>>;
    /// The current efforts of one segment's slots.
    async fn slot_efforts(
        &self,
        segment_id: i64,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<BoardEffort>>;
    async fn board_athletes(&self, ids: &[AthleteId]) -> StoreResult<Vec<BoardAthlete>>;
    /// Athletes changed at or after `since_ms`, oldest change first.
    async fn athletes_changed_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<BoardAthlete>>;
    async fn segment_exists(&self, segment_id: i64) -> StoreResult<bool>;
    /// A club's approved members; None when there is no such club.
    async fn club_member_ids(&self, club_id: i64) -> StoreResult<Option<ClubMembers>>;
}
