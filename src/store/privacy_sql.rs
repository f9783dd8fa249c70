//! The privacy store's SQL, shared by both backends like `sql.rs`
//! (compiled once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;

use super::changes_sql::{append, visibility};
use super::sql::SqlStore;
use super::Db;
use crate::changes::event::{ChangeKind, Changed, NewChange};
use crate::domain::privacy::{HiddenCircle, ZoneInput};
use crate::domain::{ActivityId, AthleteId};
use crate::store::privacy::{NewShare, PrivacyStore, ShareRow, ZoneAdded, ZoneRow};
use crate::store::StoreResult;

const ZONE_COLUMNS: &str =
    "id, athlete_id, lat, lng, radius_m, hidden_lat, hidden_lng, hidden_radius_m, created_ms";
const SHARE_COLUMNS: &str =
    "id, athlete_id, activity_id, token_hash, created_ms, expires_ms, revoked_ms";

fn zone(row: &<Db as sqlx::Database>::Row) -> StoreResult<ZoneRow> {
    Ok(ZoneRow {
        id: row.try_get("id")?,
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        entered: ZoneInput {
            lat: row.try_get("lat")?,
            lng: row.try_get("lng")?,
            radius_m: row.try_get("radius_m")?,
        },
        hidden: HiddenCircle {
            lat: row.try_get("hidden_lat")?,
            lng: row.try_get("hidden_lng")?,
            radius_m: row.try_get("hidden_radius_m")?,
        },
        created_ms: row.try_get("created_ms")?,
    })
}

fn share(row: &<Db as sqlx::Database>::Row) -> StoreResult<ShareRow> {
    Ok(ShareRow {
        id: row.try_get("id")?,
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        activity_id: row
            .try_get::<Option<i64>, _>("activity_id")?
            .map(ActivityId),
        token_hash: row.try_get("token_hash")?,
        created_ms: row.try_get("created_ms")?,
        expires_ms: row.try_get("expires_ms")?,
        revoked_ms: row.try_get("revoked_ms")?,
    })
}

/// Every activity of the athlete moves to its next version with an
/// `updated` (PRIVACY) event: what others see of each changed.
async fn privacy_changed(
    tx: &mut sqlx::Transaction<'_, Db>,
    athlete: AthleteId,
    now_ms: i64,
) -> StoreResult<i64> {
    let rows: Vec<(i64, i64, String)> = sqlx::query_as(
        "UPDATE activities SET version = version + 1 WHERE athlete_id = $1 \
         RETURNING id, version, visibility",
    )
    .bind(athlete.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for (id, version, vis) in rows {
        changes.push(NewChange {
            activity_id: ActivityId(id),
            athlete_id: athlete,
            version,
            kind: ChangeKind::Updated,
            changed: Changed::PRIVACY,
            visibility: visibility(&vis)?,
            at_ms: now_ms,
        });
    }
    // Events in activity order, so a consumer sees them as the ids go.
    changes.sort_by_key(|c| c.activity_id.0);
    append(tx, &changes).await
}

#[async_trait]
impl PrivacyStore for SqlStore {
    async fn privacy_zones(&self, athlete: AthleteId) -> StoreResult<Vec<ZoneRow>> {
        let sql =
            format!("SELECT {ZONE_COLUMNS} FROM privacy_zones WHERE athlete_id = $1 ORDER BY id");
        sqlx::query(&sql)
            .bind(athlete.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(zone)
            .collect()
    }

    async fn add_privacy_zone(
        &self,
        athlete: AthleteId,
        entered: &ZoneInput,
        hidden: &HiddenCircle,
        max: u32,
        now_ms: i64,
    ) -> StoreResult<ZoneAdded> {
        let mut tx = self.begin_write().await?;
        // Locks the athlete's row, so two adds cannot both pass the count.
        sqlx::query("UPDATE athletes SET updated_ms = updated_ms WHERE id = $1")
            .bind(athlete.0)
            .execute(&mut *tx)
            .await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM privacy_zones WHERE athlete_id = $1")
                .bind(athlete.0)
                .fetch_one(&mut *tx)
                .await?;
        if count >= i64::from(max) {
            return Ok(ZoneAdded::TooMany);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO privacy_zones (athlete_id, lat, lng, radius_m, hidden_lat, hidden_lng, \
             hidden_radius_m, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(athlete.0)
        .bind(entered.lat)
        .bind(entered.lng)
        .bind(entered.radius_m)
        .bind(hidden.lat)
        .bind(hidden.lng)
        .bind(hidden.radius_m)
        .bind(now_ms)
        .fetch_one(&mut *tx)
        .await?;
        let last = privacy_changed(&mut tx, athlete, now_ms).await?;
        tx.commit().await?;
        self.announce(last);
        Ok(ZoneAdded::Added(id))
    }

    async fn delete_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM privacy_zones WHERE id = $1 AND athlete_id = $2")
            .bind(id)
            .bind(athlete.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Ok(false);
        }
        let last = privacy_changed(&mut tx, athlete, now_ms).await?;
        tx.commit().await?;
        self.announce(last);
        Ok(true)
    }

    async fn move_privacy_zone(
        &self,
        athlete: AthleteId,
        id: i64,
        entered: &ZoneInput,
        hidden: &HiddenCircle,
        now_ms: i64,
    ) -> StoreResult<Option<ZoneRow>> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "UPDATE privacy_zones SET lat = $3, lng = $4, radius_m = $5, hidden_lat = $6, \
             hidden_lng = $7, hidden_radius_m = $8 WHERE id = $1 AND athlete_id = $2 \
             RETURNING {ZONE_COLUMNS}"
        );
        let Some(row) = sqlx::query(&sql)
            .bind(id)
            .bind(athlete.0)
            .bind(entered.lat)
            .bind(entered.lng)
            .bind(entered.radius_m)
            .bind(hidden.lat)
            .bind(hidden.lng)
            .bind(hidden.radius_m)
            .fetch_optional(&mut *tx)
            .await?
        else {
            return Ok(None);
        };
        let moved = zone(&row)?;
        let last = privacy_changed(&mut tx, athlete, now_ms).await?;
        tx.commit().await?;
        self.announce(last);
        Ok(Some(moved))
    }

    async fn create_share(&self, new: &NewShare) -> StoreResult<ShareRow> {
        let sql = format!(
            "INSERT INTO share_links (athlete_id, activity_id, token_hash, created_ms, expires_ms) \
             VALUES ($1, $2, $3, $4, $5) RETURNING {SHARE_COLUMNS}"
        );
        let row = sqlx::query(&sql)
            .bind(new.athlete_id.0)
            .bind(new.activity_id.map(|a| a.0))
            .bind(&new.token_hash)
            .bind(new.now_ms)
            .bind(new.expires_ms)
            .fetch_one(self.pool())
            .await?;
        share(&row)
    }

    async fn open_shares(&self, athlete: AthleteId, now_ms: i64) -> StoreResult<Vec<ShareRow>> {
        let sql = format!(
            "SELECT {SHARE_COLUMNS} FROM share_links WHERE athlete_id = $1 AND revoked_ms IS NULL \
             AND expires_ms > $2 ORDER BY id DESC"
        );
        sqlx::query(&sql)
            .bind(athlete.0)
            .bind(now_ms)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(share)
            .collect()
    }

    async fn share_by_hash(&self, token_hash: &str) -> StoreResult<Option<ShareRow>> {
        let sql = format!("SELECT {SHARE_COLUMNS} FROM share_links WHERE token_hash = $1");
        sqlx::query(&sql)
            .bind(token_hash)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(share)
            .transpose()
    }

    async fn revoke_share(
        &self,
        athlete: AthleteId,
        id: i64,
        now_ms: i64,
    ) -> StoreResult<Option<ShareRow>> {
        let sql = format!(
            "UPDATE share_links SET revoked_ms = $3 WHERE id = $1 AND athlete_id = $2 \
             AND revoked_ms IS NULL AND expires_ms > $3 RETURNING {SHARE_COLUMNS}"
        );
        sqlx::query(&sql)
            .bind(id)
            .bind(athlete.0)
            .bind(now_ms)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(share)
            .transpose()
    }

    async fn activities_recorded_between(
        &self,
        athlete: AthleteId,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<ActivityId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM activities WHERE athlete_id = $1 AND start_ms <= $3 \
             AND (completed_ms IS NULL OR completed_ms >= $2) ORDER BY start_ms DESC, id DESC LIMIT 10",
        )
        .bind(athlete.0)
        .bind(from_ms)
        .bind(to_ms)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(ActivityId).collect())
    }
}
