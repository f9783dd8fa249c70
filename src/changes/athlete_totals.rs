//! `athlete_totals`: weekly totals per athlete and sport of completed
//! activities (what club leaderboards rank), kept by the change log.
//!
//! Each completed activity's contribution is remembered in
//! `athlete_totals_sources`; an event takes the old contribution out of its
//! week and puts the current one (re-read from `activities`, in the same
//! transaction) in. The sums are increments, so they are only right if
//! each event is applied exactly once: the runner's guarantee.

use async_trait::async_trait;

use crate::changes::consumer::{Consumer, ConsumerError};
use crate::changes::event::ChangeEvent;
use crate::store::changes::Statement;
use crate::store::DynStore;

pub const NAME: &str = "athlete_totals";
/// Weeks start on Monday 00:00 UTC; 1970-01-05 was a Monday.
pub const FIRST_MONDAY_MS: i64 = 4 * 86_400_000;
pub const WEEK_MS: i64 = 7 * 86_400_000;

/// The start of the UTC week (Monday) holding `t_ms`.
pub fn week_start_ms(t_ms: i64) -> i64 {
    t_ms - (t_ms - FIRST_MONDAY_MS).rem_euclid(WEEK_MS)
}

pub struct AthleteTotals {
    pub partitions: u32,
}

impl AthleteTotals {
    /// The statements that move one activity's contribution to its current
    /// state (none if it is gone or not complete).
    fn refresh(activity_id: i64, athlete_id: i64) -> [Statement; 5] {
        [
            Statement::new(
                "UPDATE athlete_week_totals SET activities = activities - 1, \
                 distance = distance - (SELECT distance FROM athlete_totals_sources WHERE activity_id = $1), \
                 moving_time = moving_time - (SELECT moving_time FROM athlete_totals_sources WHERE activity_id = $1), \
                 elevation_gain = elevation_gain - (SELECT elevation_gain FROM athlete_totals_sources WHERE activity_id = $1) \
                 WHERE (athlete_id, week_start_ms, sport_type) IN \
                 (SELECT athlete_id, week_start_ms, sport_type FROM athlete_totals_sources WHERE activity_id = $1)",
            )
            .int(activity_id),
            Statement::new("DELETE FROM athlete_totals_sources WHERE activity_id = $1")
                .int(activity_id),
            Statement::new(
                "INSERT INTO athlete_totals_sources (activity_id, athlete_id, week_start_ms, \
                 sport_type, distance, moving_time, elevation_gain) \
                 SELECT id, athlete_id, start_ms - ((start_ms - $2) % $3 + $3) % $3, sport_type, \
                 distance, moving_time, total_elevation_gain FROM activities \
                 WHERE id = $1 AND state = 'COMPLETE'",
            )
            .int(activity_id)
            .int(FIRST_MONDAY_MS)
            .int(WEEK_MS),
            Statement::new(
                "INSERT INTO athlete_week_totals (athlete_id, week_start_ms, sport_type, \
                 activities, distance, moving_time, elevation_gain) \
                 SELECT athlete_id, week_start_ms, sport_type, 1, distance, moving_time, \
                 elevation_gain FROM athlete_totals_sources WHERE activity_id = $1 \
                 ON CONFLICT (athlete_id, week_start_ms, sport_type) DO UPDATE SET \
                 activities = athlete_week_totals.activities + excluded.activities, \
                 distance = athlete_week_totals.distance + excluded.distance, \
                 moving_time = athlete_week_totals.moving_time + excluded.moving_time, \
                 elevation_gain = athlete_week_totals.elevation_gain + excluded.elevation_gain",
            )
            .int(activity_id),
            Statement::new(
                "DELETE FROM athlete_week_totals WHERE athlete_id = $1 AND activities <= 0",
            )
            .int(athlete_id),
        ]
    }
}

#[async_trait]
impl Consumer for AthleteTotals {
    fn name(&self) -> &'static str {
        NAME
    }

    fn partitions(&self) -> u32 {
        self.partitions
    }

    async fn apply(
        &self,
        _store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError> {
        // The current state is re-read, so several events of one activity
        // in a batch need one refresh.
        let mut seen = std::collections::HashSet::new();
        Ok(events
            .iter()
            .filter(|e| seen.insert(e.activity_id))
            .flat_map(|e| Self::refresh(e.activity_id.0, e.athlete_id.0))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_start_on_monday_utc() {
        // 2024-06-05 (a Wednesday) 12:00 UTC → Monday 2024-06-03 00:00 UTC.
        assert_eq!(week_start_ms(1_717_588_800_000), 1_717_372_800_000);
        assert_eq!(week_start_ms(1_717_372_800_000), 1_717_372_800_000);
        assert_eq!(
            week_start_ms(1_717_372_799_999),
            1_717_372_800_000 - WEEK_MS
        );
    }
}
