//! Keeps this node's global leaderboards: built from the database at
//! start (and when the UTC year turns, since age groups move), then
//! updated per athlete from the boards' work queue (`best_effort_changes`,
//! filled by the `best_efforts` consumer and by profile edits in their own
//! transactions). Every node tails the queue, so every node's boards
//! follow every change. A node that fell behind the queue's pruning
//! builds again.

use std::sync::{Arc, RwLock, Weak};
use std::time::{Duration, Instant};

use chrono::Datelike;
use futures_util::{stream, StreamExt, TryStreamExt};
use tokio::sync::Notify;

use crate::domain::{now_ms, AthleteId};
use crate::leaderboards::global::Boards;
use crate::store::{DynStore, StoreResult};

/// Rows read per query while building.
const LOAD_BATCH: u32 = 20_000;
/// Queue rows read at once while tailing.
const TAIL_BATCH: u32 = 2_000;
/// Athletes refreshed at once (their reads in parallel).
const REFRESH_CONCURRENCY: usize = 16;
/// This node's writers of the queue wake the tail (`GlobalBoards::wake`:
/// the `best_efforts` consumer, profile edits); without a wake-up the
/// queue is read this often, for rows other nodes wrote.
const SAFETY_POLL: Duration = Duration::from_secs(30);
/// Queue rows older than this are pruned; a node further behind rebuilds.
pub const QUEUE_RETENTION_MS: i64 = 3_600_000;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const RETRY: Duration = Duration::from_secs(1);

pub struct GlobalBoards {
    current: RwLock<Option<Arc<Boards>>>,
    wake: Arc<Notify>,
}

fn year_of(ms: i64) -> i32 {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .year()
}

impl GlobalBoards {
    /// Starts building and then tailing on the current runtime, until the
    /// node stops. `wake` is notified by this node's writers of the queue
    /// (no polling delay).
    pub fn start(
        store: DynStore,
        wake: Arc<Notify>,
        background: &crate::background::Background,
    ) -> Arc<GlobalBoards> {
        let boards = Arc::new(GlobalBoards {
            current: RwLock::new(None),
            wake,
        });
        background.spawn("leaderboards.global", run(Arc::downgrade(&boards), store));
        boards
    }

    /// The boards, once built.
    pub fn boards(&self) -> Option<Arc<Boards>> {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the queue now (a change was just committed on this node).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn set(&self, boards: Arc<Boards>) {
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(boards);
    }
}

/// Builds every board from the database.
pub async fn build(store: &DynStore, now: i64) -> StoreResult<Boards> {
    let boards = Boards::new(year_of(now), now);
    let mut after = 0;
    loop {
        let page = store.board_athletes_after(after, LOAD_BATCH).await?;
        let Some(last) = page.last() else { break };
        after = last.id.0;
        for a in &page {
            boards.add_athlete(a);
        }
    }
    let mut after = 0;
    loop {
        let page = store.best_board_efforts_after(after, LOAD_BATCH).await?;
        let Some(&(last, _)) = page.last() else {
            break;
        };
        after = last;
        for (_, e) in &page {
            boards.add_effort(e, now);
        }
    }
    boards.finish();
    Ok(boards)
}

/// Reads the athletes' profiles and efforts again and moves their entries.
pub async fn refresh(store: &DynStore, boards: &Boards, athletes: &[AthleteId]) -> StoreResult<()> {
    let loaded: Vec<_> = stream::iter(athletes.iter().copied())
        .map(|id| async move {
            let profile = store.board_athlete(id).await?;
            let efforts = match profile {
                Some(_) => store.athlete_board_efforts(id).await?,
                None => Vec::new(),
            };
            StoreResult::Ok((id, profile, efforts))
        })
        .buffer_unordered(REFRESH_CONCURRENCY)
        .try_collect()
        .await?;
    let now = now_ms();
    for (id, profile, efforts) in loaded {
        boards.refresh(id, profile.as_ref(), &efforts, now);
    }
    Ok(())
}

/// Why tailing stopped.
enum Stop {
    Rebuild,
    Gone,
}

async fn run(this: Weak<GlobalBoards>, store: DynStore) {
    loop {
        // The queue position first: changes made while loading are read
        // again afterwards (refreshing is idempotent).
        let built = async {
            let pos = store.board_change_head().await?;
            let started = Instant::now();
            let boards = Arc::new(build(&store, now_ms()).await?);
            tracing::info!(
                entries = boards.set_entries(),
                ms = started.elapsed().as_millis() as u64,
                "global leaderboards built"
            );
            StoreResult::Ok((pos, boards))
        }
        .await;
        let (pos, boards) = match built {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "building the global leaderboards failed; retrying");
                tokio::time::sleep(RETRY).await;
                if this.strong_count() == 0 {
                    return;
                }
                continue;
            }
        };
        let Some(wake) = this.upgrade().map(|g| {
            g.set(boards.clone());
            g.wake.clone()
        }) else {
            return;
        };
        match tail(&this, &store, &boards, &wake, pos).await {
            Stop::Rebuild => continue,
            Stop::Gone => return,
        }
    }
}

async fn tail(
    this: &Weak<GlobalBoards>,
    store: &DynStore,
    boards: &Boards,
    wake: &Notify,
    mut pos: i64,
) -> Stop {
    let mut last_prune: Option<Instant> = None;
    loop {
        if this.strong_count() == 0 {
            return Stop::Gone;
        }
        if year_of(now_ms()) != boards.year() {
            return Stop::Rebuild;
        }
        if last_prune.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(Instant::now());
            if let Err(e) = store
                .prune_board_changes(now_ms() - QUEUE_RETENTION_MS)
                .await
            {
                tracing::debug!(error = %e, "pruning the leaderboards' queue failed");
            }
        }
        let rows = match store.board_changes_after(pos, TAIL_BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the leaderboards' queue failed");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let Some(&(first, _)) = rows.first() else {
            let _ = tokio::time::timeout(SAFETY_POLL, wake.notified()).await;
            continue;
        };
        // Queue numbers have no gaps: a jump means rows were pruned
        // before this node read them.
        if first > pos + 1 {
            tracing::warn!(
                pos,
                first,
                "the leaderboards' queue moved past this node; rebuilding"
            );
            return Stop::Rebuild;
        }
        let mut athletes: Vec<AthleteId> = rows.iter().map(|&(_, a)| a).collect();
        athletes.sort_unstable_by_key(|a| a.0);
        athletes.dedup();
        if let Err(e) = refresh(store, boards, &athletes).await {
            tracing::warn!(error = %e, "refreshing leaderboard entries failed; retrying");
            tokio::time::sleep(RETRY).await;
            continue;
        }
        pos = rows.last().map_or(pos, |&(seq, _)| seq);
    }
}
