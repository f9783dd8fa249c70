//! The one-time best efforts backfill: activities completed before best
//! efforts existed, whose change-log events were pruned before the
//! `best_efforts` consumer started, get their efforts here and their
//! athletes queued for the global leaderboards.
//!
//! It walks completed activities without efforts in id order up to the
//! highest id when migration 0014 ran, a bounded batch at a time, pausing
//! between batches so it never crowds out the live work. Each batch's
//! efforts, queue rows and the marker move commit together
//! (`best_effort_backfill`), so a restart resumes after the last batch and
//! several nodes share the walk without doing a batch twice.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::best_efforts::BestEfforts;
use crate::domain::{now_ms, AthleteId};
use crate::store::best_efforts::queue_athlete;
use crate::store::DynStore;

/// Activities per batch (each one's route is read and scanned).
pub const BATCH: u32 = 50;
/// Pause between batches.
const PAUSE: Duration = Duration::from_millis(50);
/// Pause after a failure before the batch is tried again.
const RETRY: Duration = Duration::from_secs(5);

/// Runs the backfill to its end (at once if it is done); `wake` tells the
/// global leaderboards that athletes were queued.
pub fn start(store: DynStore, wake: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut filled = 0u64;
        loop {
            match step(&store).await {
                Ok(Step::Done) => {
                    if filled > 0 {
                        tracing::info!(activities = filled, "best efforts backfill done");
                    }
                    return;
                }
                Ok(Step::Batch { activities, queued }) => {
                    filled += activities;
                    if queued {
                        wake.notify_one();
                    }
                    tokio::time::sleep(PAUSE).await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "best efforts backfill failed; retrying");
                    tokio::time::sleep(RETRY).await;
                }
            }
        }
    })
}

enum Step {
    Done,
    Batch { activities: u64, queued: bool },
}

async fn step(store: &DynStore) -> Result<Step, String> {
    let Some((after, upto)) = store
        .effort_backfill_position()
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(Step::Done);
    };
    if after >= upto {
        return Ok(Step::Done);
    }
    let candidates = store
        .effort_backfill_candidates(after, upto, BATCH)
        .await
        .map_err(|e| e.to_string())?;
    // A short batch is the last one: the marker goes to the end.
    let to = match candidates.last() {
        Some((id, _, _)) if candidates.len() == BATCH as usize => id.0,
        _ => upto,
    };
    let mut effects = Vec::new();
    let mut athletes: HashSet<AthleteId> = HashSet::new();
    for &(activity, athlete, version) in &candidates {
        let mine = BestEfforts::efforts(store, activity, Some(version))
            .await
            .map_err(|e| e.to_string())?;
        if !mine.is_empty() {
            athletes.insert(athlete);
            effects.extend(mine);
        }
    }
    let now = now_ms();
    // Last: the queue's counter lock is then held only to the commit.
    for a in &athletes {
        effects.extend(queue_athlete(*a, now));
    }
    let applied = store
        .commit_effort_backfill(after, to, &effects, now)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Step::Batch {
        activities: if applied { candidates.len() as u64 } else { 0 },
        queued: applied && !athletes.is_empty(),
    })
}
