//! The SQL shared by both backends. This file is compiled once per backend
//! (see `postgres.rs` and `sqlite.rs`), with `super::Db` naming the driver.
//! Keep to SQL both accept: `$n` parameters, `CAST`, row values, `RETURNING`.

use async_trait::async_trait;
use sqlx::{Pool, Row};

use super::changes_sql::{append, next_version};
use super::{Db, BACKEND};
use crate::changes::event::{ChangeKind, Changed, NewChange};
use crate::domain::activity::ActivityState;
use crate::domain::feed::{FeedCursor, FeedMode};
use crate::domain::search::AthleteSearch;
use crate::domain::{ActivityId, AthleteId, Fix};
use crate::store::{
    encode_splits, route_codec, ActivityEdit, ActivityProgress, ActivityRow, AthleteMatch,
    AthleteRow, FriendOutcome, ImportedActivity, NewActivityRow, NewAthleteRow, NewUploadRow,
    ProvisionBatch, Provisioned, RouteChunk, Store, StoreError, StoreResult, StoredActivity,
    UploadRow,
};

macro_rules! athlete_select {
    () => {
        "SELECT id, username, firstname, lastname, sex, birth_year, weight_kg, country, state, city, \
         created_ms, updated_ms FROM athletes"
    };
}

macro_rules! activity_select {
    () => {
        "SELECT a.id, a.athlete_id, u.username AS athlete_username, u.firstname AS athlete_firstname, \
         u.lastname AS athlete_lastname, a.external_id, a.name, a.sport_type, a.visibility, a.state, \
         a.start_ms, a.completed_ms, a.status_log, a.distance, a.moving_time, a.active_time, \
         a.elapsed_time, a.total_elevation_gain, a.max_speed, a.average_speed, a.elev_high, a.elev_low, \
         a.splits, a.summary_polyline, a.point_count, a.created_ms, a.updated_ms \
         FROM activities a JOIN athletes u ON u.id = a.athlete_id"
    };
}

/// Friends of `$1`: both directed edges exist.
macro_rules! friend_ids_of_1 {
    () => {
        "SELECT f1.to_id FROM friend_edges f1 JOIN friend_edges f2 \
         ON f2.from_id = f1.to_id AND f2.to_id = f1.from_id WHERE f1.from_id = $1"
    };
}

/// Rows per multi-row INSERT when provisioning: below both backends'
/// limits on bound parameters.
const PROVISION_ROWS_PER_INSERT: usize = 1_000;

/// Route chunks hold at most this many fixes, so rows stay small.
const MAX_FIXES_PER_CHUNK: usize = 5_000;

pub struct SqlStore {
    pool: Pool<Db>,
    /// What write transactions begin on (SQLite: one fair connection).
    writer: Pool<Db>,
    /// The highest change-log seq committed by this node (wakes consumers).
    changes: tokio::sync::watch::Sender<i64>,
}

impl SqlStore {
    pub fn new(pool: Pool<Db>) -> Self {
        SqlStore {
            writer: super::writer_pool(&pool),
            pool,
            changes: tokio::sync::watch::Sender::new(0),
        }
    }

    pub fn pool(&self) -> &Pool<Db> {
        &self.pool
    }

    /// A write transaction (SQLite: taking the write lock up front).
    pub async fn begin_write(&self) -> Result<sqlx::Transaction<'static, Db>, sqlx::Error> {
        super::begin_write(&self.writer).await
    }

    /// One attempt at `import_activity`; `Conflict` when a concurrent
    /// upload of the same activity committed first.
    async fn try_import(
        &self,
        upload: &NewUploadRow,
        imported: &ImportedActivity,
    ) -> StoreResult<UploadRow> {
        let new = &imported.activity;
        let mut tx = self.begin_write().await?;
        if let Some(existing) = find_duplicate(&mut tx, new).await? {
            let error = format!("duplicate of activity {existing}");
            let row = insert_upload(&mut tx, upload, Some(&error), None).await?;
            tx.commit().await?;
            return Ok(row);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO activities (athlete_id, external_id, name, sport_type, visibility, state, \
             start_ms, status_log, created_ms, updated_ms, import_key, version) \
             VALUES ($1, $2, $3, $4, $5, 'COMPLETE', $6, $7, $8, $8, $9, 1) RETURNING id",
        )
        .bind(new.athlete_id.0)
        .bind(&new.external_id)
        .bind(&new.name)
        .bind(new.sport_type.as_str())
        .bind(new.visibility.as_str())
        .bind(new.start_ms)
        .bind(new.status_log.to_json())
        .bind(new.now_ms)
        .bind(import_key(new))
        .fetch_one(&mut *tx)
        .await?;
        let progress = ActivityProgress {
            id: ActivityId(id),
            ..imported.progress.clone()
        };
        write_progress(&mut tx, &progress).await?;
        insert_chunks(&mut tx, &route_rows(progress.id, &imported.route)).await?;
        let row = insert_upload(&mut tx, upload, None, Some(id)).await?;
        let change = created_change(
            id,
            new,
            ChangeKind::Created,
            Changed::new_activity() | Changed::ROUTE | Changed::STATS,
        )?;
        let last_seq = append(&mut tx, &[change]).await?;
        tx.commit().await?;
        self.announce(last_seq);
        Ok(row)
    }

    pub(super) fn changes(&self) -> &tokio::sync::watch::Sender<i64> {
        &self.changes
    }
}

/// What makes two uploads the same activity when neither names an
/// external id: the sport and the start (unique per athlete).
fn import_key(new: &NewActivityRow) -> String {
    format!("{}@{}", new.sport_type.as_str(), new.start_ms)
}

/// The change log entry of a just-inserted activity (version 1).
fn created_change(
    id: i64,
    new: &NewActivityRow,
    kind: ChangeKind,
    changed: Changed,
) -> StoreResult<NewChange> {
    Ok(NewChange {
        activity_id: ActivityId(id),
        athlete_id: new.athlete_id,
        version: 1,
        kind,
        changed,
        visibility: new.visibility,
        at_ms: new.now_ms,
    })
}

async fn write_progress(
    tx: &mut sqlx::Transaction<'_, Db>,
    p: &ActivityProgress,
) -> StoreResult<()> {
    let t = &p.totals;
    sqlx::query(
        "UPDATE activities SET state = $2, completed_ms = $3, status_log = $4, distance = $5, \
         moving_time = $6, active_time = $7, elapsed_time = $8, total_elevation_gain = $9, \
         max_speed = $10, average_speed = $11, elev_high = $12, elev_low = $13, splits = $14, \
         summary_polyline = $15, point_count = $16, updated_ms = $17, start_ms = $18 WHERE id = $1",
    )
    .bind(p.id.0)
    .bind(p.status_log.state().as_str())
    .bind(p.status_log.completed_ms())
    .bind(p.status_log.to_json())
    .bind(t.distance)
    .bind(t.moving_time)
    .bind(t.active_time)
    .bind(t.elapsed_time)
    .bind(t.total_elevation_gain)
    .bind(t.max_speed)
    .bind(t.average_speed)
    .bind(t.elev_high)
    .bind(t.elev_low)
    .bind(encode_splits(&p.splits)?)
    .bind(&p.summary_polyline)
    .bind(t.point_count)
    .bind(p.now_ms)
    .bind(p.status_log.start_ms())
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn decode_all(rows: Vec<StoredActivity>) -> StoreResult<Vec<ActivityRow>> {
    rows.into_iter().map(StoredActivity::decode).collect()
}

/// A whole route as chunk rows of at most `MAX_FIXES_PER_CHUNK` fixes.
fn route_rows(id: ActivityId, route: &[Fix]) -> Vec<(ActivityId, i64, &[Fix])> {
    route
        .chunks(MAX_FIXES_PER_CHUNK)
        .enumerate()
        .map(|(seq, fixes)| (id, seq as i64, fixes))
        .collect()
}

fn parse_state(stored: &str) -> StoreResult<ActivityState> {
    ActivityState::parse(stored)
        .map_err(|e| StoreError::decode("state", format!("{stored:?}: {e}")))
}

/// The stored states of the activities in `progress` (absent: deleted).
async fn stored_states(
    tx: &mut sqlx::Transaction<'_, Db>,
    progress: &[ActivityProgress],
) -> StoreResult<std::collections::HashMap<ActivityId, ActivityState>> {
    let mut states = std::collections::HashMap::with_capacity(progress.len());
    for group in progress.chunks(PROVISION_ROWS_PER_INSERT) {
        let mut select =
            sqlx::QueryBuilder::<Db>::new("SELECT id, state FROM activities WHERE id IN (");
        let mut ids = select.separated(", ");
        for p in group {
            ids.push_bind(p.id.0);
        }
        select.push(")");
        for row in select.build().fetch_all(&mut **tx).await? {
            let state: String = row.try_get(1)?;
            states.insert(ActivityId(row.try_get(0)?), parse_state(&state)?);
        }
    }
    Ok(states)
}

/// Chunks inserted per statement: a live node checkpoints tens of
/// thousands of small chunks a second, and one statement per row would
/// cost a round trip each.
const CHUNKS_PER_INSERT: usize = 500;

/// Inserts route chunks given as (activity, seq, fixes).
async fn insert_chunks(
    tx: &mut sqlx::Transaction<'_, Db>,
    chunks: &[(ActivityId, i64, &[Fix])],
) -> StoreResult<()> {
    for group in chunks.chunks(CHUNKS_PER_INSERT) {
        let encoded = group
            .iter()
            .map(|(_, _, fixes)| route_codec::encode(fixes))
            .collect::<StoreResult<Vec<_>>>()?;
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO route_chunks (activity_id, seq, point_count, data) ",
        );
        insert.push_values(
            group.iter().zip(encoded),
            |mut row, ((id, seq, fixes), data)| {
                row.push_bind(id.0)
                    .push_bind(*seq)
                    .push_bind(fixes.len() as i64)
                    .push_bind(data);
            },
        );
        // A retried checkpoint writes the same chunk again: keep the first.
        insert.push(" ON CONFLICT (activity_id, seq) DO NOTHING");
        insert.build().execute(&mut **tx).await?;
    }
    Ok(())
}

const UPLOAD_COLUMNS: &str =
    "id, athlete_id, external_id, data_type, error, activity_id, created_ms";

async fn insert_upload(
    tx: &mut sqlx::Transaction<'_, Db>,
    upload: &NewUploadRow,
    error: Option<&str>,
    activity_id: Option<i64>,
) -> StoreResult<UploadRow> {
    let sql = format!(
        "INSERT INTO uploads (athlete_id, external_id, data_type, error, activity_id, created_ms) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {UPLOAD_COLUMNS}"
    );
    Ok(sqlx::query_as::<_, UploadRow>(&sql)
        .bind(upload.athlete_id.0)
        .bind(&upload.external_id)
        .bind(&upload.data_type)
        .bind(error)
        .bind(activity_id)
        .bind(upload.now_ms)
        .fetch_one(&mut **tx)
        .await?)
}

/// The athlete's activity that this one duplicates: same external id, or
/// the same sport started within the same second.
async fn find_duplicate(
    tx: &mut sqlx::Transaction<'_, Db>,
    new: &NewActivityRow,
) -> StoreResult<Option<i64>> {
    if let Some(external_id) = &new.external_id {
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM activities WHERE athlete_id = $1 AND external_id = $2",
        )
        .bind(new.athlete_id.0)
        .bind(external_id)
        .fetch_optional(&mut **tx)
        .await?;
        if id.is_some() {
            return Ok(id);
        }
    }
    Ok(sqlx::query_scalar(
        "SELECT id FROM activities WHERE athlete_id = $1 AND start_ms > $2 AND start_ms < $3 \
         AND sport_type = $4 ORDER BY id LIMIT 1",
    )
    .bind(new.athlete_id.0)
    .bind(new.start_ms - 1_000)
    .bind(new.start_ms + 1_000)
    .bind(new.sport_type.as_str())
    .fetch_optional(&mut **tx)
    .await?)
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        BACKEND
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn close(&self) -> StoreResult<()> {
        self.writer.close().await;
        self.pool.close().await;
        Ok(())
    }

    async fn create_athlete(&self, new: &NewAthleteRow) -> StoreResult<AthleteRow> {
        let row = sqlx::query_as::<_, AthleteRow>(concat!(
            "INSERT INTO athletes (username, password_hash, firstname, lastname, sex, birth_year, \
             weight_kg, country, state, city, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) RETURNING ",
            "id, username, firstname, lastname, sex, birth_year, weight_kg, country, state, city, \
             created_ms, updated_ms"
        ))
        .bind(&new.username)
        .bind(&new.password_hash)
        .bind(&new.firstname)
        .bind(&new.lastname)
        .bind(&new.sex)
        .bind(new.birth_year)
        .bind(new.weight_kg)
        .bind(&new.country)
        .bind(&new.state)
        .bind(&new.city)
        .bind(new.now_ms)
        .fetch_one(&self.pool)
        .await?;
        Ok(row)
    }

    async fn athlete(&self, id: AthleteId) -> StoreResult<Option<AthleteRow>> {
        Ok(sqlx::query_as(concat!(athlete_select!(), " WHERE id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn credentials(&self, username: &str) -> StoreResult<Option<(AthleteRow, String)>> {
        let Some(row) = sqlx::query(
            "SELECT id, username, firstname, lastname, sex, birth_year, weight_kg, country, state, \
             city, created_ms, updated_ms, password_hash FROM athletes WHERE username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let hash: String = row.try_get("password_hash")?;
        let athlete = <AthleteRow as sqlx::FromRow<_>>::from_row(&row)?;
        Ok(Some((athlete, hash)))
    }

    async fn insert_token(
        &self,
        token_hash: &str,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_tokens (token_hash, athlete_id, created_ms) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(athlete.0)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn token_owner(&self, token_hash: &str) -> StoreResult<Option<(AthleteId, i64)>> {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "SELECT athlete_id, COALESCE(used_ms, created_ms) FROM access_tokens \
             WHERE token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, used_ms)| (AthleteId(id), used_ms)))
    }

    async fn purge_expired_tokens(&self, athlete: AthleteId, before_ms: i64) -> StoreResult<()> {
        sqlx::query(
            "DELETE FROM access_tokens WHERE athlete_id = $1 \
             AND COALESCE(used_ms, created_ms) <= $2",
        )
        .bind(athlete.0)
        .bind(before_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn touch_token(&self, token_hash: &str, now_ms: i64) -> StoreResult<()> {
        sqlx::query("UPDATE access_tokens SET used_ms = $2 WHERE token_hash = $1")
            .bind(token_hash)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn revoke_token(&self, token_hash: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM access_tokens WHERE token_hash = $1")
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn request_friend(
        &self,
        from: AthleteId,
        to: AthleteId,
        now_ms: i64,
    ) -> StoreResult<FriendOutcome> {
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO friend_edges (from_id, to_id, created_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (from_id, to_id) DO NOTHING",
        )
        .bind(from.0)
        .bind(to.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        let reverse: Option<i64> = sqlx::query_scalar(
            "SELECT from_id FROM friend_edges WHERE from_id = $1 AND to_id = $2",
        )
        .bind(to.0)
        .bind(from.0)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(match (inserted, reverse.is_some()) {
            (true, true) => FriendOutcome::Accepted,
            (true, false) => FriendOutcome::Requested,
            (false, true) => FriendOutcome::AlreadyFriends,
            (false, false) => FriendOutcome::AlreadyRequested,
        })
    }

    async fn friends(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>> {
        Ok(sqlx::query_as(concat!(
            athlete_select!(),
            " WHERE id IN (",
            friend_ids_of_1!(),
            ") ORDER BY username"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn incoming_friend_requests(&self, id: AthleteId) -> StoreResult<Vec<AthleteRow>> {
        Ok(sqlx::query_as(concat!(
            athlete_select!(),
            " WHERE id IN (SELECT r.from_id FROM friend_edges r WHERE r.to_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM friend_edges b WHERE b.from_id = $1 AND b.to_id = r.from_id)) \
             ORDER BY username"
        ))
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn remove_friend(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool> {
        let removed = sqlx::query(
            "DELETE FROM friend_edges WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)",
        )
        .bind(a.0)
        .bind(b.0)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(removed > 0)
    }

    async fn are_friends(&self, a: AthleteId, b: AthleteId) -> StoreResult<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM friend_edges WHERE (from_id = $1 AND to_id = $2) OR (from_id = $2 AND to_id = $1)",
        )
        .bind(a.0)
        .bind(b.0)
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 2)
    }

    async fn search_athletes(
        &self,
        viewer: AthleteId,
        search: &AthleteSearch,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<AthleteMatch>> {
        Ok(sqlx::query_as(
            "SELECT a.id, a.username, a.firstname, a.lastname, \
             (SELECT COUNT(*) FROM friend_edges o WHERE o.from_id = $1 AND o.to_id = a.id) AS outgoing, \
             (SELECT COUNT(*) FROM friend_edges i WHERE i.from_id = a.id AND i.to_id = $1) AS incoming \
             FROM athletes a WHERE a.id <> $1 AND (LOWER(a.username) LIKE $2 ESCAPE '\\' \
             OR LOWER(a.firstname) LIKE $2 ESCAPE '\\' OR LOWER(a.lastname) LIKE $2 ESCAPE '\\' \
             OR LOWER(a.firstname || ' ' || a.lastname) LIKE $2 ESCAPE '\\') \
             ORDER BY CASE WHEN LOWER(a.username) LIKE $3 ESCAPE '\\' THEN 0 ELSE 1 END, \
             a.username LIMIT $4 OFFSET $5",
        )
        .bind(viewer.0)
        .bind(&search.contains)
        .bind(&search.prefix)
        .bind(i64::from(limit))
        .bind(i64::from(offset))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn create_activity(&self, new: &NewActivityRow) -> StoreResult<(ActivityRow, bool)> {
        let mut tx = self.pool.begin().await?;
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO activities (athlete_id, external_id, name, sport_type, visibility, state, \
             start_ms, status_log, created_ms, updated_ms, version) \
             VALUES ($1, $2, $3, $4, $5, 'STARTED', $6, $7, $8, $8, 1) \
             ON CONFLICT (athlete_id, external_id) DO NOTHING RETURNING id",
        )
        .bind(new.athlete_id.0)
        .bind(&new.external_id)
        .bind(&new.name)
        .bind(new.sport_type.as_str())
        .bind(new.visibility.as_str())
        .bind(new.start_ms)
        .bind(new.status_log.to_json())
        .bind(new.now_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let mut last_seq = 0;
        if let Some(id) = inserted {
            let change = created_change(id, new, ChangeKind::Started, Changed::new_activity())?;
            last_seq = append(&mut tx, &[change]).await?;
        }
        tx.commit().await?;
        self.announce(last_seq);
        let (query, created) = match inserted {
            Some(id) => (
                sqlx::query_as::<_, StoredActivity>(concat!(
                    activity_select!(),
                    " WHERE a.id = $1"
                ))
                .bind(id),
                true,
            ),
            None => (
                sqlx::query_as::<_, StoredActivity>(concat!(
                    activity_select!(),
                    " WHERE a.athlete_id = $1 AND a.external_id = $2"
                ))
                .bind(new.athlete_id.0)
                .bind(new.external_id.clone()),
                false,
            ),
        };
        Ok((query.fetch_one(&self.pool).await?.decode()?, created))
    }

    async fn activity(&self, id: ActivityId) -> StoreResult<Option<ActivityRow>> {
        sqlx::query_as::<_, StoredActivity>(concat!(activity_select!(), " WHERE a.id = $1"))
            .bind(id.0)
            .fetch_optional(&self.pool)
            .await?
            .map(StoredActivity::decode)
            .transpose()
    }

    async fn update_activity(&self, id: ActivityId, edit: &ActivityEdit) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let before: Option<(String, String, String, i64)> = sqlx::query_as(
            "SELECT name, visibility, sport_type, start_ms FROM activities WHERE id = $1",
        )
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((old_name, old_visibility, old_sport, old_start)) = before else {
            return Ok(false);
        };
        let mut changed = Changed::empty();
        changed.set(Changed::NAME, old_name != edit.name);
        changed.set(
            Changed::VISIBILITY,
            old_visibility != edit.visibility.as_str(),
        );
        changed.set(Changed::SPORT, old_sport != edit.sport_type.as_str());
        changed.set(Changed::START_DATE, old_start != edit.start_ms);
        sqlx::query(
            "UPDATE activities SET name = $2, visibility = $3, sport_type = $4, start_ms = $5, \
             updated_ms = $6 WHERE id = $1",
        )
        .bind(id.0)
        .bind(&edit.name)
        .bind(edit.visibility.as_str())
        .bind(edit.sport_type.as_str())
        .bind(edit.start_ms)
        .bind(edit.now_ms)
        .execute(&mut *tx)
        .await?;
        if changed.contains(Changed::VISIBILITY) {
            // Whether its segment efforts show on boards changed.
            super::segments_sql::slots_changed(&mut tx, id, edit.now_ms).await?;
        }
        if let Some(again) = &edit.recomputed {
            let progress = ActivityProgress {
                id,
                ..again.progress.clone()
            };
            write_progress(&mut tx, &progress).await?;
            sqlx::query("DELETE FROM route_chunks WHERE activity_id = $1")
                .bind(id.0)
                .execute(&mut *tx)
                .await?;
            insert_chunks(&mut tx, &route_rows(id, &again.route)).await?;
            changed.set(Changed::ROUTE, again.cropped);
            changed.set(Changed::STATS, again.stats_changed);
        }
        let mut last_seq = 0;
        if !changed.is_empty() {
            let change =
                next_version(&mut tx, id, ChangeKind::Updated, changed, edit.now_ms).await?;
            last_seq = append(&mut tx, change.as_slice()).await?;
        }
        tx.commit().await?;
        self.announce(last_seq);
        Ok(true)
    }

    async fn delete_activity(&self, id: ActivityId) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let now = crate::domain::now_ms();
        let change = next_version(&mut tx, id, ChangeKind::Deleted, Changed::empty(), now).await?;
        // Its segment efforts leave the boards in this transaction.
        super::segments_sql::activity_leaving(&mut tx, id, now).await?;
        sqlx::query("DELETE FROM route_chunks WHERE activity_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM activities WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let last_seq = append(&mut tx, change.as_slice()).await?;
        tx.commit().await?;
        self.announce(last_seq);
        Ok(())
    }

    async fn in_progress_activities(&self) -> StoreResult<Vec<ActivityRow>> {
        decode_all(
            sqlx::query_as(concat!(
                activity_select!(),
                " WHERE a.state <> 'COMPLETE' ORDER BY a.id"
            ))
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn stale_in_progress(
        &self,
        before_ms: i64,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<ActivityId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM activities WHERE state <> 'COMPLETE' AND updated_ms < $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(before_ms)
        .bind(after_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(ActivityId).collect())
    }

    async fn live_activities_of_friends(&self, viewer: AthleteId) -> StoreResult<Vec<ActivityRow>> {
        decode_all(
            sqlx::query_as(concat!(
                activity_select!(),
                " WHERE a.state <> 'COMPLETE' AND a.visibility <> 'only_me' AND a.athlete_id IN (",
                friend_ids_of_1!(),
                ") ORDER BY a.start_ms DESC, a.id DESC LIMIT 500"
            ))
            .bind(viewer.0)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn feed(
        &self,
        viewer: AthleteId,
        mode: FeedMode,
        after: Option<FeedCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRow>> {
        let cursor = after.unwrap_or(FeedCursor {
            start_ms: i64::MAX,
            id: i64::MAX,
        });
        let query = match mode {
            FeedMode::User => concat!(
                activity_select!(),
                " WHERE a.state = 'COMPLETE' AND a.athlete_id = $1 AND (a.start_ms, a.id) < ($2, $3) \
                 ORDER BY a.start_ms DESC, a.id DESC LIMIT $4"
            ),
            FeedMode::Friends => concat!(
                activity_select!(),
                " WHERE a.state = 'COMPLETE' AND a.visibility <> 'only_me' AND a.athlete_id IN (",
                friend_ids_of_1!(),
                ") AND (a.start_ms, a.id) < ($2, $3) ORDER BY a.start_ms DESC, a.id DESC LIMIT $4"
            ),
            FeedMode::All => concat!(
                activity_select!(),
                " WHERE a.state = 'COMPLETE' AND (a.athlete_id = $1 OR (a.visibility <> 'only_me' \
                 AND a.athlete_id IN (",
                friend_ids_of_1!(),
                "))) AND (a.start_ms, a.id) < ($2, $3) ORDER BY a.start_ms DESC, a.id DESC LIMIT $4"
            ),
        };
        decode_all(
            sqlx::query_as(query)
                .bind(viewer.0)
                .bind(cursor.start_ms)
                .bind(cursor.id)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn checkpoint(
        &self,
        progress: &[ActivityProgress],
        chunks: &[RouteChunk],
    ) -> StoreResult<()> {
        if progress.is_empty() && chunks.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin_write().await?;
        // Only state changes are events, not the periodic stats: compare
        // with the stored states (one read per batch).
        let mut states = stored_states(&mut tx, progress).await?;
        let mut transitions = Vec::new();
        for p in progress {
            write_progress(&mut tx, p).await?;
            let to = p.status_log.state();
            if let Some(from) = states.insert(p.id, to) {
                if let Some(kind) = ChangeKind::for_transition(from, to) {
                    transitions.push((p.id, kind, p.now_ms));
                }
            }
        }
        let rows: Vec<_> = chunks
            .iter()
            .map(|c| (c.activity_id, c.seq, c.fixes.as_slice()))
            .collect();
        insert_chunks(&mut tx, &rows).await?;
        let mut changes = Vec::with_capacity(transitions.len());
        for (id, kind, at) in transitions {
            let changed = match kind {
                ChangeKind::Completed => Changed::STATE | Changed::STATS,
                _ => Changed::STATE,
            };
            changes.extend(next_version(&mut tx, id, kind, changed, at).await?);
        }
        let last_seq = append(&mut tx, &changes).await?;
        tx.commit().await?;
        self.announce(last_seq);
        Ok(())
    }

    async fn complete_activity(
        &self,
        progress: &ActivityProgress,
        route: &[Fix],
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let before = stored_states(&mut tx, std::slice::from_ref(progress)).await?;
        write_progress(&mut tx, progress).await?;
        sqlx::query("DELETE FROM route_chunks WHERE activity_id = $1")
            .bind(progress.id.0)
            .execute(&mut *tx)
            .await?;
        insert_chunks(&mut tx, &route_rows(progress.id, route)).await?;
        // Completing again (a retry whose first reply was lost) rewrites
        // the route and stats: an update, not a second completion.
        let (kind, changed) = match before.get(&progress.id) {
            Some(ActivityState::Complete) => (ChangeKind::Updated, Changed::ROUTE | Changed::STATS),
            _ => (
                ChangeKind::Completed,
                Changed::STATE | Changed::STATS | Changed::ROUTE,
            ),
        };
        let change = next_version(&mut tx, progress.id, kind, changed, progress.now_ms).await?;
        let last_seq = append(&mut tx, change.as_slice()).await?;
        tx.commit().await?;
        self.announce(last_seq);
        Ok(())
    }

    async fn route(&self, id: ActivityId) -> StoreResult<Vec<Fix>> {
        Ok(self.checkpointed_route(id).await?.0)
    }

    async fn checkpointed_route(&self, id: ActivityId) -> StoreResult<(Vec<Fix>, i64)> {
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, data FROM route_chunks WHERE activity_id = $1 ORDER BY seq",
        )
        .bind(id.0)
        .fetch_all(&self.pool)
        .await?;
        let last_seq = rows.last().map_or(-1, |(seq, _)| *seq);
        let chunks = rows
            .iter()
            .map(|(_, b)| route_codec::decode(b))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok((route_codec::merge_chunks(chunks), last_seq))
    }

    async fn import_activity(
        &self,
        upload: &NewUploadRow,
        imported: &ImportedActivity,
    ) -> StoreResult<UploadRow> {
        // A concurrent identical upload commits first: the unique index
        // refuses this one, and the retry finds the other as its duplicate.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.try_import(upload, imported).await {
                Err(StoreError::Conflict(_)) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn failed_upload(&self, upload: &NewUploadRow, error: &str) -> StoreResult<UploadRow> {
        let mut tx = self.begin_write().await?;
        let row = insert_upload(&mut tx, upload, Some(error), None).await?;
        tx.commit().await?;
        Ok(row)
    }

    async fn upload(&self, id: i64) -> StoreResult<Option<UploadRow>> {
        let sql = format!("SELECT {UPLOAD_COLUMNS} FROM uploads WHERE id = $1");
        Ok(sqlx::query_as::<_, UploadRow>(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn provision(&self, batch: &ProvisionBatch) -> StoreResult<Vec<Provisioned>> {
        let mut tx = self.begin_write().await?;
        let mut ids = std::collections::HashMap::with_capacity(batch.athletes.len());
        for rows in batch.athletes.chunks(PROVISION_ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO athletes (username, password_hash, firstname, lastname, created_ms, \
                 updated_ms) ",
            );
            insert.push_values(rows, |mut b, (a, _)| {
                b.push_bind(&a.username)
                    .push_bind(&a.password_hash)
                    .push_bind(&a.firstname)
                    .push_bind(&a.lastname)
                    .push_bind(a.now_ms)
                    .push_bind(a.now_ms);
            });
            insert.push(" RETURNING id, username");
            for row in insert.build().fetch_all(&mut *tx).await? {
                ids.insert(row.try_get::<String, _>(1)?, row.try_get::<i64, _>(0)?);
            }
        }
        let athlete_ids = batch
            .athletes
            .iter()
            .map(|(a, _)| ids.get(&a.username).copied().map(AthleteId))
            .collect::<Option<Vec<_>>>()
            .ok_or(StoreError::Conflict("username"))?;
        let pairs: Vec<_> = athlete_ids.iter().zip(&batch.athletes).collect();
        for rows in pairs.chunks(PROVISION_ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO access_tokens (token_hash, athlete_id, created_ms) ",
            );
            insert.push_values(rows, |mut b, (id, (a, token_hash))| {
                b.push_bind(token_hash).push_bind(id.0).push_bind(a.now_ms);
            });
            insert.build().execute(&mut *tx).await?;
        }
        let mut activities = std::collections::HashMap::new();
        if let Some(new) = &batch.activity {
            let status_log = new.status_log.to_json();
            for rows in athlete_ids.chunks(PROVISION_ROWS_PER_INSERT) {
                let mut insert = sqlx::QueryBuilder::<Db>::new(
                    "INSERT INTO activities (athlete_id, external_id, name, sport_type, \
                     visibility, state, start_ms, status_log, created_ms, updated_ms, version) ",
                );
                insert.push_values(rows, |mut b, id| {
                    b.push_bind(id.0)
                        .push_bind(&new.external_id)
                        .push_bind(&new.name)
                        .push_bind(new.sport_type.as_str())
                        .push_bind(new.visibility.as_str())
                        .push_bind(ActivityState::Started.as_str())
                        .push_bind(new.start_ms)
                        .push_bind(&status_log)
                        .push_bind(new.now_ms)
                        .push_bind(new.now_ms)
                        .push_bind(1_i64);
                });
                insert.push(" RETURNING id, athlete_id");
                for row in insert.build().fetch_all(&mut *tx).await? {
                    activities.insert(row.try_get::<i64, _>(1)?, row.try_get::<i64, _>(0)?);
                }
            }
        }
        let now = batch.athletes.first().map_or(0, |(a, _)| a.now_ms);
        let edges: Vec<(AthleteId, AthleteId)> = batch
            .friendships
            .iter()
            .filter_map(|&(a, b)| Some((*athlete_ids.get(a)?, *athlete_ids.get(b)?)))
            .filter(|(a, b)| a != b)
            .flat_map(|(a, b)| [(a, b), (b, a)])
            .collect();
        for rows in edges.chunks(PROVISION_ROWS_PER_INSERT) {
            let mut insert = sqlx::QueryBuilder::<Db>::new(
                "INSERT INTO friend_edges (from_id, to_id, created_ms) ",
            );
            insert.push_values(rows, |mut b, (from, to)| {
                b.push_bind(from.0).push_bind(to.0).push_bind(now);
            });
            insert.push(" ON CONFLICT (from_id, to_id) DO NOTHING");
            insert.build().execute(&mut *tx).await?;
        }
        let mut changes = Vec::with_capacity(activities.len());
        if let Some(new) = &batch.activity {
            for (athlete, id) in &activities {
                let row = NewActivityRow {
                    athlete_id: AthleteId(*athlete),
                    ..new.clone()
                };
                changes.push(created_change(
                    *id,
                    &row,
                    ChangeKind::Started,
                    Changed::new_activity(),
                )?);
            }
        }
        changes.sort_by_key(|c| c.activity_id);
        let last_seq = append(&mut tx, &changes).await?;
        tx.commit().await?;
        self.announce(last_seq);
        Ok(athlete_ids
            .into_iter()
            .map(|athlete| Provisioned {
                athlete,
                activity: activities.get(&athlete.0).copied().map(ActivityId),
            })
            .collect())
    }
}
