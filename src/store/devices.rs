//! The tracker devices' store role: the devices athletes connected (OsmAnd,
//! Traccar Client, OwnTracks, Overland) and each one's open activity. The
//! SQL is in `devices_sql.rs`, compiled for each backend like `sql.rs`.

use async_trait::async_trait;

use super::StoreResult;
use crate::domain::devices::Protocol;
use crate::domain::{ActivityId, AthleteId, Sport};

/// A device's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub i64);

/// A connected device. Its token is never stored, only its SHA-256.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceRow {
    pub id: DeviceId,
    pub athlete: AthleteId,
    pub name: String,
    pub protocol: Protocol,
    pub sport: Sport,
    pub idle_timeout_s: u32,
    /// The device's open live activity.
    pub activity: Option<ActivityId>,
    /// The last fix of its last completed activity.
    pub floor_ms: Option<i64>,
    /// When it last started or completed an activity (server clock).
    pub last_seen_ms: Option<i64>,
    pub created_ms: i64,
}

#[derive(Debug, Clone)]
pub struct NewDeviceRow {
    pub athlete: AthleteId,
    pub name: String,
    pub protocol: Protocol,
    pub sport: Sport,
    pub idle_timeout_s: u32,
    pub token_hash: String,
    pub now_ms: i64,
}

#[async_trait]
pub trait DeviceStore: Send + Sync {
    /// Creates the device unless the athlete already has `limit` devices
    /// (then None).
    async fn create_device(&self, new: &NewDeviceRow, limit: u32)
        -> StoreResult<Option<DeviceRow>>;
    /// The athlete's devices, oldest first.
    async fn devices_of(&self, athlete: AthleteId) -> StoreResult<Vec<DeviceRow>>;
    /// The device a token (its SHA-256, hex) belongs to.
    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceRow>>;
    /// Deletes the athlete's device; answers its token hash (None: no such
    /// device of theirs).
    async fn delete_device(&self, athlete: AthleteId, id: DeviceId) -> StoreResult<Option<String>>;
    /// Records the device's open activity (None once completed) and the
    /// end of its last completed one.
    async fn set_device_activity(
        &self,
        id: DeviceId,
        activity: Option<ActivityId>,
        floor_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Devices with an open activity (what the tracker resumes at start-up),
    /// at most `limit`.
    async fn devices_with_open_activity(&self, limit: u32) -> StoreResult<Vec<DeviceRow>>;
}
