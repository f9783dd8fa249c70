//! Durable in-process consumers of the change log.
//!
//! A consumer names itself, says how its events are partitioned, and turns
//! a batch of one partition's events into effect statements. The runner
//! commits those statements together with the partition's new position in
//! one transaction, so a crash at any point neither loses an effect nor
//! applies one twice: after a restart each partition resumes after its
//! committed position. One worker per partition applies that partition's
//! events in order; partitions run in parallel.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::changes::event::ChangeEvent;
use crate::domain::now_ms;
use crate::store::changes::{Committed, Statement};
use crate::store::{DynStore, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ConsumerError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Failed(String),
}

#[async_trait]
pub trait Consumer: Send + Sync + 'static {
    /// Stable name: the key of its stored positions.
    fn name(&self) -> &'static str;

    /// Workers, each applying its partition's events in order.
    fn partitions(&self) -> u32 {
        1
    }

    /// Which partition an event belongs to (`% partitions()`); by default
    /// the athlete, so that an athlete's events are applied in order.
    fn partition_key(&self, event: &ChangeEvent) -> u64 {
        event.athlete_id.0.unsigned_abs()
    }

    /// The effect of a batch of one partition's events, in log order. The
    /// statements run in one transaction with the position move; an error
    /// writes nothing and the same batch is tried again later. Effects
    /// outside the database (a webhook call) must be idempotent, keyed by
    /// the event's `seq`: they may be repeated after a crash.
    async fn apply(
        &self,
        store: &DynStore,
        events: &[ChangeEvent],
    ) -> Result<Vec<Statement>, ConsumerError>;

    /// Called once a batch's effects are durable (say, to refresh an
    /// in-memory index from them). Not called for a batch another node
    /// had already applied.
    fn after_commit(&self, _events: &[ChangeEvent]) {}
}

/// How the runner reads and batches.
#[derive(Debug, Clone, Copy)]
pub struct RunnerSettings {
    /// Events read from the log per query.
    pub read_batch: u32,
    /// Most events applied in one transaction.
    pub apply_batch: usize,
    /// Events queued per partition worker (the dispatcher waits beyond).
    pub queue: usize,
    /// Log poll interval when no commit on this node woke the runner
    /// (other nodes' commits).
    pub poll: Duration,
    /// Wait before retrying a failed batch.
    pub retry: Duration,
}

impl Default for RunnerSettings {
    fn default() -> Self {
        RunnerSettings {
            read_batch: 2_000,
            apply_batch: 1_000,
            queue: 8_192,
            poll: Duration::from_millis(500),
            retry: Duration::from_millis(500),
        }
    }
}

/// How often a partition with nothing to apply moves its position along.
const IDLE_ADVANCE_EVERY: Duration = Duration::from_secs(1);

enum Item {
    Event(ChangeEvent),
    /// The dispatcher has read the log up to here: a partition with
    /// nothing pending may move its position along (so pruning is not
    /// held back by a quiet partition).
    ReadUpTo(i64),
}

/// A running consumer; dropping or stopping it aborts its tasks (as a
/// crash would: uncommitted batches roll back).
pub struct RunningConsumer {
    tasks: Vec<JoinHandle<()>>,
}

impl RunningConsumer {
    pub fn from_tasks(tasks: Vec<JoinHandle<()>>) -> RunningConsumer {
        RunningConsumer { tasks }
    }

    pub fn stop(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Its tasks, for the node's stop to end and wait for.
    pub fn abort_handles(&self) -> Vec<tokio::task::AbortHandle> {
        self.tasks.iter().map(JoinHandle::abort_handle).collect()
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts the consumer on the current runtime, from its stored positions
/// (a new consumer starts at the beginning of the kept log).
pub async fn start(
    store: DynStore,
    consumer: Arc<dyn Consumer>,
    settings: RunnerSettings,
) -> Result<RunningConsumer, StoreError> {
    let partitions = consumer.partitions().max(1);
    let positions = store
        .consumer_positions(consumer.name(), partitions, 0)
        .await?;
    let mut senders = Vec::with_capacity(positions.len());
    let mut tasks = Vec::with_capacity(positions.len() + 1);
    for (p, &position) in positions.iter().enumerate() {
        let (tx, rx) = mpsc::channel(settings.queue.max(1));
        senders.push(tx);
        tasks.push(tokio::spawn(worker(
            store.clone(),
            consumer.clone(),
            p as u32,
            position,
            rx,
            settings,
        )));
    }
    tasks.push(tokio::spawn(dispatch(
        store, consumer, positions, senders, settings,
    )));
    Ok(RunningConsumer { tasks })
}

/// Reads the log once and routes each event to its partition's worker.
async fn dispatch(
    store: DynStore,
    consumer: Arc<dyn Consumer>,
    positions: Vec<i64>,
    workers: Vec<mpsc::Sender<Item>>,
    settings: RunnerSettings,
) {
    let n = workers.len() as u64;
    let mut cursor = positions.iter().copied().min().unwrap_or(0);
    let mut wake = store.watch_changes();
    loop {
        // Seen before reading: a commit from here on wakes the wait below.
        wake.borrow_and_update();
        let events = match store.changes_after(cursor, settings.read_batch).await {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(consumer = consumer.name(), error = %e, "reading the change log failed");
                tokio::time::sleep(settings.retry).await;
                continue;
            }
        };
        let Some(last) = events.last().map(|e| e.seq) else {
            // Caught up: wait for a commit here, or poll for other nodes'.
            let _ = tokio::time::timeout(settings.poll, wake.changed()).await;
            continue;
        };
        for event in events {
            let p = (consumer.partition_key(&event) % n) as usize;
            if event.seq <= positions[p] {
                continue;
            }
            if workers[p].send(Item::Event(event)).await.is_err() {
                return;
            }
        }
        cursor = last;
        for w in &workers {
            let _ = w.try_send(Item::ReadUpTo(cursor));
        }
    }
}

/// Applies one partition's events in order, committing each batch with
/// its position.
async fn worker(
    store: DynStore,
    consumer: Arc<dyn Consumer>,
    partition: u32,
    mut position: i64,
    mut rx: mpsc::Receiver<Item>,
    settings: RunnerSettings,
) {
    let mut batch: Vec<ChangeEvent> = Vec::with_capacity(settings.apply_batch);
    let mut read_up_to = position;
    let mut last_write = Instant::now();
    loop {
        // A deferred move of a quiet partition happens when its interval
        // is up, even if nothing else arrives (else pruning would wait).
        let item = if read_up_to > position {
            let wait = IDLE_ADVANCE_EVERY.saturating_sub(last_write.elapsed());
            match tokio::time::timeout(wait, rx.recv()).await {
                Ok(None) => return,
                Ok(item) => item,
                Err(_) => None,
            }
        } else {
            match rx.recv().await {
                None => return,
                item => item,
            }
        };
        let mut next = item;
        while let Some(item) = next.take() {
            match item {
                Item::Event(e) => batch.push(e),
                Item::ReadUpTo(seq) => read_up_to = read_up_to.max(seq),
            }
            if batch.len() < settings.apply_batch {
                next = rx.try_recv().ok();
            }
        }
        if batch.is_empty() {
            // Nothing of ours up to `read_up_to`: move along now and then.
            if read_up_to > position && last_write.elapsed() >= IDLE_ADVANCE_EVERY {
                advance(&store, &*consumer, partition, read_up_to).await;
                position = read_up_to;
                last_write = Instant::now();
            }
            continue;
        }
        let to = batch.last().map_or(position, |e| e.seq);
        // A failure anywhere (computing the effect or committing it)
        // leaves nothing written: the same batch is tried again.
        loop {
            let result = match consumer.apply(&store, &batch).await {
                Ok(effects) => store
                    .commit_consumer(consumer.name(), partition, to, &effects, now_ms())
                    .await
                    .map_err(ConsumerError::from),
                Err(e) => Err(e),
            };
            match result {
                Ok(Committed::Applied) => {
                    consumer.after_commit(&batch);
                    break;
                }
                Ok(Committed::AlreadyApplied | Committed::Moved) => {
                    tracing::debug!(consumer = consumer.name(), partition, to, "already applied");
                    break;
                }
                Err(e) => {
                    tracing::warn!(consumer = consumer.name(), partition, error = %e, "consumer batch failed; retrying");
                    tokio::time::sleep(settings.retry).await;
                }
            }
        }
        position = to;
        last_write = Instant::now();
        batch.clear();
    }
}

/// Moves a partition's position without effects; a failure is harmless
/// (the next batch moves it).
async fn advance(store: &DynStore, consumer: &dyn Consumer, partition: u32, to: i64) {
    if let Err(e) = store
        .commit_consumer(consumer.name(), partition, to, &[], now_ms())
        .await
    {
        tracing::debug!(consumer = consumer.name(), partition, error = %e, "moving an idle position failed");
    }
}
