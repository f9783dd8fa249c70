//! `best_efforts`: each completed activity's best efforts, kept by the
//! change log. A completion, upload, sync, route or sport change computes
//! them again from the stored route and status log (the one completion's
//! samples, `domain::best_efforts`); a deletion removes them. Every event
//! that may move an athlete on the global leaderboards (those, and a
//! visibility change) queues the athlete for the boards in the same
//! transaction (`best_effort_changes`), which every node tails.

use std::collections::HashSet;

use async_trait::async_trait;

use crate::changes::consumer::{Consumer, ConsumerError};
use crate::changes::event::{ChangeEvent, ChangeKind, Changed};
use crate::domain::activity::ActivityState;
use crate::domain::best_efforts::for_activity;
use crate::domain::{now_ms, ActivityId};
use crate::store::best_efforts::queue_athlete;
use crate::store::changes::Statement;
use crate::store::DynStore;

pub const NAME: &str = "best_efforts";

pub struct BestEfforts {
    pub partitions: u32,
    /// Told when a batch queued athletes (this node's boards read at once).
    pub wake: std::sync::Arc<tokio::sync::Notify>,
}

/// Whether the event may change the activity's efforts.
fn recompute(e: &ChangeEvent) -> bool {
    match e.kind {
        ChangeKind::Completed | ChangeKind::Created | ChangeKind::Deleted => true,
        ChangeKind::Updated => e.changed.intersects(
            Changed::SPORT | Changed::ROUTE | Changed::STATS | Changed::START_DATE | Changed::STATE,
        ),
        // Still recording: nothing to rank yet.
        ChangeKind::Started | ChangeKind::Paused | ChangeKind::Resumed => false,
    }
}

/// Whether the event may move the athlete on a board.
fn touches_boards(e: &ChangeEvent) -> bool {
    recompute(e) || (e.kind == ChangeKind::Updated && e.changed.contains(Changed::VISIBILITY))
}

impl BestEfforts {
    /// The statements that replace the activity's efforts by those of its
    /// current state (none when it is gone or not complete).
    async fn refresh(store: &DynStore, id: ActivityId) -> Result<Vec<Statement>, ConsumerError> {
        Self::efforts(store, id, None).await
    }

    /// The refresh's statements; with `backfill_version` (the backfill's),
    /// nothing is deleted and each effort is written only while the
    /// activity is at that version and has none for the distance: the
    /// consumer's newer work is never overwritten with older.
    pub(crate) async fn efforts(
        store: &DynStore,
        id: ActivityId,
        backfill_version: Option<i64>,
    ) -> Result<Vec<Statement>, ConsumerError> {
        let mut out = match backfill_version {
            None => {
                vec![Statement::new("DELETE FROM best_efforts WHERE activity_id = $1").int(id.0)]
            }
            Some(_) => Vec::new(),
        };
        let Some(row) = store.activity(id).await? else {
            return Ok(out);
        };
        if row.state != ActivityState::Complete {
            return Ok(out);
        }
        let route = store.route(id).await?;
        let (sport, log) = (row.sport_type, row.status_log);
        // CPU work off the async workers for long routes.
        let efforts = tokio::task::spawn_blocking(move || for_activity(sport, &route, &log))
            .await
            .map_err(|e| ConsumerError::Failed(format!("best efforts of activity {id:?}: {e}")))?;
        let now = now_ms();
        for e in efforts {
            // Only while the activity is there and complete: a deletion
            // racing this batch leaves nothing behind.
            const INSERT: &str = "INSERT INTO best_efforts (activity_id, athlete_id, sport, \
                 distance_key, distance, elapsed_ms, moving_ms, start_ms, start_index, end_index, \
                 created_ms) SELECT id, athlete_id, $2, $3, $4, $5, $6, $7, $8, $9, $10 \
                 FROM activities WHERE id = $1 AND state = 'COMPLETE'";
            let sql = match backfill_version {
                None => INSERT.to_string(),
                Some(v) => format!(
                    "{INSERT} AND version = {v} AND NOT EXISTS (SELECT 1 FROM best_efforts x \
                     WHERE x.activity_id = $1 AND x.distance_key = $3)"
                ),
            };
            out.push(
                Statement::new(sql)
                    .int(id.0)
                    .text(sport.as_str())
                    .text(e.distance.as_str())
                    .real(e.distance.metres())
                    .int(e.elapsed_ms)
                    .int(e.moving_ms)
                    .int(e.start_ms)
                    .int(e.start_index as i64)
                    .int(e.end_index as i64)
                    .int(now),
            );
        }
        Ok(out)
    }
}

#[async_trait]
impl Consumer for BestEfforts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn apply(
        &self,
        store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        // The current state is re-read: one refresh per activity and one
        // queue entry per athlete in a batch.
        let mut activities = HashSet::new();
        let mut athletes = Vec::new();
        let mut out = Vec::new();
        for e in events.iter().filter(|e| touches_boards(e)) {
            if recompute(e) && activities.insert(e.activity_id) {
                out.extend(Self::refresh(store, e.activity_id).await?);
            }
            if !athletes.contains(&e.athlete_id) {
                athletes.push(e.athlete_id);
            }
        }
        let now = now_ms();
        // Last: the queue's counter lock is then held only to the commit.
        for a in athletes {
            out.extend(queue_athlete(a, now));
        }
        Ok(out)
    }

    fn after_commit(&self, events: &[ChangeEvent]) {
        if events.iter().any(touches_boards) {
            self.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::activity::Visibility;
    use crate::domain::AthleteId;

    fn event(kind: ChangeKind, changed: Changed) -> ChangeEvent {
        ChangeEvent {
            seq: 1,
            activity_id: ActivityId(1),
            athlete_id: AthleteId(1),
            version: 1,
            kind,
            changed,
            visibility: Visibility::Everyone,
            at_ms: 0,
        }
    }

    #[test]
    fn which_events_matter() {
        assert!(recompute(&event(ChangeKind::Completed, Changed::STATE)));
        assert!(recompute(&event(ChangeKind::Deleted, Changed::empty())));
        assert!(recompute(&event(ChangeKind::Updated, Changed::SPORT)));
        assert!(!recompute(&event(ChangeKind::Updated, Changed::VISIBILITY)));
        assert!(touches_boards(&event(
            ChangeKind::Updated,
            Changed::VISIBILITY
        )));
        assert!(!touches_boards(&event(ChangeKind::Updated, Changed::NAME)));
        assert!(!touches_boards(&event(
            ChangeKind::Updated,
            Changed::PRIVACY
        )));
        assert!(!touches_boards(&event(
            ChangeKind::Started,
            Changed::new_activity()
        )));
        assert!(!touches_boards(&event(ChangeKind::Paused, Changed::STATE)));
    }
}
