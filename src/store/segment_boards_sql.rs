//! The segment leaderboards' SQL, shared by both backends like `sql.rs`
//! (compiled once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::SqlStore;
use super::Db;
use crate::domain::activity::Visibility;
use crate::domain::athlete::Sex;
use crate::domain::{ActivityId, AthleteId};
use crate::store::segment_boards::{
    BoardAthlete, BoardEffort, ClubMembers, SegmentBoardStore, SlotChange,
};
use crate::store::{StoreError, StoreResult};

const EFFORT_COLUMNS: &str = "e.id, e.segment_id, e.athlete_id, e.activity_id, e.start_ms, \
     e.elapsed_ms, e.moving_ms, a.visibility";
const ATHLETE_COLUMNS: &str = "id, firstname, lastname, sex, birth_year, weight_kg, updated_ms";
/// Bound parameters per statement stay well under SQLite's limit.
const IDS_PER_QUERY: usize = 500;

fn effort(row: &<Db as sqlx::Database>::Row) -> StoreResult<BoardEffort> {
    let id: i64 = row.try_get("id")?;
    let vis: String = row.try_get("visibility")?;
    Ok(BoardEffort {
        id,
        segment_id: row.try_get("segment_id")?,
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        activity_id: ActivityId(row.try_get("activity_id")?),
        start_ms: row.try_get("start_ms")?,
        elapsed_ms: row.try_get("elapsed_ms")?,
        moving_ms: row.try_get("moving_ms")?,
        visibility: Visibility::parse(&vis)
            .map_err(|e| StoreError::decode("visibility", format!("effort {id}: {vis:?}: {e}")))?,
    })
}

fn athlete(row: &<Db as sqlx::Database>::Row) -> StoreResult<BoardAthlete> {
    let sex: Option<String> = row.try_get("sex")?;
    let birth_year: Option<i64> = row.try_get("birth_year")?;
    Ok(BoardAthlete {
        id: AthleteId(row.try_get("id")?),
        firstname: row.try_get("firstname")?,
        lastname: row.try_get("lastname")?,
        sex: match sex.as_deref() {
            Some("M") => Some(Sex::M),
            Some("F") => Some(Sex::F),
            Some("X") => Some(Sex::X),
            _ => None,
        },
        birth_year: birth_year.and_then(|y| i32::try_from(y).ok()),
        weight_kg: row.try_get("weight_kg")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

#[async_trait]
impl SegmentBoardStore for SqlStore {
    async fn slot_change_head(&self) -> StoreResult<i64> {
        let head: Option<i64> = sqlx::query_scalar("SELECT MAX(seq) FROM segment_effort_changes")
            .fetch_one(self.pool())
            .await?;
        Ok(head.unwrap_or(0))
    }

    async fn slot_changes_after(&self, after: i64, limit: u32) -> StoreResult<Vec<SlotChange>> {
        let rows = sqlx::query(
            "SELECT seq, segment_id, athlete_id, at_ms FROM segment_effort_changes \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(SlotChange {
                    seq: r.try_get("seq")?,
                    segment_id: r.try_get("segment_id")?,
                    athlete_id: AthleteId(r.try_get("athlete_id")?),
                    at_ms: r.try_get("at_ms")?,
                })
            })
            .collect()
    }

    async fn prune_slot_changes(&self, up_to: i64, before_ms: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM segment_effort_changes WHERE seq <= $1 AND at_ms < $2")
            .bind(up_to)
            .bind(before_ms)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    async fn board_efforts_after(
        &self,
        after_id: i64,
        limit: u32,
    ) -> StoreResult<Vec<BoardEffort>> {
        let sql = format!(
            "SELECT {EFFORT_COLUMNS} FROM segment_efforts e JOIN activities a \
             ON a.id = e.activity_id WHERE e.id > $1 ORDER BY e.id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(effort)
            .collect()
    }

    async fn slot_efforts(
        &self,
        segment_id: i64,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<BoardEffort>> {
        let mut out = Vec::new();
        for chunk in athletes.chunks(IDS_PER_QUERY) {
            let mut q = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {EFFORT_COLUMNS} FROM segment_efforts e JOIN activities a \
                 ON a.id = e.activity_id WHERE e.segment_id = "
            ));
            q.push_bind(segment_id).push(" AND e.athlete_id IN (");
            let mut ids = q.separated(", ");
            for a in chunk {
                ids.push_bind(a.0);
            }
            ids.push_unseparated(")");
            for row in q.build().fetch_all(self.pool()).await?.iter() {
                out.push(effort(row)?);
            }
        }
        Ok(out)
    }

    async fn board_athletes(&self, ids: &[AthleteId]) -> StoreResult<Vec<BoardAthlete>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let mut q = sqlx::QueryBuilder::<Db>::new(format!(
                "SELECT {ATHLETE_COLUMNS} FROM athletes WHERE id IN ("
            ));
            let mut list = q.separated(", ");
            for a in chunk {
                list.push_bind(a.0);
            }
            list.push_unseparated(")");
            for row in q.build().fetch_all(self.pool()).await?.iter() {
                out.push(athlete(row)?);
            }
        }
        Ok(out)
    }

    async fn athletes_changed_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> StoreResult<Vec<BoardAthlete>> {
        let sql = format!(
            "SELECT {ATHLETE_COLUMNS} FROM athletes WHERE updated_ms >= $1 \
             ORDER BY updated_ms, id LIMIT $2"
        );
        sqlx::query(&sql)
            .bind(since_ms)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(athlete)
            .collect()
    }

    async fn segment_exists(&self, segment_id: i64) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM segments WHERE id = $1")
            .bind(segment_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }

    async fn club_member_ids(&self, club_id: i64) -> StoreResult<Option<ClubMembers>> {
        let private: Option<bool> = sqlx::query_scalar("SELECT private FROM clubs WHERE id = $1")
            .bind(club_id)
            .fetch_optional(self.pool())
            .await?;
        let Some(private) = private else {
            return Ok(None);
        };
        let ids: Vec<i64> =
            sqlx::query_scalar("SELECT athlete_id FROM club_members WHERE club_id = $1")
                .bind(club_id)
                .fetch_all(self.pool())
                .await?;
        Ok(Some(ClubMembers {
            private,
            members: ids.into_iter().map(AthleteId).collect(),
        }))
    }
}
