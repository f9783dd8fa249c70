//! The single writer for live activities. Actors hand it their new fixes
//! and status changes; it writes whatever has queued up in one transaction,
//! so checkpoints are batched across actors and no arbiter waits on I/O.
//!
//! Deadlines: every write is bounded (`WRITE_DEADLINE`; a status change
//! `STATE_CHANGE_DEADLINE`), so a database that silently holds bytes never
//! hangs the writer or an actor. Failed route chunks are kept and retried;
//! a status change that failed (or ran out of time) was answered with an
//! error and is dropped: it is never written later. A status change can be
//! withdrawn by its waiter until the writer claims it, and a claimed one is
//! written within its own deadline, so the answer always matches the store.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::spill;
use crate::domain::Fix;
use crate::store::{ActivityProgress, DynStore, RouteChunk, StoreError, StoreResult};

/// Queued writes before `try_checkpoint` refuses (the actor keeps its fixes).
pub const QUEUE_CAPACITY: usize = 65_536;
/// Most operations written in one transaction.
const MAX_BATCH: usize = 2_048;
/// How long the writer gathers route chunks before it writes them: one
/// commit (and one fsync) per this much load instead of one per handful of
/// chunks, each with its round trips to the database. Status changes,
/// completions and flushes are written at once.
pub const CHUNK_LINGER: Duration = Duration::from_millis(50);
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// A status change (pause, resume, complete) is written within this, or
/// refused (503) and never written.
pub const STATE_CHANGE_DEADLINE: Duration = Duration::from_secs(3);
/// A completion rewrites the whole route: it gets this much longer per
/// 100,000 points.
pub const COMPLETE_PER_100K_POINTS: Duration = Duration::from_secs(2);
/// A claimed status change still gets at least this long to commit.
const MIN_STATUS_WRITE: Duration = Duration::from_millis(500);
/// Any checkpoint transaction is abandoned (rolled back) after this.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(10);

type Reply = oneshot::Sender<StoreResult<()>>;

const PENDING: u8 = 0;
const CLAIMED: u8 = 1;
const WITHDRAWN: u8 = 2;

/// A write someone waits for: pending until the writer claims it (then it
/// is written within its deadline) or the waiter withdraws it (then it is
/// never written).
struct Waiter {
    reply: Reply,
    state: Arc<AtomicU8>,
    deadline: Instant,
}

impl Waiter {
    /// The writer takes it on; false if it was withdrawn or is too late
    /// (then the waiter is told and it is dropped).
    fn claim(&self) -> bool {
        Instant::now() < self.deadline
            && self
                .state
                .compare_exchange(PENDING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn answer(self, result: StoreResult<()>) {
        let _ = self.reply.send(result);
    }
}

enum Op {
    Chunk(RouteChunk),
    Status(Box<ActivityProgress>, Waiter),
    Complete(Box<ActivityProgress>, Vec<Fix>, Waiter),
    Flush(Reply),
    /// Final write: retry for the given time, then spill what is left.
    Shutdown(Duration, oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Checkpointer {
    tx: mpsc::Sender<Op>,
    /// The writer's task (ended by the node's stop, after the final
    /// checkpoint).
    task: tokio::task::AbortHandle,
}

fn timed_out() -> StoreError {
    StoreError::Unavailable(sqlx::Error::PoolTimedOut)
}

impl Checkpointer {
    /// Starts the writer on the current runtime. `spill` is where route
    /// chunks that cannot be written at shutdown are saved.
    pub fn start(store: DynStore, spill: spill::SpillFile) -> Checkpointer {
        let (tx, rx) = mpsc::channel(QUEUE_CAPACITY);
        let task = actix::spawn(run(store, rx, spill)).abort_handle();
        Checkpointer { tx, task }
    }

    pub fn task(&self) -> tokio::task::AbortHandle {
        self.task.clone()
    }

    /// Queues new route points; gives them back when the queue is full.
    pub fn try_checkpoint(&self, chunk: RouteChunk) -> Result<(), RouteChunk> {
        match self.tx.try_send(Op::Chunk(chunk)) {
            Err(e) => match e.into_inner() {
                Op::Chunk(chunk) => Err(chunk),
                // Only the chunk sent here can come back.
                _ => Ok(()),
            },
            Ok(()) => Ok(()),
        }
    }

    /// Writes a status change (after any queued chunks) and waits for it,
    /// at most about `STATE_CHANGE_DEADLINE`. An error means it was not
    /// written and never will be.
    pub async fn save_progress(&self, progress: ActivityProgress) -> StoreResult<()> {
        self.wait(|waiter| Op::Status(Box::new(progress), waiter))
            .await
    }

    /// Writes the completed activity in one transaction and waits for it,
    /// as `save_progress`.
    pub async fn complete(&self, progress: ActivityProgress, route: Vec<Fix>) -> StoreResult<()> {
        self.wait(|waiter| Op::Complete(Box::new(progress), route, waiter))
            .await
    }

    async fn wait(&self, op: impl FnOnce(Waiter) -> Op) -> StoreResult<()> {
        let deadline = Instant::now() + STATE_CHANGE_DEADLINE;
        let (reply, mut rx) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(PENDING));
        let op = op(Waiter {
            reply,
            state: state.clone(),
            deadline,
        });
        match tokio::time::timeout_at(deadline, self.tx.send(op)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => return Err(stopped()),
            // Not even queued: it can never be written.
            Err(_) => return Err(timed_out()),
        }
        if let Ok(result) = tokio::time::timeout_at(deadline, &mut rx).await {
            return result.map_err(|_| stopped())?;
        }
        // Out of time: withdraw it, unless the writer has it in hand (then
        // its write ends within its own deadline and that is the answer).
        match state.compare_exchange(PENDING, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => Err(timed_out()),
            Err(_) => rx.await.map_err(|_| stopped())?,
        }
    }

    /// Writes everything queued so far.
    pub async fn flush(&self) -> StoreResult<()> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Op::Flush(reply))
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// The final write on shutdown: everything queued so far is written,
    /// retrying for up to `db_wait` while the database is down; what still
    /// cannot be written is spilled to the spill file.
    pub async fn shutdown(&self, db_wait: Duration) {
        let (reply, rx) = oneshot::channel();
        if self.tx.send(Op::Shutdown(db_wait, reply)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

fn stopped() -> StoreError {
    // Only at shutdown: the write cannot happen here, as when the pool closes.
    StoreError::Unavailable(sqlx::Error::PoolClosed)
}

/// What is not yet written. Route chunks are kept across failures; status
/// changes live for one attempt only.
#[derive(Default)]
struct Backlog {
    chunks: Vec<RouteChunk>,
    status: Vec<(ActivityProgress, Waiter)>,
    flushes: Vec<Reply>,
}

impl Backlog {
    fn is_empty(&self) -> bool {
        self.chunks.is_empty() && self.status.is_empty() && self.flushes.is_empty()
    }

    /// Writes the backlog in one transaction. Chunks that fail stay for the
    /// next try; status changes are answered either way and dropped.
    async fn write(&mut self, store: &DynStore, cap: Duration) -> StoreResult<()> {
        let mut status = Vec::with_capacity(self.status.len());
        for (progress, waiter) in self.status.drain(..) {
            if waiter.claim() {
                status.push((progress, waiter));
            } else {
                waiter.answer(Err(timed_out()));
            }
        }
        if self.chunks.is_empty() && status.is_empty() {
            for reply in self.flushes.drain(..) {
                let _ = reply.send(Ok(()));
            }
            return Ok(());
        }
        // A status change in the batch bounds it by its own deadline.
        let limit = status
            .iter()
            .map(|(_, w)| {
                w.deadline
                    .saturating_duration_since(Instant::now())
                    .max(MIN_STATUS_WRITE)
            })
            .min()
            .unwrap_or(WRITE_DEADLINE)
            .min(cap);
        let progress: Vec<ActivityProgress> = status.iter().map(|(p, _)| p.clone()).collect();
        let result = deadline(limit, store.checkpoint(&progress, &self.chunks)).await;
        let result = match result {
            Err(StoreError::Unavailable(e)) => Err(StoreError::Unavailable(e)),
            // A bad row (say, its activity was deleted) must not block the
            // rest: write them one by one and drop what fails.
            Err(e) => {
                tracing::warn!(error = %e, "batched checkpoint failed; writing one by one");
                self.write_each(store, status).await;
                return self.finish(Ok(()));
            }
            ok => ok,
        };
        for (_, waiter) in status {
            waiter.answer(match &result {
                Ok(()) => Ok(()),
                Err(_) => Err(timed_out()),
            });
        }
        self.finish(result)
    }

    fn finish(&mut self, result: StoreResult<()>) -> StoreResult<()> {
        match &result {
            Ok(()) => {
                self.chunks.clear();
                for reply in self.flushes.drain(..) {
                    let _ = reply.send(Ok(()));
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, chunks = self.chunks.len(), "checkpoint failed; will retry");
                for reply in self.flushes.drain(..) {
                    let _ = reply.send(Err(timed_out()));
                }
            }
        }
        result
    }

    async fn write_each(&mut self, store: &DynStore, status: Vec<(ActivityProgress, Waiter)>) {
        for (p, waiter) in status {
            let limit = waiter
                .deadline
                .saturating_duration_since(Instant::now())
                .max(MIN_STATUS_WRITE);
            let result = deadline(limit, store.checkpoint(std::slice::from_ref(&p), &[])).await;
            if let Err(e) = &result {
                tracing::warn!(activity_id = %p.id, error = %e, "status change not written");
            }
            waiter.answer(result);
        }
        let mut kept = Vec::new();
        for c in std::mem::take(&mut self.chunks) {
            match deadline(
                WRITE_DEADLINE,
                store.checkpoint(&[], std::slice::from_ref(&c)),
            )
            .await
            {
                Err(StoreError::Unavailable(_)) => kept.push(c),
                Err(e) => {
                    tracing::error!(activity_id = %c.activity_id, error = %e, "dropping a chunk that cannot be written")
                }
                Ok(()) => {}
            }
        }
        self.chunks = kept;
    }
}

/// Runs a store call within `limit`; past it the call is abandoned (its
/// transaction rolls back) and the store counts as unavailable.
async fn deadline<T>(
    limit: Duration,
    call: impl std::future::Future<Output = StoreResult<T>>,
) -> StoreResult<T> {
    tokio::time::timeout(limit, call)
        .await
        .unwrap_or_else(|_| Err(timed_out()))
}

async fn complete(
    store: &DynStore,
    backlog: &mut Backlog,
    progress: &ActivityProgress,
    route: &[Fix],
    waiter: Waiter,
) {
    if !waiter.claim() {
        waiter.answer(Err(timed_out()));
        return;
    }
    let left = || {
        waiter
            .deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_STATUS_WRITE)
    };
    // Everything queued before the completion goes first.
    let result = match backlog.write(store, left()).await {
        Ok(()) => {
            // The whole route is rewritten: a long one gets longer.
            let extra = COMPLETE_PER_100K_POINTS * (route.len() / 100_000) as u32;
            deadline(left() + extra, store.complete_activity(progress, route)).await
        }
        Err(e) => Err(e),
    };
    waiter.answer(result);
}

/// The final write: retries for `db_wait`, then spills the route chunks it
/// could not write, so that nothing acknowledged is lost.
async fn shutdown(
    store: &DynStore,
    backlog: &mut Backlog,
    db_wait: Duration,
    file: &spill::SpillFile,
) {
    let give_up = Instant::now() + db_wait;
    loop {
        if backlog.write(store, WRITE_DEADLINE).await.is_ok() || backlog.chunks.is_empty() {
            return;
        }
        if Instant::now() + RETRY_EVERY >= give_up {
            break;
        }
        tokio::time::sleep(RETRY_EVERY).await;
    }
    match file.save(&backlog.chunks) {
        Ok(path) => {
            tracing::warn!(chunks = backlog.chunks.len(), path = %path.display(), "database unavailable at shutdown; unsaved fixes spilled, replayed on the next start");
            backlog.chunks.clear();
        }
        Err(e) => {
            tracing::error!(error = %e, chunks = backlog.chunks.len(), "database unavailable at shutdown and the spill file cannot be written: unsaved fixes lost")
        }
    }
}

/// The operations for one transaction, starting with `first`: what is
/// queued, and while they are only route chunks, what arrives within
/// `CHUNK_LINGER` of the first, up to `MAX_BATCH`.
async fn gather(rx: &mut mpsc::Receiver<Op>, first: Op) -> Vec<Op> {
    let linger_until = Instant::now() + CHUNK_LINGER;
    let mut only_chunks = matches!(first, Op::Chunk(_));
    let mut ops = vec![first];
    while ops.len() < MAX_BATCH {
        let op = match rx.try_recv() {
            Ok(op) => op,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) if !only_chunks => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                match tokio::time::timeout_at(linger_until, rx.recv()).await {
                    Ok(Some(op)) => op,
                    Ok(None) | Err(_) => break,
                }
            }
        };
        only_chunks &= matches!(op, Op::Chunk(_));
        ops.push(op);
    }
    ops
}

async fn run(store: DynStore, mut rx: mpsc::Receiver<Op>, file: spill::SpillFile) {
    let mut backlog = Backlog::default();
    loop {
        let op = if backlog.is_empty() {
            match rx.recv().await {
                Some(op) => op,
                None => return,
            }
        } else {
            tokio::select! {
                op = rx.recv() => match op { Some(op) => op, None => return },
                _ = tokio::time::sleep(RETRY_EVERY) => {
                    let _ = backlog.write(&store, WRITE_DEADLINE).await;
                    continue;
                }
            }
        };
        let ops = gather(&mut rx, op).await;
        for op in ops {
            match op {
                Op::Chunk(chunk) => backlog.chunks.push(chunk),
                Op::Status(progress, waiter) => backlog.status.push((*progress, waiter)),
                Op::Flush(reply) => backlog.flushes.push(reply),
                Op::Complete(progress, route, waiter) => {
                    complete(&store, &mut backlog, &progress, &route, waiter).await;
                }
                Op::Shutdown(db_wait, reply) => {
                    shutdown(&store, &mut backlog, db_wait, &file).await;
                    let _ = reply.send(());
                }
            }
        }
        let _ = backlog.write(&store, WRITE_DEADLINE).await;
    }
}
