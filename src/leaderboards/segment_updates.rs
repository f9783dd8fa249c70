//! Keeps the segment boards current from the database.
//!
//! At start the boards are built from `segment_efforts` (the durable
//! truth), so a restart or a kill -9 loses nothing: no board state is
//! stored anywhere else. Then a reader tails the work queue
//! `segment_effort_changes` (one row per changed (segment, athlete) slot,
//! written by the matcher in the transaction that changed the efforts) in
//! seq order and routes each row by its slot's hash to one of several
//! workers over a bounded channel: one slot's changes are applied by one
//! worker in order, slots in parallel. A worker applies a change by
//! reading the slot's current efforts from the database and replacing the
//! slot on the boards, so applying it twice, or late, is harmless and
//! add / remove / add always ends with what the database says last.
//! Applied rows are pruned. Athletes' changed details (sex, birth year,
//! weight, name) are polled and move their entries.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::domain::{now_ms, AthleteId};
use crate::leaderboards::segment_boards::Effort;
use crate::leaderboards::segment_service::SegmentLeaderboards;
use crate::store::segment_boards::{BoardEffort, SlotChange};
use crate::store::{DynStore, StoreResult};

#[derive(Debug, Clone, Copy)]
pub struct UpdateSettings {
    /// Parallel workers (slots are hashed across them).
    pub workers: usize,
    /// Queued slot changes per worker; the reader waits beyond.
    pub queue: usize,
    /// Queue rows read per query.
    pub read_batch: u32,
    /// Most slots a worker reloads in one go.
    pub apply_batch: usize,
    /// Queue poll interval when idle: bounds the added visibility delay.
    pub poll: Duration,
    /// Applied queue rows are deleted once this old (other nodes tailing
    /// the same queue have had time to read them).
    pub keep: Duration,
    /// How often changed athletes are looked up.
    pub athlete_poll: Duration,
    /// Efforts read per query at start.
    pub load_batch: u32,
}

impl Default for UpdateSettings {
    fn default() -> Self {
        UpdateSettings {
            workers: 4,
            queue: 4_096,
            read_batch: 2_000,
            apply_batch: 1_000,
            poll: Duration::from_millis(50),
            keep: Duration::from_secs(30),
            athlete_poll: Duration::from_secs(1),
            load_batch: 20_000,
        }
    }
}

/// Rows whose seq was skipped (a transaction that took its seq but had not
/// committed when a later one had, on Postgres) are waited for this long;
/// a rolled-back transaction's seq never comes.
const GAP_WAIT: Duration = Duration::from_secs(5);
/// Most skipped seqs tracked at once (a larger jump is not waited for).
const MAX_GAPS: i64 = 10_000;
/// At start the reader re-applies this many of the last queued rows: a
/// transaction may have committed them after the efforts were loaded.
const REPLAY_AT_START: i64 = 10_000;
const RETRY: Duration = Duration::from_millis(200);

enum Item {
    Slot(i64, AthleteId),
    /// Every row up to here has been routed.
    ReadUpTo(i64),
}

/// The running updaters; stopping (or dropping) aborts them.
pub struct Updates {
    tasks: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    /// Each worker's applied position (every row up to it is applied).
    applied: Arc<Vec<AtomicI64>>,
}

impl Updates {
    pub fn stop(&self) {
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
        {
            t.abort();
        }
    }

    /// The queue position every worker has applied.
    pub fn applied(&self) -> i64 {
        self.applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .min()
            .unwrap_or(0)
    }
}

impl Drop for Updates {
    fn drop(&mut self) {
        self.stop();
    }
}

fn effort(e: &BoardEffort) -> Effort {
    Effort {
        id: e.id,
        activity_id: e.activity_id,
        start_ms: e.start_ms,
        elapsed_ms: e.elapsed_ms,
        moving_ms: e.moving_ms,
        visibility: e.visibility,
    }
}

/// Starts building the boards and then keeping them current, in the
/// background; `service.is_ready()` turns true once built.
pub fn start(
    store: DynStore,
    service: Arc<SegmentLeaderboards>,
    settings: UpdateSettings,
) -> Updates {
    let workers = settings.workers.max(1);
    let applied: Arc<Vec<AtomicI64>> = Arc::new((0..workers).map(|_| AtomicI64::new(0)).collect());
    let updates = Updates {
        tasks: Arc::new(std::sync::Mutex::new(Vec::new())),
        applied: applied.clone(),
    };
    // The tasks started after the build register here too, so that
    // `stop` reaches them.
    let tasks = updates.tasks.clone();
    let main = tokio::spawn(async move {
        let since = now_ms();
        let head = loop {
            match build(&store, &service, settings).await {
                Ok(head) => break head,
                Err(e) => {
                    tracing::warn!(error = %e, "building the segment leaderboards failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        service.set_ready();
        let mut senders = Vec::with_capacity(workers);
        let mut spawned = Vec::new();
        for (i, a) in applied.iter().enumerate() {
            a.store(head, Ordering::Release);
            let (tx, rx) = mpsc::channel(settings.queue.max(1));
            senders.push(tx);
            spawned.push(tokio::spawn(worker(
                store.clone(),
                service.clone(),
                rx,
                applied.clone(),
                i,
                settings,
            )));
        }
        spawned.push(tokio::spawn(prune(
            store.clone(),
            applied.clone(),
            settings,
        )));
        spawned.push(tokio::spawn(athletes(
            store.clone(),
            service.clone(),
            since,
            settings,
        )));
        tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend(spawned);
        read(store, head, senders, settings).await;
    });
    updates
        .tasks
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(main);
    updates
}

impl Updates {
    /// The tasks, for the node's stop to abort and wait for.
    pub fn abort_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(JoinHandle::abort_handle)
            .collect()
    }
}

/// Builds every board from the stored efforts. Answers the queue position
/// to tail from.
async fn build(
    store: &DynStore,
    service: &SegmentLeaderboards,
    settings: UpdateSettings,
) -> StoreResult<i64> {
    let started = Instant::now();
    // Taken first: a change committed during the load is applied after it.
    let head = (store.slot_change_head().await? - REPLAY_AT_START).max(0);
    let mut slots: HashMap<(i64, AthleteId), Vec<Effort>> = HashMap::new();
    let mut after = 0;
    loop {
        let page = store
            .board_efforts_after(after, settings.load_batch)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for e in &page {
            slots
                .entry((e.segment_id, e.athlete_id))
                .or_default()
                .push(effort(e));
        }
    }
    let athletes: Vec<AthleteId> = slots
        .keys()
        .map(|(_, a)| *a)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for a in store.board_athletes(&athletes).await? {
        service.set_athlete(&a);
    }
    let now = now_ms();
    let n = slots.len();
    for ((segment, athlete), efforts) in slots {
        service.replace_slot(segment, athlete, efforts, now);
    }
    tracing::info!(
        slots = n,
        ms = started.elapsed().as_millis() as u64,
        "segment leaderboards built"
    );
    Ok(head)
}

fn partition(segment: i64, athlete: AthleteId, n: usize) -> usize {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (segment, athlete.0).hash(&mut h);
    (h.finish() % n as u64) as usize
}

/// Tails the queue and routes each row to its slot's worker.
async fn read(
    store: DynStore,
    start: i64,
    workers: Vec<mpsc::Sender<Item>>,
    settings: UpdateSettings,
) {
    let n = workers.len();
    let mut routed = start;
    // Skipped seqs still awaited, with when they were first missed.
    let mut gaps: BTreeMap<i64, Instant> = BTreeMap::new();
    loop {
        let mut rows: Vec<SlotChange> = Vec::new();
        if let Some((&first_gap, _)) = gaps.first_key_value() {
            match store
                .slot_changes_after(first_gap - 1, settings.read_batch)
                .await
            {
                Ok(late) => rows.extend(late.into_iter().filter(|r| gaps.contains_key(&r.seq))),
                Err(e) => tracing::warn!(error = %e, "reading the segment effort queue failed"),
            }
        }
        let fresh = match store.slot_changes_after(routed, settings.read_batch).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "reading the segment effort queue failed");
                tokio::time::sleep(RETRY).await;
                continue;
            }
        };
        let full = fresh.len() as u32 >= settings.read_batch;
        let now = Instant::now();
        for r in &fresh {
            if r.seq > routed + 1 && r.seq - routed - 1 <= MAX_GAPS {
                for s in routed + 1..r.seq {
                    gaps.insert(s, now);
                }
            }
            routed = routed.max(r.seq);
        }
        for r in rows.iter().chain(fresh.iter()) {
            gaps.remove(&r.seq);
            let w = partition(r.segment_id, r.athlete_id, n);
            if workers[w]
                .send(Item::Slot(r.segment_id, r.athlete_id))
                .await
                .is_err()
            {
                return;
            }
        }
        gaps.retain(|_, t| t.elapsed() < GAP_WAIT);
        let done = gaps.first_key_value().map_or(routed, |(s, _)| s - 1);
        for w in &workers {
            if w.send(Item::ReadUpTo(done)).await.is_err() {
                return;
            }
        }
        if !full {
            tokio::time::sleep(settings.poll).await;
        }
    }
}

/// Applies one partition's slot changes: reload the slot, replace it.
async fn worker(
    store: DynStore,
    service: Arc<SegmentLeaderboards>,
    mut rx: mpsc::Receiver<Item>,
    applied: Arc<Vec<AtomicI64>>,
    index: usize,
    settings: UpdateSettings,
) {
    let mut pending: Vec<Item> = Vec::with_capacity(settings.apply_batch);
    loop {
        pending.clear();
        let Some(first) = rx.recv().await else { return };
        pending.push(first);
        while pending.len() < settings.apply_batch {
            match rx.try_recv() {
                Ok(item) => pending.push(item),
                Err(_) => break,
            }
        }
        let mut by_segment: HashMap<i64, Vec<AthleteId>> = HashMap::new();
        let mut read_up_to = None;
        for item in &pending {
            match item {
                Item::Slot(segment, athlete) => {
                    let list = by_segment.entry(*segment).or_default();
                    if !list.contains(athlete) {
                        list.push(*athlete);
                    }
                }
                Item::ReadUpTo(s) => read_up_to = Some(*s),
            }
        }
        for (segment, athletes) in by_segment {
            // Retried until it succeeds: a change is never dropped.
            while let Err(e) = reload(&store, &service, segment, &athletes).await {
                tracing::warn!(error = %e, segment, "reloading segment slots failed; retrying");
                tokio::time::sleep(RETRY).await;
            }
        }
        if let Some(s) = read_up_to {
            applied[index].store(s, Ordering::Release);
        }
    }
}

async fn reload(
    store: &DynStore,
    service: &SegmentLeaderboards,
    segment: i64,
    athletes: &[AthleteId],
) -> StoreResult<()> {
    let unknown: Vec<AthleteId> = athletes
        .iter()
        .filter(|a| !service.knows_athlete(**a))
        .copied()
        .collect();
    if !unknown.is_empty() {
        for a in store.board_athletes(&unknown).await? {
            service.set_athlete(&a);
        }
    }
    let rows = store.slot_efforts(segment, athletes).await?;
    let mut slots: HashMap<AthleteId, Vec<Effort>> =
        athletes.iter().map(|a| (*a, Vec::new())).collect();
    for r in &rows {
        slots.entry(r.athlete_id).or_default().push(effort(r));
    }
    let now = now_ms();
    for (athlete, efforts) in slots {
        service.replace_slot(segment, athlete, efforts, now);
    }
    Ok(())
}

/// Deletes applied queue rows older than `keep`.
async fn prune(store: DynStore, applied: Arc<Vec<AtomicI64>>, settings: UpdateSettings) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let up_to = applied
            .iter()
            .map(|a| a.load(Ordering::Acquire))
            .min()
            .unwrap_or(0);
        let before = now_ms() - settings.keep.as_millis() as i64;
        if let Err(e) = store.prune_slot_changes(up_to, before).await {
            tracing::warn!(error = %e, "pruning the segment effort queue failed");
        }
    }
}

/// Moves changed athletes' entries (sex, birth year, weight) and names.
async fn athletes(
    store: DynStore,
    service: Arc<SegmentLeaderboards>,
    mut since: i64,
    settings: UpdateSettings,
) {
    const LIMIT: u32 = 1_000;
    loop {
        match store.athletes_changed_since(since, LIMIT).await {
            Ok(rows) => {
                let full = rows.len() as u32 >= LIMIT;
                let newest = rows.last().map_or(since, |a| a.updated_ms);
                for a in &rows {
                    if service.knows_athlete(a.id) {
                        service.set_athlete(a);
                    }
                }
                // A full page all at one instant would repeat forever.
                since = if full && newest == since {
                    since + 1
                } else {
                    newest
                };
                if full {
                    continue;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading changed athletes failed"),
        }
        tokio::time::sleep(settings.athlete_poll).await;
    }
}
