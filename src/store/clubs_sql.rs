//! The clubs' SQL, shared by both backends like `sql.rs` (compiled once
//! per backend, with `super::Db` naming the driver).

use async_trait::async_trait;
use sqlx::Row;

use super::sql::SqlStore;
use super::{Db, BACKEND};
use crate::domain::clubs::{
    ClubId, ClubRole, ClubSport, ClubTz, CountedActivity, NewClub, WeekTotals,
};
use crate::domain::feed::FeedCursor;
use crate::domain::{AthleteId, Sport};
use crate::store::clubs::{
    BoardClub, ClubFor, ClubRow, ClubStore, JoinOutcome, LeaveOutcome, MemberRow,
};
use crate::store::{ActivityRow, StoreError, StoreResult, StoredActivity};

/// Members with their names, as `member` reads them (`m`: the membership).
const MEMBERS: &str = "SELECT m.athlete_id, u.firstname, u.lastname, m.role, m.joined_ms \
     FROM club_members m JOIN athletes u ON u.id = m.athlete_id";

const CLUB_COLUMNS: &str = "c.id, c.name, c.description, c.sport_type, c.country, c.state, \
     c.city, c.timezone, c.private, c.owner_id, c.member_count, c.created_ms";
const CLUB_FIELDS: &str = "id, name, description, sport_type, country, state, city, timezone, \
     private, owner_id, member_count, created_ms";

const ACTIVITY_SELECT: &str = "SELECT a.id, a.athlete_id, u.username AS athlete_username, \
     u.firstname AS athlete_firstname, u.lastname AS athlete_lastname, a.external_id, a.name, \
     a.sport_type, a.visibility, a.state, a.start_ms, a.completed_ms, a.status_log, a.distance, \
     a.moving_time, a.active_time, a.elapsed_time, a.total_elevation_gain, a.max_speed, \
     a.average_speed, a.elev_high, a.elev_low, a.splits, a.summary_polyline, a.point_count, \
     a.created_ms, a.updated_ms FROM activities a JOIN athletes u ON u.id = a.athlete_id";

/// A board's rebuild reads a whole club's week (Postgres only: SQLite has
/// no statement timeout, only its busy timeout).
const REBUILD_TIMEOUT: &str = "SET LOCAL statement_timeout = '55s'";

/// Ids per `IN (...)` list: below both backends' bound-parameter limits.
const IN_CHUNK: usize = 1_000;

fn club(row: &<Db as sqlx::Database>::Row) -> StoreResult<ClubRow> {
    let id: i64 = row.try_get("id")?;
    let corrupt = |what: &'static str| StoreError::decode(what, format!("club {id}"));
    let sport: String = row.try_get("sport_type")?;
    let tz: String = row.try_get("timezone")?;
    Ok(ClubRow {
        id: ClubId(id),
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        sport: ClubSport::parse(&sport).map_err(|_| corrupt("sport_type"))?,
        country: row.try_get("country")?,
        state: row.try_get("state")?,
        city: row.try_get("city")?,
        timezone: ClubTz::parse(&tz).map_err(|_| corrupt("timezone"))?,
        private: row.try_get("private")?,
        owner: AthleteId(row.try_get("owner_id")?),
        member_count: row.try_get("member_count")?,
        created_ms: row.try_get("created_ms")?,
    })
}

fn role(stored: &str) -> StoreResult<ClubRole> {
    ClubRole::parse(stored).map_err(|_| StoreError::decode("role", stored))
}

fn club_for(row: &<Db as sqlx::Database>::Row) -> StoreResult<ClubFor> {
    let role_text: Option<String> = row.try_get("role")?;
    let requested: i64 = row.try_get("requested")?;
    Ok(ClubFor {
        club: club(row)?,
        role: role_text.as_deref().map(role).transpose()?,
        requested: requested > 0,
    })
}

fn member(row: &<Db as sqlx::Database>::Row) -> StoreResult<MemberRow> {
    let role_text: String = row.try_get("role")?;
    Ok(MemberRow {
        athlete: AthleteId(row.try_get("athlete_id")?),
        firstname: row.try_get("firstname")?,
        lastname: row.try_get("lastname")?,
        role: role(&role_text)?,
        joined_ms: row.try_get("joined_ms")?,
    })
}

fn sport(stored: &str) -> StoreResult<Sport> {
    Sport::parse(stored).map_err(|_| StoreError::decode("sport_type", stored))
}

/// `$from, $from+1, …` for `n` values.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn counted(row: &<Db as sqlx::Database>::Row) -> StoreResult<(AthleteId, CountedActivity)> {
    let sport_text: String = row.try_get("sport_type")?;
    Ok((
        AthleteId(row.try_get("athlete_id")?),
        CountedActivity {
            start_ms: row.try_get("start_ms")?,
            sport: sport(&sport_text)?,
            distance: row.try_get("distance")?,
            moving_time: row.try_get("moving_time")?,
            elevation_gain: row.try_get("total_elevation_gain")?,
        },
    ))
}

impl SqlStore {
    async fn adjust_count(
        tx: &mut sqlx::Transaction<'_, Db>,
        id: ClubId,
        by: i64,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE clubs SET member_count = member_count + $2 WHERE id = $1")
            .bind(id.0)
            .bind(by)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl ClubStore for SqlStore {
    async fn create_club(
        &self,
        owner: AthleteId,
        new: &NewClub,
        now_ms: i64,
    ) -> StoreResult<ClubRow> {
        let mut tx = self.begin_write().await?;
        let sql = format!(
            "INSERT INTO clubs (name, description, sport_type, country, state, city, timezone, \
             private, owner_id, member_count, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10) RETURNING {CLUB_FIELDS}"
        );
        let row = sqlx::query(&sql)
            .bind(&new.name)
            .bind(&new.description)
            .bind(new.sport.as_str())
            .bind(&new.country)
            .bind(&new.state)
            .bind(&new.city)
            .bind(new.timezone.name())
            .bind(new.private)
            .bind(owner.0)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await?;
        let created = club(&row)?;
        sqlx::query(
            "INSERT INTO club_members (club_id, athlete_id, role, joined_ms) VALUES ($1, $2, $3, $4)",
        )
        .bind(created.id.0)
        .bind(owner.0)
        .bind(ClubRole::Owner.as_str())
        .bind(now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(created)
    }

    async fn club_for(&self, id: ClubId, viewer: AthleteId) -> StoreResult<Option<ClubFor>> {
        let sql = format!(
            "SELECT {CLUB_COLUMNS}, m.role, \
             (SELECT COUNT(*) FROM club_join_requests r WHERE r.club_id = c.id AND r.athlete_id = $2) \
             AS requested \
             FROM clubs c LEFT JOIN club_members m ON m.club_id = c.id AND m.athlete_id = $2 \
             WHERE c.id = $1"
        );
        sqlx::query(&sql)
            .bind(id.0)
            .bind(viewer.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(club_for)
            .transpose()
    }

    async fn clubs_of(&self, athlete: AthleteId) -> StoreResult<Vec<ClubFor>> {
        let sql = format!(
            "SELECT {CLUB_COLUMNS}, m.role, CAST(0 AS BIGINT) AS requested \
             FROM club_members m JOIN clubs c ON c.id = m.club_id \
             WHERE m.athlete_id = $1 ORDER BY m.joined_ms, c.id LIMIT 1000"
        );
        sqlx::query(&sql)
            .bind(athlete.0)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(club_for)
            .collect()
    }

    async fn club_members(
        &self,
        id: ClubId,
        after: AthleteId,
        skip: u64,
        limit: u32,
    ) -> StoreResult<Vec<MemberRow>> {
        sqlx::query(&format!(
            "{MEMBERS} WHERE m.club_id = $1 AND m.athlete_id > $2 \
             ORDER BY m.athlete_id LIMIT $3 OFFSET $4"
        ))
        .bind(id.0)
        .bind(after.0)
        .bind(i64::from(limit))
        .bind(i64::try_from(skip).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(member)
        .collect()
    }

    async fn club_admins(&self, id: ClubId, skip: u64, limit: u32) -> StoreResult<Vec<MemberRow>> {
        sqlx::query(&format!(
            "{MEMBERS} WHERE m.club_id = $1 AND m.role <> 'member' \
             ORDER BY m.athlete_id LIMIT $2 OFFSET $3"
        ))
        .bind(id.0)
        .bind(i64::from(limit))
        .bind(i64::try_from(skip).unwrap_or(i64::MAX))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(member)
        .collect()
    }

    async fn join_club(
        &self,
        id: ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<JoinOutcome> {
        let mut tx = self.begin_write().await?;
        let private: bool = sqlx::query_scalar("SELECT private FROM clubs WHERE id = $1")
            .bind(id.0)
            .fetch_one(&mut *tx)
            .await?;
        let member: Option<String> = sqlx::query_scalar(
            "SELECT role FROM club_members WHERE club_id = $1 AND athlete_id = $2",
        )
        .bind(id.0)
        .bind(athlete.0)
        .fetch_optional(&mut *tx)
        .await?;
        if member.is_some() {
            return Ok(JoinOutcome::AlreadyMember);
        }
        let outcome = if private {
            let added = sqlx::query(
                "INSERT INTO club_join_requests (club_id, athlete_id, requested_ms) \
                 VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(athlete.0)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added > 0 {
                JoinOutcome::Requested
            } else {
                JoinOutcome::AlreadyRequested
            }
        } else {
            let added = sqlx::query(
                "INSERT INTO club_members (club_id, athlete_id, role, joined_ms) \
                 VALUES ($1, $2, 'member', $3) ON CONFLICT DO NOTHING",
            )
            .bind(id.0)
            .bind(athlete.0)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if added == 0 {
                return Ok(JoinOutcome::AlreadyMember);
            }
            Self::adjust_count(&mut tx, id, 1).await?;
            JoinOutcome::Joined
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn leave_club(&self, id: ClubId, athlete: AthleteId) -> StoreResult<LeaveOutcome> {
        let mut tx = self.begin_write().await?;
        let member: Option<String> = sqlx::query_scalar(
            "SELECT role FROM club_members WHERE club_id = $1 AND athlete_id = $2",
        )
        .bind(id.0)
        .bind(athlete.0)
        .fetch_optional(&mut *tx)
        .await?;
        let outcome = match member.as_deref().map(role).transpose()? {
            Some(ClubRole::Owner) => return Ok(LeaveOutcome::Owner),
            Some(_) => {
                sqlx::query("DELETE FROM club_members WHERE club_id = $1 AND athlete_id = $2")
                    .bind(id.0)
                    .bind(athlete.0)
                    .execute(&mut *tx)
                    .await?;
                Self::adjust_count(&mut tx, id, -1).await?;
                LeaveOutcome::Left
            }
            None => LeaveOutcome::NotMember,
        };
        sqlx::query("DELETE FROM club_join_requests WHERE club_id = $1 AND athlete_id = $2")
            .bind(id.0)
            .bind(athlete.0)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn join_requests(&self, id: ClubId, limit: u32) -> StoreResult<Vec<MemberRow>> {
        sqlx::query(
            "SELECT r.athlete_id, u.firstname, u.lastname, 'member' AS role, \
             r.requested_ms AS joined_ms \
             FROM club_join_requests r JOIN athletes u ON u.id = r.athlete_id \
             WHERE r.club_id = $1 ORDER BY r.requested_ms, r.athlete_id LIMIT $2",
        )
        .bind(id.0)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(member)
        .collect()
    }

    async fn approve_request(
        &self,
        id: ClubId,
        athlete: AthleteId,
        now_ms: i64,
    ) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let removed =
            sqlx::query("DELETE FROM club_join_requests WHERE club_id = $1 AND athlete_id = $2")
                .bind(id.0)
                .bind(athlete.0)
                .execute(&mut *tx)
                .await?
                .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        let added = sqlx::query(
            "INSERT INTO club_members (club_id, athlete_id, role, joined_ms) \
             VALUES ($1, $2, 'member', $3) ON CONFLICT DO NOTHING",
        )
        .bind(id.0)
        .bind(athlete.0)
        .bind(now_ms)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if added > 0 {
            Self::adjust_count(&mut tx, id, 1).await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn decline_request(&self, id: ClubId, athlete: AthleteId) -> StoreResult<bool> {
        Ok(
            sqlx::query("DELETE FROM club_join_requests WHERE club_id = $1 AND athlete_id = $2")
                .bind(id.0)
                .bind(athlete.0)
                .execute(self.pool())
                .await?
                .rows_affected()
                > 0,
        )
    }

    async fn remove_member(&self, id: ClubId, athlete: AthleteId) -> StoreResult<bool> {
        let mut tx = self.begin_write().await?;
        let removed = sqlx::query(
            "DELETE FROM club_members WHERE club_id = $1 AND athlete_id = $2 AND role <> 'owner'",
        )
        .bind(id.0)
        .bind(athlete.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if removed == 0 {
            return Ok(false);
        }
        Self::adjust_count(&mut tx, id, -1).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn club_activities(
        &self,
        id: ClubId,
        viewer: AthleteId,
        before: Option<FeedCursor>,
        limit: u32,
    ) -> StoreResult<Vec<ActivityRow>> {
        let cursor = before.unwrap_or(FeedCursor {
            start_ms: i64::MAX,
            id: i64::MAX,
        });
        // Everyone's public activities, friends' followers-only ones and the
        // viewer's own; never another's only_me.
        let sql = format!(
            "{ACTIVITY_SELECT} WHERE a.state = 'COMPLETE' AND (a.start_ms, a.id) < ($3, $4) \
             AND EXISTS (SELECT 1 FROM club_members m WHERE m.club_id = $1 AND m.athlete_id = a.athlete_id) \
             AND (a.athlete_id = $2 OR a.visibility = 'everyone' OR (a.visibility = 'followers_only' \
             AND EXISTS (SELECT 1 FROM friend_edges f1 JOIN friend_edges f2 \
             ON f2.from_id = f1.to_id AND f2.to_id = f1.from_id \
             WHERE f1.from_id = $2 AND f1.to_id = a.athlete_id))) \
             ORDER BY a.start_ms DESC, a.id DESC LIMIT $5"
        );
        let rows: Vec<StoredActivity> = sqlx::query_as(&sql)
            .bind(id.0)
            .bind(viewer.0)
            .bind(cursor.start_ms)
            .bind(cursor.id)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(StoredActivity::decode).collect()
    }

    async fn add_club_members(
        &self,
        id: ClubId,
        athletes: &[AthleteId],
        now_ms: i64,
    ) -> StoreResult<u64> {
        let mut tx = self.begin_write().await?;
        let mut added = 0;
        for chunk in athletes.chunks(IN_CHUNK) {
            let values = (0..chunk.len())
                .map(|i| format!("($1, ${}, 'member', $2)", i + 3))
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO club_members (club_id, athlete_id, role, joined_ms) VALUES {values} \
                 ON CONFLICT DO NOTHING"
            );
            let mut q = sqlx::query(&sql).bind(id.0).bind(now_ms);
            for a in chunk {
                q = q.bind(a.0);
            }
            added += q.execute(&mut *tx).await?.rows_affected();
        }
        Self::adjust_count(&mut tx, id, i64::try_from(added).unwrap_or(i64::MAX)).await?;
        tx.commit().await?;
        Ok(added)
    }

    async fn board_club(&self, id: ClubId) -> StoreResult<Option<BoardClub>> {
        let sql = format!("SELECT {CLUB_COLUMNS} FROM clubs c WHERE c.id = $1");
        Ok(sqlx::query(&sql)
            .bind(id.0)
            .fetch_optional(self.pool())
            .await?
            .as_ref()
            .map(club)
            .transpose()?
            .map(|c| BoardClub {
                id: c.id,
                sport: c.sport,
                timezone: c.timezone,
            }))
    }

    async fn board_clubs_of(
        &self,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, BoardClub)>> {
        let mut out = Vec::new();
        for chunk in athletes.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT m.athlete_id, c.id, c.sport_type, c.timezone FROM club_members m \
                 JOIN clubs c ON c.id = m.club_id WHERE m.athlete_id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query(&sql);
            for a in chunk {
                q = q.bind(a.0);
            }
            for row in q.fetch_all(self.pool()).await? {
                let sport_text: String = row.try_get("sport_type")?;
                let tz: String = row.try_get("timezone")?;
                out.push((
                    AthleteId(row.try_get("athlete_id")?),
                    BoardClub {
                        id: ClubId(row.try_get("id")?),
                        sport: ClubSport::parse(&sport_text)
                            .map_err(|_| StoreError::decode("sport_type", &sport_text))?,
                        timezone: ClubTz::parse(&tz)
                            .map_err(|_| StoreError::decode("timezone", &tz))?,
                    },
                ));
            }
        }
        Ok(out)
    }

    async fn counted_activities(
        &self,
        athletes: &[AthleteId],
        since_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, CountedActivity)>> {
        let mut out = Vec::new();
        for chunk in athletes.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT athlete_id, start_ms, sport_type, distance, moving_time, total_elevation_gain \
                 FROM activities WHERE state = 'COMPLETE' AND visibility <> 'only_me' \
                 AND start_ms >= $1 AND athlete_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query(&sql).bind(since_ms);
            for a in chunk {
                q = q.bind(a.0);
            }
            for row in q.fetch_all(self.pool()).await? {
                out.push(counted(&row)?);
            }
        }
        Ok(out)
    }

    async fn club_week_totals(
        &self,
        id: ClubId,
        sport: ClubSport,
        from_ms: i64,
        to_ms: i64,
    ) -> StoreResult<Vec<(AthleteId, WeekTotals)>> {
        let sport_filter = match sport.only() {
            Some(_) => "AND a.sport_type = $4",
            None => "",
        };
        let sql = format!(
            "SELECT a.athlete_id, COUNT(*) AS n, SUM(a.distance) AS distance, \
             CAST(SUM(a.moving_time) AS BIGINT) AS moving_time, \
             SUM(a.total_elevation_gain) AS elevation_gain, MAX(a.distance) AS longest \
             FROM activities a JOIN club_members m ON m.athlete_id = a.athlete_id AND m.club_id = $1 \
             WHERE a.state = 'COMPLETE' AND a.visibility <> 'only_me' \
             AND a.start_ms >= $2 AND a.start_ms < $3 {sport_filter} GROUP BY a.athlete_id"
        );
        let mut q = sqlx::query(&sql).bind(id.0).bind(from_ms).bind(to_ms);
        if let Some(s) = sport.only() {
            q = q.bind(s.as_str());
        }
        // A club of millions takes longer than one ordinary statement may.
        let mut tx = self.pool().begin().await?;
        if BACKEND == "postgres" {
            sqlx::query(REBUILD_TIMEOUT).execute(&mut *tx).await?;
        }
        let rows = q.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        let mut out = Vec::new();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            out.push((
                AthleteId(row.try_get("athlete_id")?),
                WeekTotals {
                    activities: u32::try_from(n).unwrap_or(u32::MAX),
                    distance: row.try_get("distance")?,
                    moving_time: row.try_get("moving_time")?,
                    elevation_gain: row.try_get("elevation_gain")?,
                    longest: row.try_get("longest")?,
                },
            ));
        }
        Ok(out)
    }

    async fn athlete_names(
        &self,
        ids: &[AthleteId],
    ) -> StoreResult<Vec<(AthleteId, String, String)>> {
        let mut out = Vec::new();
        for chunk in ids.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT id, firstname, lastname FROM athletes WHERE id IN ({})",
                placeholders(1, chunk.len())
            );
            let mut q = sqlx::query_as::<_, (i64, String, String)>(&sql);
            for a in chunk {
                q = q.bind(a.0);
            }
            for (id, first, last) in q.fetch_all(self.pool()).await? {
                out.push((AthleteId(id), first, last));
            }
        }
        Ok(out)
    }

    async fn members_among(
        &self,
        id: ClubId,
        athletes: &[AthleteId],
    ) -> StoreResult<Vec<AthleteId>> {
        let mut out = Vec::new();
        for chunk in athletes.chunks(IN_CHUNK) {
            let sql = format!(
                "SELECT athlete_id FROM club_members WHERE club_id = $1 AND athlete_id IN ({})",
                placeholders(2, chunk.len())
            );
            let mut q = sqlx::query_scalar::<_, i64>(&sql).bind(id.0);
            for a in chunk {
                q = q.bind(a.0);
            }
            out.extend(q.fetch_all(self.pool()).await?.into_iter().map(AthleteId));
        }
        Ok(out)
    }
}
