//! The segments store's SQL, shared by both backends like `sql.rs`
//! (compiled once per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::SqlStore;
use super::Db;
use crate::domain::activity::Visibility;
use crate::domain::segments::index::IndexedSegment;
use crate::domain::segments::{BBox, EffortId, SegmentId, SegmentShape, SegmentStats};
use crate::domain::{ActivityId, AthleteId, Sport};
use crate::store::segments::{
    decode_points, encode_points, recount, BackfillCandidate, BackfillResult, EffortQuery,
    EffortRow, NewSegment, SegmentRow, SegmentStore, EFFORT_UPSERT,
};
use crate::store::{StoreError, StoreResult};

const SEGMENT_COLUMNS: &str = "s.id, s.athlete_id, s.name, s.sport_type, s.points, s.distance, \
     s.average_grade, s.maximum_grade, s.elevation_high, s.elevation_low, s.total_elevation_gain, \
     s.climb_category, s.min_lat, s.min_lng, s.max_lat, s.max_lng, s.effort_count, \
     s.athlete_count, s.created_ms, s.updated_ms";

/// An effort with its segment's name and distance, its activity's
/// visibility and the athlete's rank of it among their own efforts.
const EFFORT_SELECT: &str = "SELECT e.id, e.segment_id, s.name AS segment_name, \
     s.distance AS segment_distance, e.activity_id, e.athlete_id, a.visibility, e.start_ms, \
     e.elapsed_ms, e.moving_ms, e.start_index, e.end_index, e.distance, e.created_ms, \
     (SELECT COUNT(*) FROM segment_efforts o WHERE o.segment_id = e.segment_id \
      AND o.athlete_id = e.athlete_id AND (o.elapsed_ms < e.elapsed_ms \
      OR (o.elapsed_ms = e.elapsed_ms AND (o.start_ms < e.start_ms \
      OR (o.start_ms = e.start_ms AND o.id < e.id))))) + 1 AS pr_rank \
     FROM segment_efforts e JOIN segments s ON s.id = e.segment_id \
     JOIN activities a ON a.id = e.activity_id";

fn sport(stored: &str) -> StoreResult<Sport> {
    Sport::parse(stored)
        .map_err(|e| StoreError::decode("segment sport", format!("{stored:?}: {e}")))
}

fn segment(row: &<Db as sqlx::Database>::Row) -> StoreResult<SegmentRow> {
    let points: Vec<u8> = row.try_get("points")?;
    let sport_type: String = row.try_get("sport_type")?;
    let category: i64 = row.try_get("climb_category")?;
    let stats = SegmentStats {
        distance: row.try_get("distance")?,
        average_grade: row.try_get("average_grade")?,
        maximum_grade: row.try_get("maximum_grade")?,
        elevation_high: row.try_get("elevation_high")?,
        elevation_low: row.try_get("elevation_low")?,
        total_elevation_gain: row.try_get("total_elevation_gain")?,
        climb_category: u8::try_from(category).unwrap_or(0),
        bbox: BBox {
            min_lat: row.try_get("min_lat")?,
            min_lng: row.try_get("min_lng")?,
            max_lat: row.try_get("max_lat")?,
            max_lng: row.try_get("max_lng")?,
        },
    };
    Ok(SegmentRow {
        id: SegmentId(row.try_get("id")?),
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        name: row.try_get("name")?,
        sport: sport(&sport_type)?,
        shape: SegmentShape::stored(decode_points(&points)?, stats),
        effort_count: row.try_get("effort_count")?,
        athlete_count: row.try_get("athlete_count")?,
        created_ms: row.try_get("created_ms")?,
        updated_ms: row.try_get("updated_ms")?,
    })
}

fn effort(row: &<Db as sqlx::Database>::Row) -> StoreResult<EffortRow> {
    let vis: String = row.try_get("visibility")?;
    Ok(EffortRow {
        id: EffortId(row.try_get("id")?),
        segment_id: SegmentId(row.try_get("segment_id")?),
        segment_name: row.try_get("segment_name")?,
        segment_distance: row.try_get("segment_distance")?,
        activity_id: ActivityId(row.try_get("activity_id")?),
        athlete_id: AthleteId(row.try_get("athlete_id")?),
        visibility: Visibility::parse(&vis)
            .map_err(|e| StoreError::decode("visibility", format!("{vis:?}: {e}")))?,
        start_ms: row.try_get("start_ms")?,
        elapsed_ms: row.try_get("elapsed_ms")?,
        moving_ms: row.try_get("moving_ms")?,
        start_index: row.try_get("start_index")?,
        end_index: row.try_get("end_index")?,
        distance: row.try_get("distance")?,
        pr_rank: row.try_get("pr_rank")?,
        created_ms: row.try_get("created_ms")?,
    })
}

/// Before an activity is deleted (in its transaction): a work-queue row
/// per slot it has efforts in, its efforts removed and those segments'
/// counts recomputed.
pub(super) async fn activity_leaving(
    tx: &mut sqlx::Transaction<'_, Db>,
    activity: ActivityId,
    now_ms: i64,
) -> StoreResult<()> {
    let segments: Vec<i64> = sqlx::query_scalar(
        "SELECT DISTINCT segment_id FROM segment_efforts WHERE activity_id = $1",
    )
    .bind(activity.0)
    .fetch_all(&mut **tx)
    .await?;
    if segments.is_empty() {
        return Ok(());
    }
    slots_changed(tx, activity, now_ms).await?;
    sqlx::query("DELETE FROM segment_efforts WHERE activity_id = $1")
        .bind(activity.0)
        .execute(&mut **tx)
        .await?;
    if let Some(statement) = recount(&segments) {
        sqlx::query(&statement.sql).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A work-queue row per slot the activity has efforts in: something that
/// decides how they show on boards (its visibility) changed.
pub(super) async fn slots_changed(
    tx: &mut sqlx::Transaction<'_, Db>,
    activity: ActivityId,
    now_ms: i64,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO segment_effort_changes (segment_id, athlete_id, at_ms) \
         SELECT DISTINCT segment_id, athlete_id, $2 FROM segment_efforts WHERE activity_id = $1",
    )
    .bind(activity.0)
    .bind(now_ms)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Friends of `$1` (both edges), for the visibility filter.
const VISIBLE_TO_1: &str = "(a.athlete_id = $1 OR a.visibility = 'everyone' \
     OR (a.visibility = 'followers_only' AND EXISTS (SELECT 1 FROM friend_edges f1 \
     JOIN friend_edges f2 ON f2.from_id = f1.to_id AND f2.to_id = f1.from_id \
     WHERE f1.from_id = $1 AND f1.to_id = a.athlete_id)))";

#[async_trait]
impl SegmentStore for SqlStore {
    async fn create_segment(&self, new: &NewSegment) -> StoreResult<SegmentRow> {
        let stats = new.shape.stats();
        let points = new.shape.points();
        let (first, last) = match (points.first(), points.last()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => return Err(StoreError::decode("segment points", "empty")),
        };
        let bytes = encode_points(points)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO segments (athlete_id, name, sport_type, points, point_count, distance, \
             average_grade, maximum_grade, elevation_high, elevation_low, total_elevation_gain, \
             climb_category, start_lat, start_lng, end_lat, end_lng, min_lat, min_lng, max_lat, \
             max_lng, created_ms, updated_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
             $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $21) RETURNING id",
        )
        .bind(new.athlete_id.0)
        .bind(&new.name)
        .bind(new.sport.as_str())
        .bind(bytes)
        .bind(points.len() as i64)
        .bind(stats.distance)
        .bind(stats.average_grade)
        .bind(stats.maximum_grade)
        .bind(stats.elevation_high)
        .bind(stats.elevation_low)
        .bind(stats.total_elevation_gain)
        .bind(i64::from(stats.climb_category))
        .bind(first.lat)
        .bind(first.lng)
        .bind(last.lat)
        .bind(last.lng)
        .bind(stats.bbox.min_lat)
        .bind(stats.bbox.min_lng)
        .bind(stats.bbox.max_lat)
        .bind(stats.bbox.max_lng)
        .bind(new.now_ms)
        .fetch_one(self.pool())
        .await?;
        Ok(SegmentRow {
            id: SegmentId(id),
            athlete_id: new.athlete_id,
            name: new.name.clone(),
            sport: new.sport,
            shape: new.shape.clone(),
            effort_count: 0,
            athlete_count: 0,
            created_ms: new.now_ms,
            updated_ms: new.now_ms,
        })
    }

    async fn segment(&self, id: SegmentId) -> StoreResult<Option<SegmentRow>> {
        let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.id = $1");
        sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(segment)
            .transpose()
    }

    async fn segments_by_id(&self, ids: &[SegmentId]) -> StoreResult<Vec<SegmentRow>> {
        let mut out = Vec::with_capacity(ids.len());
        // Ids are integers: inlined, in chunks below both backends' limits.
        for chunk in ids.chunks(500) {
            let list = chunk
                .iter()
                .map(|i| i.0.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.id IN ({list})");
            for row in sqlx::query(&sql).fetch_all(self.pool()).await? {
                out.push(segment(&row)?);
            }
        }
        Ok(out)
    }

    async fn segment_index_entries(
        &self,
        after: SegmentId,
        limit: u32,
    ) -> StoreResult<Vec<IndexedSegment>> {
        let rows = sqlx::query(
            "SELECT id, sport_type, start_lat, start_lng, end_lat, end_lng, min_lat, min_lng, max_lat, max_lng \
             FROM segments WHERE id > $1 ORDER BY id LIMIT $2",
        )
        .bind(after.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get("sport_type")?;
                Ok(IndexedSegment {
                    id: SegmentId(r.try_get("id")?),
                    sport: sport(&s)?,
                    start: (r.try_get("start_lat")?, r.try_get("start_lng")?),
                    end: (r.try_get("end_lat")?, r.try_get("end_lng")?),
                    bbox: BBox {
                        min_lat: r.try_get("min_lat")?,
                        min_lng: r.try_get("min_lng")?,
                        max_lat: r.try_get("max_lat")?,
                        max_lng: r.try_get("max_lng")?,
                    },
                })
            })
            .collect()
    }

    async fn rename_segment(
        &self,
        id: SegmentId,
        name: &str,
        now_ms: i64,
    ) -> StoreResult<Option<SegmentRow>> {
        let updated = sqlx::query("UPDATE segments SET name = $2, updated_ms = $3 WHERE id = $1")
            .bind(id.0)
            .bind(name)
            .bind(now_ms)
            .execute(self.pool())
            .await?
            .rows_affected();
        if updated == 0 {
            return Ok(None);
        }
        self.segment(id).await
    }

    async fn delete_segment(&self, id: SegmentId, now_ms: i64) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO segment_effort_changes (segment_id, athlete_id, at_ms) \
             SELECT DISTINCT segment_id, athlete_id, $2 FROM segment_efforts WHERE segment_id = $1",
        )
        .bind(id.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM segment_efforts WHERE segment_id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?;
        let deleted = sqlx::query("DELETE FROM segments WHERE id = $1")
            .bind(id.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn explore_segments(
        &self,
        bounds: &BBox,
        sport: Sport,
        limit: u32,
    ) -> StoreResult<Vec<SegmentRow>> {
        // A box across the antimeridian has min_lng > max_lng.
        let lng = if bounds.min_lng <= bounds.max_lng {
            "s.start_lng >= $4 AND s.start_lng <= $5"
        } else {
            "(s.start_lng >= $4 OR s.start_lng <= $5)"
        };
        let sql = format!(
            "SELECT {SEGMENT_COLUMNS} FROM segments s WHERE s.sport_type = $1 \
             AND s.start_lat >= $2 AND s.start_lat <= $3 AND {lng} \
             ORDER BY s.athlete_count DESC, s.effort_count DESC, s.id LIMIT $6"
        );
        sqlx::query(&sql)
            .bind(sport.as_str())
            .bind(bounds.min_lat)
            .bind(bounds.max_lat)
            .bind(bounds.min_lng)
            .bind(bounds.max_lng)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(segment)
            .collect()
    }

    async fn star_segment(
        &self,
        athlete: AthleteId,
        id: SegmentId,
        starred: bool,
        now_ms: i64,
    ) -> StoreResult<bool> {
        if starred {
            let n = sqlx::query(
                "INSERT INTO segment_stars (athlete_id, segment_id, created_ms) \
                 SELECT $1, id, $3 FROM segments WHERE id = $2 \
                 ON CONFLICT (athlete_id, segment_id) DO NOTHING",
            )
            .bind(athlete.0)
            .bind(id.0)
            .bind(now_ms)
            .execute(self.pool())
            .await?
            .rows_affected();
            if n > 0 {
                return Ok(true);
            }
        } else {
            sqlx::query("DELETE FROM segment_stars WHERE athlete_id = $1 AND segment_id = $2")
                .bind(athlete.0)
                .bind(id.0)
                .execute(self.pool())
                .await?;
        }
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM segments WHERE id = $1")
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?;
        Ok(exists.is_some())
    }

    async fn is_starred(&self, athlete: AthleteId, id: SegmentId) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT segment_id FROM segment_stars WHERE athlete_id = $1 AND segment_id = $2",
        )
        .bind(athlete.0)
        .bind(id.0)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    async fn star_count(&self, id: SegmentId) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM segment_stars WHERE segment_id = $1")
                .bind(id.0)
                .fetch_one(self.pool())
                .await?,
        )
    }

    async fn starred_segments(
        &self,
        athlete: AthleteId,
        limit: u32,
        offset: u32,
    ) -> StoreResult<Vec<SegmentRow>> {
        let sql = format!(
            "SELECT {SEGMENT_COLUMNS} FROM segment_stars st JOIN segments s ON s.id = st.segment_id \
             WHERE st.athlete_id = $1 ORDER BY st.created_ms DESC, s.id DESC LIMIT $2 OFFSET $3"
        );
        sqlx::query(&sql)
            .bind(athlete.0)
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(segment)
            .collect()
    }

    async fn effort(&self, id: EffortId) -> StoreResult<Option<EffortRow>> {
        let sql = format!("{EFFORT_SELECT} WHERE e.id = $1");
        sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(effort)
            .transpose()
    }

    async fn activity_efforts(&self, activity: ActivityId) -> StoreResult<Vec<EffortRow>> {
        let sql = format!("{EFFORT_SELECT} WHERE e.activity_id = $1 ORDER BY e.start_ms, e.id");
        sqlx::query(&sql)
            .bind(activity.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(effort)
            .collect()
    }

    async fn efforts(&self, q: &EffortQuery) -> StoreResult<Vec<EffortRow>> {
        let sql = format!(
            "{EFFORT_SELECT} WHERE e.segment_id = $2 AND {VISIBLE_TO_1} \
             AND ($3 < 0 OR e.athlete_id = $3) AND e.start_ms >= $4 AND e.start_ms <= $5 \
             AND ($8 OR a.visibility <> 'only_me') \
             ORDER BY e.start_ms, e.id LIMIT $6 OFFSET $7"
        );
        sqlx::query(&sql)
            .bind(q.viewer.0)
            .bind(q.segment_id.0)
            .bind(q.athlete_id.map_or(-1, |a| a.0))
            .bind(q.from_ms.unwrap_or(i64::MIN))
            .bind(q.to_ms.unwrap_or(i64::MAX))
            .bind(i64::from(q.limit))
            .bind(i64::from(q.offset))
            .bind(q.include_only_me)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(effort)
            .collect()
    }

    async fn activity_version(&self, id: ActivityId) -> StoreResult<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT version FROM activities WHERE id = $1")
                .bind(id.0)
                .fetch_optional(self.pool())
                .await?,
        )
    }

    async fn pending_backfills(&self, limit: u32) -> StoreResult<Vec<(SegmentId, ActivityId)>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, backfill_after FROM segments WHERE backfill_after IS NOT NULL \
             ORDER BY id LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(s, a)| (SegmentId(s), ActivityId(a)))
            .collect())
    }

    async fn backfill_candidates(
        &self,
        sport: Sport,
        bounds: &BBox,
        after: ActivityId,
        limit: u32,
    ) -> StoreResult<(Vec<BackfillCandidate>, Option<ActivityId>)> {
        // The window of ids looked at, then the ones in it that may pass.
        let window: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM activities WHERE id > $1 AND state = 'COMPLETE' \
             AND sport_type = $2 ORDER BY id LIMIT $3",
        )
        .bind(after.0)
        .bind(sport.as_str())
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let Some(&last) = window.last() else {
            return Ok((Vec::new(), None));
        };
        let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT a.id, b.activity_id FROM activities a \
             LEFT JOIN activity_bounds b ON b.activity_id = a.id \
             WHERE a.id > $1 AND a.id <= $2 AND a.state = 'COMPLETE' AND a.sport_type = $3 \
             AND (b.activity_id IS NULL OR (b.min_lat <= $4 AND b.max_lat >= $5 \
             AND b.min_lng <= $6 AND b.max_lng >= $7)) ORDER BY a.id",
        )
        .bind(after.0)
        .bind(last)
        .bind(sport.as_str())
        .bind(bounds.min_lat)
        .bind(bounds.max_lat)
        .bind(bounds.min_lng)
        .bind(bounds.max_lng)
        .fetch_all(self.pool())
        .await?;
        Ok((
            rows.into_iter()
                .map(|(id, b)| BackfillCandidate {
                    activity_id: ActivityId(id),
                    has_bounds: b.is_some(),
                })
                .collect(),
            Some(ActivityId(last)),
        ))
    }

    async fn commit_backfill(
        &self,
        segment: SegmentId,
        to: ActivityId,
        done: bool,
        results: &[BackfillResult],
        now_ms: i64,
    ) -> StoreResult<ActivityId> {
        let mut tx = self.begin_write().await?;
        // An activity changed since it was read stops the step before it.
        let mut reached = to;
        let mut done = done;
        for r in results {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT version FROM activities WHERE id = $1")
                    .bind(r.activity_id.0)
                    .fetch_optional(&mut *tx)
                    .await?;
            if version.is_some_and(|v| v != r.version) && r.activity_id.0 - 1 < reached.0 {
                reached = ActivityId(r.activity_id.0 - 1);
                done = false;
            }
        }
        let moved = sqlx::query(
            "UPDATE segments SET backfill_after = $2 WHERE id = $1 AND backfill_after IS NOT NULL",
        )
        .bind(segment.0)
        .bind(if done { None } else { Some(reached.0) })
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if moved == 0 {
            // Deleted, or finished by another node.
            tx.rollback().await?;
            return Ok(reached);
        }
        let results: Vec<&BackfillResult> = results
            .iter()
            .filter(|r| r.activity_id <= reached)
            .collect();
        let guard = "EXISTS (SELECT 1 FROM activities WHERE id = $1 AND version = $2)";
        for r in &results {
            if let Some((sport, b)) = r.bounds {
                sqlx::query(&format!(
                    "INSERT INTO activity_bounds (activity_id, sport_type, min_lat, min_lng, \
                     max_lat, max_lng) SELECT $1, $3, $4, $5, $6, $7 WHERE {guard} \
                     ON CONFLICT (activity_id) DO NOTHING"
                ))
                .bind(r.activity_id.0)
                .bind(r.version)
                .bind(sport.as_str())
                .bind(b.min_lat)
                .bind(b.min_lng)
                .bind(b.max_lat)
                .bind(b.max_lng)
                .execute(&mut *tx)
                .await?;
            }
            if r.efforts.is_empty() {
                continue;
            }
            // The activity's change events may have matched it against
            // this segment already: replace, never add twice.
            sqlx::query("DELETE FROM segment_efforts WHERE activity_id = $1 AND segment_id = $2")
                .bind(r.activity_id.0)
                .bind(segment.0)
                .execute(&mut *tx)
                .await?;
            for e in &r.efforts {
                sqlx::query(&format!(
                    "INSERT INTO segment_efforts (segment_id, activity_id, athlete_id, start_ms, \
                     elapsed_ms, moving_ms, start_index, end_index, distance, created_ms) \
                     SELECT $3, $1, $4, $5, $6, $7, $8, $9, $10, $11 WHERE {guard} \
                     {EFFORT_UPSERT}"
                ))
                .bind(r.activity_id.0)
                .bind(r.version)
                .bind(segment.0)
                .bind(r.athlete_id.0)
                .bind(e.start_ms)
                .bind(e.elapsed_ms)
                .bind(e.moving_ms)
                .bind(e.start_index)
                .bind(e.end_index)
                .bind(e.distance)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query(
                "INSERT INTO segment_effort_changes (segment_id, athlete_id, at_ms) \
                 VALUES ($1, $2, $3)",
            )
            .bind(segment.0)
            .bind(r.athlete_id.0)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        }
        if results.iter().any(|r| !r.efforts.is_empty()) {
            if let Some(statement) = recount(&[segment.0]) {
                sqlx::query(&statement.sql).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(reached)
    }
}
