//! The best efforts and global leaderboards store role: activities' best
//! efforts (written by the `best_efforts` consumer's statements), the
//! leaderboards' work queue, what the in-memory boards load, and profile
//! edits (which move an athlete between boards). The SQL is in
//! `best_efforts_sql.rs`, compiled for each backend like `sql.rs`.

use async_trait::async_trait;

use super::changes::Statement;
use super::{AthleteRow, StoreResult};
use crate::domain::activity::Visibility;
use crate::domain::athlete::{ProfileUpdate, Sex};
use crate::domain::best_efforts::DistanceKey;
use crate::domain::{ActivityId, AthleteId, Sport};

/// One stored best effort, with its rank among the athlete's efforts
/// over the distance up to then (Strava's `pr_rank`, 1–3, else None).
#[derive(Debug, Clone, PartialEq)]
pub struct BestEffortRow {
    pub id: i64,
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    pub sport: Sport,
    pub distance: DistanceKey,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_ms: i64,
    pub start_index: i64,
    pub end_index: i64,
    pub pr_rank: Option<i64>,
}

/// An effort as the boards see it: of an activity others may see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoardEffort {
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    pub sport: Sport,
    pub distance: DistanceKey,
    pub elapsed_ms: i64,
    pub moving_ms: i64,
    pub start_ms: i64,
    pub visibility: Visibility,
}

/// What the boards keep of an athlete: the name and the filters' fields.
#[derive(Debug, Clone, PartialEq)]
pub struct BoardAthlete {
    pub id: AthleteId,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<Sex>,
    pub birth_year: Option<i32>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
}

/// The statements that queue an athlete for the boards (in the caller's
/// transaction). The counter row's lock is held to the commit, so queue
/// rows commit in seq order and a tail never skips one.
pub fn queue_athlete(athlete: AthleteId, at_ms: i64) -> [Statement; 2] {
    [
        Statement::new("UPDATE best_effort_seq SET seq = seq + 1 WHERE id = 1"),
        Statement::new(
            "INSERT INTO best_effort_changes (seq, athlete_id, at_ms) \
             SELECT seq, $1, $2 FROM best_effort_seq WHERE id = 1",
        )
        .int(athlete.0)
        .int(at_ms),
    ]
}

#[async_trait]
pub trait BestEffortStore: Send + Sync {
    /// Applies a profile edit and queues the athlete for the boards, in
    /// one transaction. None when there is no such athlete.
    async fn update_profile(
        &self,
        athlete: AthleteId,
        update: &ProfileUpdate,
        now_ms: i64,
    ) -> StoreResult<Option<AthleteRow>>;
    /// The activity's best efforts, shortest distance first.
    async fn activity_best_efforts(&self, activity: ActivityId) -> StoreResult<Vec<BestEffortRow>>;
    /// The athlete's efforts in activities that are not `only_me`.
    async fn athlete_board_efforts(&self, athlete: AthleteId) -> StoreResult<Vec<BoardEffort>>;
    async fn board_athlete(&self, athlete: AthleteId) -> StoreResult<Option<BoardAthlete>>;
    /// Athletes with ids above `after`, in id order (a board's rebuild).
    async fn board_athletes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<BoardAthlete>>;
    /// Board efforts with effort ids above `after`, in id order, with
    /// their ids (a board's rebuild).
    async fn best_board_efforts_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, BoardEffort)>>;
    /// Queued athletes after `after`, in order: (seq, athlete).
    async fn board_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AthleteId)>>;
    /// The last queue seq handed out (0 before any).
    async fn board_change_head(&self) -> StoreResult<i64>;
    /// The lowest queue seq still kept (head + 1 when empty).
    async fn board_change_tail(&self) -> StoreResult<i64>;
    /// Deletes queue rows older than `before_ms`; answers how many.
    async fn prune_board_changes(&self, before_ms: i64) -> StoreResult<u64>;
    /// The one-time backfill's marker: (after_id, upto_id).
    async fn effort_backfill_position(&self) -> StoreResult<Option<(i64, i64)>>;
    /// Completed activities with ids in `(after, upto]` and no best
    /// efforts, in id order, with their athlete and version.
    async fn effort_backfill_candidates(
        &self,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ActivityId, AthleteId, i64)>>;
    /// In one transaction: moves the backfill's marker from `from` to `to`
    /// and runs the batch's statements. False (nothing written) when the
    /// marker was not at `from` (another node did the batch).
    async fn commit_effort_backfill(
        &self,
        from: i64,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<bool>;
}
