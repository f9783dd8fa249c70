//! Persistence. One `Store` trait; the SQL lives once in `sql.rs` and is
//! compiled for each backend (`postgres`, `sqlite`), since both accept it.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::activity::{ActivityState, ActivityTotals, StatusLog, Visibility};
use crate::domain::feed::{FeedCursor, FeedMode};
use crate::domain::search::AthleteSearch;
use crate::domain::stats::Split;
use crate::domain::{ActivityId, AthleteId, Fix, Sport};

pub mod best_efforts;
pub mod changes;
pub mod clubs;
pub mod deadline;
pub mod devices;
pub mod oauth;
pub mod postgres;
pub mod privacy;
pub mod route_codec;
pub mod segment_boards;
pub mod segments;
pub mod sqlite;
pub mod webhooks;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("conflict on {0}")]
    Conflict(&'static str),
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    /// A stored value that does not decode into its type (or a value that
    /// does not encode): the row is corrupt, or the writer is gone.
    #[error("cannot decode stored {what}: {cause}")]
    Decode { what: &'static str, cause: String },
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error::*;
        match &e {
            Io(_) | Tls(_) | PoolTimedOut | PoolClosed | WorkerCrashed => {
                StoreError::Unavailable(e)
            }
            Database(db) if db.is_unique_violation() => StoreError::Conflict("unique"),
            // SQLite busy or locked past `busy_timeout`: another writer holds
            // the lock; retryable, like a pool timeout.
            Database(db)
                if db
                    .try_downcast_ref::<sqlx::sqlite::SqliteError>()
                    .and_then(sqlx::error::DatabaseError::code)
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6)) =>
            {
                StoreError::Unavailable(e)
            }
            // Postgres: statement timeout (57014), lock timeout (55P03),
            // serialization failure and deadlock (40001, 40P01): retryable.
            Database(db)
                if db.code().is_some_and(|c| {
                    matches!(c.as_ref(), "57014" | "55P03" | "40001" | "40P01")
                }) =>
            {
                StoreError::Unavailable(e)
            }
            // Postgres shutting down or connection lost (SQLSTATE classes 08 and 57P).
            Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
            {
                StoreError::Unavailable(e)
            }
            _ => StoreError::Database(e),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    pub fn decode(what: &'static str, cause: impl std::fmt::Display) -> StoreError {
        StoreError::Decode {
            what,
            cause: cause.to_string(),
        }
    }
}

/// The longest one statement may run (Postgres `statement_timeout`, SQLite
/// `busy_timeout`); the store's own deadline on each call is `CALL_DEADLINE`.
pub const STATEMENT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// The longest a request waits for a pooled connection (connecting included).
pub const ACQUIRE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AthleteRow {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<String>,
    pub birth_year: Option<i64>,
    pub weight_kg: Option<f64>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewAthleteRow {
    pub username: String,
    pub password_hash: String,
    pub firstname: String,
    pub lastname: String,
    pub sex: Option<String>,
    pub birth_year: Option<i64>,
    pub weight_kg: Option<f64>,
    pub country: Option<String>,
    pub state: Option<String>,
    pub city: Option<String>,
    pub now_ms: i64,
}

impl NewAthleteRow {
    /// An account with a name and no other profile details (bulk
    /// provisioning, the demo's accounts).
    pub fn named(
        username: &str,
        password_hash: String,
        firstname: &str,
        lastname: &str,
        now_ms: i64,
    ) -> NewAthleteRow {
        NewAthleteRow {
            username: username.to_string(),
            password_hash,
            firstname: firstname.to_string(),
            lastname: lastname.to_string(),
            sex: None,
            birth_year: None,
            weight_kg: None,
            country: None,
            state: None,
            city: None,
            now_ms,
        }
    }
}

/// An athlete found by a search: the name only, and how they relate to
/// the searcher (edges in each direction; both means friends).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AthleteMatch {
    pub id: i64,
    pub username: String,
    pub firstname: String,
    pub lastname: String,
    /// The searcher has asked them (1) or not (0).
    pub outgoing: i64,
    /// They have asked the searcher (1) or not (0).
    pub incoming: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FriendOutcome {
    Requested,
    Accepted,
    AlreadyFriends,
    AlreadyRequested,
}

/// An activity row joined with its owner's name, decoded once here: past
/// the store nothing parses its state, visibility, sport or logs again.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityRow {
    pub id: i64,
    pub athlete_id: i64,
    pub athlete_username: String,
    pub athlete_firstname: String,
    pub athlete_lastname: String,
    pub external_id: Option<String>,
    pub name: String,
    pub sport_type: Sport,
    pub visibility: Visibility,
    pub state: ActivityState,
    pub start_ms: i64,
    pub completed_ms: Option<i64>,
    pub status_log: StatusLog,
    pub totals: ActivityTotals,
    pub splits: Vec<Split>,
    pub summary_polyline: Option<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// The columns of an activity row as stored; `decode` types them.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct StoredActivity {
    id: i64,
    athlete_id: i64,
    athlete_username: String,
    athlete_firstname: String,
    athlete_lastname: String,
    external_id: Option<String>,
    name: String,
    sport_type: String,
    visibility: String,
    state: String,
    start_ms: i64,
    completed_ms: Option<i64>,
    status_log: String,
    distance: f64,
    moving_time: i64,
    active_time: i64,
    elapsed_time: i64,
    total_elevation_gain: f64,
    max_speed: f64,
    average_speed: f64,
    elev_high: Option<f64>,
    elev_low: Option<f64>,
    splits: String,
    summary_polyline: Option<String>,
    point_count: i64,
    created_ms: i64,
    updated_ms: i64,
}

impl StoredActivity {
    /// Types the row; a value that does not parse is `StoreError::Decode`.
    pub(crate) fn decode(self) -> StoreResult<ActivityRow> {
        let id = self.id;
        let bad = |what: &'static str, stored: &str, e: crate::domain::DomainError| {
            StoreError::decode(what, format!("activity {id}: {stored:?}: {e}"))
        };
        let sport_type =
            Sport::parse(&self.sport_type).map_err(|e| bad("sport_type", &self.sport_type, e))?;
        let visibility = Visibility::parse(&self.visibility)
            .map_err(|e| bad("visibility", &self.visibility, e))?;
        let state = ActivityState::parse(&self.state).map_err(|e| bad("state", &self.state, e))?;
        let status_log = StatusLog::from_json(&self.status_log)
            .map_err(|e| bad("status_log", &self.status_log, e))?;
        let splits = decode_splits(&self.splits)
            .map_err(|e| StoreError::decode("splits", format!("activity {id}: {e}")))?;
        Ok(ActivityRow {
            id: self.id,
            athlete_id: self.athlete_id,
            athlete_username: self.athlete_username,
            athlete_firstname: self.athlete_firstname,
            athlete_lastname: self.athlete_lastname,
            external_id: self.external_id,
            name: self.name,
            sport_type,
            visibility,
            state,
            start_ms: self.start_ms,
            completed_ms: self.completed_ms,
            status_log,
            totals: ActivityTotals {
                distance: self.distance,
                moving_time: self.moving_time,
                active_time: self.active_time,
                elapsed_time: self.elapsed_time,
                total_elevation_gain: self.total_elevation_gain,
                max_speed: self.max_speed,
                average_speed: self.average_speed,
                elev_high: self.elev_high,
                elev_low: self.elev_low,
                point_count: self.point_count,
            },
            splits,
            summary_polyline: self.summary_polyline,
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
        })
    }
}

/// Splits as stored (a JSON array; empty text for none).
fn decode_splits(stored: &str) -> Result<Vec<Split>, serde_json::Error> {
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(stored)
}

pub(crate) fn encode_splits(splits: &[Split]) -> StoreResult<String> {
    serde_json::to_string(splits).map_err(|e| StoreError::decode("splits", e))
}

#[derive(Debug, Clone)]
pub struct NewActivityRow {
    pub athlete_id: AthleteId,
    pub external_id: Option<String>,
    pub name: String,
    pub sport_type: Sport,
    pub visibility: Visibility,
    pub start_ms: i64,
    pub status_log: StatusLog,
    pub now_ms: i64,
}

/// Everything about an activity that changes while it is recorded. Its
/// state and completion time are the status log's.
#[derive(Debug, Clone, PartialEq)]
pub struct ActivityProgress {
    pub id: ActivityId,
    pub status_log: StatusLog,
    pub totals: ActivityTotals,
    pub splits: Vec<Split>,
    pub summary_polyline: Option<String>,
    pub now_ms: i64,
}

impl ActivityProgress {
    /// The row of a completed activity: the one completion's result.
    pub fn completed(
        id: ActivityId,
        status_log: StatusLog,
        done: crate::domain::completion::CompletedActivity,
        now_ms: i64,
    ) -> ActivityProgress {
        // The completion starts the activity at its first fix when that is
        // earlier than the log's start; the stored log says the same.
        let mut status_log = status_log;
        status_log.start_no_later_than(done.start_ms);
        ActivityProgress {
            id,
            status_log,
            totals: done.totals,
            splits: done.splits,
            summary_polyline: done.summary_polyline,
            now_ms,
        }
    }
}

/// An owner's edit of an activity's details, written with its
/// `activity_updated` event (saying which fields changed).
#[derive(Debug, Clone)]
pub struct ActivityEdit {
    pub name: String,
    pub sport_type: Sport,
    pub visibility: Visibility,
    pub start_ms: i64,
    /// A completed activity computed again (new sport, start or crop):
    /// its final figures and route replace the stored ones.
    pub recomputed: Option<Recomputed>,
    pub now_ms: i64,
}

#[derive(Debug, Clone)]
pub struct Recomputed {
    pub progress: ActivityProgress,
    pub route: Vec<Fix>,
    /// The route lost points (a crop), not just moved in time.
    pub cropped: bool,
    /// The figures or splits differ from the stored ones.
    pub stats_changed: bool,
}

/// New route points of one activity, appended at a checkpoint.
#[derive(Debug, Clone)]
pub struct RouteChunk {
    pub activity_id: ActivityId,
    pub seq: i64,
    pub fixes: Vec<Fix>,
}

/// A file upload: written once, with the created activity or the error.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: i64,
    pub athlete_id: i64,
    pub external_id: Option<String>,
    pub data_type: String,
    pub error: Option<String>,
    pub activity_id: Option<i64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewUploadRow {
    pub athlete_id: AthleteId,
    pub external_id: Option<String>,
    pub data_type: String,
    pub now_ms: i64,
}

/// A completed activity built from a file: the row, its final stats
/// (`progress.id` is ignored) and its route.
#[derive(Debug, Clone)]
pub struct ImportedActivity {
    pub activity: NewActivityRow,
    pub progress: ActivityProgress,
    pub route: Vec<Fix>,
}

/// Accounts created in bulk by an operator (`POST /api/v1/admin/provision`):
/// each athlete with one access token and optionally a started activity.
#[derive(Debug, Clone)]
pub struct ProvisionBatch {
    /// Each athlete with the SHA-256 of its access token.
    pub athletes: Vec<(NewAthleteRow, String)>,
    /// Started for every athlete when set (`athlete_id` is ignored).
    pub activity: Option<NewActivityRow>,
    /// Friendships, as index pairs into `athletes`.
    pub friendships: Vec<(usize, usize)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Provisioned {
    pub athlete: AthleteId,
    pub activity: Option<ActivityId>,
}

#[async_trait]
/// Every store also keeps the activity change log (`changes::ChangeLog`),
/// the privacy zones and share links (`privacy::PrivacyStore`), the
/// tracker devices (`devices::DeviceStore`) and the segments and their
/// efforts (`segments::SegmentStore`).
pub trait Store:
    changes::ChangeLog
    + privacy::PrivacyStore
    + devices::DeviceStore
    + segment_boards::SegmentBoardStore
    + segments::SegmentStore
    + clubs::ClubStore
    + best_efforts::BestEffortStore
    + oauth::OAuthStore
    + webhooks::WebhookStore
    + Send
    + Sync
    + 'static
{
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    /// Closes the pool (at shutdown): later calls fail; answers once every
    /// connection is closed (the SQLite file unlocked).
    async fn close(&self) -> StoreResult<()>;

    async fn create_athlete(&self, new: &NewAthleteRow) -> StoreResult<AthleteRow>;
    async fn athlete(&self, id: AthleteId) -> StoreResult<Option<AthleteRow>>;
    /// The athlete and their password hash.
    async fn credentials(&self, username: &str) -> StoreResult<Option<(AthleteRow, String)>>;

    async fn insert_token(
        &self,
        token_hash: &str,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// The token's athlete and when it was last renewed (its creation when
    /// never), in ms; whether that is too long ago is `auth`'s call.
    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<(AthleteId, i64)>>;
    /// Marks the token used at `now_ms` (the sliding expiry's renewal).
    async fn touch_token(&self, token_hash: &str, now_ms: i64) -> StoreResult<()>;
    /// Deletes the athlete's tokens last used before `before_ms` (expired).
    async fn purge_expired_tokens(&self, athlete: AthleteId, before_ms: i64) -> StoreResult<()>;
    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()>;

    async fn request_friend(
        &self,
        from: AthleteId,
        to: AthleteId,
        now_ms: i64,
    ) -> StoreResult<FriendOutcome>;
    async fn friends(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>>;
    async fn incoming_friend_requests(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>>;
    /// Ends a friendship or withdraws a request, in both directions.
    async fn remove_friend(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool>;
    async fn are_friends(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool>;
    /// Athletes other than `viewer` matching the search, prefix matches of
    /// the user name first, then by user name; at most `limit` from `offset`.
    async fn search_athletes(
        &self,
        viewer: AthleteId,
        search: &AthleteSearch,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<AthleteMatch>>;

    /// Creates the activity, or returns the existing one with the same
    /// (athlete, external_id). The flag says whether it was created.
    async fn create_activity(&self, new: &NewActivityRow) -> StoreResult<(ActivityRow, bool)>;
    async fn activity(&self, id: ActivityId) -> StoreResult<Option<ActivityRow>>;
    /// Writes an owner's edit and its `activity_updated` event (none when
    /// nothing changed). False when the activity does not exist.
    async fn update_activity(&self, id: ActivityId, edit: &ActivityEdit) -> StoreResult<bool>;
    async fn delete_activity(&self, id: ActivityId) -> StoreResult<()>;
    async fn in_progress_activities(&self) -> StoreResult<Vec<ActivityRow>>;
    /// In-progress activities not updated since `before_ms` (auto-complete
    /// candidates), with ids above `after_id`, in id order.
    async fn stale_in_progress(
        &self,
        before_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<ActivityId>>;
    /// Friends' in-progress activities the viewer may see.
    async fn live_activities_of_friends(&self, viewer: AthleteId) -> StoreResult<Vec<ActivityRow>>;
    async fn feed(
        &self,
        viewer: AthleteId,
        mode: FeedMode,
        after: Option<FeedCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRow>>;

    /// Writes a batch of checkpoints (progress and new route chunks) in one transaction.
    async fn checkpoint(
        &self,
        progress: &[ActivityProgress],
        chunks: &[RouteChunk],
    ) -> StoreResult<()>;
    /// Completes an activity in one transaction: its final stats and the
    /// full route, which replaces the checkpointed chunks.
    async fn complete_activity(
        &self,
        progress: &ActivityProgress,
        route: &[Fix],
    ) -> StoreResult<()>;
    /// The stored route, ordered by time, without duplicates.
    async fn route(&self, id: ActivityId) -> StoreResult<Vec<Fix>>;
    /// The stored route and its highest chunk number (-1 with none), in
    /// one read: what a rehydrated actor resumes from.
    async fn checkpointed_route(&self, id: ActivityId) -> StoreResult<(Vec<Fix>, i64)>;

    /// Records an upload and, in the same transaction, creates its
    /// completed activity with the route and summary. When the athlete
    /// already has the activity (same `external_id`, or same start time and
    /// sport) nothing is created and the upload carries
    /// `duplicate of activity N` as its error.
    async fn import_activity(
        &self,
        upload: &NewUploadRow,
        imported: &ImportedActivity,
    ) -> StoreResult<UploadRow>;
    /// Records an upload that failed before anything could be created.
    async fn failed_upload(&self, upload: &NewUploadRow, error: &str) -> StoreResult<UploadRow>;
    async fn upload(&self, id: i64) -> StoreResult<Option<UploadRow>>;

    /// Creates a batch of accounts in one transaction: all or nothing (a
    /// taken username fails the whole batch with `Conflict`). Answers one
    /// entry per athlete, in order.
    async fn provision(&self, batch: &ProvisionBatch) -> StoreResult<Vec<Provisioned>>;
}

pub type DynStore = Arc<dyn Store>;

/// Opens the store the URL names (`postgres://` or `sqlite://`) and
/// migrates it. Every call on it has a deadline (`deadline.rs`).
pub async fn connect(database_url: &str, max_connections: u32) -> StoreResult<DynStore> {
    let store: DynStore =
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Arc::new(postgres::connect(database_url, max_connections).await?)
        } else {
            Arc::new(sqlite::connect(database_url, max_connections).await?)
        };
    Ok(Arc::new(deadline::Deadline(store)))
}
