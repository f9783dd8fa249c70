//! The OAuth apps' SQL, shared by both backends like `sql.rs` (compiled
//! once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;

use super::sql::SqlStore;
use crate::domain::AthleteId;
use crate::store::oauth::{
    ActivityDetails, ActivityPage, AppRow, AppTokenRow, CodeRow, NewApp, NewCode, NewTokenPair,
    OAuthStore, WeekTotal,
};
use crate::store::{ActivityRow, StoreError, StoreResult, StoredActivity};

/// Token pairs kept per (app, athlete): each code exchange adds one.
const MAX_PAIRS_PER_GRANT: i64 = 10;

const APP_COLUMNS: &str = "id, owner_id, name, website, redirect_uris, created_ms";

#[derive(sqlx::FromRow)]
struct StoredApp {
    id: i64,
    owner_id: i64,
    name: String,
    website: String,
    redirect_uris: String,
    created_ms: i64,
}

impl TryFrom<StoredApp> for AppRow {
    type Error = StoreError;

    fn try_from(a: StoredApp) -> StoreResult<AppRow> {
        let redirect_uris: Vec<String> = serde_json::from_str(&a.redirect_uris)
            .map_err(|e| StoreError::decode("redirect_uris", format!("app {}: {e}", a.id)))?;
        Ok(AppRow {
            id: a.id,
            owner: AthleteId(a.owner_id),
            name: a.name,
            website: a.website,
            redirect_uris,
            created_ms: a.created_ms,
        })
    }
}

#[derive(sqlx::FromRow)]
struct StoredToken {
    app_id: i64,
    athlete_id: i64,
    scope: String,
    access_expires_ms: i64,
}

impl From<StoredToken> for AppTokenRow {
    fn from(t: StoredToken) -> Self {
        AppTokenRow {
            app_id: t.app_id,
            athlete: AthleteId(t.athlete_id),
            scope: t.scope,
            access_expires_ms: t.access_expires_ms,
        }
    }
}

const ACTIVITY_SELECT: &str = "SELECT a.id, a.athlete_id, u.username AS athlete_username, \
     u.firstname AS athlete_firstname, u.lastname AS athlete_lastname, a.external_id, a.name, \
     a.sport_type, a.visibility, a.state, a.start_ms, a.completed_ms, a.status_log, a.distance, \
     a.moving_time, a.active_time, a.elapsed_time, a.total_elevation_gain, a.max_speed, \
     a.average_speed, a.elev_high, a.elev_low, a.splits, a.summary_polyline, a.point_count, \
     a.created_ms, a.updated_ms FROM activities a JOIN athletes u ON u.id = a.athlete_id";

#[async_trait]
impl OAuthStore for SqlStore {
    async fn create_app(&self, new: &NewApp, limit: u32) -> StoreResult<Option<AppRow>> {
        let uris = serde_json::to_string(&new.redirect_uris)
            .map_err(|e| StoreError::decode("redirect_uris", e))?;
        let sql = format!(
            "INSERT INTO oauth_apps (owner_id, name, website, redirect_uris, secret_hash, created_ms) \
             SELECT $1, $2, $3, $4, $5, $6 \
             WHERE (SELECT COUNT(*) FROM oauth_apps WHERE owner_id = $1) < $7 \
             RETURNING {APP_COLUMNS}"
        );
        let row: Option<StoredApp> = sqlx::query_as(&sql)
            .bind(new.owner.0)
            .bind(&new.name)
            .bind(&new.website)
            .bind(uris)
            .bind(&new.secret_hash)
            .bind(new.now_ms)
            .bind(i64::from(limit))
            .fetch_optional(self.pool())
            .await?;
        row.map(AppRow::try_from).transpose()
    }

    async fn apps_of(&self, owner: AthleteId) -> StoreResult<Vec<AppRow>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE owner_id = $1 ORDER BY id");
        let rows: Vec<StoredApp> = sqlx::query_as(&sql)
            .bind(owner.0)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(AppRow::try_from).collect()
    }

    async fn app(&self, id: i64) -> StoreResult<Option<(AppRow, String)>> {
        let sql = format!("SELECT {APP_COLUMNS} FROM oauth_apps WHERE id = $1");
        let row: Option<StoredApp> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let secret: String = sqlx::query_scalar("SELECT secret_hash FROM oauth_apps WHERE id = $1")
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(Some((AppRow::try_from(row)?, secret)))
    }

    async fn delete_app(&self, owner: AthleteId, id: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let found: Option<i64> =
            sqlx::query_scalar("SELECT id FROM oauth_apps WHERE id = $1 AND owner_id = $2")
                .bind(id)
                .bind(owner.0)
                .fetch_optional(&mut *tx)
                .await?;
        if found.is_none() {
            return Ok(false);
        }
        // Children first: SQLite enforces the cascades too, but explicit
        // deletes keep both backends alike.
        for sql in [
            "DELETE FROM webhook_deliveries WHERE subscription_id IN \
             (SELECT id FROM push_subscriptions WHERE app_id = $1)",
            "DELETE FROM push_subscriptions WHERE app_id = $1",
            "DELETE FROM oauth_tokens WHERE app_id = $1",
            "DELETE FROM oauth_codes WHERE app_id = $1",
            "DELETE FROM oauth_grants WHERE app_id = $1",
            "DELETE FROM oauth_apps WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn insert_code(&self, code: &NewCode) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO oauth_codes (code_hash, app_id, athlete_id, scope, redirect_uri, expires_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&code.code_hash)
        .bind(code.app_id)
        .bind(code.athlete.0)
        .bind(&code.scope)
        .bind(&code.redirect_uri)
        .bind(code.expires_ms)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    async fn take_code(&self, code_hash: &str, now_ms: i64) -> StoreResult<Option<CodeRow>> {
        let mut tx = self.begin_write().await?;
        let row: Option<(i64, i64, String, String, i64)> = sqlx::query_as(
            "DELETE FROM oauth_codes WHERE code_hash = $1 \
             RETURNING app_id, athlete_id, scope, redirect_uri, expires_ms",
        )
        .bind(code_hash)
        .fetch_optional(&mut *tx)
        .await?;
        // Expired codes found on the way go too.
        sqlx::query("DELETE FROM oauth_codes WHERE expires_ms <= $1")
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row
            .filter(|r| r.4 > now_ms)
            .map(|(app_id, athlete, scope, redirect_uri, _)| CodeRow {
                app_id,
                athlete: AthleteId(athlete),
                scope,
                redirect_uri,
            }))
    }

    async fn grant_tokens(&self, code: &CodeRow, pair: &NewTokenPair) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO oauth_grants (app_id, athlete_id, scope, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $4) ON CONFLICT (app_id, athlete_id) DO UPDATE SET \
             scope = excluded.scope, updated_ms = excluded.updated_ms",
        )
        .bind(code.app_id)
        .bind(code.athlete.0)
        .bind(&code.scope)
        .bind(pair.now_ms)
        .execute(&mut *tx)
        .await?;
        // Tokens of an earlier, narrower grant would outlive its scope.
        sqlx::query(
            "DELETE FROM oauth_tokens WHERE app_id = $1 AND athlete_id = $2 AND scope <> $3",
        )
        .bind(code.app_id)
        .bind(code.athlete.0)
        .bind(&code.scope)
        .execute(&mut *tx)
        .await?;
        // At most MAX_PAIRS_PER_GRANT live pairs: the oldest go.
        sqlx::query(
            "DELETE FROM oauth_tokens WHERE app_id = $1 AND athlete_id = $2 AND id NOT IN \
             (SELECT id FROM oauth_tokens WHERE app_id = $1 AND athlete_id = $2 \
             ORDER BY id DESC LIMIT $3)",
        )
        .bind(code.app_id)
        .bind(code.athlete.0)
        .bind(MAX_PAIRS_PER_GRANT - 1)
        .execute(&mut *tx)
        .await?;
        insert_pair(&mut tx, code.app_id, code.athlete, &code.scope, pair).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn refresh_tokens(
        &self,
        app_id: i64,
        refresh_hash: &str,
        pair: &NewTokenPair,
    ) -> StoreResult<Option<AppTokenRow>> {
        let mut tx = self.begin_write().await?;
        // The refresh token is spent, but its access token keeps working
        // until it expires (Strava's clients may still hold it); a spent
        // mark can never equal a presented token's digest.
        let old: Option<StoredToken> = sqlx::query_as(
            "UPDATE oauth_tokens SET refresh_hash = 'spent:' || access_hash \
             WHERE refresh_hash = $1 AND app_id = $2 \
             RETURNING app_id, athlete_id, scope, access_expires_ms",
        )
        .bind(refresh_hash)
        .bind(app_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(old) = old else {
            return Ok(None);
        };
        let athlete = AthleteId(old.athlete_id);
        sqlx::query(
            "DELETE FROM oauth_tokens WHERE app_id = $1 AND athlete_id = $2 \
             AND refresh_hash LIKE 'spent:%' AND access_expires_ms <= $3",
        )
        .bind(app_id)
        .bind(athlete.0)
        .bind(pair.now_ms)
        .execute(&mut *tx)
        .await?;
        insert_pair(&mut tx, app_id, athlete, &old.scope, pair).await?;
        tx.commit().await?;
        Ok(Some(AppTokenRow {
            app_id,
            athlete,
            scope: old.scope,
            access_expires_ms: pair.access_expires_ms,
        }))
    }

    async fn app_token(&self, access_hash: &str) -> StoreResult<Option<AppTokenRow>> {
        let row: Option<StoredToken> = sqlx::query_as(
            "SELECT app_id, athlete_id, scope, access_expires_ms FROM oauth_tokens \
             WHERE access_hash = $1",
        )
        .bind(access_hash)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(AppTokenRow::from))
    }

    async fn deauthorize(&self, app_id: i64, athlete: AthleteId, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let gone = sqlx::query("DELETE FROM oauth_grants WHERE app_id = $1 AND athlete_id = $2")
            .bind(app_id)
            .bind(athlete.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        for sql in [
            "DELETE FROM oauth_tokens WHERE app_id = $1 AND athlete_id = $2",
            "DELETE FROM oauth_codes WHERE app_id = $1 AND athlete_id = $2",
        ] {
            sqlx::query(sql)
                .bind(app_id)
                .bind(athlete.0)
                .execute(&mut *tx)
                .await?;
        }
        if gone > 0 {
            let sub: Option<i64> =
                sqlx::query_scalar("SELECT id FROM push_subscriptions WHERE app_id = $1")
                    .bind(app_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(sub) = sub {
                let body = crate::webhooks::event_body(
                    "athlete",
                    athlete.0,
                    "update",
                    serde_json::json!({"authorized": "false"}),
                    athlete.0,
                    sub,
                    now_ms,
                );
                sqlx::query(
                    "INSERT INTO webhook_deliveries (subscription_id, object_type, object_id, \
                     body, next_attempt_ms, created_ms) VALUES ($1, 'athlete', $2, $3, $4, $4)",
                )
                .bind(sub)
                .bind(athlete.0)
                .bind(body)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(gone > 0)
    }

    async fn athlete_activities(&self, page: &ActivityPage) -> StoreResult<Vec<ActivityRow>> {
        let ascending = page.after_ms.is_some() && page.before_ms.is_none();
        let order = if ascending {
            "ORDER BY a.start_ms ASC, a.id ASC"
        } else {
            "ORDER BY a.start_ms DESC, a.id DESC"
        };
        let private = if page.include_only_me {
            ""
        } else {
            " AND a.visibility <> 'only_me'"
        };
        let sql = format!(
            "{ACTIVITY_SELECT} WHERE a.state = 'COMPLETE' AND a.athlete_id = $1 \
             AND a.start_ms < $2 AND a.start_ms > $3{private} {order} LIMIT $4 OFFSET $5"
        );
        let rows: Vec<StoredActivity> = sqlx::query_as(&sql)
            .bind(page.athlete.0)
            .bind(page.before_ms.unwrap_or(i64::MAX))
            .bind(page.after_ms.unwrap_or(i64::MIN))
            .bind(i64::from(page.limit))
            .bind(i64::from(page.offset))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(StoredActivity::decode).collect()
    }

    async fn week_totals(&self, athlete: AthleteId) -> StoreResult<Vec<WeekTotal>> {
        let rows: Vec<(i64, String, i64, f64, i64, f64)> = sqlx::query_as(
            "SELECT week_start_ms, sport_type, activities, CAST(distance AS DOUBLE PRECISION), \
             moving_time, CAST(elevation_gain AS DOUBLE PRECISION) FROM athlete_week_totals \
             WHERE athlete_id = $1 ORDER BY week_start_ms",
        )
        .bind(athlete.0)
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(week_start_ms, sport_type, activities, distance, moving_time, elevation_gain)| {
                    WeekTotal {
                        week_start_ms,
                        sport_type,
                        activities,
                        distance,
                        moving_time,
                        elevation_gain,
                    }
                },
            )
            .collect())
    }

    async fn biggest_ride(&self, athlete: AthleteId) -> StoreResult<(Option<f64>, Option<f64>)> {
        Ok(sqlx::query_as(
            "SELECT CAST(MAX(distance) AS DOUBLE PRECISION), \
             CAST(MAX(total_elevation_gain) AS DOUBLE PRECISION) FROM activities \
             WHERE athlete_id = $1 AND state = 'COMPLETE' AND sport_type = 'Ride'",
        )
        .bind(athlete.0)
        .fetch_one(self.pool())
        .await?)
    }

    async fn activity_details(&self, id: i64) -> StoreResult<Option<ActivityDetails>> {
        let row: Option<(Option<String>, bool, bool)> = sqlx::query_as(
            "SELECT description, trainer, commute FROM activity_details WHERE activity_id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(description, trainer, commute)| ActivityDetails {
            description,
            trainer,
            commute,
        }))
    }

    async fn activity_flags(&self, ids: &[i64]) -> StoreResult<Vec<(i64, bool, bool)>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT activity_id, trainer, commute FROM activity_details \
             WHERE activity_id IN ({})",
            marks.join(", ")
        );
        let mut query = sqlx::query_as(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        Ok(query.fetch_all(self.pool()).await?)
    }

    async fn set_activity_details(&self, id: i64, details: &ActivityDetails) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO activity_details (activity_id, description, trainer, commute) \
             VALUES ($1, $2, $3, $4) ON CONFLICT (activity_id) DO UPDATE SET \
             description = excluded.description, trainer = excluded.trainer, \
             commute = excluded.commute",
        )
        .bind(id)
        .bind(details.description.as_deref())
        .bind(details.trainer)
        .bind(details.commute)
        .execute(self.pool())
        .await?;
        Ok(())
    }
}

async fn insert_pair(
    tx: &mut sqlx::Transaction<'static, super::Db>,
    app_id: i64,
    athlete: AthleteId,
    scope: &str,
    pair: &NewTokenPair,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO oauth_tokens (access_hash, refresh_hash, app_id, athlete_id, scope, \
         access_expires_ms, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&pair.access_hash)
    .bind(&pair.refresh_hash)
    .bind(app_id)
    .bind(athlete.0)
    .bind(scope)
    .bind(pair.access_expires_ms)
    .bind(pair.now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
