//! The privacy store role: privacy zones and share links. The SQL is in
//! `privacy_sql.rs`, compiled for each backend like `sql.rs`.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::privacy::{HiddenCircle, ZoneInput};
use crate::domain::{ActivityId, AthleteId};

/// A stored zone: the entered point and its hidden circle.
#[derive(Debug, Clone, PartialEq)]
pub struct ZoneRow {
    pub id: i64,
    pub athlete_id: AthleteId,
    pub entered: ZoneInput,
    pub hidden: HiddenCircle,
    pub created_ms: i64,
}

/// A share link, without its token (only the digest is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct ShareRow {
    pub id: i64,
    pub athlete_id: AthleteId,
    /// None: whatever the athlete records live until it expires.
    pub activity_id: Option<ActivityId>,
    pub token_hash: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub revoked_ms: Option<i64>,
}

impl ShareRow {
    pub fn is_open(&self, now_ms: i64) -> bool {
        self.revoked_ms.is_none() && now_ms < self.expires_ms
    }
}

#[derive(Debug, Clone)]
pub struct NewShare {
    pub athlete_id: AthleteId,
    pub activity_id: Option<ActivityId>,
    pub token_hash: String,
    pub now_ms: i64,
    pub expires_ms: i64,
}

/// Why a zone was not added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneAdded {
    Added(i64),
    /// The athlete already has the most zones allowed.
    TooMany,
}

#[async_trait]
pub trait PrivacyStore: Send + Sync {
    /// The athlete's zones, oldest first.
    async fn privacy_zones(&self, athlete: AthleteId) -> StoreResult<Vec<ZoneRow>>;
    /// Adds a zone unless the athlete has `max` already; in the same
    /// transaction, a change-log `updated` (PRIVACY) event for each of the
    /// athlete's activities, since what others see of them changed.
    async fn add_privacy_zone(
        &self,
        athlete: AthleteId,
        entered: &ZoneInput,
        hidden: &HiddenCircle,
        max: u32,
        now_ms: i64,
    ) -> StoreResult<ZoneAdded>;
    /// Deletes the athlete's zone (false when there is no such zone of
    /// theirs), with the same change-log events.
    async fn delete_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<bool>;
    /// Moves or resizes the athlete's zone to `entered` with a fresh hidden
    /// circle (None when there is no such zone of theirs), with the same
    /// change-log events.
    async fn move_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        entered: &ZoneInput,
        hidden: &HiddenCircle,
        now_ms: i64,
    ) -> StoreResult<Option<ZoneRow>>;

    async fn create_share(&self, new: &NewShare) -> StoreResult<ShareRow>;
    /// The athlete's shares that are neither expired nor revoked, newest first.
    async fn open_shares(&self, athlete: AthleteId, now_ms: i64) -> StoreResult<Vec<ShareRow>>;
    async fn share_by_hash(&self, token_hash: &str) -> StoreResult<Option<ShareRow>>;
    /// Revokes the athlete's share; its row, or None when there is no such
    /// open share of theirs.
    async fn revoke_share(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ShareRow>>;
    /// The athlete's activities recorded at some time in `[from_ms, to_ms]`
    /// (started by `to_ms`, not completed before `from_ms`), newest first,
    /// at most 10: what an athlete share shows.
    async fn activities_recorded_between(
        &self,
        athlete: AthleteId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<ActivityId>>;
}
