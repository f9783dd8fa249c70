//! The best efforts store's SQL, shared by both backends like `sql.rs`
//! (compiled once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;

use super::changes_sql::visibility;
use super::sql::SqlStore;
use super::Db;
use crate::domain::athlete::{ProfileUpdate, Sex};
use crate::domain::best_efforts::DistanceKey;
use crate::domain::{ActivityId, AthleteId, Sport};
use crate::store::best_efforts::{
    queue_athlete, BestEffortRow, BestEffortStore, BoardAthlete, BoardEffort,
};
use crate::store::changes::{Arg, Statement};
use crate::store::{AthleteRow, StoreError, StoreResult};

const ATHLETE_COLUMNS: &str = "id, username, firstname, lastname, sex, birth_year, weight_kg, \
                               country, state, city, created_ms, updated_ms";
const BOARD_ATHLETE_COLUMNS: &str =
    "id, username, firstname, lastname, sex, birth_year, country, state, city";
const BOARD_EFFORT_COLUMNS: &str = "e.id, e.activity_id, e.athlete_id, e.sport, e.distance_key, \
     e.elapsed_ms, e.moving_ms, e.start_ms, a.visibility";

fn sport(stored: &str) -> StoreResult<Sport> {
    Sport::parse(stored).map_err(|e| StoreError::decode("sport", format!("{stored:?}: {e}")))
}

fn distance(stored: &str) -> StoreResult<DistanceKey> {
    DistanceKey::from_stored(stored)
        .ok_or_else(|| StoreError::decode("distance_key", format!("{stored:?}")))
}

fn board_athlete(row: &<Db as sqlx::Database>::Row) -> StoreResult<BoardAthlete> {
    let sex: Option<String> = row.try_get("sex")?;
    let sex = Sex::parse_optional(sex.as_deref())
        .map_err(|e| StoreError::decode("sex", format!("{sex:?}: {e}")))?;
    let birth_year: Option<i64> = row.try_get("birth_year")?;
    Ok(BoardAthlete {
        id: AthleteId(row.try_get("id")?),
        username: row.try_get("username")?,
        firstname: row.try_get("firstname")?,
        lastname: row.try_get("lastname")?,
        sex,
        birth_year: birth_year.and_then(|y| i32::try_from(y).ok()),
        country: row.try_get("country")?,
        state: row.try_get("state")?,
        city: row.try_get("city")?,
    })
}

fn board_effort(row: &<Db as sqlx::Database>::Row) -> StoreResult<(i64, BoardEffort)> {
    let s: String = row.try_get("sport")?;
    let d: String = row.try_get("distance_key")?;
    let v: String = row.try_get("visibility")?;
    Ok((
        row.try_get("id")?,
        BoardEffort {
            activity_id: ActivityId(row.try_get("activity_id")?),
            athlete_id: AthleteId(row.try_get("athlete_id")?),
            sport: sport(&s)?,
            distance: distance(&d)?,
            elapsed_ms: row.try_get("elapsed_ms")?,
            moving_ms: row.try_get("moving_ms")?,
            start_ms: row.try_get("start_ms")?,
            visibility: visibility(&v)?,
        },
    ))
}

#[async_trait]
impl BestEffortStore for SqlStore {
    async fn update_profile(
        &self,
        athlete: AthleteId,
        update: &ProfileUpdate,
        now_ms: i64,
    ) -> StoreResult<Option<AthleteRow>> {
        let mut tx = self.begin_write().await?;
        let mut q = sqlx::QueryBuilder::<Db>::new("UPDATE athletes SET updated_ms = ");
        q.push_bind(now_ms);
        if let Some(v) = &update.firstname {
            q.push(", firstname = ").push_bind(v.clone());
        }
        if let Some(v) = &update.lastname {
            q.push(", lastname = ").push_bind(v.clone());
        }
        if let Some(v) = update.sex {
            q.push(", sex = ")
                .push_bind(v.map(|s| s.as_str().to_string()));
        }
        if let Some(v) = update.birth_year {
            q.push(", birth_year = ").push_bind(v.map(i64::from));
        }
        if let Some(v) = update.weight_kg {
            q.push(", weight_kg = ").push_bind(v);
        }
        for (column, value) in [
            ("country", &update.country),
            ("state", &update.state),
            ("city", &update.city),
        ] {
            if let Some(v) = value {
                q.push(format_args!(", {column} = ")).push_bind(v.clone());
            }
        }
        q.push(" WHERE id = ").push_bind(athlete.0);
        q.push(format_args!(" RETURNING {ATHLETE_COLUMNS}"));
        let Some(row) = q
            .build_query_as::<AthleteRow>()
            .fetch_optional(&mut *tx)
            .await?
        else {
            tx.rollback().await?;
            return Ok(None);
        };
        for s in queue_athlete(athlete, now_ms) {
            let mut query = sqlx::query(&s.sql);
            for arg in &s.args {
                query = match arg {
                    Arg::Int(v) => query.bind(*v),
                    Arg::Real(v) => query.bind(*v),
                    Arg::Text(v) => query.bind(v.as_str()),
                    Arg::Null => query.bind(Option::<i64>::None),
                };
            }
            query.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(Some(row))
    }

    async fn activity_best_efforts(&self, activity: ActivityId) -> StoreResult<Vec<BestEffortRow>> {
        let rows = sqlx::query(
            "SELECT e.id, e.activity_id, e.athlete_id, e.sport, e.distance_key, e.elapsed_ms, \
             e.moving_ms, e.start_ms, e.start_index, e.end_index, \
             (SELECT COUNT(*) FROM best_efforts o WHERE o.athlete_id = e.athlete_id \
              AND o.sport = e.sport AND o.distance_key = e.distance_key \
              AND o.elapsed_ms < e.elapsed_ms AND o.start_ms < e.start_ms) AS faster_before \
             FROM best_efforts e WHERE e.activity_id = $1 ORDER BY e.distance",
        )
        .bind(activity.0)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|row| {
                let s: String = row.try_get("sport")?;
                let d: String = row.try_get("distance_key")?;
                let faster: i64 = row.try_get("faster_before")?;
                Ok(BestEffortRow {
                    id: row.try_get("id")?,
                    activity_id: ActivityId(row.try_get("activity_id")?),
                    athlete_id: AthleteId(row.try_get("athlete_id")?),
                    sport: sport(&s)?,
                    distance: distance(&d)?,
                    elapsed_ms: row.try_get("elapsed_ms")?,
                    moving_ms: row.try_get("moving_ms")?,
                    start_ms: row.try_get("start_ms")?,
                    start_index: row.try_get("start_index")?,
                    end_index: row.try_get("end_index")?,
                    pr_rank: (faster < 3).then_some(faster + 1),
                })
            })
            .collect()
    }

    async fn athlete_board_efforts(&self, athlete: AthleteId) -> StoreResult<Vec<BoardEffort>> {
        let sql = format!(
            "SELECT {BOARD_EFFORT_COLUMNS} FROM best_efforts e \
             JOIN activities a ON a.id = e.activity_id \
             WHERE e.athlete_id = $1 AND a.visibility <> 'only_me'"
        );
        sqlx::query(&sql)
            .bind(athlete.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| board_effort(r).map(|(_, e)| e))
            .collect()
    }

    async fn board_athlete(&self, athlete: AthleteId) -> StoreResult<Option<BoardAthlete>> {
        let sql = format!("SELECT {BOARD_ATHLETE_COLUMNS} FROM athletes WHERE id = $1");
        sqlx::query(&sql)
            .bind(athlete.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(board_athlete)
            .transpose()
    }

    async fn board_athletes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<BoardAthlete>> {
        let sql = format!(
            "SELECT {BOARD_ATHLETE_COLUMNS} FROM athletes WHERE id > $1 ORDER BY id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(board_athlete)
            .collect()
    }

    async fn best_board_efforts_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, BoardEffort)>> {
        let sql = format!(
            "SELECT {BOARD_EFFORT_COLUMNS} FROM best_efforts e \
             JOIN activities a ON a.id = e.activity_id \
             WHERE e.id > $1 AND a.visibility <> 'only_me' ORDER BY e.id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(board_effort)
            .collect()
    }

    async fn board_changes_after(
        &self,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<(i64, AthleteId)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT seq, athlete_id FROM best_effort_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows.into_iter().map(|(s, a)| (s, AthleteId(a))).collect())
    }

    async fn board_change_head(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM best_effort_seq WHERE id = 1")
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn board_change_tail(&self) -> StoreResult<i64> {
        let min: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM best_effort_changes")
            .fetch_one(self.pool())
            .await?;
        match min {
            Some(seq) => Ok(seq),
            None => Ok(self.board_change_head().await? + 1),
        }
    }

    async fn prune_board_changes(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(
            sqlx::query("DELETE FROM best_effort_changes WHERE at_ms < $1")
                .bind(before_ms)
                .execute(self.pool())
                .await?
                .rows_affected(),
        )
    }

    async fn effort_backfill_position(&self) -> StoreResult<Option<(i64, i64)>> {
        Ok(sqlx::query_as::<_, (i64, i64)>(
            "SELECT after_id, upto_id FROM best_effort_backfill WHERE id = 1",
        )
        .fetch_optional(self.pool())
        .await?)
    }

    async fn effort_backfill_candidates(
        &self,
        after: i64,
        upto: i64,
        limit: u32,
    ) -> StoreResult<Vec<(ActivityId, AthleteId, i64)>> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT a.id, a.athlete_id, a.version FROM activities a \
             WHERE a.id > $1 AND a.id <= $2 AND a.state = 'COMPLETE' \
             AND NOT EXISTS (SELECT 1 FROM best_efforts e WHERE e.activity_id = a.id) \
             ORDER BY a.id LIMIT $3",
        )
        .bind(after)
        .bind(upto)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, athlete, version)| (ActivityId(id), AthleteId(athlete), version))
            .collect())
    }

    async fn commit_effort_backfill(
        &self,
        from: i64,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<bool> {
        let marker = Statement::new(
            "UPDATE best_effort_backfill SET after_id = $2, updated_ms = $3 \
             WHERE id = 1 AND after_id = $1",
        )
        .int(from)
        .int(to)
        .int(now_ms);
        self.commit_after_marker(&marker, effects).await
    }
}
