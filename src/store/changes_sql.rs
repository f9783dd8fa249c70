//! The change log's SQL, shared by both backends like `sql.rs` (compiled
//! once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;
use tokio::sync::watch;

use super::sql::SqlStore;
use super::Db;
use crate::changes::event::{ChangeEvent, ChangeKind, Changed, NewChange};
use crate::domain::activity::Visibility;
use crate::domain::{ActivityId, AthleteId};
use crate::store::changes::{Arg, ChangeLog, Committed, Statement};
use crate::store::{StoreError, StoreResult};

/// Log rows per multi-row INSERT (8 parameters each).
const ROWS_PER_INSERT: usize = 500;

const CHANGE_COLUMNS: &str =
    "seq, activity_id, athlete_id, version, kind, changed, visibility, at_ms";

pub(super) fn visibility(stored: &str) -> StoreResult<Visibility> {
    Visibility::parse(stored)
        .map_err(|e| StoreError::decode("visibility", format!("{stored:?}: {e}")))
}

/// Moves the activity to its next version and describes the change;
/// None if the activity does not exist.
pub(super) async fn next_version(
    tx: &mut sqlx::Transaction<'_, Db>,
    id: ActivityId,
    kind: ChangeKind,
    changed: Changed,
    at_ms: i64,
) -> StoreResult<Option<NewChange>> {
    let row: Option<(i64, i64, String)> = sqlx::query_as(
        "UPDATE activities SET version = version + 1 WHERE id = $1 \
         RETURNING athlete_id, version, visibility",
    )
    .bind(id.0)
    .fetch_optional(&mut **tx)
    .await?;
    row.map(|(athlete, version, vis)| {
        Ok(NewChange {
            activity_id: id,
            athlete_id: AthleteId(athlete),
            version,
            kind,
            changed,
            visibility: visibility(&vis)?,
            at_ms,
        })
    })
    .transpose()
}

/// Appends events to the log; call it last before the commit, since the
/// sequence row stays locked until then. Answers the highest seq (0 when
/// there is nothing to append).
pub(super) async fn append(
    tx: &mut sqlx::Transaction<'_, Db>,
    changes: &[NewChange],
) -> StoreResult<i64> {
    if changes.is_empty() {
        return Ok(0);
    }
    let n = changes.len() as i64;
    let last: i64 =
        sqlx::query_scalar("UPDATE change_seq SET seq = seq + $1 WHERE id = 1 RETURNING seq")
            .bind(n)
            .fetch_one(&mut **tx)
            .await?;
    let first = last - n + 1;
    for (g, group) in changes.chunks(ROWS_PER_INSERT).enumerate() {
        let base = first + (g * ROWS_PER_INSERT) as i64;
        let mut insert = sqlx::QueryBuilder::<Db>::new(
            "INSERT INTO change_log (seq, activity_id, athlete_id, version, kind, changed, \
             visibility, at_ms) ",
        );
        insert.push_values(group.iter().enumerate(), |mut row, (i, c)| {
            row.push_bind(base + i as i64)
                .push_bind(c.activity_id.0)
                .push_bind(c.athlete_id.0)
                .push_bind(c.version)
                .push_bind(c.kind.as_str())
                .push_bind(c.changed.bits())
                .push_bind(c.visibility.as_str())
                .push_bind(c.at_ms);
        });
        insert.build().execute(&mut **tx).await?;
    }
    Ok(last)
}

fn decode(row: &<Db as sqlx::Database>::Row) -> StoreResult<ChangeEvent> {
    let kind: String = row.try_get("kind")?;
    let vis: String = row.try_get("visibility")?;
    let changed: i64 = row.try_get("changed")?;
    Ok(ChangeEvent {
        seq: row.try_get("seq")?,
        activity_id: ActivityId(row.try_get("activity_id")?),
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        version: row.try_get("version")?,
        kind: ChangeKind::parse(&kind)
            .ok_or_else(|| StoreError::decode("change kind", format!("{kind:?}")))?,
        changed: Changed::from_bits(changed)
            .ok_or_else(|| StoreError::decode("changed fields", format!("{changed:#x}")))?,
        visibility: visibility(&vis)?,
        at_ms: row.try_get("at_ms")?,
    })
}

pub(super) fn bind_args<'q>(
    mut query: sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>>,
    args: &'q [Arg],
) -> sqlx::query::Query<'q, Db, <Db as sqlx::Database>::Arguments<'q>> {
    for arg in args {
        query = match arg {
            Arg::Int(v) => query.bind(*v),
            Arg::Real(v) => query.bind(*v),
            Arg::Text(v) => query.bind(v.as_str()),
            Arg::Null => query.bind(Option::<i64>::None),
        };
    }
    query
}

impl SqlStore {
    /// In one transaction: `marker` (a consumer's or a backfill's position
    /// moved) first, so that two nodes doing the same work queue on its row
    /// and the later one finds it moved; then the work's effects. False,
    /// with nothing changed, when the marker did not move.
    pub(super) async fn commit_after_marker(
        &self,
        marker: &Statement,
        effects: &[Statement],
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let moved = bind_args(sqlx::query(&marker.sql), &marker.args)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if moved == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        for statement in effects {
            bind_args(sqlx::query(&statement.sql), &statement.args)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Tells this node's consumers that events up to `last_seq` are committed.
    pub(super) fn announce(&self, last_seq: i64) {
        if last_seq > 0 {
            self.changes().send_if_modified(|head| {
                let newer = last_seq > *head;
                if newer {
                    *head = last_seq;
                }
                newer
            });
        }
    }
}

#[async_trait]
impl ChangeLog for SqlStore {
    async fn changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<ChangeEvent>> {
        let sql =
            format!("SELECT {CHANGE_COLUMNS} FROM change_log WHERE seq > $1 ORDER BY seq LIMIT $2");
        sqlx::query(&sql)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn changes_for_circle(
        &self,
        athlete: AthleteId,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<ChangeEvent>> {
        let sql = format!(
            "SELECT {CHANGE_COLUMNS} FROM change_log WHERE seq > $2 AND (athlete_id = $1 OR \
             athlete_id IN (SELECT f1.to_id FROM friend_edges f1 JOIN friend_edges f2 \
             ON f2.from_id = f1.to_id AND f2.to_id = f1.from_id WHERE f1.from_id = $1)) \
             ORDER BY seq LIMIT $3"
        );
        sqlx::query(&sql)
            .bind(athlete.0)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(decode)
            .collect()
    }

    async fn change_head(&self) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT seq FROM change_seq WHERE id = 1")
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn change_tail(&self) -> StoreResult<i64> {
        let min: Option<i64> = sqlx::query_scalar("SELECT MIN(seq) FROM change_log")
            .fetch_one(self.pool())
            .await?;
        match min {
            Some(seq) => Ok(seq),
            None => Ok(self.change_head().await? + 1),
        }
    }

    fn watch_changes(&self) -> watch::Receiver<i64> {
        self.changes().subscribe()
    }

    async fn consumer_positions(
        &self,
        consumer: &str,
        partitions: u32,
        start: i64,
    ) -> StoreResult<Vec<i64>> {
        let mut tx = self.pool().begin().await?;
        for p in 0..partitions {
            sqlx::query(
                "INSERT INTO change_consumers (consumer, partition_no, last_seq, updated_ms) \
                 VALUES ($1, $2, $3, 0) ON CONFLICT (consumer, partition_no) DO NOTHING",
            )
            .bind(consumer)
            .bind(i64::from(p))
            .bind(start)
            .execute(&mut *tx)
            .await?;
        }
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT partition_no, last_seq FROM change_consumers WHERE consumer = $1 \
             AND partition_no < $2 ORDER BY partition_no",
        )
        .bind(consumer)
        .bind(i64::from(partitions))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(_, seq)| seq).collect())
    }

    async fn commit_consumer(
        &self,
        consumer: &str,
        partition: u32,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<Committed> {
        let marker = Statement::new(
            "UPDATE change_consumers SET last_seq = $3, updated_ms = $4 \
             WHERE consumer = $1 AND partition_no = $2 AND last_seq < $3",
        )
        .text(consumer)
        .int(i64::from(partition))
        .int(to)
        .int(now_ms);
        Ok(if self.commit_after_marker(&marker, effects).await? {
            Committed::Applied
        } else {
            Committed::AlreadyApplied
        })
    }

    async fn commit_consumer_from(
        &self,
        consumer: &str,
        partition: u32,
        from: i64,
        to: i64,
        effects: &[Statement],
        now_ms: i64,
    ) -> StoreResult<Committed> {
        if to <= from {
            return Ok(Committed::AlreadyApplied);
        }
        let marker = Statement::new(
            "UPDATE change_consumers SET last_seq = $4, updated_ms = $5 \
             WHERE consumer = $1 AND partition_no = $2 AND last_seq = $3",
        )
        .text(consumer)
        .int(i64::from(partition))
        .int(from)
        .int(to)
        .int(now_ms);
        Ok(if self.commit_after_marker(&marker, effects).await? {
            Committed::Applied
        } else {
            Committed::Moved
        })
    }

    async fn consumer_position(&self, consumer: &str, partition: u32) -> StoreResult<Option<i64>> {
        Ok(sqlx::query_scalar(
            "SELECT last_seq FROM change_consumers WHERE consumer = $1 AND partition_no = $2",
        )
        .bind(consumer)
        .bind(i64::from(partition))
        .fetch_optional(self.pool())
        .await?)
    }

    async fn prune_changes(&self, before_ms: i64) -> StoreResult<u64> {
        Ok(sqlx::query(
            "DELETE FROM change_log WHERE at_ms < $1 AND seq <= COALESCE(\
             (SELECT MIN(last_seq) FROM change_consumers WHERE consumer NOT LIKE '%@nats'), \
             (SELECT seq FROM change_seq WHERE id = 1))",
        )
        .bind(before_ms)
        .execute(self.pool())
        .await?
        .rows_affected())
    }

    async fn friend_ids(&self, athlete: AthleteId) -> StoreResult<Vec<AthleteId>> {
        let ids: Vec<i64> = sqlx::query_scalar(
            "SELECT f1.to_id FROM friend_edges f1 JOIN friend_edges f2 \
             ON f2.from_id = f1.to_id AND f2.to_id = f1.from_id WHERE f1.from_id = $1",
        )
        .bind(athlete.0)
        .fetch_all(self.pool())
        .await?;
        Ok(ids.into_iter().map(AthleteId).collect())
    }
}
