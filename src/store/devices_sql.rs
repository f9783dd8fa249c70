//! The devices' SQL, shared by both backends like `sql.rs` (compiled once
//! per backend, with `super::Db` naming the driver).

use async_trait::async_trait;

use super::sql::SqlStore;
use crate::domain::devices::Protocol;
use crate::domain::{ActivityId, AthleteId, Sport};
use crate::store::devices::{DeviceId, DeviceRow, DeviceStore, NewDeviceRow};
use crate::store::{StoreError, StoreResult};

const DEVICE_COLUMNS: &str = "id, athlete_id, name, protocol, sport_type, idle_timeout_s, \
     activity_id, floor_ms, last_seen_ms, created_ms";

/// A device row as stored, before its values are parsed.
#[derive(sqlx::FromRow)]
struct StoredDevice {
    id: i64,
    athlete_id: i64,
    name: String,
    protocol: String,
    sport_type: String,
    idle_timeout_s: i64,
    activity_id: Option<i64>,
    floor_ms: Option<i64>,
    last_seen_ms: Option<i64>,
    created_ms: i64,
}

impl TryFrom<StoredDevice> for DeviceRow {
    type Error = StoreError;

    fn try_from(d: StoredDevice) -> StoreResult<DeviceRow> {
        let corrupt = |what: &str| StoreError::decode("device", format!("device {}: {what}", d.id));
        Ok(DeviceRow {
            id: DeviceId(d.id),
            athlete: AthleteId(d.athlete_id),
            protocol: Protocol::parse(&d.protocol).map_err(|_| corrupt("protocol"))?,
            sport: Sport::parse(&d.sport_type).map_err(|_| corrupt("sport_type"))?,
            idle_timeout_s: u32::try_from(d.idle_timeout_s)
                .map_err(|_| corrupt("idle_timeout_s"))?,
            activity: d.activity_id.map(ActivityId),
            floor_ms: d.floor_ms,
            last_seen_ms: d.last_seen_ms,
            created_ms: d.created_ms,
            name: d.name,
        })
    }
}

fn rows(stored: Vec<StoredDevice>) -> StoreResult<Vec<DeviceRow>> {
    stored.into_iter().map(DeviceRow::try_from).collect()
}

#[async_trait]
impl DeviceStore for SqlStore {
    async fn create_device(
        &self,
        new: &NewDeviceRow,
        limit: u32,
    ) -> StoreResult<Option<DeviceRow>> {
        let sql = format!(
            "INSERT INTO devices (athlete_id, name, protocol, sport_type, token_hash, \
             idle_timeout_s, created_ms) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM devices WHERE athlete_id = $1) < $8 \
             RETURNING {DEVICE_COLUMNS}"
        );
        let row: Option<StoredDevice> = sqlx::query_as(&sql)
            .bind(new.athlete.0)
            .bind(&new.name)
            .bind(new.protocol.as_str())
            .bind(new.sport.as_str())
            .bind(&new.token_hash)
            .bind(i64::from(new.idle_timeout_s))
            .bind(new.now_ms)
            .bind(i64::from(limit))
            .fetch_optional(self.pool())
            .await?;
        row.map(DeviceRow::try_from).transpose()
    }

    async fn devices_of(&self, athlete: AthleteId) -> StoreResult<Vec<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE athlete_id = $1 ORDER BY id");
        rows(
            sqlx::query_as(&sql)
                .bind(athlete.0)
                .fetch_all(self.pool())
                .await?,
        )
    }

    async fn device_by_token(&self, token_hash: &str) -> StoreResult<Option<DeviceRow>> {
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE token_hash = $1");
        let row: Option<StoredDevice> = sqlx::query_as(&sql)
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(DeviceRow::try_from).transpose()
    }

    async fn delete_device(&self, athlete: AthleteId, id: DeviceId) -> StoreResult<Option<String>> {
        Ok(sqlx::query_scalar(
            "DELETE FROM devices WHERE id = $1 AND athlete_id = $2 RETURNING token_hash",
        )
        .bind(id.0)
        .bind(athlete.0)
        .fetch_optional(self.pool())
        .await?)
    }

    async fn set_device_activity(
        &self,
        id: DeviceId,
        activity: Option<ActivityId>,
        floor_ms: Option<i64>,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE devices SET activity_id = $2, floor_ms = $3, last_seen_ms = $4 WHERE id = $1",
        )
        .bind(id.0)
        .bind(activity.map(|a| a.0))
        .bind(floor_ms)
        .bind(now_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn devices_with_open_activity(&self, limit: u32) -> StoreResult<Vec<DeviceRow>> {
        let sql = format!(
            "SELECT {DEVICE_COLUMNS} FROM devices WHERE activity_id IS NOT NULL ORDER BY id LIMIT $1"
        );
        rows(
            sqlx::query_as(&sql)
                .bind(i64::from(limit))
                .fetch_all(self.pool())
                .await?,
        )
    }
}
