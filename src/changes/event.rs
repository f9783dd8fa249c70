//! The change log's values: what happened to an activity, decoded once in
//! the store. Pure: no actix, no sqlx.

use crate::domain::activity::{ActivityState, Visibility};
use crate::domain::{ActivityId, AthleteId};

/// What happened to an activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChangeKind {
    /// Recording began (a live activity was created).
    Started,
    Paused,
    Resumed,
    /// A live activity finished (by its owner, sync or auto-complete).
    Completed,
    /// A finished activity arrived whole (file upload or import).
    Created,
    /// Fields of an existing activity changed (see `Changed`).
    Updated,
    Deleted,
}

impl ChangeKind {
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::Started,
        ChangeKind::Paused,
        ChangeKind::Resumed,
        ChangeKind::Completed,
        ChangeKind::Created,
        ChangeKind::Updated,
        ChangeKind::Deleted,
    ];

    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Started => "started",
            ChangeKind::Paused => "paused",
            ChangeKind::Resumed => "resumed",
            ChangeKind::Completed => "completed",
            ChangeKind::Created => "created",
            ChangeKind::Updated => "updated",
            ChangeKind::Deleted => "deleted",
        }
    }

    pub fn parse(s: &str) -> Option<ChangeKind> {
        ChangeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kind for a move between two recording states, if it is one.
    pub fn for_transition(from: ActivityState, to: ActivityState) -> Option<ChangeKind> {
        use ActivityState::*;
        match (from, to) {
            (Started, Paused) => Some(ChangeKind::Paused),
            (Paused, Started) => Some(ChangeKind::Resumed),
            (Started | Paused, Complete) => Some(ChangeKind::Completed),
            _ => None,
        }
    }
}

bitflags::bitflags! {
    /// The fields an event changed. Consumers re-read the current state;
    /// this only tells them whether they need to.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct Changed: i64 {
        const NAME = 1;
        const SPORT = 1 << 1;
        const VISIBILITY = 1 << 2;
        const START_DATE = 1 << 3;
        const ROUTE = 1 << 4;
        /// Recording state (started, paused, complete).
        const STATE = 1 << 5;
        /// Final stats (distance, times, splits).
        const STATS = 1 << 6;
        /// Reserved for the privacy zones and segment efforts to come.
        const PRIVACY = 1 << 7;
        const SEGMENTS = 1 << 8;
    }
}

impl Changed {
    /// Everything a new activity has.
    pub fn new_activity() -> Changed {
        Changed::NAME | Changed::SPORT | Changed::VISIBILITY | Changed::START_DATE | Changed::STATE
    }
}

/// One entry of the log, as consumers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    /// Global order; no gaps among committed events.
    pub seq: i64,
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    /// The activity's own version: 1 at creation, +1 per event.
    pub version: i64,
    pub kind: ChangeKind,
    pub changed: Changed,
    /// The activity's visibility just after the change (for a deletion,
    /// just before), so that who may hear of a deletion is known.
    pub visibility: Visibility,
    /// Epoch milliseconds of the commit's writer clock.
    pub at_ms: i64,
}

impl ChangeEvent {
    /// Partition among `n` by athlete: an athlete's events stay in order.
    pub fn athlete_partition(&self, n: u32) -> u32 {
        (self.athlete_id.0.unsigned_abs() % u64::from(n.max(1))) as u32
    }
}

/// An event to append, before it has a sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewChange {
    pub activity_id: ActivityId,
    pub athlete_id: AthleteId,
    pub version: i64,
    pub kind: ChangeKind,
    pub changed: Changed,
    pub visibility: Visibility,
    pub at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for k in ChangeKind::ALL {
            assert_eq!(ChangeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(ChangeKind::parse("exploded"), None);
    }

    #[test]
    fn transitions() {
        use ActivityState::*;
        assert_eq!(
            ChangeKind::for_transition(Started, Paused),
            Some(ChangeKind::Paused)
        );
        assert_eq!(
            ChangeKind::for_transition(Paused, Started),
            Some(ChangeKind::Resumed)
        );
        assert_eq!(
            ChangeKind::for_transition(Paused, Complete),
            Some(ChangeKind::Completed)
        );
        assert_eq!(ChangeKind::for_transition(Started, Started), None);
        assert_eq!(ChangeKind::for_transition(Complete, Complete), None);
    }

    #[test]
    fn partitions_keep_an_athlete_together() {
        let e = |athlete| ChangeEvent {
            seq: 1,
            activity_id: ActivityId(1),
            athlete_id: AthleteId(athlete),
            version: 1,
            kind: ChangeKind::Started,
            changed: Changed::new_activity(),
            visibility: Visibility::Everyone,
            at_ms: 0,
        };
        assert_eq!(e(17).athlete_partition(8), 1);
        assert_eq!(e(17).athlete_partition(8), e(25).athlete_partition(8));
        assert_eq!(e(5).athlete_partition(0), 0);
    }
}
