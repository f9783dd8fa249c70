//! `club_boards`: the change-log consumer that keeps the club weekly
//! leaderboards. Each batch recomputes its athletes' this and last week
//! once from the database and sets the result on every board of every club
//! they belong to. Setting (not adding) makes a repeated batch harmless, so
//! the boards' writes (in memory or Redis) may happen before the position
//! commits: a crash in between repeats them.

use std::sync::Arc;

use async_trait::async_trait;

use super::club_boards::ClubBoards;
use crate::changes::consumer::{Consumer, ConsumerError};
use crate::changes::event::{ChangeEvent, ChangeKind, Changed};
use crate::domain::AthleteId;
use crate::store::changes::Statement;
use crate::store::DynStore;

pub const NAME: &str = "club_boards";

/// Whether the event may change what a board counts (a recording's start,
/// pause or rename does not).
fn counts(e: &ChangeEvent) -> bool {
    match e.kind {
        ChangeKind::Started | ChangeKind::Paused | ChangeKind::Resumed => false,
        ChangeKind::Completed | ChangeKind::Created | ChangeKind::Deleted => true,
        ChangeKind::Updated => e.changed.intersects(
            Changed::SPORT
                | Changed::VISIBILITY
                | Changed::START_DATE
                | Changed::ROUTE
                | Changed::STATE
                | Changed::STATS,
        ),
    }
}

pub struct ClubBoardsConsumer {
    pub boards: Arc<ClubBoards>,
    pub partitions: u32,
}

#[async_trait]
impl Consumer for ClubBoardsConsumer {
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
        let mut athletes: Vec<AthleteId> = events
            .iter()
            .filter(|e| counts(e))
            .map(|e| e.athlete_id)
            .collect();
        athletes.sort_unstable();
        athletes.dedup();
        self.boards
            .refresh_athletes(&athletes)
            .await
            .map_err(|e| ConsumerError::Failed(e.to_string()))?;
        Ok(Vec::new())
    }
}
